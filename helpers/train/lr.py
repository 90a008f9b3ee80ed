"""Learning-rate scaling for large batches, and what Ultralytics itself does with batch, nbs and lr0.

Pure functions, so a reader can check every number before a long run. Facts from Ultralytics 8.4's trainer:
- accumulate = max(round(nbs / batch), 1); during warm-up it ramps from 1 to that value;
- weight decay is scaled by batch * accumulate / nbs; lr0 is never scaled;
- optimizer="auto" ignores lr0: MuSGD at lr 0.01 when the run has more than 10,000 iterations
  (ceil(images / max(batch, nbs)) * epochs), else AdamW at lr 0.002 * 5 / (4 + classes).
"""

from __future__ import annotations

import math

from helpers.tricks.schedule import ultralytics_lf


def scale_lr(lr_ref: float, batch_ref: int, batch: int, rule: str = "linear") -> float:
    """The lr for `batch`, from one tuned at `batch_ref`: linear (lr ∝ batch) or sqrt (lr ∝ √batch)."""
    if batch_ref <= 0 or batch <= 0:
        raise ValueError("batch sizes must be positive")
    ratio = batch / batch_ref
    if rule == "linear":
        return lr_ref * ratio
    if rule == "sqrt":
        return lr_ref * math.sqrt(ratio)
    raise ValueError(f"rule={rule!r}: choose 'linear' or 'sqrt'")


def accumulate(batch: int, nbs: int) -> int:
    """Micro-batches per optimizer step in Ultralytics."""
    return max(round(nbs / batch), 1)


def effective_batch(batch: int, nbs: int) -> int:
    """Images per optimizer step on one GPU: micro-batch x accumulation."""
    return batch * accumulate(batch, nbs)


def ultralytics_weight_decay(weight_decay: float, batch: int, nbs: int) -> float:
    """The decay Ultralytics applies: weight_decay * batch * accumulate / nbs (lr0 gets no such scaling)."""
    return weight_decay * batch * accumulate(batch, nbs) / nbs


def ultralytics_auto_optimizer(images: int, batch: int, nbs: int, epochs: int, classes: int) -> tuple[str, float, float]:
    """(optimizer, lr, momentum) that optimizer='auto' picks, whatever lr0 says."""
    iterations = math.ceil(images / max(batch, nbs)) * epochs
    if iterations > 10000:
        return "MuSGD", 0.01, 0.9
    return "AdamW", round(0.002 * 5 / (4 + classes), 6), 0.9


def ddp_split(batch: int, nbs: int, world: int) -> dict[str, int]:
    """How Ultralytics 8.4 spreads `batch` over `world` GPUs: `batch` is the global micro-batch, each rank loads
    batch // world images, accumulation is round(nbs / batch) on the global batch, and DDP averages the ranks'
    gradients (Ultralytics multiplies the loss by world size, so the step sees the sum)."""
    if world < 1:
        raise ValueError("world must be >= 1")
    if batch % world:
        raise ValueError(f"batch={batch} does not split evenly over {world} GPUs; use a multiple of {world}")
    acc = accumulate(batch, nbs)
    return {"per_rank_batch": batch // world, "accumulate": acc, "global_effective_batch": batch * acc,
            "world": world}


def steps_per_epoch(images: int, effective: int) -> float:
    """Optimizer steps per epoch at an effective batch (the quantity that shrinks as the batch grows)."""
    return images / effective


# The step floor, chosen from the time-to-accuracy record (benchmarks/results/tta-h200/): the fewest steps per epoch
# of a recorded run that reached 95% of the reference accuracy, and more steps in all than any recorded run needed
# before its mAP50-95 passed 0.05 (helpers.records.timetoacc; tests/code/test_timetoacc.py checks both).
# Below them a run may learn nothing: 205 images at batch 256 for 20 epochs (20 steps) ended at mAP50-95 0.000.
MIN_STEPS_PER_EPOCH = 8
MIN_STEPS = 200
SMALLEST_NBS = 16  # Ultralytics' default batch: below it BatchNorm statistics of a batch get noisy


def total_steps(epochs: int, images: int, effective: int) -> float:
    """Optimizer steps over the whole run."""
    return steps_per_epoch(images, effective) * epochs


def below_floor(epochs: int, images: int, effective: int) -> str:
    """What of the step floor this run misses, in words ('' when it has enough steps, or no images were counted)."""
    if images <= 0:
        return ""
    per, total = steps_per_epoch(images, effective), total_steps(epochs, images, effective)
    short = [f"{per:.1f} optimizer steps per epoch (floor {MIN_STEPS_PER_EPOCH})"] if per < MIN_STEPS_PER_EPOCH else []
    short += [f"{total:.0f} in all (floor {MIN_STEPS})"] if total < MIN_STEPS else []
    return " and ".join(short)


