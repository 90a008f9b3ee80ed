"""Real training speed: plain Ultralytics against the workbook's plans, every run in a fresh process.

    python benchmarks/real_training.py --tag realtrain-h200                 # on a GPU: the whole comparison
    python benchmarks/real_training.py --smoke --tag realtrain-smoke        # tiny, on the CPU (CI runs it)

The method (why: runs in one process slow each other down, and per-batch synchronisation hides the loader):
- every run is its own Python process (`python benchmarks/...`), started one after another, nothing else running;
- the baseline is plain Ultralytics with nothing of the workbook imported (`benchmarks/plain_ultralytics.py`), at
  its default 8 workers and at the workers the workbook sizes from the cores;
- the workbook's plans and the baselines run in alternating order, `--repeats` times each; median and min-max;
- timing is the epoch's wall clock (`helpers.measure.wallclock.EpochClock`: CUDA synchronised at the epoch's ends
  only), the first epoch left out; the wall time including what runs between epochs is reported beside it;
- the same call records the pieces: each plan's GPU-only step (`helpers.train.probe`, pre-loaded tensors), the
  Ultralytics loader alone, the augmentation of one batch, the CPU count, the GPU and the versions.
Results are rewritten after every process (benchmarks/results/<tag>.json and .md), so a cut-off run keeps what it
measured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from helpers.train import planner

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PLAIN = HERE / "plain_ultralytics.py"

# The workbook's plans: TrainPlan fields on top of the benchmark's common ones (yolo12n, 640 px, batch 256 = nbs,
# fp16, SGD, cache ram, mosaic on throughout, val off)
PLANS: dict[str, dict] = {  # workbook-default: the gpu profile's plan before it moved to the set on the GPU
    "workbook-default": dict(attention="auto", augment_device="cpu", deterministic=True, cudnn_benchmark=False),
    "workbook-gpu": dict(attention="auto", augment_device="gpu", deterministic=True, cudnn_benchmark=False),
    "workbook-gpu-fast": dict(attention="auto", augment_device="gpu", deterministic=False, cudnn_benchmark=True),
    "workbook-lean": dict(attention="auto", augment_device="gpu", deterministic=False, cudnn_benchmark=True,
                          checkpoint="all+head"),
}
FAST = dict(attention="auto", augment_device="gpu", deterministic=False, cudnn_benchmark=True)  # the gpu profile's
STORES = {  # the gpu profile with each store forced (helpers.pipeline.store), auto, and a pretended 16 GB card
    "store-gpu": dict(FAST, store="gpu"), "store-host": dict(FAST, store="host"),
    "store-jpeg": dict(FAST, store="jpeg"), "store-off": dict(FAST, store="off"),
    "store-auto": dict(FAST, store="auto"), "store-auto-16gb": dict(FAST, store="auto", card_gib=16.0),
    "store-gpu-compile": dict(FAST, store="gpu", compile=True),
    "store-gpu-nobench": dict(FAST, store="gpu", cudnn_benchmark=False),  # the first step without cuDNN autotuning
}
PLANS.update(STORES)
LEAN = {"workbook-lean"}
DEFAULT_PLANS = "store-gpu,store-host,store-jpeg"
STEP_PLANS = {"store-gpu"}  # the store plans whose GPU-only step is measured (the others share its step)
# GPU-only step variants measured beside the plans (helpers.train.probe.ProbeConfig fields)
STEP_VARIANTS: dict[str, dict] = {
    "stock": dict(attention="stock", deterministic=True),
    "sdpa": dict(attention="sdpa", deterministic=True),
    "sdpa-nondet": dict(attention="sdpa"),
    "sdpa-nondet-bench": dict(attention="sdpa", cudnn_benchmark=True),
    "sdpa-nondet-bench-fused": dict(attention="sdpa", cudnn_benchmark=True, fused_sgd=True),
    "sdpa-flash": dict(attention="sdpa", cudnn_benchmark=True, sdpa_kernel="flash"),
    "sdpa-efficient": dict(attention="sdpa", cudnn_benchmark=True, sdpa_kernel="efficient"),
    "sdpa-cudnn": dict(attention="sdpa", cudnn_benchmark=True, sdpa_kernel="cudnn"),
    "sdpa-bf16": dict(attention="sdpa", cudnn_benchmark=True, amp="bf16"),
    "sdpa-compiled": dict(attention="sdpa", cudnn_benchmark=True, compile=True, warmup=3),
    "sdpa-cudagraphs": dict(attention="sdpa", cudnn_benchmark=True, compile=True, compile_mode="reduce-overhead",
                            warmup=3),
}


def _median(xs: list[float]) -> float | None:
    return round(statistics.median(xs), 1) if xs else None


# ---------------------------------------------------------------------------------------------------- children
def child_plan(a: argparse.Namespace) -> dict:
    """One workbook plan trained through `helpers.train.run.train`, timed by the same clock as plain Ultralytics."""
    import helpers  # noqa: F401  (offline before ultralytics is imported)
    from helpers.core import paths, profiles
    from helpers.measure.wallclock import EpochClock
    from helpers.train.run import train

    from helpers.pipeline import store as stores

    clock = EpochClock()
    paths.keep_compile_cache()
    inductor = Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])  # files there before the run: 0 means a cold cache
    cached = sum(1 for f in inductor.rglob("*") if f.is_file()) if inductor.is_dir() else 0
    fields = dict(PLANS[a.config])
    stores.CARD_GIB = fields.pop("card_gib", None)  # the 16 GB case: the store's choice sees a 16 GB card
    prof = profiles.get("gpu")
    plan = planner.from_profile(prof, dataset=a.data, imgsz=a.imgsz, epochs=a.epochs, batch=a.batch, nbs=a.batch,
                                cache=a.cache, name=a.config, plots=False, weights="", lr_fixed=0.01,
                                warmup_fixed=3.0, project=a.project, device=a.device,
                                extra={"val": a.val, "close_mosaic": 0, "mosaic": 1.0}, **fields)
    result = train(plan, callbacks=[clock.callbacks()], progress=False)
    t = result.trainer
    feed = t.feed
    return {**clock.record(), "peak_allocated_gib": _peak_gib(), "plan_workers": plan.workers,
            "compile_cache_files_before": cached, "input_pipeline": t.input_pipeline, "augment_first_batch_s": feed.first_batch_s if feed else None,
            "store": feed.choice.mode if feed and feed.choice else None,
            "store_why": feed.choice.why if feed and feed.choice else None,
            "store_gib": round(feed.store.nbytes / 2**30, 3) if feed and feed.store is not None else None,
            "plan": {k: getattr(plan, k) for k in ("attention", "augment_device", "store", "checkpoint", "deterministic",
                                                   "cudnn_benchmark", "sdpa_kernel", "compile", "amp")}}


def child_probe(a: argparse.Namespace) -> dict:
    """The GPU-only step (pre-loaded tensors) of a plan or a step variant."""
    import helpers  # noqa: F401
    from helpers.train import probe

    if a.config in PLANS:
        f = PLANS[a.config]
        fields = dict(attention="sdpa" if f.get("attention") == "auto" else f.get("attention", "sdpa"),
                      checkpoint=f.get("checkpoint", ""), deterministic=f.get("deterministic", True),
                      cudnn_benchmark=f.get("cudnn_benchmark", False))
    else:
        fields = dict(STEP_VARIANTS[a.config])
    cuda = _cuda()
    fields.setdefault("amp", "fp16" if cuda else "fp32")
    cfg = probe.ProbeConfig(batch=a.batch, nbs=a.batch, imgsz=a.imgsz, steps=a.probe_steps,
                            warmup=max(fields.pop("warmup", 2), 2), **fields)
    t0 = time.perf_counter()
    r = probe.run(cfg)
    return {"label": r.label, "ok": r.ok, "error": r.error, "img_s": round(r.img_s, 1) if r.img_s else None,
            "step_ms": round(r.step_s * 1000, 1) if r.step_s else None, "peak_allocated_gib": r.peak_allocated_gib,
            "first_step_s": round(r.first_step_s, 2) if r.first_step_s else None,
            "seconds": round(time.perf_counter() - t0, 1)}


def child_augment(a: argparse.Namespace) -> dict:
    """Per store mode (helpers.pipeline.store): build seconds and size, and one batch brought to the device (host
    clock after synchronising, median of 10: the gather and copy, or the JPEG decode); then the augmentation of one
    batch from the resident store, eager and compiled (time, memory it adds, compile time)."""
    import torch

    import helpers  # noqa: F401
    from ultralytics.cfg import get_cfg
    from ultralytics.data.build import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    from helpers.pipeline import augment, store as stores
    from helpers.pipeline.staging import Stager

    dev = torch.device("cuda" if _cuda() else "cpu")
    data = check_det_dataset(a.data)
    cfg = get_cfg(overrides={"imgsz": a.imgsz, "cache": a.cache})
    out: dict = {"stores": {}}
    idx = None
    resident = None
    for mode in ("jpeg", "host", "gpu"):
        ds = build_yolo_dataset(cfg, data["train"], a.batch, data, mode="train")
        t0 = time.perf_counter()
        st = stores.build(ds, dev, mode)
        rec = {"build_s": round(time.perf_counter() - t0, 2), "gib": round(st.nbytes / 2**30, 3), "bytes": st.nbytes,
               "images": len(st)}
        idx = torch.arange(min(a.batch, len(st)))
        if not st.resident:
            stager = Stager(st, dev, idx.numel())
            times = []
            for i in range(11):
                t0 = time.perf_counter()
                images, ready = stager._make(idx)
                stager.take(images, ready)
                _sync(dev)
                if i:
                    times.append(time.perf_counter() - t0)
            rec["batch_to_device_ms"] = round(1000 * statistics.median(times), 2)
            stager.close()
        else:
            resident = st
        out["stores"][mode] = rec
        print(mode, rec, flush=True)
        if mode != "gpu":
            del st
    store = resident
    aug = augment.GpuAugment.from_args(cfg)
    gen = torch.Generator(device=dev).manual_seed(0)
    dtype = torch.float16 if dev.type == "cuda" else torch.float32
    sample = idx.to(dev)
    pool = torch.arange(len(store), device=dev)
    variants = [("eager", False)] + ([("compiled", True)] if dev.type == "cuda" else [])
    for name, compiled in variants:
        args = (store.images, store.hw, store.boxes, sample, pool)
        t0 = time.perf_counter()
        aug.augment(*args, gen, out_dtype=dtype, channels_last=dev.type == "cuda", compiled=compiled)
        _sync(dev)
        first = time.perf_counter() - t0
        times, extra = [], None
        for i in range(10):
            base = torch.cuda.memory_allocated(dev) if dev.type == "cuda" else 0
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
            t0 = time.perf_counter()
            o = aug.augment(*args, gen, out_dtype=dtype, channels_last=dev.type == "cuda", compiled=compiled)
            _sync(dev)
            times.append(time.perf_counter() - t0)
            if dev.type == "cuda":
                extra = (torch.cuda.max_memory_allocated(dev) - base) / 2**30
            del o
        out[name] = {"ms": round(1000 * statistics.median(times), 2), "first_call_s": round(first, 2),
                     "extra_peak_gib": round(extra, 3) if extra is not None else None,
                     "images": idx.numel()}
    return out


def child_profile(a: argparse.Namespace) -> dict:
    """torch.profiler over a few real training steps of a plan (inside Ultralytics' loop): the kernels that take the
    GPU time, grouped, and the top ones."""
    import torch

    import helpers  # noqa: F401
    from helpers.core import profiles
    from helpers.train.run import train

    state: dict = {"i": 0, "prof": None}
    first, count = a.profile_skip, a.profile_steps

    def batch_start(trainer) -> None:
        if trainer.epoch == 0 and state["i"] == first:
            state["prof"] = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU,
                                                               torch.profiler.ProfilerActivity.CUDA])
            state["prof"].__enter__()
            state["t0"] = time.perf_counter()

    def batch_end(trainer) -> None:
        state["i"] += 1
        if state["prof"] is not None and state["i"] == first + count:
            _sync(torch.device("cuda"))
            state["wall"] = time.perf_counter() - state["t0"]
            state["prof"].__exit__(None, None, None)
            trainer.stop = True

    plan = planner.from_profile(profiles.get("gpu"), dataset=a.data, imgsz=a.imgsz, epochs=1, batch=a.batch,
                                nbs=a.batch, cache=a.cache, name="profile", plots=False, weights="", lr_fixed=0.01,
                                warmup_fixed=0.0, project=a.project,
                                extra={"val": False, "close_mosaic": 0, "mosaic": 1.0}, **PLANS[a.config])
    train(plan, callbacks=[{"on_train_batch_start": batch_start, "on_train_batch_end": batch_end}], progress=False)
    prof = state["prof"]
    if prof is None:
        return {"error": "the epoch ended before the profiled steps"}
    # kernels only: an aten op reports the device time of the kernels it launched as well (counted twice otherwise)
    kernels = [(e.name, e.device_time / 1000) for e in prof.events()
               if e.device_type == torch.autograd.DeviceType.CUDA and e.device_time > 0]
    merged: dict[str, float] = {}
    for name, ms in kernels:
        merged[name] = merged.get(name, 0.0) + ms
    kernels = list(merged.items())
    total = sum(ms for _, ms in kernels)
    groups: dict[str, float] = {}
    for name, ms in kernels:
        groups[_kernel_group(name)] = groups.get(_kernel_group(name), 0.0) + ms
    top = sorted(kernels, key=lambda x: -x[1])[:25]
    return {"config": a.config, "steps": count, "wall_ms_per_step": round(1000 * state["wall"] / count, 1),
            "gpu_ms_per_step": round(total / count, 1),
            "groups_pct": {k: round(100 * v / total, 1) for k, v in sorted(groups.items(), key=lambda x: -x[1])},
            "top_kernels": [{"kernel": k[:120], "ms_per_step": round(ms / count, 2), "pct": round(100 * ms / total, 1)}
                            for k, ms in top]}


def _kernel_group(name: str) -> str:
    n = name.lower()
    for key, words in (("augmentation (fused)", ("triton_",)), ("batchnorm", ("bn_", "batch_norm", "batchnorm")),
                       ("convolution", ("conv", "wgrad", "dgrad", "implicit", "xmma", "sm90_", "cudnn")),
                       ("attention", ("fmha", "flash", "attention", "sdpa")),
                       ("matmul", ("gemm", "cutlass", "ampere", "sm80")),
                       ("copy / layout", ("copy", "memcpy", "memset", "transpose", "cat")),
                       ("optimizer", ("foreach", "multi_tensor", "sgd", "fused_")),
                       ("reduction", ("reduce",)),
                       ("element-wise", ("elementwise", "vectorized", "unrolled", "silu", "sigmoid", "mul", "add"))):
        if any(w in n for w in words):
            return key
    return "other"


def _peak_gib() -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _sync(dev) -> None:
    import torch

    if getattr(dev, "type", dev) == "cuda":
        torch.cuda.synchronize()


# ---------------------------------------------------------------------------------------------------- orchestrator
def copies_of(src: Path, copies: int, dst: Path) -> Path:
    """A dataset of real JPEGs: src's training images (and labels) copied `copies` times under new names, validated
    on the originals; src is only read. Returns its yaml."""
    import shutil

    import yaml

    images = sorted((src / "images" / "train2017").glob("*.jpg"))
    if not images:
        raise SystemExit(f"--jpeg-set {src}: no images/train2017/*.jpg")
    names = yaml.safe_load(next(src.glob("*.yaml")).read_text())["names"]
    for split in ("train", "val"):
        (dst / "images" / split).mkdir(parents=True, exist_ok=True)
        (dst / "labels" / split).mkdir(parents=True, exist_ok=True)
    for im in images:
        label = src / "labels" / "train2017" / f"{im.stem}.txt"
        shutil.copyfile(im, dst / "images" / "val" / im.name)
        if label.exists():
            shutil.copyfile(label, dst / "labels" / "val" / label.name)
        for k in range(copies):
            shutil.copyfile(im, dst / "images" / "train" / f"{im.stem}_{k}.jpg")
            if label.exists():
                shutil.copyfile(label, dst / "labels" / "train" / f"{im.stem}_{k}.txt")
    out = dst / "data.yaml"
    out.write_text(yaml.safe_dump({"path": str(dst), "train": "images/train", "val": "images/val", "names": names}))
    return out


def run_child(cmd: list[str], timeout: float, log: Path) -> dict:
    """One measurement in a fresh process (`helpers.measure.isolated.fresh_process`); its JSON record, or the error
    it ended with."""
    from helpers.measure.isolated import fresh_process

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "record.json"
        rec = fresh_process(cmd + ["--json", str(out)], out, timeout, log)
    rec.pop("tail", None)  # the log file keeps the child's whole output
    return rec


def summarize(doc: dict) -> dict:
    """The headline figures of a record (what the README, notebooks and ledger read)."""
    env, runs, pieces = doc["environment"], doc["runs"], doc["pieces"]
    by: dict[str, list[dict]] = {}
    for r in runs:
        if "error" not in r and r.get("img_s"):
            by.setdefault(r["config"], []).append(r)
    med = {k: _median([r["img_s"] for r in v]) for k, v in by.items()}
    default_w = doc["setup"]["ultralytics_default_workers"]
    plain_default = med.get(f"ultralytics-w{default_w}")
    plain = {k: v for k, v in med.items() if k.startswith("ultralytics")}
    plans = {k: v for k, v in med.items() if k in PLANS and k not in LEAN}
    pids = [r.get("pid") for r in runs if r.get("pid")]
    out: dict = {"baseline": "ultralytics", "isolated_processes": len(pids) == len(set(pids)) and os.getpid() not in pids
                 and not any(r.get("workbook_imported") for r in runs if r["config"].startswith("ultralytics")),
                 "repeats": min([len(v) for k, v in by.items() if k.startswith("ultralytics") or k in PLANS
                                 and k not in LEAN] or [0]),
                 "plain_img_s": plain_default,
                 "plain_best_img_s": max(plain.values()) if plain else None,
                 "plain_best": max(plain, key=plain.get) if plain else None,
                 "device": env.get("device"), "cpu_count": env.get("cpu_count", os.cpu_count()),
                 "versions": {k: env.get(k) for k in ("torch", "cuda", "ultralytics", "python")}}
    if plans:
        fastest = max(plans, key=plans.get)
        rows = by[fastest]
        probe = pieces.get(f"probe:{fastest}", {})
        aug = pieces.get("augment", {})
        aug_ms = (aug.get("compiled") or aug.get("eager") or {}).get("ms")
        out.update(fastest=fastest, img_s=plans[fastest],
                   ratio_vs_plain=round(plans[fastest] / plain_default, 3) if plain_default else None,
                   ratio_vs_plain_best=round(plans[fastest] / out["plain_best_img_s"], 3) if plain else None,
                   gpu_only_img_s=probe.get("img_s"),
                   loader_efficiency=round(plans[fastest] / probe["img_s"], 3) if probe.get("img_s") else None,
                   augment_ms=aug_ms,
                   peak_allocated_gib=max((r["peak_allocated_gib"] for r in rows if r.get("peak_allocated_gib")),
                                          default=None),
                   img_s_wall=_median([r["img_s_wall"] for r in rows if r.get("img_s_wall")]))
    for lean in LEAN & set(med):
        rows = by[lean]
        out["lean"] = {"config": lean, "img_s": med[lean],
                       "ratio_vs_plain": round(med[lean] / plain_default, 3) if plain_default else None,
                       "peak_allocated_gib": max((r["peak_allocated_gib"] for r in rows if r.get("peak_allocated_gib")),
                                                 default=None)}
    stores_run = [k for k in med if k.split("@")[0] in STORES]
    for k in stores_run:  # against plain Ultralytics (default workers) on the same set
        base = f"ultralytics-w{default_w}" + (f"@{k.split('@')[1]}" if "@" in k else "")
        label = k.replace("store-", "")
        if med.get(base):
            out.setdefault("ratio_by_store", {})[label] = round(med[k] / med[base], 3)
        walls = {c: _median([r["img_s_wall"] for r in by[c] if r.get("img_s_wall")]) for c in (k, base) if c in by}
        if walls.get(k) and walls.get(base):
            out.setdefault("epoch_ratio_by_store", {})[label] = round(walls[k] / walls[base], 3)
    firsts = {k: _median([r["loop_s"][0] for r in v if r.get("loop_s")]) for k, v in by.items()}
    out["first_epoch_s"] = {k: v for k, v in firsts.items() if v is not None}
    out["img_s_by_config"] = {k: {"median": v, "min": min(r["img_s"] for r in by[k]),
                                  "max": max(r["img_s"] for r in by[k]), "n": len(by[k])} for k, v in med.items()}
    return out


def write(doc: dict, out: Path, tag: str) -> None:
    doc["summary"] = summarize(doc)
    (out / f"{tag}.json").write_text(json.dumps(doc, indent=2))
    s, env = doc["summary"], doc["environment"]
    lines = [f"# Real training, every run a fresh process ({tag})", "",
             "Device: " + ", ".join(f"{k} {v}" for k, v in env.items()), "",
             "Setup: " + ", ".join(f"{k} {v}" for k, v in doc["setup"].items()), "",
             "img/s: the training loop of the epochs after the first (epoch wall clock). Wall: from the start of "
             "epoch 2 to the end of the last epoch's validation and checkpoint. First epoch and set-up: seconds a user "
             "waits before the steady state (worker start, caching, compilation, cuDNN autotuning).", "",
             "| run | img/s (median) | min - max | n | img/s of wall time | first epoch s | set-up s | peak GiB |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for k, v in s.get("img_s_by_config", {}).items():
        rows = [r for r in doc["runs"] if r["config"] == k and "error" not in r]
        wall = _median([r["img_s_wall"] for r in rows if r.get("img_s_wall")])
        first = _median([r["loop_s"][0] for r in rows if r.get("loop_s")])
        setup = _median([r["setup_s"] for r in rows if r.get("setup_s")])
        peak = max((r["peak_allocated_gib"] for r in rows if r.get("peak_allocated_gib")), default=None)
        lines.append(f"| {k} | {v['median']} | {v['min']} - {v['max']} | {v['n']} | {wall} | {first} | {setup} | "
                     f"{peak} |")
    errors = [r for r in doc["runs"] if "error" in r]
    if errors:
        lines += ["", "Runs that failed: " + "; ".join(f"{r['config']}: {r['error']}" for r in errors)]
    lines += ["", "Pieces:", ""] + [f"- {k}: `{json.dumps(v)}`" for k, v in doc["pieces"].items()]
    lines += ["", "Summary: `" + json.dumps({k: v for k, v in s.items() if k != "img_s_by_config"}) + "`"]
    (out / f"{tag}.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", nargs="?", default="run", choices=("run", "merge", "child-plan", "child-probe",
                                                               "child-augment", "child-profile"))
    ap.add_argument("records", nargs="*", help="merge: records of one machine, in the order they were run")
    ap.add_argument("--tag", default="realtrain")
    ap.add_argument("--images", type=int, default=6144, help="synthetic training images (one epoch)")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is not timed")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--plans", default=DEFAULT_PLANS, help="comma-separated plan names")
    ap.add_argument("--jpeg-set", default="", help="a YOLO dataset of JPEGs (images/train2017): its images copied "
                                                   "--copies times are a second set, trained with cache off")
    ap.add_argument("--copies", type=int, default=48)
    ap.add_argument("--jpeg-plans", default="store-auto", help="plans run on the JPEG set")
    ap.add_argument("--jpeg-first", action="store_true", help="run the JPEG set before the synthetic one")
    ap.add_argument("--val", action=argparse.BooleanOptionalAction, default=True,
                    help="validate every epoch, Ultralytics' default (--no-val: the loop alone)")
    ap.add_argument("--val-images", type=int, default=512)
    ap.add_argument("--one-plain", action="store_true", help="plain Ultralytics at its default workers only")
    ap.add_argument("--steps", default=",".join(STEP_VARIANTS), help="GPU-only step variants ('' for none)")
    ap.add_argument("--pieces", default="loader,augment,probe,profile", help="which pieces to measure")
    ap.add_argument("--profile-config", default="workbook-gpu-fast", help="comma-separated plans to profile")
    ap.add_argument("--pieces-from", default="", help="merge: records whose pieces (only) are added")
    ap.add_argument("--smoke", action="store_true", help="64 px, 16 images, batch 8, CPU: checks the harness")
    ap.add_argument("--out-dir", default=str(RESULTS))
    ap.add_argument("--timeout", type=float, default=900, help="seconds per process")
    # child arguments
    ap.add_argument("--config", default="")
    ap.add_argument("--data", default="")
    ap.add_argument("--json", default="")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--cache", default="ram")
    ap.add_argument("--device", default="")
    ap.add_argument("--project", default="")
    ap.add_argument("--probe-steps", type=int, default=6)
    ap.add_argument("--profile-skip", type=int, default=4)
    ap.add_argument("--profile-steps", type=int, default=3)
    a = ap.parse_args(argv)
    a.cache = {"false": False, "true": True}.get(str(a.cache).lower(), a.cache)
    if a.mode == "merge":
        return merge(a)
    if a.mode != "run":
        fn = {"child-plan": child_plan, "child-probe": child_probe, "child-augment": child_augment,
              "child-profile": child_profile}[a.mode]
        t0 = time.perf_counter()
        rec = fn(a)
        rec.update(pid=os.getpid(), process_wall_s=round(time.perf_counter() - t0, 2))
        Path(a.json).write_text(json.dumps(rec))
        return 0
    return orchestrate(a)


def merge(a: argparse.Namespace) -> int:
    """One record from several calls on the same machine (a session's command may not outlast a few minutes): the
    runs in the order they ran, every call's pieces, the environment of the first; the summary recomputed."""
    docs = [json.loads(Path(p).read_text()) for p in a.records]
    first = docs[0]
    devices = {d["environment"].get("device") for d in docs}
    if len(devices) > 1:
        raise SystemExit(f"records of different devices cannot be merged: {sorted(map(str, devices))}")
    doc = {"environment": first["environment"], "setup": {**first["setup"], "repeats": 0, "merged_from": [
        {"record": Path(p).name, "date": d["environment"].get("date"), "runs": len(d["runs"])}
        for p, d in zip(a.records, docs)]}, "runs": [], "pieces": {}}
    for i, d in enumerate(docs):
        offset = 1 + max((r.get("repeat", 0) for r in doc["runs"]), default=-1) if doc["runs"] else 0
        for r in d["runs"]:
            doc["runs"].append({**r, "repeat": r.get("repeat", 0) + offset, "call": i})
        doc["pieces"].update(d["pieces"])
    counts = {}
    for r in doc["runs"]:
        if "error" not in r:
            counts[r["config"]] = counts.get(r["config"], 0) + 1
    doc["setup"]["repeats"] = min(counts.values()) if counts else 0
    doc["setup"]["repeats_by_config"] = counts
    for p in filter(None, a.pieces_from.split(",")):  # pieces measured in another call (another boot of the kind)
        d = json.loads(Path(p).read_text())
        for k, v in d["pieces"].items():
            doc["pieces"].setdefault(k, {**v, "from": f"{Path(p).name}, {d['environment'].get('date')}"})
    out = Path(a.out_dir)
    write(doc, out, a.tag)
    print(json.dumps({k: v for k, v in doc["summary"].items()}, indent=1))
    return 0


def orchestrate(a: argparse.Namespace) -> int:
    import helpers  # noqa: F401
    from helpers.core import paths
    from helpers.core.versions import describe
    from helpers.data import synthetic
    from helpers.train.planner import auto_workers

    if a.smoke:  # the harness end to end on two cores: the plans with every store forced, one step variant
        a.images, a.imgsz, a.batch, a.epochs, a.device, a.cache = 16, 64, 8, 2, "cpu", False
        a.repeats = min(a.repeats, 2)
        a.probe_steps = 1
        a.val_images = 4
        if a.plans == DEFAULT_PLANS:
            a.plans = "workbook-default,store-gpu,store-host,store-jpeg,store-off"
        if a.steps == ",".join(STEP_VARIANTS):
            a.steps = "sdpa"
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    work = paths.runs_dir() / "bench" / a.tag
    work.mkdir(parents=True, exist_ok=True)
    log = out / f"{a.tag}.log" if not a.smoke else work / "children.log"
    log.write_text("")
    data = synthetic.generate(work / "data", synthetic.SynthSpec(n_train=a.images, n_val=a.val_images,
                                                                 imgsz=a.imgsz))
    best_w = auto_workers(a.device)
    default_w = 8  # Ultralytics' default `workers`
    worker_counts = [default_w] if best_w == default_w or a.one_plain else [default_w, best_w]
    if a.smoke:
        worker_counts = [2]  # a 2-core CI machine: cheap
    py = sys.executable
    val = ["--val"] if a.val else ["--no-val"]

    def args(data_yaml: Path, cache) -> tuple[list[str], list[str]]:
        common = ["--data", str(data_yaml), "--imgsz", str(a.imgsz), "--batch", str(a.batch), "--cache", str(cache),
                  "--device", a.device]
        return common, common + ["--epochs", str(a.epochs), "--project", str(work / "runs"), *val]

    common, _ = args(data, a.cache)
    plans = [p for p in a.plans.split(",") if p]
    datasets = [("", data, a.cache, plans)]  # (suffix, yaml, cache, plans)
    if a.jpeg_set:  # real JPEG files, decoded from disk every epoch by plain Ultralytics (cache off)
        real = copies_of(Path(a.jpeg_set), a.copies, work / "jpegset")
        datasets.append((f"@{Path(a.jpeg_set).name}x{a.copies}", real, False,
                         [p for p in a.jpeg_plans.split(",") if p]))
        if a.jpeg_first:
            datasets.reverse()
    doc = {"environment": describe(), "setup": {
        "model": "yolo12n.yaml", "imgsz": a.imgsz, "batch": a.batch, "images": a.images, "val_images": a.val_images,
        "epochs": a.epochs, "first_epoch_timed": False, "cache": a.cache, "mosaic": "on (close_mosaic 0)",
        "val": "every epoch" if a.val else False,
        "repeats": a.repeats, "ultralytics_default_workers": worker_counts[0],
        "workbook_workers": best_w, "plans": {p: PLANS[p] for d in datasets for p in d[3]},
        "datasets": {d[0] or "synthetic": str(d[1]) for d in datasets},
        "jpeg_set": f"{Path(a.jpeg_set).name} x {a.copies}, cache off" if a.jpeg_set else None,
        "method": "each run a fresh process; alternating order; epoch wall clock, CUDA synchronised at epoch ends "
                  "only; first epoch left out"}, "runs": [], "pieces": {}}
    print(json.dumps(doc["environment"]), flush=True)
    write(doc, out, a.tag)

    def piece(key: str, cmd: list[str]) -> None:
        doc["pieces"][key] = run_child(cmd, a.timeout, log)
        print(key, json.dumps(doc["pieces"][key])[:400], flush=True)
        write(doc, out, a.tag)

    wanted = set(a.pieces.split(","))
    me = [py, str(Path(__file__).resolve())]
    if "loader" in wanted:
        for w in worker_counts:
            piece(f"loader:w{w}", [py, str(PLAIN), "loader", *common, "--workers", str(w),
                                   "--batches", "2" if a.smoke else "20"])
    if "augment" in wanted:
        piece("augment", me + ["child-augment", *common])
    if "probe" in wanted:
        for name in [p for p in plans if p in STEP_PLANS or not p.startswith("store-")] + \
                [s for s in a.steps.split(",") if s]:
            piece(f"probe:{name}", me + ["child-probe", *common, "--config", name, "--probe-steps", str(a.probe_steps)])
    for suffix, yaml_path, cache, names in datasets:
        _, wbd = args(yaml_path, cache)
        configs = [f"ultralytics-w{w}" for w in worker_counts] + names
        for r in range(a.repeats):
            order = configs if r % 2 == 0 else configs[::-1]
            for name in order:
                if name.startswith("ultralytics-w"):
                    w = int(name.rsplit("w", 1)[1])
                    cmd = [py, str(PLAIN), "train", *wbd, "--workers", str(w), "--name", f"plain-w{w}"]
                else:
                    cmd = me + ["child-plan", *wbd, "--config", name]
                rec = run_child(cmd, a.timeout, log)
                rec.update(config=name + suffix, repeat=r)
                doc["runs"].append(rec)
                print(name + suffix, r, {k: rec.get(k) for k in ("img_s", "img_s_wall", "store", "peak_allocated_gib",
                                                                  "error", "process_s")}, flush=True)
                write(doc, out, a.tag)
    if "profile" in wanted and not a.smoke:
        for config in (c for c in a.profile_config.split(",") if c in PLANS):
            piece(f"profile:{config}", me + ["child-profile", *common, "--config", config,
                                             "--project", str(work / "runs"), "--profile-skip", str(a.profile_skip),
                                             "--profile-steps", str(a.profile_steps)])
    write(doc, out, a.tag)
    s = doc["summary"]
    print("summary:", json.dumps({k: v for k, v in s.items() if k != "img_s_by_config"}), flush=True)
    for k, v in s.get("img_s_by_config", {}).items():
        print(f"  {k:22s} {v['median']:>8} img/s  ({v['min']} - {v['max']}, n={v['n']})", flush=True)
    print(f"wrote {out / a.tag}.json and .md", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
