"""A deterministic synthetic detection dataset: coloured shapes with exact YOLO boxes, made offline.

Each image is drawn from its own random stream (seed, split, index), so the same seed gives byte-identical files
whatever the counts, and a dataset of 32 images is the first 32 of one of 2048.
"""

from __future__ import annotations

import json
import os
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle", "cross", "ellipse")
STAMP = "generator.json"


@dataclass(frozen=True)
class SynthSpec:
    """What to generate. Changing any field makes a different dataset."""

    n_train: int = 32
    n_val: int = 8
    imgsz: int = 128
    seed: int = 0
    max_objects: int = 4
    min_size: float = 0.12  # object size as a fraction of the image side
    max_size: float = 0.40
    classes: tuple[str, ...] = CLASSES


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth two-colour gradient with mild noise, so the model cannot key on a flat background."""
    c0, c1 = rng.uniform(30, 225, size=(2, 3))
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    t = (np.cos(angle) * xx + np.sin(angle) * yy + 1.5) / 3.0
    img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    img += rng.normal(0, 8, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _shape_polygon(cls: str, cx: float, cy: float, r: float, aspect: float, rot: float) -> list[tuple[float, float]]:
    """Vertices of a polygonal shape (square, triangle, cross) centred at (cx, cy) with half-size r."""
    if cls == "square":
        pts = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
    elif cls == "triangle":
        pts = [(math.cos(a), math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    elif cls == "cross":
        a = 0.33
        pts = [(-a, -1), (a, -1), (a, -a), (1, -a), (1, a), (a, a), (a, 1), (-a, 1), (-a, a), (-1, a), (-1, -a), (-a, -a)]
        rot = 0.0  # axis-aligned, so the box is exact
    else:
        raise ValueError(cls)
    c, s = math.cos(rot), math.sin(rot)
    return [(cx + r * (x * c - y * s), cy + r * aspect * (x * s + y * c)) for x, y in pts]


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def draw_image(spec: SynthSpec, split: str, index: int) -> tuple[Image.Image, list[tuple[int, float, float, float, float]]]:
    """One image and its YOLO labels (class, cx, cy, w, h normalised), fully determined by (seed, split, index)."""
    rng = np.random.default_rng([spec.seed, 0 if split == "train" else 1, index])
    size = spec.imgsz
    img = Image.fromarray(_background(rng, size))
    draw = ImageDraw.Draw(img)
    boxes: list[tuple[float, float, float, float]] = []
    labels = []
    for _ in range(int(rng.integers(1, spec.max_objects + 1))):
        for _attempt in range(20):
            cls_id = int(rng.integers(len(spec.classes)))
            cls = spec.classes[cls_id]
            r = rng.uniform(spec.min_size, spec.max_size) * size / 2
            aspect = rng.uniform(0.5, 0.8) if cls == "ellipse" else 1.0
            rot = rng.uniform(0, 2 * math.pi)
            cx, cy = rng.uniform(r, size - r), rng.uniform(r, size - r)
            if cls in ("circle", "ellipse"):
                box = (cx - r, cy - r * aspect, cx + r, cy + r * aspect)
                poly = None
            else:
                poly = _shape_polygon(cls, cx, cy, r, aspect, rot)
                xs, ys = [p[0] for p in poly], [p[1] for p in poly]
                box = (min(xs), min(ys), max(xs), max(ys))
            box = (max(box[0], 0.0), max(box[1], 0.0), min(box[2], size - 1.0), min(box[3], size - 1.0))
            if all(_iou(box, b) < 0.2 for b in boxes):
                break
        else:
            continue  # no room for another object
        colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
        if poly is None:
            draw.ellipse(box, fill=colour, outline=(0, 0, 0))
        else:
            draw.polygon(poly, fill=colour, outline=(0, 0, 0))
        boxes.append(box)
        x0, y0, x1, y1 = box
        labels.append((cls_id, (x0 + x1) / 2 / size, (y0 + y1) / 2 / size, (x1 - x0) / size, (y1 - y0) / size))
    return img, labels


def write_yaml(root: Path, names: list[str] | tuple[str, ...], train: str = "images/train", val: str = "images/val") -> Path:
    """A dataset yaml with an absolute `path:`, so Ultralytics resolves it the same from any working directory."""
    out = root / "dataset.yaml"
    data = {"path": str(root.resolve()), "train": train, "val": val, "names": dict(enumerate(names))}
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def _write_one(job: tuple[SynthSpec, Path, str, int]) -> None:
    spec, root, split, i = job
    img, labels = draw_image(spec, split, i)
    stem = f"{split}_{i:06d}"
    img.save(root / "images" / split / f"{stem}.jpg", quality=92)
    lines = [f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}" for c, x, y, w, h in labels]
    (root / "labels" / split / f"{stem}.txt").write_text("\n".join(lines) + "\n")


def generate(root: str | Path, spec: SynthSpec | None = None, *, progress: bool = False) -> Path:
    """Write the dataset under `root` (images/, labels/, dataset.yaml) and return the yaml path.

    Reuses an existing dataset made with the same spec; regenerates when the spec differs. A lock file beside `root`
    makes processes that ask for the same dataset at once (two notebooks, parallel tests) wait for one writer.
    """
    from filelock import FileLock

    spec = spec or SynthSpec()
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root.parent / f".{root.name}.lock")):
        return _generate(root, spec, progress)


def _generate(root: Path, spec: SynthSpec, progress: bool) -> Path:
    """generate() under its lock."""
    stamp = root / STAMP
    wanted = json.dumps(asdict(spec), sort_keys=True)
    if stamp.exists() and stamp.read_text() == wanted and (root / "dataset.yaml").exists():
        return root / "dataset.yaml"
    if root.exists():
        shutil.rmtree(root)
    jobs = [(spec, root, "train", i) for i in range(spec.n_train)] + [(spec, root, "val", i) for i in range(spec.n_val)]
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    workers = min(os.cpu_count() or 1, 16) if len(jobs) >= 256 else 1  # each image has its own RNG: order-free
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(workers)
        done = pool.map(_write_one, jobs, chunksize=32)
    else:
        pool, done = None, map(_write_one, jobs)
    if progress:
        from tqdm.auto import tqdm

        done = tqdm(done, total=len(jobs), desc="synthetic images", unit="img")
    try:
        for _ in done:
            pass
    finally:
        if pool:
            pool.shutdown()
    out = write_yaml(root, spec.classes)
    stamp.write_text(wanted)
    return out
