"""Recorded GPU evidence: what a GPU-only section of the workbook showed on the GPU machine, read back from
`benchmarks/results/` and always labelled with the device, the date and the command that reproduces it.

On a machine without a CUDA GPU a notebook shows these records instead of an empty table; with a GPU it runs the
section live and shows the record beside it. `RECORDS` names each record's files; a test checks they exist.
"""

from __future__ import annotations

import csv
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.core.tables import Table
from helpers.records.results import RESULTS, provenance

H100 = "NVIDIA H100 80GB HBM3 (torch 2.11.0+cu130, Ultralytics 8.4.190)"
H200 = "NVIDIA H200 (torch 2.11.0+cu130, Ultralytics 8.4.190)"


@dataclass(frozen=True)
class Record:
    """One recorded GPU result: where its files are and how it was made."""

    title: str
    device: str
    date: str
    command: str
    files: tuple[str, ...]  # under benchmarks/results: .png/.jpg figures, .md tables, results.csv curves, summary .json
    note: str = ""  # what to read in it (Markdown written here, not built from data)
    omit: tuple[str, ...] = ()  # recorded figures not shown: measured in a way the workbook no longer trusts

    def paths(self) -> list[Path]:
        return [RESULTS / f for f in self.files]

    @property
    def profile(self) -> str:
        """The profile its command ran (`--profile NAME`)."""
        words = self.command.split()
        return words[words.index("--profile") + 1]

    def label(self) -> str:
        """The provenance line, as Markdown (the command in a code span)."""
        return provenance(self.device, self.date, self.command)


