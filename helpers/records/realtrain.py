"""The real-training record (`benchmarks/real_training.py`) for a reader: its provenance, the runs as a table and a
figure, the GPU-only step beside them, and where a real step's GPU time goes."""

from __future__ import annotations

import statistics
from typing import Any

from helpers.core.tables import Table
from helpers.records import results

RECORD = "realtrain-h200"
COMMAND = "python benchmarks/real_training.py --tag realtrain-h200"
NAMES = {  # what each configuration of the record is, in words
    "ultralytics-w8": "plain Ultralytics, 8 workers (its default)",
    "ultralytics-w15": "plain Ultralytics, 15 workers",
    "workbook-default": "workbook: SDPA, CPU augmentation (earlier default)",
    "workbook-gpu": "workbook: resident set, GPU augmentation, deterministic",
    "workbook-gpu-fast": "workbook gpu profile: resident set, GPU augmentation, cuDNN benchmark",
    "workbook-lean": "gpu profile + checkpointing all+head",
}

SHORT = {"ultralytics-w8": "plain, 8 workers", "ultralytics-w15": "plain, 15 workers",
         "workbook-default": "SDPA + CPU augmentation", "workbook-gpu": "GPU pipeline, deterministic",
         "workbook-gpu-fast": "gpu profile (GPU pipeline)", "workbook-lean": "gpu profile + checkpointing"}


STORE_RECORD = "store-h200/store-h200"
STORE_COMMAND = ("python benchmarks/real_training.py --tag store-h200 --plans store-gpu,store-host,store-jpeg,store-off,"
                 "store-auto-16gb --jpeg-set DIR/coco128 --jpeg-plans store-auto --pieces augment --one-plain --epochs 3 "
                 "--repeats 1")
STORE_NAMES = {  # the store record's runs (helpers.pipeline.store), in words
    "store-gpu": "decoded on the GPU", "store-host": "decoded, pinned host memory",
    "store-jpeg": "JPEG in host memory, nvJPEG", "store-off": "off: Ultralytics' loader",
    "store-auto-16gb": "auto on a pretended 16 GB card", "auto@coco128x48": "auto, real JPEGs (COCO128 x 48)",
    "store-auto@coco128x48": "auto, real JPEGs (COCO128 x 48)",
}


def read(name: str = RECORD) -> dict[str, Any]:
    """The record, through the one results reader."""
    return results.read(name)


def provenance(doc: dict[str, Any], command: str = COMMAND) -> str:
    """Device, date and command; for a record merged from several calls, how many (the command is their union)."""
    env = doc["environment"]
    calls = {m["record"] for m in doc["setup"].get("merged_from", [])}
    froms = [v["from"] for v in doc.get("pieces", {}).values() if isinstance(v, dict) and v.get("from")]
    calls |= {f.split(",")[0] for f in froms}
    days = sorted({str(env["date"])[:10]} | {f.split(", ")[-1][:10] for f in froms})
    line = results.provenance(f"{env['device']}, {env.get('cpu_count')} CPU cores (torch {env['torch']}, Ultralytics "
                              f"{env['ultralytics']})", " and ".join(days), command)
    if len(calls) > 1:
        line += (f" — recorded as {len(calls)} calls of at most ten minutes each, merged by `real_training.py merge` "
                 "(`benchmarks/results/README.md` lists each call's arguments).")
    return line


def reading(doc: dict[str, Any]) -> str:
    """How to read the real-training record, as Markdown bullets whose every figure comes from the record."""
    s, runs, by = doc["summary"], doc["runs"], doc["summary"]["img_s_by_config"]
    med = {k: v["median"] for k, v in by.items()}
    peak = {k: max((r.get("peak_allocated_gib") or 0 for r in runs if r["config"] == k), default=0) for k in by}
    plain, best = s["plain_img_s"], s["fastest"]
    many = max((k for k in med if k.startswith("ultralytics") and k != "ultralytics-w8"), key=med.get, default=None)
    store = doc["pieces"].get("augment", {}).get("store_gib")
    firsts = s.get("first_epoch_s", {})
    out = [f"- **More workers did not speed up plain Ultralytics**: {plain:.0f} img/s with its 8 workers"
           + (f", {med[many]:.0f} with {many.rsplit('w', 1)[1]}" if many else "") + "."
           + (f" SDPA with Ultralytics' CPU augmentation and deterministic kernels reached {med['workbook-default']:.0f}."
              if "workbook-default" in med else ""),
           f"- **The `gpu` profile's plan runs at its GPU-only step's speed**: {s['img_s']:.0f} img/s, "
           f"{s['ratio_vs_plain']:.2f}x plain, against {s['gpu_only_img_s']:.0f} for the plan's GPU-only step on "
           f"pre-loaded tensors (the dashed line). The fused augmentation of a batch of 256 took {s['augment_ms']:.1f} ms "
           "timed alone. The plan changes two things at once, the set on the GPU and the kernels (`deterministic=False` "
           "with cuDNN's benchmark mode), and this record does not separate them: section 7's `off` run does.",
           "- **What is left is the step**, and it is memory-bound: the table below lists the kernels that took the GPU "
           "time in three profiled real steps — batch-norm, copies and element-wise kernels at the top. A faster step "
           "now means fusing those (`benchmarks/results/README.md` explains the missed targets).",
           f"- **Memory**: {peak[best]:.1f} GiB peak" + (f", of which {store:.1f} GiB is the stored set" if store else "")
           + f" — against stock's {peak.get('ultralytics-w8', 0):.1f} GiB."
           + (f" Checkpointing every layer and the head brings it to {s['lean']['peak_allocated_gib']:.1f} GiB at "
              f"{s['lean']['img_s']:.0f} img/s ({by[s['lean']['config']]['n']} run), {s['lean']['ratio_vs_plain']:.2f}x "
              "plain." if s.get("lean") else "")]
    if firsts:
        out.append(f"- **The first epoch** took {min(firsts.values()):.0f}-{max(firsts.values()):.0f} s in these "
                   "configurations (workers start, cuDNN autotuning, compilation of the augmentation): a run of a few "
                   "short epochs gains less than the table says.")
    return "How to read it (the recorded run above):\n\n" + "\n".join(out)


def runs_table(doc: dict[str, Any]) -> Table:
    """One row per configuration: median img/s of the training loop, min-max, runs, ratio to plain, peak memory."""
    s = doc["summary"]
    plain = s["plain_img_s"]
    rows = []
    for k, v in s["img_s_by_config"].items():
        peak = max((r.get("peak_allocated_gib") or 0 for r in doc["runs"] if r["config"] == k), default=0)
        rows.append((NAMES.get(k, k), f"{v['median']:.0f}", f"{v['min']:.0f}-{v['max']:.0f}", str(v["n"]),
                     f"{v['median'] / plain:.2f}x", f"{peak:.1f}"))
    return Table(("run (each a fresh process)", "img/s, median", "min-max", "runs", "vs plain (8 workers)",
                  "peak GiB"), rows, "real training, epoch wall clock, first epoch left out")


def figure(doc: dict[str, Any]):
    """Median img/s per configuration with its min-max, and the plan's GPU-only step as a line."""
    import matplotlib.pyplot as plt

    s = doc["summary"]
    items = list(s["img_s_by_config"].items())
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(items) + 1.4))
    y = range(len(items))
    med = [v["median"] for _, v in items]
    err = [[v["median"] - v["min"] for _, v in items], [v["max"] - v["median"] for _, v in items]]
    colors = ["#999999" if k.startswith("ultralytics") else "#1f77b4" for k, _ in items]
    ax.barh(list(y), med, xerr=err, color=colors, capsize=3)
    ax.set_yticks(list(y), [SHORT.get(k, k) for k, _ in items], fontsize=9)
    ax.invert_yaxis()
    top = max(v["max"] for _, v in items)
    if s.get("gpu_only_img_s"):
        g = s["gpu_only_img_s"]
        top = max(top, g)
        ax.axvline(g, color="#d62728", ls="--", lw=1, label=f"the plan's GPU-only step: {g:.0f}")
        ax.legend(loc="lower right", fontsize=8)
    for i, m in zip(y, med):
        ax.text(m / 2, i, f"{m:.0f}", color="white", fontsize=8, ha="center", va="center")
    ax.set_xlim(0, top * 1.08)
    ax.set_xlabel("images / s of training-loop wall time (median; whiskers: min-max)")
    ax.set_title(f"real training, {doc['environment']['device']}", fontsize=10)
    fig.tight_layout()
    return fig


