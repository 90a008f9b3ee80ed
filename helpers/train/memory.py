"""Memory planner: probe a few real training steps at small micro-batches, fit peak memory against batch, and pick
the largest micro-batch that fits the card with a margin; accumulation (Ultralytics' `nbs`) makes up the rest of the
effective batch.

Peak memory of a training step grows close to linearly with the micro-batch (activations scale with it; weights,
optimizer state and the CUDA context do not), so two or three probes predict the rest. An out-of-memory probe is a
measurement too: it caps the choice below that batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from helpers.train import lr, probe, probe_cache
from helpers.train.probe import ProbeConfig, ProbeResult
from helpers.core.tables import Table

MARGIN = 0.1  # the share of the card the planner leaves free (choose, plan)


@dataclass(frozen=True)
class Point:
    batch: int
    peak_gib: float | None  # None: the probe ran out of memory
    img_s: float | None = None
    reused: bool = False  # measured by an earlier run on this machine (helpers.train.probe_cache)

    @property
    def oom(self) -> bool:
        return self.peak_gib is None


@dataclass
class Plan:
    card_gib: float
    margin: float
    target: int  # the effective batch asked for
    points: list[Point]
    slope: float | None = None  # GiB per image
    intercept: float | None = None  # GiB at batch 0
    micro_batch: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def accumulate(self) -> int:
        return lr.accumulate(self.micro_batch, self.target)

    @property
    def nbs(self) -> int:
        """Ultralytics' `nbs` that gives the target: accumulate = round(nbs / batch)."""
        return self.target

    @property
    def effective_batch(self) -> int:
        return lr.effective_batch(self.micro_batch, self.target)

    def predicted_gib(self, batch: int) -> float | None:
        return None if self.slope is None else self.intercept + self.slope * batch

    def train_args(self) -> dict[str, int]:
        """The real Ultralytics arguments for this plan."""
        return {"batch": self.micro_batch, "nbs": self.nbs}

    def table(self) -> Table:
        """The probes: measured peak and the fitted line per micro-batch (without a GPU, one row saying so)."""
        if not self.points:
            return Table(("micro-batch", "what the planner did"),
                         [(self.micro_batch, self.notes[0] if self.notes else "nothing was probed")],
                         f"Plan: micro-batch {self.micro_batch} x accumulate {self.accumulate} = effective "
                         f"{self.effective_batch} (no GPU probed)")
        rows = [(p.batch, "out of memory" if p.oom else f"{p.peak_gib:.2f}",
                 "-" if self.slope is None else f"{self.predicted_gib(p.batch):.2f}") for p in self.points]
        title = (f"Plan: micro-batch {self.micro_batch} x accumulate {self.accumulate} = effective {self.effective_batch} "
                 f"(card {self.card_gib:.1f} GiB, margin {self.margin:.0%})")
        return Table(("micro-batch", "measured peak GiB", "fit GiB"), rows, title)

    def plot(self):
        """Measured points, the fitted line, the card and the usable limit, and the chosen micro-batch."""
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.5, 3.6))
        ok = [p for p in self.points if not p.oom]
        ax.plot([p.batch for p in ok], [p.peak_gib for p in ok], "o", color="C0", label="measured peak")
        for p in self.points:
            if p.oom:
                ax.axvline(p.batch, color="C3", ls=":", label=f"out of memory at {p.batch}")
        top = max([self.target, self.micro_batch] + [p.batch for p in self.points])
        if self.slope is not None:
            xs = [1, top]
            ax.plot(xs, [self.predicted_gib(x) for x in xs], "-", color="C0", alpha=0.5, label="fit")
        if self.card_gib:
            ax.axhline(self.card_gib, color="k", lw=1, label=f"card {self.card_gib:.0f} GiB")
            ax.axhline(self.card_gib * (1 - self.margin), color="k", lw=1, ls="--", label="usable (margin)")
        if self.micro_batch and self.slope is not None:
            ax.plot([self.micro_batch], [self.predicted_gib(self.micro_batch)], "*", ms=14, color="C2",
                    label=f"chosen micro-batch {self.micro_batch}")
        ax.set(xlabel="micro-batch", ylabel="peak allocated GiB", title="Memory plan")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig


def fit(points: Sequence[Point]) -> tuple[float, float]:
    """Least-squares line peak = intercept + slope * batch through the probes that ran; needs two batch sizes."""
    ok = [(p.batch, p.peak_gib) for p in points if not p.oom]
    if len({b for b, _ in ok}) < 2:
        raise ValueError("need successful probes at two or more batch sizes to fit memory against batch")
    n = len(ok)
    mb = sum(b for b, _ in ok) / n
    mp = sum(g for _, g in ok) / n
    slope = sum((b - mb) * (g - mp) for b, g in ok) / sum((b - mb) ** 2 for b, _ in ok)
    return slope, mp - slope * mb


