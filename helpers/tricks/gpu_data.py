"""The training set resident on the training device, and a loader that hands out indices instead of pixels.

With `augment_device="gpu"` the CPU's only per-image work is done once, before the first epoch: every training image,
as Ultralytics' dataset loads it (long side = imgsz, its own cache), is padded to S x S with FILL and copied into one
uint8 tensor (N, S, S, 3) on the GPU, its boxes into one table. Each batch is then a vector of indices; the
augmentation (`helpers.tricks.gpu_augment.GpuAugment.augment`) reads the pixels straight from the store, mosaic
partners drawn from the whole set (Ultralytics draws them from its buffer of recent images: the whole set with
cache='ram'). Where the set does not fit beside training, it stays in
pinned host memory and each batch's images cross once (partners then come from the same batch); where even that does
not fit, the trainer falls back to the loader's workers (`gpu_augment.adopt`).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from helpers.tricks.gpu_augment import FILL, BoxSource

GPU_SHARE = 0.35  # the store may take this share of the GPU memory free before training starts
HOST_SHARE = 0.5  # ... or this share of the host's available memory (pinned)


@dataclass
class ImageStore:
    """Every training image padded to S x S (uint8 RGB, channel last), its (h, w) and its boxes (pixels)."""

    images: torch.Tensor  # (N, S, S, 3) uint8, on the training device or pinned on the host
    hw: torch.Tensor  # (N, 2) float, on the training device
    boxes: BoxSource  # on the training device
    resident: bool  # True: images live on the training device

    def __len__(self) -> int:
        return self.images.shape[0]

    @staticmethod
    def nbytes(n: int, imgsz: int) -> int:
        return n * imgsz * imgsz * 3

    def batch_images(self, idx: torch.Tensor, device: torch.device):
        """(images, their (h, w), their boxes, positions of idx in them, the mosaic partners' pool) for one batch: the
        store itself when resident (partners from the whole set), else the batch's images copied to the device once
        (partners from the batch)."""
        if self.resident:
            if getattr(self, "_pool", None) is None or self._pool.device != idx.device:
                self._pool = torch.arange(len(self), device=idx.device)
            return self.images, self.hw, self.boxes, idx, self._pool
        sub = self.images[idx.cpu()]
        if self.images.is_pinned():
            sub = sub.pin_memory()
        i, n = self.boxes.select(idx)
        counts = torch.bincount(i, minlength=idx.numel())
        boxes = BoxSource.from_counts(counts, self.boxes.xyxy[n], self.boxes.cls[n])
        local = torch.arange(idx.numel(), device=device)
        return sub.to(device, non_blocking=True), self.hw[idx], boxes, local, local

def where_it_fits(n: int, imgsz: int, device: torch.device) -> tuple[str, str]:
    """('device' | 'host' | '', why): where a store of n images at imgsz fits within the shares above."""
    need = ImageStore.nbytes(n, imgsz)
    gib = need / 2**30
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if need <= GPU_SHARE * free:
            return "device", f"{n} images, {gib:.1f} GiB on the GPU ({free / 2**30:.0f} GiB free)"
    else:
        return "device", f"{n} images, {gib:.2f} GiB in memory (training on the CPU)"
    import psutil

    avail = psutil.virtual_memory().available
    if need <= HOST_SHARE * avail:
        return "host", (f"{n} images, {gib:.1f} GiB: more than {GPU_SHARE:.0%} of the GPU's free memory; pinned host "
                        f"memory, one copy per batch")
    return "", f"{n} images need {gib:.1f} GiB: neither the GPU nor the host has room"


CHUNK = 512  # images staged on the host at a time while a store on the device is filled


def build_store(dataset: Any, device: torch.device, where: str, threads: int = 8) -> ImageStore:
    """Load every image of an Ultralytics YOLODataset (through its own load_image and cache) into one store; a store
    on a GPU is filled through a small host buffer, so the host never holds a second copy of the whole set."""
    n, s = len(dataset.im_files), int(dataset.imgsz)
    on_gpu = where == "device" and device.type == "cuda"
    pin = torch.cuda.is_available() and (where == "host" or on_gpu)
    images = torch.empty((n, s, s, 3), dtype=torch.uint8, device=device if on_gpu else "cpu",
                         pin_memory=pin and not on_gpu)
    staging = torch.empty((min(CHUNK, n), s, s, 3), dtype=torch.uint8, pin_memory=pin) if on_gpu else None
    hw = np.zeros((n, 2), dtype=np.float32)

    def load(i: int, into: torch.Tensor) -> None:
        im, _, (h, w) = dataset.load_image(i)
        if im.ndim == 2:
            im = im[..., None]
        if im.shape[2] == 1:
            im = np.repeat(im, 3, 2)
        canvas = into.numpy()
        canvas[:] = FILL
        canvas[:h, :w] = im[..., ::-1]  # BGR -> RGB, as Ultralytics' Format does
        hw[i] = (h, w)

    with ThreadPoolExecutor(max(1, threads)) as pool:  # cv2 releases the GIL
        if staging is None:
            list(pool.map(lambda i: load(i, images[i]), range(n)))
        else:
            for start in range(0, n, CHUNK):
                stop = min(start + CHUNK, n)
                list(pool.map(lambda i: load(i, staging[i - start]), range(start, stop)))
                images[start:stop].copy_(staging[: stop - start])  # synchronous: the buffer is reused next
    counts, xyxy, cls = [], [], []
    for i, lb in enumerate(dataset.labels):
        b = np.asarray(lb["bboxes"], dtype=np.float32).reshape(-1, 4)
        h, w = hw[i]
        if not lb.get("normalized", True):  # pixels of the original image
            h0, w0 = lb["shape"]
            b = b / np.array([w0, h0, w0, h0], dtype=np.float32)
        xy, wh = b[:, :2] * (w, h), b[:, 2:] * (w, h)
        xyxy.append(np.concatenate([xy - wh / 2, xy + wh / 2], 1))
        cls.append(np.asarray(lb["cls"], dtype=np.float32).reshape(-1, 1))
        counts.append(len(b))
    boxes = BoxSource.from_counts(torch.as_tensor(counts, device=device), torch.from_numpy(np.concatenate(xyxy)).to(device),
                                  torch.from_numpy(np.concatenate(cls)).to(device))
    return ImageStore(images, torch.from_numpy(hw).to(device), boxes, resident=where == "device")


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
    """What the trainer iterates instead of a DataLoader: batches of store indices plus the file names and shapes
    Ultralytics' plots read; every image once per epoch, no worker processes."""

    num_workers = 0
    drop_last = False

    def __init__(self, dataset: Any, store: ImageStore, batch_size: int, device: torch.device, rank: int = -1,
                 world: int = 1, seed: int = 0, shuffle: bool = True):
        self.dataset, self.store, self.batch_size, self.device = dataset, store, batch_size, device
        self.sampler = _Sampler(len(store), rank, world, seed, shuffle)

    def __len__(self) -> int:
        return math.ceil(len(self.sampler) / self.batch_size)

    def __iter__(self):
        order = self.sampler.indices()
        if not self.sampler.told:  # iterated on its own: a new order each time
            self.sampler.epoch += 1
        files = self.dataset.im_files
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            yield {"store_idx": idx.to(self.device, non_blocking=True),
                   "im_file": [files[i] for i in idx.tolist()]}

    def reset(self) -> None:
        """Nothing to restart (Ultralytics resets its workers after closing mosaic)."""

    def close(self) -> None:
        """No workers to stop; the store is let go (Ultralytics closes the loader before rebuilding it)."""
        self.store = None
