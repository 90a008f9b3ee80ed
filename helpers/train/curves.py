"""Training curves from Ultralytics' results.csv: loss components, mAP and the learning rate actually applied."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure


# Ultralytics' results.csv / trainer.metrics names for the detection metrics
METRICS = {"mAP50-95": "metrics/mAP50-95(B)", "mAP50": "metrics/mAP50(B)", "precision": "metrics/precision(B)",
           "recall": "metrics/recall(B)"}
MAP50_95 = METRICS["mAP50-95"]


def load(run: str | Path) -> dict[str, list[float]]:
    """A run's results.csv (a run folder or the csv itself) as columns of floats (header names stripped)."""
    path = Path(run)
    path = path if path.suffix == ".csv" else path / "results.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: did the training run finish its first epoch?")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    cols: dict[str, list[float]] = {}
    for row in rows:
        for k, v in row.items():
            cols.setdefault(k.strip(), []).append(float(v) if v not in ("", None) else float("nan"))
    return cols


def final(cols: dict[str, list[float]]) -> dict[str, float]:
    """The last epoch's metrics (mAP50-95, mAP50, precision, recall)."""
    return {short: cols[k][-1] for short, k in METRICS.items() if k in cols}


def plot(cols: dict[str, list[float]], title: str = "", before: float | None = None) -> Figure:
    """Three panels: train/val loss components, mAP50-95 and mAP50 (with the model's mAP50-95 `before` training as
    epoch 0, where given), and lr (parameter group 0); whole epochs on every axis."""
    from matplotlib.ticker import MaxNLocator

    ep = cols["epoch"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    parts = [k.split("/")[1].removesuffix("_loss") for k in cols if k.startswith("train/") and k.endswith("_loss")]
    for i, part in enumerate(parts):
        colour = f"C{i}"
        for split, style in (("train", "-"), ("val", "--")):
            key = f"{split}/{part}_loss"
            if key in cols:
                axes[0].plot(ep, cols[key], style, color=colour, label=f"{split} {part}")
    axes[0].set(title="loss components (log scale)", xlabel="epoch", yscale="log")  # early val spikes dwarf the rest
    axes[0].legend(fontsize=7, ncol=2)
    for label in ("mAP50-95", "mAP50"):
        key = METRICS[label]
        if key in cols:
            axes[1].plot(ep, cols[key], marker="o", ms=3, label=label)
    if before is not None:
        axes[1].plot([0], [before], marker="s", ms=6, color="C0", linestyle="none", label="mAP50-95 before training")
    axes[1].set(title="validation mAP", xlabel="epoch", ylim=(0, None))
    axes[1].legend(fontsize=7)
    axes[2].plot(ep, cols.get("lr/pg0", []), marker="o", ms=3, color="C3")
    axes[2].set(title="lr (end of epoch, group 0)", xlabel="epoch")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def total_loss(cols: dict[str, list[float]], split: str = "train") -> list[float]:
    """The loss components a model logs, summed per epoch: box + cls + dfl (YOLO26: box + cls + l1)."""
    parts = [v for k, v in cols.items() if k.startswith(f"{split}/") and k.endswith("_loss")]
    return [sum(vals) for vals in zip(*parts)]


def settle_epoch(cols: dict[str, list[float]], share: float = 0.9) -> int | None:
    """The epoch from which the training loss stays within (1 - share) of its whole fall from its highest value to
    its last (0.9: 90% of the fall made, for good); None for a run of one epoch or a loss that never fell."""
    loss = total_loss(cols)
    if len(loss) < 2 or max(loss) <= loss[-1]:
        return None
    top, last = max(loss), loss[-1]
    limit = last + (1 - share) * (top - last)
    for i in range(len(loss)):
        if all(v <= limit for v in loss[i:]):
            return int(cols["epoch"][i])
    return None


MAP_ZERO = 0.01  # mAP50-95 below it: a detector that finds nothing yet


def first_epoch_at(epochs: list[float], values: list[float], level: float = MAP_ZERO) -> int | None:
    """The first epoch whose value reaches `level` (by default: a detector's mAP50-95 leaving 0), or None."""
    return next((int(e) for e, v in zip(epochs, values) if v >= level), None)


def val_cls_spike(cols: dict[str, list[float]], within: float = 2.0) -> dict[str, float] | None:
    """The validation class loss at its peak (value, epoch) and the first later epoch where it is back within `within`
    times the training class loss; None without both losses."""
    val, train = cols.get("val/cls_loss"), cols.get("train/cls_loss")
    if not val or not train:
        return None
    i = max(range(len(val)), key=val.__getitem__)
    back = next((int(cols["epoch"][j]) for j in range(i + 1, len(val)) if val[j] <= within * train[j]), None)
    return {"peak": val[i], "epoch": int(cols["epoch"][i]), "back_by": back, "train_at_peak": train[i]}
