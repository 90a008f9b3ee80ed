"""Export over Ultralytics' exporter: ONNX, and TensorRT engines where TensorRT's builder is installed.

Ultralytics 8.4 names precision with `quantize` (16 = fp16, 8 = int8 with a calibration `data=`); its old `half=` /
`int8=` arguments are deprecated. TensorRT needs NVIDIA's full `tensorrt` package (the builder) and a CUDA GPU; the
lean runtime wheel cannot build engines. `engine_status()` says which is missing before any export starts.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRT_INSTALL = ("pip install tensorrt-cu12  # or tensorrt-cu13 for a CUDA 13 driver; the real builder comes from "
               "NVIDIA's package host (pypi.nvidia.com), so this needs network access to it")


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