RECORDS: dict[str, Record] = {
    "02.plan": Record(
        "the memory plan for yolo12n at 640 px, effective batch 256", H200, "2026-12-01",
        "python -m helpers run --profile gpu --only 02 --set lr_rule=sqrt",
        ("workbook-gpu-h200/02-memory-plan-fig1.png", "workbook-gpu-h200/02-memory-plan.md"),
        "The planner's cell of the executed notebook (`benchmarks/results/workbook-gpu-h200/02_train_b256.html`), cut "
        "out by `benchmarks/cut_outputs.py`: the probes, the fitted line and the micro-batch it chose."),
    "02.train": Record(
        "30 epochs of the b256 recipe of its day, synthetic shapes (2048 train / 256 val images)", H200, "2026-12-01",
        "python -m helpers run --profile gpu --only 02 --set lr_rule=sqrt",
        ("workbook-gpu-h200/02_train_b256-summary.json", "workbook-gpu-h200/02-gpu-results.csv"),
        "img/s is the training loop's, by the epoch wall clock with the first epoch left out; `train_seconds` is the "
        "whole `train()` call, validation and the first epoch in. The whole executed notebook: "
        "`benchmarks/results/workbook-gpu-h200/02_train_b256.html`."),
    "02.sweep": Record(
        "notebook 02 at effective batch 64, 128 and 256, two seeds each (gpu profile, 30 epochs)", H200, "2026-12-01",
        "python -m helpers sweep --only 02 --profile gpu --grid nbs=64,128,256 --seeds 0,1 --set lr_rule=sqrt",
        ("sweep-02-h200/sweep.json", "sweep-02-h200/sweep.png", "sweep-02-h200/README.md"),
        "Six fresh kernels, one per point; the memory planner put each effective batch in one micro-batch. How the "
        "record was made: `benchmarks/results/sweep-02-h200/README.md`. It ran as `--grid effective_batch=64,128,256` "
        "(the parameter's name then) with the square-root lr rule, the profile's default then."),
    "02.ddp": Record(
        "1 vs 2 GPUs through the workbook's multi-GPU path: yolo12n, 640 px, 8192 synthetic images, 256 per GPU",
        "2x NVIDIA H200 (torch 2.11.0+cu130, Ultralytics 8.4.190)", "2026-11-24",
        "python -m helpers synth --out shapes --n-train 8192 --n-val 256 --imgsz 640 && python -m helpers train "
        "--profile gpu --device 0,1 --batch 512 --nbs 512 --epochs 3 --data shapes/dataset.yaml --augment-device cpu "
        "--lr-rule sqrt",
        ("ddp-2xh200.json",),
        "img/s from results.csv epoch times with the real loader (3 epochs, so mosaic was already closed); the whole "
        "record, with the fixed-global-batch run: `benchmarks/results/ddp-2xh200.md`."),
    "03.train": Record(
        "the tricks run of notebook 03: yolo12n, SDPA attention, physical batch 256, 30 epochs", H200, "2026-12-01",
        "python -m helpers run --profile gpu --only 03", ("workbook-gpu-h200/03_memory_speed-summary.json",),
        "img/s by the epoch wall clock (first epoch left out). The whole executed notebook: "
        "`benchmarks/results/workbook-gpu-h200/03_memory_speed.html`; real-training speed against plain Ultralytics, "
        "each configuration in a fresh process: section 6.",
        omit=("b256_stock_peak_gib", "b256_lean_peak_gib", "b256_lean_speed_vs_stock")),  # section 2's tables, not this run
    "04.recipe": Record(
        "the stability recipe of its day, 30 epochs at batch 256: its per-epoch log", H200, "2026-12-01",
        "python -m helpers run --profile gpu --only 04", ("workbook-gpu-h200/04-recipe-gpu-results.csv",)),
    "04.nan": Record(
        "the NaN guard demo: the images of two consecutive steps made NaN", H200, "2026-12-01",
        "python -m helpers run --profile gpu --only 04", ("workbook-gpu-h200/04-nan-gpu-guard_events.csv",)),
    "04.empty_cache": Record(
        "torch.cuda.empty_cache() every 5 epochs at batch 256 (the recipe's callback)", H200, "2026-12-01",
        "python -m helpers run --profile gpu --only 04", ("workbook-gpu-h200/04-empty_cache.md",),
        "The recipe run's own table in the executed notebook (`benchmarks/results/workbook-gpu-h200/"
        "04_stability_recipe.html`), cut out by `benchmarks/cut_outputs.py`."),
    "05.monitor": Record(
        "a monitored 5-epoch run: yolo12n, batch 256, the gpu profile of its day", H200, "2026-12-01",
        "python -m helpers run --profile gpu --only 05 --set lr_rule=sqrt",
        ("workbook-gpu-h200/05-monitor-fig1.jpg", "workbook-gpu-h200/05-monitor.md",
         "workbook-gpu-h200/05_monitoring-summary.json"),
        "The run's figure, step table and verdict in the executed notebook (`benchmarks/results/workbook-gpu-h200/"
        "05_monitoring.html`), cut out by `benchmarks/cut_outputs.py`."),
    "05.fed": Record(
        "the same monitored run with Ultralytics' CPU loader, 8 workers and the images cached in RAM", H100, "2026-11-23",
        "python -m helpers run --profile gpu --only 05 --set augment_device=cpu --set workers=8 --set cache=ram "
        "--set lr_rule=sqrt", ("monitor-gpu-h100/default-fig1.png", "monitor-gpu-h100/default-tables.md")),
    "05.data_bound": Record(
        "a monitored run fed by Ultralytics' CPU loader with 1 worker and no cache: the loader starves the GPU", H100,
        "2026-11-23", "python -m helpers run --profile gpu --only 05 --set augment_device=cpu --set workers=1 "
        "--set cache=false --set epochs=2 --set lr_rule=sqrt",
        ("monitor-gpu-h100/workers1-nocache-fig1.png", "monitor-gpu-h100/workers1-nocache-tables.md"),
        "The only record of this case, made on the H100 (not the H200 above); its own baseline, the same run with 8 "
        "workers and the cache on that H100, is `benchmarks/results/monitor-gpu-h100/default-tables.md`. It ran 2 "
        "epochs."),
    "08.models": Record(
        "yolo12n, yolo11n, yolo26n and yolov9s at effective batch 256, 30 epochs, 640 px, one plan, same data",
        H200, "2026-12-01", "python -m helpers run --profile gpu --only 08 --set lr_rule=sqrt",
        ("workbook-gpu-h200/08_model_choice-summary.json", *(f"workbook-gpu-h200/08-gpu-{m}-results.csv"
                                                             for m in ("yolo12n", "yolo11n", "yolo26n", "yolov9s"))),
        "One run per model, each in a fresh process, in the order of the table (not alternated, one repeat): yolo12n "
        "ran first, and its first epoch ended 45.6 s into training against 17-27 s for the others (results.csv; the "
        "cause was not isolated), which its \"train s\" includes and its img/s (first epoch left out) does not. The whole executed notebook: "
        "`benchmarks/results/workbook-gpu-h200/08_model_choice.html`."),
    "08.compare": Record(
        "yolov9s vs yolo12n at batch 64, close_mosaic 15, 30 epochs, same data and settings", H100, "2026-11-24",
        "python -m helpers run --profile gpu --only 08 --set nbs=64 --set lr_rule=sqrt --set close_mosaic=15 "
        "--set \"models=['yolov9s.yaml', 'yolo12n.yaml']\"",
        ("workbook-gpu-h100-2/08_yolov9_b64-summary.json", "workbook-gpu-h100-2/08-gpu-yolov9s-results.csv",
         "workbook-gpu-h100-2/08-gpu-yolo12n-results.csv"),
        "The whole executed notebook: `benchmarks/results/workbook-gpu-h100-2/08_yolov9_b64.html`. The parameter "
        "`effective_batch` is now called `nbs` (`--set nbs=64`)."
        " Its img/s figures are not shown: they were per-batch medians that a per-batch synchronisation and the "
        "loader's prefetch made look faster than the run was; this notebook now times epochs by the wall clock "
        "(`helpers/measure/wallclock.py`) and `benchmarks/results/realtrain-h200.md` has real-training speed.", omit=("yolov9s_img_s", "yolo12n_img_s")),
}


