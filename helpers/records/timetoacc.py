"""The time-to-accuracy record (benchmarks/results/tta-h200/): mAP50-95 per epoch of each plan and seed, and the wall
clock of each physical configuration trained alone; what follows from them: the target accuracy, the time each plan
takes to reach it, and the epochs whose validation fell below half the best before them.

`benchmarks/time_to_accuracy.py` writes two files: points that shared the GPU (accuracy per epoch, which does not
depend on speed) and points that ran alone (wall clock). A point's time is the clock of the configuration it shares
with a point that ran alone (micro-batch, accumulation, image size): the epochs that solo run finished are read as
measured, later ones as its first epoch plus the median of its later epochs per epoch.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.core import paths

FOLDER = paths.ROOT / "benchmarks" / "results" / "tta-h200"
SHARED, SOLO = "tta-h200-320", "tta-h200-320-solo"
REFERENCE = "b64-sqrt"  # effective batch 64 at 30 epochs: its median best mAP50-95 is the target
LEARNING = 0.1  # mAP50-95 from which a fall to half counts as a collapse


@dataclass(frozen=True)
class Point:
    """One plan and seed as trained: its plan's fields, mAP50-95 per epoch, status (ok | cut | error)."""

    name: str
    seed: int
    status: str
    plan: dict[str, Any]
    maps: tuple[float, ...]
    grad_norms: tuple[dict[str, float], ...]
    jobs: int
    epoch_end_s: tuple[float, ...]
    tricks_log: tuple[dict[str, Any], ...] = ()

    @property
    def config(self) -> tuple[int, int, int]:
        """What its speed depends on: micro-batch, accumulation, image size."""
        return self.plan["batch"], self.plan["accumulate"], self.plan["imgsz"]

    @property
    def best(self) -> float:
        return max(self.maps, default=float("nan"))

    def collapses(self) -> list[int]:
        """Epochs (1-based) whose mAP50-95 fell below half the best of the epochs before them, counted once that best
        has passed LEARNING (before it, mAP is noise around zero)."""
        out, best = [], 0.0
        for i, m in enumerate(self.maps):
            if best >= LEARNING and m < best / 2:
                out.append(i + 1)
            best = max(best, m)
        return out

    @property
    def guarded(self) -> bool:
        """Whether the run had the NaN guard (a plan field, or a field of the recipe object older points recorded)."""
        return bool(self.plan.get("nan_guard") or (self.plan.get("recipe") or {}).get("nan_guard"))

    @property
    def steps_per_epoch(self) -> float:
        return self.plan["train_images"] / self.plan["effective_batch"]

    def steps_to(self, level: float) -> float | None:
        """Optimizer steps until the end of the first epoch whose mAP50-95 reached `level` (None: never)."""
        epoch = self.first_epoch_at(level)
        return None if epoch is None else epoch * self.steps_per_epoch

    def first_epoch_at(self, level: float) -> int | None:
        """The first epoch whose mAP50-95 reached `level` (None: never, in the epochs it ran)."""
        return next((i + 1 for i, m in enumerate(self.maps) if m >= level), None)


@dataclass(frozen=True)
class Clock:
    """A configuration's wall clock, from a point that ran alone: seconds from process start to each epoch's end."""

    config: tuple[int, int, int]
    measured: tuple[float, ...]
    source: str  # the solo point it comes from

    @property
    def epoch_s(self) -> float:
        """Seconds per epoch after the first (validation and checkpoint included): the median."""
        steps = [b - a for a, b in zip(self.measured, self.measured[1:])]
        return statistics.median(steps)

    def at(self, epoch: int) -> float:
        """Seconds from process start to the end of `epoch`: measured where the solo run got there, else its
        first epoch plus the median epoch for each later one."""
        if epoch <= len(self.measured):
            return self.measured[epoch - 1]
        return self.measured[0] + (epoch - 1) * self.epoch_s


