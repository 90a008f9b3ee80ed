"""Ranks and processes of a run: which process this is, whether it belongs to a torchrun launch over several hosts
(`helpers.train.worker`, $WORKBOOK_WORKER=torchrun), and what the trainer does differently there.

Ultralytics' own multi-GPU workers need nothing from here. In torchrun's processes the trainer takes the world size
from torchrun's environment, picks the GPU from the local rank (gloo on the CPU when there is none), and leaves
checkpoints, logs and validation summaries to global rank 0, as Ultralytics does; the final validation shares rank
0's best.pt first (hosts need no shared file system).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from helpers.tricks import cpu_ddp

WORKER_ENV = "WORKBOOK_WORKER"  # 'torchrun' in the processes helpers.train.worker runs
WRITTEN_FOR = "8.4"  # the Ultralytics minor whose trainer methods the functions below copy or replace
UPSTREAM = {  # sha256 of inspect.getsource of those methods when the copies were written (tests check them)
    "ultralytics.engine.trainer.BaseTrainer.final_eval":  # copied into final_eval (torchrun)
        "398e74e935f3478962a7c7258e2be9ec6ce0dea676d5b1540ab971e5fb7f7d7c",
    "ultralytics.engine.trainer.BaseTrainer._setup_ddp":  # replaced for torchrun's ranks
        "90798e18affb9e90b321be0d8cd6203f6a940bab3b0d6bebe1402e84cd053d4f",
}


def global_rank() -> int:
    """This process's rank among all training processes (-1 outside DDP), from torch's launcher environment."""
    return int(os.environ.get("RANK", -1))


def restart_count() -> int:
    """How often torchrun has restarted this host's processes (0 on the first attempt)."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0))


def torchrun_worker() -> bool:
    """True in a process of a torchrun launch of several processes (helpers.train.worker)."""
    return os.environ.get(WORKER_ENV) == "torchrun" and int(os.environ.get("WORLD_SIZE", 1)) > 1


def distributed() -> bool:
    """True while this process belongs to an initialised process group of more than one process."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def agreed(flag: bool, device) -> bool:
    """`flag` OR-ed over every process of the run (one small all-reduce), so that all ranks take the same branch;
    the flag itself outside distributed training."""
    if not distributed():
        return flag
    import torch
    import torch.distributed as dist

    on = device if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([int(flag)], device=on)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def setup_torchrun(trainer: Any) -> None:
    """BaseTrainer._setup_ddp for torchrun's processes: the GPU of the local rank (or the CPU with gloo when there is
    none) and a process group over torchrun's world."""
    from datetime import timedelta

    import torch
    import torch.distributed as dist
    from ultralytics.utils.torch_utils import get_torch_device_backend

    local = int(os.environ["LOCAL_RANK"])
    if trainer.device.type == "cuda":
        ids = [d for d in str(trainer.args.device).split(",") if d.strip().isdigit()]
        index = int(ids[local]) if len(ids) > local else local
        trainer.device = torch.device("cuda", index)
        trainer.accelerator = get_torch_device_backend(trainer.device)
        trainer.accelerator.set_device(index)
        os.environ.setdefault("TORCH_NCCL_BLOCKING_WAIT", "1")
        backend = "nccl"
    else:
        trainer.device, trainer.accelerator, backend = torch.device("cpu"), None, "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=timedelta(hours=3), rank=global_rank(),
                                world_size=trainer.world_size)


def final_eval(trainer: Any) -> None:
    """Ultralytics' final validation of best.pt under torchrun: the ranks share rank 0's file first (no rank reads it
    while rank 0 strips it), then validate their shards of the validation set together. A copy of
    BaseTrainer.final_eval, not a call to it: upstream strips and reads best.pt per host (LOCAL_RANK) and skips
    validating where the file is absent, which would leave the other ranks waiting in the validator's collectives
    (guarded by UPSTREAM's hash)."""
    import tempfile
    from pathlib import Path

    import torch.distributed as dist
    from ultralytics.utils.torch_utils import strip_optimizer

    rank = global_rank()
    if rank == 0 and trainer.last.exists():
        ckpt = strip_optimizer(trainer.last)
        if trainer.best.exists():
            strip_optimizer(trainer.best, updates={"train_results": ckpt.get("train_results")})
    shared = [trainer.best.read_bytes() if rank == 0 and trainer.best.exists() else None]
    dist.broadcast_object_list(shared, src=0)
    if shared[0] is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        model = trainer.best
        if rank != 0:
            model = Path(tmp) / "best.pt"
            model.write_bytes(shared[0])
        trainer.validator.args.plots = trainer.args.plots  # the same on every rank: it decides a collective
        trainer.validator.args.compile = False
        with cpu_ddp.validator_on_cpu() if trainer.device.type == "cpu" else contextlib.nullcontext():
            trainer.metrics = trainer.validator(model=str(model)) or {}
    trainer.metrics.pop("fitness", None)
    trainer.epoch += 1  # Ultralytics logs the best model's metrics at epochs + 1
    trainer.run_callbacks("on_fit_epoch_end")
    trainer.epoch -= 1
