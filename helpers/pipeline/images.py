"""What every training-set store holds besides its pixels: an image as Ultralytics loads it, and every image's boxes
on the training device (helpers.pipeline.store for the decoded stores, helpers.pipeline.jpeg for the JPEG one)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from helpers.pipeline.augment import BoxSource


def load_rgb(dataset: Any, i: int) -> tuple[np.ndarray, int, int]:
    """Image i as Ultralytics' dataset loads it, RGB (as its Format hands it to the model), with its (h, w)."""
    im, _, (h, w) = dataset.load_image(i)
    if im.ndim == 2:
        im = im[..., None]
    if im.shape[2] == 1:
        im = np.repeat(im, 3, 2)
    return im[..., ::-1], h, w


def box_table(dataset: Any, hw: np.ndarray, device: torch.device) -> BoxSource:
    """Every image's boxes in pixels of its loaded size, grouped by image, on the training device."""
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
    return BoxSource.from_counts(torch.as_tensor(counts, device=device),
                                 torch.from_numpy(np.concatenate(xyxy)).to(device),
                                 torch.from_numpy(np.concatenate(cls)).to(device))


def batch_boxes(boxes: BoxSource, idx: torch.Tensor) -> BoxSource:
    """The boxes of the images idx, grouped as the batch orders them."""
    i, n = boxes.select(idx)
    counts = torch.bincount(i, minlength=idx.numel())
    return BoxSource.from_counts(counts, boxes.xyxy[n], boxes.cls[n])


def free_dataset_cache(dataset: Any) -> None:
    """Drop Ultralytics' RAM cache of decoded images once the store holds them (load_image reads the file again if
    anything asks)."""
    if getattr(dataset, "ims", None) is not None:  # a list, or Ultralytics' packed _ImageCache
        dataset.ims = [None] * len(dataset.im_files)
    if hasattr(dataset, "buffer"):
        dataset.buffer.clear()
