"""Where the memory of a large-batch step goes, and whether the DFL loss needs fp32: measured, not assumed.

    python benchmarks/memory_breakdown.py --batch 256 --tag memory-h100     # on a GPU
    python benchmarks/memory_breakdown.py --batch 2 --imgsz 256 --device cpu  # anywhere (no autocast)

For each configuration: the bytes autograd saves for backward per top-level layer (helpers.measure.memprofile), the peak
allocated over one forward + backward, and weights / gradients / SGD momentum. Then the loss components (box, cls,
dfl) of one batch under fp16 autocast vs fp32, same weights and batch.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import helpers  # noqa: E402,F401
from helpers.measure import memprofile  # noqa: E402
from helpers.train import probe  # noqa: E402
from helpers.core.versions import describe  # noqa: E402
from helpers.tricks import attention  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CONFIGS = (("stock", "stock", ""), ("sdpa", "sdpa", ""), ("sdpa + ckpt all+head", "sdpa", "all+head"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="yolo12n.yaml")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--device", default=None)
    ap.add_argument("--tag", default=None)
    ap.add_argument("--out-dir", default=str(RESULTS))
    a = ap.parse_args(argv)
    dev = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = dev.type == "cuda"
    amp = torch.float16 if cuda else None
    doc = {"environment": describe(str(dev)), "model": a.model, "batch": a.batch, "imgsz": a.imgsz,
           "amp": "fp16" if amp else "fp32", "configs": {}, "dfl": None}
    gen = torch.Generator().manual_seed(0)
    batch = probe.fake_batch(a.batch, a.imgsz, 8, 80, dev, gen)
    batch = dict(batch, img=batch["img"].float() / 255)
    for label, att, ck in CONFIGS:
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
        m = probe.training_model(a.model, dev, ck)
        params = sum(p.numel() * p.element_size() for p in m.parameters())
        with attention.patched(att):
            rows = memprofile.saved_by_layer(m, batch, amp)
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
            with torch.autocast(dev.type, dtype=amp) if amp else torch.enable_grad():
                loss, _ = m(batch)
            loss.sum().backward()
            peak = (torch.cuda.max_memory_allocated() - base) / 2**30 if cuda else None
        doc["configs"][label] = {
            "saved_total_gib": round(sum(r.saved_gib for r in rows), 3),
            "saved_by_kind_gib": {k: round(v, 3) for k, v in memprofile.by_kind(rows).items()},
            "top_layers": [{"index": r.index, "kind": r.kind, "saved_gib": round(r.saved_gib, 3)}
                           for r in sorted(rows, key=lambda r: -r.saved_gib)[:8]],
            "fwd_bwd_peak_above_weights_gib": round(peak, 3) if peak is not None else None,
            "weights_gib": round(params / 2**30, 4), "grads_gib": round(params / 2**30, 4),
            "sgd_momentum_gib": round(params / 2**30, 4),
        }
        print(label, json.dumps(doc["configs"][label]["saved_by_kind_gib"]), "peak", peak, flush=True)
        del m, loss
    # DFL under fp16 autocast vs fp32: same weights, same batch, stock attention
    m = probe.training_model(a.model, dev)
    def items(out) -> dict[str, float]:  # Ultralytics 8.4 returns the loss components as a dict (older: a tensor)
        return {k: float(v) for k, v in out.items()} if isinstance(out, dict) else \
            dict(zip(("box", "cls", "dfl"), (float(v) for v in out)))

    with torch.no_grad():
        fp32 = items(m(batch)[1])
        if amp:
            with torch.autocast(dev.type, dtype=amp):
                half = items(m(batch)[1])
            rel = {k: abs(half[k] - fp32[k]) / max(abs(fp32[k]), 1e-12) for k in fp32}
            doc["dfl"] = {"fp32": fp32, "fp16_autocast": half, "relative_difference": rel}
            print("loss items fp32", fp32, "fp16", half, "rel", rel, flush=True)
    tag = a.tag or f"memory-{dev.type}"
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{tag}.json").write_text(json.dumps(doc, indent=2) + "\n")
    print("wrote", out / f"{tag}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
