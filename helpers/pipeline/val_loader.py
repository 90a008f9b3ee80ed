"""The validation loader during training: Ultralytics' dataset and padding, its batches split so every loader worker
has a share. Ultralytics validates in batches of twice the training batch; at batch 256 a 512-image validation set
is one batch, which Ultralytics loads in the training process itself (a one-batch loader gets no workers). Each loader batch here is a divisor of
Ultralytics' batch, so it lies inside one of Ultralytics' rect groups: every image gets the padding, and so the
predictions, that Ultralytics' own validation gives it.
"""

from __future__ import annotations

import math
import os
from typing import Any


def spread(batch: int, images: int, workers: int) -> int:
    """The smallest divisor of `batch` that covers `images` in at most one batch per worker (at most `batch`)."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    target = math.ceil(max(images, 1) / max(workers, 1))
    return next(d for d in range(1, batch + 1) if batch % d == 0 and d >= min(target, batch))


def build(trainer: Any, dataset_path: str, batch_size: int, rank: int) -> Any:
    """Ultralytics' validation dataset (built at `batch_size`, its rect groups) read in `spread` batches."""
    from ultralytics.data import build_dataloader
    from ultralytics.utils.torch_utils import torch_distributed_zero_first

    with torch_distributed_zero_first(rank):  # as Ultralytics' get_dataloader: the label cache built once under DDP
        dataset = trainer.build_dataset(dataset_path, "val", batch_size)
    import torch

    gpus = torch.cuda.device_count() if trainer.device.type == "cuda" else 0
    workers = min((os.cpu_count() or 1) // max(gpus, 1), trainer.args.workers * 2)  # as build_dataloader counts them
    return build_dataloader(dataset, batch=spread(batch_size, len(dataset), workers), workers=trainer.args.workers * 2,
                            shuffle=False, rank=rank, drop_last=False, device=trainer.device)
