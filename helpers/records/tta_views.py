"""Views of the time-to-accuracy record (`helpers.records.timetoacc`) for notebook 02b, "When batch 256 pays": a
table per plan, the verdict against a goal (a share of the reference's time), the clip's evidence (pre-clip gradient
norms per epoch), the length of one epoch's clipped steps, where a configuration's epoch goes (the solo runs' loop,
validation and checkpoint), and the frontier with the runs cut at a call's deadline marked. Every figure is read from
the record; nothing is typed in.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.core.tables import Table
from helpers.records import timetoacc
from helpers.records.timetoacc import Point, Record


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def label(rec: Record) -> str:
    """Markdown: the device, dates and versions of the record, what each point is and the commands that made it."""
    env = rec.environment
    start = min(c["started"] for c in rec.calls)
    end = max(c.get("ended") or c["started"] for c in rec.calls)
    p = rec.points[0].plan
    jobs = sorted({q.jobs for q in rec.points})
    commands = []
    for c in rec.calls:
        cmd = "python " + c["command"].split(" --out ", 1)[0]
        tag = cmd.split("--tag ", 1)[1].split()[0] if "--tag " in cmd else ""
        if tag and not any(f"--tag {tag} " in x for x in commands):
            commands.append(cmd)
    return (f"**Recorded on the GPU machine** — {env.get('device', '?')}, {start} to {end[-9:]} in {len(rec.calls)} "
            f"device calls (torch {env.get('torch')}, Ultralytics {env.get('ultralytics')}). Each point is one plan "
            f"and seed trained in a fresh process at {p['imgsz']} px on {p['train_images']} synthetic training images, "
            f"validated every epoch. {len(rec.points)} points shared the GPU ({jobs[0]} to {jobs[-1]} at a time): "
            f"their mAP per epoch. {len(rec.solo)} ran alone: the wall clock of their configuration. Reproduce: "
            + "; ".join(f"`{c}`" for c in commands))


def recorded_title(rec: Record) -> str:
    """A figure's title line: the record's device, date and image size, every seed drawn."""
    env = rec.environment
    return (f"recorded: {env.get('device', '?')}, {str(env.get('date', '?'))[:10]}, "
            f"{rec.points[0].plan['imgsz']} px, every seed")


def is_cut(rec: Record, name: str) -> bool:
    return any(p.status == "cut" for p in rec.plan_points(name))


def _epochs_run(rec: Record, name: str) -> str:
    pts = rec.plan_points(name)
    runs = sorted(len(p.maps) for p in pts)
    planned = pts[0].plan["epochs"]
    text = f"{runs[0]}" if runs[0] == runs[-1] else f"{runs[0]}-{runs[-1]}"
    return f"{text} of {planned} (cut)" if is_cut(rec, name) else text


def _reach(s: dict[str, Any]) -> tuple[str, str]:
    if not s["reached"]:
        return f"0 of {s['seeds']}", "-"
    when = f"epoch {s['epoch']:g}, " + ("no solo clock" if s["seconds"] is None else f"{s['seconds']:.0f} s")
    return f"{s['reached']} of {s['seeds']}", when


def _other(p: Point) -> str:
    bits = []
    if p.name.startswith("recipe"):
        bits.append("notebook 04's recipe")
    if p.plan.get("bn_rule", "fixed") != "fixed":
        bits.append(f"BatchNorm momentum {p.plan['bn_rule']}")
    bits.append(f"warm-up {p.plan['warmup_epochs']:g} epochs")
    return ", ".join(bits)


def plan_table(rec: Record, level_share: float = 0.95, names: list[str] | None = None) -> Table:
    """One row per plan: its step, lr, schedule, seeds, epochs run, best mAP50-95 over its seeds, how many seeds
    reached `level_share` of the target and 100% of it (with the median epoch and wall-clock seconds of those that
    did), and the collapses of each run."""
    target = rec.target()
    rows = []
    for name in names or rec.names():
        p = rec.plan_points(name)[0]
        lo, full = rec.summary(name, level_share * target), rec.summary(name, target)
        rows.append((name, f"{p.plan['batch']} x {p.plan['accumulate']} = {p.plan['effective_batch']}",
                     f"{p.plan['lr0']:g} ({p.plan['lr_rule']})", _other(p), lo["seeds"], _epochs_run(rec, name),
                     f"{lo['best_median']:.3f} ({lo['best_min']:.3f}-{lo['best_max']:.3f})", *_reach(lo), *_reach(full),
                     ", ".join(map(str, lo["collapses"]))))
    headers = ("plan", "images per step", "lr0 (rule)", "also", "seeds", "epochs run",
               "best mAP50-95: median (min-max)",
               f"reached {level_share:.0%} of target", f"to {level_share:.0%}: median", "reached 100%",
               "to 100%: median", "collapses per run")
    return Table(headers, rows, f"Per plan, against the target {target:.3f} (the median best of {timetoacc.REFERENCE})"
                                f" · {rec.environment.get('device', '?')}, {rec.points[0].plan['imgsz']} px")


def time_split(rec: Record, name: str, level: float) -> dict[str, Any] | None:
    """A plan's median time to `level` (None: no seed got there, or no solo clock): the epoch, the optimizer steps,
    the seconds, and how they split into the first epoch (process start to its end, as the solo run measured it) and
    the later epochs (measured where the solo run got there, its median epoch after that)."""
    s = rec.summary(name, level)
    if s["seconds"] is None:
        return None
    clock = rec.clock(rec.plan_points(name)[0].config)
    first = clock.measured[0]
    return {"plan": name, "epoch": s["epoch"], "steps": s["epoch"] * s["steps_per_epoch"],
            "steps_per_epoch": s["steps_per_epoch"], "seconds": s["seconds"], "first_s": first,
            "later_s": s["seconds"] - first, "epoch_s": clock.epoch_s, "clock_epochs": len(clock.measured),
            "clock_source": clock.source, "reached": s["reached"], "seeds": s["seeds"]}


def verdict(rec: Record, level_share: float = 0.95, budget: float = 0.75, batch: int = 256,
            reference: str = timetoacc.REFERENCE) -> dict[str, Any]:
    """The goal "effective batch `batch` reaches the reference's median best in at most `budget` x the reference's
    time", decided from the record: how many points of that batch reached the target, each plan's time to
    `level_share` of it against the reference's (fastest first), and whether any plan met the goal."""
    target = rec.target(reference)
    big = [n for n in rec.names() if rec.plan_points(n)[0].plan["effective_batch"] == batch]
    pts = [p for n in big for p in rec.plan_points(n)]
    ref_level, ref_full = time_split(rec, reference, level_share * target), time_split(rec, reference, target)
    at_level = []
    for n in big:
        t = time_split(rec, n, level_share * target)
        if t and ref_level:
            at_level.append({**t, "ratio": t["seconds"] / ref_level["seconds"],
                             "later_ratio": t["later_s"] / ref_level["later_s"]})
    at_level.sort(key=lambda t: t["ratio"])
    full = [t for n in big for t in [time_split(rec, n, target)] if t and ref_full]
    met = any(t["seconds"] <= budget * ref_full["seconds"] for t in full)
    return {"target": target, "level_share": level_share, "level": level_share * target, "budget": budget,
            "batch": batch, "reference": reference, "plans": big, "points": len(pts),
            "reached_full": sum(p.first_epoch_at(target) is not None for p in pts),
            "ref_level": ref_level, "ref_full": ref_full, "at_level": at_level,
            "not_at_level": [n for n in big if n not in {t["plan"] for t in at_level}], "met": met}


