"""Papermill batch runs: one notebook over a grid of parameters, one fresh kernel per point, and one report.

`python -m helpers sweep --only 02 --grid nbs=64,128,256 --seeds 0,1` runs notebook 02 once per grid
point and seed. Each point gets its own runs folder (its run, caches and validation stamps), all points share one
datasets folder (the data are generated once), and a point that finished is skipped when the sweep is started again,
so an interrupted sweep resumes. With several GPUs the points run side by side, one per GPU. After every point the
report is rewritten: `sweep.json` (each point's parameters, recorded figures and curves), `sweep.md` (a table per
point and one per grid value over the seeds) and `sweep.png` (mAP by epoch, training time, peak memory, the epoch
where the loss settles). This module runs the sweep and writes the record; its format, its tables and its reading
(under today's parameter names) are helpers.records.sweep_record's, the one reader of the record.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import math
import os
import queue
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from helpers.core import paths, profiles
from helpers.core.tables import markdown
from helpers.records.sweep_record import FIGURES, Point, command, read, spread, tables  # the record's one reader

__all__ = ["FIGURES", "Point", "SweepError", "command", "parse_grid", "points", "read", "run_point", "spread", "sweep",
           "tables", "write_report"]


class SweepError(ValueError):
    """A sweep that cannot run as asked; the message says what to change."""


def parse_grid(items: list[str], seeds: str | None = None) -> dict[str, list[Any]]:
    """['nbs=64,128,256'] (+ seeds '0,1') -> {'nbs': [64, 128, 256], 'seed': [0, 1]}."""
    import yaml

    grid: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise SweepError(f"--grid expects NAME=V1,V2,..., got {item!r}")
        name, values = item.split("=", 1)
        name = name.strip()
        if name in grid:
            raise SweepError(f"--grid {name} is given twice: list all its values in one --grid")
        grid[name] = [yaml.safe_load(v) for v in values.split(",") if v.strip()]
        if not grid[name]:
            raise SweepError(f"--grid {name}= has no values")
    if seeds:
        if "seed" in grid:
            raise SweepError("give the seeds once: --seeds or --grid seed=...")
        grid["seed"] = [int(s) for s in seeds.split(",") if s.strip()]
    if not grid:
        raise SweepError("nothing to sweep: give at least one --grid NAME=V1,V2")
    return grid


def points(grid: dict[str, list[Any]]) -> list[Point]:
    """Every combination of the grid's values, in order (the last name varies fastest)."""
    names = list(grid)
    return [Point(dict(zip(names, combo))) for combo in itertools.product(*(grid[n] for n in names))]


def _curves(runs: Path) -> dict[str, list[float]]:
    """The newest results.csv under a point's runs folder: epoch, val mAP50-95 and the train loss."""
    from helpers.train import curves

    found = sorted(runs.glob("train/*/results.csv"), key=lambda p: p.stat().st_mtime)
    if not found:
        return {}
    cols = curves.load(found[-1])
    out = {"epoch": cols["epoch"], "mAP50-95": cols.get(curves.MAP50_95, [])}
    if "train/box_loss" in cols:
        out["train_loss"] = curves.total_loss(cols)
        settle = curves.settle_epoch(cols)
        out["settle_epoch"] = [] if settle is None else [float(settle)]
    return out


def run_point(point: Point, nb: Path, out: Path, profile: str, fixed: dict[str, Any], timeout_s: float,
              gpu: str | None = None) -> Point:
    """Execute the notebook for one point in a fresh kernel, in its own runs folder; fills status and figures."""
    from helpers.workbook import runner

    folder = out / point.slug
    env = {"WORKBOOK_RUNS": str(folder / "runs"), "WORKBOOK_DATASETS": str(out / "datasets")}
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
        point.gpu = gpu
    res = runner.run_one(nb, folder, profile, {**fixed, **point.params}, timeout_s, html=False, env=env)
    point.status, point.seconds = res.status, round(res.seconds, 1)
    point.device, point.versions = _device(), _versions()
    point.records = {r["name"]: r["value"] for r in res.records}
    point.error = runner.error_text(res.error)
    point.curves = _curves(folder / "runs")
    if point.curves.get("settle_epoch"):
        point.records["settle_epoch"] = point.curves["settle_epoch"][0]
    (folder / "point.json").write_text(json.dumps(asdict(point), indent=1))
    return point


