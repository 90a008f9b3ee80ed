"""The trainer's one seam into the input pipeline: `loader` in place of Ultralytics' training loader, `preprocess`
in place of its preprocess_batch, `close_mosaic` when Ultralytics switches mosaic off.

With `augment_device="gpu"` the plan's `store` decides where the set lives (`helpers.pipeline.store.choose`); the
batched augmentation then runs on the training device. Where the augmentation cannot stand in for Ultralytics'
(rect, mixup, custom augmentations, segments with copy_paste ...) or no store fits, the run uses Ultralytics' own
loader and CPU augmentation at its own speed, and says so in one line.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import torch

from helpers.pipeline import augment, store as stores
from helpers.pipeline.images import batch_boxes
from helpers.pipeline.loader import IndexLoader

WORDS = {"gpu": "resident on the GPU", "host": "pinned host memory, staged one step ahead",
         "jpeg": "JPEG in host memory, decoded on the GPU one step ahead", "off": "cpu workers"}


class Feed:
    """What feeds one trainer's steps: the store, the augmentation, and what they were chosen from."""

    def __init__(self, mode: str, rank: int, world: int):
        self.mode, self.rank, self.world = mode, rank, world
        self.augment: augment.GpuAugment | None = None
        self.store = None
        self.choice: stores.Choice | None = None
        self.pipeline = "cpu workers"  # in words (logged, and read by the benchmarks)
        self.first_batch_s: float | None = None  # seconds of the first augmented batch (compilation included)
        self.compile_ok = True
        self.gen: torch.Generator | None = None
        self._pool: torch.Tensor | None = None  # every store index: the mosaic partners of a resident store

    def loader(self, trainer: Any, dataset_path: str, batch_size: int, rank: int) -> IndexLoader | None:
        """The index loader over a store, or None where Ultralytics' own loader must run (said in one line)."""
        from ultralytics.utils import LOGGER
        from ultralytics.utils.torch_utils import torch_distributed_zero_first

        self.release(trainer.device)  # a rebuild (Ultralytics' out-of-memory retry): the old store goes first
        why = augment.unsupported(trainer.args)
        dataset = None
        if not why:
            with torch_distributed_zero_first(rank):
                dataset = trainer.build_dataset(dataset_path, "train", batch_size)
            why = augment.unsupported(trainer.args, dataset)
        if not why:
            sharers = int(os.environ.get("LOCAL_WORLD_SIZE", 1))  # ranks on this host, each with its own store
            self.choice = stores.choose(self.mode, len(dataset.im_files), int(trainer.args.imgsz), trainer.device,
                                        sharers=sharers)
            if self.choice.mode == "off":
                why = self.choice.why
        if why:
            LOGGER.warning(f"augment_device='gpu': Ultralytics' own loader and CPU augmentation at its own speed ({why})")
            self.augment, self.pipeline = None, "cpu workers"
            return None
        t0 = time.perf_counter()
        self.store = stores.build(dataset, trainer.device, self.choice.mode, threads=max(int(trainer.args.workers), 1))
        self.pipeline = WORDS[self.choice.mode] if trainer.device.type == "cuda" else f"{self.choice.mode} store in memory"
        LOGGER.info(f"augment_device='gpu': training set {self.pipeline} ({self.choice.why}; "
                    f"{self.store.nbytes / 2**30:.2f} GiB, built in {time.perf_counter() - t0:.1f} s)")
        self.augment = augment.GpuAugment.from_args(trainer.args)
        self.gen = torch.Generator(device=trainer.device).manual_seed(int(trainer.args.seed) + max(self.rank, 0))
        return IndexLoader(dataset, self.store, batch_size, trainer.device, rank=self.rank, world=self.world,
                           seed=int(trainer.args.seed), drop_last=bool(trainer.args.compile))

    def release(self, device: torch.device) -> None:
        if self.store is not None:
            self.store = None
            if device.type == "cuda":
                torch.cuda.empty_cache()

    def close_mosaic(self) -> None:
        """Ultralytics switched mosaic off for the last epochs: the batched augmentation follows."""
        if self.augment is not None:
            self.augment = dataclasses.replace(self.augment, mosaic=0.0)

    def preprocess(self, batch: dict, device: torch.device, dtype: torch.dtype) -> dict:
        """One batch of store indices -> the augmented images and boxes Ultralytics' loss reads."""
        first = self.first_batch_s is None
        t0 = time.perf_counter()
        idx = batch["store_idx"]
        s = self.store
        if s.resident:
            images, hw, boxes, sample = s.images, s.hw, s.boxes, idx
            if self._pool is None or self._pool.device != idx.device:
                self._pool = torch.arange(len(s), device=idx.device)
            pool = self._pool
        else:  # the batch's own images, staged for it; mosaic partners from the batch
            images, hw, boxes = batch.pop("store_images"), s.hw[idx], batch_boxes(s.boxes, idx)
            sample = pool = torch.arange(idx.numel(), device=device)
        out = self._augment(images, hw, boxes, sample, pool, device, dtype)
        batch.update(out)
        batch["batch_idx"] = out["batch_idx"].float()
        if first:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            self.first_batch_s = time.perf_counter() - t0
        return batch

    def _augment(self, images, hw, boxes, sample, pool, device: torch.device, dtype: torch.dtype):
        """The fused augmentation (compiled on a GPU; eager where compilation fails, with one warning)."""
        cuda = device.type == "cuda"
        kw = dict(out_dtype=dtype, channels_last=cuda)
        if cuda and self.compile_ok:
            try:
                return self.augment.augment(images, hw, boxes, sample, pool, self.gen, compiled=True, **kw)
            except torch.OutOfMemoryError:
                raise  # Ultralytics' own retry with a smaller batch handles it
            except Exception as e:  # noqa: BLE001 - an Inductor/Triton failure: the same function runs eagerly
                from ultralytics.utils import LOGGER

                LOGGER.warning(f"augment_device='gpu': compiling the augmentation failed ({type(e).__name__}: "
                               f"{str(e).splitlines()[0][:160] if str(e) else ''}); running it uncompiled")
                self.compile_ok = False
        return self.augment.augment(images, hw, boxes, sample, pool, self.gen, **kw)
