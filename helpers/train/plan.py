"""The b256 recipe as real Ultralytics arguments: batch and nbs from the memory plan, lr0 from a scaling rule,
warm-up scaled for few steps per epoch, the augmentation settings of the recipe, and the workbook's trainer.

Ultralytics rejects unknown arguments (`accumulate=`, `grad_clip_norm=` ...), so everything here is one of its own
arguments; `optimizer` is set explicitly because `optimizer="auto"` would replace `lr0` with its own choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.train import lr
from helpers.core import paths
from helpers.core.profiles import Profile

AUGMENT = {"scale": 0.5, "mosaic": 1.0, "mixup": 0.0, "copy_paste": 0.1}
LR_REF, BATCH_REF = 0.01, 64  # Ultralytics' SGD default lr0, tuned at its default nbs of 64


@dataclass(frozen=True)
class LRChoice:
    """lr0 for the effective batch by one rule, from the reference lr at the reference batch."""

    rule: str  # linear | sqrt | none
    effective_batch: int
    lr_ref: float = LR_REF
    batch_ref: int = BATCH_REF

    @property
    def lr0(self) -> float:
        if self.rule == "none":
            return self.lr_ref
        return round(lr.scale_lr(self.lr_ref, self.batch_ref, self.effective_batch, self.rule), 6)

    def explain(self) -> str:
        return (f"lr0 = {self.lr0:g} for effective batch {self.effective_batch} "
                f"({self.rule} rule from {self.lr_ref:g} at batch {self.batch_ref})")


def train_kwargs(p: Profile, data: str | Path, *, batch: int, nbs: int, lr0: float, warmup: float, name: str,
                 amp: Any = True, **extra: Any) -> dict[str, Any]:
    """Keyword arguments for `YOLO(model).train(...)`; every key is a real Ultralytics argument (or `trainer=`)."""
    from helpers.train.trainer import WorkbookTrainer

    args = dict(data=str(data), trainer=WorkbookTrainer, imgsz=p.imgsz, epochs=p.epochs, batch=batch, nbs=nbs,
                optimizer="SGD", lr0=lr0, warmup_epochs=warmup, workers=p.workers, cache=p.cache,
                device=p.device or None, amp=amp, seed=p.seed, project=str(paths.runs_dir() / "train"), name=name,
                exist_ok=True, plots=False, **AUGMENT)
    args.update(extra)
    return args
