"""One training process of a torchrun launch: `WORKBOOK_PLAN='<plan JSON>' torchrun ... -m helpers.train.worker`.

Ultralytics starts its own workers on one host only (the world is the length of the device list). For several hosts
torch's elastic launcher starts the processes instead; each runs this entry, which takes the run's plan whole from
$WORKBOOK_PLAN, the variable the in-process trainer and Ultralytics' DDP workers read too: `python -m helpers train
--nnodes N` builds the plan once on the launching host and prints the torchrun line with it in front, so no rank
resolves the profile or counts the dataset again. Started by hand without the variable, the worker builds the plan
from the same options as `python -m helpers train` (once per process); given both, it refuses. It checks that
torchrun's world matches the plan, and calls the one `train()`. The trainer then takes rank, local rank and world
size from torchrun's environment (`helpers.train.distributed.torchrun_worker`). After a failure torchrun may restart the
processes (`--max-restarts`): they resume from last.pt, as `--resume` does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from helpers.train import launch
from helpers.train.plan import ENV_VAR, PlanError, TrainPlan
from helpers.train.run import last_checkpoint, resume, train
from helpers.train.distributed import WORKER_ENV, global_rank, restart_count


def parser() -> argparse.ArgumentParser:
    ap = launch.parser()
    ap.prog = "torchrun ... -m helpers.train.worker"
    ap.description = __doc__.splitlines()[0]
    ap.epilog = (f"With ${ENV_VAR} set (the line `python -m helpers train --nnodes N` prints sets it) the plan comes "
                 "from it, whole; leave the plan options out then.")
    ap.add_argument("--report", default=None, metavar="DIR",
                    help="write what this rank did (steps, weights digest, checkpoints) to DIR/rank-N.json")
    return ap


def plan_of(a: argparse.Namespace, env: Mapping[str, str] | None = None) -> TrainPlan:
    """The launch's plan from $WORKBOOK_PLAN as is, else (started by hand) from the options; both at once: refused."""
    env = os.environ if env is None else env
    text = env.get(ENV_VAR, "")
    if not text:
        return launch.plan_from_args(a)
    given = launch.given_plan_options(a)
    if given:
        raise PlanError(f"${ENV_VAR} already holds the whole plan (built on the launching host), and the command line "
                        f"also sets {', '.join(given)}: two sources for one plan. Drop those options (change the plan "
                        f"where the launch builds it), or unset {ENV_VAR} to plan from the options here")
    return TrainPlan.from_json(text)


def check_world(plan: TrainPlan, env: dict[str, str] | None = None) -> int:
    """torchrun's WORLD_SIZE, after checking that it is the plan's hosts x processes per host."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" not in env:
        raise PlanError("helpers.train.worker is one process of a torchrun launch; `python -m helpers train "
                        "--nnodes N --master-addr HOST ...` prints the torchrun command for your plan")
    world = int(env["WORLD_SIZE"])
    if world != plan.world:
        raise PlanError(f"torchrun started {world} process(es) but the plan has {plan.world} ({plan.nnodes} host(s) x "
                        f"{plan.per_host} per host): make torchrun's --nnodes and --nproc-per-node match the plan's "
                        "--nnodes and device list")
    return world


def check_restartable(env: dict[str, str] | None = None) -> None:
    """Refuse torchrun restarts while the workers share torchrun's rendezvous store: restarted ranks could read the
    failed processes' addresses from it and wait on them until the timeout (pytorch/pytorch#135712)."""
    env = os.environ if env is None else env
    if env.get("TORCHELASTIC_USE_AGENT_STORE") == "True" and int(env.get("TORCHELASTIC_MAX_RESTARTS", 0)) > 0:
        raise PlanError("torchrun --max-restarts needs a fresh rendezvous store per restart: set "
                        + " ".join(f"{k}={v}" for k, v in launch.FRESH_STORE.items())
                        + " in torchrun's environment on every host (with --rdzv-backend c10d; `python -m helpers "
                        "train --nnodes N ...` prints that line), or use --max-restarts 0")


def digest(tensors: Any) -> str:
    """sha256 over the bytes of a sequence of tensors, in order: equal digests mean identical values."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def report(trainer: Any) -> dict[str, Any]:
    """What this rank did: its place in the world, the steps it took, and digests of its final weights."""
    from ultralytics.utils.torch_utils import unwrap_model

    model = unwrap_model(trainer.model)
    guard = getattr(trainer, "guard", None)
    return {"rank": global_rank(), "local_rank": int(os.environ.get("LOCAL_RANK", -1)),
            "world_size": trainer.world_size, "host": socket.gethostname(), "pid": os.getpid(),
            "restart": restart_count(), "device": str(trainer.device),
            "epochs_done": trainer.epoch + 1, "start_epoch": trainer.start_epoch,
            "optimizer_steps": trainer.optimizer_steps, "skipped_steps": getattr(trainer, "skipped_steps", 0),
            "guard_events": list(guard.events) if guard else [], "lr_scale": guard.lr_scale if guard else 1.0,
            "checkpoints_written": trainer.saves, "save_dir": str(trainer.save_dir),
            "params_sha256": digest(model.parameters()), "buffers_sha256": digest(model.buffers()),
            "sync_bn": any(type(m).__name__ == "SyncBatchNorm" for m in model.modules())}


def main(argv: Sequence[str] | None = None, trainer: type | None = None) -> int:
    """Train this rank's share of the plan (or resume it); `trainer` a WorkbookTrainer subclass (tests)."""
    a = parser().parse_args(argv)
    plan = plan_of(a)
    check_world(plan)
    check_restartable()
    os.environ[WORKER_ENV] = "torchrun"
    rank = max(global_rank(), 0)
    if rank == 0:
        print(launch.world_line(plan), flush=True)
    if a.resume is not None or (restart_count() > 0 and last_checkpoint(plan).exists()):
        ckpt = last_checkpoint(plan)  # a torchrun run keeps its name: its own last.pt
        if a.resume:  # a run folder or a checkpoint (launch's --resume); alone: the plan's own last.pt
            plan, ckpt = launch.resume_target(a.resume, plan)
        result = resume(plan, ckpt, trainer=trainer, progress=rank == 0)
    else:
        result = train(plan, drop_bad=a.drop_bad, trainer=trainer, progress=rank == 0)
    if a.report:
        out = Path(a.report)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"rank-{rank}.json").write_text(json.dumps(report(result.trainer), indent=1, default=str))
    if rank == 0:
        print("saved to", result.save_dir, flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main([x for x in sys.argv[1:] if x != "--debug"]))
    except Exception as e:  # noqa: BLE001 - one line per failing rank; torchrun then names the failed ranks
        if "--debug" in sys.argv:
            raise
        print(f"error (rank {os.environ.get('RANK', '?')}): {e}", file=sys.stderr, flush=True)
        sys.exit(2 if isinstance(e, (PlanError, ValueError, FileNotFoundError)) else 1)
