"""Reading a TrainPlan: every setting with its value and reason, the table of it, one summary line, a scaling table.

Presentation only: each number shown comes from the plan's own properties (`helpers.train.plan`), so what is shown
cannot drift from what a run uses.
"""

from __future__ import annotations

from pathlib import Path

from helpers.core.tables import Table
from helpers.train import lr
from helpers.train.plan import TrainPlan
from helpers.tricks import registry

Row = registry.Row


def rows(plan: TrainPlan) -> list[tuple[str, str, str]]:
    """(setting, value, where it comes from) for every choice of the run: the core settings, each trick's rows
    before the setting it names (helpers.tricks.registry), then the extra Ultralytics arguments."""
    extra = [(k, repr(v), "extra Ultralytics argument") for k, v in plan.extra.items()]
    return place(core_rows(plan), registry.rows(plan)) + extra


def place(core: list[Row], tricks: list[tuple[str, list[Row]]]) -> list[Row]:
    """The core rows with each trick's rows inserted before the row of the setting it names (which may be another
    trick's row, placed first), in trick order; a trick whose setting is absent goes at the end."""
    out, pending = list(core), list(tricks)
    while pending:
        settings = [r[0] for r in out]
        ready = [p for p in pending if p[0] in settings]
        if not ready:  # no anchor left to find: the rest at the end, in trick order
            return out + [r for _, group in pending for r in group]
        before, group = ready[0]
        i = settings.index(before)
        out[i:i] = group
        pending.remove(ready[0])
    return out


def core_rows(plan: TrainPlan) -> list[Row]:
    """The rows of the plan's own fields (not the tricks', not the extra arguments)."""
    from helpers.tricks import precision  # imports torch: only when a plan is read as rows

    _, why = plan.start()
    amp_value, amp_why = plan.amp_arg()  # asked once: the row's precision is named from the same answer
    runs_in = precision.named(amp_value)
    gpus = (f"{plan.world} processes ({plan.nnodes} hosts x {plan.per_host}), {plan.per_gpu_batch} images each"
            if plan.nnodes > 1 else f"{plan.world} GPUs, {plan.per_gpu_batch} images each" if plan.world > 1 else "")
    rule = ("set explicitly" if plan.lr_fixed is not None else
            f"{plan.lr_rule} rule from {plan.lr_ref:g} at batch {plan.batch_ref}" if plan.lr_rule != "none" else
            "reference lr, not scaled")
    warm = ("set explicitly" if plan.warmup_fixed is not None else
            lr.warmup_reason(plan.epochs, plan.train_images, plan.effective_batch))
    return [
        ("model", plan.model, why),
        ("data", plan.data, f"{plan.train_images} training images"),
        ("image size", str(plan.imgsz), "pixels of the longer side: Ultralytics resizes and pads every image to it"),
        ("epochs", str(plan.epochs), "passes over the training images"),
        ("micro-batch (batch)", str(plan.batch), plan.over_data or gpus or "images per forward/backward pass"),
        ("accumulate", str(plan.accumulate), f"max(round(nbs {plan.nbs} / batch {plan.batch}), 1)"),
        ("effective batch", str(plan.effective_batch), "images per optimizer step"),
        *([steps_row(plan)] if plan.train_images else []),
        ("lr0", f"{plan.lr0:g}", rule),
        ("warm-up epochs", f"{plan.warmup_epochs:g}", warm),
        ("weight decay applied", f"{plan.weight_decay:.2e}", "weight_decay x batch x accumulate / nbs"),
        ("optimizer", plan.optimizer, "'auto' would ignore lr0" if plan.optimizer != "auto" else "ignores lr0"),
        ("augmentation", f"{plan.augment or 'Ultralytics defaults'} on the {plan.augment_device.upper()}",
         ", ".join(f"{k}={v:g}" for k, v in plan.augmentation.items())),
        *([("compile", "torch.compile", "the model's forward; the first steps include compilation")]
          if plan.compile else []),
        ("precision", runs_in, (f"asked {plan.amp}; " if runs_in != plan.amp else "")
         + f"amp={amp_value!r}: {amp_why}"),
        ("device", plan.device or "auto", "as set" if plan.device else
         "Ultralytics' choice: GPU 0 when CUDA has one, else the CPU"),
        *([("hosts", str(plan.nnodes), "torchrun, one rendezvous (helpers.train.worker)")] if plan.nnodes > 1 else []),
        *([("store", plan.store, STORE_WORDS[plan.store])] if plan.augment_device == "gpu" else []),
        ("loader", f"{plan.workers} workers, cache={plan.cache}",
         "processes that decode and augment images; with the set on the GPU they serve validation only"
         if plan.augment_device == "gpu" else "processes that decode and augment images for training and validation"),
        ("logging", "plots" + (" + TensorBoard" if plan.tensorboard else "") if plan.plots else
         ("TensorBoard" if plan.tensorboard else "results.csv only"),
         "tensorboard --logdir " + (plan.project or "runs/train") if plan.tensorboard else
         "Ultralytics' figures and results.csv in the run folder" if plan.plots else "results.csv in the run folder"),
    ]