def choose(points: Sequence[Point], card_gib: float, target: int = 256, margin: float = MARGIN) -> Plan:
    """The largest divisor of `target` whose predicted peak fits in (1 - margin) of the card, below any OOM batch."""
    plan = Plan(card_gib, margin, target, list(points))
    plan.slope, plan.intercept = fit(points)
    usable = card_gib * (1 - margin)
    ooms = [p.batch for p in points if p.oom]
    cap = min(ooms) - 1 if ooms else target
    if ooms:
        plan.notes.append(f"batch {min(ooms)} ran out of memory during probing: the plan stays below it")
    divisors = [b for b in range(target, 0, -1) if target % b == 0 and b <= cap]
    fitting = [b for b in divisors if plan.predicted_gib(b) <= usable]
    if not fitting:
        plan.micro_batch = 1
        plan.notes.append(f"even batch 1 is predicted at {plan.predicted_gib(1):.1f} GiB > {usable:.1f} GiB usable: "
                          "use SDPA attention, activation checkpointing or a smaller image size")
    else:
        plan.micro_batch = fitting[0]
    if plan.micro_batch == target:
        plan.notes.append(f"physical batch {target} fits: no accumulation needed")
    return plan


def probe_point(base: ProbeConfig, batch: int, run: Callable[[ProbeConfig], ProbeResult]) -> Point:
    """One short probe (1 warm-up + 2 timed steps) at `batch`; out of memory is a point, any other failure raises."""
    r = run(replace(base, batch=batch, nbs=batch, warmup=1, steps=2))
    if r.ok:
        return Point(batch, r.peak_allocated_gib, r.img_s, reused=r.reused)
    if "out of memory" in r.error:
        return Point(batch, None)
    raise RuntimeError(f"probe at batch {batch} failed: {r.error}")


def probe_points(base: ProbeConfig, batches: Sequence[int], run: Callable[[ProbeConfig], ProbeResult]) -> list[Point]:
    """Probe increasing micro-batches; stop at the first out-of-memory, which is kept as a point."""
    points = []
    for b in sorted(batches):
        points.append(probe_point(base, b, run))
        if points[-1].oom:
            break
    return points


def plan(base: ProbeConfig, target: int = 256, batches: Sequence[int] = (8, 16, 32), margin: float = MARGIN,
         card_gib: float | None = None, run: Callable[[ProbeConfig], ProbeResult] | None = None,
         fallback_batch: int = 8, verify: bool = True, reserved_gib: float = 0.0, reuse: bool = True) -> Plan:
    """Probe on the GPU and plan; without CUDA, explain and fall back to `fallback_batch` (the profile's batch).

    `reserved_gib` of the card are taken before training (the training set stored on the GPU): the micro-batch is
    planned on the rest. With `verify`, the chosen micro-batch is probed too (a prediction is not a measurement); if it runs out of
    memory, that point joins the others and the choice is made again below it. With `reuse`, a probe already
    measured on this machine is read back (helpers.train.probe_cache) instead of run again."""
    import torch

    if run is None:
        if not torch.cuda.is_available():
            p = Plan(card_gib or 0.0, margin, target, [], micro_batch=fallback_batch)
            p.notes.append("no CUDA GPU: nothing to probe, so the profile's micro-batch is used as is; "
                           "on a GPU the planner measures real training steps")
            return p
        run = probe_cache.cached(probe.run) if reuse else probe.run
        if card_gib is None:
            card_gib = torch.cuda.get_device_properties(0).total_memory / 2**30
    if card_gib is None:
        raise ValueError("card_gib is needed when a custom probe runner is given")
    card_gib -= reserved_gib
    points = probe_points(base, batches, run)
    chosen = choose(points, card_gib, target, margin)
    while verify and chosen.micro_batch not in {p.batch for p in points}:  # ends: each pass adds a new batch
        checked = probe_point(base, chosen.micro_batch, run)
        points = sorted([*points, checked], key=lambda p: p.batch)
        chosen = choose(points, card_gib, target, margin)
        chosen.notes.insert(0, f"checked: micro-batch {checked.batch} " +
                            ("ran out of memory" if checked.oom else f"measured {checked.peak_gib:.1f} GiB"))
    reused = [p.batch for p in points if p.reused]
    if reused:
        chosen.notes.insert(0, f"micro-batch {', '.join(map(str, reused))}: measured by an earlier run on this GPU, "
                               f"read back from {probe_cache.cache_dir()} (delete it to measure again)")
    if reserved_gib:
        chosen.notes.insert(0, f"the training set stored on the GPU takes {reserved_gib:.1f} GiB: the micro-batch is "
                               f"planned on the card's other {card_gib:.1f} GiB")
    return chosen


def card_gib(gb: float) -> float:
    """A card's memory as sold (GB: 10^9 bytes) in GiB (2^30 bytes), the unit of every measurement here: 16 GB is
    14.9 GiB."""
    return gb * 1e9 / 2**30


