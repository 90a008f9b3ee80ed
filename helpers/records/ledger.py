"""The claims ledger: what popular YOLOv12 large-batch tutorials claim, and what the workbook measured.

Every figure in a row is read from `benchmarks/results/` (written by the benchmark scripts and notebook runs on the
machine they name) or computed here on the spot; the status follows from those figures by the rule written in each
function, never typed by hand. `python -m helpers ledger --write-readme` regenerates the README's table.
"""

from __future__ import annotations

import logging
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.train import lr
from helpers.core import paths
from helpers.records import evidence, results, shown, sweep_record
from helpers.core.tables import Table, markdown

RESULTS = results.RESULTS
README = paths.ROOT / "README.md"
START, END = "<!-- ledger:start -->", "<!-- ledger:end -->"
STATUSES = ("confirmed", "refuted", "partly", "not checkable here")
TUTORIAL_ARGS = ("accumulate", "grad_clip_norm", "amp_dtype", "fp16_skip_layers", "gradient_checkpointing",
                 "mosaic_prob", "restart_epoch")
GIB_PER_GB = 1e9 / 2**30  # the tutorials state GB (10^9 bytes); the workbook measures GiB (2^30 bytes)
T4_GB = 16  # the card the memory claims are made for


@dataclass(frozen=True)
class MemoryClaim:
    """A tutorial's peak-memory figure and the recorded row measured for it: the claim's text, its rule and
    notebook 09's chart all read the figure from here."""

    n: str  # the claim's row
    what: str  # the configuration, as a chart labels it
    gb: float  # as the tutorial states it, in GB
    run: str  # the results file (benchmarks/results/RUN.json) ...
    label: str  # ... and its row measured for the claim

    @property
    def gib(self) -> float:
        return self.gb * GIB_PER_GB

    def measured(self) -> dict:
        """The recorded row (peak_allocated_gib, peak_reserved_gib, img_s, ...)."""
        return _rows(self.run)[self.label]

    def device(self) -> str:
        return _device(self.run)


MEMORY = {c.n: c for c in (
    MemoryClaim("1", "yolo12n b256", 14.2, shown.THROUGHPUT, "yolo12n b256 fp16 stock"),
    MemoryClaim("2", "yolo12n 64x4", 11.3, shown.THROUGHPUT, "yolo12n b64x4 fp16 stock"),
    MemoryClaim("9", "yolo12l b32 ckpt", 8.0, shown.LARGE, "yolo12l b32x2 fp16 sdpa ckpt-all+head"),  # the card
    MemoryClaim("11", "yolov9s b64", 19.1, shown.THROUGHPUT, "yolov9s b64 fp16 stock"))}
PHYSICAL_256_GB = 15.2  # claim 2's second figure: physical batch 256 on the T4
PARAMS_M = {"yolo12n": 2.5, "yolo12s": 9.1, "yolo12l": 26.5, "yolo12x": 59.3}  # claim 10: million parameters
SQRT_GAIN_PCT = 0.8  # claim 4: square-root lr scaling's mAP gain over linear, in percent (on COCO)


@dataclass(frozen=True)
class Claim:
    n: str
    claim: str
    status: str
    measured: str
    device: str
    command: str

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {STATUSES}")


def _doc(name: str) -> dict:
    return results.read(name, RESULTS)


def _rows(name: str) -> dict[str, dict]:
    return {r["label"]: r for r in results.load(name, RESULTS).rows}


def _device(name: str) -> str:
    return results.load(name, RESULTS).device


def _card(device: str) -> str:
    """A recorded GPU in a sentence's words: "NVIDIA H100 80GB HBM3" -> "H100"."""
    return device.removeprefix("NVIDIA ").split(" ")[0]


def _recorded(path: str) -> dict[str, Any]:
    """{name: value} of the `[recorded] name: value unit` lines a notebook printed (saved in a results file)."""
    return evidence.recorded_lines((RESULTS / path).read_text())


