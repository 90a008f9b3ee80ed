"""torch.cuda.empty_cache() every k epochs, measured: it hands PyTorch's cached, unused blocks back to the driver.

`reserved` drops, `allocated` (live tensors) does not: it cannot fix a leak or fragmentation inside live memory, and
the next epoch reserves the blocks again. The callback logs both, before and after, to `empty_cache.csv`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.tricks.registry import Option, Row, Trick, with_plan


def check(value: int, plan: Any) -> str | None:
    return None if value >= 0 else "must be >= 0 (0: never)"


@with_plan
def release(trainer: Any) -> None:
    """At the end of every k-th epoch's training loop, on a GPU: empty the cache and log the memory around it."""
    import torch

    k = trainer.plan.empty_cache_every
    if not k or (trainer.epoch + 1) % k or not torch.cuda.is_available():
        return
    from ultralytics.utils import RANK

    from helpers.core.csvlog import write_rows

    before = (torch.cuda.memory_allocated(), torch.cuda.memory_reserved())
    torch.cuda.empty_cache()
    after = (torch.cuda.memory_allocated(), torch.cuda.memory_reserved())
    log = trainer.__dict__.setdefault("memory_log", [])
    log.append({"epoch": trainer.epoch + 1, "allocated_gib": before[0] / 2**30, "reserved_before_gib": before[1] / 2**30,
                "reserved_after_gib": after[1] / 2**30, "allocated_after_gib": after[0] / 2**30})
    if RANK in (-1, 0):
        write_rows(Path(trainer.save_dir) / "empty_cache.csv", log)


def row(plan: Any) -> Row | None:
    if not plan.empty_cache_every:
        return None
    return ("empty_cache", f"every {plan.empty_cache_every} epochs", "returns cached blocks to the driver (reserved "
            "drops, live memory does not): logged in empty_cache.csv")


TRICK = Trick(
    "empty_cache",
    options=(Option("empty_cache_every", int, 0, check=check, doc="epochs between torch.cuda.empty_cache() (0: never)"),),
    row=row, before="device", callbacks={"on_train_epoch_end": release},
    summary=lambda p: f"empty_cache every {p.empty_cache_every}" if p.empty_cache_every else "",
    doc="torch.cuda.empty_cache() every k epochs, measured")
