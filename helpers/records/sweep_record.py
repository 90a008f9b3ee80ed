"""A batch sweep's record (`sweep.json`, written by `python -m helpers sweep`; the recorded one is
benchmarks/results/sweep-02-h200/): the one reader of that format, for the sweep's own report (helpers.workbook.sweep,
which runs sweeps), notebook 02's table, notebook 08's run-to-run range and the claims ledger (claim 7).

A record holds the grid, the profile, the device, and per point its parameters, status, the figures the notebook
recorded and its curves. A parameter recorded under an old name (sweep-02-h200 ran with `effective_batch`, now
`nbs`) is read under its current name: `load` renames the grid and every point's parameters once, so that no reader
needs to know the old name. `read` gives the file as written.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.core.tables import Table
from helpers.records.results import RESULTS

FOLDER = RESULTS / "sweep-02-h200"  # notebook 02 over the effective batch, two seeds each (H200)
# Parameters a record may hold under an old name: old -> the TrainPlan field it sets now.
RENAMED = {"effective_batch": "nbs", "micro_batch": "batch", "attention_backend": "attention"}
# The figures a sweep reports, in its tables' order: (recorded name, column, format).
FIGURES = (("best_val_mAP50-95", "best mAP50-95", "{:.3f}"), ("last_epoch_mAP50-95", "last mAP50-95", "{:.3f}"),
           ("train_seconds", "training s", "{:.0f}"), ("train_img_s", "loop img/s", "{:.0f}"),
           ("train_peak_gib", "peak GiB", "{:.1f}"), ("settle_epoch", "loss settles (epoch)", "{:.0f}"))


@dataclass
class Point:
    """One grid point: its parameters, where it ran, and what it recorded."""

    params: dict[str, Any]
    status: str = "pending"  # pending | ok | failed | timeout
    seconds: float = 0.0
    records: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, list[float]] = field(default_factory=dict)  # epoch, mAP50-95, train loss
    error: str = ""
    gpu: str = ""
    device: str = ""  # where it ran (a report merged from several machines names each)
    versions: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.params.items())

    @property
    def slug(self) -> str:
        return "_".join(f"{k}-{v}" for k, v in self.params.items()).replace("/", "-").replace(" ", "") or "default"


def current(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters under their current names (a name recorded before a rename is given its new one)."""
    return {RENAMED.get(k, k): v for k, v in params.items()}


def _stats(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.median(values):.4g} ({min(values):.4g}-{max(values):.4g})"


def tables(done: list[Point], grid: dict[str, list[Any]]) -> tuple[list[str], list[tuple], list[str], list[tuple]]:
    """(headers, a row per point) and (headers, a row per grid value over the seeds: median (min-max))."""
    names = list(grid)
    heads = [*names, "status", "notebook s", *(label for _, label, _ in FIGURES)]
    rows = []
    for p in done:
        figs = [fmt.format(p.records[k]) if isinstance(p.records.get(k), (int, float)) else "-"
                for k, _, fmt in FIGURES]
        rows.append((*(p.params[n] for n in names), p.status, f"{p.seconds:.0f}", *figs))
    group = [n for n in names if n != "seed"]
    g_heads = [*group, "runs", *(label for _, label, _ in FIGURES)]
    g_rows = []
    for combo in itertools.product(*(grid[n] for n in group)):
        mine = [p for p in done if p.status == "ok" and all(p.params[n] == v for n, v in zip(group, combo))]
        vals = [_stats([float(p.records[k]) for p in mine if isinstance(p.records.get(k), (int, float))])
                for k, _, _ in FIGURES]
        g_rows.append((*combo, len(mine), *vals))
    return heads, rows, g_heads, g_rows


