"""The compressed store: every training image re-encoded once as JPEG at its training size (cv2, QUALITY), all bytes
in one host buffer with an offset table; a batch is decoded by torchvision on the training device (nvJPEG on a GPU,
libjpeg-turbo on a CPU) and padded to S x S with FILL there.

Re-encoding at quality 95 changes a pixel by about one level on average (tests/data/test_pipeline_store.py states the
bound); the decoded store on the GPU or the host keeps `load_image`'s pixels exactly. Batched GPU decoding in
torchvision writes on a stream of its own without waiting for the caller's (pytorch/vision #9606), so the staging
thread decodes on a side stream with nothing else queued on it, and the batch is handed over through an event.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from helpers.pipeline.augment import FILL, BoxSource
from helpers.pipeline.images import box_table, load_rgb

QUALITY = 95
CHUNK = 1024  # images encoded at a time (their bytes then join the one buffer)


@dataclass
class JpegStore:
    """The training set as JPEG bytes: image i is data[offsets[i]:offsets[i + 1]], loaded size hw[i], boxes."""

    data: torch.Tensor  # (bytes,) uint8 on the host
    offsets: np.ndarray  # (N + 1,) int64
    hw: torch.Tensor  # (N, 2) float, on the training device
    boxes: BoxSource  # on the training device
    imgsz: int
    resident = False  # each batch's images are decoded for it; mosaic partners come from the batch

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def nbytes(self) -> int:
        return int(self.data.numel())

    def decode(self, idx: torch.Tensor, device: torch.device) -> torch.Tensor:
        """The images idx as a (B, S, S, 3) uint8 batch on `device`, each at the top left of FILL."""
        from torchvision.io import ImageReadMode, decode_jpeg

        idx = idx.cpu().tolist()
        s = self.imgsz
        parts = [self.data[self.offsets[i]:self.offsets[i + 1]] for i in idx]
        decoded = decode_jpeg(parts, mode=ImageReadMode.RGB, device=device)
        out = torch.full((len(idx), s, s, 3), FILL, dtype=torch.uint8, device=device)
        for j, im in enumerate(decoded):
            out[j, : im.shape[1], : im.shape[2]] = im.permute(1, 2, 0)
        return out


def encode(im_rgb: np.ndarray) -> bytes:
    """One RGB image as JPEG bytes at QUALITY (cv2 encodes BGR)."""
    import cv2

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(im_rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
    if not ok:
        raise RuntimeError("cv2.imencode failed")
    return buf.tobytes()


def build(dataset: Any, device: torch.device, threads: int = 8) -> JpegStore:
    """Every image of an Ultralytics YOLODataset (its own load_image and cache) encoded once, in threads, into one
    growing buffer (the host holds the JPEG bytes and at most CHUNK decoded images at a time)."""
    n = len(dataset.im_files)
    hw = np.zeros((n, 2), dtype=np.float32)
    buf = bytearray()
    offsets = np.zeros(n + 1, dtype=np.int64)

    def one(i: int) -> bytes:
        im, h, w = load_rgb(dataset, i)
        hw[i] = (h, w)
        return encode(im)

    with ThreadPoolExecutor(max(1, threads)) as pool:  # cv2 releases the GIL
        for start in range(0, n, CHUNK):
            for i, b in enumerate(pool.map(one, range(start, min(start + CHUNK, n))), start):
                buf += b
                offsets[i + 1] = len(buf)
    data = torch.frombuffer(buf, dtype=torch.uint8) if buf else torch.zeros(0, dtype=torch.uint8)
    return JpegStore(data, offsets, torch.from_numpy(hw).to(device), box_table(dataset, hw, device),
                     int(dataset.imgsz))
