"""NaN/Inf guard for the optimizer step: skip a bad step, lower the lr, restore the last good weights after N bad
steps in a row, and log every event.

A step is bad when the loss is not finite, or when the gradient norm is not finite and no GradScaler is in charge
(with fp16 AMP an infinite gradient is routine: the scaler skips that step and lowers its scale by itself). As a
plug-in (`nan_guard` and its options) it decides each optimizer step of the workbook's trainer (`Trick.skip_step`),
writes `guard_events.csv` in the run folder and its columns of `tricks_log.csv`. Ultralytics' own recovery (reload
last.pt after a NaN epoch) still handles what the guard cannot: a non-finite validation fitness.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

from helpers.tricks.registry import Option, Row, Trick, with_plan


@dataclass
class NaNGuard:
    max_bad: int = 3  # bad steps in a row before the last good weights are restored
    lr_drop: float = 0.5  # lr multiplier applied at each bad step
    min_lr_scale: float = 0.01
    snapshot_every: int = 10  # good optimizer steps between snapshots of the weights and optimizer state
    lr_scale: float = 1.0
    bad_in_row: int = 0
    good_steps: int = 0
    events: list[dict] = field(default_factory=list)
    _snapshot: tuple | None = None

    @staticmethod
    def is_bad(loss_finite: bool, grad_norm: float, scaler_enabled: bool) -> bool:
        return (not loss_finite) or (not scaler_enabled and not math.isfinite(grad_norm))

    def good(self, model, optimizer) -> None:
        """After a good step: reset the bad-step count; snapshot now and then (first good step included)."""
        self.bad_in_row = 0
        if self.good_steps % self.snapshot_every == 0:
            self._snapshot = ({k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()},
                              copy.deepcopy(optimizer.state_dict()))
        self.good_steps += 1

    def bad(self, model, optimizer, where: dict) -> str:
        """After a bad step (already skipped by the caller): lower lr, maybe restore; returns the action taken."""
        self.bad_in_row += 1
        new_scale = max(self.lr_scale * self.lr_drop, self.min_lr_scale)
        factor = new_scale / self.lr_scale
        self.lr_scale = new_scale
        for g in optimizer.param_groups:
            g["lr"] *= factor
        action = "skip+lr_drop"
        if self.bad_in_row >= self.max_bad and self._snapshot is not None:
            weights, opt_state = self._snapshot
            model.load_state_dict(weights)
            lrs = [g["lr"] for g in optimizer.param_groups]
            optimizer.load_state_dict(copy.deepcopy(opt_state))
            for g, lr in zip(optimizer.param_groups, lrs):  # keep the lowered lr
                g["lr"] = lr
            self.bad_in_row = 0
            action = "restore"
        self.events.append({**where, "action": action, "lr_scale": round(self.lr_scale, 6)})
        return action

    def table(self):
        """The guard's events: where each bad step was, what was wrong and what the guard did."""
        from helpers.core.tables import Table

        heads = ("epoch", "step", "loss finite", "grad norm", "action", "lr scale")
        keys = ("epoch", "step", "loss_finite", "grad_norm", "action", "lr_scale")
        return Table(heads, [tuple(e.get(k, "-") for k in keys) for e in self.events],
                     f"{len(self.events)} guard event(s); lr scale now {self.lr_scale:g}")


def check_max_bad(value: int, plan: Any) -> str | None:
    return None if value >= 1 else "must be >= 1"


def check_drop(value: float, plan: Any) -> str | None:
    return None if 0 < value <= 1 else "must be > 0 and <= 1"


@with_plan
def start(trainer: Any) -> None:
    """A guard for this run (every process: the skip is decided on every rank)."""
    plan = trainer.plan
    trainer.guard = NaNGuard(plan.guard_max_bad, plan.guard_lr_drop) if plan.nan_guard else None


@with_plan
def batch_end(trainer: Any) -> None:
    """After each micro-batch: the snapshot of a good step's weights, taken now that the step is done, and a
    non-finite loss of a micro-batch that is still accumulating remembered (its step comes later)."""
    import torch

    g = getattr(trainer, "guard", None)
    if g is None:
        return
    if getattr(trainer, "stepped_well", False):
        trainer.stepped_well = False
        g.good(trainer.model, trainer.optimizer)
    if trainer.loss is not None and trainer.loss is not trainer.stepped_loss and \
            not bool(torch.isfinite(trainer.loss).all()):
        trainer.bad_loss = True


def decide(plan: Any, trainer: Any, norm: Any) -> bool:
    """Skip this step when it is bad (on every rank when one rank's is): zero the gradients, let the scaler lower its
    scale, lower the lr and, after max_bad in a row, restore the last good weights; log the event."""
    import torch

    g = getattr(trainer, "guard", None)
    if g is None:
        return False
    loss_ok = not trainer.bad_loss and (trainer.loss is None or bool(torch.isfinite(trainer.loss).all()))
    trainer.bad_loss = False
    trainer.stepped_loss = trainer.loss  # this micro-batch is accounted for: batch_end must not flag it again
    n = float(norm)
    scaler_on = trainer.scaler.is_enabled()
    if not trainer.agreed(g.is_bad(loss_ok, n, scaler_on)):
        trainer.stepped_well = True  # batch_end snapshots the weights once this step is taken
        return False
    trainer.optimizer.zero_grad()
    if scaler_on:
        trainer.scaler.update()  # the unscale_ recorded the infs: the scaler lowers its scale too
    g.bad(trainer.model, trainer.optimizer, {"epoch": trainer.epoch + 1,
                                             "step": trainer.optimizer_steps + trainer.skipped_steps,
                                             "loss_finite": loss_ok, "grad_norm": n if math.isfinite(n) else str(n)})
    trainer.lr_scale = g.lr_scale  # the schedule keeps the lowered lr
    trainer.skipped_steps += 1
    return True


def events_row(plan: Any, trainer: Any, row: dict[str, Any]) -> dict[str, Any]:
    """The guard's columns of tricks_log.csv; its events to guard_events.csv (rank 0 writes the logs)."""
    from pathlib import Path

    from helpers.core.csvlog import write_rows

    g = getattr(trainer, "guard", None)
    if g is not None and g.events:
        write_rows(Path(trainer.save_dir) / "guard_events.csv", g.events)
    return {"lr_scale": g.lr_scale if g else 1.0, "guard_events": len(g.events) if g else 0}


def row(plan: Any) -> Row | None:
    if not plan.nan_guard:
        return None
    return ("NaN guard", "on", f"a step with a non-finite loss (or norm, without a GradScaler) is skipped and lr x "
            f"{plan.guard_lr_drop:g}; after {plan.guard_max_bad} in a row the last good weights come back")


TRICK = Trick(
    "nan_guard",
    options=(Option("nan_guard", bool, False, doc="skip non-finite steps, lower lr, restore the last good weights"),
             Option("guard_max_bad", int, 3, check=check_max_bad, doc="bad steps in a row before a restore"),
             Option("guard_lr_drop", float, 0.5, check=check_drop, doc="lr factor at each bad step")),
    row=row, before="optimizer", summary=lambda p: "NaN guard" if p.nan_guard else "",
    callbacks={"on_pretrain_routine_end": start, "on_train_batch_end": batch_end},
    skip_step=decide, epoch_row=events_row, doc="the NaN/Inf guard")

