"""Time to accuracy at batch 256: mAP50-95 against the wall clock, for the plans a learner could choose.

    python benchmarks/time_to_accuracy.py --tag tta-h200-320 --imgsz 320 --jobs 8 --deadline 560   # on a GPU
    python benchmarks/time_to_accuracy.py --tag tta-h200-640 --imgsz 640 --only b64-sqrt,b256-linear --jobs 1
    python benchmarks/time_to_accuracy.py --smoke --tag tta-smoke                                   # CPU, tiny

Every point is one plan and one seed trained by the workbook's `train()` in a fresh process
(`helpers.measure.isolated`), on the gpu profile's synthetic set (2048 training, 256 validation images) at `--imgsz`,
validating every epoch. The record keeps, per point, the mAP50-95 of each epoch, the wall clock from the process's
start to each epoch's end (interpreter start-up, set-up and validation included), the per-epoch summary of the
pre-clip gradient norms (`grad_norms.csv`) and how many points shared the GPU while it ran (`jobs`). Points that
share a GPU give accuracy per epoch (which does not depend on speed) but not time: a point's time comes from a point
of the same physical configuration (micro-batch, accumulation, image size) that ran alone (`jobs` 1).

Points are started in the order of POINTS (the most telling first), up to `--jobs` at a time within the GPU's memory,
and none is started that would not finish before `--deadline` seconds; points still running at the deadline are
stopped and kept as `cut` with the epochs they finished. The record (benchmarks/results/<tag>.json) is rewritten
after every point, and a point already in it is not run again, so a later call continues the list.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE.parent))

import helpers  # noqa: E402,F401  (offline before Ultralytics is imported)
from helpers.core import csvlog, paths, profiles, versions  # noqa: E402
from helpers.train import planner  # noqa: E402
from helpers.train.plan import TrainPlan  # noqa: E402
from helpers.tricks import recipe  # noqa: E402


def recipe_04(*without: str):
    """Notebook 04's recipe (helpers.tricks.recipe.tutorial) for a point's epochs, less the named pieces."""
    return lambda epochs: recipe.tutorial(epochs, without=without)


# name -> (plan fields over the gpu profile, seeds, epochs), in the order they are started; a recipe's fields are made
# for the point's epochs
POINTS: dict[str, tuple[dict[str, Any], tuple[int, ...], int]] = {
    "b64-sqrt": (dict(batch=64, nbs=64, lr_rule="sqrt"), (0, 1), 30),  # the reference: its median best is the target
    "b256-sqrt": (dict(batch=256, nbs=256, lr_rule="sqrt"), (0, 1), 30),
    "b256-linear": (dict(batch=256, nbs=256, lr_rule="linear"), (0, 1), 30),
    "recipe": (dict(batch=256, nbs=256, lr_rule="sqrt", recipe=recipe_04()), (0, 1, 2), 60),
    "b256-linear-60ep": (dict(batch=256, nbs=256, lr_rule="linear"), (0, 1, 2), 60),
    "b256-sqrt-cliplinear": (dict(batch=256, nbs=256, lr_rule="sqrt", clip_rule="linear"), (0, 1), 30),
    "b64x4-linear": (dict(batch=64, nbs=256, lr_rule="linear"), (0, 1), 30),
    "b256-linear-bn": (dict(batch=256, nbs=256, lr_rule="linear", bn_rule="linear"), (0, 1), 30),
    "b256-linear-bn-60ep": (dict(batch=256, nbs=256, lr_rule="linear", bn_rule="linear"), (0, 1, 2), 60),
    "recipe-guards-bn": (dict(batch=256, nbs=256, lr_rule="linear", bn_rule="linear",
                              recipe=recipe_04("warm_restart", "loss_stages", "lr0", "warmup_0")), (0, 1, 2), 60),
    "b16-sqrt": (dict(batch=16, nbs=16, lr_rule="sqrt"), (0,), 30),
    "recipe-no-restart": (dict(batch=256, nbs=256, recipe=recipe_04("warm_restart")), (0, 1), 60),
    "recipe-no-stages": (dict(batch=256, nbs=256, recipe=recipe_04("loss_stages")), (0, 1), 60),
    "recipe-plan-lr": (dict(batch=256, nbs=256, lr_rule="linear", recipe=recipe_04("lr0", "warmup_0")), (0, 1), 60),
    "b256-linear-45ep": (dict(batch=256, nbs=256, lr_rule="linear"), (0, 1), 45),
    "b256-linear-warmup3": (dict(batch=256, nbs=256, lr_rule="linear", warmup_fixed=3.0), (0, 1), 30),
}
RECIPE_FIELDS = ("restart_epoch", "restart_fraction", "restart_decay", "loss_stages", "nan_guard", "early_stop",
                 "empty_cache_every", "atomic_save", "lr_fixed", "warmup_fixed")
SMOKE = {"b8": (dict(batch=8, nbs=8), (0,), 2), "b4": (dict(batch=4, nbs=4), (0, 1), 2)}
GIB_PER_IMAGE_640 = 0.15  # peak GiB per image of micro-batch at 640 px (yolo12n, fp16; b256 peaks near 36 GiB)


def key(name: str, seed: int) -> str:
    return f"{name}/seed-{seed}"


def build_plan(name: str, fields: dict[str, Any], seed: int, epochs: int, a: argparse.Namespace) -> TrainPlan:
    """The point's plan: the profile's, at this image size and seed, logged to a stable folder per point."""
    prof = profiles.get("quick" if a.smoke else "gpu")
    extra = dict(imgsz=a.imgsz, epochs=epochs, seed=seed, plots=False, exist_ok=True, name=f"{name}-s{seed}",
                 project=str(Path(a.runs) / a.tag))
    if a.smoke:
        extra.update(weights="", imgsz=64, device="cpu")
    else:
        extra.update(workers=a.workers)
    fields = dict(fields)
    if "recipe" in fields:
        fields.update(fields.pop("recipe")(epochs))
    return planner.from_profile(prof, dataset="synthetic", **{**extra, **fields})


def memory_gib(plan: TrainPlan) -> float:
    """What a point is expected to take of the GPU (activations of its micro-batch, the store, the context)."""
    return GIB_PER_IMAGE_640 * plan.batch * (plan.imgsz / 640) ** 2 + plan.train_images * 3 * plan.imgsz ** 2 / 2**30 + 2


def summarise(plan: TrainPlan, save_dir: Path, clock: dict, jobs: int, status: str, error: str = "",
              peak: float | None = None, seconds: float | None = None) -> dict:
    """A point's record: the plan's telling fields, mAP and wall clock per epoch, gradient norms, the GPU's sharing."""
    from helpers.train import curves
    from helpers.tricks import clip

    cols = curves.load(save_dir) if (save_dir / "results.csv").exists() else {}
    fields = ("batch", "nbs", "accumulate", "effective_batch", "lr0", "lr_rule", "warmup_epochs", "clip_norm",
              "clip_rule", "bn_rule", "epochs", "imgsz", "train_images", "seed", *RECIPE_FIELDS)
    return {
        "plan": {k: getattr(plan, k) for k in fields}, "status": status, "error": error, "jobs": jobs, "seconds": seconds, "peak_gib": peak,
        "epoch": [int(e) for e in cols.get("epoch", [])],
        "mAP50-95": [float(m) for m in cols.get(curves.MAP50_95, [])],
        "epoch_end_s": clock.get("epoch_end_s", []),
        "train_time_s": [float(t) for t in cols.get("time", [])],  # results.csv: from Ultralytics' training start
        "clock": {k: clock.get(k) for k in ("setup_s", "img_s", "img_s_wall", "loop_s", "overhead_s")},
        "loss": {k: [float(x) for x in cols[k]] for k in ("train/box_loss", "train/cls_loss", "train/dfl_loss",
                                                         "val/box_loss", "val/cls_loss", "val/dfl_loss") if k in cols},
        "grad_norms": clip.per_epoch(clip.read(save_dir)),
        "tricks_log": csvlog.read_rows(save_dir / "tricks_log.csv"),
    }


