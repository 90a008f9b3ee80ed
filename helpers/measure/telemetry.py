"""What limits a training run, from its step timings (`trainer.StepTimer`) and GPU samples (`monitor.Sampler`):
GPU-bound, data-bound, memory-bound or launch-bound, with the evidence and the remedy. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from helpers.core.tables import Table

DATA_STALL_PCT = 20.0  # the step waits on the loader this share of the time or more
MEMORY_FRACTION = 0.90  # of the card, as NVML reports it (reserved pool + context)
GPU_BUSY_PCT = 80.0  # NVML utilisation: a kernel was running this share of the time
STEP_SHARE = 0.5  # below this share of the run spent in training steps, the epoch boundaries dominate


@dataclass(frozen=True)
class Phases:
    """GPU utilisation inside the epochs' training loops vs outside them (validation, checkpoints, loader restarts)."""

    step_share: float  # of the sampled time after the first epoch, the share inside training loops
    util_in_steps: float | None
    util_outside: float | None


def phases(samples: list, windows: list[tuple[float, float]], t0: float, gpu: int = 0, *, lag: float = 0.5,
           skip_first: bool = True) -> Phases | None:
    """Split one GPU's samples (times relative to t0) by the training-loop windows (absolute perf_counter times).

    NVML's utilisation is an average over the period before each reading (up to a second), so a sample is placed
    `lag` seconds earlier than it was read. The first epoch is left out when there are more (cuDNN autotuning and the
    allocator growing its pool make it slow), as the step timer leaves out the first batches.
    """
    import statistics

    rows = [s for s in samples if s.gpu == gpu and s.util_pct is not None]
    if skip_first and len(windows) > 1:
        rows = [s for s in rows if s.t - lag > windows[0][1] - t0]
        windows = windows[1:]
    if len(rows) < 2 or not windows:
        return None
    rel = [(a - t0, b - t0) for a, b in windows]
    inside = [s for s in rows if any(a <= s.t - lag <= b for a, b in rel)]
    outside = [s for s in rows if s not in inside]
    lo, hi = rows[0].t - lag, rows[-1].t - lag
    share = sum(min(b, hi) - max(a, lo) for a, b in rel if b > lo and a < hi) / (hi - lo)
    mean = lambda xs: statistics.fmean(s.util_pct for s in xs) if xs else None  # noqa: E731
    return Phases(max(0.0, min(1.0, share)), mean(inside), mean(outside))


@dataclass
class Verdict:
    kind: str  # gpu-bound | data-bound | memory-bound | epoch-overhead-bound | launch-bound | cpu | unknown
    evidence: list[str] = field(default_factory=list)
    remedies: list[str] = field(default_factory=list)

    def table(self) -> Table:
        rows = [("verdict", self.kind)] + [("evidence", e) for e in self.evidence] + [("remedy", r) for r in self.remedies]
        return Table(("", ""), rows, "What limits this run")


def verdict(timing: dict[str, float], gpu: dict[str, Any] | None = None, *, workers: int | None = None,
            cache: Any = None, split: Phases | None = None, steps_per_epoch: int | None = None) -> Verdict:
    """Classify a run. `timing`: StepTimer.summary(); `gpu`: one GPU's entry of monitor.summarize() (None: no GPU);
    `split`: phases() of the run, which tells epoch-boundary overhead from idle GPU inside the steps."""
    if not timing:
        return Verdict("unknown", ["too few timed batches (the first batches of each epoch are skipped)"],
                       ["train more batches per epoch, or lower StepTimer(skip=...)"])
    stall = timing["stall_pct"]
    ev = [f"loader wait {stall:.0f}% of each step ({timing['img_s']:.0f} img/s with it, "
          f"{timing['img_s_no_wait']:.0f} without)"]
    mem_frac = util = None
    if gpu:
        if gpu.get("mem_peak_gib") is not None and gpu.get("mem_total_gib"):
            mem_frac = gpu["mem_peak_gib"] / gpu["mem_total_gib"]
            ev.append(f"GPU memory peak {gpu['mem_peak_gib']:.1f} of {gpu['mem_total_gib']:.0f} GiB ({100 * mem_frac:.0f}%)")
        if gpu.get("util_mean_pct") is not None:
            util = gpu["util_mean_pct"]
            ev.append(f"GPU busy {util:.0f}% of the run (NVML utilisation, mean)")
        if split is not None and split.util_in_steps is not None:
            util = split.util_in_steps
            ev.append(f"after the first epoch, {100 * split.step_share:.0f}% of the time inside training loops, "
                      f"GPU busy {util:.0f}% there"
                      + (f" and {split.util_outside:.0f}% outside" if split.util_outside is not None else ""))
    if stall >= DATA_STALL_PCT:
        rem = [f"more dataloader workers (now {workers})" if workers is not None else "more dataloader workers",
               "cache='ram' (decoded images stay in memory)" if cache in (False, None, "", "disk") else
               "images are cached already: lighter augmentation or a smaller imgsz",
               f"up to {timing['img_s_no_wait'] / timing['img_s']:.2f}x faster if the loader kept up"]
        return Verdict("data-bound", ev, rem)
    if mem_frac is not None and mem_frac >= MEMORY_FRACTION:
        return Verdict("memory-bound", ev, ["SDPA attention (attention='sdpa')", "activation checkpointing",
                                            "a smaller micro-batch with nbs kept at the effective batch (notebook 02)"])
    if gpu is None:
        return Verdict("cpu", ev, ["no GPU: the CPU computes every step; the loader is not the limit"])
    if split is not None and split.step_share < STEP_SHARE:
        few = f" (only {steps_per_epoch} steps per epoch here)" if steps_per_epoch else ""
        return Verdict("epoch-overhead-bound", ev, [
            f"the GPU trains for {100 * split.step_share:.0f}% of the run; the rest is validation, checkpoint saving "
            f"and restarting the loader at every epoch boundary{few}",
            "more images per epoch: the fixed cost per epoch is then shared by more steps",
            "val=False for exploratory runs (validate the final weights once)",
            "within the steps: " + ("the GPU is the limit" if util is not None and util >= GPU_BUSY_PCT
                                    else "the GPU also idles inside steps: a larger micro-batch")])
    if util is not None and util >= GPU_BUSY_PCT:
        return Verdict("gpu-bound", ev, ["the GPU is the limit, as it should be: faster kernels (SDPA, fp16/bf16) "
                                         "or a bigger GPU are what help now"])
    if util is not None:
        return Verdict("launch-bound", ev, ["the GPU idles between kernels although data is ready: a larger "
                                            "micro-batch, fewer per-step Python callbacks, CUDA graphs"])
    return Verdict("unknown", ev, ["no GPU utilisation samples: attach monitor.Sampler to the run"])