@dataclass(frozen=True)
class Record:
    """Both files of the record, read."""

    points: tuple[Point, ...]
    solo: tuple[Point, ...]
    calls: tuple[dict, ...]

    @property
    def environment(self) -> dict:
        return self.calls[0]["environment"] if self.calls else {}

    def plan_points(self, name: str) -> list[Point]:
        return [p for p in self.points if p.name == name]

    def names(self) -> list[str]:
        return list(dict.fromkeys(p.name for p in self.points))

    def target(self, reference: str = REFERENCE) -> float:
        """The reference plan's median best mAP50-95 over its seeds."""
        return statistics.median(p.best for p in self.plan_points(reference))

    def clock(self, config: tuple[int, int, int]) -> Clock | None:
        """The clock of a configuration, from its solo point (None: none ran alone)."""
        for p in self.solo:
            if p.config == config and len(p.epoch_end_s) >= 2:
                return Clock(config, p.epoch_end_s, f"{p.name}/seed-{p.seed}")
        return None

    def seconds_to(self, point: Point, level: float) -> float | None:
        """Wall-clock seconds the point took to reach `level` (None: never, or no clock for its configuration)."""
        epoch, clock = point.first_epoch_at(level), self.clock(point.config)
        return None if epoch is None or clock is None else clock.at(epoch)

    def summary(self, name: str, level: float) -> dict[str, Any]:
        """Over a plan's seeds: best mAP (median, min, max), how many reached `level`, the median epoch and seconds of
        those that did, collapses per run, the epochs run."""
        pts = self.plan_points(name)
        reached = [p for p in pts if p.first_epoch_at(level) is not None]
        secs = [s for p in reached for s in [self.seconds_to(p, level)] if s is not None]
        bests = [p.best for p in pts]
        return {"plan": name, "seeds": len(pts), "epochs": pts[0].plan["epochs"] if pts else 0,
                "epochs_run": [len(p.maps) for p in pts], "best_median": statistics.median(bests) if bests else None,
                "best_min": min(bests, default=None), "best_max": max(bests, default=None),
                "reached": len(reached), "epoch": statistics.median(p.first_epoch_at(level) for p in reached)
                if reached else None, "seconds": statistics.median(secs) if secs else None,
                "collapses": [len(p.collapses()) for p in pts],
                "steps_per_epoch": pts[0].steps_per_epoch if pts else None}


def _points(doc: dict) -> tuple[Point, ...]:
    out = []
    for key, r in doc.get("points", {}).items():
        name, seed = key.rsplit("/seed-", 1)
        plan = {**r["plan"], "recipe": r["recipe"]} if r.get("recipe") else r["plan"]
        out.append(Point(name, int(seed), r["status"], plan, tuple(r["mAP50-95"]),
                         tuple(r.get("grad_norms", [])), int(r.get("jobs", 1)), tuple(r.get("epoch_end_s", [])),
                         tuple(r.get("tricks_log", []))))
    return tuple(out)


def load(folder: str | Path = FOLDER, shared: str = SHARED, solo: str = SOLO) -> Record:
    """The record: its shared-GPU points, its solo points and the calls that made them."""
    folder = Path(folder)
    a = json.loads((folder / f"{shared}.json").read_text())
    b = json.loads((folder / f"{solo}.json").read_text()) if (folder / f"{solo}.json").exists() else {}
    return Record(_points(a), _points(b), tuple(a.get("calls", [])) + tuple(b.get("calls", [])))


def plot_frontier(rec: Record, names: list[str] | None = None, level: float | None = None):
    """mAP50-95 against wall-clock seconds for each plan (every seed; the time from its configuration's solo run),
    the target drawn across."""
    import matplotlib.pyplot as plt

    level = rec.target() if level is None else level
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for i, name in enumerate(names or rec.names()):
        color = f"C{i}"
        for j, p in enumerate(rec.plan_points(name)):
            clock = rec.clock(p.config)
            if clock is None:
                continue
            t = [clock.at(e + 1) for e in range(len(p.maps))]
            ax.plot(t, p.maps, color=color, lw=1.2, alpha=0.85, label=name if j == 0 else None)
    ax.axhline(level, color="k", ls="--", lw=0.8)
    ax.text(ax.get_xlim()[1], level, f" target {level:.3f}", va="center", fontsize=8)
    ax.axhline(0.95 * level, color="k", ls=":", lw=0.8)
    ax.set(xlabel="wall-clock seconds from process start (each configuration's solo run)", ylabel="mAP50-95",
           title=f"time to accuracy, {rec.environment.get('device', '?')}, {rec.points[0].plan['imgsz']} px"
           if rec.points else "time to accuracy")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