def kernels_table(doc: dict[str, Any], n: int = 10) -> Table:
    """The kernels that took the most GPU time per step in the profiled real steps."""
    prof = next((v for k, v in doc["pieces"].items() if k.startswith("profile:")), {})
    rows = prof.get("kernels_top") or [r for r in prof.get("top_kernels", []) if not r["kernel"].startswith("aten::")]
    return Table(("kernel", "ms per step"), [(f"`{r['kernel'][:80]}`", f"{r['ms_per_step']:.1f}") for r in rows[:n]],
                 f"GPU time per real training step ({prof.get('wall_ms_per_step', '?')} ms of wall time a step, "
                 "profiler on)")


def store_table(doc: dict[str, Any]) -> Table:
    """One row per store mode of the store record: where the set lived, its size, loop and epoch img/s against plain
    Ultralytics on the same images in the same calls, the first epoch, the runs."""
    s, runs = doc["summary"], doc["runs"]
    rows = []
    for k, v in s["img_s_by_config"].items():
        if k.startswith("ultralytics"):
            continue
        mine = [r for r in runs if r["config"] == k and "error" not in r]
        label = k.replace("store-", "")
        gib = next((r["store_gib"] for r in mine if r.get("store_gib") is not None), None)
        where = next((r["store"] for r in mine if r.get("store")), "")
        rows.append((STORE_NAMES.get(k, k), where, f"{gib:.2f}" if gib is not None else "-", f"{v['median']:.0f}",
                     f"{s['ratio_by_store'][label]:.2f}x", f"{s['epoch_ratio_by_store'][label]:.2f}x",
                     f"{s['first_epoch_s'][k]:.0f}", _process_s(runs, k), str(v["n"])))
    for k, v in s["img_s_by_config"].items():
        if k.startswith("ultralytics"):
            rows.append((f"plain Ultralytics{' on ' + k.split('@')[1] if '@' in k else ''}", "-", "-",
                         f"{v['median']:.0f}", "1.00x", "1.00x", f"{s['first_epoch_s'][k]:.0f}", _process_s(runs, k),
                         str(v["n"])))
    return Table(("store", "chosen", "GiB", "loop img/s", "loop vs plain", "epoch incl. val vs plain",
                  "first epoch s", "whole process s", "runs"), rows,
                 "where the training set lives (each run a fresh process; whole process: its start to its exit)")


