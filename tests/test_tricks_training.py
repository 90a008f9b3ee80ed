"""The stability tricks inside real (tiny, CPU) Ultralytics training runs: the lr applied equals the planned schedule,
gains switch at the stage boundary, the NaN guard skips and restores, a killed run resumes where it stopped."""

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from helpers.data import faults, synthetic
from helpers.train import trainer
from helpers.tricks.recipe import Recipe, deactivate


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return synthetic.generate(root, synthetic.SynthSpec(n_train=8, n_val=4, imgsz=64, seed=1))


@pytest.fixture(autouse=True)
def clean_env():
    yield
    deactivate()


def args(data, project, name, **kw):
    base = dict(data=str(data), imgsz=64, epochs=4, batch=4, nbs=4, workers=0, device="cpu", amp=False,
                warmup_epochs=0, optimizer="SGD", lr0=0.01, lrf=0.1, plots=False, val=True, project=str(project),
                name=name, exist_ok=True, seed=0, mosaic=0.0)
    base.update(kw)
    return base


def rows(path):
    with open(path, newline="") as f:
        return [{k.strip(): v for k, v in r.items()} for r in csv.DictReader(f)]


def test_schedule_stages_and_clip_in_a_real_run(data, tmp_path):
    from ultralytics import YOLO

    r = Recipe(clip_norm=1.0, restart_epoch=2, restart_fraction=0.5, restart_decay=0.5,
               loss_stages=((1, 1.0, 1.0, 1.0), (3, 2.0, 0.5, 1.0))).activate()
    model = YOLO("yolo12n.yaml")
    seen = []
    model.add_callback("on_train_batch_end", lambda t: seen.append((t.epoch + 1, t.model.criterion.hyp.box)))
    with trainer.quiet():
        model.train(trainer=trainer.RecipeTrainer, **args(data, tmp_path, "sched"))
    t = model.trainer
    applied = [float(x["lr/pg0"]) for x in rows(t.save_dir / "results.csv")]
    planned = r.schedule(4, 0.1, False).curve(0.01)
    assert applied == pytest.approx(planned, rel=1e-6)  # [lr0*f(0), f(1), 0.5 lr0 (restart), 0.25 lr0]
    assert applied[2] == pytest.approx(0.005)
    log = rows(t.save_dir / "tricks_log.csv")
    assert [float(x["box"]) for x in log] == [7.5, 7.5, 15.0, 15.0]
    assert [float(x["cls"]) for x in log] == [0.5, 0.5, 0.25, 0.25]
    assert {e: b for e, b in seen} == {1: 7.5, 2: 7.5, 3: 15.0, 4: 15.0}  # the live criterion saw the new gain
    assert all(float(x["grad_norm_max"]) > 1.0 for x in log) and sum(int(x["clipped_steps"]) for x in log) > 0


def test_nan_guard_skips_and_restores_in_a_real_run(data, tmp_path):
    from ultralytics import YOLO

    Recipe(guard_max_bad=2, guard_lr_drop=0.5).activate()
    Poisoned = faults.nan_trainer({2, 3})  # two bad steps in a row: skip, then restore
    model = YOLO("yolo12n.yaml")
    with trainer.quiet():
        model.train(trainer=Poisoned, **args(data, tmp_path, "nan", epochs=3))  # epoch 3 must run clean
    t = model.trainer
    events = rows(t.save_dir / "guard_events.csv")
    assert [e["action"] for e in events] == ["skip+lr_drop", "restore"]
    assert all(e["loss_finite"] == "False" for e in events)
    assert t.guard.lr_scale == pytest.approx(0.25)
    assert all(torch.isfinite(p).all() for p in t.model.parameters())
    ckpt = torch.load(t.last, weights_only=False)
    assert all(torch.isfinite(v).all() for v in (ckpt["ema"] or ckpt["model"]).state_dict().values() if v.is_floating_point())


CHILD = textwrap.dedent("""
    import sys, time, json, torch
    import helpers
    from helpers.train import trainer
    from ultralytics import YOLO
    mode, data, project, out = sys.argv[1:5]
    kw = dict(data=data, imgsz=64, epochs=12, batch=4, nbs=8, workers=0, device="cpu", amp=False, warmup_epochs=0,
              optimizer="SGD", lr0=0.01, plots=False, project=project, name="killme", exist_ok=True, seed=0, mosaic=0.0)
    if mode == "first":
        m = YOLO("yolo12n.yaml")
        m.add_callback("on_train_epoch_end", lambda t: time.sleep(0.3))  # give the parent time to kill mid-run
        m.train(trainer=trainer.RecipeTrainer, **kw)
    else:
        last = project + "/killme/weights/last.pt"
        ck = torch.load(last, weights_only=False)
        report = {"ckpt_epoch": ck["epoch"]}
        def check(t):
            report["start_epoch"] = t.start_epoch
            report["trainer"] = type(t).__name__
            mine, saved = t.optimizer.state_dict()["state"], ck["optimizer"]["state"]
            report["same_optimizer_state"] = all(torch.equal(mine[i]["momentum_buffer"],
                                                 saved[i]["momentum_buffer"].float()) for i in saved)
            report["lr_pg0"] = t.optimizer.param_groups[0]["lr"]
        def stop_after_two(t):
            if t.epoch + 1 >= report["start_epoch"] + 2:
                t.stop = True
        m = YOLO(last)
        m.add_callback("on_train_start", check)
        m.add_callback("on_fit_epoch_end", stop_after_two)
        m.train(resume=True, trainer=trainer.RecipeTrainer)
        json.dump(report, open(out, "w"))
""")


def test_resume_after_a_real_kill(data, tmp_path):
    env = dict(os.environ, WORKBOOK_RECIPE=Recipe(clip_norm=5.0, restart_epoch=6).to_json(), PYTHONUNBUFFERED="1")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    results = tmp_path / "killme" / "results.csv"
    p = subprocess.Popen([sys.executable, str(script), "first", str(data), str(tmp_path), ""], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and p.poll() is None:
        if results.exists() and len(rows(results)) >= 3:
            break
        time.sleep(0.05)
    assert p.poll() is None, "training ended before it could be killed: " + p.stderr.read().decode()[-2000:]
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    done = len(rows(results))
    assert 3 <= done < 12
    out = tmp_path / "report.json"
    r = subprocess.run([sys.executable, str(script), "resume", str(data), str(tmp_path), str(out)], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads(out.read_text())
    assert rep["trainer"] == "RecipeTrainer"
    assert rep["start_epoch"] == rep["ckpt_epoch"] + 1  # continues with the epoch after the last saved one
    assert rep["same_optimizer_state"]
    # An epoch logged but not yet checkpointed when the kill came is redone, and logged once.
    epochs = [int(float(x["epoch"])) for x in rows(results)]
    assert epochs == list(range(1, rep["start_epoch"] + 3))
    assert [int(x["epoch"]) for x in rows(tmp_path / "killme" / "tricks_log.csv")] == epochs


def test_epoch_bar_counts_trained_epochs_only_after_an_early_stop(data, tmp_path):
    from ultralytics import YOLO

    model = YOLO("yolo12n.yaml")
    bar = trainer.EpochProgress().attach(model)
    model.add_callback("on_fit_epoch_end", lambda t: setattr(t, "stop", t.epoch >= 1))  # stop after epoch 2
    with trainer.quiet():
        model.train(**args(data, tmp_path, "bar", epochs=5))
    assert (bar.bar.n, bar.bar.total) == (2, 5)  # not 3: the extra call after validating best.pt is ignored
