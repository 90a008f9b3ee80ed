"""Notebook 08's comparison of models at one plan: this run's table, reading and curves, and the recorded GPU
comparison (its settings, table, curves and a plain statement of when YOLO12 is worth it), each computed from the
run's or the record's figures (so the prose cannot drift from the numbers)."""

from __future__ import annotations

import ast
import json
import math
import shlex
from pathlib import Path
from typing import Any

from helpers.core.tables import Table

MODELS = ("yolo12n", "yolo11n", "yolo26n", "yolov9s")
RECORD = "08.models"  # helpers.records.evidence: the recorded GPU comparison
NOTEBOOK = "08_model_choice.ipynb"
RISING_EPOCHS = 5  # "still climbing": mAP50-95 gained over the last epochs of the run
NEAR_ZERO = 0.01  # mAP50 and mAP50-95 below this: the model detects nothing yet
MOSAIC_EPOCHS = 2  # epochs before and after close_mosaic's switch compared by mosaic_reading


def _fig(figures: dict[str, Any], model: str, name: str) -> Any:
    return figures.get(f"{model}_{name}")


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def models_in(figures: dict[str, Any]) -> list[str]:
    """The models a record holds, in the notebook's order."""
    return [m for m in MODELS if _fig(figures, m, "mAP50-95") is not None]


def curves_of(paths: list, models: tuple[str, ...] = MODELS) -> dict[str, dict[str, list[float]]]:
    """Each model's results.csv columns from a record's files, matched by the model's name in the file name (not by
    the files' order)."""
    from helpers.train import curves

    return {m: curves.load(p) for m in models for p in paths if f"-{m}-results.csv" in str(p)}


