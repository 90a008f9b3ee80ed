"""SyncBatchNorm: BatchNorm statistics over the global batch of every process, not each GPU's own share of it.

Ultralytics 8.4 has no switch for it: with `TrainPlan.sync_bn` the workbook's trainer converts the model it builds
whenever the run has more than one process (torch.nn.SyncBatchNorm.convert_sync_batchnorm). GPUs only: torch has no
CPU kernel. A converted model's checkpoint still predicts without a process group (eval uses running statistics).
"""

from __future__ import annotations

from typing import Any

from helpers.tricks.registry import Option, Row, Trick


def check(on: bool, plan: Any) -> str | None:
    """SyncBatchNorm cannot run on the CPU."""
    if on and str(plan.device).strip() == "cpu":
        return "SyncBatchNorm runs on GPUs only (torch has no CPU kernel); set sync_bn=False on the CPU"
    return None


def row(plan: Any) -> Row | None:
    """The 'BatchNorm' row of a run over several processes (one process has nothing to synchronise)."""
    if plan.world <= 1:
        return None
    if plan.sync_bn:
        return "BatchNorm", "SyncBatchNorm", "statistics over the global batch (a collective per BatchNorm layer)"
    return ("BatchNorm", "per GPU",
            f"each GPU normalises over its own {plan.per_gpu_batch} images (Ultralytics' default)")


def convert(plan: Any, model: Any, trainer: Any) -> Any:
    """The model with every BatchNorm layer a SyncBatchNorm, when asked and the trainer's world is larger than one."""
    if not plan.sync_bn or trainer.world_size <= 1:
        return model
    import torch

    return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)


TRICK = Trick(
    "sync_bn",
    options=(Option("sync_bn", bool, False, check=check,
                    doc="SyncBatchNorm over all GPUs (statistics of the global batch); GPUs only"),),
    row=row, before="loader", on_model=convert,
    doc="BatchNorm statistics over the global batch of a multi-GPU run")
