"""Deployment parity and latency: PyTorch (fp32, fp16, fp16 + CUDA graph) vs ONNX Runtime, and TensorRT where it
can be built, for a starter checkpoint.

    python benchmarks/export_latency.py --weights yolo12n-shapes --imgsz 640 --tag export-h100   # on the GPU machine
    python benchmarks/export_latency.py --weights yolo12n-shapes-128 --imgsz 128 --tag export-cpu

Parity: raw head outputs on the same letterboxed images (box coordinates relative to the largest, class scores
absolute) and final detections (matched by IoU). Latency: forward pass only (no pre/post-processing), median and p90
after warm-up, random input. Writes results/<tag>.json and .md, rewritten after each step.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import helpers  # noqa: E402,F401  (offline before ultralytics is imported)
from helpers.core import versions  # noqa: E402
from helpers.deploy import backends, export, latency, parity  # noqa: E402
from helpers.core import offline, paths  # noqa: E402
from helpers.data import synthetic  # noqa: E402
from helpers.train import weights  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
# fp32 backends must agree to float rounding; fp16 / TF32 to their 10-bit mantissa (boxes relative, scores absolute)
TOL = {"box_rel": 1e-4, "score_abs": 1e-4, "fp16_box_rel": 5e-3, "fp16_score_abs": 2e-2}


def cuda_graph(model, batch: int, imgsz: int):
    """Capture one fp16 forward pass in a CUDA graph; returns a replay callable (launch overhead gone)."""
    import torch

    p = next(model.parameters())
    x = torch.rand(batch, 3, imgsz, imgsz, device=p.device, dtype=p.dtype)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s), torch.inference_mode():
        for _ in range(3):
            model(x)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g), torch.inference_mode():
        model(x)
    return g.replay


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default="yolo12n-shapes")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--images", type=int, default=32, help="fresh synthetic images for the parity checks")
    ap.add_argument("--budget", type=float, default=8.0, help="seconds of timed runs per (backend, batch) at most")
    ap.add_argument("--tag", default=None)
    ap.add_argument("--out-dir", default=str(RESULTS))
    a = ap.parse_args(argv)

    import cv2
    import torch
    import onnxruntime as ort
    from ultralytics import YOLO

    offline.prepare_ultralytics()
    gpu = torch.cuda.is_available()
    env = {**versions.describe(), "onnxruntime": ort.__version__}
    tag = a.tag or f"export-{'gpu' if gpu else 'cpu'}"
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc: dict = {"environment": env, "weights": a.weights, "imgsz": a.imgsz, "tolerances": TOL, "parity": {},
                 "latency": [], "tensorrt": None}

    def save() -> None:
        (out / f"{tag}.json").write_text(json.dumps(doc, indent=2))
        md = [f"# Export parity and latency: {a.weights} at {a.imgsz} px", "",
              "Device: " + ", ".join(f"{k} {v}" for k, v in env.items()), "", "## Parity", ""]
        md += [f"- {k}: {json.dumps(v)}" for k, v in doc["parity"].items()]
        md += ["", "## Latency (forward only, random input)", "",
               latency.latency_table(doc["latency"]).to_markdown() if doc["latency"] else "(none yet)", "",
               f"## TensorRT\n\n{doc['tensorrt']}"]
        (out / f"{tag}.md").write_text("\n".join(md) + "\n")

    pt = weights.get(a.weights).path
    t = time.time()
    onnx = export.export_onnx(pt, a.imgsz, dynamic=True, out_dir=paths.runs_dir() / "bench" / "export")
    doc["onnx"] = {"path": onnx.path.name, "mib": round(onnx.mib, 2), "opset": onnx.meta["opset"],
                   "export_s": round(time.time() - t, 1)}
    print("onnx:", doc["onnx"], flush=True)

    data = synthetic.generate(paths.runs_dir() / "bench" / "export" / f"fresh-{a.imgsz}",
                              synthetic.SynthSpec(n_train=1, n_val=a.images, imgsz=a.imgsz, seed=9))
    imgs = [cv2.imread(str(p)) for p in sorted((data.parent / "images" / "val").iterdir())]
    x = backends.letterbox_batch(imgs, a.imgsz)
    dev = "cuda" if gpu else "cpu"
    ref = backends.raw_torch(backends.torch_model(pt, "cpu"), x)  # the reference: PyTorch fp32 on the CPU
    session = backends.ort_session(onnx.path)
    raw = parity.compare_raw(ref, backends.raw_ort(session, x))
    doc["parity"]["onnxruntime_cpu_vs_pytorch_fp32_raw"] = {**raw.__dict__, "ok": raw.ok(TOL["box_rel"], TOL["score_abs"])}
    r_pt = YOLO(str(pt)).predict(imgs, imgsz=a.imgsz, device="cpu", verbose=False)
    r_onnx = YOLO(str(onnx.path), task="detect").predict(imgs, imgsz=a.imgsz, device="cpu", verbose=False)
    det = parity.compare_detections(r_pt, r_onnx)
    doc["parity"]["onnxruntime_cpu_vs_pytorch_fp32_detections"] = {**det.__dict__, "recall": det.recall, "ok": det.ok()}
    m32 = backends.torch_model(pt, dev)
    if gpu:
        # cuDNN runs fp32 convolutions in TF32 by default on Ampere and newer (torch.backends.cudnn.allow_tf32)
        raw32 = parity.compare_raw(ref, backends.raw_torch(m32, x))
        doc["parity"]["pytorch_cuda_fp32_tf32_vs_cpu_fp32_raw"] = {
            **raw32.__dict__, "tf32_convs": torch.backends.cudnn.allow_tf32,
            "ok": raw32.ok(TOL["fp16_box_rel"], TOL["fp16_score_abs"])}
        m16 = backends.torch_model(pt, dev, fp16=True)
        raw16 = parity.compare_raw(ref, backends.raw_torch(m16, x))
        doc["parity"]["pytorch_fp16_vs_fp32_raw"] = {**raw16.__dict__,
                                                     "ok": raw16.ok(TOL["fp16_box_rel"], TOL["fp16_score_abs"])}
        det16 = parity.compare_detections(r_pt, YOLO(str(pt)).predict(imgs, imgsz=a.imgsz, device=dev, quantize=16,
                                                                      verbose=False))
        doc["parity"]["pytorch_fp16_vs_fp32_detections"] = {**det16.__dict__, "recall": det16.recall,
                                                            "ok": det16.ok(score_tol=0.02)}
    for k, v in doc["parity"].items():
        print(k, v, flush=True)
    save()

    for b in (int(s) for s in a.batches.split(",")):
        rows = [latency.bench_torch(m32, b, a.imgsz, budget_s=a.budget)]
        if gpu:
            rows.append(latency.bench_torch(m16, b, a.imgsz, budget_s=a.budget))
            replay = cuda_graph(m16, b, a.imgsz)
            rows.append(latency.Latency("pytorch cuda fp16 + CUDA graph", b,
                                       latency.time_calls(replay, 10, 50, torch.cuda.synchronize, a.budget)))
        rows.append(latency.bench_ort(session, b, a.imgsz, warmup=3, budget_s=a.budget))
        for r in rows:
            doc["latency"].append(r.row())
            print(r.row(), flush=True)
        save()

    ok, why = export.engine_status()
    try:
        export.export_engine(pt, a.imgsz, out_dir=paths.runs_dir() / "bench" / "export")
        doc["tensorrt"] = f"built: {why}"
    except export.ExportUnavailable as e:
        doc["tensorrt"] = f"not built: {e}"
    except Exception as e:  # a builder that is present but fails: record it
        doc["tensorrt"] = f"failed: {type(e).__name__}: {str(e)[:300]}"
    print("tensorrt:", doc["tensorrt"], flush=True)
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
