"""Memory planner: probe a few real training steps at small micro-batches, fit peak memory against batch, and pick
the largest micro-batch that fits the card with a margin; accumulation (Ultralytics' `nbs`) makes up the rest of the
effective batch.

Peak memory of a training step grows close to linearly with the micro-batch (activations scale with it; weights,
optimizer state and the CUDA context do not), so two or three probes predict the rest. An out-of-memory probe is a
measurement too: it caps the choice below that batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from helpers.train import lr
from helpers.train.probe import ProbeConfig, ProbeResult
from helpers.core.tables import Table


@dataclass(frozen=True)
class Point:
    batch: int
    peak_gib: float | None  # None: the probe ran out of memory
    img_s: float | None = None

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


def choose(points: Sequence[Point], card_gib: float, target: int = 256, margin: float = 0.1) -> Plan:
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
        return Point(batch, r.peak_allocated_gib, r.img_s)
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


def plan(base: ProbeConfig, target: int = 256, batches: Sequence[int] = (8, 16, 32), margin: float = 0.1,
         card_gib: float | None = None, run: Callable[[ProbeConfig], ProbeResult] | None = None,
         fallback_batch: int = 8, verify: bool = True) -> Plan:
    """Probe on the GPU and plan; without CUDA, explain and fall back to `fallback_batch` (the profile's batch).

    With `verify`, the chosen micro-batch is probed too (a prediction is not a measurement); if it runs out of
    memory, that point joins the others and the choice is made again below it."""
    import torch

    if run is None:
        if not torch.cuda.is_available():
            p = Plan(card_gib or 0.0, margin, target, [], micro_batch=fallback_batch)
            p.notes.append("no CUDA GPU: nothing to probe, so the profile's micro-batch is used as is; "
                           "on a GPU the planner measures real training steps")
            return p
        from helpers.train import probe

        run = probe.run
        if card_gib is None:
            card_gib = torch.cuda.get_device_properties(0).total_memory / 2**30
    if card_gib is None:
        raise ValueError("card_gib is needed when a custom probe runner is given")
    points = probe_points(base, batches, run)
    chosen = choose(points, card_gib, target, margin)
    while verify and chosen.micro_batch not in {p.batch for p in points}:  # ends: each pass adds a new batch
        checked = probe_point(base, chosen.micro_batch, run)
        points = sorted([*points, checked], key=lambda p: p.batch)
        chosen = choose(points, card_gib, target, margin)
        chosen.notes.insert(0, f"checked: micro-batch {checked.batch} " +
                            ("ran out of memory" if checked.oom else f"measured {checked.peak_gib:.1f} GiB"))
    return chosen
