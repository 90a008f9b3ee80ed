"""cuDNN's benchmark mode: cuDNN times its convolution kernels for each new input shape and keeps the fastest.

Faster steps once every shape has been seen, but the choice depends on timing, so Ultralytics' `deterministic=True`
forbids it. Ultralytics seeds (and sets cuDNN deterministic) when its trainer is built; the workbook's trainer turns
the benchmark on afterwards, at the end of its set-up, in every training process (a callback), and the launching
process gets its own setting back when the run ends. This module also explains the plan's 'kernels' row.
"""

from __future__ import annotations

from typing import Any

from helpers.tricks.registry import Option, Row, Trick


def check(on: bool, plan: Any) -> str | None:
    """Benchmark mode needs deterministic=False."""
    if on and plan.deterministic:
        return ("cuDNN's benchmark mode picks kernels by timing, which deterministic=True forbids; set "
                "deterministic=False too")
    return None


def row(plan: Any) -> Row:
    """The 'kernels' row: deterministic, cuDNN benchmark or cuDNN's heuristics (the CPU has no cuDNN choice)."""
    if str(plan.device).strip() == "cpu":
        return "kernels", "deterministic" if plan.deterministic else "non-deterministic", "the CPU has no cuDNN choice"
    if plan.deterministic:
        return "kernels", "deterministic", "Ultralytics' default: reproducible, slower kernels"
    if plan.cudnn_benchmark:
        return "kernels", "cuDNN benchmark", "cuDNN times its kernels per shape (the first steps are slower)"
    return "kernels", "non-deterministic", "cuDNN's heuristics pick the kernels"


def switch_on(trainer: Any) -> None:
    """At the end of Ultralytics' set-up (after its seeding), in this training process."""
    if trainer.plan is not None and trainer.plan.cudnn_benchmark:
        import torch

        torch.backends.cudnn.benchmark = True


def state() -> bool:
    import torch

    return torch.backends.cudnn.benchmark


def restore(saved: bool) -> None:
    import torch

    torch.backends.cudnn.benchmark = saved


TRICK = Trick(
    "cudnn_benchmark",
    options=(Option("cudnn_benchmark", bool, False, check=check,
                    doc="let cuDNN time its kernels for each new shape (needs deterministic=False)"),),
    row=row, before="checkpointing", callbacks={"on_pretrain_routine_end": switch_on}, state=state, restore=restore,
    doc="cuDNN's benchmark mode")
