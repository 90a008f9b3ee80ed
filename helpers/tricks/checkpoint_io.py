"""Atomic checkpoint writes: write to a temporary file beside the target, fsync, then rename over it.

Ultralytics writes last.pt / best.pt / epochN.pt with `Path.write_bytes`, in place: a process killed mid-write
leaves a truncated file where the last good checkpoint was. `os.replace` is atomic on POSIX filesystems, so with
`AtomicPath` a reader sees either the old or the new file, never half of one. `RecipeTrainer` swaps its paths
for these.
"""

from __future__ import annotations

import os
from pathlib import Path


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
