"""Profiles: named sets of overrides of the spec, `helpers.train.plan.TrainPlan` (quick / gpu / full).

A profile holds its own workbook settings (how many synthetic images, the runner's time-out) and a mapping of
TrainPlan fields it sets; reading any other TrainPlan field gives the plan's own default. Every notebook's
``parameters`` cell reads its defaults from the active profile, so the same notebooks run a two-minute CPU smoke test
or the real batch-256 recipe. Core imports no train module: the package root gives this module TrainPlan's fields
(`use_plan_fields`), read when a profile is checked or a default is asked for.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from helpers.core.names import closest

ENV_VAR = "WORKBOOK_PROFILE"

_plan_fields: Callable[[], dict[str, Any]] | None = None


def use_plan_fields(provider: Callable[[], dict[str, Any]]) -> None:
    """Where TrainPlan's field names and defaults come from (the package root passes them: core imports no plan)."""
    global _plan_fields
    _plan_fields = provider


def plan_fields() -> dict[str, Any]:
    """TrainPlan's fields and their defaults: the names a profile may override."""
    if _plan_fields is None:
        raise RuntimeError("no TrainPlan fields given to helpers.core.profiles (import the `helpers` package)")
    return _plan_fields()


@dataclass(frozen=True)
class Profile:
    """One way of running the workbook: its own settings plus TrainPlan field overrides. `P.batch`, `P.attention` ...
    read the override, else TrainPlan's default; what follows from them (accumulation, effective batch, lr0,
    warm-up) is computed by the plan."""

    name: str
    description: str
    n_train: int = 2048  # synthetic images generated for training
    n_val: int = 256
    notebook_timeout_s: int = 3600  # the runner's wall-clock limit per notebook
    overrides: dict[str, Any] = field(default_factory=dict, hash=False)  # TrainPlan field -> value

    def __post_init__(self) -> None:
        own = [f.name for f in fields(self) if f.name != "overrides"]
        clash = sorted(set(self.overrides) & set(own))
        if clash:
            raise KeyError(f"profile {self.name!r}: {clash} are the profile's own settings, not plan overrides")
        if _plan_fields is not None:  # the module's own profiles are checked once the package root gives the fields
            self.check()

    def check(self) -> None:
        """An override naming no TrainPlan field is an error naming the closest field."""
        known = list(plan_fields())
        bad = [f"{k!r}{closest(k, known)}" for k in self.overrides if k not in known]
        if bad:
            raise KeyError(f"profile {self.name!r} overrides no TrainPlan field {', '.join(bad)}")

    def __getattr__(self, name: str) -> Any:
        """A TrainPlan field: the profile's override, else the plan's default."""
        if name.startswith("__") or "overrides" not in self.__dict__:
            raise AttributeError(name)
        if name in self.__dict__["overrides"]:
            return self.__dict__["overrides"][name]
        defaults = plan_fields()
        if name in defaults:
            return defaults[name]
        raise AttributeError(f"{type(self).__name__} has no setting {name!r}{closest(name, [*self.own(), *defaults])}")

    @classmethod
    def own(cls) -> list[str]:
        """The profile's own settings (not TrainPlan fields)."""
        return [f.name for f in fields(cls) if f.name != "overrides"]

    def replace(self, **changes: Any) -> "Profile":
        """A copy with some values changed: own settings or TrainPlan fields (an override); an unknown name is an
        error naming the closest. Command-line strings take the type of the current value."""
        own, plan = self.own(), plan_fields()
        unknown = [k for k in changes if k not in own and k not in plan]
        if unknown:
            known = [*own, *plan]
            raise KeyError(f"Unknown profile field(s) {', '.join(f'{k!r}{closest(k, known)}' for k in unknown)}")
        coerced = {k: _coerce(getattr(self, k), v) for k, v in changes.items()}
        overrides = {**self.overrides, **{k: v for k, v in coerced.items() if k not in own}}
        return dataclasses.replace(self, **{k: v for k, v in coerced.items() if k in own}, overrides=overrides)

    def as_dict(self) -> dict[str, Any]:
        """The profile's own settings, then its overrides."""
        return {**{k: getattr(self, k) for k in self.own()}, **self.overrides}


_QUICK = Profile(
    name="quick",
    description="CPU smoke run: tiny images, a few dozen images, 3 epochs; every notebook in a minute or two.",
    n_train=32,
    n_val=8,
    notebook_timeout_s=900,
    overrides=dict(
        imgsz=128,
        epochs=3,
        batch=8,
        nbs=16,
        workers=0,
        cache=False,
        device="cpu",
        checkpoint="attention",  # exercise the checkpointing path in the smoke run
        weights="starter",  # from scratch, 3 CPU epochs learn nothing visible; fine-tuning shows real learning
    ),
)
_GPU = Profile(
    name="gpu",
    description="The real recipe on one GPU: yolo12n, 640 px, effective batch 256, a few dozen epochs.",
    n_train=2048,
    n_val=256,
    notebook_timeout_s=3600,
    overrides=dict(
        model="yolo12n.yaml",  # built from yaml: no weights are downloaded
        imgsz=640,
        epochs=30,
        batch=256,
        nbs=256,
        workers=-1,  # sized from the cores (helpers.train.planner.auto_workers)
        cache="ram",
        augment_device="gpu",  # the fastest plan measured: benchmarks/results/realtrain-h200.md
        deterministic=False,
        cudnn_benchmark=True,
    ),
)
PROFILES: dict[str, Profile] = {
    "quick": _QUICK,
    "gpu": _GPU,
    "full": dataclasses.replace(  # the gpu recipe, longer and on more images
        _GPU, name="full", description="Long run: the 600-epoch recipe at effective batch 256 (hours to days).",
        n_train=8192, n_val=1024, notebook_timeout_s=7 * 24 * 3600, overrides={**_GPU.overrides, "epochs": 600}),
}


def changed(profile: Profile) -> set[str]:
    """The TrainPlan fields a profile sets differently from the registered profile of its name (what a user changed
    through `resolve` or `replace`); every override of a profile of another name."""
    base = PROFILES.get(profile.name)
    if base is None:
        return set(profile.overrides)
    return {k for k, v in profile.overrides.items() if base.overrides.get(k, _MISSING) != v}


_MISSING = object()


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


def parse_value(raw: str) -> Any:
    """A command-line value as YAML reads it: 64 -> int, 0.01 -> float, false -> False, ram -> 'ram', '' -> ''."""
    import yaml

    return yaml.safe_load(raw) if raw.strip() else ""  # NAME= sets the empty string


def parse_assignments(items: list[str] | None) -> dict[str, Any]:
    """Parse ['imgsz=96', 'cache=false'] from the command line into typed values (YAML scalars)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"Expected NAME=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        out[key.strip()] = parse_value(raw)
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
