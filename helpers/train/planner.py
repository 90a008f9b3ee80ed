"""Planning a TrainPlan: from a profile and a dataset, from this GPU's memory, from a tutorial's arguments.

The jobs that read the outside world (the dataset's files, the machine's cores, the GPU) or another vocabulary
(a tutorial's arguments), kept out of `helpers.train.plan` so that the value object stays pure arithmetic. Callers ask here:
`planner.from_profile(profile, dataset=..., **overrides)`, `planner.fit_memory(plan)`, `planner.translated(plan, t)`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpers.core import profiles
from helpers.core.profiles import Profile
from helpers.train import lr
from helpers.train.plan import OWNED, PlanError, TrainPlan, _check_names, one_size

if TYPE_CHECKING:
    from helpers.train.memory import Plan as MemoryPlan
    from helpers.train.probe import ProbeConfig
    from helpers.tricks.translate import Translation

AUTO_WORKERS = -1  # a profile's `workers` that the plan sizes from the cores


def from_profile(profile: Profile, *, dataset: str | Path = "synthetic", **overrides: Any) -> TrainPlan:
    """The plan for a profile (TrainPlan's defaults with the profile's overrides), the dataset resolved to a yaml
    and its training images counted, plus overrides (any field; a misspelt one is an error naming the closest)."""
    from helpers.data import sources

    profile.check()
    _check_names(overrides)
    if "imgsz" in overrides:
        overrides["imgsz"] = one_size(overrides["imgsz"])
    sized = profile.replace(imgsz=overrides["imgsz"]) if "imgsz" in overrides else profile
    data = sources.choose(str(dataset), sized)  # the synthetic set is drawn at the run's image size
    base = profile_values(profile)
    base.update(data=str(data), train_images=sources.count_images(data, "train"))
    base.update(overrides)
    if base.get("workers") == AUTO_WORKERS:  # sized from this machine's cores
        base["workers"] = auto_workers(base.get("device", ""))
    plan = TrainPlan(**base)
    chosen = {"batch", "nbs"} & (set(overrides) | profiles.changed(profile))
    return plan if chosen else fit_steps(plan)


def fit_steps(plan: TrainPlan) -> TrainPlan:
    """The plan with nbs (and the micro-batch, where larger) lowered to the largest power of two that gives the
    step floor's optimizer steps on this dataset (helpers.train.lr): the profile's batch meets data too small for it.
    A plan that meets the floor, or cannot meet it at the smallest nbs, is returned as it is (its rows and train()
    say what is short)."""
    nbs = lr.fitting_nbs(plan.epochs, plan.train_images, plan.nbs)
    if nbs == plan.nbs:
        return plan
    return plan.replace(nbs=nbs, batch=min(plan.batch, nbs), fitted_from=plan.nbs)



def with_memory(plan: TrainPlan, memory_plan: MemoryPlan) -> TrainPlan:
    """The plan at a `helpers.train.memory.Plan`'s micro-batch and nbs, which are one GPU's: the plan's are global,
    over its `world` processes."""
    return plan.replace(batch=memory_plan.micro_batch * plan.world, nbs=memory_plan.nbs * plan.world)


def probe_config(plan: TrainPlan) -> ProbeConfig:
    """The planner's probe for this plan: every field the probe and the plan share (model, image size, precision,
    attention, SDPA kernel, checkpointing, kernels, compile ...) read from the plan, the one source of their values
    (the CPU probes in fp32, as Ultralytics trains there); batch and nbs are the planner's to vary."""
    import dataclasses

    import torch

    from helpers.train.probe import ProbeConfig

    shared = {f.name for f in dataclasses.fields(ProbeConfig)} & {f.name for f in dataclasses.fields(TrainPlan)}
    values = {name: getattr(plan, name) for name in shared - {"batch", "nbs", "seed"}}
    classes = dataset_classes(plan)
    if classes:  # the head's outputs, and the loss's tensors, grow with the classes
        values["nc"] = classes
    if not torch.cuda.is_available():
        values["amp"] = "fp32"
    return ProbeConfig(**values)


def fit_memory(plan: TrainPlan, **kwargs: Any) -> tuple[TrainPlan, MemoryPlan]:
    """Probe this GPU and return (the plan with the planned micro-batch, the memory plan). Without CUDA the
    memory plan says so and the micro-batch stays."""
    from helpers.train import memory

    per_gpu = max(plan.nbs // plan.world, 1)  # the probe measures one GPU; the plan's batch and nbs are global
    mem = memory.plan(probe_config(plan), target=per_gpu, fallback_batch=max(plan.per_gpu_batch, 1),
                      reserved_gib=gpu_store_gib(plan), **kwargs)
    return with_memory(plan, mem), mem


def dataset_classes(plan: TrainPlan) -> int | None:
    """The classes the plan's detection head gets: its dataset yaml's (1 with single_cls); None where it cannot be
    read (the probe then keeps its default)."""
    from helpers.data import sources

    try:
        n = len(sources.class_names(sources.load_yaml(plan.data)))
    except (OSError, TypeError, ValueError):  # sources.DatasetError is a ValueError
        return None
    return 1 if plan.extra.get("single_cls") else n or None


def gpu_store_gib(plan: TrainPlan) -> float:
    """GiB of each GPU the plan's training set will take, decoded on the GPU, before training starts (0 elsewhere):
    the store's own choice (helpers.pipeline.store.choose) for this plan."""
    import torch

    if plan.augment_device != "gpu" or not torch.cuda.is_available():
        return 0.0
    from helpers.pipeline import store

    try:
        choice = store.choose(plan.store, plan.train_images, plan.imgsz, torch.device("cuda", 0))
    except store.StoreError:
        return 0.0  # a forced store that cannot run: train() says so before anything is planned on it
    return store.decoded_bytes(plan.train_images, plan.imgsz) / 2**30 if choice.mode == "gpu" else 0.0


def translated(plan: TrainPlan, tutorial: dict[str, Any]) -> tuple[TrainPlan, Translation]:
    """(the plan with a tutorial's arguments applied, the translation): real arguments go to the plan's fields
    or `extra`, tutorial ones to the tricks' plan fields (helpers.tricks.translate). Unknown keys are an error."""
    from helpers.tricks.translate import translate

    tr = translate(tutorial)
    if tr.unknown:
        raise PlanError("unknown argument(s): " + "; ".join(f"{k!r}: {hint}" for k, hint in tr.unknown))
    changes: dict[str, Any] = {}
    extra = dict(plan.extra)
    for k, v in tr.args.items():
        if k == "amp":
            changes["amp"] = "bf16" if v == "bf16" else "fp16" if v in (True, "fp16") else "fp32"
        elif k in OWNED:
            changes[OWNED[k]] = v
        else:
            extra[k] = v
    changes.update(tr.tricks)
    return plan.replace(**changes, extra=extra), tr


def auto_workers(device: str = "", cpus: int | None = None) -> int:
    """Loader workers per training process: the cores of this host shared by its GPU processes (one per GPU of the
    device list, on every host alike), one core left to each training process itself (Ultralytics' CPU loader gives
    about 123 img/s per worker on 640 px mosaics)."""
    cores = cpus or os.cpu_count() or 1
    if str(device).strip() == "cpu":
        return 0 if cores <= 2 else min(4, cores - 1)
    return max(1, cores // TrainPlan(data="", device=str(device)).per_host - 1)


def profile_values(profile: Profile) -> dict[str, Any]:
    """The plan fields a profile sets (the rest keep the plan's defaults)."""
    return dict(profile.overrides)