def store_reading(doc: dict[str, Any]) -> str:
    """How to read the store record, every figure from it: in the loop the kernels, not where the set lives, make the
    difference (`off` keeps Ultralytics' CPU loader with the same kernels); the stores pay in the epoch."""
    s, sizes = doc["summary"], doc["pieces"]["augment"]["stores"]
    loop, epoch = s["ratio_by_store"], s["epoch_ratio_by_store"]
    stores = [k for k in ("gpu", "host", "jpeg") if k in loop]
    lo, hi = min(loop[k] for k in stores), max(loop[k] for k in stores)
    return (f"In the loop every mode trained faster than plain Ultralytics, `off` included ({loop['off']:.2f}x: "
            "Ultralytics' own loader and CPU augmentation with the `gpu` profile's kernels, SDPA, "
            f"`deterministic=False` and cuDNN's benchmark mode), against {lo:.2f}-{hi:.2f}x for the stores (one run "
            "each). " + ("At this set size on this machine the kernels, not where the set lives, make the loop faster."
                         if loop["off"] >= 0.95 * lo else "Where the set lives made the loop faster too.")
            + f" The stores pay in the epoch with validation: {min(epoch[k] for k in stores):.2f}-"
            f"{max(epoch[k] for k in stores):.2f}x plain against {epoch['off']:.2f}x for `off`. The JPEG store held "
            f"the set in {sizes['jpeg']['gib']:.2f} GiB against {sizes['gpu']['gib']:.2f} GiB decoded, and brought a "
            f"batch to the GPU in {sizes['jpeg']['batch_to_device_ms']:.0f} ms (host: "
            f"{sizes['host']['batch_to_device_ms']:.0f} ms), both hidden behind the step. The first-epoch column "
            "includes compiling the augmentation where the machine's compile cache was still cold (the first workbook "
            "run of a call).")


def _process_s(runs: list[dict[str, Any]], config: str) -> str:
    """The whole process's seconds of a configuration's runs: one value, or min-max."""
    xs = sorted(r["process_s"] for r in runs if r["config"] == config and r.get("process_s") and "error" not in r)
    if not xs:
        return "-"
    return f"{xs[0]:.0f}" if len(xs) == 1 else f"{xs[0]:.0f}-{xs[-1]:.0f}"


STEP_RECORD = "step-h200/step-h200"
STEP_COMMAND = ("python benchmarks/real_training.py --tag step-h200 --plans store-gpu-compile,store-gpu,store-gpu-compile "
                "--one-plain --epochs 3 --repeats 1 --pieces probe,profile "
                "--steps sdpa-nondet,sdpa-nondet-bench,sdpa-compiled,sdpa-cudagraphs "
                "--profile-config store-gpu,store-gpu-compile")
STEP_NAMES = {"store-gpu": "gpu profile (set on the GPU), eager", "store-gpu-compile": "the same, model compiled"}


def step_runs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The step record's runs in the order they ran, each with its label (a compiled run's cache cold or warm: by the
    files the cache held before the run where the record says, else by the run's order in its call)."""
    out, seen = [], set()
    for r in doc["runs"]:
        if "error" in r:
            continue
        name = r["config"]
        label = "plain Ultralytics, 8 workers" if name.startswith("ultralytics") else STEP_NAMES.get(name, name)
        if name == "store-gpu-compile":
            warm = r["compile_cache_files_before"] > 0 if "compile_cache_files_before" in r else name in seen
            label += ", compile cache warm" if warm else ", compile cache cold"
        seen.add(name)
        out.append({**r, "label": label})
    return out


def step_table(doc: dict[str, Any]) -> Table:
    """One row per run of the step record: loop and epoch (validation included) against plain, what follows each
    loop, the first epoch and its first step, the whole process, peak memory."""
    runs = step_runs(doc)
    plain = next(r for r in runs if r["config"].startswith("ultralytics"))
    rows = [(r["label"], f"{r['img_s']:.0f}", f"{r['img_s'] / plain['img_s']:.2f}x",
             f"{r['img_s_wall'] / plain['img_s_wall']:.2f}x", f"{statistics.median(r['overhead_s'][1:]):.1f}",
             f"{r['loop_s'][0]:.0f}", f"{r['first_step_s']:.0f}", f"{r['process_s']:.0f}",
             f"{r['peak_allocated_gib']:.1f}") for r in runs]
    return Table(("run", "loop img/s", "loop vs plain", "epoch incl. val vs plain", "after each loop s",
                  "first epoch s", "of which first step s", "whole process s", "peak GiB"), rows,
                 "a faster step and a shorter validation (each run a fresh process, in the order run; after each loop: "
                 "validation and checkpoint, epochs 2-3)")