def table(figures: dict[str, Any], title: str) -> Table:
    """One row per model: the training loop's img/s, the GPU-only probe, peak memory, wall time, mAP50-95."""
    def num(v: Any, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    rows = [(m, num(_fig(figures, m, "img_s"), ".0f"), num(_fig(figures, m, "probe_img_s"), ".0f"),
             num(_fig(figures, m, "peak_gib"), ".1f"), num(_fig(figures, m, "train_seconds"), ".0f"),
             num(_fig(figures, m, "mAP50-95"), ".3f")) for m in models_in(figures)]
    return Table(("model", "img/s, training loop", "img/s, GPU step alone (probe)", "peak GiB", "train s",
                  "mAP50-95 after the run"), rows, title)


def gain_at_end(curve: list[float], epochs: int = RISING_EPOCHS) -> float:
    """mAP50-95 gained over the last `epochs` epochs: near 0 for a run that has settled, large for one still rising."""
    return curve[-1] - curve[-1 - epochs] if len(curve) > epochs else float("nan")


def verdict(figures: dict[str, Any], runs: dict[str, dict[str, list[float]]] | None = None,
            spread: tuple[float, float] | None = None, epochs: int | None = None) -> str:
    """When YOLO12 is worth it by this record, in plain words: its accuracy, speed and memory beside each other
    model; a gap counts only where it exceeds `spread` (yolo12n's own run-to-run range at this batch). `runs`: each
    model's results.csv columns (helpers.train.curves.load), to tell a run still rising from a settled one."""
    ms = [m for m in models_in(figures) if m != "yolo12n"]
    if "yolo12n" not in models_in(figures) or not ms:
        return "The record does not hold yolo12n beside another model: there is nothing to compare."
    y = {k: _fig(figures, "yolo12n", k) for k in ("mAP50-95", "img_s", "peak_gib", "train_seconds")}
    margin = spread[1] - spread[0] if spread else 0.0
    acc = {m: _fig(figures, m, "mAP50-95") for m in ms}
    better = [m for m in ms if acc[m] > y["mAP50-95"] + margin]
    worse = [m for m in ms if acc[m] < y["mAP50-95"] - margin]
    level = [m for m in ms if m not in better and m not in worse]
    run = f"After the same {epochs} epochs" if epochs else "After the same epochs"
    out = [f"{run}, yolo12n reached mAP50-95 {y['mAP50-95']:.3f}; "
           + ", ".join(f"{m} {acc[m]:.3f}" for m in ms) + "."]
    if spread:
        out.append(f"Two seeds of yolo12n at this batch (notebook 02's sweep) ended {spread[0]:.4f}–{spread[1]:.4f}, so "
                   f"only a gap above {margin:.4f} is more than run-to-run variation: "
                   + "; ".join(p for p in (f"{_and(better)} beat it" if better else "",
                                            f"it beat {_and(worse)}" if worse else "",
                                            f"{_and(level)} {'is' if len(level) == 1 else 'are'} within that range"
                                            if level else "") if p) + ".")
    faster = [m for m in ms if (_fig(figures, m, "img_s") or 0) > (y["img_s"] or 0)]
    leaner = [m for m in ms if (_fig(figures, m, "peak_gib") or 1e9) < (y["peak_gib"] or 0)]
    out.append(f"Its training loop ran at {y['img_s']:.0f} img/s ("
               + ", ".join(f"{m} {_fig(figures, m, 'img_s'):.0f}" for m in ms) + f") with a peak of {y['peak_gib']:.1f} GiB ("
               + ", ".join(f"{m} {_fig(figures, m, 'peak_gib'):.1f}" for m in ms) + ").")
    if runs:
        from helpers.train.curves import METRICS

        rising = {m: gain_at_end(cols[METRICS["mAP50-95"]]) for m, cols in runs.items()}
        up = [m for m, g in rising.items() if g > 0.05]
        if up:
            out.append(f"{_and(up)} {'was' if len(up) == 1 else 'were'} still climbing at the end (more than 0.05 "
                       f"mAP50-95 gained over the last {RISING_EPOCHS} epochs): the run compares how fast each learns "
                       "at this batch, not where each would settle.")
    dominant = [m for m in better if m in faster and m in leaner]
    if dominant:
        out.append(f"**On this data and plan, {_and(dominant)} beat yolo12n on every column: more accurate, faster and "
                   "leaner.** Ultralytics' documentation recommends YOLO11 and YOLO26 over YOLO12, and this record "
                   "does not contradict it. YOLO12 is worth it only where your own data shows an accuracy gain that "
                   "pays for its cost: run this notebook on your dataset (`--set dataset=path/to/data.yaml`).")
    elif not better and worse:
        out.append("**On this data and plan YOLO12 is worth it: no other model was more accurate.** Weigh its speed "
                   "and memory above against the gain.")
    else:
        out.append("**On this data and plan the choice is a trade:** weigh the accuracy gaps above against the speed "
                   "and memory columns.")
    return " ".join(out)


# ---- the settings the record ran with, read from the record ----------------------------------------------------

def _default(name: str) -> Any:
    """A parameter's default as notebook 08's parameters cell writes it (a literal), or None."""
    from helpers.core import paths

    cells = json.loads((paths.NOTEBOOKS / NOTEBOOK).read_text())["cells"]
    source = next(("".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])), "")
    for node in ast.parse(source).body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == name:
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                return None
    return None


def recorded_lr0(lr_pg0: list[float], epochs: int, lrf: float = 0.01) -> float:
    """lr0 from a results.csv lr/pg0 column: Ultralytics logs lr0 x its linear factor lf(e) once warm-up is over
    (and less during it), so lr0 is the largest lr/pg0 / lf(e) (4 significant digits)."""
    from helpers.train import lr

    return float(f"{max(v / lr.ultralytics_lf(e, epochs, lrf) for e, v in enumerate(lr_pg0)):.4g}")


