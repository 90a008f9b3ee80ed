"""Inference latency per backend and batch size (median, p90, images/s), its table and plot, and the quoted
YOLOv12 T4 TensorRT figures to set beside it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

# Widely quoted YOLOv12 latencies (YOLOv12 authors' table: T4 GPU, TensorRT FP16, batch 1, 640 px). Not measured here.
REFERENCE_T4_TRT_MS = {"yolo12n": 1.60, "yolo12s": 2.42, "yolo12l": 5.83, "yolo12x": 10.38}


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


def latency_table(rows: Sequence[dict[str, Any]], title: str = ""):
    from helpers.core.tables import Table

    return Table(("backend", "batch", "median ms", "p90 ms", "img/s"),
                 [(r["backend"], r["batch"], f"{r['median_ms']:.2f}", f"{r['p90_ms']:.2f}", f"{r['img_s']:.0f}")
                  for r in rows], title)


def plot_latency(rows: Sequence[dict[str, Any]], title: str = ""):
    """Median latency per image (bars: one group per batch size, one bar per backend), log scale."""
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
    ax.set_ylabel("ms per image (median)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig
