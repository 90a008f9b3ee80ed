"""Learning-rate schedule with a warm restart, as the factor Ultralytics' LambdaLR multiplies lr0 by.

Ultralytics builds `self.lf(epoch)` (linear or cosine from 1 to lrf) and steps the scheduler once per epoch, so the
lr during epoch e (0-based) is lr0 x lf(e); the warm-up interpolates towards that value in the first epochs. A warm
restart at epoch R resets the factor to `restart_fraction` and decays it again: exponentially (`decay` per epoch)
or along a cosine to lrf at the last epoch. As a plug-in (`restart_epoch` and its options) it gives the workbook's
trainer the factor that replaces Ultralytics' (`Trick.lr_factor`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from helpers.tricks.registry import Option, Row, Trick


def ultralytics_lf(epoch: float, epochs: int, lrf: float = 0.01) -> float:
    """Ultralytics' default (linear) lr factor at an epoch: from 1 down to lrf at the last epoch."""
    return max(1 - epoch / epochs, 0) * (1.0 - lrf) + lrf


@dataclass(frozen=True)
class Schedule:
    epochs: int
    lrf: float = 0.01  # final factor (Ultralytics' lrf)
    cos: bool = False  # base shape before the restart: Ultralytics' linear (False) or cosine
    restart_epoch: int | None = None  # 0-based epoch at which the factor is reset
    restart_fraction: float = 0.5  # factor right after the restart (x lr0)
    after: str = "exp"  # exp | cosine
    decay: float = 0.95  # per-epoch factor after the restart when after == "exp"

    def __post_init__(self):
        if self.after not in ("exp", "cosine"):
            raise ValueError(f"after={self.after!r}: choose 'exp' or 'cosine'")
        if self.restart_epoch is not None and not 0 < self.restart_epoch < self.epochs:
            raise ValueError(f"restart_epoch={self.restart_epoch} must be inside the run (1..{self.epochs - 1})")

    def base(self, e: float) -> float:
        """Ultralytics' own factor at epoch e (its one_cycle cosine or its linear decay)."""
        if self.cos:
            return ((1 - math.cos(e * math.pi / self.epochs)) / 2) * (self.lrf - 1) + 1
        return ultralytics_lf(e, self.epochs, self.lrf)

    def __call__(self, e: float) -> float:
        r = self.restart_epoch
        if r is None or e < r:
            return self.base(e)
        k = e - r
        if self.after == "exp":
            return max(self.restart_fraction * self.decay ** k, self.lrf)
        span = max(self.epochs - 1 - r, 1)
        return self.lrf + (self.restart_fraction - self.lrf) * (1 + math.cos(math.pi * min(k / span, 1))) / 2

    def curve(self, lr0: float) -> list[float]:
        """lr per epoch (0-based) after warm-up, as Ultralytics logs it in results.csv (lr/pg0 at row e+1)."""
        return [lr0 * self(e) for e in range(self.epochs)]


def plot(schedule: Schedule, lr0: float, applied: list[float] | None = None, ax=None):
    """The planned lr per epoch, and (optionally) the lr the run applied, on one chart."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3))
    epochs = list(range(1, schedule.epochs + 1))
    ax.plot(epochs, schedule.curve(lr0), "-", color="C0", label="planned (lr0 x factor)")
    if applied is not None:
        ax.plot(list(range(1, len(applied) + 1)), applied, "o", ms=4, color="C3", label="applied (results.csv lr/pg0)")
    if schedule.restart_epoch is not None:
        ax.axvline(schedule.restart_epoch + 1, color="grey", ls=":", label=f"restart at epoch {schedule.restart_epoch + 1}")
    ax.set(xlabel="epoch", ylabel="lr", title="learning-rate schedule")
    ax.legend(fontsize=7)
    return ax


AFTER = ("exp", "cosine")


def of(plan: Any, epochs: int | None = None, lrf: float = 0.01, cos: bool = False) -> Schedule:
    """The plan's schedule: Ultralytics' own shape (lrf, cos from its arguments) with the plan's restart."""
    return Schedule(epochs or plan.epochs, lrf, cos, plan.restart_epoch, plan.restart_fraction, plan.restart_after,
                    plan.restart_decay)


def check_epoch(value: int | None, plan: Any) -> str | None:
    """A restart inside the run (0-based epoch 1 .. epochs-1), or none."""
    if value is not None and not 0 < value < plan.epochs:
        return f"must be inside the run: 1 .. {plan.epochs - 1} (0-based epoch), or None for no restart"
    return None


def check_share(value: float, plan: Any) -> str | None:
    return None if 0 < value <= 1 else "must be > 0 and <= 1"


def factor(plan: Any, epochs: int, lrf: float, cos: bool):
    """The factor with the restart, or None without one (Ultralytics' own then)."""
    return None if plan.restart_epoch is None else of(plan, epochs, lrf, cos)


def row(plan: Any) -> Row | None:
    """The 'warm restart' row, when there is one."""
    if plan.restart_epoch is None:
        return None
    after = (f"x{plan.restart_decay:g} per epoch after it" if plan.restart_after == "exp" else
             "a cosine to lrf after it")
    return ("warm restart", f"epoch {plan.restart_epoch + 1}",
            f"lr back to {plan.restart_fraction:g} x lr0 there, {after} (Ultralytics' own decay before it)")


TRICK = Trick(
    "warm_restart",
    options=(Option("restart_epoch", (int, type(None)), None, check=check_epoch,
                    doc="0-based epoch at which lr goes back up (None: Ultralytics' schedule throughout)"),
             Option("restart_fraction", float, 0.5, check=check_share, doc="lr right after the restart, x lr0"),
             Option("restart_after", str, "exp", choices=AFTER, doc="decay after the restart: exp | cosine"),
             Option("restart_decay", float, 0.95, check=check_share, doc="per-epoch factor after it (exp)")),
    row=row, before="optimizer", summary=lambda p: "" if p.restart_epoch is None else f"restart at {p.restart_epoch + 1}",
    lr_factor=factor, doc="a warm restart of the learning rate")