def recorded_settings(rec: Any, runs: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    """What the recorded comparison ran with, from the record: the profile and `--set` values of its command over
    the profile's values and the notebook's defaults (dataset, training images, image size, effective batch,
    close_mosaic), the epochs its results.csv files hold and lr0 from their lr/pg0 column."""
    from helpers.core import profiles
    from helpers.records.sweep_record import RENAMED

    words = shlex.split(rec.command)
    flag = {w: words[i + 1] for i, w in enumerate(words[:-1]) if w == "--profile"}
    sets = profiles.parse_assignments([words[i + 1] for i, w in enumerate(words[:-1]) if w == "--set"])
    sets = {RENAMED.get(k, k): v for k, v in sets.items()}
    summary = json.loads(Path(rec.paths()[0]).read_text())
    prof = profiles.get(flag.get("--profile") or summary.get("profile"))
    first = next(iter(runs.values()))
    epochs = len(first["epoch"])
    return {"profile": prof.name, "dataset": sets.get("dataset", _default("dataset")), "n_train": prof.n_train,
            "imgsz": sets.get("imgsz", prof.imgsz), "nbs": sets.get("nbs", prof.nbs), "epochs": epochs,
            "lr0": recorded_lr0(first["lr/pg0"], epochs),
            "close_mosaic": sets.get("close_mosaic", _default("close_mosaic"))}


def settings_text(s: dict[str, Any]) -> str:
    """The recorded run's settings in one sentence."""
    data = f"{s['n_train']} synthetic images" if s["dataset"] == "synthetic" else f"`{s['dataset']}`"
    return (f"This notebook in the `{s['profile']}` profile: {data} at {s['imgsz']} px, {s['epochs']} epochs, "
            f"effective batch {s['nbs']}, lr0 {s['lr0']:g}, the same warm-up, augmentation and "
            f"`close_mosaic={s['close_mosaic']}` for every model. The table, the curves and the statement under them "
            "are computed from that record.")


# ---- this run ----------------------------------------------------------------------------------------------------

def finals(runs: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each run's last-epoch metrics (mAP50, mAP50-95 ...); `runs`: model -> an object with .curves()
    (helpers.measure.isolated.IsolatedRun)."""
    from helpers.train import curves

    return {m: curves.final(r.curves()) for m, r in runs.items()}


def near_zero(fins: dict[str, dict[str, float]]) -> bool:
    """Whether every model ended with mAP50 and mAP50-95 below NEAR_ZERO: it detects nothing yet."""
    return bool(fins) and all(max(f.get("mAP50", 0.0), f.get("mAP50-95", 0.0)) < NEAR_ZERO for f in fins.values())


def run_table(runs: dict[str, Any], sizes: dict[str, tuple[int, float]], plan: Any) -> Table:
    """This run: one row per model (parameters, micro-batch x accumulate, img/s, peak GiB, wall time, mAP)."""
    fins = finals(runs)
    rows = [(name, f"{sizes[name][0] / 1e6:.2f} M", f"{r.plan.batch} x {r.plan.accumulate}",
             "-" if r.img_s is None else f"{r.img_s:.0f}", "-" if r.peak_gib is None else f"{r.peak_gib:.1f}",
             f"{r.seconds:.0f}", f"{fins[name].get('mAP50', 0):.3f}", f"{fins[name].get('mAP50-95', 0):.3f}")
            for name, r in runs.items()]
    return Table(("model", "params", "micro-batch x accumulate", "img/s (training loop)", "peak GiB", "train s",
                  "mAP50", "mAP50-95"), rows,
                 f"this run: effective batch {plan.effective_batch}, {plan.epochs} epochs, {plan.imgsz} px, same data "
                 "and plan")


def run_reading(fins: dict[str, dict[str, float]], plan: Any, where: str, recorded: dict[str, Any]) -> str:
    """What this run's mAP columns say, in one sentence. All (near) zero: why (few epochs, random weights, small
    images on this machine) and that the recorded GPU comparison is the one to read. `recorded`: recorded_settings."""
    names = {m: m.removesuffix(".yaml") for m in fins}
    start = "from random weights" if not plan.weights else f"from `{plan.weights}`"
    gpu = (f"the recorded GPU comparison below ({recorded['epochs']} epochs at {recorded['imgsz']} px, effective batch "
           f"{recorded['nbs']})")
    if near_zero(fins):
        return (f"**Why every mAP here is (near) zero:** {plan.epochs} epochs {start} at {plan.imgsz} px on {where} "
                f"are far too few for any model to detect anything yet (all ended below mAP50 {NEAR_ZERO:g}), so this "
                "run's mAP columns rank nothing and only its cost columns compare the models; what they reach shows "
                f"in {gpu}.")
    m = {k: f.get("mAP50-95", 0.0) for k, f in fins.items()}
    hi, lo = max(m, key=m.get), min(m, key=m.get)
    return (f"After {plan.epochs} epochs {start} at {plan.imgsz} px on {where}, the best mAP50-95 was "
            f"{names[hi]}'s {m[hi]:.3f} and the lowest {names[lo]}'s {m[lo]:.3f}; compare it with {gpu}.")


# ---- curves ------------------------------------------------------------------------------------------------------

def loss_terms(cols: dict[str, list[float]], split: str = "train") -> list[str]:
    """The loss terms a model logs (box, cls, dfl; YOLO26: box, cls, l1)."""
    return [k.split("/", 1)[1].removesuffix("_loss") for k in cols if k.startswith(f"{split}/") and k.endswith("_loss")]


def relative_loss(cols: dict[str, list[float]]) -> list[float]:
    """A model's own total training loss (the sum of its terms) divided by its first epoch's: models with different
    loss functions compare by how far each fell, not by their values."""
    from helpers.train.curves import total_loss

    loss = total_loss(cols)
    first = loss[0] if loss and loss[0] and math.isfinite(loss[0]) else float("nan")
    return [v / first for v in loss]


def plot(runs: dict[str, dict[str, list[float]]], title: str = "", close_mosaic: int = 0, with_map: bool = True):
    """Each model's own training loss relative to its first epoch and (with_map) its val mAP50-95 per epoch; a
    dotted line where mosaic switches off (Ultralytics' close_mosaic: the last N epochs)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from helpers.train.curves import MAP50_95

    fig, axes = plt.subplots(1, 2 if with_map else 1, figsize=(11 if with_map else 6, 3.4), squeeze=False)
    axes = axes[0]
    epochs = 0
    for name, c in runs.items():
        short = str(name).removesuffix(".yaml")
        axes[0].plot(c["epoch"], relative_loss(c), marker="o", ms=3, label=f"{short} ({'+'.join(loss_terms(c))})")
        if with_map:
            axes[1].plot(c["epoch"], c[MAP50_95], marker="o", ms=3, label=short)
        epochs = max(epochs, len(c["epoch"]))
    axes[0].set(title="train loss / its epoch-1 value (each model's own loss terms)", xlabel="epoch",
                ylabel="relative to epoch 1")
    if with_map:
        axes[1].set(title="val mAP50-95", xlabel="epoch", ylim=(0, None))
    if close_mosaic and epochs > close_mosaic:
        for ax in axes:
            ax.axvline(epochs - close_mosaic + 0.5, color="grey", ls=":", label="mosaic off")
    for ax in axes:
        ax.legend(fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs, not fractions of one
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def mosaic_reading(runs: dict[str, dict[str, list[float]]], close_mosaic: int, k: int = MOSAIC_EPOCHS) -> str:
    """What mAP50-95 did around close_mosaic's switch: each model's gain over the k epochs after it against the k
    before, and which jumped (at least 0.05 and more than twice its gain before); '' when the switch is not inside
    the run with k epochs either side."""
    from helpers.train.curves import MAP50_95

    epochs = min(len(c["epoch"]) for c in runs.values())
    s = epochs - close_mosaic  # 0-based index of the first epoch without mosaic
    if not close_mosaic or s - 1 - k < 0 or s - 1 + k >= epochs:
        return ""
    gain = {m: (c[MAP50_95][s - 1 + k] - c[MAP50_95][s - 1], c[MAP50_95][s - 1] - c[MAP50_95][s - 1 - k])
            for m, c in runs.items()}
    jumped = [m for m, (after, before) in gain.items() if after >= 0.05 and after > 2 * max(before, 0.0)]
    return (f"Where `close_mosaic` switches mosaic off (the dotted line, from epoch {s + 1}), mAP50-95 gained over the "
            f"{k} epochs after it, against the {k} before: "
            + ", ".join(f"{m} {a:+.3f} ({b:+.3f})" for m, (a, b) in gain.items()) + ". "
            + (f"{_and(jumped)} jumped: the training images change from 4-image mosaics at mixed scales to single "
               "images like the validation ones." if jumped else "No model jumped at the switch."))
