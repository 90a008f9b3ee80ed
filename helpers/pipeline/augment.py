"""Ultralytics' training augmentation as batched tensor ops on the training device: mosaic, the random affine
(degrees, translate, scale, shear), horizontal/vertical flip and HSV, with the boxes transformed and filtered as
Ultralytics does. The CPU's part is only handing over indices into the set stored by `helpers.pipeline.store` (or, in
the parity tests, a batch Ultralytics' loader collated without augmenting it).

One pass per batch (`render`): for every output pixel the composed transform (flip, then the inverse affine, then
the mosaic layout) gives a tile and a source coordinate, read with four bilinear taps from that tile's image, with
Ultralytics' fill value 114 outside every tile, then HSV; only gathers and element-wise maths, so `torch.compile`
makes one kernel of it. The images come from one batch (partners from the same batch) or from a
resident store of the whole training set (`helpers.pipeline.store`; partners from the whole set, as Ultralytics
draws them). Box maths follow `ultralytics.data.augment.Mosaic` and `RandomPerspective` (corners transformed,
min/max, clipped, `box_candidates`).
Runs on any device, so the parity tests run on the CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import torch

FILL = 114
EAGER_CHUNK = 32  # images rendered at once by the uncompiled pixel pass on a GPU


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

    def __call__(self, batch: dict[str, Any], gen: torch.Generator | None = None, *,
                 out_dtype: torch.dtype = torch.float32) -> dict[str, Any]:
        """Augment a collated batch from the loader's workers: 'img' uint8 (B, 3, S, S) with each image at the top
        left and its (h, w) in 'resized_shape'; 'bboxes' normalised xywh on the S x S canvas, 'cls', 'batch_idx'.
        Mosaic partners come from the same batch. Returns 'img' as float in [0, 1] and the augmented boxes."""
        img = batch["img"]
        dev = img.device
        hw = torch.as_tensor([tuple(x) for x in batch["resized_shape"]], dtype=torch.float32, device=dev)
        boxes = BoxSource.from_batch(batch, img.shape[0], float(self.imgsz), dev)
        b = img.shape[0]
        pool = torch.arange(b, device=dev)
        out = self.augment(img.permute(0, 2, 3, 1), hw, boxes, pool, pool, gen, out_dtype=out_dtype)
        batch.update(out)
        batch["batch_idx"] = out["batch_idx"].to(torch.float32)
        return batch

    def augment(self, images: torch.Tensor, hw: torch.Tensor, boxes: "BoxSource", sample: torch.Tensor,
                pool: torch.Tensor, gen: torch.Generator | None = None, *, out_dtype: torch.dtype = torch.float32,
                channels_last: bool = False, compiled: bool = False) -> dict[str, torch.Tensor]:
        """One augmented batch: output image i shows `images[sample[i]]` (mosaic partners drawn from `pool`).

        images: (M, S, S, 3) uint8 RGB, each image at the top left of FILL; hw: (M, 2) its (h, w); boxes: the
        images' boxes in pixels. Returns {'img' (B, 3, S, S) in [0, 1], 'bboxes' normalised xywh, 'cls',
        'batch_idx'}. Full precision for the geometry even inside Ultralytics' autocast (the matrices are
        inverted; positions in half precision would be off by up to a third of a pixel)."""
        with torch.autocast(images.device.type, enabled=False):
            return self._augment(images, hw, boxes, sample, pool, gen, out_dtype, channels_last, compiled)

    def _augment(self, images, hw, boxes, sample, pool, gen, out_dtype, channels_last, compiled):
        dev, s = images.device, self.imgsz
        b = sample.shape[0]
        rnd = lambda *shape: torch.rand(*shape, generator=gen, device=gen.device if gen else "cpu").to(dev)  # noqa: E731

        # --- layout: which image each tile shows and where it sits on the canvas ------------------------------------
        mosaic = rnd(b) < self.mosaic
        partners = pool[torch.floor(rnd(b, 3) * pool.numel()).long().clamp_(max=pool.numel() - 1)]
        src = torch.cat([sample[:, None], partners], 1)  # (B, 4): tile t shows image src[:, t]
        src[~mosaic, 1:] = -1  # a plain sample has one tile
        centre = (0.5 + rnd(b, 2)) * s  # mosaic centre (xc, yc) in [s/2, 3s/2): Mosaic's border of -s/2
        tile_hw = hw[src.clamp(min=0)]  # (B, 4, 2) as (h, w)
        offset, canvas = self._layout(mosaic, tile_hw, centre)  # (B, 4, 2) tile origin, (B, 2) canvas size (w, h)

        # --- the affine of RandomPerspective, then the flips ---------------------------------------------------------
        m, gain = self._affine(b, canvas, rnd)  # (B, 3, 3) canvas -> output pixels, (B,) scale
        flip_x = rnd(b) < self.fliplr
        flip_y = rnd(b) < self.flipud
        flip = torch.eye(3, device=dev).repeat(b, 1, 1)  # pixel u shows u' = s - 1 - u, as np.fliplr
        flip[flip_x, 0, 0], flip[flip_x, 0, 2] = -1.0, float(s - 1)
        flip[flip_y, 1, 1], flip[flip_y, 1, 2] = -1.0, float(s - 1)
        inv = torch.linalg.inv(flip @ m)  # flipped output -> canvas
        gains = self._gains(b, rnd, dev)

        if compiled:  # one fused kernel: no full-batch intermediates
            out = compiled_render()(images, src, tile_hw, offset, canvas, inv, gains, out_dtype, channels_last)
        else:  # eager: about 30 full-size float intermediates, so a GPU renders a few dozen images at a time
            step = b if dev.type == "cpu" else EAGER_CHUNK
            parts = [render(images, src[j:j + step], tile_hw[j:j + step], offset[j:j + step], canvas[j:j + step],
                            inv[j:j + step], None if gains is None else gains[j:j + step], out_dtype, channels_last)
                     for j in range(0, b, step)]
            out = parts[0] if len(parts) == 1 else torch.cat(parts)
            if channels_last and len(parts) > 1:
                out = out.contiguous(memory_format=torch.channels_last)
        box, keep_cls, keep_idx = self._boxes(boxes, src, offset, canvas, m, gain, mosaic)
        box = self._flip_boxes(box, keep_idx, flip_x, flip_y)
        return {"img": out, "bboxes": box, "cls": keep_cls, "batch_idx": keep_idx}

    # ------------------------------------------------------------------------------------------------ layout
    def _layout(self, mosaic: torch.Tensor, size: torch.Tensor, centre: torch.Tensor):
        """Per sample and tile: the canvas position of the tile image's top-left pixel (Mosaic's padw/padh)."""
        s = self.imgsz
        b = size.shape[0]
        h, w = size[..., 0], size[..., 1]
        xc, yc = centre[:, 0:1].floor(), centre[:, 1:2].floor()
        ox = torch.stack([xc[:, 0] - w[:, 0], xc[:, 0], xc[:, 0] - w[:, 2], xc[:, 0]], 1)
        oy = torch.stack([yc[:, 0] - h[:, 0], yc[:, 0] - h[:, 1], yc[:, 0], yc[:, 0]], 1)
        offset = torch.stack([ox, oy], -1)  # (B, 4, 2) x, y
        offset[~mosaic] = 0.0  # a plain sample: the image itself is the canvas
        canvas = torch.where(mosaic[:, None], torch.full((b, 2), 2.0 * s, device=size.device), size[:, 0, [1, 0]])
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

    def _gains(self, b: int, rnd, dev) -> torch.Tensor | None:
        """RandomHSV's per-image gains U(-1, 1) * (hsv_h, hsv_s, hsv_v), or None when all three are 0."""
        if not (self.hsv_h or self.hsv_s or self.hsv_v):
            return None
        return (rnd(b, 3) * 2 - 1) * torch.tensor([self.hsv_h, self.hsv_s, self.hsv_v], device=dev)

    def _hsv(self, img: torch.Tensor, rnd) -> torch.Tensor:
        """RandomHSV on a (B, 3, H, W) float batch in [0, 1] (the pixel kernel applies the same `hsv_shift`)."""
        gains = self._gains(img.shape[0], rnd, img.device)
        if gains is None:
            return img.float()
        g = gains[:, :, None, None]
        return torch.stack(hsv_shift(img[:, 0], img[:, 1], img[:, 2], g[:, 0], g[:, 1], g[:, 2]), 1)

    # ------------------------------------------------------------------------------------------------ boxes
    def _boxes(self, boxes: "BoxSource", src: torch.Tensor, offset: torch.Tensor, canvas: torch.Tensor,
               m: torch.Tensor, gain: torch.Tensor, mosaic: torch.Tensor):
        """Each output sample's boxes: its tiles' boxes moved onto the canvas (clipped, zero-area removed, as
        Mosaic does), through the affine (corners, min/max, clipped to the output) and filtered by box_candidates."""
        s = float(self.imgsz)
        out_idx, out_box, out_cls = [], [], []
        for t in range(src.shape[1]):
            i, n = boxes.select(src[:, t])  # sample i takes box n (the boxes of image src[i, t])
            if i.numel() == 0:
                continue
            out_idx.append(i)
            out_box.append(boxes.xyxy[n] + offset[i, t].repeat(1, 2))
            out_cls.append(boxes.cls[n])
        if not out_idx:
            return boxes.xyxy.new_zeros((0, 4)), boxes.cls[:0], src.new_zeros((0,))
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