def run_point(plan: TrainPlan, jobs: int, timeout: float) -> dict:
    """Train one point in its own process; a point stopped at the deadline keeps the epochs it finished."""
    from helpers.measure import isolated

    try:
        r = isolated.train(plan, timeout_s=max(timeout, 1))
        return summarise(r.plan, r.save_dir, r.clock, jobs, "ok", peak=r.peak_gib, seconds=r.seconds)
    except isolated.IsolatedTimeout:
        return summarise(plan, plan.run_dir, {}, jobs, "cut", "stopped at the call's deadline")
    except Exception as e:  # noqa: BLE001  (recorded, the other points go on)
        return summarise(plan, plan.run_dir, {}, jobs, "error", f"{type(e).__name__}: {str(e)[-1500:]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tag", required=True)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--only", default="", help="comma-separated point names (default: all, in order)")
    ap.add_argument("--seeds", default="", help="comma-separated seeds (default: each point's own)")
    ap.add_argument("--jobs", type=int, default=1, help="points training at once (1: every point alone, timed)")
    ap.add_argument("--deadline", type=float, default=float("inf"), help="seconds: start nothing that ends later")
    ap.add_argument("--workers", type=int, default=2, help="loader workers per point (validation's loader)")
    ap.add_argument("--runs", default=str(paths.runs_dir() / "tta"))
    ap.add_argument("--out", default=str(RESULTS), help="folder of the record")
    ap.add_argument("--epochs", type=int, default=0, help="every point's epochs (0: each point's own)")
    ap.add_argument("--smoke", action="store_true", help="tiny CPU points (the test runs this)")
    a = ap.parse_args(argv)
    start = time.monotonic()
    table = SMOKE if a.smoke else POINTS
    names = [n for n in (a.only.split(",") if a.only else table) if n]
    unknown = [n for n in names if n not in table]
    if unknown:
        raise SystemExit(f"unknown point(s) {unknown}; known: {list(table)}")
    out = Path(a.out) / f"{a.tag}.json"
    doc = json.loads(out.read_text()) if out.exists() else {
        "benchmark": "time_to_accuracy", "imgsz": 64 if a.smoke else a.imgsz, "points": {}, "calls": []}
    call = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "command": " ".join(sys.argv),
            "jobs": a.jobs, "deadline_s": a.deadline, "environment": versions.describe()}
    doc["calls"].append(call)
    seeds = [int(s) for s in a.seeds.split(",") if s] if a.seeds else None
    queue = [(n, s) for n in names for s in (seeds or table[n][1]) if key(n, s) not in doc["points"]
             or doc["points"][key(n, s)]["status"] != "ok"]
    lock = threading.Lock()

    def save() -> None:
        with lock:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps(doc, indent=1))
            os.replace(tmp, out)

    plans = {(n, s): build_plan(n, table[n][0], s, a.epochs or table[n][2], a) for n, s in queue}  # the dataset is made here
    budget = _gpu_gib() * 0.9
    durations: dict[tuple, list[float]] = {}  # seconds per epoch of finished points, by physical configuration
    running: dict[Future, tuple[str, int, float]] = {}
    with ThreadPoolExecutor(max_workers=max(a.jobs, 1)) as pool:
        while queue or running:
            started = False
            for n, s in list(queue):
                plan = plans[(n, s)]
                held = sum(g for _, _, g in running.values())
                if len(running) >= a.jobs or (budget and held + memory_gib(plan) > budget):
                    continue
                left = a.deadline - (time.monotonic() - start)
                guess = _guess(durations, plan, len(running) + 1)
                if guess is not None and guess > left:
                    print(f"skip {key(n, s)}: about {guess:.0f} s, {left:.0f} s left", flush=True)
                    queue.remove((n, s))
                    continue
                if left < 30:
                    queue.remove((n, s))
                    continue
                print(f"start {key(n, s)} ({len(running) + 1} running)", flush=True)
                fut = pool.submit(run_point, plan, max(a.jobs, 1), left - 5)
                running[fut] = (n, s, memory_gib(plan) if budget else 0.0)
                queue.remove((n, s))
                started = True
            if not running:
                if not started:
                    break
                continue
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in done:
                n, s, _ = running.pop(fut)
                rec = fut.result()
                doc["points"][key(n, s)] = rec
                if rec["status"] == "ok" and rec["epoch_end_s"]:
                    durations.setdefault(_config(plans[(n, s)]), []).append(
                        rec["epoch_end_s"][-1] / max(len(rec["epoch_end_s"]), 1) / max(rec["jobs"], 1))
                best = max(rec["mAP50-95"], default=float("nan"))
                print(f"done {key(n, s)}: {rec['status']}, {len(rec['epoch'])} epochs, best mAP50-95 {best:.4f}, "
                      f"{rec['seconds'] or 0:.0f} s {rec['error'][:300]}", flush=True)
                save()
    call["ended"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    save()
    return 0


def _config(plan: TrainPlan) -> tuple:
    """The physical configuration a point's speed depends on."""
    return plan.batch, plan.accumulate, plan.imgsz


def _guess(durations: dict[tuple, list[float]], plan: TrainPlan, sharing: int) -> float | None:
    """Seconds a point should take with `sharing` points on the GPU, from finished points of its configuration
    (of any configuration before one of its own has finished: an epoch is the same images)."""
    seen = durations.get(_config(plan)) or [d for ds in durations.values() for d in ds]
    return None if not seen else sorted(seen)[len(seen) // 2] * plan.epochs * sharing


def _gpu_gib() -> float:
    import torch

    return torch.cuda.get_device_properties(0).total_memory / 2**30 if torch.cuda.is_available() else 0.0


if __name__ == "__main__":
    sys.exit(main())