def c1() -> Claim:
    claim = MEMORY["1"]
    stock = claim.measured()
    lean_run = _rows(shown.LEAN)
    lean, base = lean_run["yolo12n b256 fp16 sdpa ckpt-all+head"], lean_run["yolo12n b256 fp16 stock"]
    status = "refuted" if stock["peak_allocated_gib"] > T4_GB else "confirmed"
    fit = ("fits with these tricks only" if lean["peak_reserved_gib"] < T4_GB else
           "borderline even then: the live tensors fit, PyTorch's reserved pool does not")
    return Claim("1", f"yolo12n at batch 256, 640 px, trains on a {T4_GB} GB T4 with a {claim.gb:g} GB peak", status,
                 f"stock: {stock['peak_allocated_gib']:.1f} GiB allocated at physical batch 256 "
                 f"({stock['peak_allocated_gib'] / T4_GB:.1f}x a {T4_GB} GB card); with SDPA attention + checkpointing "
                 f"of every layer and the head: "
                 f"{lean['peak_allocated_gib']:.1f} GiB allocated, {lean['peak_reserved_gib']:.1f} GiB reserved, at "
                 f"{lean['img_s'] / base['img_s']:.2f}x stock speed (same run): {fit}",
                 claim.device(), "python benchmarks/train_throughput.py --matrix b256 (and --matrix ckpt --isolate)")


def c2() -> Claim:
    claim, b256 = MEMORY["2"], MEMORY["1"].measured()["peak_allocated_gib"]
    b64, said = claim.measured()["peak_allocated_gib"], claim.gb
    close = abs(b64 - said) / said <= 0.15
    status = "partly" if close and b256 > PHYSICAL_256_GB * 1.2 else ("confirmed" if close else "refuted")
    return Claim("2", f"batch 64 x 4 accumulation holds {said:g} GB on a T4; physical 256 reaches {PHYSICAL_256_GB:g} GB",
                 status,
                 f"64 x 4: {b64:.1f} GiB allocated ({'close to' if close else 'far from'} {said:g}); physical 256: "
                 f"{b256:.1f} GiB, not {PHYSICAL_256_GB:g} (stock; harness steps, so after any number of epochs)",
                 claim.device(), "python benchmarks/train_throughput.py --matrix b256")


def c3() -> Claim:
    from helpers.tricks import precision

    r, device = _rows(shown.THROUGHPUT), _device(shown.THROUGHPUT)
    ratio = r["yolo12n b256 bf16 sdpa"]["img_s"] / r["yolo12n b256 fp16 sdpa"]["img_s"]
    value, why = precision.choose_amp("bf16", capability=(7, 5))
    t4 = "the workbook refuses bf16 on a T4 (compute capability 7.5, no bf16 tensor cores)" if value != "bf16" else ""
    return Claim("3", "bf16 autocast on a T4 gives +22% throughput with no accuracy loss", "refuted",
                 f"{t4}; on the {_card(device)}, which has them, bf16 ran at {ratio:.2f}x fp16 speed for "
                 "yolo12n at batch 256 "
                 "(same run, same memory); it needs no loss scaling, and its effect on stability was not measured",
                 device, "python benchmarks/train_throughput.py --matrix b256")


def _tta():
    from helpers.records import timetoacc

    return timetoacc.load(RESULTS / timetoacc.FOLDER.name)


def _tta_device(rec) -> str:
    return f"{rec.environment.get('device', '?')} ({rec.points[0].plan['imgsz']} px)"


TTA_COMMAND = "python benchmarks/time_to_accuracy.py --tag tta-h200-320 --imgsz 320 --jobs 8"


