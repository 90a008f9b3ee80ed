"""The validation loader during training on a GPU: Ultralytics' dataset and padding, its batches split so every loader
worker has a share. Ultralytics validates in batches of twice the training batch; at batch 256 a 512-image validation
set is one batch, which Ultralytics loads in the training process itself (a one-batch loader gets no workers).

The dataset is built at Ultralytics' batch, so each image gets the rect padding of Ultralytics' group, and so the same
predictions and metrics; each loader batch divides Ultralytics' batch, so it lies inside one group and collates. The
validation losses are averaged over more, smaller batches (each normalised by its own targets), so they differ a little
from Ultralytics' figures.
"""

from __future__ import annotations

import math
import os
from typing import Any

FLOOR = 16  # images per loader batch at least: below it a worker's start costs more than its share of letterboxing


def spread(batch: int, images: int, workers: int, floor: int = FLOOR) -> int:
    """The smallest divisor of `batch` of at least `floor` images that covers `images` in one batch per worker."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    target = max(math.ceil(max(images, 1) / max(workers, 1)), floor)
    return next(d for d in range(1, batch + 1) if batch % d == 0 and d >= min(target, batch))


def build(trainer: Any, dataset_path: str, batch_size: int, rank: int) -> Any:
    """Ultralytics' validation dataset (built at `batch_size`, its rect groups) read in `spread` batches."""
    import torch
    from ultralytics.data import build_dataloader
    from ultralytics.utils.torch_utils import torch_distributed_zero_first

    with torch_distributed_zero_first(rank):  # as Ultralytics' get_dataloader: the label cache built once under DDP
        dataset = trainer.build_dataset(dataset_path, "val", batch_size)
    asked = trainer.args.workers * 2  # Ultralytics' validation workers
    gpus = torch.cuda.device_count() if trainer.device.type == "cuda" else 0
    workers = min((os.cpu_count() or 1) // max(gpus, 1), asked)  # as build_dataloader counts them
    share = math.ceil(len(dataset) / max(getattr(trainer, "world_size", 1), 1))  # this rank's images under DDP
    return build_dataloader(dataset, batch=spread(batch_size, share, workers), workers=asked, shuffle=False,
                            rank=rank, drop_last=False, device=trainer.device)