def load_point(out: Path, point: Point) -> Point | None:
    """The finished point saved in the sweep folder, or None (not run, or it failed: run it again)."""
    f = out / point.slug / "point.json"
    if not f.exists():
        return None
    saved = Point(**json.loads(f.read_text()))
    return saved if saved.status == "ok" and saved.params == point.params else None


def figure(done: list[Point], grid: dict[str, list[Any]]):
    """mAP50-95 by epoch per point; training time, peak memory and the settle epoch per point."""
    import matplotlib.pyplot as plt

    ok = [p for p in done if p.status == "ok"]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
    group = [n for n in grid if n != "seed"]
    colours = {combo: f"C{i}" for i, combo in enumerate(itertools.product(*(grid[n] for n in group)))}
    for p in ok:
        combo = tuple(p.params[n] for n in group)
        label = ",".join(f"{n}={v}" for n, v in zip(group, combo)) + (f" s{p.params['seed']}" if "seed" in p.params else "")
        style = ["-", "--", ":", "-."][grid.get("seed", [0]).index(p.params["seed"]) % 4] if "seed" in p.params else "-"
        if p.curves.get("mAP50-95"):
            axes[0].plot(p.curves["epoch"], p.curves["mAP50-95"], style, color=colours[combo], marker="o", ms=3,
                         label=label)
    axes[0].set(title="val mAP50-95 by epoch", xlabel="epoch", ylim=(0, None))
    axes[0].legend(fontsize=7)
    labels = [" ".join(str(p.params[n]) for n in group) + (f" s{p.params['seed']}" if "seed" in p.params else "")
              for p in ok]
    for ax, key, title, why in (
            (axes[1], "train_seconds", "training time (s)", "not recorded by this notebook"),
            (axes[2], "train_peak_gib", "peak GiB", "no GPU: not measured"),
            (axes[3], "settle_epoch", "epoch where the loss settles", "too few epochs\nfor the loss to settle")):
        vals = [float(p.records[key]) if isinstance(p.records.get(key), (int, float)) else math.nan for p in ok]
        ax.bar(range(len(ok)), vals, color=[colours[tuple(p.params[n] for n in group)] for p in ok])
        ax.set_xticks(range(len(ok)), labels, fontsize=7, rotation=45 if len(ok) > 6 else 0)
        ax.set(title=title, xlabel=", ".join(group) + (" and seed" if "seed" in grid else ""))
        if all(math.isnan(v) for v in vals):
            ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, fontsize=8)
            ax.set_yticks([])
    fig.tight_layout()
    return fig


def write_report(out: Path, nb: Path, profile: str, grid: dict[str, list[Any]], fixed: dict[str, Any],
                 done: list[Point], device: str) -> dict[str, Path]:
    """sweep.json, sweep.md and sweep.png in the sweep folder."""
    heads, rows, g_heads, g_rows = tables(done, grid)
    device = ", ".join(sorted({p.device for p in done if p.device})) or device
    files = {"json": out / "sweep.json", "md": out / "sweep.md", "png": out / "sweep.png"}
    doc = {"notebook": nb.stem, "profile": profile, "grid": grid, "fixed": fixed, "device": device, "written": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
           "points": [asdict(p) for p in done]}
    files["json"].write_text(json.dumps(doc, indent=1, default=str))
    cmd = command(nb.stem, profile, grid, fixed)
    md = (f"# Sweep of {nb.stem} ({profile} profile)\n\nDevice: {device}. Command: `{cmd}`.\n\n"
          f"## Per point\n\n{markdown(heads, rows)}\n\n## Per grid value over the seeds: median (min-max)\n\n"
          f"{markdown(g_heads, g_rows)}\n\n'loss settles': the first epoch from which the training loss (box + cls "
          "+ dfl) stays within 10% of its fall from its highest value to its last. 'training s': the run's wall "
          "clock from the notebook's record. Executed notebooks: one folder per point beside this file.\n")
    files["md"].write_text(md)
    fig = figure(done, grid)
    fig.savefig(files["png"], dpi=90)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return files