def c4() -> Claim:
    """Decided by the time-to-accuracy record: the two rules at effective batch 256, same epochs and seeds."""
    rec = _tta()
    s = {rule: rec.summary(f"b256-{rule}", rec.target()) for rule in ("sqrt", "linear")}
    sqrt_wins = s["sqrt"]["best_median"] > s["linear"]["best_median"]
    status = "confirmed" if sqrt_wins and s["sqrt"]["best_min"] > s["linear"]["best_max"] else \
        "partly" if sqrt_wins else "refuted"
    p = rec.plan_points("b256-linear")[0].plan
    lrs = {rule: rec.plan_points(f"b256-{rule}")[0].plan["lr0"] for rule in s}
    return Claim("4", "square-root lr scaling (0.02 at 256 from 0.01 at 64) beats linear: smoother first 10 epochs, "
                 f"+{SQRT_GAIN_PCT:g}% mAP", status,
                 f"at effective batch 256, {p['epochs']} epochs, {s['sqrt']['seeds']} seeds each: best mAP50-95 "
                 f"linear (lr0 {lrs['linear']:g}) {s['linear']['best_median']:.3f} ({s['linear']['best_min']:.3f}-"
                 f"{s['linear']['best_max']:.3f}), sqrt (lr0 {lrs['sqrt']:g}) {s['sqrt']['best_median']:.3f} "
                 f"({s['sqrt']['best_min']:.3f}-{s['sqrt']['best_max']:.3f}); epochs below half the best so far per run: "
                 f"linear {s['linear']['collapses']}, sqrt {s['sqrt']['collapses']}. Ultralytics clips every step's "
                 "gradient norm at 10, so a step's length is lr x 10: the larger lr gives back the progress per epoch "
                 "that 4x fewer steps lose (the plan's default rule is linear)",
                 _tta_device(rec), TTA_COMMAND)


def c5() -> Claim:
    rec = _tta()
    pts = [p for p in rec.points if p.plan["effective_batch"] == 256]
    steps = [g for p in pts for g in p.grad_norms if g["epoch"] > 5]
    med = statistics.median(g["median"] for g in steps)
    clipped, total = sum(g["clipped"] for g in steps), sum(g["steps"] for g in steps)
    guard = sum(int(r.get("guard_events", 0) or 0) for p in rec.points for r in p.tricks_log)
    guarded = [p for p in rec.points if p.guarded]
    return Claim("5", "gradient-norm clipping at 2.0 prevents almost all NaN events at batch 256", "not checkable here",
                 f"no NaN/Inf step occurred to prevent: {guard} NaN-guard events in {len(guarded)} guarded runs at "
                 f"batch 256 with Ultralytics' clip of 10. Ultralytics' loss is the batch's sum, so the gradient norm "
                 f"grows with the batch: after epoch 5 the pre-clip median was {med:.0f} and {clipped} of {total} "
                 f"steps were clipped at 10 ({len(pts)} runs). Every step's length is already lr x clip: a clip of 2.0 "
                 "would make each 5x shorter, a smaller lr in disguise",
                 _tta_device(rec), TTA_COMMAND)


def c16() -> Claim:
    """The tutorials' 600-epoch recipe, run as notebook 04 runs it (60 epochs here), against the plain plan."""
    rec = _tta()
    recipe, plain = rec.summary("recipe", rec.target()), rec.summary("b256-linear-bn-60ep", rec.target())
    guards = rec.summary("recipe-guards-bn", rec.target())
    plain30 = [c for n in ("b256-linear", "b256-sqrt") for c in rec.summary(n, rec.target())["collapses"]]
    fewer = statistics.median(recipe["collapses"]) < statistics.median(plain["collapses"])
    status = "partly" if fewer else "refuted"
    return Claim("14", "the tutorials' stability recipe (warm restart, staged loss gains, clip, no warm-up, NaN guard, "
                 "early stop, empty_cache) keeps a long batch-256 run from collapsing", status,
                 f"epochs whose mAP50-95 fell below half the best so far, per run: the recipe {recipe['collapses']} "
                 f"({recipe['seeds']} seeds, {recipe['epochs']} epochs, best {recipe['best_median']:.3f}); the plain "
                 f"plan {plain['collapses']} ({plain['seeds']} seeds, cut at {max(plain['epochs_run'])} of "
                 f"{plain['epochs']} epochs, best {plain['best_median']:.3f}); the recipe's guards alone "
                 f"{guards['collapses']}; plain 30-epoch runs {plain30}. The falls come with the plain plan too: they "
                 "are the few large clipped steps' flicker in validation, not a piece of the recipe; no NaN occurred "
                 "for the guard to catch",
                 _tta_device(rec), TTA_COMMAND + " --only recipe,b256-linear-bn-60ep,recipe-guards-bn")


