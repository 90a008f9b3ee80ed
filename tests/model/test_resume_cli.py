"""Resume from the command line after `kill -9` at the worst moment (results.csv has the epoch, last.pt does not),
plain and with the tutorials' recipe: every epoch appears once in results.csv and the run ends at its planned epoch; a truncated
checkpoint gives one message naming the file."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

KILLED_RUN = """
import os, signal, sys
import helpers
from helpers.core import profiles
from helpers.train import planner, trainer as T
from helpers.train.run import train
from helpers.tricks import recipe

real = T.WorkbookTrainer.save_model
def save_model(self):
    if self.epoch == 1:  # epoch 2 is in results.csv, last.pt still holds epoch 1
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self)
T.WorkbookTrainer.save_model = save_model
prof = profiles.get("quick").replace(n_train=16, n_val=4, imgsz=64)
tricks = recipe.tutorial(3) if sys.argv[2] == "recipe" else {}
plan = planner.from_profile(prof, epochs=3, batch=8, nbs=8, weights="", checkpoint="", plots=False,
                            name=sys.argv[1], **tricks)
train(plan, progress=False)
"""


def epochs(run: Path) -> list[int]:
    with open(run / "results.csv") as f:
        return [int(float(r["epoch"])) for r in csv.DictReader(f, skipinitialspace=True)]


@pytest.mark.slow
@pytest.mark.parametrize("trainer", ["plain", "recipe"])
def test_resume_after_kill_minus_9_logs_every_epoch_once(trainer, runs, tmp_path):
    env = {**os.environ, "WORKBOOK_RUNS": str(runs)}
    name = f"killed-{trainer}"
    p = subprocess.run([sys.executable, "-c", KILLED_RUN, name, trainer], env=env, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == -9, p.stderr[-2000:]
    run = runs / "train" / name
    assert epochs(run) == [1, 2] and (run / "plan.json").exists()
    r = subprocess.run([sys.executable, "-m", "helpers", "train", "--resume", str(run)], env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert epochs(run) == [1, 2, 3]
    with open(run / "tricks_log.csv") as f:  # every run's per-epoch log, trimmed and continued like results.csv
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == [1, 2, 3]


def test_a_truncated_checkpoint_is_one_message_naming_the_file(tmp_path, runs):
    src = Path(__file__).resolve().parents[2] / "data" / "weights" / "yolo12n-shapes.pt"
    cut = tmp_path / "last.pt"
    cut.write_bytes(src.read_bytes()[:1000])
    env = {**os.environ, "WORKBOOK_RUNS": str(runs)}
    r = subprocess.run([sys.executable, "-m", "helpers", "train", "--profile", "quick", "--resume", str(cut)],
                       env=env, capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and str(cut) in out and "Traceback" not in out
    assert "[doctor] checkpoint" in out
    missing = subprocess.run([sys.executable, "-m", "helpers", "train", "--resume", str(tmp_path / "nowhere")],
                             env=env, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "nothing to resume" in missing.stderr + missing.stdout
