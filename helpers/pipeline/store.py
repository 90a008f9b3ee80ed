"""Where the training set is kept, and which place a run gets (`plan.store` = auto | gpu | host | jpeg | off).

Before the first epoch every training image is loaded once, as Ultralytics' dataset loads it (`load_image`: long
side = imgsz, its own cache), with its boxes in one table on the training device. Then the images live in one of:
- gpu: padded to S x S with FILL in one uint8 tensor (N, S, S, 3) on the GPU; a batch is a vector of indices and the
  augmentation reads the pixels in place, mosaic partners drawn from the whole set (as Ultralytics draws them with
  cache='ram');
- host: the same tensor in pinned host memory; each batch is gathered by several threads into a pinned buffer and
  copied on a side stream one step ahead (`helpers.pipeline.staging`); partners from the batch;
- jpeg: each image re-encoded once as JPEG at its training size, all bytes in one buffer with an offset table
  (about a tenth of the decoded size); each batch is decoded on the GPU by nvJPEG one step ahead (`jpeg.py`);
- off: no store; Ultralytics' own loader and CPU augmentation, at its own speed.
`auto` takes the first that fits: gpu within GPU_SHARE of the GPU's free memory, host within HOST_SHARE of the
host's available memory (split between the training processes of a host: each builds its own store), jpeg (on a
GPU with nvJPEG) within HOST_SHARE, else off; `choose` says why in words.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from helpers.pipeline.augment import FILL, BoxSource
from helpers.pipeline.images import box_table, free_dataset_cache, load_rgb

MODES = ("auto", "gpu", "host", "jpeg", "off")
GPU_SHARE = 0.35  # a decoded store on the GPU may take this share of the memory free before training starts
HOST_SHARE = 0.5  # a host store (decoded and pinned, or JPEG) may take this share of the host's available memory
JPEG_RATIO = 8  # decoded bytes per JPEG byte assumed before encoding (quality 95 at 640 px: about 10)
CARD_GIB: float | None = None  # pretend the GPU has this much memory (the benchmark's 16 GB card); None: the real one
GATHER_THREADS = 8  # threads gathering one host batch (torch's copies release the GIL)


class StoreError(RuntimeError):
    """A store mode that cannot run here; the message says why and what to choose instead."""


@dataclass(frozen=True)
class Choice:
    """The store a run gets and why, in words (a row of the plan's view and one log line)."""

    mode: str  # gpu | host | jpeg | off
    why: str


def decoded_bytes(n: int, imgsz: int) -> int:
    """Bytes of n decoded images padded to imgsz x imgsz (uint8 RGB)."""
    return n * imgsz * imgsz * 3


def gpu_free(device: torch.device) -> int:
    """Bytes free on the GPU, or what a card of CARD_GIB would have free with this process's use."""
    free, total = torch.cuda.mem_get_info(device)
    if CARD_GIB is None:
        return free
    return max(int(CARD_GIB * 2**30) - (total - free), 0)


def host_available() -> int:
    import psutil

    return psutil.virtual_memory().available


def nvjpeg_works(device: torch.device) -> bool:
    """True when torchvision decodes a JPEG on this GPU (a build without nvJPEG raises)."""
    if device.type != "cuda":
        return False
    try:
        from torchvision.io import decode_jpeg, encode_jpeg

        data = encode_jpeg(torch.full((3, 8, 8), 100, dtype=torch.uint8))
        decode_jpeg([data], device=device)
        return True
    except Exception:  # noqa: BLE001 - no nvJPEG in this build, or a driver without it
        return False


def choose(mode: str, n: int, imgsz: int, device: torch.device, sharers: int = 1) -> Choice:
    """The store for n images at imgsz on `device`: `mode` itself when forced (an error where it cannot run at all),
    else the first that fits (see the module's docstring). `sharers` training processes on this host each build a
    store of their own, so a host store may take only its part of the host's share."""
    if mode not in MODES:
        raise StoreError(f"store={mode!r}: choose one of {MODES}")
    need = decoded_bytes(n, imgsz)
    gib = need / 2**30
    if device.type != "cuda":  # training on the CPU: 'gpu' means the training device's own memory
        if mode in ("gpu", "host"):
            return Choice(mode, f"{n} images, {gib:.2f} GiB in memory (training on the CPU)")
        if mode == "jpeg":
            return Choice("jpeg", f"{n} images as JPEG, decoded on the CPU (training on the CPU)")
        if mode == "off":
            return Choice("off", "store='off'")
        if need <= HOST_SHARE * host_available():
            return Choice("gpu", f"{n} images, {gib:.2f} GiB in memory (training on the CPU)")
        return Choice("off", f"{n} images need {gib:.1f} GiB: more than {HOST_SHARE:.0%} of the available memory; "
                             "Ultralytics' own loader")
    free, avail = gpu_free(device), host_available() // max(sharers, 1)
    jpeg_need = need // JPEG_RATIO
    if mode == "gpu":
        if need > free:
            raise StoreError(f"store='gpu' needs {gib:.1f} GiB and the GPU has {free / 2**30:.1f} GiB free: choose "
                             "'auto', 'host' or 'jpeg'")
        return Choice("gpu", f"{n} images, {gib:.1f} GiB on the GPU ({free / 2**30:.0f} GiB free; forced)")
    if mode == "host":
        if need > avail:
            per = f" for each of its {sharers} training processes" if sharers > 1 else ""
            raise StoreError(f"store='host' needs {gib:.1f} GiB of pinned memory and the host has "
                             f"{avail / 2**30:.1f} GiB available{per}: choose 'auto' or 'jpeg'")
        return Choice("host", f"{n} images, {gib:.1f} GiB in pinned host memory (forced)")
    if mode == "jpeg":
        if not nvjpeg_works(device):
            raise StoreError("store='jpeg' needs torchvision's nvJPEG decoder, which this torchvision build lacks: "
                             "choose 'auto', 'host' or 'off'")
        return Choice("jpeg", f"{n} images as JPEG, about {jpeg_need / 2**30:.1f} GiB in host memory, decoded on the "
                              "GPU (forced)")
    if mode == "off":
        return Choice("off", "store='off'")
    if need <= GPU_SHARE * free:
        return Choice("gpu", f"{n} images, {gib:.1f} GiB on the GPU ({free / 2**30:.0f} GiB free)")
    if need <= HOST_SHARE * avail:
        return Choice("host", f"{n} images, {gib:.1f} GiB: more than {GPU_SHARE:.0%} of the GPU's "
                              f"{free / 2**30:.0f} GiB free; pinned host memory, copied one step ahead")
    if jpeg_need <= HOST_SHARE * avail and nvjpeg_works(device):
        return Choice("jpeg", f"{n} images, {gib:.1f} GiB decoded: too big for the GPU and the host; as JPEG "
                              f"(about {jpeg_need / 2**30:.1f} GiB) in host memory, decoded on the GPU")
    return Choice("off", f"{n} images need {gib:.1f} GiB decoded (about {jpeg_need / 2**30:.1f} GiB as JPEG): no "
                         "store fits; Ultralytics' own loader at its own speed")


# ------------------------------------------------------------------------------------------------ decoded store
@dataclass
class ImageStore:
    """Every training image padded to S x S (uint8 RGB, channel last), its (h, w) and its boxes (pixels)."""

    images: torch.Tensor  # (N, S, S, 3) uint8, on the training device or pinned on the host
    hw: torch.Tensor  # (N, 2) float, on the training device
    boxes: BoxSource  # on the training device
    resident: bool  # True: images live on the training device

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def nbytes(self) -> int:
        return self.images.numel()

    def gather(self, idx: torch.Tensor, out: torch.Tensor, pool: ThreadPoolExecutor | None = None) -> torch.Tensor:
        """images[idx] written into `out` (a pinned staging buffer), split over the pool's threads."""
        idx = idx.cpu()
        out = out[: idx.numel()]
        if pool is None or idx.numel() < 16:
            return torch.index_select(self.images, 0, idx, out=out)
        step = -(-idx.numel() // GATHER_THREADS)
        parts = [(a, min(a + step, idx.numel())) for a in range(0, idx.numel(), step)]
        list(pool.map(lambda ab: torch.index_select(self.images, 0, idx[ab[0]:ab[1]], out=out[ab[0]:ab[1]]), parts))
        return out


CHUNK = 512  # images staged on the host at a time while a store on the device is filled


def build_decoded(dataset: Any, device: torch.device, on_device: bool, threads: int = 8) -> ImageStore:
    """Every image of an Ultralytics YOLODataset (through its own load_image and cache) in one decoded store, on the
    device or pinned on the host; a store on a GPU is filled through a small host buffer, so the host never holds a
    second copy of the whole set."""
    n, s = len(dataset.im_files), int(dataset.imgsz)
    on_gpu = on_device and device.type == "cuda"
    pin = device.type == "cuda"
    images = torch.empty((n, s, s, 3), dtype=torch.uint8, device=device if on_gpu else "cpu",
                         pin_memory=pin and not on_gpu)
    staging = torch.empty((min(CHUNK, n), s, s, 3), dtype=torch.uint8, pin_memory=pin) if on_gpu else None
    hw = np.zeros((n, 2), dtype=np.float32)

    def load(i: int, into: torch.Tensor) -> None:
        im, h, w = load_rgb(dataset, i)
        canvas = into.numpy()
        canvas[:] = FILL
        canvas[:h, :w] = im
        hw[i] = (h, w)

    with ThreadPoolExecutor(max(1, threads)) as pool:  # cv2 releases the GIL
        if staging is None:
            list(pool.map(lambda i: load(i, images[i]), range(n)))
        else:
            for start in range(0, n, CHUNK):
                stop = min(start + CHUNK, n)
                list(pool.map(lambda i: load(i, staging[i - start]), range(start, stop)))
                images[start:stop].copy_(staging[: stop - start])  # synchronous: the buffer is reused next
    return ImageStore(images, torch.from_numpy(hw).to(device), box_table(dataset, hw, device), resident=on_device)


def build(dataset: Any, device: torch.device, mode: str, threads: int = 8):
    """The store of `mode` (gpu | host | jpeg) for an Ultralytics training dataset; Ultralytics' RAM cache of the
    same images is let go afterwards."""
    if mode == "jpeg":
        from helpers.pipeline import jpeg

        store = jpeg.build(dataset, device, threads=threads)
    elif mode in ("gpu", "host"):
        store = build_decoded(dataset, device, on_device=mode == "gpu", threads=threads)
    else:
        raise StoreError(f"no store to build for mode {mode!r}")
    free_dataset_cache(dataset)
    return store