def _span(values) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"


def accuracy_scale() -> str:
    """What the accuracy rows (claims 4, 7 and 14) rest on, as one Markdown paragraph read from their records: the
    runs' epochs and seeds, against the size of difference a tutorial quotes."""
    tta, sweep = _tta(), sweep_record.load(RESULTS / sweep_record.FOLDER.name)
    rules = [tta.summary(f"b256-{rule}", tta.target()) for rule in ("linear", "sqrt")]
    long = [tta.summary(n, tta.target()) for n in ("recipe", "b256-linear-bn-60ep", "recipe-guards-bn")]
    return (f"**Accuracy** figures come from short runs on synthetic shapes: claim 4 from "
            f"{_span([s['epochs'] for s in rules])} epochs, {_span([s['seeds'] for s in rules])} seeds per lr rule; "
            f"claim 7 from {sweep.epochs} epochs, {len(sweep.seeds)} seeds per batch (a sweep of notebook "
            f"{sweep.notebook.split('_')[0]}); claim 14 from {_span([s['epochs'] for s in long])} epochs, "
            f"{_span([s['seeds'] for s in long])} seeds per plan. They can show a direction, not a difference as "
            f"small as claim 4's +{SQRT_GAIN_PCT:g}% mAP on COCO.")


def c6() -> Claim:
    s = results.ddp_scaling(folder=RESULTS)
    per_gpu = {k: v for k, v in s.items() if k != "fixed global"}
    best = max(v["efficiency"] for v in per_gpu.values())
    # Two GPUs bound four from above (more ranks only add communication and host contention): 2-GPU efficiency
    # well below 92% refutes the claim; near it, the claim stays possible but the 4-GPU figure is unmeasured.
    status = "refuted" if best < 0.92 - 0.05 else "partly"
    parts = "; ".join(f"{k}: {v['one']:.0f} -> {v['two']:.0f} img/s = {v['speedup']:.2f}x ({v['efficiency']:.0%})"
                      for k, v in per_gpu.items())
    g = s["fixed global"]
    return Claim("6", "4-GPU DDP scales at 92% efficiency (3.7x one GPU)", status,
                 f"2 GPUs at 256 images each (global 512), the workbook's DDP path: {parts}. At a fixed global batch "
                 f"of 256 (128 per GPU, stock, earlier run): {g['speedup']:.2f}x ({g['efficiency']:.0%}): half a "
                 "batch per GPU leaves each GPU less work per step. 4 GPUs were not measured (recorded on 2x H200; "
                 "benchmarks/results/ddp-2xh200.md)",
                 _doc("ddp-2xh200")["environment"]["device"],
                 "python -m helpers train --profile gpu --device 0,1 --batch 512 --nbs 512 --epochs 3")


