"""Staged loss gains: box / cls / dfl multipliers that change at epoch boundaries.

Ultralytics' detection loss multiplies its three components by `hyp.box`, `hyp.cls`, `hyp.dfl`, where `hyp` is the
model's `args` object captured when the loss is first built. The trainer attaches its own `args` to the model, so
the loss reads the trainer's values at every step; to be safe against a criterion holding another object, the stage
is written to both. Multipliers are relative to the run's own gains (Ultralytics' defaults: box 7.5, cls 0.5, dfl 1.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from helpers.tricks.registry import Option, Row, Trick, with_plan

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


TUTORIAL = "tutorial"  # the 600-epoch plan (1-100, 101-450, 451-600) scaled to the run


def parse(text: str, epochs: int) -> LossStages | None:
    """The stages an option value names: '' none, 'tutorial', or 'first:box,cls,dfl;first:box,cls,dfl ...'."""
    text = text.strip()
    if not text:
        return None
    if text == TUTORIAL:
        return LossStages.scaled(epochs)
    stages = []
    for part in text.split(";"):
        first, gains = part.split(":")
        b, c, d = (float(g) for g in gains.split(","))
        stages.append((int(first), b, c, d))
    return LossStages(tuple(stages))


def spec(stages: tuple[tuple[int, float, float, float], ...] | list) -> str:
    """The option value for a table of stages (a tutorial's loss_weights_schedule)."""
    return ";".join(f"{int(s[0])}:{s[1]:g},{s[2]:g},{s[3]:g}" for s in stages)


def check(text: str, plan: Any) -> str | None:
    """A stage table that parses and starts at epoch 1."""
    try:
        parse(text, plan.epochs)
    except ValueError as e:
        return (f"{e}; write '' (off), '{TUTORIAL}', or stages as 'first_epoch:box,cls,dfl' multipliers joined by ';', "
                "e.g. '1:1.5,0.8,0.5;101:1,1,1'")
    return None


def row(plan: Any) -> Row | None:
    stages = parse(plan.loss_stages, plan.epochs)
    if stages is None:
        return None
    text = ", ".join(f"from epoch {s[0]}: box x{s[1]:g} cls x{s[2]:g} dfl x{s[3]:g}" for s in stages.stages)
    return "loss gains", plan.loss_stages if plan.loss_stages != TUTORIAL else "tutorial, scaled", text


@with_plan
def epoch_start(trainer: Any) -> None:
    """The gains of this epoch's stage, relative to the run's own (captured before the first change)."""
    stages = parse(trainer.plan.loss_stages, trainer.epochs)
    if stages is None:
        return
    if getattr(trainer, "base_gains", None) is None:
        trainer.base_gains = {"box": trainer.args.box, "cls": trainer.args.cls, "dfl": trainer.args.dfl}
    apply(trainer, stages, trainer.base_gains, trainer.epoch + 1)


def gains_row(plan: Any, trainer: Any, row: dict[str, Any]) -> dict[str, float]:
    """The gains in force this epoch (tricks_log.csv)."""
    return {"box": trainer.args.box, "cls": trainer.args.cls, "dfl": trainer.args.dfl}


TRICK = Trick(
    "loss_stages",
    options=(Option("loss_stages", str, "", check=check,
                    doc="box/cls/dfl gain multipliers by epoch: '' | 'tutorial' | '1:1.5,0.8,0.5;101:1,1,1'"),),
    row=row, before="optimizer", callbacks={"on_train_epoch_start": epoch_start}, epoch_row=gains_row,
    summary=lambda p: "loss stages" if p.loss_stages else "", doc="staged loss gains")

