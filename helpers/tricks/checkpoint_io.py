"""Atomic checkpoint writes: write to a temporary file beside the target, fsync, then rename over it.

Ultralytics writes last.pt / best.pt / epochN.pt with `Path.write_bytes`, in place: a process killed mid-write
leaves a truncated file where the last good checkpoint was. `os.replace` is atomic on POSIX filesystems, so with
`AtomicPath` a reader sees either the old or the new file, never half of one. As a plug-in (`atomic_save`) the
workbook's trainer swaps its checkpoint paths for these before the first epoch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from helpers.tricks.registry import Option, Trick, with_plan


class AtomicPath(type(Path())):
    """A Path whose write_bytes is atomic; paths derived from it (`wdir / "epoch3.pt"`) are atomic too."""

    def write_bytes(self, data) -> int:  # type: ignore[override]
        tmp = self.with_name(f".{self.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self)
        finally:
            if tmp.exists():
                tmp.unlink()
        dir_fd = os.open(self.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)
        return len(data)


@with_plan
def swap_paths(trainer: Any) -> None:
    """The trainer's weights folder and last/best paths as AtomicPaths (epochN.pt derived from it too)."""
    if trainer.plan.atomic_save:
        trainer.wdir = AtomicPath(trainer.wdir)
        trainer.last, trainer.best = trainer.wdir / "last.pt", trainer.wdir / "best.pt"


TRICK = Trick(
    "atomic_save",
    options=(Option("atomic_save", bool, False,
                    doc="write checkpoints to a temporary file and rename it: a kill never leaves half a last.pt"),),
    row=lambda p: ("checkpoints", "atomic", "temporary file, fsync, rename: a kill mid-save keeps the last good file")
    if p.atomic_save else None, before="device", callbacks={"on_pretrain_routine_end": swap_paths},
    summary=lambda p: "atomic saves" if p.atomic_save else "", doc="atomic checkpoint writes")

