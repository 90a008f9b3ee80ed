"""Read the measured benchmark results (benchmarks/results/*.json) for the notebooks: tables and plots from files,
never typed-in numbers."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

from helpers.core import paths
from helpers.core.tables import Table

RESULTS = paths.ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Run:
    name: str
    environment: dict
    rows: list[dict]  # ProbeResult dicts, in the order measured
    loader: dict | None
    contaminated_after_failure: bool  # memory of rows after a failed row is not trustworthy (see README there)

    @property
    def device(self) -> str:
        return self.environment.get("device", "?")


def read(name: str, folder: Path | None = None) -> dict:
    """A results file's JSON by name (without .json)."""
    return json.loads(((folder or RESULTS) / f"{name}.json").read_text())


def recorded_device(name: str, folder: Path | None = None) -> str:
    """The GPU and the torch a doctor record was made with (its first line: the device name, then torch's version)."""
    device, torch_version = ((folder or RESULTS) / f"{name}.txt").read_text().splitlines()[0].rsplit(" ", 1)
    return f"{device}, torch {torch_version}"


def recorded_error(name: str, folder: Path | None = None, line: str = "RAW") -> str:
    """The error text a doctor record holds on its `LINE: ` line (`RAW`, an oversized allocation;
    `TRAINING STEP`, a real training step running out): what the doctor is shown where this machine cannot make that
    failure itself."""
    lines = ((folder or RESULTS) / f"{name}.txt").read_text().splitlines()
    return next(ln.removeprefix(f"{line}: ") for ln in lines if ln.startswith(f"{line}: "))


def load(name: str, folder: Path | None = None) -> Run:
    """One probe-results file by name (without .json)."""
    doc = read(name, folder)
    rows = doc.get("results", [])
    crashed = any(not r["ok"] and "out of memory" not in r["error"] for r in rows)
    return Run(name, doc.get("environment", {}), rows, doc.get("loader"), crashed)


def _is_probe_run(doc: dict) -> bool:
    """A probe-results file: a `results` list of ProbeResult rows (other records, e.g. real training, have own shapes)."""
    rows = doc.get("results")
    return isinstance(rows, list) and all(isinstance(r, dict) and "ok" in r and "label" in r for r in rows)


def available(folder: Path | None = None) -> list[str]:
    """The probe-results files, by name."""
    return sorted(p.stem for p in (folder or RESULTS).glob("*.json") if _is_probe_run(json.loads(p.read_text())))


def find(run: Run, label: str) -> dict | None:
    """The row with this configuration label (e.g. 'yolo12n b256 fp16 sdpa'), if measured."""
    return next((r for r in run.rows if r["label"] == label), None)


def group_key(row: dict) -> tuple:
    """Rows of one (model, batch, nbs, image size) group are compared with the first row of that group."""
    c = row["config"]
    return c["model"], c["batch"], c["nbs"], c["imgsz"]


