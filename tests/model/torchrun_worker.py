"""The workbook's torchrun worker with faults for tests/model/test_multinode.py, chosen by environment variables:
NAN_RANK=r turns the images of training iteration NAN_ITER (default 1) into NaN on rank r only, with a GradScaler
on the CPU as under fp16 AMP (the case where only that rank sees a bad loss); CRASH_AFTER_EPOCH=e kills every
rank after epoch e on the first attempt (torchrun then restarts them; on the restart rank 0 joins the process
group 3 s late, so a rank reading a stale address of it would hang); NO_AGREEMENT=1 lets each rank decide its
NaN guard alone (the control that shows the all-reduce matters); PLAN_SPY=dir trains nothing: it counts the profile
look-ups, dataset resolutions and image counts the rank makes and writes the plan it would train to dir/rank-N.json."""

import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from helpers.diagnose.failures import nan_trainer
from helpers.train import distributed
from helpers.train import worker
from helpers.train.trainer import WorkbookTrainer


def build() -> type:
    rank = distributed.global_rank()
    nan_rank = int(os.environ.get("NAN_RANK", -1))
    base = nan_trainer({int(os.environ.get("NAN_ITER", 1))}) if rank == nan_rank else WorkbookTrainer

    class FaultyTrainer(base):
        def _setup_ddp(self):
            if os.environ.get("CRASH_AFTER_EPOCH") and worker.restart_count() > 0 and rank == 0:
                time.sleep(3)  # the peer reaches the process group first: a stale address of rank 0 would be read
            super()._setup_ddp()

        def _setup_train(self):
            super()._setup_train()
            if nan_rank >= 0:  # a real scaler on the CPU: fp16-style skipping of inf gradients
                self.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
            crash = int(os.environ.get("CRASH_AFTER_EPOCH", 0))
            if crash and worker.restart_count() == 0:
                self.add_callback("on_fit_epoch_end", lambda t: _die(t, crash))

    return FaultyTrainer


def _die(t, epoch: int) -> None:
    """After `epoch` is saved (rank 0 saves before this callback), every rank waits for the others, then dies."""
    if t.epoch + 1 == epoch:
        torch.distributed.barrier()
        os._exit(3)


def spy(out: Path) -> None:
    """Count the rank's profile look-ups, dataset resolutions and image counts; record its plan instead of training."""
    from helpers.core import profiles
    from helpers.data import sources
    from helpers.train.plan import ENV_VAR

    calls = {"profiles": 0, "resolved": 0, "counted": 0}

    def spied(key, fn):
        def call(*a, **k):
            calls[key] += 1
            return fn(*a, **k)
        return call

    def record(plan, checkpoint=None, **kwargs):
        out.mkdir(parents=True, exist_ok=True)
        (out / f"rank-{distributed.global_rank()}.json").write_text(json.dumps(
            {"plan": plan.to_json(), "env": os.environ.get(ENV_VAR), "resumed_from": checkpoint and str(checkpoint),
             "restart": worker.restart_count(), **calls}))
        return SimpleNamespace(save_dir=plan.run_dir, trainer=None)

    profiles.get = spied("profiles", profiles.get)
    sources.choose = spied("resolved", sources.choose)
    sources.count_images = spied("counted", sources.count_images)
    worker.train, worker.resume = record, record


if __name__ == "__main__":
    if os.environ.get("PLAN_SPY"):
        spy(Path(os.environ["PLAN_SPY"]))
    if os.environ.get("NO_AGREEMENT") == "1":
        distributed.agreed = lambda flag, device: flag
    sys.exit(worker.main(sys.argv[1:], trainer=build()))
