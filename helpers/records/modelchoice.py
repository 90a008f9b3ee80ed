"""Notebook 08's recorded comparison of models at one plan: the table, the curves and a plain statement of when
YOLO12 is worth it, each computed from the record's figures (so the prose cannot drift from the numbers)."""

from __future__ import annotations

from typing import Any

from helpers.core.tables import Table

MODELS = ("yolo12n", "yolo11n", "yolo26n", "yolov9s")
RISING_EPOCHS = 5  # "still climbing": mAP50-95 gained over the last epochs of the run


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
