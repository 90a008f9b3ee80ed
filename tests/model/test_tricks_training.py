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

from helpers.data import synthetic
from helpers.diagnose import failures
from helpers.train.callbacks import EpochProgress
from helpers.train.plan import ENV_VAR, TrainPlan
from helpers.train.run import train
from helpers.tricks import schedule


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return synthetic.generate(root, synthetic.SynthSpec(n_train=8, n_val=4, imgsz=64, seed=1))


def plan(data, project, name, **kw):
    """A tiny CPU run: fp32, no warm-up, lr0 0.01 decaying to 0.1x, no mosaic, stock attention."""
    base = TrainPlan(data=str(data), train_images=8, imgsz=64, epochs=4, batch=4, nbs=4, workers=0, device="cpu",
                     amp="fp32", cache=False, warmup_fixed=0.0, lr_fixed=0.01, augment="", attention="stock",
                     project=str(project), name=name, seed=0, extra={"lrf": 0.1, "mosaic": 0.0})
    return base.replace(**kw)


def rows(path):
    with open(path, newline="") as f:
        return [{k.strip(): v for k, v in r.items()} for r in csv.DictReader(f)]


@pytest.mark.slow
def test_schedule_stages_and_clip_in_a_real_run(data, tmp_path, runs):
    r = dict(clip_norm=1.0, restart_epoch=2, restart_fraction=0.5, restart_decay=0.5, loss_stages="1:1,1,1;3:2,0.5,1")
    seen = []
    result = train(plan(data, tmp_path, "sched", **r),
                   callbacks=[("on_train_batch_end", lambda t: seen.append((t.epoch + 1, t.model.criterion.hyp.box)))])
    model = result.model
    t = model.trainer
    applied = [float(x["lr/pg0"]) for x in rows(t.save_dir / "results.csv")]
    planned = schedule.of(result.plan, lrf=0.1).curve(0.01)
    assert applied == pytest.approx(planned, rel=1e-6)  # [lr0*f(0), f(1), 0.5 lr0 (restart), 0.25 lr0]
    assert applied[2] == pytest.approx(0.005)
    log = rows(t.save_dir / "tricks_log.csv")
    assert [float(x["box"]) for x in log] == [7.5, 7.5, 15.0, 15.0]
    assert [float(x["cls"]) for x in log] == [0.5, 0.5, 0.25, 0.25]
    assert {e: b for e, b in seen} == {1: 7.5, 2: 7.5, 3: 15.0, 4: 15.0}  # the live criterion saw the new gain
    assert all(float(x["grad_norm_max"]) > 1.0 for x in log) and sum(int(x["clipped_steps"]) for x in log) > 0


@pytest.mark.slow
def test_nan_guard_skips_and_restores_in_a_real_run(data, tmp_path, runs):
    Poisoned = failures.nan_trainer({2, 3})  # two bad steps in a row: skip, then restore
    result = train(plan(data, tmp_path, "nan", epochs=3, nan_guard=True, guard_max_bad=2, guard_lr_drop=0.5),
                   trainer=Poisoned)  # epoch 3 must run clean
    t = result.trainer
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
    from helpers.train.plan import TrainPlan
    from helpers.train.run import resume, train
    mode, project, out = sys.argv[1:4]
    if mode == "first":
        slow = ("on_train_epoch_end", lambda t: time.sleep(0.3))  # give the parent time to kill mid-run
        train(TrainPlan.from_env(), callbacks=[slow], progress=False)
    else:
        last = project + "/killme/weights/last.pt"
        ck = torch.load(last, weights_only=False)
        report = {"ckpt_epoch": ck["epoch"]}
        def check(t):
            report["start_epoch"] = t.start_epoch
            report["trainer"] = type(t).__name__
            report["clip_norm"] = t.plan.clip_norm
            mine, saved = t.optimizer.state_dict()["state"], ck["optimizer"]["state"]
            report["same_optimizer_state"] = all(torch.equal(mine[i]["momentum_buffer"],
                                                 saved[i]["momentum_buffer"].float()) for i in saved)
            report["lr_pg0"] = t.optimizer.param_groups[0]["lr"]
        def stop_after_two(t):
            if t.epoch + 1 >= report["start_epoch"] + 2:
                t.stop = True
        resume(TrainPlan.from_env(), callbacks=[("on_train_start", check), ("on_fit_epoch_end", stop_after_two)],
               progress=False)
        json.dump(report, open(out, "w"))