# ---------------------------------------------------------------------------------------------- the clip
def _finite_steps(e: dict[str, Any]) -> int | None:
    """Steps of one epoch's summary with a finite pre-clip norm: clipped / clipped share (None: not derivable, an
    epoch with finite norms none of which was clipped)."""
    share = e["clipped_share"]
    if not _finite(share):
        return 0
    return round(e["clipped"] / share) if share > 0 else None


def clip_stats(p: Point) -> dict[str, Any]:
    """Over a run's epochs: optimizer steps, steps with a finite pre-clip norm, how many of those were clipped (a
    norm above the clip), steps whose norm was not finite (fp16's loss scaler skips them), and the smallest epoch's
    10th-percentile norm. The summary keeps per epoch the clipped count and their share of the finite norms, so the
    finite count is clipped / share (unknown in an epoch with finite norms none of which was clipped)."""
    steps = finite = clipped = 0
    known = True
    p10 = []
    for e in p.grad_norms:
        steps += int(e["steps"])
        clipped += int(e["clipped"])
        n = _finite_steps(e)
        if n is None:
            known = False
        else:
            finite += n
        if _finite(e["p10"]):
            p10.append(e["p10"])
    return {"steps": steps, "finite": finite if known else None, "clipped": clipped,
            "nonfinite": steps - finite if known else None, "min_p10": min(p10, default=math.nan)}