def c7() -> Claim:
    """Decided by the recorded sweep of notebook 02 (read by helpers.records.sweep_record): batch 256 against 64 on
    every seed, in the same epochs."""
    rec = sweep_record.load(RESULTS / sweep_record.FOLDER.name)
    best = rec.by("nbs", "best_val_mAP50-95")
    settle, secs = rec.median("nbs", "settle_epoch"), rec.median("nbs", "train_seconds")
    higher = min(best[256]) > max(best[64])  # every seed of 256 above every seed of 64
    sooner = settle[256] < settle[64]
    status = "confirmed" if higher and sooner else "partly" if higher or sooner else "refuted"
    epochs = rec.epochs
    row = "; ".join(f"batch {b}: best mAP50-95 {statistics.median(best[b]):.3f} ({min(best[b]):.3f}-{max(best[b]):.3f}), "
                    f"loss settles at epoch {settle[b]:g}, {secs[b]:.0f} s" for b in sorted(best))
    return Claim("7", "batch 256 reaches higher mAP than batch 64 in the same epochs and stabilises sooner (epoch 33 vs "
                 "87)", status,
                 f"sweep of notebook 02, {epochs:.0f} epochs, synthetic shapes, {len(best[64])} seeds each (median "
                 f"(min-max)): {row}. In the same epochs batch 64, with 4x the optimizer steps, reached "
                 f"{'higher' if statistics.median(best[64]) > statistics.median(best[256]) else 'no higher'} mAP; "
                 f"batch 256 finished {'sooner' if secs[256] < secs[64] else 'no sooner'} by the clock",
                 rec.device, rec.command())


def c8() -> Claim:
    r = _rows(shown.THROUGHPUT)
    s, f = r["yolo12n b256 fp16 stock"], r["yolo12n b256 fp16 sdpa"]
    layer = _doc(shown.ATTENTION)["layer_fwd_bwd_fp16_b256"]
    return Claim("8", "flash attention makes YOLOv12 training faster and leaner", "partly",
                 f"PyTorch's fused attention (SDPA, a flash kernel under fp16) in place of the stock area attention: "
                 f"{f['img_s'] / s['img_s']:.2f}x speed and {s['peak_allocated_gib'] - f['peak_allocated_gib']:.1f} GiB "
                 f"less at batch 256; one layer {layer['stock']['ms']:.1f} -> {layer['sdpa_auto']['ms']:.1f} ms. The "
                 "flash-attn package ships as source only and is not built for this stack, so it is not measured",
                 _device(shown.THROUGHPUT), "python benchmarks/train_throughput.py --matrix b256; benchmarks/attention_check.py")


def c9() -> Claim:
    claim = MEMORY["9"]
    r = _rows(claim.run)
    stock = r["yolo12l b32x2 fp16 stock"]
    b32, b64 = claim.measured(), r["yolo12l b64 fp16 sdpa ckpt-all+head"]
    fits32, fits64 = b32["peak_reserved_gib"] < claim.gb, b64["peak_reserved_gib"] < claim.gb
    status = "confirmed" if fits32 and fits64 else ("partly" if fits32 else "refuted")
    return Claim("9", f"activation checkpointing lets YOLOv12-L train on an {claim.gb:g} GB card at batch 32-64", status,
                 f"yolo12l at batch 32: {stock['peak_allocated_gib']:.1f} GiB stock; with SDPA + checkpointing "
                 f"{b32['peak_allocated_gib']:.1f} GiB allocated / {b32['peak_reserved_gib']:.1f} reserved at "
                 f"{b32['img_s'] / stock['img_s']:.2f}x stock speed; batch 64: {b64['peak_allocated_gib']:.1f} / "
                 f"{b64['peak_reserved_gib']:.1f} GiB (an {claim.gb:g} GB card also holds the CUDA context)",
                 claim.device(), "python benchmarks/train_throughput.py --matrix large")


