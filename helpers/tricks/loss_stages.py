"""Staged loss gains: box / cls / dfl multipliers that change at epoch boundaries.

Ultralytics' detection loss multiplies its three components by `hyp.box`, `hyp.cls`, `hyp.dfl`, where `hyp` is the
model's `args` object captured when the loss is first built. The trainer attaches its own `args` to the model, so
the loss reads the trainer's values at every step; to be safe against a criterion holding another object, the stage
is written to both. Multipliers are relative to the run's own gains (Ultralytics' defaults: box 7.5, cls 0.5, dfl 1.5).
"""

from __future__ import annotations

from dataclasses import dataclass

Stage = tuple[int, float, float, float]  # first epoch (1-based), box, cls, dfl multipliers


@dataclass(frozen=True)
class LossStages:
    stages: tuple[Stage, ...]

    def __post_init__(self):
        starts = [s[0] for s in self.stages]
        if not starts or starts[0] != 1 or starts != sorted(set(starts)):
            raise ValueError(f"stages must start at epoch 1 with increasing first epochs, got {starts}")

    def at(self, epoch: int) -> tuple[float, float, float]:
        """Multipliers for 1-based `epoch`."""
        current = self.stages[0]
        for s in self.stages:
            if epoch >= s[0]:
                current = s
        return current[1:]

    @staticmethod
    def scaled(epochs: int, fractions=((0.0, 1.5, 0.8, 0.5), (1 / 6, 1.0, 1.0, 1.0), (0.75, 0.7, 1.2, 1.3))) -> "LossStages":
        """The tutorial's 600-epoch plan (1-100, 101-450, 451-600) scaled to any run length."""
        out, seen = [], set()
        for f, b, c, d in fractions:
            start = max(1, min(epochs, round(f * epochs) + 1))
            if start not in seen:
                seen.add(start)
                out.append((start, b, c, d))
        return LossStages(tuple(out))


def apply(trainer, stages: LossStages, base: dict[str, float], epoch: int) -> tuple[float, float, float]:
    """Set the gains for 1-based `epoch` on the trainer's args and on the live criterion; returns the gains."""
    from ultralytics.utils.torch_utils import unwrap_model

    mb, mc, md = stages.at(epoch)
    gains = (base["box"] * mb, base["cls"] * mc, base["dfl"] * md)
    targets = [trainer.args]
    model = unwrap_model(trainer.model) if trainer.model is not None else None
    crit = getattr(model, "criterion", None)
    for c in (crit, getattr(crit, "one2many", None), getattr(crit, "one2one", None)):
        hyp = getattr(c, "hyp", None)
        if hyp is not None and all(hyp is not t for t in targets):
            targets.append(hyp)
    for t in targets:
        t.box, t.cls, t.dfl = gains
    return gains
