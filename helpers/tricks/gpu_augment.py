"""Ultralytics' training augmentation as batched tensor ops on the training device: mosaic, the random affine
(degrees, translate, scale, shear), horizontal/vertical flip and HSV, with the boxes transformed and filtered as
Ultralytics does. The loader's workers then only hand over cached uint8 images and labels.

One sampling pass per batch: for every output pixel the composed transform (flip, then the inverse affine, then the
mosaic layout) gives a tile and a source coordinate, sampled bilinearly from that tile's image (one `grid_sample` per
mosaic tile), with Ultralytics' fill value 114 outside every tile. Mosaic partners are drawn from the same batch
(Ultralytics draws them from the whole dataset: the same distribution for a shuffled loader). Box maths follow
`ultralytics.data.augment.Mosaic` and `RandomPerspective` (corners transformed, min/max, clipped, `box_candidates`).
Runs on any device, so the parity tests run on the CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

FILL = 114


@dataclass(frozen=True)
class GpuAugment:
    """The augmentation hyper-parameters of one run (Ultralytics' names)."""

    imgsz: int
    mosaic: float = 1.0
    degrees: float = 0.0
    translate: float = 0.1
    scale: float = 0.5
    shear: float = 0.0
    fliplr: float = 0.5
    flipud: float = 0.0
    hsv_h: float = 0.015
    hsv_s: float = 0.7
    hsv_v: float = 0.4

    @classmethod
    def from_args(cls, args: Any, mosaic: float | None = None) -> "GpuAugment":
        """From a trainer's args (an IterableSimpleNamespace of Ultralytics' hyper-parameters)."""
        rates = {f.name: float(getattr(args, f.name)) for f in fields(cls) if f.name != "imgsz"}
        return cls(imgsz=int(args.imgsz), **{**rates, **({} if mosaic is None else {"mosaic": float(mosaic)})})

    def __call__(self, batch: dict[str, Any], gen: torch.Generator | None = None) -> dict[str, Any]:
        """Augment a collated batch in place: 'img' uint8 (B, 3, S, S) with each image at the top left and its
        (h, w) in 'resized_shape'; 'bboxes' normalised xywh on the S x S canvas, 'cls', 'batch_idx'. Returns 'img'
        as float in [0, 1] and the boxes of the augmented images. Full precision even inside Ultralytics' autocast
        (the matrices are inverted; positions in half precision would be off by up to a third of a pixel)."""
        with torch.autocast(batch["img"].device.type, enabled=False):
            return self._augment(batch, gen)

    def _augment(self, batch: dict[str, Any], gen: torch.Generator | None) -> dict[str, Any]:
        img = batch["img"]
        dev, s = img.device, self.imgsz
        b = img.shape[0]
        rnd = lambda *shape: torch.rand(*shape, generator=gen, device=gen.device if gen else "cpu").to(dev)  # noqa: E731
        hw = torch.as_tensor([tuple(x) for x in batch["resized_shape"]], dtype=torch.float32, device=dev)  # (B, 2)

        # --- layout: which image each tile shows and where it sits on the canvas ------------------------------------
        mosaic = rnd(b) < self.mosaic
        partners = torch.floor(rnd(b, 3) * b).long().clamp_(max=b - 1)
        src = torch.cat([torch.arange(b, device=dev)[:, None], partners], 1)  # (B, 4): tile t shows image src[:, t]
        src[~mosaic, 1:] = -1  # a plain sample has one tile
        centre = (0.5 + rnd(b, 2)) * s  # mosaic centre (xc, yc) in [s/2, 3s/2): Mosaic's border of -s/2
        offset, canvas = self._layout(mosaic, src, hw, centre)  # (B, 4, 2) tile origin, (B, 2) canvas size (w, h)

        # --- the affine of RandomPerspective, then the flips ---------------------------------------------------------
        m, gain = self._affine(b, canvas, rnd)  # (B, 3, 3) canvas -> output pixels, (B,) scale
        flip_x = rnd(b) < self.fliplr
        flip_y = rnd(b) < self.flipud
        flip = torch.eye(3, device=dev).repeat(b, 1, 1)  # pixel u shows u' = s - 1 - u, as np.fliplr
        flip[flip_x, 0, 0], flip[flip_x, 0, 2] = -1.0, float(s - 1)
        flip[flip_y, 1, 1], flip[flip_y, 1, 2] = -1.0, float(s - 1)
        full = flip @ m  # canvas -> flipped output

        out = self._sample(img, src, hw, offset, canvas, torch.linalg.inv(full))
        out = self._hsv(out, rnd)
        boxes, keep_cls, keep_idx = self._boxes(batch, src, hw, offset, canvas, m, gain, mosaic)
        boxes = self._flip_boxes(boxes, keep_idx, flip_x, flip_y)
        batch["img"] = out
        batch["bboxes"], batch["cls"], batch["batch_idx"] = boxes, keep_cls, keep_idx.to(batch["batch_idx"].dtype)
        return batch

    # ------------------------------------------------------------------------------------------------ layout
    def _layout(self, mosaic: torch.Tensor, src: torch.Tensor, hw: torch.Tensor, centre: torch.Tensor):
        """Per sample and tile: the canvas position of the tile image's top-left pixel (Mosaic's padw/padh)."""
        s = self.imgsz
        b = src.shape[0]
        size = hw[src.clamp(min=0)]  # (B, 4, 2) as (h, w)
        h, w = size[..., 0], size[..., 1]
        xc, yc = centre[:, 0:1].floor(), centre[:, 1:2].floor()
        ox = torch.stack([xc[:, 0] - w[:, 0], xc[:, 0], xc[:, 0] - w[:, 2], xc[:, 0]], 1)
        oy = torch.stack([yc[:, 0] - h[:, 0], yc[:, 0] - h[:, 1], yc[:, 0], yc[:, 0]], 1)
        offset = torch.stack([ox, oy], -1)  # (B, 4, 2) x, y
        offset[~mosaic] = 0.0  # a plain sample: the image itself is the canvas
        canvas = torch.where(mosaic[:, None], torch.full((b, 2), 2.0 * s, device=src.device), hw[:, [1, 0]])
        return offset, canvas

    def _affine(self, b: int, canvas: torch.Tensor, rnd):
        """RandomPerspective's M = T @ S @ R @ C (no perspective): centre, rotate+scale, shear, translate."""
        dev, s = canvas.device, float(self.imgsz)
        c = torch.eye(3, device=dev).repeat(b, 1, 1)
        c[:, 0, 2], c[:, 1, 2] = -canvas[:, 0] / 2, -canvas[:, 1] / 2
        a = (rnd(b) * 2 - 1) * self.degrees * math.pi / 180
        gain = 1 - self.scale + rnd(b) * 2 * self.scale
        r = torch.eye(3, device=dev).repeat(b, 1, 1)  # cv2.getRotationMatrix2D(angle=a, centre=0, scale=gain)
        r[:, 0, 0], r[:, 0, 1] = gain * torch.cos(a), gain * torch.sin(a)
        r[:, 1, 0], r[:, 1, 1] = -gain * torch.sin(a), gain * torch.cos(a)
        sh = torch.eye(3, device=dev).repeat(b, 1, 1)
        sh[:, 0, 1] = torch.tan((rnd(b) * 2 - 1) * self.shear * math.pi / 180)
        sh[:, 1, 0] = torch.tan((rnd(b) * 2 - 1) * self.shear * math.pi / 180)
        t = torch.eye(3, device=dev).repeat(b, 1, 1)
        t[:, 0, 2] = (0.5 - self.translate + rnd(b) * 2 * self.translate) * s
        t[:, 1, 2] = (0.5 - self.translate + rnd(b) * 2 * self.translate) * s
        return t @ sh @ r @ c, gain

    # ------------------------------------------------------------------------------------------------ pixels
    def _sample(self, img: torch.Tensor, src: torch.Tensor, hw: torch.Tensor, offset: torch.Tensor,
                canvas: torch.Tensor, inv: torch.Tensor) -> torch.Tensor:
        """Every output pixel from its tile (bilinear, as cv2.warpAffine), FILL outside every tile and the canvas.

        One pass: each pixel's canvas position picks its mosaic quadrant (the tile), and one 3-D grid_sample over the
        batch treated as a volume reads tile image k at depth k (exactly on the slice, so trilinear is bilinear)."""
        s = self.imgsz
        b, dev = img.shape[0], img.device
        xs = torch.arange(s, device=dev, dtype=torch.float32).view(1, 1, s)
        ys = torch.arange(s, device=dev, dtype=torch.float32).view(1, s, 1)
        a = inv[:, :2, :].reshape(b, 6, 1, 1)
        cx = a[:, 0] * xs + a[:, 1] * ys + a[:, 2]  # (B, S, S) canvas position of each output pixel centre
        cy = a[:, 3] * xs + a[:, 4] * ys + a[:, 5]
        inside = ((cx >= -0.5) & (cx < canvas[:, 0, None, None] - 0.5) &  # pixel centres at integer coordinates
                  (cy >= -0.5) & (cy < canvas[:, 1, None, None] - 0.5))
        # the mosaic quadrant around the centre = tile 0..3 (the centre is where tile 1's and tile 2's corners meet)
        xc, yc = offset[:, 1, 0, None, None], offset[:, 2, 1, None, None]
        tile = ((cx >= xc).long() + 2 * (cy >= yc).long()) * (src[:, 1:2, None] >= 0).long()  # plain samples: tile 0
        bidx = torch.arange(b, device=dev).view(b, 1, 1)
        k = src[bidx, tile]  # (B, S, S) which image each pixel reads
        tx = cx - offset[bidx, tile, 0]
        ty = cy - offset[bidx, tile, 1]
        h, w = hw[k, 0], hw[k, 1]
        valid = inside & (tx >= -0.5) & (tx < w - 0.5) & (ty >= -0.5) & (ty < h - 0.5)
        grid = torch.stack([(2 * tx + 1) / s - 1, (2 * ty + 1) / s - 1, (2 * k.float() + 1) / b - 1], -1)
        volume = img.permute(1, 0, 2, 3).unsqueeze(0).float()  # (1, 3, B, S, S) uint8 values as float
        out = F.grid_sample(volume, grid.unsqueeze(0), mode="bilinear", padding_mode="border", align_corners=False)
        out = out[0].permute(1, 0, 2, 3)  # (B, 3, S, S)
        return torch.where(valid[:, None], out, torch.full_like(out, FILL)).div_(255)

    def _hsv(self, img: torch.Tensor, rnd) -> torch.Tensor:
        """RandomHSV: hue shifted by U(-1,1)*hsv_h of a turn, saturation and value scaled by 1 + U(-1,1)*gain
        (computed in half precision on a GPU: the result is 8-bit colour anyway)."""
        b = img.shape[0]
        if not (self.hsv_h or self.hsv_s or self.hsv_v):
            return img.float()
        gains = (rnd(b, 3) * 2 - 1) * torch.tensor([self.hsv_h, self.hsv_s, self.hsv_v], device=img.device)
        x = img.half() if img.is_cuda else img.float()
        g = gains.to(x.dtype)[:, :, None, None]
        r, gr, bl = x[:, 0], x[:, 1], x[:, 2]
        v = torch.maximum(torch.maximum(r, gr), bl)
        delta = v - torch.minimum(torch.minimum(r, gr), bl)
        safe = delta.clamp(min=1e-4)
        hue = torch.where(v == r, (gr - bl) / safe, torch.where(v == gr, 2 + (bl - r) / safe, 4 + (r - gr) / safe))
        hue = torch.where(delta > 0, hue, torch.zeros_like(hue))  # in sixths of a turn, -1..5
        hue = (hue + 6 * g[:, 0]).remainder(6)
        sat = (delta / v.clamp(min=1e-4) * (1 + g[:, 1])).clamp(0, 1)
        v = (v * (1 + g[:, 2])).clamp(0, 1)
        # hsv -> rgb: channel n = v - v*s*clamp(min(k, 4 - k), 0, 1) with k = (n + hue) mod 6, n = 5, 3, 1
        out = torch.stack([(hue + n).remainder(6) for n in (5, 3, 1)], 1)
        out = torch.minimum(out, 4 - out).clamp(0, 1)
        return (v[:, None] - (v * sat)[:, None] * out).float()

    # ------------------------------------------------------------------------------------------------ boxes
    def _boxes(self, batch: dict[str, Any], src: torch.Tensor, hw: torch.Tensor, offset: torch.Tensor,
               canvas: torch.Tensor, m: torch.Tensor, gain: torch.Tensor, mosaic: torch.Tensor):
        """Each output sample's boxes: its tiles' boxes moved onto the canvas (clipped, zero-area removed, as
        Mosaic does), through the affine (corners, min/max, clipped to the output) and filtered by box_candidates."""
        s = float(self.imgsz)
        dev = src.device
        bidx = batch["batch_idx"].to(dev).long()
        xywh = batch["bboxes"].to(dev).float() * s  # pixels on the S x S canvas = the tile image's own pixels
        xyxy = torch.cat([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
        cls = batch["cls"].to(dev)
        out_idx, out_box, out_cls = [], [], []
        for t in range(src.shape[1]):
            pair = (src[:, t, None] == bidx[None, :]) & (src[:, t, None] >= 0)  # (B, N): sample i takes box n
            i, n = pair.nonzero(as_tuple=True)
            if i.numel() == 0:
                continue
            box = xyxy[n] + offset[i, t].repeat(1, 2)
            out_idx.append(i)
            out_box.append(box)
            out_cls.append(cls[n])
        if not out_idx:
            return xyxy.new_zeros((0, 4)), cls[:0], bidx[:0]
        i, box, c = torch.cat(out_idx), torch.cat(out_box), torch.cat(out_cls)
        cw, ch = canvas[i, 0], canvas[i, 1]
        box = torch.stack([box[:, 0].clamp(min=0).minimum(cw), box[:, 1].clamp(min=0).minimum(ch),
                           box[:, 2].clamp(min=0).minimum(cw), box[:, 3].clamp(min=0).minimum(ch)], 1)
        area_ok = ((box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1]) > 0) | ~mosaic[i]  # Mosaic drops zero-area
        corners = torch.stack([box[:, [0, 1]], box[:, [2, 3]], box[:, [0, 3]], box[:, [2, 1]]], 1)  # (K, 4, 2)
        ones = torch.ones_like(corners[..., :1])
        moved = (torch.cat([corners, ones], -1) @ m[i].transpose(1, 2))[..., :2]
        new = torch.cat([moved.min(1).values, moved.max(1).values], 1)
        new = new.clamp(min=0, max=s)  # Instances.clip to the output size
        old = box * gain[i, None]
        keep = area_ok & self.box_candidates(old, new)
        order = torch.argsort(i[keep], stable=True)
        new, c, i = new[keep][order], c[keep][order], i[keep][order]
        xywh_out = torch.cat([(new[:, :2] + new[:, 2:]) / 2, new[:, 2:] - new[:, :2]], 1) / s
        return xywh_out, c, i

    @staticmethod
    def box_candidates(box1: torch.Tensor, box2: torch.Tensor, wh_thr: float = 2, ar_thr: float = 100,
                       area_thr: float = 0.1, eps: float = 1e-16) -> torch.Tensor:
        """Ultralytics' RandomPerspective.box_candidates on (K, 4) xyxy tensors."""
        w1, h1 = box1[:, 2] - box1[:, 0], box1[:, 3] - box1[:, 1]
        w2, h2 = box2[:, 2] - box2[:, 0], box2[:, 3] - box2[:, 1]
        ar = torch.maximum(w2 / (h2 + eps), h2 / (w2 + eps))
        return (w2 > wh_thr) & (h2 > wh_thr) & (w2 * h2 / (w1 * h1 + eps) > area_thr) & (ar < ar_thr)

    @staticmethod
    def _flip_boxes(xywh: torch.Tensor, idx: torch.Tensor, flip_x: torch.Tensor, flip_y: torch.Tensor) -> torch.Tensor:
        out = xywh.clone()
        fx, fy = flip_x[idx], flip_y[idx]
        out[fx, 0] = 1 - out[fx, 0]
        out[fy, 1] = 1 - out[fy, 1]
        return out


def unsupported(args: Any) -> str | None:
    """Why the batched pipeline cannot stand in for Ultralytics' own for these arguments, or None. (On a CPU it runs
    too, in the training process instead of the loader's workers: useful for checking it, not for speed.)"""
    for name in ("mixup", "cutmix", "perspective", "multi_scale"):
        if float(getattr(args, name, 0.0) or 0.0) > 0:
            return f"{name}={getattr(args, name)} is not implemented on the GPU"
    if getattr(args, "rect", False):
        return "rect=True batches images of different shapes"
    if getattr(args, "task", "detect") != "detect":
        return f"task={args.task}: only boxes are transformed"
    return None


class PadTopLeft:
    """Loader transform: the cached image (long side = imgsz) at the top left of an imgsz x imgsz canvas of FILL;
    its own (h, w) stays in labels['resized_shape'] for the GPU pipeline."""

    def __init__(self, imgsz: int):
        self.imgsz = imgsz

    def __call__(self, labels: dict[str, Any]) -> dict[str, Any]:
        img = labels["img"]
        h, w = img.shape[:2]
        canvas = np.full((self.imgsz, self.imgsz, img.shape[2]), FILL, dtype=np.uint8)
        canvas[:h, :w] = img
        labels["img"] = canvas
        labels["resized_shape"] = (h, w)
        inst = labels["instances"]
        inst.convert_bbox(format="xywh")
        if inst.normalized:
            inst.denormalize(w, h)  # pixels of the image = pixels of the canvas; Format normalises by the canvas
        return labels


def adopt(dataset: Any) -> Any:
    """Turn an Ultralytics training dataset into one for the GPU pipeline: no augmentation in the workers (the
    cached image padded, Format for the boxes), and a close_mosaic that leaves the workers alone (the trainer switches
    mosaic off on the GPU)."""
    from ultralytics.data.augment import Compose, Format

    dataset.transforms = Compose([PadTopLeft(dataset.imgsz),
                                  Format(bbox_format="xywh", normalize=True, return_mask=False,
                                         return_keypoint=False, return_obb=False, batch_idx=True, bgr=0.0)])
    dataset.close_mosaic = lambda hyp=None: None
    dataset.gpu_augment = True
    return dataset