def c10() -> Claim:
    sizes = _doc("model-sizes")["models"]
    got = {m: sizes[f"{m}.yaml"]["nc80"]["params"] / 1e6 for m in PARAMS_M}
    worst = max(abs(got[m] - c) / c for m, c in PARAMS_M.items())
    gpu = _doc(shown.EXPORT)
    b1 = next(r for r in gpu["latency"] if r["backend"] == "pytorch cuda fp16 + CUDA graph" and r["batch"] == 1)
    params = ", ".join(f"{m[6:].upper()} {got[m]:.2f}" for m in PARAMS_M)
    return Claim("10", f"YOLOv12 {'/'.join(m[6:].upper() for m in PARAMS_M)}: "
                 f"{'/'.join(f'{v:g}' for v in PARAMS_M.values())} M parameters; T4 TensorRT 1.60/2.42/5.83/10.38 ms; "
                 "COCO mAP 40.4/47.6/53.8/55.4", "partly",
                 f"parameters as Ultralytics builds them (80 classes): {params} M (within {100 * worst:.0f}%); "
                 f"GFLOPs in benchmarks/results/model-sizes.json. Latency: no T4 and no TensorRT here; yolo12n on "
                 f"{gpu['environment']['device']}, PyTorch fp16 + CUDA graph, batch 1: {b1['median_ms']:.2f} ms (another "
                 "GPU and another runtime: not comparable with the claimed T4 TensorRT times). "
                 "COCO mAP: needs COCO training or the official weights (offline here): not checkable",
                 "CPU; " + gpu["environment"]["device"],
                 "python benchmarks/model_sizes.py; python benchmarks/export_latency.py --weights yolo12n-shapes")


def c11() -> Claim:
    claim = MEMORY["11"]
    r = claim.measured()
    mon = {tag: _recorded(next(f for f in evidence.get(key).files if f.endswith("-tables.md")))
           for tag, key in (("default", "05.fed"), ("workers1-nocache", "05.data_bound"))}
    loader = ""
    if all("train_img_s" in v for v in mon.values()):
        loader = (f"; the loader does matter: yolo12n at batch 256 trained at {mon['workers1-nocache']['train_img_s']:.0f} "
                  f"img/s with 1 worker and no cache vs {mon['default']['train_img_s']:.0f} with 8 workers and a RAM "
                  "cache (yolov9s's worker sweep was not run)")
    return Claim("11", f"YOLOv9-s at batch 64 on a 24 GB card uses {claim.gb:g} GB; tuning dataloader workers lifts "
                 "152 -> 184 img/s", "partly",
                 f"yolov9s at batch 64: {r['peak_allocated_gib']:.1f} GiB allocated, {r['peak_reserved_gib']:.1f} GiB "
                 f"reserved ({'fits' if r['peak_reserved_gib'] < 23 else 'does not fit'} 24 GB; nvidia-smi adds the "
                 f"CUDA context), {r['img_s']:.0f} img/s on pre-loaded "
                 f"tensors{loader}", claim.device(),
                 "python benchmarks/train_throughput.py --matrix b256; python -m helpers run --profile gpu --only 05 "
                 "--set workers=1 --set cache=false")


def c12() -> Claim:
    rec = evidence.get("04.empty_cache")
    return Claim("12", "calling torch.cuda.empty_cache() every 50 epochs keeps memory drift under 0.5 GB over 600 "
                 "epochs", "not checkable here",
                 f"no 600-epoch run was possible. What it does is measured in notebook 04 ({rec.files[0]}): it "
                 "returns PyTorch's cached blocks to the driver (reserved drops), live tensors (allocated) are "
                 "unchanged, and the next epoch reserves the blocks again; it cannot fix a leak", rec.device,
                 rec.command)


def c13() -> Claim:
    return Claim("13", "mixup causes early loss spikes for YOLOv12; turning it off smooths convergence",
                 "not checkable here",
                 "needs paired runs (mixup on/off, several seeds) on real data; the workbook's recipe and its "
                 "augmentation presets keep Ultralytics' default mixup=0.0",
                 "-", "python -m helpers train --profile gpu --set mixup=0.5 against the same without it, several seeds")