def step_profiles(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The record's profiled real steps, by plan (pieces `profile:PLAN` that were analysed)."""
    return {k.split(":", 1)[1]: v for k, v in doc["pieces"].items() if k.startswith("profile:") and "groups_pct" in v}


def step_kernels(doc: dict[str, Any]) -> Table:
    """Where a real step's GPU time goes, eager against compiled: GPU ms per step by kernel group."""
    profs = step_profiles(doc)
    groups = list(dict.fromkeys(g for v in profs.values() for g in v["groups_pct"]))
    name = {"augmentation (fused)": "Triton kernels (augmentation; compiled: the model's fused kernels too)"}
    rows = [(name.get(g, g), *(f"{v['gpu_ms_per_step'] * v['groups_pct'].get(g, 0) / 100:.1f}" for v in profs.values()))
            for g in groups]
    rows.append(("GPU busy, all kernels", *(f"{v['gpu_ms_per_step']:.1f}" for v in profs.values())))
    rows.append(("wall time of a step (profiler on)", *(f"{v['wall_ms_per_step']:.1f}" for v in profs.values())))
    return Table(("GPU ms per step", *(STEP_NAMES.get(k, k) for k in profs)), rows,
                 f"a real training step at batch {doc['setup']['batch']}, profiled (torch.profiler, kernels only)")


PROBE_NAMES = {  # the step record's GPU-only step variants (benchmarks/real_training.py STEP_VARIANTS), in this order
    "sdpa-nondet": "eager, no cuDNN autotuning", "sdpa-nondet-bench": "eager, cuDNN autotuning (the gpu profile)",
    "sdpa-compiled": "compiled (torch.compile)", "sdpa-cudagraphs": "compiled, CUDA graphs (mode reduce-overhead)"}


def step_probes(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The step record's GPU-only steps that ran (pieces `probe:NAME` of PROBE_NAMES), in PROBE_NAMES' order."""
    return {k: doc["pieces"][f"probe:{k}"] for k in PROBE_NAMES if doc["pieces"].get(f"probe:{k}", {}).get("ok")}


def step_probe_table(doc: dict[str, Any]) -> Table:
    """The GPU-only step (pre-loaded tensors, no loader, no validation): speed, first step, peak memory per variant."""
    rows = [(PROBE_NAMES[k], f"{v['img_s']:.0f}", f"{v['step_ms']:.1f}", f"{v['first_step_s']:.1f}",
             f"{v['peak_allocated_gib']:.1f}", v.get("from", "").split(", ")[-1]) for k, v in step_probes(doc).items()]
    return Table(("GPU-only step", "img/s", "ms per step", "first step s", "peak GiB", "recorded"), rows,
                 f"the training step alone at batch {doc['setup']['batch']} (each variant a fresh process; the first "
                 "step includes CUDA's start-up, cuDNN's autotuning and compilation where they apply)")


def step_reading(doc: dict[str, Any]) -> str:
    """What the step record says, as Markdown bullets whose every figure comes from the record."""
    runs = step_runs(doc)
    plain = next(r for r in runs if r["config"].startswith("ultralytics"))
    eager = next(r for r in runs if r["config"] == "store-gpu")
    comp = [r for r in runs if r["config"] == "store-gpu-compile"]
    profs = step_profiles(doc)
    pe, pc = profs.get("store-gpu"), profs.get("store-gpu-compile")
    batch = doc["setup"]["batch"]
    lo, hi = min(r["img_s"] for r in comp), max(r["img_s"] for r in comp)
    after = {r["config"]: statistics.median(r["overhead_s"][1:]) for r in (eager, plain)}
    out = [f"- **Validation after each loop** took {after['store-gpu']:.1f} s against plain's "
           f"{after[plain['config']]:.1f} s (validation and checkpoint): the workbook splits Ultralytics' "
           "one validation batch of twice the training batch over the loader's workers "
           "(`helpers/pipeline/val_loader.py`), where Ultralytics loads it in the training process. The epoch with "
           f"validation is {eager['img_s_wall'] / plain['img_s_wall']:.2f}x plain's.",
           f"- **Compiling the model** (`compile=True`) trained at {lo:.0f}-{hi:.0f} img/s against {eager['img_s']:.0f} "
           f"eager and used {comp[0]['peak_allocated_gib']:.0f} GiB against {eager['peak_allocated_gib']:.0f}. "
           f"Its first epoch took {comp[0]['loop_s'][0]:.0f} s with a cold compile cache and "
           f"{comp[-1]['loop_s'][0]:.0f} s with a warm one, against {eager['loop_s'][0]:.0f} s. With validation the "
           f"cold run's epochs ran at {comp[0]['img_s_wall']:.0f} img/s and the warm run's at "
           f"{comp[-1]['img_s_wall']:.0f}, against {eager['img_s_wall']:.0f} eager: the same configuration twice, one "
           "run each, so that gap between the two compiled runs is the noise these single runs carry. So no profile "
           "compiles: a run of hundreds of epochs may set `compile=True` for the loop and the memory."]
    if pe and pc:
        out.append(f"- **Where a step's time goes**: the GPU is busy {pe['gpu_ms_per_step']:.0f} ms of an eager step "
                   f"(the ceiling that gives: {1000 * batch / pe['gpu_ms_per_step']:.0f} img/s) and "
                   f"{pc['gpu_ms_per_step']:.0f} ms of a compiled one ({1000 * batch / pc['gpu_ms_per_step']:.0f} img/s). "
                   f"An eager step of the loop takes {1000 * batch / eager['img_s']:.0f} ms, so the GPU idles "
                   f"{1000 * batch / eager['img_s'] - pe['gpu_ms_per_step']:.0f} ms of each, waiting for the host "
                   "(kernel launches, synchronisation points: not broken down). Compilation fuses batch-norm and the "
                   "element-wise kernels into Triton kernels; convolution stays cuDNN's.")
    aug = eager.get("augment_first_batch_s")
    out.append(f"- **The first epoch is mostly its first step**: {eager['first_step_s']:.0f} s of "
               f"{eager['loop_s'][0]:.0f} s here"
               + (f" ({aug:.1f} s of it the augmentation's first batch)" if aug else "")
               + f", {plain['first_step_s']:.0f} s of {plain['loop_s'][0]:.0f} s for plain Ultralytics: the run's "
               "start-up, paid in its first step.")
    probes = step_probes(doc)
    off, on = probes.get("sdpa-nondet"), probes.get("sdpa-nondet-bench")
    if off and on:
        cost, saved_ms = on["first_step_s"] - off["first_step_s"], off["step_ms"] - on["step_ms"]
        per_epoch = doc["setup"]["images"] // batch
        steps = cost / (saved_ms / 1000)
        out.append(f"- **cuDNN's autotuning** (`cudnn_benchmark`) made the GPU-only step's first step "
                   f"{on['first_step_s']:.1f} s against {off['first_step_s']:.1f} s without it, and each later step "
                   f"{on['step_ms']:.1f} ms against {off['step_ms']:.1f} ms: its {cost:.0f} s are repaid after about "
                   f"{steps:.0f} steps ({steps / per_epoch:.0f} epochs of {per_epoch} steps). A run shorter than that "
                   "is faster without it (one process each).")
    comp, graphs = probes.get("sdpa-compiled"), probes.get("sdpa-cudagraphs")
    if comp and on:
        out.append(f"- **The step alone, compiled**: {comp['img_s']:.0f} img/s against {on['img_s']:.0f} eager"
                   + (f", and {graphs['img_s']:.0f} with CUDA graphs on top: no faster. Only the model is "
                      "compiled and graphed (as in Ultralytics' trainer); the loss, gradient clipping, the optimizer "
                      "and the EMA stay eager kernels launched by the host" if graphs else "")
                   + f". Compiling cost a first step of {comp['first_step_s']:.0f} s with a cold cache.")
    return "\n".join(out)