def rows_table(rows: list[dict], title: str = "", baseline: str | None = None) -> Table:
    """img/s, memory and ratios, all from one run (ratios across runs mislead): to the row labelled `baseline`, or
    to the first row of each row's group (same model, micro-batch, nbs and image size)."""
    def gib(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    fixed = next((r for r in rows if r["label"] == baseline), None) if baseline else None
    if baseline and fixed is None:
        raise KeyError(f"baseline {baseline!r} is not among the rows: {[r['label'] for r in rows]}")
    base: dict[tuple, dict] = {}
    out = []
    for r in rows:
        b = fixed or base.setdefault(group_key(r), r)
        if r["ok"]:
            speed = f"{r['img_s'] / b['img_s']:.2f}x" if b["ok"] else "-"
            mem = f"{r['peak_allocated_gib'] / b['peak_allocated_gib']:.2f}x" if b["ok"] and b["peak_allocated_gib"] else "-"
            out.append((r["label"], f"{r['img_s']:.0f}", gib(r["peak_allocated_gib"]), speed, mem,
                        f"{r['step_s'] * 1000:.0f}", gib(r["peak_reserved_gib"]), ""))
        else:
            peak = f">{r['peak_allocated_gib']:.1f}" if r.get("peak_allocated_gib") else "-"
            out.append((r["label"], "failed", peak, "-", "-", "-", "-", r["error"][:80]))
    ref = f"'{baseline}'" if baseline else "the group's first row"
    headers = ("configuration", "img/s", "peak alloc GiB", f"speed vs {ref}", f"memory vs {ref}",
               "ms/step", "peak reserved GiB", "note")
    return Table(headers, out, title)


def provenance(device: str, date: str, command: str) -> str:
    """The provenance line of a recorded result, as Markdown: device (escaped), date, and the command in a code span."""
    return f"**Recorded on the GPU machine** — {html.escape(device)}, {date}. Reproduce: `{command}`"


def label(run: Run, command: str) -> str:
    """The provenance line of a results file: device, versions, date, and the command that made it."""
    env = run.environment
    return provenance(f"{run.device} (torch {env.get('torch')}, Ultralytics {env.get('ultralytics')})",
                      str(env.get("date", "?"))[:10], command)


def amp_reading(run: Run, model: str = "yolo12n", batch: int = 256) -> str:
    """bf16 against fp16 in one probe run, the configuration otherwise the same (SDPA), in one sentence."""
    rows = {r["label"]: r for r in run.rows if r["ok"]}
    half, bf = rows.get(f"{model} b{batch} fp16 sdpa"), rows.get(f"{model} b{batch} bf16 sdpa")
    if not (half and bf):
        return ""
    ratio = bf["img_s"] / half["img_s"]
    pace = "slower" if ratio < 0.97 else "faster" if ratio > 1.03 else "as fast"
    return (f"bf16 against fp16 ({model}, batch {batch}, SDPA, the same run on {run.device}): {pace}, {ratio:.2f}x "
            f"the speed, with {bf['peak_allocated_gib']:.1f} against {half['peak_allocated_gib']:.1f} GiB allocated.")


def dfl_reading(doc: dict, name: str) -> str:
    """How far the loss components under fp16 autocast are from fp32, as a memory record holds them."""
    rel = doc["dfl"]["relative_difference"]
    worst = max(rel, key=rel.get)
    return (f"The loss components under fp16 autocast against fp32, same batch: at most {rel[worst]:.0e} relative "
            f"difference ({worst}); `benchmarks/results/{name}.json`, recorded on {doc['environment']['device']}.")


def table(run: Run) -> Table:
    """A results file as a table (see rows_table)."""
    env = run.environment
    return rows_table(run.rows, f"{run.name}: {run.device}, torch {env.get('torch')}, Ultralytics {env.get('ultralytics')}")


def plot(run: Run, labels: list[str] | None = None, limit_gib: float | None = 16.0):
    """Speed against peak memory, one point per configuration, with a card's memory line (default 16 GiB)."""
    import matplotlib.pyplot as plt

    rows = [r for r in run.rows if r["ok"] and (labels is None or r["label"] in labels)]
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for r in rows:
        ax.scatter(r["peak_allocated_gib"], r["img_s"], s=30)
        ax.annotate(r["label"].replace("yolo12n ", ""), (r["peak_allocated_gib"], r["img_s"]), fontsize=7,
                    xytext=(4, 3), textcoords="offset points")
    if limit_gib:
        ax.axvline(limit_gib, color="#c0392b", ls="--", lw=1)
        ax.text(limit_gib, ax.get_ylim()[0], f" {limit_gib:g} GiB card", color="#c0392b", fontsize=8, va="bottom")
    ax.set_xlabel("peak allocated GiB")
    ax.set_ylabel("images / s")
    ax.set_title(f"Measured on {run.device} ({run.name})", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def ddp_scaling(name: str = "ddp-2xh200", folder: Path | None = None) -> dict[str, dict[str, float]]:
    """{attention: one, two (img/s, averaged over each run's timed intervals), speedup, efficiency, gb} at a fixed
    per-GPU batch from a recorded 1- vs 2-GPU file, plus 'fixed global' (same global batch) from its earlier run."""
    return _scaling(read(name, folder))


def _scaling(doc: dict) -> dict[str, dict[str, float]]:
    import statistics

    out: dict[str, dict[str, float]] = {}
    for att in dict.fromkeys(r["attention"] for r in doc["runs"]):
        runs = {r["gpus"]: r for r in doc["runs"] if r["attention"] == att}
        one, two = (statistics.mean(runs[g]["img_s"]) for g in (1, 2))
        out[att] = {"one": one, "two": two, "speedup": two / one, "efficiency": two / one / 2,
                    "gb_one": runs[1]["gpu0_peak_gb"], "gb_two": runs[2]["gpu0_peak_gb"]}
    early = {(r["gpus"], r["global_batch"]): r["img_s"][0] for r in doc["earlier_stock_run"]["runs"]}
    one, two = early[(1, 256)], early[(2, 256)]
    out["fixed global"] = {"one": one, "two": two, "speedup": two / one, "efficiency": two / one / 2}
    return out


def ddp_figure(name: str = "ddp-2xh200", folder: Path | None = None):
    """Images per second on 1 and 2 GPUs at 256 images per GPU, with the speedup over one GPU."""
    import matplotlib.pyplot as plt

    doc = read(name, folder)
    s = {k: v for k, v in _scaling(doc).items() if k != "fixed global"}
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.38
    for i, (att, v) in enumerate(s.items()):
        bars = ax.bar([i - width / 2, i + width / 2], [v["one"], v["two"]], width, color=["#95a5a6", "#2e86c1"])
        ax.text(i + width / 2, v["two"], f"{v['speedup']:.2f}x", ha="center", va="bottom", fontsize=9)
        if i == 0:
            bars[0].set_label("1 GPU (batch 256)")
            bars[1].set_label("2 GPUs (256 each, global 512)")
    ax.set_xticks(range(len(s)), [f"{att}\n{v['gb_two']:g} GB per GPU (nvidia-smi peak)" for att, v in s.items()])
    ax.set_ylabel("images / s (real loader)")
    ax.set_title(f"yolo12n 640 px, {doc['setup']['images']} images — {doc['environment']['device']}", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", ncol=2)
    ax.set_ylim(0, max(v["two"] for v in s.values()) * 1.3)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