def c14() -> Claim:
    """Tutorial arguments, checked against Ultralytics' own argument validation right now."""
    import contextlib
    import io

    from ultralytics.cfg import get_cfg

    from helpers.core.logs import quiet

    rejected = []
    for name in TUTORIAL_ARGS:
        try:
            with quiet(logging.CRITICAL), contextlib.redirect_stdout(io.StringIO()):  # Ultralytics prints its help
                get_cfg(overrides={name: 1})
        except SyntaxError:
            rejected.append(name)
    import ultralytics

    status = "refuted" if rejected else "confirmed"
    return Claim("W1", "tutorials' arguments `" + "`, `".join(TUTORIAL_ARGS) + "` configure Ultralytics training",
                 status, f"Ultralytics {ultralytics.__version__} rejects {len(rejected)} of {len(TUTORIAL_ARGS)} with a "
                 "SyntaxError; the real levers are nbs, callbacks, a trainer subclass and patching (notebook 04 "
                 "translates each)", "CPU (this machine)", "python -m helpers ledger")


def c15() -> Claim:
    a = lr.ultralytics_weight_decay(5e-4, 256, 64)
    b = lr.ultralytics_weight_decay(5e-4, 64, 256)
    return Claim("W2", "`batch=256, nbs=64` and `batch=64, nbs=256` are the same effective-256 recipe",
                 "refuted" if abs(a / b - 1) > 0.01 else "confirmed",
                 f"both step on 256 images, but Ultralytics scales weight decay by batch x accumulate / nbs: "
                 f"{a:.4g} vs {b:.4g} ({a / b:.0f}x). Compare recipes at the same nbs",
                 "CPU (this machine)", "python -m helpers ledger")


CLAIMS = (c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c16, c14, c15)


def claims() -> list[Claim]:
    return [f() for f in CLAIMS]


HEADERS = ("#", "claim", "status", "what the workbook measured", "device", "reproduce")


def table(rows: list[Claim] | None = None) -> Table:
    rows = rows if rows is not None else claims()
    return Table(HEADERS, [(c.n, c.claim, c.status, c.measured, c.device, f"`{c.command}`") for c in rows],
                 "Claims ledger")


STATUS_COLOURS = {"confirmed": "#1e8449", "refuted": "#c0392b", "partly": "#b9770e", "not checkable here": "#7f8c8d"}


class Ledger:
    """The claims for a notebook: one line per claim (status, claim), each opening to what was measured, on which
    device, and the command; Markdown as text."""

    def __init__(self, rows: list[Claim]):
        self.rows = rows

    def _repr_html_(self) -> str:
        import html as h

        from helpers.core.tables import html_text

        items = []
        for c in self.rows:
            colour = STATUS_COLOURS.get(c.status, "#000")
            items.append(f"<details><summary><b style='color:{colour}'>{h.escape(c.status)}</b> · {h.escape(c.n)}. "
                         f"{h.escape(c.claim)}</summary><p>{html_text(c.measured)}</p><p><i>device:</i> "
                         f"{h.escape(c.device)} · <i>reproduce:</i> <code>{h.escape(c.command)}</code></p></details>")
        return "<div>" + "".join(items) + "</div>"

    def to_markdown(self) -> str:
        return table(self.rows).to_markdown()

    def __repr__(self) -> str:
        return self.to_markdown()


def compact(rows: list[Claim] | None = None) -> Ledger:
    """The claims one line each (status and claim); click a line for the measurement, the device and the command."""
    return Ledger(rows if rows is not None else claims())


def readme_block(rows: list[Claim] | None = None) -> str:
    rows = rows if rows is not None else claims()
    body = markdown(HEADERS, [(c.n, c.claim, f"**{c.status}**", c.measured, c.device, f"`{c.command}`") for c in rows])
    return f"{START}\n<!-- generated by `python -m helpers ledger --write-readme`; do not edit by hand -->\n{body}\n{END}"


def write_readme(path: Path = README, rows: list[Claim] | None = None) -> bool:
    """Replace the README's ledger block; returns True when the file changed."""
    text = path.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{path} has no {START} ... {END} block for the ledger")
    new = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _m: readme_block(rows), text, flags=re.S)
    if new != text:
        path.write_text(new)
    return new != text


def counts(rows: list[Claim]) -> dict[str, int]:
    return {s: sum(c.status == s for c in rows) for s in STATUSES}