def clip_table(rec: Record, names: list[str]) -> Table:
    """Per plan: lr0, the clip, optimizer steps per epoch, a clipped step's length (lr0 x clip) and one epoch's worth
    (x steps per epoch, at lr0: before warm-up and decay), and over all its runs the steps clipped, the steps whose
    norm was not finite, and the smallest 10th-percentile pre-clip norm of any epoch."""
    rows = []
    for name in names:
        pts = rec.plan_points(name)
        p = pts[0].plan
        stats = [clip_stats(q) for q in pts]
        fin = [s["finite"] for s in stats]
        known = all(f is not None for f in fin)
        clipped = sum(s["clipped"] for s in stats)
        step = p["lr0"] * p["clip_norm"]
        low = min(s["min_p10"] for s in stats)
        rows.append((name, f"{p['lr0']:g}", f"{p['clip_norm']:g}", f"{pts[0].steps_per_epoch:g}", f"{step:.3g}",
                     f"{step * pts[0].steps_per_epoch:.3g}",
                     f"{clipped} of {sum(fin)}" if known else f"{clipped} of ?",
                     f"{sum(s['nonfinite'] for s in stats)} of {sum(s['steps'] for s in stats)}" if known else "?",
                     f"{low:.0f} ({low / p['clip_norm']:.0f}x)"))
    headers = ("plan", "lr0", "clip", "steps per epoch", "clipped step: lr0 x clip", "an epoch of them: x steps",
               "steps clipped (of those with a finite norm)", "steps with a non-finite norm (skipped)",
               "smallest epoch p10 norm (x clip)")
    return Table(headers, rows, f"The clip, from each run's grad_norms (all seeds) · "
                                f"{rec.environment.get('device', '?')}")


