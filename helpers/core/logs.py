"""Ultralytics' log inside the workbook: quiet (no INFO lines, no per-batch bars) without hiding what the data
loader says about the user's files (corrupt images, dropped labels), which Ultralytics logs at INFO level."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

# Ultralytics' own texts for problems with a dataset's files (ultralytics/data/utils.py and dataset.py)
DATA_MESSAGES = ("ignoring corrupt", "duplicate labels removed", "corrupt JPEG restored", "No labels found",
                 "JPEG without its end marker", "Labels are missing or empty", "images not found",
                 "augment_device='gpu': training set")  # where the workbook's store keeps the set, and why


class _KeepDataMessages(logging.Filter):
    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level or any(m in record.getMessage() for m in DATA_MESSAGES)


@contextlib.contextmanager
def quiet(level: int = logging.WARNING) -> Iterator[None]:
    """Inside the block Ultralytics logs only records at `level` or above, plus its messages about dataset files,
    and draws no progress bars."""
    import ultralytics.utils as uu

    logger, verbose, before = uu.LOGGER, uu.VERBOSE, uu.LOGGER.level
    keep = _KeepDataMessages(level)
    uu.VERBOSE = False  # Ultralytics' TQDM reads this when a bar is made: no per-batch bars
    logger.setLevel(min(before, logging.INFO) if before else logging.INFO)
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)
        logger.setLevel(before)
        uu.VERBOSE = verbose
