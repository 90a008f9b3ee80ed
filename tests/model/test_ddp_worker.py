"""Multi-GPU plumbing on a CPU: a process started from the script Ultralytics generates for its DDP workers rebuilds
the parent's plan exactly from $WORKBOOK_PLAN and runs with its tricks (and without them when they were only patched
in the parent); the command a notebook prints for a plan trains exactly that plan; the streaming launcher leaves no
process behind."""

import os
import subprocess
import sys
import time

import pytest

from helpers.core import profiles
from helpers.train import launch, planner
from helpers.train.callbacks import WorkerReport
from helpers.train.plan import ENV_VAR
from helpers.train.run import applied
from helpers.tricks import attention, checkpointing
from helpers.workbook.stream import stream


def _worker(tmp_path, runs, env_carries_plan: bool) -> dict:
    """What a process started from Ultralytics' DDP script trained with, and ("plan") the plan.json it wrote."""
    import json

    from ultralytics.utils.dist import generate_ddp_file

    from helpers.train.trainer import WorkbookTrainer

    prof = profiles.get("quick").replace(imgsz=64, n_train=8, n_val=4)
    plan = planner.from_profile(prof, attention="sdpa", checkpoint="attention", clip_norm=3.0,
                                nan_guard=True, batch=4, epochs=1, project=str(runs), name="ddp", extra={"val": False})
    report = tmp_path / "worker.json"
    with applied(plan):
        t = WorkbookTrainer(overrides=dict(model="yolo12n.yaml", **plan.ultralytics_args()))
        WorkerReport(str(report)).attach(t)
        t.model = t.get_model(cfg="yolo12n.yaml", verbose=False)  # what YOLO.train() hands the trainer
        script = generate_ddp_file(t)
        env = dict(os.environ) if env_carries_plan else {k: v for k, v in os.environ.items() if k != ENV_VAR}
    assert attention.current() == "stock" and not checkpointing._ORIGINAL  # the context restored this process
    saved = t.save_dir / "plan.json"  # the worker's trainer writes the plan it read here (rank 0 / no DDP)
    assert saved.read_text() == plan.to_json()  # this process's trainer read it in full
    saved.unlink()
    proc = subprocess.run([sys.executable, script], env=env, capture_output=True, text=True, timeout=600)
    assert report.exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    return {**json.loads(report.read_text()), "plan": saved.read_text() if saved.exists() else None,
            "planned": plan.to_json()}


@pytest.mark.slow
def test_the_plan_reaches_a_process_started_like_a_ddp_worker(tmp_path, runs):
    rep = _worker(tmp_path, runs, env_carries_plan=True)
    assert rep["plan"] == rep["planned"]  # the worker rebuilt exactly the parent's plan from the one variable
    assert rep["pid"] != os.getpid() and rep["trainer"] == "WorkbookTrainer"
    assert rep["attention"] == "sdpa" and rep["clip_norm"] == 3.0
    assert rep["checkpointed"] and rep["checkpoint_wrappers"]  # flags came with the model, wrappers from the plan


@pytest.mark.slow
def test_a_patch_only_in_the_parent_does_nothing_in_the_worker(tmp_path, runs):
    rep = _worker(tmp_path, runs, env_carries_plan=False)
    assert rep["plan"] is None  # no variable, no plan
    assert rep["attention"] == "stock" and not rep["checkpoint_wrappers"] and rep["clip_norm"] == 10.0
    assert rep["checkpointed"]  # the pickled flags are there, inert without the wrappers


def test_stream_prints_output_and_explains_a_failure(capsys):
    code = "import sys; print('epoch 1'); print('RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB'); sys.exit(3)"
    assert stream([sys.executable, "-c", code]) == 3
    out = capsys.readouterr().out
    assert "epoch 1" in out and "exit code 3" in out and "Fix:" in out


def test_stream_leaves_no_process_behind_on_timeout(tmp_path):
    pidfile = tmp_path / "child.pid"
    code = ("import subprocess, sys, time; "
            f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); open({str(pidfile)!r}, 'w').write(str(p.pid)); "
            "print('worker started', flush=True); time.sleep(60)")
    t0 = time.time()
    assert stream([sys.executable, "-c", code], timeout=3) != 0
    assert time.time() - t0 < 30
    child = int(pidfile.read_text())
    time.sleep(0.5)
    assert _dead(child)  # the grandchild (a stand-in DDP worker) is gone too


def _dead(pid: int) -> bool:
    """Gone, or a zombie waiting for its new parent to reap it (it runs nothing and holds no port or memory)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_the_printed_command_trains_exactly_the_plan(runs):
    """What notebook 02 prints for several GPUs: the user's dataset, weights, tricks and extra arguments."""
    prof = profiles.get("quick").replace(imgsz=64, n_train=8, n_val=4)
    plan = planner.from_profile(prof, weights="", attention="sdpa", checkpoint="all", lr_rule="linear",
                                clip_norm=3.0, restart_epoch=1, loss_stages="tutorial", nan_guard=True,
                                extra={"close_mosaic": 2}, workers=2, cache="ram")
    multi = plan.replace(device="0,1", batch=16, nbs=32)
    cmd = launch.command(multi, "gpu")  # another profile's defaults: every difference must be spelled out
    assert cmd[1:4] == ["-m", "helpers", "train"] and cmd[cmd.index("--data") + 1] == plan.data
    back = launch.plan_from_args(launch.parser().parse_args(cmd[4:]))
    assert back == multi


@pytest.mark.slow
def test_train_entry_runs_the_recipe_end_to_end(runs, capsys):
    """`python -m helpers train` on the CPU (one process): the same entry that starts DDP on several GPUs."""
    cmd = [sys.executable, "-m", "helpers", "train", "--profile", "quick", "--device", "cpu", "--epochs", "1",
           "--imgsz", "64", "--batch", "8", "--nbs", "16", "--name", "entry"]
    env = dict(os.environ, WORKBOOK_RUNS=str(runs))
    assert stream(cmd, timeout=600, env=env) == 0
    out = capsys.readouterr().out
    assert "1 process(es): global batch 8 -> 8 per GPU, accumulate 2, effective 16" in out
    assert "saved to" in out and (runs / "train" / "entry" / "weights" / "last.pt").exists()
