"""Inference latency per backend and batch size (median, p90, images/s), its table and plot, the quoted YOLOv12
T4 TensorRT figures (labelled as quoted, on their own), and the reading of a record's fp16-vs-fp32 rows.

Units: a timed call runs one whole batch, so `median_ms` / `p90_ms` are milliseconds **per batch**; the table shows
them beside milliseconds **per image** (per batch / batch size), and the plot shows ms per image, so batch sizes
compare on one axis. Every figure is one forward pass only (see WHAT)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

# Widely quoted YOLOv12 latencies (YOLOv12 authors' table: T4 GPU, TensorRT FP16, batch 1, 640 px). Not measured here.
REFERENCE_T4_TRT_MS = {"yolo12n": 1.60, "yolo12s": 2.42, "yolo12l": 5.83, "yolo12x": 10.38}
REFERENCE_T4_TRT = {"device": "NVIDIA T4", "runtime": "TensorRT fp16", "batch": 1, "imgsz": 640,
                    "source": "quoted from the YOLOv12 authors' table; not measured in this workbook"}

# What every latency figure here includes, for table titles and the plot's axis.
WHAT = "forward pass only: input already on the device, no decode, letterbox or NMS"


@dataclass
class Latency:
    backend: str
    batch: int
    times_ms: list[float] = field(repr=False)

    @property
    def median_ms(self) -> float:
        return float(np.median(self.times_ms))

    @property
    def p90_ms(self) -> float:
        return float(np.percentile(self.times_ms, 90))

    @property
    def img_s(self) -> float:
        return self.batch / self.median_ms * 1000

    def row(self) -> dict[str, Any]:
        return {"backend": self.backend, "batch": self.batch, "median_ms": round(self.median_ms, 3),
                "p90_ms": round(self.p90_ms, 3), "img_s": round(self.img_s, 1), "runs": len(self.times_ms)}


def time_calls(fn, warmup: int, iters: int, sync=None, budget_s: float | None = None) -> list[float]:
    """Milliseconds per call after `warmup` calls; stops early (keeping >= 5 samples) when `budget_s` runs out."""
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    times, start = [], time.perf_counter()
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append((time.perf_counter() - t) * 1000)
        if budget_s and len(times) >= 5 and time.perf_counter() - start > budget_s:
            break
    return times


def bench_torch(model, batch: int, imgsz: int, *, warmup: int = 10, iters: int = 50, budget_s: float | None = None,
                label: str | None = None) -> Latency:
    """Forward latency of a (fused, eval) PyTorch model on its own device and dtype, random input."""
    import torch

    p = next(model.parameters())
    x = torch.rand(batch, 3, imgsz, imgsz, device=p.device, dtype=p.dtype)
    sync = torch.cuda.synchronize if p.device.type == "cuda" else None

    def call():
        with torch.inference_mode():
            model(x)

    name = label or f"pytorch {p.device.type} {'fp16' if p.dtype == torch.float16 else 'fp32'}"
    return Latency(name, batch, time_calls(call, warmup, iters, sync, budget_s))


def bench_ort(session, batch: int, imgsz: int, *, warmup: int = 10, iters: int = 50, budget_s: float | None = None,
              label: str | None = None) -> Latency:
    inp = session.get_inputs()[0]
    x = np.random.default_rng(0).random((batch, 3, imgsz, imgsz), dtype=np.float32)
    if "float16" in inp.type:
        x = x.astype(np.float16)
    name = label or f"onnxruntime {session.get_providers()[0].replace('ExecutionProvider', '').lower()}"
    return Latency(name, batch, time_calls(lambda: session.run(None, {inp.name: x}), warmup, iters, None, budget_s))


def per_image_ms(row: dict[str, Any], key: str = "median_ms") -> float:
    """A row's per-batch time (`median_ms` or `p90_ms`) as milliseconds per image."""
    return row[key] / row["batch"]


def latency_table(rows: Sequence[dict[str, Any]], title: str = ""):
    """One row per (backend, batch): median and p90 in ms per batch, the median in ms per image, and images/s; the
    title says what the times include."""
    from helpers.core.tables import Table

    title = f"{title} ({WHAT})" if title else WHAT
    return Table(("backend", "batch", "median ms per batch", "p90 ms per batch", "median ms per image", "img/s"),
                 [(r["backend"], r["batch"], f"{r['median_ms']:.2f}", f"{r['p90_ms']:.2f}",
                   f"{per_image_ms(r):.3g}", f"{r['img_s']:.0f}") for r in rows], title)


