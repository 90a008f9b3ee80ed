"""Where training memory goes: the bytes each top-level layer saves for the backward pass, one forward at a time.

Activations kept for backward are most of a large-batch step's peak (weights and optimizer state of yolo12n are a
few dozen MB). `torch.autograd.graph.saved_tensors_hooks` sees every tensor autograd keeps; a forward pre-hook on
each top-level layer of the Ultralytics model says whose it is. Storage shared by several ops is counted once.
Device-independent for the stock and checkpointed paths; fused attention kernels (SDPA on CUDA) save less than
their CPU fallback, so GPU figures come from a GPU.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch

from helpers.core.tables import Table


@dataclass(frozen=True)
class LayerMemory:
    index: int  # position in model.model (-1: the loss)
    kind: str  # layer class name
    saved_gib: float


def _storage_key(t: torch.Tensor) -> tuple:
    try:
        s = t.untyped_storage()
        return (s.data_ptr(), s.nbytes(), t.device.type)
    except (RuntimeError, NotImplementedError):  # tensors without storage (e.g. some wrappers)
        return (id(t), t.numel() * t.element_size(), t.device.type)


def saved_by_layer(model, batch: dict, amp_dtype: torch.dtype | None = None) -> list[LayerMemory]:
    """Run one training forward (with the loss) of an Ultralytics DetectionModel and attribute the bytes autograd
    saves to the top-level layer running at the time."""
    layers = list(model.model)
    current = {"i": -1}
    seen: dict[tuple, int] = {}
    per_layer: dict[int, int] = {}

    def pre(i):
        def hook(_m, _inp):
            current["i"] = i
        return hook

    def post(_m, _inp, _out):
        current["i"] = -1  # whatever runs next outside a layer (the loss) is the loss's

    def pack(t: torch.Tensor):
        key = _storage_key(t)
        if key not in seen:
            seen[key] = current["i"]
            per_layer[current["i"]] = per_layer.get(current["i"], 0) + key[1]
        return t

    handles = [m.register_forward_pre_hook(pre(i)) for i, m in enumerate(layers)]
    handles += [m.register_forward_hook(post) for m in layers]
    dev = batch["img"].device
    ctx = torch.autocast(dev.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), ctx:
            loss, _ = model(batch)
        del loss
    finally:
        for h in handles:
            h.remove()
    return [LayerMemory(i, type(layers[i]).__name__ if i >= 0 else "loss", b / 2**30) for i, b in sorted(per_layer.items())]


def table(rows: list[LayerMemory], top: int = 10, title: str = "") -> Table:
    total = sum(r.saved_gib for r in rows) or 1.0
    ranked = sorted(rows, key=lambda r: -r.saved_gib)[:top]
    return Table(("layer", "type", "saved for backward GiB", "share"),
                 [(r.index, r.kind, f"{r.saved_gib:.2f}", f"{100 * r.saved_gib / total:.0f}%") for r in ranked],
                 title or f"top {top} of {len(rows)} layers, {total:.2f} GiB saved in all")


def by_kind(rows: list[LayerMemory]) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in rows:
        out[r.kind] = out.get(r.kind, 0.0) + r.saved_gib
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))