def _versions() -> dict[str, Any]:
    from helpers.core import versions

    return versions.describe()


def _device() -> str:
    import torch

    if not torch.cuda.is_available():
        return f"CPU only ({os.cpu_count()} cores)"
    n = torch.cuda.device_count()
    return f"{n} x {torch.cuda.get_device_name(0)}" if n > 1 else torch.cuda.get_device_name(0)


def sweep(only: str, grid: dict[str, list[Any]], profile: str | None = None, fixed: dict[str, Any] | None = None,
          out: str | Path | None = None, timeout_s: float | None = None, gpus: int | None = None,
          progress: bool = True) -> list[Point]:
    """Run the notebook `only` once per grid point (finished points skipped) and write the report."""
    from helpers.workbook import params, runner

    prof = profiles.get(profile)
    notebooks = runner.discover([only])
    if len(notebooks) != 1:
        raise SweepError(f"--only names one notebook, got {[p.stem for p in notebooks]}")
    nb = notebooks[0]
    fixed = dict(fixed or {})
    clash = sorted(set(fixed) & set(grid))
    if clash:
        raise SweepError(f"{clash} is both swept (--grid) and fixed (--set): choose one")
    declared = params.declared(nb)
    missing = [n for n in grid if n not in declared]
    if missing:
        renamed = "".join(f"; {n!r} is now called {params.RENAMED[n]!r}" for n in missing if n in params.RENAMED)
        raise SweepError(f"{nb.stem} has no parameter {missing}{renamed}: its parameters are {sorted(declared)}")
    for p in points(grid):  # every value's type checked before anything runs
        params.check({**fixed, **p.params}, [nb])
    out = Path(out) if out else paths.runs_dir() / f"sweep-{nb.stem.split('_')[0]}-{prof.name}"
    out.mkdir(parents=True, exist_ok=True)
    lock = open(out / "sweep.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SweepError(f"another sweep is running in {out}: wait for it, or give --out another folder") from None
    timeout_s = timeout_s or prof.notebook_timeout_s
    device = _device()
    todo, done = [], []
    for p in points(grid):
        saved = load_point(out, p)
        (done.append(saved) if saved else todo.append(p))
        if saved and progress:
            print(f"done     {p.key} (finished earlier, skipped)", flush=True)
    report_lock = threading.Lock()
    order = {q.key: i for i, q in enumerate(points(grid))}

    def finished(p: Point) -> None:
        with report_lock:
            done.append(p)
            done.sort(key=lambda q: order[q.key])
            write_report(out, nb, prof.name, grid, fixed, done, device)
            if progress:
                print(f"{p.status.upper():8s} {p.key} ({p.seconds:.0f} s{', GPU ' + p.gpu if p.gpu else ''}) "
                      f"{p.error}", flush=True)

    n_gpus = _gpus(gpus)
    if n_gpus <= 1 or len(todo) <= 1:
        for p in todo:
            finished(run_point(p, nb, out, prof.name, fixed, timeout_s))
    else:  # the first point alone (it generates the shared data), then one point per GPU
        finished(run_point(todo[0], nb, out, prof.name, fixed, timeout_s, gpu="0"))
        free: queue.Queue[str] = queue.Queue()
        for g in range(n_gpus):
            free.put(str(g))
        threads = []
        for p in todo[1:]:
            gpu = free.get()

            def work(p: Point = p, gpu: str = gpu) -> None:
                try:
                    finished(run_point(p, nb, out, prof.name, fixed, timeout_s, gpu=gpu))
                finally:
                    free.put(gpu)

            t = threading.Thread(target=work, daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
    files = write_report(out, nb, prof.name, grid, fixed, done, device)
    if progress:
        print(f"Report: {files['md']}  |  {files['png']}  |  {files['json']}", flush=True)
    lock.close()
    (out / "sweep.lock").unlink(missing_ok=True)
    return done


def _gpus(asked: int | None) -> int:
    if asked is not None:
        return asked
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0