def reference_table():
    """The quoted YOLOv12 T4 TensorRT latencies on their own, each row naming its device, runtime and source, so
    that no measured figure of another machine is set beside them."""
    from helpers.core.tables import Table

    ref = REFERENCE_T4_TRT
    return Table(("model", "device", "runtime", "batch", "input", "ms per image", "source"),
                 [(m, ref["device"], ref["runtime"], ref["batch"], f"{ref['imgsz']} px", f"{ms:.2f}", ref["source"])
                  for m, ms in REFERENCE_T4_TRT_MS.items()],
                 "quoted, not measured here: YOLOv12 authors' T4 TensorRT latencies")


def fp16_reading(rows: Sequence[dict[str, Any]], device: str, level: float = 0.05) -> str:
    """One sentence on a record's eager fp16 against eager fp32 rows (`pytorch cuda fp16` / `pytorch cuda fp32`):
    at which batch sizes fp16 was slower, about level (within `level`) or faster, with both medians in ms per image,
    and, where it was not faster, the likely reason, said to be likely (the record does not measure it)."""
    from helpers.core.tables import listing

    ms = {(r["backend"], r["batch"]): r for r in rows}
    both = sorted(b for (k, b) in ms if k == "pytorch cuda fp16" and ("pytorch cuda fp32", b) in ms)
    if not both:
        return ""

    def ratio(b: int) -> float:
        return ms[("pytorch cuda fp16", b)]["median_ms"] / ms[("pytorch cuda fp32", b)]["median_ms"]

    def pair(b: int) -> str:
        h, f = ms[("pytorch cuda fp16", b)], ms[("pytorch cuda fp32", b)]
        return f"{per_image_ms(h):.3g} against {per_image_ms(f):.3g} ms per image"

    groups = {"slower than": [b for b in both if ratio(b) > 1 + level],
              "about level with": [b for b in both if abs(ratio(b) - 1) <= level],
              "faster than": [b for b in both if ratio(b) < 1 - level]}
    parts = [f"{word} fp32 at batch {b} ({pair(b)})" for word, bs in groups.items() for b in bs]
    text = f"On {device} (recorded), eager PyTorch fp16 was " + listing(parts)
    if not groups["slower than"] and not groups["about level with"]:
        return text + "."
    return (text + ": likely (the record does not measure why) because at small batches an eager step is bound by "
            "kernel launches and other per-call overhead rather than by arithmetic, so half precision's cheaper "
            "arithmetic does not show, while the casts between precisions add work of their own.")


def plot_latency(rows: Sequence[dict[str, Any]], title: str = ""):
    """Median latency in ms per image (per-batch time / batch size; bars: one group per batch size, one bar per
    backend), log scale; the axis label says the unit and what the time includes."""
    import matplotlib.pyplot as plt

    backends = list(dict.fromkeys(r["backend"] for r in rows))
    batches = sorted({r["batch"] for r in rows})
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    w = 0.8 / max(len(backends), 1)
    every = [r["median_ms"] / r["batch"] for r in rows if r["median_ms"] > 0]
    for k, b in enumerate(backends):
        xs, ys = [], []
        for i, n in enumerate(batches):
            r = next((r for r in rows if r["backend"] == b and r["batch"] == n), None)
            if r:
                xs.append(i + k * w)
                ys.append(r["median_ms"] / n)
        bars = ax.bar(xs, ys, w, label=b)
        ax.bar_label(bars, fmt="%.3g", fontsize=6, padding=1)
    ax.set_xticks([i + w * (len(backends) - 1) / 2 for i in range(len(batches))], [f"batch {n}" for n in batches])
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 0.5, 1, 2, 5 ... not 5x10^-1
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    if every:  # bars start well below the shortest and leave room above the tallest for its label and the legend
        ax.set_ylim(min(every) / 4, max(every) * 4)
    ax.set_ylabel("median ms per image\n(batch time / batch size)", fontsize=9)
    ax.set_xlabel(WHAT, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig
