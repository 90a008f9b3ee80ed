"""BatchNorm momentum that follows the batch: running statistics that remember the same number of epochs.

Ultralytics sets every BatchNorm's momentum to 0.03 (`initialize_weights`): each forward pass in training moves
the running mean and variance 3% of the way to the batch's own, so they remember about 33 forward passes. At
batch 64 that is about one epoch of 2048 images; at batch 256 it is four, while large clipped steps move the weights
fast. Validation uses the running statistics (eval mode), so they describe weights of several epochs ago: the
validated model can fall apart for an epoch and recover the next, while training itself is fine. `bn_rule`
`linear` scales the momentum with the micro-batch (0.03 x batch / batch_ref, at most 0.5): the statistics then
remember as many epochs as at the reference batch.
"""

from __future__ import annotations

from typing import Any

from helpers.tricks.registry import Option, Row, Trick

ULTRALYTICS_MOMENTUM = 0.03  # ultralytics.utils.torch_utils.initialize_weights
RULES = ("fixed", "linear")
MAX_MOMENTUM = 0.5


def momentum(plan: Any) -> float:
    """The BatchNorm momentum this plan trains with."""
    if plan.bn_rule == "linear":
        return round(min(ULTRALYTICS_MOMENTUM * plan.batch / plan.batch_ref, MAX_MOMENTUM), 6)
    return ULTRALYTICS_MOMENTUM


def row(plan: Any) -> Row:
    """The 'BatchNorm momentum' row."""
    m = momentum(plan)
    forwards = plan.train_images / plan.batch if plan.train_images else 0
    memory = f"; running statistics remember about {1 / m / forwards:.1f} epochs" if forwards else ""
    why = (f"0.03 x batch {plan.batch} / {plan.batch_ref}" if plan.bn_rule == "linear" else "Ultralytics' own")
    return "BatchNorm momentum", f"{m:g}", why + memory + " (validation uses them)"


def summary(plan: Any) -> str:
    """The momentum in the one-line summary, when it is not Ultralytics' own."""
    return "" if momentum(plan) == ULTRALYTICS_MOMENTUM else f"BN momentum {momentum(plan):g}"


def apply(plan: Any, model: Any, trainer: Any) -> Any:
    """Set the momentum of every BatchNorm layer of the model Ultralytics built (its own init set 0.03)."""
    import torch

    m = momentum(plan)
    for layer in model.modules():
        if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
            layer.momentum = m
    return model


TRICK = Trick(
    "bn_momentum",
    options=(Option("bn_rule", str, "fixed", choices=RULES,
                    doc="fixed: Ultralytics' BatchNorm momentum 0.03 | linear: 0.03 x batch / batch_ref"),),
    row=row, before="optimizer", summary=summary, on_model=apply,
    doc="BatchNorm momentum scaled with the batch")
