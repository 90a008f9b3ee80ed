"""Convergence diagnosis for early stopping: validation-loss spread over a window, mAP stagnation over a patience,
and gradient-norm explosion. Pure functions over per-epoch histories; as a plug-in (`early_stop`, the patience in
epochs) the workbook's trainer stops with the reason, read from the run's per-epoch log (tricks_log.csv)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from helpers.tricks.registry import Option, Row, Trick


@dataclass(frozen=True)
class EarlyStop:
    patience: int = 10  # epochs without an mAP gain of min_delta
    min_delta: float = 1e-3
    window: int = 5  # epochs over which the validation-loss spread is measured
    val_loss_std: float | None = None  # stop when the spread falls below this *and* mAP has stagnated for `window`
    explode_factor: float = 10.0  # an epoch's median grad norm this many times the previous window's median
    min_epochs: int = 3
    learning_above: float = 0.0  # stagnation counts only once mAP has exceeded this: a flat 0 at the start of a
    #                              large-batch run is "not learning yet" (warm-up, few steps per epoch), not a plateau


def signals(val_loss: list[float], maps: list[float], grad_norms: list[float], cfg: EarlyStop) -> dict[str, float]:
    """The three signals at the last epoch (NaN when not enough history)."""
    nan = float("nan")
    w = cfg.window
    spread = statistics.pstdev(val_loss[-w:]) if len(val_loss) >= w else nan
    best_i = max(range(len(maps)), key=lambda i: maps[i]) if maps else -1
    since_best = len(maps) - 1 - best_i if maps else 0
    # Stagnation is counted from the epoch learning became visible (mAP above learning_above by min_delta), then
    # from the last improvement of at least min_delta over everything before it; before that, nothing is stagnant.
    started = next((i for i, m in enumerate(maps) if m > cfg.learning_above + cfg.min_delta), None)
    stagnant = 0
    if started is not None:
        last_gain = started
        for i in range(started + 1, len(maps)):
            if maps[i] > max(maps[:i]) + cfg.min_delta:
                last_gain = i
        stagnant = len(maps) - 1 - last_gain
    prev = [g for g in grad_norms[-w - 1:-1] if math.isfinite(g)]
    ratio = grad_norms[-1] / statistics.median(prev) if prev and grad_norms and statistics.median(prev) > 0 else nan
    return {"val_loss_std": spread, "epochs_without_gain": stagnant, "epochs_since_best": since_best,
            "grad_norm_ratio": ratio, "learning_from": nan if started is None else started + 1}


def diagnose(val_loss: list[float], maps: list[float], grad_norms: list[float], cfg: EarlyStop) -> str | None:
    """A reason to stop now, or None."""
    n = len(maps)
    if n < cfg.min_epochs:
        return None
    s = signals(val_loss, maps, grad_norms, cfg)
    if grad_norms and (not math.isfinite(grad_norms[-1]) or s["grad_norm_ratio"] > cfg.explode_factor):
        return (f"gradient norm exploded: median {grad_norms[-1]:.3g} this epoch, {s['grad_norm_ratio']:.1f}x the "
                f"previous {cfg.window} epochs")
    learning = not math.isnan(s["learning_from"])
    if learning and s["epochs_without_gain"] >= cfg.patience:
        return f"mAP has not improved by {cfg.min_delta} for {s['epochs_without_gain']} epochs (patience {cfg.patience})"
    if (learning and cfg.val_loss_std is not None and s["val_loss_std"] < cfg.val_loss_std
            and s["epochs_without_gain"] >= cfg.window):
        return (f"validation loss has settled (std {s['val_loss_std']:.4f} over {cfg.window} epochs < "
                f"{cfg.val_loss_std}) and mAP has not improved for {s['epochs_without_gain']} epochs")
    return None


def plot_signals(rows: list[dict], reason: str | None = None):
    """Per-epoch signals from a run's tricks_log rows: mAP, validation loss, median gradient norm."""
    import matplotlib.pyplot as plt

    ep = [int(r["epoch"]) for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3))
    for ax, key, title, log in ((axes[0], "mAP50-95", "val mAP50-95", False), (axes[1], "val_loss", "val loss", True),
                                (axes[2], "grad_norm_median", "grad norm before clipping (median)", True)):
        ax.plot(ep, [float(r[key]) for r in rows], marker="o", ms=3)
        ax.set(title=title, xlabel="epoch", yscale="log" if log else "linear")
    if reason:
        fig.suptitle(f"stopped: {reason}", fontsize=9)
    fig.tight_layout()
    return fig


def config(plan: Any) -> EarlyStop:
    """The rule of a plan's early stop: its patience, the rest EarlyStop's defaults."""
    return EarlyStop(patience=plan.early_stop)


def check(value: int, plan: Any) -> str | None:
    return None if value >= 0 else "must be >= 0 (0: off)"


def decide(plan: Any, trainer: Any, row: dict[str, Any]) -> dict[str, Any]:
    """After this epoch's validation (rank 0; Ultralytics broadcasts the stop): stop, with the reason, when the rule
    says so; the reason is this epoch's stop_reason column."""
    if not plan.early_stop:
        return {}
    if getattr(trainer, "stop_reason", None) is None:
        rows = [*trainer.epoch_log, row]
        reason = diagnose([float(r["val_loss"]) for r in rows], [float(r["mAP50-95"]) for r in rows],
                          [float(r.get("grad_norm_median", math.nan)) for r in rows], config(plan))
        if reason:
            from ultralytics.utils import LOGGER

            trainer.stop_reason, trainer.stop = reason, True
            LOGGER.warning(f"early stop after epoch {trainer.epoch + 1}: {reason}")
    return {"stop_reason": getattr(trainer, "stop_reason", None) or ""}


def row(plan: Any) -> Row | None:
    if not plan.early_stop:
        return None
    return ("early stop", f"patience {plan.early_stop}", "stops with a reason: no mAP gain for that many epochs once "
            "mAP shows, a settled validation loss, or an exploding gradient norm (Ultralytics' own `patience` too)")


TRICK = Trick(
    "early_stop",
    options=(Option("early_stop", int, 0, check=check,
                    doc="epochs without an mAP gain before stopping with a reason (0: off)"),),
    row=row, before="optimizer", summary=lambda p: f"early stop {p.early_stop}" if p.early_stop else "",
    epoch_row=decide, doc="early stopping with a reason")