""")


@pytest.mark.slow
def test_resume_after_a_real_kill(data, tmp_path):
    run = plan(data, tmp_path, "killme", epochs=12, nbs=8, clip_norm=5.0, restart_epoch=6, nan_guard=True,
               extra={"mosaic": 0.0})
    env = dict(os.environ, **{ENV_VAR: run.to_json()}, PYTHONUNBUFFERED="1", WORKBOOK_RUNS=str(tmp_path / "runs"))
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    results = tmp_path / "killme" / "results.csv"
    p = subprocess.Popen([sys.executable, str(script), "first", str(tmp_path), ""], env=env,
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
    r = subprocess.run([sys.executable, str(script), "resume", str(tmp_path), str(out)], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads(out.read_text())
    assert rep["trainer"] == "WorkbookTrainer" and rep["clip_norm"] == 5.0
    assert rep["start_epoch"] == rep["ckpt_epoch"] + 1  # continues with the epoch after the last saved one
    assert rep["same_optimizer_state"]
    # An epoch logged but not yet checkpointed when the kill came is redone, and logged once.
    epochs = [int(float(x["epoch"])) for x in rows(results)]
    assert epochs == list(range(1, rep["start_epoch"] + 3))
    assert [int(x["epoch"]) for x in rows(tmp_path / "killme" / "tricks_log.csv")] == epochs


def test_epoch_bar_counts_trained_epochs_only_after_an_early_stop(data, tmp_path, runs):
    bar = EpochProgress()
    stop = ("on_fit_epoch_end", lambda t: setattr(t, "stop", t.epoch >= 1))  # stop after epoch 2
    train(plan(data, tmp_path, "bar", epochs=5), callbacks=[bar, stop], progress=False)
    assert (bar.done, bar.bar.n, bar.bar.total) == (2, 2, 5)  # not 3: the call after validating best.pt


def test_plug_in_tricks_hooks_act_in_a_real_run_and_the_run_puts_things_back(data, tmp_path, runs):
    from helpers.tricks import checkpointing

    torch.backends.cudnn.benchmark = False
    seen = []
    result = train(plan(data, tmp_path, "hooks", epochs=1, deterministic=False, cudnn_benchmark=True,
                        checkpoint="blocks"),
                   callbacks=[("on_train_batch_end", lambda t: seen.append(
                       (torch.backends.cudnn.benchmark, len(checkpointing.enabled_layers(t.model)))))])
    assert seen and all(bench for bench, _ in seen)  # the callback at the end of the set-up switched it on
    assert all(n > 0 for _, n in seen)  # on_model flagged the C3k2/A2C2f layers of the model that trained
    assert torch.backends.cudnn.benchmark is False and not checkpointing._ORIGINAL  # the run restored both
    assert json.loads((result.save_dir / "plan.json").read_text())["cudnn_benchmark"] is True


@pytest.mark.slow
@pytest.mark.parametrize("piece", [None, "warm_restart", "loss_stages", "nan_guard", "clip"])
def test_each_piece_of_the_recipe_switches_off_alone_in_a_real_run(piece, data, tmp_path, runs):
    """The tutorials' recipe in a real 3-epoch run, whole and with one piece left out: the piece's effect is gone
    (Ultralytics' own schedule, fixed gains, no guard, Ultralytics' clip of 10) and the other pieces still act."""
    from helpers.tricks import clip, recipe

    fields = recipe.tutorial(3, clip_norm=2.0, restart_fraction=1.0, without=(piece,) if piece else ())
    t = train(plan(data, tmp_path, f"without-{piece}", epochs=3, **fields), progress=False).trainer
    log = rows(t.save_dir / "tricks_log.csv")
    applied = [float(x["lr/pg0"]) for x in rows(t.save_dir / "results.csv")]
    restarted = applied[2] > applied[1]  # the restart lifts lr at epoch 3 (0-based epoch 2)
    gains = {(x["box"], x["cls"], x["dfl"]) for x in log}
    assert restarted == (piece != "warm_restart")
    assert (len(gains) > 1) == (piece != "loss_stages")
    assert (t.guard is not None) == (piece != "nan_guard")
    assert {s["max_norm"] for s in clip.read(t.save_dir)} == {clip.ULTRALYTICS_NORM if piece == "clip" else 2.0}
