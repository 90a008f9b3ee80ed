"""Export over Ultralytics' exporter (ONNX; TensorRT where it is installed), parity between backends, and latency.

Ultralytics 8.4 names precision with `quantize` (16 = fp16, 8 = int8 with a calibration `data=`); its old `half=` /
`int8=` arguments are deprecated. TensorRT needs NVIDIA's full `tensorrt` package (the builder) and a CUDA GPU; the
lean runtime wheel cannot build engines. `engine_status()` says which is missing before any export starts.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

TRT_INSTALL = ("pip install tensorrt-cu12  # or tensorrt-cu13 for a CUDA 13 driver; the real builder comes from "
               "NVIDIA's package host (pypi.nvidia.com), so this needs network access to it")

# Widely quoted YOLOv12 latencies (YOLOv12 authors' table: T4 GPU, TensorRT FP16, batch 1, 640 px). Not measured here.
REFERENCE_T4_TRT_MS = {"yolo12n": 1.60, "yolo12s": 2.42, "yolo12l": 5.83, "yolo12x": 10.38}


class ExportUnavailable(RuntimeError):
    """An export format cannot run on this machine; the message says what is missing and how to install it."""


@dataclass(frozen=True)
class Artifact:
    path: Path
    format: str
    meta: dict[str, Any]

    @property
    def mib(self) -> float:
        return self.path.stat().st_size / 2**20


def engine_status() -> tuple[bool, str]:
    """(can build a TensorRT engine here, why): needs the `tensorrt` builder and a CUDA GPU."""
    if importlib.util.find_spec("tensorrt") is None:
        return False, f"the `tensorrt` package is not installed. Install it with: {TRT_INSTALL}"
    try:
        import tensorrt as trt
    except Exception as e:  # a stub or broken install
        return False, f"`import tensorrt` failed ({type(e).__name__}: {e}). Reinstall with: {TRT_INSTALL}"
    if not hasattr(trt, "Builder"):
        return False, (f"tensorrt {getattr(trt, '__version__', '?')} has no Builder (the lean/dispatch runtime only "
                       f"runs engines, it cannot build them). Install the full package: {TRT_INSTALL}")
    import torch

    if not torch.cuda.is_available():
        return False, "TensorRT builds engines on a CUDA GPU and torch sees none here"
    return True, f"tensorrt {trt.__version__} with a builder, GPU {torch.cuda.get_device_name(0)}"


def _staged(weights: str | Path, out_dir: str | Path | None) -> Path:
    """A copy of the checkpoint in `out_dir` (default runs/export): Ultralytics writes exports beside the .pt, and
    the shipped weights folder must stay clean."""
    import shutil

    from helpers.core import paths

    src = Path(weights)
    out = Path(out_dir) if out_dir else paths.runs_dir() / "export"
    out.mkdir(parents=True, exist_ok=True)
    dst = out / src.name
    if dst.resolve() != src.resolve():
        shutil.copyfile(src, dst)
    return dst


def export_onnx(weights: str | Path, imgsz: int, *, dynamic: bool = True, simplify: bool = True,
                opset: int | None = None, fp16: bool = False, out_dir: str | Path | None = None) -> Artifact:
    """Ultralytics' ONNX export into `out_dir` (fp16 only on a GPU: Ultralytics exports fp16 ONNX from CUDA only)."""
    import torch
    from ultralytics import YOLO

    from helpers.core.logs import quiet

    if fp16 and not torch.cuda.is_available():
        raise ExportUnavailable("fp16 ONNX export needs a CUDA GPU (Ultralytics traces it there); export fp32 on CPU")
    args = dict(format="onnx", imgsz=imgsz, dynamic=dynamic, simplify=simplify, opset=opset,
                device=0 if fp16 else "cpu")
    if fp16:
        args["quantize"] = 16
    with quiet():
        path = Path(YOLO(str(_staged(weights, out_dir))).export(**args))
    import onnx

    def shapes(values) -> list:  # (name, dims); a dynamic dim shows its symbol, e.g. 'batch'
        return [(v.name, [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]) for v in values]

    m = onnx.load(str(path))
    meta = {"opset": m.opset_import[0].version, "dynamic": dynamic, "simplify": simplify, "fp16": fp16,
            "inputs": shapes(m.graph.input), "outputs": shapes(m.graph.output),
            "metadata": {p.key: p.value for p in m.metadata_props}}
    return Artifact(path, "onnx", meta)