def command(notebook: str, profile: str, grid: dict[str, list[Any]], fixed: dict[str, Any] | None = None) -> str:
    """The `python -m helpers sweep` line that runs this grid (seeds as --seeds)."""
    parts = [f"python -m helpers sweep --only {notebook.split('_')[0]} --profile {profile}"]
    parts += [f"--grid {k}={','.join(map(str, v))}" for k, v in grid.items() if k != "seed"]
    parts += [f"--seeds {','.join(map(str, grid['seed']))}"] if "seed" in grid else []
    parts += [f"--set {k}={v}" for k, v in (fixed or {}).items()]
    return " ".join(parts)


def read(path: str | Path = FOLDER) -> dict[str, Any]:
    """A sweep record as written (sweep.json, or the folder holding it); `load` reads it under current names."""
    path = Path(path)
    return json.loads((path / "sweep.json" if path.is_dir() else path).read_text())


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)


@dataclass(frozen=True)
class SweepRecord:
    """A sweep record with every parameter under its current name."""

    notebook: str
    profile: str
    device: str
    written: str
    grid: dict[str, list[Any]]
    fixed: dict[str, Any]
    points: tuple[Point, ...]
    renamed: dict[str, str] = field(default_factory=dict)  # today's name -> the name the record holds it under

    def ok(self, **params: Any) -> list[Point]:
        """The finished points whose parameters match `params` (e.g. nbs=256: the seeds of one batch)."""
        return [p for p in self.points if p.status == "ok" and all(p.params.get(k) == v for k, v in params.items())]

    def values(self, figure: str, **params: Any) -> list[float]:
        """One recorded figure of every finished point that matches `params`, in the record's order."""
        return [float(p.records[figure]) for p in self.ok(**params) if _number(p.records.get(figure))]

    def spread(self, figure: str, **params: Any) -> tuple[float, float] | None:
        """(min, max) of a figure over the matching finished points: the run-to-run range a single run's figure
        should be read against; None where no point matches."""
        found = self.values(figure, **params)
        return (min(found), max(found)) if found else None

    def by(self, name: str, figure: str) -> dict[Any, list[float]]:
        """{value of parameter `name`: the figure of each finished point at it}, values in the grid's order."""
        return {v: found for v in self.grid[name] if (found := self.values(figure, **{name: v}))}

    def median(self, name: str, figure: str) -> dict[Any, float]:
        """{value of parameter `name`: the figure's median over its finished points}."""
        return {v: statistics.median(found) for v, found in self.by(name, figure).items()}

    @property
    def epochs(self) -> int:
        """The epochs each point trained (the last epoch of the first finished point's curves)."""
        return int(next(p.curves["epoch"][-1] for p in self.ok() if p.curves.get("epoch")))

    @property
    def seeds(self) -> list[Any]:
        return list(self.grid.get("seed", []))

    def lr_rule(self, name: str = "nbs") -> str:
        """The lr scaling rule the recorded lr0s follow across `name` (linear, sqrt, none), or ''."""
        values = [v for v in self.grid.get(name, []) if self.ok(**{name: v})]
        lr0 = {v: r["lr0"] for v in values if _number((r := self.ok(**{name: v})[0].records).get("lr0"))}
        return _rule(lr0)

    def command(self) -> str:
        """The line that runs this sweep again, under today's parameter names and with the lr rule it ran under where
        the profile's default is another today."""
        from helpers.core import profiles

        fixed, rule = dict(self.fixed), self.lr_rule()
        if rule and "lr_rule" not in {*fixed, *self.grid} and rule != profiles.get(self.profile).lr_rule:
            fixed["lr_rule"] = rule
        return command(self.notebook, self.profile, self.grid, fixed)

    def table(self) -> Table:
        """The table per grid value over the seeds: median (min-max) of each figure."""
        _, _, heads, rows = tables(list(self.points), self.grid)
        return Table(tuple(heads), rows, f"{self.notebook} over {', '.join(self.grid)} on {self.device} "
                                         f"({self.profile} profile): median (min-max)")

    def leaves_zero(self, name: str = "nbs") -> Table:
        """Per finished point, the epoch and the optimizer step at which its mAP50-95 first left 0 (reached
        `curves.MAP_ZERO`): a model from scratch leaves 0 after a number of steps, not of epochs."""
        from helpers.core import profiles
        from helpers.train.curves import MAP_ZERO, first_epoch_at

        images = profiles.get(self.profile).n_train
        rows = []
        for p in self.ok():
            steps = images // p.params[name]
            epoch = first_epoch_at(p.curves["epoch"], p.curves["mAP50-95"])
            rows.append((p.params[name], p.params.get("seed", ""), steps, epoch or "never",
                         epoch * steps if epoch else "-"))
        return Table((name, "seed", "steps per epoch", f"first epoch at mAP50-95 >= {MAP_ZERO:g}", "optimizer step"),
                     rows, f"when each recorded run left 0 ({self.device})")

    def setup(self, name: str = "nbs") -> str:
        """What the sweep varied and what it kept, as one Markdown paragraph whose every figure is the record's: the
        values of `name`, the seeds, the epochs, the plan each point got (micro-batch x accumulation, lr0) and the
        optimizer steps per epoch on the profile's training images."""
        from helpers.core import profiles

        values = [v for v in self.grid[name] if self.ok(**{name: v})]
        first = {v: self.ok(**{name: v})[0].records for v in values}
        images = profiles.get(self.profile).n_train
        plans = ", ".join(f"{r.get('plan_micro_batch', '?')} x {r.get('plan_accumulate', '?')}" for r in first.values())
        lr0 = {v: r["lr0"] for v, r in first.items() if _number(r.get("lr0"))}
        rule = self.lr_rule(name)
        steps = ", ".join(f"{images / v:g} at {v}" for v in values)
        seeds = f"seeds {', '.join(map(str, self.seeds))}" if self.seeds else "one seed"
        then = f" (recorded as `{self.renamed[name]}`, its name then)" if name in self.renamed else ""
        return (f"Notebook {self.notebook.split('_')[0]} at `{name}` = {', '.join(map(str, values))}{then}, {seeds}, "
                f"everything else as the `{self.profile}` profile sets it: {self.epochs} epochs on {images} training "
                f"images, the planner's micro-batch x accumulation {plans}, lr0 "
                f"{', '.join(f'{x:.3g}' for x in lr0.values())}{f' (the {rule} rule)' if rule else ''}. In the same "
                f"epochs the larger batch takes fewer optimizer steps: {steps} per epoch. Your own sweep: "
                f"`{self.command()}` (on a CPU, `--profile quick` in place of `--profile {self.profile}`); finished "
                "points are skipped when you start it again.")


def _rule(lr0: dict[Any, float]) -> str:
    """Which scaling rule the recorded lr0s follow across the batch (linear, sqrt, none), or '' if none fits."""
    if len(lr0) < 2:
        return ""
    (b0, l0), *rest = sorted(lr0.items())
    for rule, scale in (("linear", lambda r: r), ("sqrt", math.sqrt), ("none", lambda r: 1.0)):
        if all(math.isclose(lr, l0 * scale(b / b0), rel_tol=0.01) for b, lr in rest):
            return rule
    return ""


def load(path: str | Path = FOLDER) -> SweepRecord:
    """A sweep record (sweep.json, or its folder) with the grid and every point under current parameter names."""
    doc = read(path)
    points = tuple(Point(**{**p, "params": current(p["params"])}) for p in doc["points"])
    names = {*doc["grid"], *(k for p in doc["points"] for k in p["params"])}
    renamed = {RENAMED[k]: k for k in names if k in RENAMED}
    return SweepRecord(doc["notebook"], doc["profile"], doc.get("device", "?"), doc.get("written", ""),
                       current(doc["grid"]), current(doc.get("fixed", {})), points, renamed)


def spread(path: str | Path, figure: str, **params: Any) -> tuple[float, float] | None:
    """(min, max) of one recorded figure over a record's finished points that match `params` (current names)."""
    return load(path).spread(figure, **params)
