"""Run an exported model and its PyTorch original on the same input: preprocessing as Ultralytics predicts,
the fused PyTorch model, an ONNX Runtime session, and each one's raw head output."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


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


def detections(weights: str | Path, images: Sequence[np.ndarray], imgsz: int, device: str = "cpu") -> list:
    """Ultralytics' own predictions (its pre- and post-processing) of a .pt, or of an exported .onnx run through
    ONNX Runtime, on BGR images."""
    from ultralytics import YOLO

    model = YOLO(str(weights), task="detect") if str(weights).endswith(".onnx") else YOLO(str(weights))
    return model.predict(list(images), imgsz=imgsz, device=device, verbose=False)
