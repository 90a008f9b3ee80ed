"""The workbook's Ultralytics trainer: stock DetectionTrainer plus the speed/memory tricks, reaching DDP workers too.

Ultralytics runs multi-GPU training in worker processes that rebuild the trainer from its class (pickled by
reference), so anything done only in the notebook's process is lost there. The tricks are therefore read from
environment variables, which the workers inherit, when the trainer is built:
WORKBOOK_ATTENTION (see tricks.attention) and WORKBOOK_CHECKPOINT ('attention' | 'blocks' | 'all').
"""

from __future__ import annotations

import contextlib
import logging
import os
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from ultralytics.models.yolo.detect import DetectionTrainer

from helpers import offline
from helpers.tricks import attention, checkpointing

CHECKPOINT_VAR = "WORKBOOK_CHECKPOINT"


def set_options(attention_backend: str | None = None, checkpoint: str | None = None) -> dict[str, str]:
    """Choose the tricks for the next training (this process and the DDP workers it starts); returns the env it set."""
    env = {}
    if attention_backend:
        env[attention.ENV_VAR] = attention.patch(attention_backend)
    else:
        attention.unpatch()
    if checkpoint:
        if checkpoint not in checkpointing.LAYER_SETS:
            raise ValueError(f"checkpoint={checkpoint!r}: choose one of {sorted(checkpointing.LAYER_SETS)}")
        os.environ[CHECKPOINT_VAR] = env[CHECKPOINT_VAR] = checkpoint
    else:
        os.environ.pop(CHECKPOINT_VAR, None)
    return env


@contextlib.contextmanager
def quiet(level: int = logging.WARNING) -> Iterator[None]:
    """Silence Ultralytics' INFO log and its progress bars inside the block (warnings and errors still show)."""
    from ultralytics.utils import LOGGER

    before = LOGGER.level
    LOGGER.setLevel(level)
    try:
        yield
    finally:
        LOGGER.setLevel(before)


class WorkbookTrainer(DetectionTrainer):
    """DetectionTrainer that applies the attention backend and activation checkpointing chosen by `set_options`."""

    def __init__(self, *args, **kwargs):
        offline.prepare_ultralytics()
        attention.patch_from_env()
        super().__init__(*args, **kwargs)

    def get_model(self, cfg=None, weights=None, verbose=True):
        model = super().get_model(cfg=cfg, weights=weights, verbose=verbose)
        layers = os.environ.get(CHECKPOINT_VAR)
        if layers:
            checkpointing.enable(model, layers)
        return model


@dataclass
class StepTimer:
    """Callbacks that split each training batch into data wait (loader) and compute, for images/s and stall %.

    Attach with `timer.attach(model)` before `model.train(...)`. Times come from the host clock around Ultralytics'
    batch callbacks; the batch-end callback synchronises CUDA, so "compute" includes the GPU work of the step.
    """

    skip: int = 3  # batches ignored at the start of each epoch (warm-up, cudnn autotune, worker start)
    batch_size: int = 0
    compute_s: list[float] = field(default_factory=list)
    wait_s: list[float] = field(default_factory=list)
    _start: float | None = None
    _end: float | None = None
    _i: int = 0

    def on_train_epoch_start(self, trainer) -> None:
        self._end, self._i = None, 0

    def on_train_batch_start(self, trainer) -> None:
        now = time.perf_counter()
        if self._end is not None and self._i > self.skip:
            self.wait_s.append(now - self._end)
        self._start = now

    def on_train_batch_end(self, trainer) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self._end = time.perf_counter()
        self._i += 1
        self.batch_size = trainer.batch_size
        if self._i > self.skip:
            self.compute_s.append(self._end - self._start)

    def attach(self, model) -> "StepTimer":
        for name in ("on_train_epoch_start", "on_train_batch_start", "on_train_batch_end"):
            model.add_callback(name, getattr(self, name))
        return self

    def summary(self) -> dict[str, float]:
        """Median compute and wait per batch, images/s with and without the loader, and the loader's stall share."""
        if not self.compute_s:
            return {}
        c = statistics.median(self.compute_s)
        w = statistics.median(self.wait_s) if self.wait_s else 0.0
        return {"compute_s": c, "wait_s": w, "img_s": self.batch_size / (c + w), "img_s_no_wait": self.batch_size / c,
                "stall_pct": 100 * w / (c + w), "batches": len(self.compute_s)}


@dataclass
class EpochProgress:
    """One progress bar over epochs (with loss and mAP) in place of Ultralytics' per-batch bars, which `quiet()`
    hides. Attach with `EpochProgress().attach(model)`."""

    bar: object = None

    def on_train_start(self, trainer) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=trainer.epochs, initial=trainer.start_epoch, desc="epochs", unit="epoch")

    def on_fit_epoch_end(self, trainer) -> None:
        if self.bar is None:
            return
        m = trainer.metrics or {}
        loss = trainer.tloss
        if isinstance(loss, dict):  # 8.4: a dict of loss components
            loss = sum(float(v) for v in loss.values())
        self.bar.set_postfix({"loss": f"{float(loss):.3f}" if loss is not None else "-",
                              "mAP50-95": f"{m.get('metrics/mAP50-95(B)', 0.0):.3f}"})
        self.bar.update(1)

    def on_train_end(self, trainer) -> None:
        if self.bar is not None:
            self.bar.close()

    def attach(self, model) -> "EpochProgress":
        for name in ("on_train_start", "on_fit_epoch_end", "on_train_end"):
            model.add_callback(name, getattr(self, name))
        return self
