"""Validation every k epochs (and always the last): less time validating on long runs.

The epochs in between log NaN metrics and no fitness, so they can neither become best.pt nor count for Ultralytics'
early stop. The skip itself is `helpers.train.trainer.WorkbookTrainer.validate`, a method: Ultralytics calls it
from its epoch loop and has no callback that could skip it.
"""

from __future__ import annotations

from typing import Any

from helpers.tricks.registry import Option, Row, Trick


def check(k: int, plan: Any) -> str | None:
    """A positive k, and none of the settings that need every epoch's validation."""
    if k < 1:
        return "must be a positive integer"
    if k > 1 and plan.early_stop:
        return "early stop reads every epoch's validation; use val_every=1 with it, or early_stop=0"
    if k > 1 and plan.extra.get("val") is False:
        return "val=False already validates the last epoch only"
    return None


def row(plan: Any) -> Row | None:
    """The 'validation' row when epochs are skipped."""
    if plan.val_every <= 1:
        return None
    return ("validation", f"every {plan.val_every} epochs", "and the last; the epochs between log NaN metrics and "
            "cannot become best.pt")


TRICK = Trick(
    "val_every",
    options=(Option("val_every", int, 1, check=check,
                    doc="validate every k epochs (the last epoch always; skipped epochs log NaN metrics)"),),
    row=row, before="logging", doc="validation every k epochs")
