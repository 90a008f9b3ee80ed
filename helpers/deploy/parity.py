"""Parity between two backends of the same model: raw head outputs (boxes relative, scores absolute) and
detections (one-to-one IoU matching, class and score agreement)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


@dataclass
class RawParity:
    """Max differences between two raw head outputs (B, 4 + classes, anchors): box coordinates in pixels, class
    scores in [0, 1]."""

    box_abs: float
    box_rel: float  # box_abs / largest box coordinate
    score_abs: float
    shape: tuple[int, ...]

    def ok(self, box_rel_tol: float, score_tol: float) -> bool:
        return self.box_rel <= box_rel_tol and self.score_abs <= score_tol


def compare_raw(ref: np.ndarray, other: np.ndarray) -> RawParity:
    if ref.shape != other.shape:
        raise ValueError(f"output shapes differ: {ref.shape} vs {other.shape}")
    d = np.abs(ref - other)
    box_abs = float(d[:, :4].max())
    return RawParity(box_abs, box_abs / max(float(np.abs(ref[:, :4]).max()), 1e-9), float(d[:, 4:].max()), ref.shape)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of xyxy boxes a (N, 4) and b (M, 4)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter + 1e-9)


@dataclass
class DetectionParity:
    ref_boxes: int = 0
    other_boxes: int = 0
    matched: int = 0
    same_class: int = 0
    min_iou: float = 1.0
    max_score_diff: float = 0.0
    iou_threshold: float = 0.5

    @property
    def recall(self) -> float:
        """Share of the reference detections that the other backend also found (IoU >= threshold)."""
        return self.matched / self.ref_boxes if self.ref_boxes else 1.0

    def ok(self, min_recall: float = 0.98, score_tol: float = 0.01) -> bool:
        return (self.recall >= min_recall and self.same_class == self.matched and self.max_score_diff <= score_tol
                and abs(self.other_boxes - self.ref_boxes) <= max(1, round((1 - min_recall) * self.ref_boxes)))


def compare_detections(ref: Sequence[Any], other: Sequence[Any], iou_threshold: float = 0.5) -> DetectionParity:
    """Greedy one-to-one matching, per image, of two backends' Ultralytics Results (highest IoU first)."""
    out = DetectionParity(iou_threshold=iou_threshold)
    for r, o in zip(ref, other, strict=True):
        rb, ob = r.boxes, o.boxes
        out.ref_boxes += len(rb)
        out.other_boxes += len(ob)
        if not len(rb) or not len(ob):
            continue
        iou = box_iou(rb.xyxy.cpu().numpy(), ob.xyxy.cpu().numpy())
        while iou.size and iou.max() >= iou_threshold:
            i, j = np.unravel_index(iou.argmax(), iou.shape)
            out.matched += 1
            out.min_iou = min(out.min_iou, float(iou[i, j]))
            out.same_class += int(rb.cls[i] == ob.cls[j])
            out.max_score_diff = max(out.max_score_diff, abs(float(rb.conf[i]) - float(ob.conf[j])))
            iou[i, :], iou[:, j] = -1, -1
    return out