def largest_batch(slope: float, intercept: float, usable_gib: float) -> int:
    """The largest micro-batch whose predicted peak (intercept + slope x batch) fits in `usable_gib` (0: none)."""
    if not slope > 0:
        raise ValueError(f"slope {slope!r}: peak memory must grow with the batch")
    return max(0, math.floor((usable_gib - intercept) / slope + 1e-9))


@dataclass(frozen=True)
class CardFit:
    """What one card holds by the fitted line: the largest micro-batch, and the planner's (a divisor of the target)."""

    card_gb: float  # as sold
    card_gib: float
    margin: float
    store_gib: float  # the training set stored on this card (0: none asked for, or it stays on the host)
    store_where: str  # '' (none asked for) | 'device' | 'host' (more than the store's share of the card)
    usable_gib: float  # card x (1 - margin), less the store
    largest: int  # the largest micro-batch predicted to fit (0: not even one image)
    micro_batch: int  # the largest divisor of `target` that fits: what the planner chooses (0: none fits)
    target: int  # the effective batch

    @property
    def accumulate(self) -> int:
        return lr.accumulate(self.micro_batch, self.target) if self.micro_batch else 0


def fit_cards(slope: float, intercept: float, cards_gb: Sequence[float], target: int = 256, margin: float = MARGIN,
              store_bytes: int = 0, store_share: float | None = None) -> list[CardFit]:
    """Per card size (GB as sold): the largest micro-batch whose predicted peak fits in (1 - margin) of the card, and
    the largest divisor of `target` that does (the planner's choice, as `choose` makes it), beside a training set of
    `store_bytes` kept on the card where it would go there. `helpers.pipeline.store.choose` stores the set on
    the GPU when it takes at most `GPU_SHARE` (or `store_share`) of the memory free before training, here the whole
    card (an idle one, the CUDA context left out); otherwise it stays in host memory and takes nothing of the card."""
    if store_share is None and store_bytes:
        from helpers.pipeline import store as stores

        store_share = stores.GPU_SHARE
    out = []
    for gb in cards_gb:
        gib = card_gib(gb)
        store = store_bytes / 2**30
        where = "" if not store_bytes else "device" if store <= (store_share or 0.0) * gib else "host"
        on_card = store if where == "device" else 0.0
        usable = gib * (1 - margin) - on_card
        largest = largest_batch(slope, intercept, usable)
        micro = max((b for b in range(1, min(largest, target) + 1) if target % b == 0), default=0)
        out.append(CardFit(gb, gib, margin, on_card, where, usable, largest, micro, target))
    return out


def cards_table(fits: dict[str, list[CardFit]], title: str = "") -> Table:
    """One row per card, one column per fitted configuration (e.g. with and without the stored training set): the
    largest micro-batch, and the planner's micro-batch x accumulation for the effective batch."""
    first = next(iter(fits.values()))
    rows = []
    for i, c in enumerate(first):
        row = [f"{c.card_gb:g} GB", f"{c.card_gib:.1f}", f"{c.card_gib * (1 - c.margin):.1f}"]
        for cards in fits.values():
            f = cards[i]
            row.append("none fits" if not f.largest else f"{f.largest} ({f.micro_batch} x {f.accumulate})")
        rows.append(row)
    headers = ["card (as sold)", "GiB", f"usable GiB (margin {first[0].margin:.0%})"]
    headers += [f"{k}: largest (planner: micro-batch x accumulate)" for k in fits]
    return Table(headers, rows, title)


def plot_cards(fits: dict[str, list[CardFit]], measured: int | None = None, title: str = ""):
    """The largest micro-batch per card for each fitted configuration (bars, log axis), the effective batch drawn
    across and, where given, the largest batch measured (above it the line is extrapolated)."""
    import matplotlib.pyplot as plt

    first = next(iter(fits.values()))
    fig, ax = plt.subplots(figsize=(9, 3.8))
    width = 0.8 / len(fits)
    for k, (name, cards) in enumerate(fits.items()):
        xs = [i + (k - (len(fits) - 1) / 2) * width for i in range(len(cards))]
        bars = ax.bar(xs, [max(c.largest, 0.5) for c in cards], width, color=f"C{k}", label=name)
        for b, c in zip(bars, cards):
            ax.text(b.get_x() + b.get_width() / 2, max(c.largest, 0.5), str(c.largest), ha="center", va="bottom",
                    fontsize=7)
    same = measured == first[0].target
    ax.axhline(first[0].target, color="k", ls="--", lw=0.9, label=f"effective batch {first[0].target}" +
               (" = the largest measured (above: extrapolated)" if same else ""))
    if measured and not same:
        ax.axhline(measured, color="k", ls=":", lw=0.9, label=f"largest measured: {measured} (above: extrapolated)")
    ax.set(yscale="log", xticks=range(len(first)),
           xticklabels=[f"{c.card_gb:g} GB\n{c.card_gib:.1f} GiB" for c in first], ylabel="largest micro-batch",
           title=title or "the largest micro-batch each card holds")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig
