"""What the trainer iterates instead of a DataLoader when a store holds the set: batches of store indices (and, for
a store off the device, the batch's images, staged one step ahead), plus the file names Ultralytics' plots read.
Every image once per epoch, shuffled per epoch, split over the ranks as DistributedSampler splits; no workers. A
compiled model drops each epoch's last incomplete batch, as Ultralytics' own loader does, so its shapes stay static.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from helpers.pipeline.staging import Stager


class _Sampler:
    """The part of the set one process trains on each epoch (a shuffled shard), for Ultralytics' `len(sampler)` and
    `set_epoch`."""

    def __init__(self, n: int, rank: int, world: int, seed: int, shuffle: bool):
        self.n, self.rank, self.world, self.seed, self.shuffle = n, max(rank, 0), max(world, 1), seed, shuffle
        self.epoch = 0
        self.told = False  # set_epoch was called: the trainer says which epoch it is (resume, DDP)

    def __len__(self) -> int:
        return math.ceil(self.n / self.world)

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.told = epoch, True

    def indices(self) -> torch.Tensor:
        if self.shuffle:
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + self.epoch))
        else:
            order = torch.arange(self.n)
        if self.world > 1:  # every rank the same length (the first images repeat), as DistributedSampler pads
            order = torch.cat([order, order[: len(self) * self.world - self.n]])[self.rank::self.world]
        return order


class IndexLoader:
    """Batches of {'store_idx', 'im_file'} (and 'store_images' for a store off the device), one epoch per pass."""

    num_workers = 0

    def __init__(self, dataset: Any, store: Any, batch_size: int, device: torch.device, rank: int = -1,
                 world: int = 1, seed: int = 0, shuffle: bool = True, drop_last: bool = False):
        self.dataset, self.store, self.batch_size, self.device = dataset, store, batch_size, device
        self.sampler = _Sampler(len(store), rank, world, seed, shuffle)
        n = len(self.sampler)  # as Ultralytics' build_dataloader: a shard of one batch or less is kept whole
        self.drop_last = drop_last and n > batch_size > 0 and n % batch_size != 0
        self.stager = None if store.resident else Stager(store, device, batch_size)

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        order = self.sampler.indices()
        if not self.sampler.told:  # iterated on its own: a new order each time
            self.sampler.epoch += 1
        files = self.dataset.im_files
        batches = [order[a:a + self.batch_size] for a in range(0, len(self) * self.batch_size, self.batch_size)]
        staged = self.stager.run(batches) if self.stager is not None else ((idx, None) for idx in batches)
        for idx, images in staged:
            batch = {"store_idx": idx.to(self.device, non_blocking=True), "im_file": [files[i] for i in idx.tolist()]}
            if images is not None:
                batch["store_images"] = images
            yield batch

    def reset(self) -> None:
        """Nothing to restart (Ultralytics resets its workers after closing mosaic)."""

    def close(self) -> None:
        """No workers to stop; the store is let go (Ultralytics closes the loader before rebuilding it)."""
        if self.stager is not None:
            self.stager.close()
        self.store = self.stager = None
