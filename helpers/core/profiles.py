"""Profiles: the single source of the workbook's defaults (quick / gpu / full).

A profile is one small frozen dataclass. Every notebook's ``parameters`` cell reads its defaults from the active
profile, so the same notebooks run a two-minute CPU smoke test or the real batch-256 recipe.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from typing import Any

ENV_VAR = "WORKBOOK_PROFILE"


@dataclass(frozen=True)
class Profile:
    """Defaults for one way of running the workbook. Values are real Ultralytics arguments where names match; what
    follows from them (accumulation, effective batch, lr0, warm-up) is computed by `helpers.train.plan.TrainPlan`."""

    name: str
    description: str
    model: str = "yolo12n.yaml"  # built from yaml: no weights are downloaded
    imgsz: int = 640
    epochs: int = 100
    batch: int = 256  # micro-batch per step (Ultralytics' `batch`)
    nbs: int = 256  # nominal batch: accumulation = max(round(nbs / batch), 1)
    n_train: int = 2048  # synthetic images generated for training
    n_val: int = 256
    workers: int = 8  # loader workers per training process; -1: sized from the cores (helpers.train.planner.auto_workers)
    cache: str | bool = "ram"
    device: str = ""  # "" lets Ultralytics choose; "cpu", "0", "0,1"
    seed: int = 0
    attention: str = "auto"  # YOLOv12 area attention: auto | sdpa | flash | stock (helpers.tricks.attention)
    checkpoint: str = ""  # activation checkpointing: "" | attention | blocks | all | all+head
    weights: str = ""  # "" trains from scratch; "starter" fine-tunes the shipped data/weights checkpoint; or a .pt path
    amp: str = "fp16"  # fp16 | bf16 (refused without bf16 tensor cores) | fp32
    augment_device: str = "cpu"  # cpu: Ultralytics' loader workers | gpu: the set resident on the GPU, augmented there
    deterministic: bool = True  # Ultralytics' deterministic kernels (reproducible, slower steps)
    cudnn_benchmark: bool = False  # cuDNN times its kernels per shape (needs deterministic=False)
    plots: bool = True  # Ultralytics' own plots of a run: results.png, confusion matrix, PR curve, val predictions
    tensorboard: bool = False  # Ultralytics' TensorBoard logging (offline, into the run folder); needs `tensorboard`
    notebook_timeout_s: int = 3600  # the runner's wall-clock limit per notebook

    def replace(self, **changes: Any) -> "Profile":
        """A copy with some values changed; unknown names raise a clear error."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise KeyError(f"Unknown profile field(s) {unknown}; known: {sorted(known)}")
        return dataclasses.replace(self, **{k: _coerce(getattr(self, k), v) for k, v in changes.items()})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        description="CPU smoke run: tiny images, a few dozen images, 3 epochs; every notebook in a minute or two.",
        imgsz=128,
        epochs=3,
        batch=8,
        nbs=16,
        n_train=32,
        n_val=8,
        workers=0,
        cache=False,
        device="cpu",
        checkpoint="attention",  # exercise the checkpointing path in the smoke run
        weights="starter",  # from scratch, 3 CPU epochs learn nothing visible; fine-tuning shows real learning
        notebook_timeout_s=900,
    ),
    "gpu": Profile(
        name="gpu",
        description="The real recipe on one GPU: yolo12n, 640 px, effective batch 256, a few dozen epochs.",
        imgsz=640,
        epochs=30,
        batch=256,
        nbs=256,
        n_train=2048,
        n_val=256,
        workers=-1,
        augment_device="gpu",  # the fastest plan measured: benchmarks/results/realtrain-h200.md
        deterministic=False,
        cudnn_benchmark=True,
        cache="ram",
        notebook_timeout_s=3600,
    ),
    "full": Profile(
        name="full",
        description="Long run: the 600-epoch recipe at effective batch 256 (hours to days).",
        imgsz=640,
        epochs=600,
        batch=256,
        nbs=256,
        n_train=8192,
        n_val=1024,
        workers=-1,
        augment_device="gpu",  # the fastest plan measured: benchmarks/results/realtrain-h200.md
        deterministic=False,
        cudnn_benchmark=True,
        cache="ram",
        notebook_timeout_s=7 * 24 * 3600,
    ),
}


def cuda_available() -> bool:
    """True when torch sees a CUDA device (False when torch is missing)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def default_name() -> str:
    """The profile to use: $WORKBOOK_PROFILE if set, else 'gpu' with CUDA and 'quick' without."""
    name = os.environ.get(ENV_VAR, "").strip()
    if name:
        return name
    return "gpu" if cuda_available() else "quick"


def get(name: str | None = None) -> Profile:
    """The named profile (None: the default one), with a clear error for a typo."""
    name = name or default_name()
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"Unknown profile {name!r}; choose one of {sorted(PROFILES)}") from None


def active() -> Profile:
    """The profile a notebook should start from (see default_name)."""
    return get(None)


def resolve(name: str | None, base: Profile | None = None, **values: Any) -> Profile:
    """Profile `name`, with every value in `values` that differs from `base` applied as an override.

    A notebook's parameters cell holds the base profile's values; Papermill may then inject `profile="gpu"` and
    some explicit values. Values still equal to the base defaults were not overridden, so they come from `name`.
    """
    target = get(name)
    base = base or target
    overrides = {k: v for k, v in values.items() if v is not None and v != getattr(base, k)}
    return target.replace(**overrides)


def parse_assignments(items: list[str] | None) -> dict[str, Any]:
    """Parse ['imgsz=96', 'cache=false'] from the command line into typed values (YAML scalars)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"Expected NAME=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""  # NAME= sets the empty string
    return out


def _coerce(current: Any, value: Any) -> Any:
    """Coerce command-line strings to the type of the current value (int fields stay int)."""
    if isinstance(value, str) and isinstance(current, bool):
        low = value.lower()
        if low in {"true", "1", "yes"}:
            return True
        if low in {"false", "0", "no"}:
            return False
        return value  # e.g. cache="ram"
    if isinstance(value, str) and isinstance(current, int) and not isinstance(current, bool):
        return int(value)
    return value
