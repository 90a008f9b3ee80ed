"""Real training speed and memory: stock Ultralytics against the workbook's plans, on the same data, in one process.

    python benchmarks/real_training.py --tag realtrain-h100            # on a GPU: the full comparison
    python benchmarks/real_training.py --smoke --tag realtrain-smoke   # tiny, anywhere (checks the script)

Each configuration trains with the real loader (synthetic shapes cached in RAM, mosaic on, validation off) through
the workbook's one `train(plan)`; img/s is the steady state: the images of each epoch over the time from its first
batch to its last, the first epoch left out (worker start, cuDNN autotuning, compilation). Beside it: the same plan's
GPU-only step (`helpers.train.probe` on pre-loaded tensors) and the peak memory allocated. Results are rewritten after
every configuration (benchmarks/results/<tag>.json and .md), so a cut-off run keeps what it measured.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

import helpers  # noqa: F401  (offline before ultralytics is imported)
from helpers.core import profiles
from helpers.core.tables import markdown
from helpers.core.versions import describe
from helpers.train import probe
from helpers.train.callbacks import Hooks, StepTimer
from helpers.train.plan import TrainPlan
from helpers.train.run import train

RESULTS = Path(__file__).resolve().parent / "results"

# name -> plan fields on top of the common ones (yolo12n, 640 px, fp16, SGD)
CONFIGS: dict[str, dict] = {
    "stock": dict(attention="stock", checkpoint="", augment_device="cpu", batch=256, nbs=256),
    "sdpa": dict(attention="sdpa", checkpoint="", augment_device="cpu", batch=256, nbs=256),
    "fast": dict(attention="sdpa", checkpoint="", augment_device="gpu", batch=256, nbs=256),
    "lean": dict(attention="sdpa", checkpoint="all+head", augment_device="gpu", batch=256, nbs=256),
    "stock-64x4": dict(attention="stock", checkpoint="", augment_device="cpu", batch=64, nbs=256),
    "lean-64x4": dict(attention="sdpa", checkpoint="attention", augment_device="gpu", batch=64, nbs=256),
    "fast-compiled": dict(attention="sdpa", checkpoint="", augment_device="gpu", batch=256, nbs=256, compile=True),
}


@dataclass
class EpochWindows(Hooks):
    """Each epoch's training loop: from its first batch's start to its last batch's end (host clock, CUDA synced)."""

    windows: list[tuple[float, float]] = field(default_factory=list)
    _start: float | None = None
    _end: float | None = None

    def on_train_epoch_start(self, trainer) -> None:
        self._start = self._end = None

    def on_train_batch_start(self, trainer) -> None:
        if self._start is None:
            self._start = time.perf_counter()

    def on_train_batch_end(self, trainer) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self._end = time.perf_counter()

    def on_train_epoch_end(self, trainer) -> None:
        if self._start is not None:
            self.windows.append((self._start, self._end))


def measure(name: str, plan: TrainPlan, images: int, probe_steps: int) -> dict:
    """One configuration: steady-state img/s with the real loader, its GPU-only step, peak memory."""
    cuda = torch.cuda.is_available()
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    windows, timer = EpochWindows(), StepTimer(skip=3)
    t0 = time.time()
    result = train(plan, callbacks=[windows, timer], progress=False)
    wall = time.time() - t0
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    used_gpu_aug = result.trainer.gpu_augment is not None
    del result
    gc.collect()
    steady = windows.windows[1:] or windows.windows
    img_s = images * len(steady) / sum(e - s for s, e in steady)
    first = windows.windows[0][1] - windows.windows[0][0] if windows.windows else None
    split = timer.summary()
    gpu_only = None
    if not plan.compile:  # a compiled probe would compile again; its loader efficiency is left out
        cfg = probe.ProbeConfig(model=plan.model, batch=plan.batch, nbs=plan.nbs, imgsz=plan.imgsz,
                                amp=plan.amp if cuda else "fp32", attention=plan.attention,
                                checkpoint=plan.checkpoint, steps=probe_steps, warmup=2)
        r = probe.run(cfg)
        gpu_only = r.img_s if r.ok else None
    return {"config": name, "batch": plan.batch, "nbs": plan.nbs, "attention": plan.attention,
            "checkpoint": plan.checkpoint, "augment_device": plan.augment_device, "gpu_augment_used": used_gpu_aug,
            "compile": plan.compile, "img_s": round(img_s, 1), "gpu_only_img_s": round(gpu_only, 1) if gpu_only else None,
            "loader_efficiency": round(img_s / gpu_only, 3) if gpu_only else None,
            "peak_allocated_gib": round(peak, 2) if peak is not None else None,
            "first_epoch_s": round(first, 1) if first else None,
            "steady_epoch_s": round(sum(e - s for s, e in steady) / len(steady), 2),
            "waiting_for_data_pct": round(split.get("stall_pct", float("nan")), 1) if split else None,
            "epochs_timed": len(steady), "wall_s": round(wall, 1)}