@dataclass(frozen=True)
class BoxSource:
    """The boxes of a set of images, grouped by image: image j owns rows offsets[j]:offsets[j + 1] of `xyxy`
    (pixels of its S x S canvas) and `cls`."""

    offsets: torch.Tensor  # (M + 1,) long
    xyxy: torch.Tensor  # (K, 4) float
    cls: torch.Tensor  # (K, 1)

    @classmethod
    def from_batch(cls, batch: dict[str, Any], b: int, s: float, dev: torch.device) -> "BoxSource":
        """From a collated batch ('bboxes' normalised xywh on the S x S canvas, 'batch_idx')."""
        idx = batch["batch_idx"].to(dev).long()
        order = torch.argsort(idx, stable=True)
        xywh = batch["bboxes"].to(dev).float()[order] * s
        counts = torch.bincount(idx, minlength=b)
        return cls.from_counts(counts, torch.cat([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1),
                               batch["cls"].to(dev)[order])

    @classmethod
    def from_counts(cls, counts: torch.Tensor, xyxy: torch.Tensor, labels: torch.Tensor) -> "BoxSource":
        offsets = torch.zeros(counts.numel() + 1, dtype=torch.long, device=counts.device)
        offsets[1:] = torch.cumsum(counts, 0)
        return cls(offsets, xyxy, labels)

    def select(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(i, n): for every entry i of `images` (image indices, -1 for none), each of that image's box rows n."""
        k = images.clamp(min=0)
        counts = (self.offsets[k + 1] - self.offsets[k]) * (images >= 0)
        total = int(counts.sum())
        i = torch.repeat_interleave(torch.arange(images.numel(), device=images.device), counts, output_size=total)
        first = torch.cumsum(counts, 0) - counts
        n = self.offsets[k][i] + torch.arange(total, device=images.device) - first[i]
        return i, n


def hsv_shift(r: torch.Tensor, g: torch.Tensor, b: torch.Tensor, gh: torch.Tensor, gs: torch.Tensor,
              gv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """RandomHSV on float channels in [0, 1]: hue shifted by gh of a turn, saturation and value scaled by 1 + gs and
    1 + gv (each gain broadcast per image)."""
    v = torch.maximum(torch.maximum(r, g), b)
    delta = v - torch.minimum(torch.minimum(r, g), b)
    safe = delta.clamp(min=1e-4)
    hue = torch.where(v == r, (g - b) / safe, torch.where(v == g, 2 + (b - r) / safe, 4 + (r - g) / safe))
    hue = torch.where(delta > 0, hue, torch.zeros_like(hue))  # in sixths of a turn, -1..5
    hue = (hue + 6 * gh).remainder(6)
    sat = (delta / v.clamp(min=1e-4) * (1 + gs)).clamp(0, 1)
    v = (v * (1 + gv)).clamp(0, 1)
    # hsv -> rgb: channel n = v - v*s*clamp(min(k, 4 - k), 0, 1) with k = (n + hue) mod 6, n = 5, 3, 1
    vs = v * sat
    out = []
    for n in (5, 3, 1):
        k = (hue + n).remainder(6)
        out.append(v - vs * torch.minimum(k, 4 - k).clamp(0, 1))
    return out[0], out[1], out[2]


def render(images: torch.Tensor, src: torch.Tensor, tile_hw: torch.Tensor, offset: torch.Tensor, canvas: torch.Tensor,
           inv: torch.Tensor, gains: torch.Tensor | None, out_dtype: torch.dtype = torch.float32,
           channels_last: bool = False) -> torch.Tensor:
    """Every output pixel in one pass: its canvas position (`inv`), the mosaic tile there, four bilinear taps of that
    tile's image (as cv2.warpAffine; border-clamped inside the padded S x S image), FILL outside every tile, then
    RandomHSV. Only gathers and element-wise maths, so torch.compile fuses it into one kernel; eager it runs on any
    device (the parity tests run it on the CPU).

    images: (M, S, S, 3) uint8; src: (B, 4) image of each tile (-1: none); tile_hw: (B, 4, 2) the tiles' (h, w);
    offset: (B, 4, 2) their canvas origins; canvas: (B, 2) (w, h); inv: (B, 3, 3) output -> canvas; gains: (B, 3)."""
    m, s = images.shape[0], images.shape[1]
    b, dev = src.shape[0], src.device
    xs = torch.arange(s, device=dev, dtype=torch.float32).view(1, 1, s)
    ys = torch.arange(s, device=dev, dtype=torch.float32).view(1, s, 1)
    a = inv[:, :2, :].reshape(b, 6, 1, 1)
    cx = a[:, 0] * xs + a[:, 1] * ys + a[:, 2]  # (B, S, S) canvas position of each output pixel centre
    cy = a[:, 3] * xs + a[:, 4] * ys + a[:, 5]
    inside = ((cx >= -0.5) & (cx < canvas[:, 0, None, None] - 0.5) &  # pixel centres at integer coordinates
              (cy >= -0.5) & (cy < canvas[:, 1, None, None] - 0.5))
    # the mosaic quadrant around the centre = tile 0..3 (the centre is where tile 1's and tile 2's corners meet)
    xc, yc = offset[:, 1, 0, None, None], offset[:, 2, 1, None, None]
    tile = ((cx >= xc).long() + 2 * (cy >= yc).long()) * (src[:, 1, None, None] >= 0).long()  # plain samples: tile 0
    flat = tile + 4 * torch.arange(b, device=dev).view(b, 1, 1)
    k = src.reshape(-1)[flat]
    tx = cx - offset[..., 0].reshape(-1)[flat]
    ty = cy - offset[..., 1].reshape(-1)[flat]
    h, w = tile_hw[..., 0].reshape(-1)[flat], tile_hw[..., 1].reshape(-1)[flat]
    valid = inside & (k >= 0) & (tx >= -0.5) & (tx < w - 0.5) & (ty >= -0.5) & (ty < h - 0.5)
    # bilinear with border clamping inside the padded image, as grid_sample(padding_mode="border")
    px, py = tx.clamp(0, s - 1), ty.clamp(0, s - 1)
    x0, y0 = px.floor(), py.floor()
    fx, fy = px - x0, py - y0
    x0i, y0i = x0.long(), y0.long()
    x1i, y1i = (x0i + 1).clamp(max=s - 1), (y0i + 1).clamp(max=s - 1)
    base = k.clamp(0, m - 1) * (s * s)
    flat_img = images.reshape(-1)
    taps = [((base + yy * s + xx) * 3, wgt) for yy, xx, wgt in ((y0i, x0i, (1 - fx) * (1 - fy)), (y0i, x1i, fx * (1 - fy)),
                                                              (y1i, x0i, (1 - fx) * fy), (y1i, x1i, fx * fy))]
    chans = []
    for c in range(3):
        val = sum(flat_img[p + c].float() * wgt for p, wgt in taps)
        chans.append(torch.where(valid, val, torch.full_like(val, float(FILL))) / 255)
    r, g, bl = chans
    if gains is not None:
        gg = gains.view(b, 3, 1, 1)
        r, g, bl = hsv_shift(r, g, bl, gg[:, 0], gg[:, 1], gg[:, 2])
    if channels_last:
        return torch.stack([r, g, bl], -1).to(out_dtype).permute(0, 3, 1, 2)
    return torch.stack([r, g, bl], 1).to(out_dtype)


_COMPILED: dict[str, Any] = {}


def compiled_render():
    """`render` through torch.compile (static shapes, one fused kernel per batch shape; the first call of a shape
    compiles, later runs of the same shape reuse Inductor's on-disk cache)."""
    if "fn" not in _COMPILED:
        _COMPILED["fn"] = torch.compile(render, dynamic=False)
    return _COMPILED["fn"]


def unsupported(args: Any, dataset: Any = None) -> str | None:
    """Why the batched pipeline cannot stand in for Ultralytics' own for these arguments (and this dataset), or None.
    (On a CPU it runs too, in the training process instead of the loader's workers: useful for checking it, not for
    speed.)"""
    if dataset is not None and float(getattr(args, "copy_paste", 0.0) or 0.0) > 0 and \
            any(len(lb.get("segments", [])) for lb in getattr(dataset, "labels", [])):
        return f"copy_paste={args.copy_paste} pastes segments, which the GPU pipeline does not do"
    for name in ("mixup", "cutmix", "perspective", "multi_scale"):
        if float(getattr(args, name, 0.0) or 0.0) > 0:
            return f"{name}={getattr(args, name)} is not implemented on the GPU"
    if float(getattr(args, "bgr", 0.0) or 0.0) > 0:
        return f"bgr={args.bgr} (channel swaps) is not implemented on the GPU"
    if getattr(args, "augmentations", None):
        return "custom augmentations= run in the loader's workers"
    if dataset is not None and int(getattr(dataset, "data", {}).get("channels", 3) or 3) != 3:
        return f"channels={dataset.data.get('channels')}: the GPU pipeline stores 3-channel images"
    if getattr(args, "rect", False):
        return "rect=True batches images of different shapes"
    if getattr(args, "task", "detect") != "detect":
        return f"task={args.task}: only boxes are transformed"
    return None
