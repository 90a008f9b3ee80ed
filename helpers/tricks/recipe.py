"""The stability recipe: one readable object for the tricks of long large-batch runs, and the augmentation presets.

Each field maps to a real mechanism of `helpers.train.trainer.RecipeTrainer`: `_setup_scheduler` (warm restart),
`optimizer_step` (clip norm, grad-norm log, NaN guard), the checkpoint paths (atomic writes) and callbacks (loss
stages, early stop, empty_cache). The recipe travels inside the run's `TrainPlan` (JSON), also to DDP workers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from helpers.tricks.convergence import EarlyStop
from helpers.tricks.loss_stages import LossStages
from helpers.tricks.schedule import Schedule

AUGMENT_PRESETS: dict[str, dict[str, float]] = {
    # Ultralytics' mosaic *is* a probability (0..1); there is no mosaic_prob argument.
    "b256": {"mosaic": 1.0, "scale": 0.5, "mixup": 0.0, "copy_paste": 0.1},  # the workbook's recipe
    "ultralytics-default": {"mosaic": 1.0, "degrees": 0.0, "translate": 0.1, "scale": 0.5, "copy_paste": 0.0,
                            "mixup": 0.0},
    "long-run": {"mosaic": 1.0, "degrees": 0.0, "translate": 0.1, "scale": 0.5, "copy_paste": 0.15, "mixup": 0.0},
    "long-run-light-mosaic": {"mosaic": 0.5, "degrees": 0.0, "translate": 0.1, "scale": 0.5, "copy_paste": 0.1,
                              "mixup": 0.0},
}


class RecipeError(ValueError):
    """A recipe value of the wrong type or out of range; the message names the field."""


@dataclass(frozen=True)
class Recipe:
    """The stability tricks of one run; the defaults are Ultralytics' own behaviour plus the NaN guard."""

    clip_norm: float | None = 10.0  # Ultralytics hard-codes 10.0; None turns clipping off (the norm is still logged)
    restart_epoch: int | None = None  # 0-based epoch of the warm restart (None: Ultralytics' own schedule)
    restart_fraction: float = 0.5
    restart_after: str = "exp"  # exp | cosine
    restart_decay: float = 0.95
    loss_stages: tuple[tuple[int, float, float, float], ...] | None = None  # (first epoch, box, cls, dfl) multipliers
    nan_guard: bool = True
    guard_max_bad: int = 3
    guard_lr_drop: float = 0.5
    early_stop: EarlyStop | None = None
    empty_cache_every: int = 0  # epochs; 0 = never
    atomic_save: bool = True
    save_period: int = -1  # Ultralytics' own: also keep epochN.pt every K epochs

    def __post_init__(self) -> None:
        def number(name: str, low: float, high: float = float("inf"), *, optional: bool = False,
                   integer: bool = False, low_open: bool = False) -> None:
            v = getattr(self, name)
            if v is None and optional:
                return
            kind = int if integer else (int, float)
            ok = isinstance(v, kind) and not isinstance(v, bool) and (v > low if low_open else v >= low) and v <= high
            if not ok:
                what = ("an integer" if integer else "a number") + (f" > {low:g}" if low_open else f" >= {low:g}")
                what += f" and <= {high:g}" if high != float("inf") else ""
                raise RecipeError(f"recipe {name}={v!r}: must be {what}" + (" (or None)" if optional else ""))

        number("clip_norm", 0, optional=True, low_open=True)
        number("restart_epoch", 0, optional=True, integer=True)
        number("restart_fraction", 0, 1, low_open=True)
        number("restart_decay", 0, 1, low_open=True)
        number("guard_max_bad", 1, integer=True)
        number("guard_lr_drop", 0, 1, low_open=True)
        number("empty_cache_every", 0, integer=True)
        number("save_period", -1, integer=True)
        for name in ("nan_guard", "atomic_save"):
            if not isinstance(getattr(self, name), bool):
                raise RecipeError(f"recipe {name}={getattr(self, name)!r}: must be true or false")
        if self.restart_after not in ("exp", "cosine"):
            raise RecipeError(f"recipe restart_after={self.restart_after!r}: choose 'exp' or 'cosine'")
        self.stages()  # validates the stage table

    def schedule(self, epochs: int, lrf: float, cos: bool) -> Schedule:
        """The lr multiplier per epoch: Ultralytics' schedule, with the warm restart where one is set."""
        return Schedule(epochs, lrf, cos, self.restart_epoch, self.restart_fraction, self.restart_after,
                        self.restart_decay)

    def stages(self) -> LossStages | None:
        """The loss-gain stages, or None when the gains stay fixed."""
        return LossStages(tuple(tuple(s) for s in self.loss_stages)) if self.loss_stages else None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Recipe":
        """Rebuild from `asdict` output (nested EarlyStop, tuples); unknown keys are an error, not dropped."""
        d = dict(d)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"Recipe has no field(s) {unknown}; known: {sorted(known)}")
        if d.get("early_stop") is not None and not isinstance(d["early_stop"], EarlyStop):
            d["early_stop"] = EarlyStop(**d["early_stop"])
        if d.get("loss_stages") is not None:
            d["loss_stages"] = tuple(tuple(s) for s in d["loss_stages"])
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> "Recipe":
        return cls.from_dict(json.loads(text))
