"""Export: ONNX parity with PyTorch (raw outputs and detections), the TensorRT path's early clear failure, the
detection matcher and latency statistics."""

import importlib.machinery
import sys
import types

import numpy as np
import pytest
import torch

from helpers.deploy import backends, export, latency, parity
from helpers.data import synthetic
from helpers.train import weights


class _Boxes:
    def __init__(self, xyxy, cls, conf):
        self.xyxy, self.cls, self.conf = torch.tensor(xyxy, dtype=torch.float32), torch.tensor(cls), torch.tensor(conf)

    def __len__(self):
        return len(self.cls)


class _Result:
    def __init__(self, *args):
        self.boxes = _Boxes(*args) if args else _Boxes(np.zeros((0, 4)), [], [])


def test_detection_matching_counts_misses_class_flips_and_score_drift():
    ref = [_Result([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 1], [0.9, 0.8]), _Result()]
    same = [_Result([[20, 20, 30, 30], [0, 0, 10, 10]], [1, 0], [0.8, 0.9]), _Result()]
    d = parity.compare_detections(ref, same)
    assert (d.matched, d.same_class, d.recall, d.ok()) == (2, 2, 1.0, True)
    moved = [_Result([[0, 0, 10, 10], [26, 26, 36, 36]], [0, 1], [0.9, 0.8]), _Result()]  # IoU 0.16 < 0.5
    d = parity.compare_detections(ref, moved)
    assert d.matched == 1 and d.recall == 0.5 and not d.ok()
    flipped = [_Result([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 2], [0.9, 0.75]), _Result()]
    d = parity.compare_detections(ref, flipped)
    assert d.matched == 2 and d.same_class == 1 and d.max_score_diff == pytest.approx(0.05) and not d.ok()


def test_raw_comparison_splits_boxes_and_scores():
    ref = np.zeros((1, 6, 4), np.float32)
    ref[:, :4] = 100.0
    other = ref.copy()
    other[0, 0, 0] += 0.01  # 1e-4 relative on boxes
    other[0, 5, 1] += 0.003  # a class score
    r = parity.compare_raw(ref, other)
    assert r.box_abs == pytest.approx(0.01, rel=1e-3) and r.box_rel == pytest.approx(1e-4, rel=1e-3)
    assert r.score_abs == pytest.approx(0.003, rel=1e-3)
    assert r.ok(2e-4, 5e-3) and not r.ok(2e-4, 1e-3) and not r.ok(5e-5, 5e-3)
    with pytest.raises(ValueError, match="shapes differ"):
        parity.compare_raw(ref, ref[:, :5])


def test_latency_statistics():
    lat = latency.Latency("x", 8, [10.0, 12.0, 11.0, 30.0, 10.0])
    assert lat.median_ms == 11.0 and lat.img_s == pytest.approx(8 / 11 * 1000)
    assert lat.p90_ms == pytest.approx(np.percentile([10, 12, 11, 30, 10], 90))
    calls = []
    times = latency.time_calls(lambda: calls.append(1), warmup=2, iters=7)
    assert len(calls) == 9 and len(times) == 7


def test_tensorrt_missing_fails_early_with_the_install_step(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # as if not installed
    monkeypatch.setattr(export.importlib.util, "find_spec", lambda name: None)
    ok, why = export.engine_status()
    assert not ok and "pip install tensorrt" in why
    with pytest.raises(export.ExportUnavailable, match="pip install tensorrt"):
        export.export_engine("does-not-matter.pt", 640)


def test_tensorrt_runtime_without_builder_is_named(monkeypatch):
    lean = types.ModuleType("tensorrt")
    lean.__version__ = "10.x-lean"
    lean.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)
    monkeypatch.setitem(sys.modules, "tensorrt", lean)
    ok, why = export.engine_status()
    assert not ok and "no Builder" in why and "10.x-lean" in why


@pytest.mark.slow
def test_onnx_export_matches_pytorch(tmp_path):
    pt = weights.starter_for("yolo12n.yaml", 128).path
    art = export.export_onnx(pt, 128, dynamic=True, out_dir=tmp_path)
    assert art.path.parent == tmp_path and art.meta["inputs"][0][1][0] == "batch"
    assert not (weights.WEIGHTS_DIR / f"{pt.stem}.onnx").exists()  # the shipped folder stays clean
    data = synthetic.generate(tmp_path / "d", synthetic.SynthSpec(n_train=1, n_val=6, imgsz=128, seed=11))
    import cv2
    from ultralytics import YOLO

    imgs = [cv2.imread(str(p)) for p in sorted((data.parent / "images" / "val").iterdir())]
    x = backends.letterbox_batch(imgs, 128)
    sess = backends.ort_session(art.path)
    ref = backends.raw_torch(backends.torch_model(pt), x)
    raw = parity.compare_raw(ref, backends.raw_ort(sess, x))
    assert raw.shape == (6, 9, 336) and raw.ok(1e-4, 1e-4), raw
    for b in (1, 3):  # dynamic batch
        assert backends.raw_ort(sess, x[:b]).shape == (b, 9, 336)
    det = parity.compare_detections(YOLO(str(pt)).predict(imgs, imgsz=128, device="cpu", verbose=False),
                                    YOLO(str(art.path), task="detect").predict(imgs, imgsz=128, verbose=False))
    assert det.ref_boxes > 0 and det.ok(), det
    # a perturbed model is caught: the tolerance is not vacuous
    m = backends.torch_model(pt)
    with torch.no_grad():
        next(m.parameters()).mul_(1.01)
    assert not parity.compare_raw(ref, backends.raw_torch(m, x)).ok(1e-4, 1e-4)
