"""Multi-GPU training from a terminal (or streamed into a notebook): `python -m helpers train --device 0,1 ...`.

Ultralytics starts one worker process per GPU from a script it generates; the workers unpickle the trainer class,
its arguments, the model and the callbacks, and nothing else. A patch applied only in the launching process (the
attention backend, the checkpointing wrappers) does nothing there: the workbook's trainers re-apply them from the
environment variables `trainer.set_options()` and `Recipe.activate()` set, which the workers inherit. DDP from
inside a Jupyter kernel is fragile (workers that outlive a crashed cell, ports left bound), so the notebook runs
this command in a subprocess of its own session and streams its output.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Sequence


def worker_report(trainer, path: str) -> None:
    """A callback that writes what a (worker) process actually runs with: pid, attention backend, checkpointed layers
    and whether their wrappers are installed, the recipe, the trainer class."""
    from ultralytics.nn.modules import A2C2f

    from helpers.tricks import attention, checkpointing

    recipe = getattr(trainer, "recipe", None)
    Path(path).write_text(json.dumps({
        "pid": os.getpid(), "trainer": type(trainer).__name__, "attention": attention.current(),
        "checkpointed": checkpointing.enabled_layers(trainer.model),
        "checkpoint_wrappers": checkpointing.installed(A2C2f),
        "clip_norm": getattr(recipe, "clip_norm", None),
    }))


def stream(cmd: Sequence[str], timeout: float | None = None, env: dict | None = None) -> int:
    """Run `cmd` in its own process group, print its output as it comes, and on timeout, Ctrl-C or exit kill the whole
    group (DDP workers included): no process is left behind. A failure ends with the doctor's finding."""
    import threading

    from helpers.diagnose import doctor

    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                            env=env, start_new_session=True)
    tail: list[str] = []
    timer = threading.Timer(timeout, lambda: _kill(proc)) if timeout else None
    if timer:
        timer.start()
    try:
        for line in proc.stdout:
            print(line, end="", flush=True)
            tail = (tail + [line])[-60:]
        rc = proc.wait()
    except KeyboardInterrupt:
        _kill(proc)
        raise
    finally:
        if timer:
            timer.cancel()
        _kill(proc)  # workers of a failed run may still hold the port and GPU memory
    if rc != 0:
        finding = doctor.diagnose("".join(tail))
        print(f"\nexit code {rc}" + (f": {finding.what}. Fix: {finding.fix}" if finding else ""), flush=True)
    return rc


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def command(**options) -> list[str]:
    """The `python -m helpers train ...` command line for these options (None values left out)."""
    cmd = [sys.executable, "-m", "helpers", "train"]
    for k, v in options.items():
        if v is not None and v != "":
            cmd += [f"--{k.replace('_', '-')}", str(v)]
    return cmd


def main(argv: Sequence[str] | None = None) -> int:
    """Train with the workbook's recipe on the given devices (one process per GPU when there are several)."""
    from helpers.data import sources as datasets
    from helpers.train import lr, plan as recipe, trainer
    from helpers.core import profiles
    from helpers.train.weights import starting_point

    ap = argparse.ArgumentParser(prog="python -m helpers train", description=main.__doc__)
    ap.add_argument("--profile", default=None)
    ap.add_argument("--device", default=None, help="'0,1' for two GPUs; Ultralytics' batch is the global batch")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--imgsz", type=int)
    ap.add_argument("--batch", type=int, help="global micro-batch (split over the GPUs)")
    ap.add_argument("--nbs", type=int, help="global effective batch")
    ap.add_argument("--lr-rule", default="sqrt")
    ap.add_argument("--attention", default=None)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--data", default="synthetic")
    ap.add_argument("--name", default="ddp")
    a = ap.parse_args(argv)
    p = profiles.get(a.profile)
    p = p.replace(**{k: v for k, v in dict(device=a.device, epochs=a.epochs, imgsz=a.imgsz, batch=a.batch, nbs=a.nbs,
                                           attention=a.attention, checkpoint=a.checkpoint,
                                           weights=a.weights).items() if v is not None})
    data = datasets.choose(a.data, p)
    world = len(p.device.split(",")) if p.device and p.device != "cpu" else 1
    split = lr.ddp_split(p.batch, p.nbs, world)
    lr0 = recipe.LRChoice(a.lr_rule, split["global_effective_batch"]).lr0
    from helpers.data.validate import validate

    images = validate(data, check_images=False).images["train"]
    warmup = lr.warmup_epochs(p.epochs, images, split["global_effective_batch"])
    print(f"{world} process(es): global batch {p.batch} -> {split['per_rank_batch']} per GPU, accumulate "
          f"{split['accumulate']}, effective {split['global_effective_batch']}, lr0 {lr0:g} ({a.lr_rule})", flush=True)
    trainer.set_options(p.attention, p.checkpoint or None)  # environment variables: the workers inherit them
    start, why = starting_point(p.model, p.weights, p.imgsz)
    print("start:", why, flush=True)
    from ultralytics import YOLO

    net = YOLO(start)
    net.train(**recipe.train_kwargs(p, data, batch=p.batch, nbs=p.nbs, lr0=lr0, warmup=warmup, name=a.name))
    print("saved to", net.trainer.save_dir, flush=True)
    return 0