def fitting_nbs(epochs: int, images: int, nbs: int) -> int:
    """`nbs` when it meets the step floor, else the largest power of two below it that does, never below
    SMALLEST_NBS (nor above `nbs`: a smaller batch a user chose stays)."""
    if not below_floor(epochs, images, nbs):
        return nbs
    b = 1 << (nbs.bit_length() - 1)  # the largest power of two <= nbs
    while b > SMALLEST_NBS and below_floor(epochs, images, b):
        b //= 2
    return max(min(b, nbs), min(nbs, SMALLEST_NBS))


def epochs_for_floor(images: int, effective: int) -> int:
    """The fewest epochs that give the floor's steps in all at this effective batch."""
    return max(1, math.ceil(MIN_STEPS / steps_per_epoch(images, effective))) if images > 0 else 1


def proposal(epochs: int, images: int, nbs: int, effective: int) -> str:
    """What gives a run short of the floor its steps, in words: a smaller nbs where one does, else enough images for
    the steps per epoch (with the epochs those images then need), else more epochs ('' for a run that meets it)."""
    if not below_floor(epochs, images, effective):
        return ""
    smaller = fitting_nbs(epochs, images, nbs)
    if smaller < nbs and not below_floor(epochs, images, smaller):
        return f"nbs={smaller}"
    if steps_per_epoch(images, effective) < MIN_STEPS_PER_EPOCH:  # more images first, then the epochs they need
        need = MIN_STEPS_PER_EPOCH * effective
        more = epochs_for_floor(need, effective)
        return f"at least {need} training images" + (f" with epochs={more}" if more > epochs else "")
    return f"epochs={epochs_for_floor(images, effective)}"


def warmup_epochs(epochs: int, images: int, effective: int, base: float = 3.0, min_steps: int = 50,
                  max_fraction: float = 0.2) -> float:
    """Warm-up length in epochs for a large batch: at least `base` epochs (Ultralytics' default) and at least
    `min_steps` optimizer steps, because at batch 256 an epoch of a small dataset is only a handful of steps; capped at
    `max_fraction` of the run. Ultralytics interpolates lr, momentum and accumulation over warmup_epochs x
    batches-per-epoch iterations and never warms up past the second-to-last epoch."""
    return round(_warmup(epochs, images, effective, base, min_steps, max_fraction)[2], 2)


def _warmup(epochs: int, images: int, effective: int, base: float, min_steps: int,
            max_fraction: float) -> tuple[float, float, float]:
    """(optimizer steps per epoch, the warm-up the rules want, that capped by the run's length): one arithmetic for
    `warmup_epochs` and `warmup_reason`."""
    per_epoch = steps_per_epoch(images, effective)
    want = max(base, min_steps / per_epoch) if per_epoch > 0 else base
    return per_epoch, want, min(want, max_fraction * epochs, max(epochs - 1, 0))


def warmup_reason(epochs: int, images: int, effective: int, base: float = 3.0, min_steps: int = 50,
                  max_fraction: float = 0.2) -> str:
    """Which rule of `warmup_epochs` set the length, in words (the one that bound, not all of them)."""
    per_epoch, want, length = _warmup(epochs, images, effective, base, min_steps, max_fraction)
    steps = (f"{per_epoch:.1f} optimizer steps per epoch" if per_epoch >= 1 else
             f"one optimizer step every {1 / per_epoch:.1f} epochs" if per_epoch > 0 else "no training images counted")
    if length < want:
        cap = ("the run's last epoch never warms up" if max(epochs - 1, 0) < max_fraction * epochs else
               f"capped at {max_fraction:.0%} of {epochs} epochs")
        return f"{cap} (it would want {want:g} epochs: {steps})"
    if per_epoch > 0 and min_steps / per_epoch > base:
        return f"{min_steps} optimizer steps at {steps}"
    return f"Ultralytics' {base:g} epochs ({steps}; already >= {min_steps} steps)"


def warmup_peak(lr0: float, warmup: float, epochs: int, lrf: float = 0.01) -> float:
    """The highest lr a run reaches: Ultralytics' warm-up ramps toward lr0 x lf(epoch), the already-decayed
    schedule, not toward lr0, so the peak at the end of warm-up is lr0 x lf(last warm-up epoch)."""
    return lr0 * ultralytics_lf(max(math.ceil(warmup) - 1, 0), epochs, lrf) if warmup > 0 else lr0
