"""Activation checkpointing for chosen layers of an Ultralytics model (`torch.utils.checkpoint`).

A checkpointed layer keeps only its input during the forward pass and recomputes its activations in the backward
pass: less memory, more compute. The recomputation would update BatchNorm running statistics a second time per step;
it runs with BatchNorm momentum 0, so the statistics are exactly those of an unchecked step. The switch is a plain boolean attribute on each chosen layer, read by a class-level
wrapper of that layer type's `forward`, so models (and their checkpoints) stay picklable and load without this package.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from helpers.tricks.registry import Option, Row, Trick
from helpers.tricks.upstream import check_version

if TYPE_CHECKING:  # torch and Ultralytics load when a hook runs, not when a plan is built (this module declares TRICK)
    from torch import nn

WRITTEN_FOR = "8.4"  # the Ultralytics minor whose layer forwards are wrapped
UPSTREAM = {  # sha256 of inspect.getsource of the forwards the wrappers recompute (same BatchNorm use, no side effects)
    "ultralytics.nn.modules.conv.Conv.forward": "d4239947278846cb5c33460076ae8d91b5d38d6122c468ebf11bf625e34ad203",
    "ultralytics.nn.modules.block.C3k2.forward": "93d5824881919e650f5f98f4d4ea96d217f5a2034ae7087cd023272c745661ac",
    "ultralytics.nn.modules.block.A2C2f.forward": "b7aec929a5d8c342e5e1b04dee8e93e117f3eb16bb57d72b24cb476d35278446",
    "ultralytics.nn.modules.head.Detect.forward": "164f309a5c8f7cb54f351b8d9f32f031dc1d4c01833409f10188c294f19f4377",
}
FLAG = "_workbook_checkpoint"
LAYERS: dict[str, tuple[str, ...]] = {  # the layer kinds (classes of ultralytics.nn.modules) of each choice
    "attention": ("A2C2f",),  # only YOLOv12's area-attention blocks
    "blocks": ("C3k2", "A2C2f"),  # every C3k2 / A2C2f block
    "all": ("Conv", "C3k2", "A2C2f"),  # every top-level Conv, C3k2 and A2C2f layer
    "all+head": ("Conv", "C3k2", "A2C2f", "Detect"),  # ... and the detection head (large P3 activations)
}
_ORIGINAL: dict[type[nn.Module], Callable] = {}


def layer_types(layers: str) -> tuple[type[nn.Module], ...]:
    """The Ultralytics classes of LAYERS[layers]."""
    if layers not in LAYERS:
        raise ValueError(f"layers={layers!r}: choose one of {sorted(LAYERS)}")
    from ultralytics.nn import modules

    return tuple(getattr(modules, name) for name in LAYERS[layers])


def __getattr__(name: str) -> Any:
    """LAYER_SETS, each choice's classes, built when first read (it imports Ultralytics)."""
    if name == "LAYER_SETS":
        return {k: layer_types(k) for k in LAYERS}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@contextlib.contextmanager
def _batchnorm_frozen(module: nn.Module) -> Iterator[None]:
    """Momentum 0 for the BatchNorm layers inside `module`: the recomputation leaves running stats unchanged."""
    from torch import nn

    bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.momentum is not None]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom


def _wrapped(original: Callable) -> Callable:
    import torch
    from torch.utils.checkpoint import checkpoint

    @functools.wraps(original)
    def forward(self: nn.Module, *args, **kwargs):
        if getattr(self, FLAG, False) and self.training and torch.is_grad_enabled():
            contexts = lambda: (contextlib.nullcontext(), _batchnorm_frozen(self))  # noqa: E731
            return checkpoint(original, self, *args, use_reentrant=False, context_fn=contexts, **kwargs)
        return original(self, *args, **kwargs)

    forward._workbook_original = original
    return forward


def _install(types: Iterable[type[nn.Module]]) -> None:
    check_version(WRITTEN_FOR, "helpers.tricks.checkpointing")
    for cls in types:
        if cls not in _ORIGINAL:
            _ORIGINAL[cls] = cls.forward
            cls.forward = _wrapped(cls.forward)


def install(layers: str) -> None:
    """Wrap the forward of the layer kinds in LAYER_SETS[layers] (the flags live on the layers). A process that
    unpickles a model with flags set, such as a DDP worker, needs this before the flags do anything."""
    _install(layer_types(layers))


def installed(cls: type[nn.Module]) -> bool:
    return cls in _ORIGINAL


def uninstall() -> None:
    """Restore the layer classes' own forward methods (flags left on models become inert)."""
    for cls, fn in _ORIGINAL.items():
        cls.forward = fn
    _ORIGINAL.clear()


def top_level_layers(model: nn.Module) -> list[nn.Module]:
    """The layers of an Ultralytics model's Sequential (`model.model`), unwrapping DDP/EMA-style `.module`."""
    m = getattr(model, "module", model)
    return list(getattr(m, "model", m))


def enable(model: nn.Module, layers: str = "attention") -> int:
    """Checkpoint the top-level layers of the kinds in LAYER_SETS[layers]; returns how many were switched on."""
    kinds = layer_types(layers)
    _install(kinds)
    n = 0
    for layer in top_level_layers(model):
        on = type(layer) in kinds
        setattr(layer, FLAG, on)
        n += on
    return n


def disable(model: nn.Module) -> None:
    for layer in top_level_layers(model):
        if hasattr(layer, FLAG):
            setattr(layer, FLAG, False)


def enabled_layers(model: nn.Module) -> list[int]:
    """Indices of the top-level layers that are checkpointed."""
    return [i for i, layer in enumerate(top_level_layers(model)) if getattr(layer, FLAG, False)]


# ------------------------------------------------------------------ the trick as the plan and the trainer see it
def row(plan: Any) -> Row:
    """The 'checkpointing' row: the layers recomputed, or why nothing is."""
    from pathlib import Path

    from helpers.tricks.attention import area_attention_layers

    if plan.checkpoint == "attention" and area_attention_layers(plan.model) == 0:
        return ("checkpointing", "attention: nothing to recompute", f"{Path(plan.model).stem} has no A2C2f layers; "
                                                                    "'all' also recomputes its top-level Conv layers")
    if plan.checkpoint:
        return "checkpointing", plan.checkpoint, "recompute activations in the backward pass"
    return ("checkpointing", "off", "every activation kept for the backward pass (fastest; checkpoint='attention' or "
                                    "'all' trades speed for memory)")


def _install_for(plan: Any) -> None:
    if plan.checkpoint:
        install(plan.checkpoint)


def _in_place(plan: Any) -> bool:
    return not plan.checkpoint or all(installed(cls) for cls in layer_types(plan.checkpoint))


def _enable_for(plan: Any, model: Any, trainer: Any) -> Any:
    if plan.checkpoint:
        enable(model, plan.checkpoint)
    return model


TRICK = Trick(
    "checkpoint",
    options=(Option("checkpoint", str, "", choices=("", *LAYERS),
                    doc="activation checkpointing: '' (off) or the layers to recompute in the backward pass"),),
    row=row, before="precision", install=_install_for, in_place=_in_place,
    state=lambda: None, restore=lambda _: uninstall(),  # after a run no layer class stays wrapped
    on_model=_enable_for, summary=lambda plan: f"checkpoint {plan.checkpoint}" if plan.checkpoint else "",
    doc="activation checkpointing (recompute instead of keep)")
