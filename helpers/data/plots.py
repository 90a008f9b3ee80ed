"""Leaf-level drawing for the notebooks (matplotlib only; no Ultralytics plotting, which may want a font download)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from PIL import Image

Box = tuple[int, float, float, float, float]  # class, cx, cy, w, h (normalised)


def class_histogram(counts: Counter, names: Sequence[str], title: str = "Boxes per class", top: int = 30) -> Figure:
    """Bar chart of box counts per class (the `top` most frequent, all when fewer), classes with none marked."""
    ids = sorted(range(len(names)), key=lambda i: -counts.get(i, 0))[:top]
    fig, ax = plt.subplots(figsize=(min(2 + 0.35 * len(ids), 12), 3.2))
    ax.bar([names[i] for i in ids], [counts.get(i, 0) for i in ids], color="#2e86c1")
    absent = sum(1 for i in range(len(names)) if counts.get(i, 0) == 0)
    present = len(names) - absent
    shown = sum(1 for i in ids if counts.get(i, 0))
    some = f"; the {shown} most frequent of {present} present shown" if shown < present else ""
    ax.set_title(f"{title} ({sum(counts.values())} boxes; {absent} of {len(names)} classes absent{some})")
    ax.set_ylabel("boxes")
    ax.tick_params(axis="x", rotation=60 if len(ids) > 8 else 0, labelsize=8)
    fig.tight_layout()
    return fig


def sample_grid(labels: dict[str, list[Box]], names: Sequence[str], n: int = 8, cols: int = 4, title: str = "") -> Figure:
    """The first `n` images with their boxes and class names drawn."""
    items = list(labels.items())[:n]
    rows = max(1, -(-len(items) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax in axes.flat:
        ax.axis("off")
    for ax, (path, boxes) in zip(axes.flat, items):
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((320, 320))  # keeps notebooks small; boxes are normalised, so they still fit
            w, h = im.size
            ax.imshow(im)
        for cls, cx, cy, bw, bh in boxes:
            colour = cmap(cls % 10)
            ax.add_patch(plt.Rectangle(((cx - bw / 2) * w, (cy - bh / 2) * h), bw * w, bh * h,
                                       fill=False, lw=1.5, color=colour))
            ax.text((cx - bw / 2) * w, (cy - bh / 2) * h, names[cls], fontsize=7, color="white",
                    bbox=dict(facecolor=colour, pad=1, lw=0), va="bottom")
        ax.set_title(Path(path).name, fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