def summary(rows: list[dict], env: dict) -> dict:
    """The headline figures: stock vs the fastest plan, the leanest plan at >= 1.0x stock, and 64 x 4."""
    by = {r["config"]: r for r in rows}
    out: dict = {"device": env.get("device"), "versions": {k: env.get(k) for k in ("torch", "cuda", "ultralytics")}}
    stock = by.get("stock")
    if not stock:
        return out
    same = [r for r in rows if r["batch"] == stock["batch"]]  # physical batch 256 (8 in the smoke run)
    fastest = max(same, key=lambda r: r["img_s"])
    out.update(stock_img_s=stock["img_s"], fastest=fastest["config"], img_s=fastest["img_s"],
               gpu_only_img_s=fastest["gpu_only_img_s"], ratio_vs_stock=round(fastest["img_s"] / stock["img_s"], 3),
               loader_efficiency=fastest["loader_efficiency"], peak_allocated_gib=fastest["peak_allocated_gib"])
    lean = [r for r in same if r["img_s"] >= stock["img_s"] and r["peak_allocated_gib"]]
    if lean:
        best = min(lean, key=lambda r: r["peak_allocated_gib"])
        out["leanest_at_stock_speed"] = {"config": best["config"], "peak_allocated_gib": best["peak_allocated_gib"],
                                         "ratio_vs_stock": round(best["img_s"] / stock["img_s"], 3)}
    s64, l64 = by.get("stock-64x4"), by.get("lean-64x4")
    if s64 and l64:
        out["b64x4"] = {"stock_img_s": s64["img_s"], "lean_img_s": l64["img_s"],
                        "ratio_vs_stock": round(l64["img_s"] / s64["img_s"], 3),
                        "peak_allocated_gib": l64["peak_allocated_gib"]}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tag", default="realtrain")
    ap.add_argument("--images", type=int, default=6144, help="synthetic training images (an epoch)")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per configuration; the first is not timed")
    ap.add_argument("--only", default="", help="comma-separated configuration names (default: all)")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--smoke", action="store_true", help="128 px, 32 images, batch 8: checks the script on a CPU")
    ap.add_argument("--out-dir", default=str(RESULTS))
    a = ap.parse_args(argv)

    names = a.only.split(",") if a.only else list(CONFIGS)
    prof = profiles.get("gpu").replace(n_train=a.images, n_val=16)
    common = dict(epochs=a.epochs, workers=a.workers, cache="ram", name="realtrain", plots=False, weights="",
                  extra={"val": False, "close_mosaic": 0})  # mosaic on throughout, as in a long run
    if a.smoke:
        prof = profiles.get("quick").replace(n_train=32, n_val=8)
        common.update(workers=0, cache=False, device="cpu")
    env = describe()
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"environment": env, "setup": {"model": "yolo12n.yaml", "imgsz": prof.imgsz, "images": prof.n_train,
                                         "epochs": a.epochs, "workers": common["workers"], "cache": common["cache"],
                                         "mosaic": "on (close_mosaic 0)", "val": False},
           "results": [], "summary": {}}
    print(json.dumps(env), flush=True)
    for name in names:
        fields = dict(CONFIGS[name])
        if a.smoke:
            fields.update(batch=8 if fields["batch"] == 256 else 4, nbs=8 if fields["nbs"] == 256 else 16,
                          compile=False)
        plan = TrainPlan.from_profile(prof, **common, **fields)
        try:
            row = measure(name, plan, prof.n_train, probe_steps=2 if a.smoke else 6)
        except Exception as e:  # record it and go on with the others
            row = {"config": name, "error": f"{type(e).__name__}: {e}"[:300]}
        doc["results"].append(row)
        doc["summary"] = summary([r for r in doc["results"] if "error" not in r], env)
        print(json.dumps(row), flush=True)
        (out / f"{a.tag}.json").write_text(json.dumps(doc, indent=2))
        ok = [r for r in doc["results"] if "error" not in r]
        keys = ("config", "batch", "nbs", "attention", "checkpoint", "augment_device", "compile", "img_s",
                "gpu_only_img_s", "loader_efficiency", "peak_allocated_gib", "waiting_for_data_pct", "first_epoch_s")
        md = [f"# Real training: stock Ultralytics vs the workbook's plans ({a.tag})", "",
              "Device: " + ", ".join(f"{k} {v}" for k, v in env.items()), "",
              "Setup: " + ", ".join(f"{k} {v}" for k, v in doc["setup"].items()), "",
              markdown(keys, [[r.get(k) for k in keys] for r in ok]), "",
              "Summary: `" + json.dumps(doc["summary"]) + "`"]
        (out / f"{a.tag}.md").write_text("\n".join(md) + "\n")
    print(f"wrote {out / a.tag}.json and .md", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