def export_engine(weights: str | Path, imgsz: int, *, fp16: bool = True, int8: bool = False,
                  data: str | Path | None = None, fraction: float = 1.0, workspace: float | None = 4,
                  dynamic: bool = False, batch: int = 1, out_dir: str | Path | None = None) -> Artifact:
    """Ultralytics' TensorRT export (fp16, or int8 calibrated on `data`'s images). Fails early, clearly, without the
    TensorRT builder or a GPU, before Ultralytics would try to pip-install it."""
    ok, why = engine_status()
    if not ok:
        raise ExportUnavailable(f"TensorRT engine export is not possible here: {why}")
    if int8 and not data:
        raise ValueError("int8 needs a calibration dataset: pass data='path/to/data.yaml' (its images are used)")
    from ultralytics import YOLO

    args = dict(format="engine", imgsz=imgsz, device=0, workspace=workspace, dynamic=dynamic, batch=batch,
                quantize=8 if int8 else (16 if fp16 else None))
    if int8:
        args.update(data=str(data), fraction=fraction)
    path = Path(YOLO(str(_staged(weights, out_dir))).export(**args))
    return Artifact(path, "engine", {"fp16": fp16, "int8": int8, "dynamic": dynamic, "batch": batch,
                                     "workspace_gib": workspace})


# --------------------------------------------------------------------------------------------------- parity


def letterbox_batch(images: Sequence[np.ndarray], imgsz: int) -> np.ndarray:
    """BGR uint8 images -> float32 NCHW RGB in [0, 1], letterboxed to imgsz x imgsz as Ultralytics predicts."""
    from ultralytics.data.augment import LetterBox

    lb = LetterBox((imgsz, imgsz), auto=False)
    x = np.stack([lb(image=im) for im in images])[..., ::-1].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x, dtype=np.float32) / 255.0


def torch_model(weights: str | Path, device: str = "cpu", fp16: bool = False):
    """The checkpoint's DetectionModel, fused (as exported), in eval mode."""
    from ultralytics import YOLO

    m = YOLO(str(weights)).model.float().fuse().eval().to(device)
    return m.half() if fp16 else m


def raw_torch(model, x: np.ndarray) -> np.ndarray:
    import torch

    p = next(model.parameters())
    with torch.inference_mode():
        y = model(torch.from_numpy(x).to(p.device, p.dtype))
    return (y[0] if isinstance(y, (list, tuple)) else y).float().cpu().numpy()


def ort_session(path: str | Path, providers: Sequence[str] = ("CPUExecutionProvider",), threads: int | None = None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), so, providers=list(providers))


def raw_ort(session, x: np.ndarray) -> np.ndarray:
    inp = session.get_inputs()[0]
    x = x.astype(np.float16) if "float16" in inp.type else x
    return session.run(None, {inp.name: x})[0].astype(np.float32)


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


# --------------------------------------------------------------------------------------------------- latency


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
    for k, b in enumerate(backends):
        xs, ys = [], []
        for i, n in enumerate(batches):
            r = next((r for r in rows if r["backend"] == b and r["batch"] == n), None)
            if r:
                xs.append(i + k * w)
                ys.append(r["median_ms"] / n)
        ax.bar(xs, ys, w, label=b)
    ax.set_xticks([i + w * (len(backends) - 1) / 2 for i in range(len(batches))], [f"batch {n}" for n in batches])
    ax.set_yscale("log")
    ax.set_ylabel("ms per image (median)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig
