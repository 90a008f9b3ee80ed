"""One readable recipe object for the stability tricks, carried to the trainer (and DDP workers) as JSON in an
environment variable, because Ultralytics rebuilds the trainer from its class in worker processes.

Each field maps to a real mechanism: `RecipeTrainer` (helpers/trainer.py) overrides `_setup_scheduler` (warm
restart), `optimizer_step` (clip norm, grad-norm log, NaN guard) and the checkpoint paths (atomic writes), and
registers callbacks (loss stages, early stop, empty_cache). Everything else is a real Ultralytics argument
(`nbs`, `save_period`, augmentation) returned by `ultralytics_args()`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from helpers.tricks.convergence import EarlyStop
from helpers.tricks.loss_stages import LossStages
from helpers.tricks.schedule import Schedule

ENV_VAR = "WORKBOOK_RECIPE"

AUGMENT_PRESETS: dict[str, dict[str, float]] = {
    # Ultralytics' mosaic *is* a probability (0..1); there is no mosaic_prob argument.
    "ultralytics-default": {"mosaic": 1.0, "degrees": 0.0, "translate": 0.1, "scale": 0.5, "copy_paste": 0.0,
                            "mixup": 0.0},
    "long-run": {"mosaic": 1.0, "degrees": 0.0, "translate": 0.1, "scale": 0.5, "copy_paste": 0.15, "mixup": 0.0},
    "long-run-light-mosaic": {"mosaic": 0.5, "degrees": 0.0, "translate": 0.1, "scale": 0.5, "copy_paste": 0.1,
                              "mixup": 0.0},
}


@dataclass(frozen=True)
class Recipe:
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
    augment: str | None = None  # a key of AUGMENT_PRESETS
    save_period: int = -1  # Ultralytics' own: also keep epochN.pt every K epochs
    extra: dict[str, Any] = field(default_factory=dict)  # further real Ultralytics arguments

    def schedule(self, epochs: int, lrf: float, cos: bool) -> Schedule:
        return Schedule(epochs, lrf, cos, self.restart_epoch, self.restart_fraction, self.restart_after,
                        self.restart_decay)

    def stages(self) -> LossStages | None:
        return LossStages(tuple(tuple(s) for s in self.loss_stages)) if self.loss_stages else None

    def ultralytics_args(self) -> dict[str, Any]:
        """The recipe's share of `model.train(...)` arguments, all real Ultralytics names."""
        from helpers.train.trainer import RecipeTrainer

        args: dict[str, Any] = {"trainer": RecipeTrainer, "save_period": self.save_period}
        if self.augment:
            args.update(AUGMENT_PRESETS[self.augment])
        args.update(self.extra)
        return args

    def to_json(self) -> str:
        d = asdict(self)
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> "Recipe":
        d = json.loads(text)
        if d.get("early_stop") is not None:
            d["early_stop"] = EarlyStop(**d["early_stop"])
        if d.get("loss_stages") is not None:
            d["loss_stages"] = tuple(tuple(s) for s in d["loss_stages"])
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def activate(self) -> "Recipe":
        """Make the next `RecipeTrainer` (here and in DDP workers) use this recipe."""
        if self.augment and self.augment not in AUGMENT_PRESETS:
            raise ValueError(f"augment={self.augment!r}: choose one of {sorted(AUGMENT_PRESETS)}")
        self.stages()  # validates
        os.environ[ENV_VAR] = self.to_json()
        return self

    @classmethod
    def from_env(cls) -> "Recipe":
        text = os.environ.get(ENV_VAR)
        return cls.from_json(text) if text else cls()


def deactivate() -> None:
    os.environ.pop(ENV_VAR, None)
