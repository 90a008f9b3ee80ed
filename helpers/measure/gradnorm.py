"""How the pre-clip gradient norm grows with the batch, measured on real images with Ultralytics' own loss.

Ultralytics' detection loss divides each term by the batch's summed target scores (at least 1) and multiplies by
the batch size, so a batch of k copies of one image has k times its loss and k times its gradient norm. Distinct
images add gradients that point in partly different directions: the norm grows between sqrt(k) (unrelated) and k
(aligned, as early in training). Either way the fixed clip of 10 binds sooner the larger the batch, and a clipped
step's length no longer depends on the batch (helpers.tricks.clip).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any


def pre_clip_norm(model: Any, batch: dict[str, Any]) -> float:
    """The gradient norm one step of `batch` gives, before clipping: the trainer's loss (`loss.sum()` of the model's
    own loss, images scaled to 0..1) backpropagated from zero gradients. The model is left in train mode."""
    import torch

    model.train()
    model.zero_grad(set_to_none=True)
    loss, _ = model(dict(batch, img=batch["img"].float() / 255))
    loss.sum().backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=float("inf"))
    model.zero_grad(set_to_none=True)
    return float(norm.detach())


def norms_by_batch(weights: str | Path, data_yaml: str | Path, imgsz: int, batches: tuple[int, ...],
                   copies: bool = False) -> dict[int, float]:
    """{batch: pre-clip norm} for a model (a .pt or a .yaml) on the first images of a dataset's training split, each
    batch the first `batch` images (or, with `copies`, the first image repeated), without augmentation, on the CPU."""
    from ultralytics import YOLO
    from ultralytics.cfg import get_cfg
    from ultralytics.data import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    from helpers.core import offline
    from helpers.data import label_cache

    offline.prepare_ultralytics()
    label_cache.install()  # Ultralytics' label cache goes to the workbook's cache folder, not the dataset's
    data = check_det_dataset(str(data_yaml))
    need = 1 if copies else max(batches)
    dataset = build_yolo_dataset(get_cfg(overrides={"imgsz": imgsz, "cache": False}), data["train"], need, data,
                                 mode="val", rect=False)
    if len(dataset) < need:
        raise ValueError(f"{data_yaml} has {len(dataset)} training images; the largest batch asked is {need}")
    model = YOLO(str(weights)).model.float()
    for p in model.parameters():
        p.requires_grad_(True)
    model.args = get_cfg()  # the loss reads its box/cls/dfl gains from here, as in training
    samples = [dataset[i] for i in range(need)]
    out = {}
    for b in batches:
        chosen = [copy.deepcopy(samples[0]) for _ in range(b)] if copies else samples[:b]  # collate edits in place
        out[b] = pre_clip_norm(model, dataset.collate_fn(chosen))
    return out