def get(key: str) -> Record:
    try:
        return RECORDS[key]
    except KeyError:
        raise KeyError(f"no recorded evidence {key!r}; have: {sorted(RECORDS)}") from None


def summary_figures(path: Path) -> dict[str, Any]:
    """Every figure a notebook recorded (helpers.record), from a runner's summary.json: {name: value}."""
    doc = json.loads(path.read_text())
    return {r["name"]: r["value"] for nb in doc["results"] for r in nb["records"]}


RECORDED = "[recorded] "  # how helpers.record prints a figure: `[recorded] name: value unit`


def recorded_lines(text: str) -> dict[str, Any]:
    """{name: value} of the `[recorded] name: value unit` lines in a notebook's saved output (a record's .md)."""
    out: dict[str, Any] = {}
    for line in text.splitlines():
        if line.startswith(RECORDED) and ": " in line:
            name, value = line.removeprefix(RECORDED).split(": ", 1)
            out[name.strip()] = recorded_value(value.strip())
    return out


def recorded_value(text: str) -> Any:
    """A recorded value as helpers.record writes it: a number (its unit dropped) or the text itself."""
    first = text.split(" ", 1)[0]
    try:
        number = float(first)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in first else number


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return [{k.strip(): v for k, v in r.items()} for r in csv.DictReader(f)]


def figures_table(key: str, live: dict[str, Any] | None = None) -> Table:
    """The figures of a record's summary(ies), beside this machine's own where `live` has them."""
    rec = get(key)
    rows = []
    for p in rec.paths():
        if p.name.endswith("-summary.json"):
            for name, value in summary_figures(p).items():
                if any(name == o or name.endswith(o) for o in rec.omit):
                    continue
                mine = "-" if live is None or live.get(name) is None else live[name]  # None: not measured here
                rows.append((name, mine, value) if live is not None else (name, value))
    headers = ("figure", "this machine", f"recorded ({rec.date})") if live is not None else ("figure", f"recorded ({rec.date})")
    return Table(headers, rows, f"{rec.title} — {rec.device}")


def show(key: str, live: dict[str, Any] | None = None) -> Record:
    """Display a record: its provenance line, then each file (figures, tables, curves, recorded figures)."""
    from IPython.display import Markdown, display

    from helpers.core.tables import small_image
    from helpers.train import curves

    rec = get(key)
    display(Markdown(f"{rec.label()}  \n*{html.escape(rec.title)}*" + (f"\n\n{rec.note}" if rec.note else "")))
    shown_summary = False
    for p in rec.paths():
        if p.suffix in (".png", ".jpg"):
            display(small_image(p))
        elif p.suffix == ".md":
            display(Markdown(p.read_text()))
        elif p.name.endswith("-summary.json"):
            if not shown_summary:
                display(figures_table(key, live))
                shown_summary = True
        elif p.name.endswith("results.csv"):
            import matplotlib.pyplot as plt

            fig = curves.plot(curves.load(p), f"{p.name} · recorded on {rec.device.split(' (')[0]}")
            display(fig)
            plt.close(fig)
        elif p.suffix == ".csv":
            display(csv_table(p))
    return rec


def _number(v: str) -> str:
    """A CSV cell as a reader wants it: numbers to 4 significant digits, the rest as written."""
    try:
        return f"{float(v):.4g}"
    except (TypeError, ValueError):
        return v


def csv_table(path: Path, head: int = 4, tail: int = 4) -> Table:
    """A recorded CSV as a table, numbers rounded; a long file shows its first and last rows and says where the rest
    is (the record's figures plot all of it)."""
    rows = csv_rows(path)
    if not rows:
        return Table(("(empty)",), [], path.name)
    heads = tuple(rows[0])
    shown = rows if len(rows) <= head + tail + 1 else [*rows[:head], None, *rows[-tail:]]
    body = [tuple("..." for _ in heads) if r is None else tuple(_number(v) for v in r.values()) for r in shown]
    more = f" ({len(rows)} rows; all of them: benchmarks/results/{path.relative_to(RESULTS)})" if None in shown else ""
    return Table(heads, body, path.name + more)