def plot_grad_norms(rec: Record, names: list[str]):
    """Left: each run's median pre-clip gradient norm per epoch (its 10th-90th percentile shaded) on a log axis, the
    clip drawn across. Right: the share of steps with a finite norm that were clipped, per epoch."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.9))
    clip = None
    for i, name in enumerate(names):
        for j, p in enumerate(rec.plan_points(name)):
            rows = [g for g in p.grad_norms if _finite(g["median"])]
            e = [g["epoch"] for g in rows]
            a.plot(e, [g["median"] for g in rows], color=f"C{i}", lw=1.1, label=name if j == 0 else None)
            a.fill_between(e, [g["p10"] for g in rows], [g["p90"] for g in rows], color=f"C{i}", alpha=0.08, lw=0)
            b.plot(e, [100 * g["clipped_share"] for g in rows], color=f"C{i}", lw=1.1, marker=".", ms=3,
                   alpha=0.8, label=name if j == 0 else None)
            skipped = [(g["epoch"], 100 * (g["steps"] - n) / g["steps"]) for g in p.grad_norms
                       for n in [_finite_steps(g)] if n is not None and g["steps"]]
            b.plot([x for x, _ in skipped], [y for _, y in skipped], color=f"C{i}", lw=1, ls="--", alpha=0.8)
            clip = p.plan["clip_norm"]
    if clip is not None:
        a.axhline(clip, color="k", ls="--", lw=0.9)
        a.text(1, clip * 1.3, f"clip {clip:g}", fontsize=8)
    a.set(yscale="log", xlabel="epoch", ylabel="pre-clip gradient norm (median, p10-p90)",
          title="gradient norm before clipping, per epoch")
    b.set(xlabel="epoch", ylabel="% of the epoch's steps", ylim=(-5, 105),
          title="clipped (solid: of the finite norms) and skipped (dashed)")
    a.legend(fontsize=7)
    b.legend(fontsize=7, loc="lower right")
    fig.suptitle(recorded_title(rec), fontsize=9)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------- curves
def plot_epochs(rec: Record, names: list[str], level_share: float = 0.95):
    """mAP50-95 per epoch (left) and per optimizer step (right) of every seed of each plan, collapses marked x, the
    target and `level_share` of it drawn across."""
    import matplotlib.pyplot as plt

    target = rec.target()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.9), sharey=True)
    for i, name in enumerate(names):
        for j, p in enumerate(rec.plan_points(name)):
            for ax, per in zip(axes, (1, p.steps_per_epoch)):
                x = [(k + 1) * per for k in range(len(p.maps))]
                ax.plot(x, p.maps, color=f"C{i}", lw=1.1, alpha=0.85, label=name if j == 0 else None)
                bad = p.collapses()
                ax.plot([e * per for e in bad], [p.maps[e - 1] for e in bad], "x", color=f"C{i}", ms=6)
    for ax, xl in zip(axes, ("epoch", "optimizer step")):
        ax.axhline(target, color="k", ls="--", lw=0.8)
        ax.axhline(level_share * target, color="k", ls=":", lw=0.8)
        ax.set(xlabel=xl)
    axes[0].set(ylabel="mAP50-95 (validation)", title=f"per epoch (x: a collapse; dashed: target, dotted: "
                                                       f"{level_share:.0%})")
    axes[1].set(title="per optimizer step")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(recorded_title(rec), fontsize=9)
    fig.tight_layout()
    return fig


def frontier(rec: Record, names: list[str], level_share: float = 0.95):
    """`timetoacc.plot_frontier` with the end of each run cut at a call's deadline marked, and `level_share` of the
    target drawn where it is not the frontier's own 95% line."""
    fig = timetoacc.plot_frontier(rec, names)
    ax = fig.axes[0]
    marked = False
    for i, name in enumerate(names):
        for p in rec.plan_points(name):
            clock = rec.clock(p.config)
            if p.status == "cut" and clock is not None and p.maps:
                ax.plot([clock.at(len(p.maps))], [p.maps[-1]], "x", color=f"C{i}", ms=8,
                        label=None if marked else "cut at the call's deadline")
                marked = True
    if abs(level_share - 0.95) > 1e-9:
        ax.axhline(level_share * rec.target(), color="C3", ls=":", lw=0.8)
    ax.set_title(f"{ax.get_title()}, {str(rec.environment.get('date', '?'))[:10]}; every seed", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    return fig


# ---------------------------------------------------------------------------------------------- where an epoch goes
@dataclass(frozen=True)
class SoloSplit:
    """A solo run's clock: seconds from process start to each epoch's end, the set-up before the first epoch, and per
    epoch the training loop and what follows it (validation and checkpoint)."""

    name: str
    config: tuple[int, int, int]
    epoch_end_s: tuple[float, ...]
    setup_s: float
    loop_s: tuple[float, ...]
    overhead_s: tuple[float, ...]
    train_images: int

    @property
    def steps_per_epoch(self) -> float:
        return self.train_images / (self.config[0] * self.config[1])

    @property
    def before_s(self) -> float:
        """Seconds before the run's clock started: the interpreter, imports, the plan."""
        return self.epoch_end_s[0] - self.setup_s - self.loop_s[0] - self.overhead_s[0]

    @property
    def loop_median(self) -> float:
        return statistics.median(self.loop_s[1:])

    @property
    def overhead_median(self) -> float:
        return statistics.median(self.overhead_s[1:])


def solo_splits(folder: str | Path = timetoacc.FOLDER, solo: str = timetoacc.SOLO) -> list[SoloSplit]:
    """The clock of every solo point of the record (those with at least two epochs)."""
    doc = json.loads((Path(folder) / f"{solo}.json").read_text())
    out = []
    for key, r in doc.get("points", {}).items():
        c, plan = r.get("clock") or {}, r["plan"]
        if len(r.get("epoch_end_s", [])) >= 2 and c.get("loop_s") and c.get("overhead_s"):
            out.append(SoloSplit(key, (plan["batch"], plan["accumulate"], plan["imgsz"]), tuple(r["epoch_end_s"]),
                                 float(c["setup_s"]), tuple(c["loop_s"]), tuple(c["overhead_s"]),
                                 int(plan["train_images"])))
    return out


def epoch_table(rec: Record, splits: list[SoloSplit]) -> Table:
    """Per configuration that ran alone: the first epoch's end and what it holds, and a later epoch (the clock's
    median) split into the training loop and validation + checkpoint."""
    rows = []
    for s in splits:
        clock = rec.clock(s.config)
        share = s.overhead_median / (s.loop_median + s.overhead_median)
        rows.append((f"{s.config[0]} x {s.config[1]}, {s.config[2]} px", s.name, f"{s.steps_per_epoch:g}",
                     f"{s.epoch_end_s[0]:.1f}", f"{s.before_s:.1f} + {s.setup_s:.1f} + {s.loop_s[0]:.1f} + "
                     f"{s.overhead_s[0]:.1f}", f"{clock.epoch_s:.2f}" if clock else "-", f"{s.loop_median:.2f}",
                     f"{s.overhead_median:.2f}", f"{share:.0%}", len(s.epoch_end_s)))
    headers = ("configuration", "solo run", "steps per epoch", "first epoch ends at (s)",
               "of which: start-up + set-up + first loop + first validation", "later epoch: median s (Clock.epoch_s)",
               "training loop: median s", "validation + checkpoint: median s", "validation's share", "epochs timed")
    env = rec.environment
    return Table(headers, rows, f"Each configuration alone: {env.get('device', '?')}, {str(env.get('date', '?'))[:10]}")


def plot_epoch_split(splits: list[SoloSplit], device: str = ""):
    """Left: what the first epoch's end holds per configuration. Right: each later epoch's training loop and its
    validation + checkpoint, per configuration side by side."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1, 1.6]})
    parts = (("start-up", "before_s", "0.7"), ("set-up", "setup_s", "C7"), ("training loop", None, "C0"),
             ("validation + checkpoint", None, "C1"))
    for y, s in enumerate(splits):
        left = 0.0
        for k, (name, attr, color) in enumerate(parts):
            w = getattr(s, attr) if attr else (s.loop_s[0] if k == 2 else s.overhead_s[0])
            a.barh(y, w, left=left, color=color, label=name if y == 0 else None)
            left += w
    a.set(yticks=range(len(splits)), yticklabels=[f"{s.config[0]} x {s.config[1]}" for s in splits],
          xlabel="seconds from process start", title="the first epoch")
    a.legend(fontsize=7, loc="lower right")
    width = 0.8 / max(len(splits), 1)
    for i, s in enumerate(splits):
        e = [k + 1 + (i - (len(splits) - 1) / 2) * width for k in range(1, len(s.loop_s))]
        b.bar(e, s.loop_s[1:], width, color="C0", edgecolor=f"C{i + 2}", lw=1.5)
        b.bar(e, s.overhead_s[1:], width, bottom=s.loop_s[1:], color="C1", edgecolor=f"C{i + 2}", lw=1.5,
              label=f"{s.config[0]} x {s.config[1]} (outline)")
    b.set(xlabel="epoch", ylabel="seconds", title="later epochs: training loop (blue) + validation and checkpoint "
                                                  "(orange)")
    b.legend(fontsize=7)
    fig.suptitle(f"recorded, each configuration alone{': ' + device if device else ''}", fontsize=9)
    fig.tight_layout()
    return fig