STORE_WORDS = {  # helpers.pipeline.store: what each choice keeps where (the run's log says what auto chose and why)
    "auto": "the first that fits: decoded on the GPU (35% of its free memory), pinned host memory, JPEG, else off",
    "gpu": "decoded on the GPU; the augmentation reads it in place",
    "host": "decoded in pinned host memory; each batch gathered and copied one step ahead",
    "jpeg": "JPEG bytes in host memory; each batch decoded on the GPU (nvJPEG) one step ahead",
    "off": "no store: Ultralytics' own loader and CPU augmentation",
}


def steps_row(plan: TrainPlan) -> Row:
    """The 'optimizer steps' row: per epoch and in all, against the step floor (helpers.train.lr)."""
    value = f"{plan.steps_per_epoch:.1f} per epoch, {plan.total_steps:.0f} in all"
    floor = f"floor {lr.MIN_STEPS_PER_EPOCH} per epoch and {lr.MIN_STEPS} in all (benchmarks/results/tta-h200)"
    short = plan.below_floor
    if short:
        why = f"too few to learn from: {short}; {lr.proposal(plan.epochs, plan.train_images, plan.nbs, plan.effective_batch)} would meet the floor"
    elif plan.fitted_from:
        why = (f"nbs lowered from {plan.fitted_from} to {plan.nbs}: {plan.train_images} images at {plan.fitted_from} "
               f"give {lr.steps_per_epoch(plan.train_images, plan.fitted_from):.1f} per epoch; {floor}")
    else:
        why = f"at least the {floor}"
    return "optimizer steps", value, why


def explain(plan: TrainPlan, title: str = "") -> Table:
    """The plan as a table: each setting, its value and why."""
    return Table(("setting", "value", "why"), rows(plan), title or f"TrainPlan '{plan.name}'")


def scaling_table(plan: TrainPlan, batches: tuple[int, ...] = (64, 128, 256, 1024)) -> Table:
    """lr0 by each rule and the decay Ultralytics applies at nbs 256 and 64, for other batches: computed by the
    plan's own arithmetic, so the comparison cannot drift from what a run uses."""
    def at(b: int, nbs: int, rule: str) -> TrainPlan:
        return plan.replace(batch=b, nbs=nbs, lr_rule=rule, lr_fixed=None, device="")

    table_rows = [(b, f"{at(b, b, 'linear').lr0:.4f}", f"{at(b, b, 'sqrt').lr0:.4f}",
                   f"{at(b, 256, 'sqrt').weight_decay:.5f}", f"{at(b, 64, 'sqrt').weight_decay:.5f}") for b in batches]
    return Table(("batch", "lr0 linear", "lr0 sqrt", "decay at nbs=256", "decay at nbs=64"), table_rows)


def summary(plan: TrainPlan) -> str:
    """One line: the step, lr0 and the tricks (each trick's own words, from the registry)."""
    tricks = ", ".join(registry.summaries(plan))
    return (f"{Path(plan.model).stem} {plan.imgsz}px · batch={plan.batch}, nbs={plan.nbs} -> {plan.batch} x "
            f"{plan.accumulate} = {plan.effective_batch} per step · lr0 {plan.lr0:g} · warm-up "
            f"{plan.warmup_epochs:g} ep · {plan.epochs} epochs · " + (f"{tricks} · " if tricks else "")
            + plan.precision)
