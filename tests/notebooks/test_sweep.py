"""`helpers sweep`: a notebook over a grid of parameters, one fresh kernel per point, resumable after kill -9, and
one report of the points' recorded figures."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.train import curves
from helpers.workbook import sweep
from helpers.workbook.sweep import Point, SweepError


def test_the_grid_is_every_combination_with_the_seeds_last():
    grid = sweep.parse_grid(["nbs=64,128,256", "lr_rule=sqrt,linear"], seeds="0,1")
    assert grid == {"nbs": [64, 128, 256], "lr_rule": ["sqrt", "linear"], "seed": [0, 1]}
    pts = sweep.points(grid)
    assert len(pts) == 12 and pts[0].params == {"nbs": 64, "lr_rule": "sqrt", "seed": 0}
    assert pts[1].params["seed"] == 1 and len({p.slug for p in pts}) == 12


@pytest.mark.parametrize("args, message", [
    (dict(items=["nbs"]), "NAME=V1,V2"),
    (dict(items=["nbs=64", "nbs=128"]), "given twice"),
    (dict(items=["nbs="]), "no values"),
    (dict(items=["seed=0,1"], seeds="2"), "seeds once"),
    (dict(items=[]), "nothing to sweep"),
])
def test_a_bad_grid_is_refused_with_what_to_change(args, message):
    with pytest.raises(SweepError, match=message):
        sweep.parse_grid(args["items"], args.get("seeds"))


def test_a_parameter_the_notebook_lacks_or_a_wrong_type_stops_before_anything_runs(tmp_path):
    with pytest.raises(SweepError, match="no parameter.*nbz"):
        sweep.sweep("02", {"nbz": [64]}, "quick", out=tmp_path / "s", progress=False)
    with pytest.raises(SweepError, match="'effective_batch' is now called 'nbs'"):  # the recorded sweep's old name
        sweep.sweep("02", {"effective_batch": [64]}, "quick", out=tmp_path / "s", progress=False)
    with pytest.raises(ValueError, match="nbs"):
        sweep.sweep("02", {"nbs": ["big"]}, "quick", out=tmp_path / "s", progress=False)
    with pytest.raises(SweepError, match="both swept"):
        sweep.sweep("02", {"epochs": [1]}, "quick", fixed={"epochs": 2}, out=tmp_path / "s", progress=False)
    assert not list((tmp_path).glob("s/*/point.json"))


def test_the_settle_epoch_is_where_the_loss_has_made_ninety_percent_of_its_fall_for_good():
    loss = [3.0, 5.0, 4.0, 2.0, 1.5, 1.2, 1.4, 1.1, 1.0]  # top 5.0, last 1.0: the limit is 1.4
    cols = {"epoch": list(range(1, 10)), "train/box_loss": loss, "train/cls_loss": [0] * 9, "train/dfl_loss": [0] * 9}
    assert curves.settle_epoch(cols) == 6  # 1.2, 1.4, 1.1, 1.0 from epoch 6 on; epoch 5 (1.5) is above
    assert curves.settle_epoch({**cols, "train/box_loss": [1.0] * 9}) is None  # never fell
    assert curves.settle_epoch({k: v[:1] for k, v in cols.items()}) is None


def test_the_tables_give_each_point_and_the_median_over_seeds():
    grid = {"nbs": [64, 256], "seed": [0, 1]}
    done = [Point({"nbs": b, "seed": s}, "ok", 10.0, {"best_val_mAP50-95": m, "train_seconds": t})
            for b, s, m, t in ((64, 0, 0.5, 100), (64, 1, 0.7, 120), (256, 0, 0.4, 60), (256, 1, 0.2, 70))]
    done.append(Point({"nbs": 256, "seed": 2}, "failed", 3.0, {"best_val_mAP50-95": 0.99}))
    heads, rows, g_heads, g_rows = sweep.tables(done, grid)
    assert len(heads) == len(rows[0]) and len(g_heads) == len(g_rows[0])  # a header per value
    assert rows[0][:5] == (64, 0, "ok", "10", "0.500")
    by = {r[0]: dict(zip(g_heads, r)) for r in g_rows}
    assert by[64]["runs"] == 2 and by[64]["best mAP50-95"] == "0.6 (0.5-0.7)"
    assert by[256]["runs"] == 2 and by[256]["best mAP50-95"] == "0.3 (0.2-0.4)"  # the failed point is left out
    assert by[256]["training s"] == "65 (60-70)"


def _alive(marker: str) -> list[int]:
    """Processes whose environment names `marker` (the sweep's folder)."""
    found = []
    for env in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker.encode() in env.read_bytes() and int(env.parent.name) != os.getpid():
                found.append(int(env.parent.name))
        except OSError:
            pass
    return found


@pytest.mark.slow
def test_a_two_point_sweep_resumes_after_kill_9_and_reports_both(tmp_path, runs):
    out = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "helpers", "sweep", "--only", "02", "--profile", "quick",
           "--grid", "nbs=16,32", "--set", "epochs=1", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = out / "nbs-16" / "point.json"
    deadline = time.time() + 600
    while not first.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(1)
    assert first.exists(), proc.stdout.read() if proc.poll() is not None else "the first point did not finish"
    time.sleep(5)  # the second point is running now
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(3)
    assert _alive(str(out)) == []  # its notebook and kernel went with it
    assert not (out / "nbs-32" / "point.json").exists()
    stamp = first.stat().st_mtime_ns
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nbs=16 (finished earlier, skipped)" in again.stdout
    assert first.stat().st_mtime_ns == stamp  # not run again
    doc = sweep.read(out)
    assert [p["params"]["nbs"] for p in doc["points"]] == [16, 32]
    assert all(p["status"] == "ok" and p["records"]["best_val_mAP50-95"] >= 0 for p in doc["points"])
    assert all(p["curves"]["epoch"] == [1.0] for p in doc["points"])
    md = (out / "sweep.md").read_text()
    assert "| 16 | ok |" in md and "| 32 | ok |" in md and (out / "sweep.png").stat().st_size > 10_000
    assert json.loads((out / "nbs-32" / "point.json").read_text())["params"] == {"nbs": 32}
