"""YOLOv12 area attention on the GPU: stock vs SDPA outputs (fp32 and fp16), and which SDPA kernels can run it.

    python benchmarks/attention_check.py [--out results/attention-<device>.json]

Prints and saves: max |stock - sdpa| for a whole yolo12n forward (fp32, and fp16 under autocast), the forward+backward
time of one A2C2f-sized attention layer per backend (stock matmul/softmax, SDPA auto, SDPA forced to flash /
memory-efficient / math kernels), and flash-attn's status.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

import helpers  # noqa: F401
from helpers.tricks import attention


def model_parity(device: torch.device) -> dict:
    """Whole yolo12n, train-mode forward (BatchNorm on batch statistics, so activations are O(1) as in training)."""
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    torch.backends.cudnn.allow_tf32 = False  # cuDNN convs default to TF32 (10-bit mantissa): compare true fp32
    torch.backends.cuda.matmul.allow_tf32 = False
    m = DetectionModel("yolo12n.yaml", verbose=False).to(device).train()
    x = torch.rand(8, 3, 640, 640, device=device)
    out = {}
    for name, ctx in (("fp32", torch.autocast(device.type, enabled=False)),
                      ("fp16_autocast", torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"))):
        with torch.no_grad(), ctx:
            a = m(x)
            with attention.patched("sdpa"):
                b = m(x)
        torch.backends.cudnn.allow_tf32 = True
        out[name] = {k: {"max_abs_diff": float((a[k].float() - b[k].float()).abs().max()),
                         "max_abs_value": float(a[k].float().abs().max())} for k in ("boxes", "scores")}
    return out


def layer_timing(device: torch.device, batch: int = 256) -> dict:
    """One AAttn like yolo12n's P4 layer at 640 px (dim 128, 2 heads... area 4 at 40x40), forward + backward, fp16."""
    from ultralytics.nn.modules.block import AAttn

    layer = AAttn(128, 4, area=4).to(device).to(memory_format=torch.channels_last)
    x = torch.randn(batch, 128, 40, 40, device=device, requires_grad=True).to(memory_format=torch.channels_last)
    results = {}
    cases = {"stock": ("stock", None), "sdpa_auto": ("sdpa", None),
             "sdpa_flash": ("sdpa", SDPBackend.FLASH_ATTENTION), "sdpa_efficient": ("sdpa", SDPBackend.EFFICIENT_ATTENTION),
             "sdpa_math": ("sdpa", SDPBackend.MATH)}
    for name, (backend, kernel) in cases.items():
        try:
            with attention.patched(backend), torch.autocast("cuda", dtype=torch.float16):
                ctx = sdpa_kernel([kernel]) if kernel is not None else torch.autocast("cuda", dtype=torch.float16)
                with ctx:
                    for _ in range(3):
                        layer(x).float().sum().backward()
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                    base = torch.cuda.memory_allocated()
                    t0 = time.perf_counter()
                    for _ in range(10):
                        layer(x).float().sum().backward()
                    torch.cuda.synchronize()
            results[name] = {"ms": (time.perf_counter() - t0) * 100,
                             "peak_extra_gib": (torch.cuda.max_memory_allocated() - base) / 2**30}
        except RuntimeError as e:
            results[name] = {"error": str(e).splitlines()[0][:200]}
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    doc = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu", "torch": torch.__version__,
           "flash_attn": attention.flash_attn_status()[1], "parity": model_parity(dev)}
    print(json.dumps(doc, indent=1), flush=True)
    if dev.type == "cuda":
        doc["layer_fwd_bwd_fp16_b256"] = layer_timing(dev)
        print(json.dumps(doc["layer_fwd_bwd_fp16_b256"], indent=1), flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
