"""Gradient clipping, and the log that shows what it does: the pre-clip norm of every optimizer step.

Ultralytics clips the gradient norm at a fixed 10 (`BaseTrainer.optimizer_step`) and its detection loss is the mean
over the batch times the batch size, so the gradient, and its norm, grow with the batch. At batch 64-256 the
pre-clip norm is hundreds to hundreds of thousands: nearly every step is clipped, and a clipped step's length is
lr x clip, whatever the batch. The clip is then a second learning rate, and a batch 4x larger takes 4x fewer steps
of the same length per epoch. `clip_rule` says how the clip follows the batch: `fixed` (Ultralytics' 10, or
`clip_norm`), `linear` (clip_norm x effective batch / batch_ref: a clipped step grows with the batch as an unclipped
one would) or `off`. Every run logs each step's pre-clip norm to `grad_norms.csv` in its run folder (epoch, step,
norm, the clip in force), written at each epoch's end, so the log costs no synchronisation per step.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from helpers.tricks.registry import Option, Row, Trick, with_plan

ULTRALYTICS_NORM = 10.0  # BaseTrainer.optimizer_step's max_norm
RULES = ("fixed", "linear", "off")
LOG = "grad_norms.csv"
COLUMNS = ("epoch", "step", "norm", "max_norm")


def check(value: float, plan: Any) -> str | None:
    """A positive, finite clip norm."""
    if not value > 0 or not math.isfinite(value):
        return "must be a positive number (clip_rule='off' turns clipping off)"
    return None


def max_norm(plan: Any) -> float:
    """The clip this plan's steps get: clip_norm, scaled with the effective batch for `linear`, inf for `off`."""
    if plan.clip_rule == "off":
        return math.inf
    if plan.clip_rule == "linear":
        return plan.clip_norm * plan.effective_batch / plan.batch_ref
    return float(plan.clip_norm)


def row(plan: Any) -> Row:
    """The 'gradient clip' row."""
    if plan.clip_rule == "off":
        return "gradient clip", "off", "no clipping: a step's length follows the gradient (the loss grows with the batch)"
    why = (f"{plan.clip_norm:g} x effective batch {plan.effective_batch} / {plan.batch_ref}: a clipped step grows with "
           "the batch" if plan.clip_rule == "linear" else
           "Ultralytics' own clip" if plan.clip_norm == ULTRALYTICS_NORM else "set explicitly")
    return ("gradient clip", f"norm {max_norm(plan):g}", why + "; pre-clip norms grow with the batch, so at large "
            f"batches nearly every step is clipped to length lr x clip (each step's norm: {LOG})")


def summary(plan: Any) -> str:
    """The clip in the one-line summary, when it is not Ultralytics' own."""
    if plan.clip_rule == "off":
        return "no clip"
    n = max_norm(plan)
    return "" if n == ULTRALYTICS_NORM else f"clip {n:g}"


@with_plan
def epoch_start(trainer: Any) -> None:
    """A new epoch's list of step norms."""
    trainer.step_norms = []


@with_plan
def epoch_end(trainer: Any) -> None:
    """Append this epoch's step norms to grad_norms.csv (rank 0; one synchronisation per epoch)."""
    from ultralytics.utils import RANK

    norms = trainer.step_norm_values = values(getattr(trainer, "step_norms", []))  # norms_row reads them too
    if RANK > 0 or not norms:
        return
    limit = max_norm(trainer.plan) if trainer.plan is not None else ULTRALYTICS_NORM
    path = Path(trainer.save_dir) / LOG
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(COLUMNS)
        w.writerows((trainer.epoch + 1, i + 1, f"{n:.6g}", f"{limit:g}") for i, n in enumerate(norms))


def norms_row(plan: Any, trainer: Any, row: dict[str, Any]) -> dict[str, Any]:
    """This epoch's pre-clip norms in tricks_log.csv: median, largest, steps and how many were clipped."""
    import statistics

    norms = [n for n in getattr(trainer, "step_norm_values", []) if math.isfinite(n)]  # epoch_end read them
    limit = max_norm(plan)
    return {"grad_norm_median": statistics.median(norms) if norms else math.nan,
            "grad_norm_max": max(norms) if norms else math.nan, "steps": len(getattr(trainer, "step_norms", [])),
            "clipped_steps": sum(n > limit for n in norms)}


def values(norms: list[Any]) -> list[float]:
    """The norms as floats (the trainer keeps them as tensors on the device until the epoch ends)."""
    if not norms:
        return []
    import torch

    return [float(v) for v in torch.stack([torch.as_tensor(n, dtype=torch.float32).detach().cpu() for n in norms])]


def read(run_dir: str | Path) -> list[dict[str, float]]:
    """grad_norms.csv of a run: one dict per optimizer step (epoch, step, norm, max_norm)."""
    path = Path(run_dir) / LOG
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def per_epoch(steps: list[dict[str, float]]) -> list[dict[str, float]]:
    """Per epoch: steps, the clipped share, and the median, 10th and 90th percentile of the finite pre-clip norms."""
    import statistics

    out = []
    for e in sorted({int(s["epoch"]) for s in steps}):
        rows = [s for s in steps if int(s["epoch"]) == e and math.isfinite(s["norm"])]
        finite = sorted(s["norm"] for s in rows)
        clipped = sum(s["norm"] > s["max_norm"] for s in rows)
        at = (lambda p: finite[min(len(finite) - 1, int(p * len(finite)))]) if finite else (lambda p: math.nan)
        out.append({"epoch": e, "steps": sum(int(s["epoch"]) == e for s in steps), "clipped": clipped,
                    "clipped_share": clipped / len(finite) if finite else math.nan,
                    "median": statistics.median(finite) if finite else math.nan, "p10": at(0.1), "p90": at(0.9)})
    return out

TRICK = Trick(
    "clip",
    options=(Option("clip_norm", float, ULTRALYTICS_NORM, check=check,
                    doc="the gradient-norm clip (Ultralytics' own is 10)"),
             Option("clip_rule", str, "fixed", choices=RULES,
                    doc="fixed: clip_norm | linear: clip_norm x effective batch / batch_ref | off: no clipping")),
    row=row, before="optimizer", summary=summary, epoch_row=norms_row,
    callbacks={"on_train_epoch_start": epoch_start, "on_train_epoch_end": epoch_end},
    doc="the gradient-norm clip and the per-step log of pre-clip norms")
