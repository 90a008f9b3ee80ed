"""The TrainPlan: everything one training run is, in one frozen object.

Built from a profile plus overrides plus an optional memory plan. Every number derived from it — accumulation,
effective batch, lr0, warm-up, the weight decay Ultralytics applies — is computed here and nowhere else.
`ultralytics_args()` turns it into real Ultralytics arguments only (Ultralytics rejects `accumulate=`,
`grad_clip_norm=` ...), and `to_json()` carries it, as one environment variable, to the worker processes
Ultralytics starts for multi-GPU training, where the workbook's trainer rebuilds the same state from it. With
`nnodes > 1` the processes come from torchrun instead (`helpers.train.worker`) and read the same variable, which the
launch line puts in front of torchrun on every host.

This module is the value object only (fields, checks, arithmetic, the JSON channel) and imports neither of its
neighbours: building a plan from a profile, a dataset or this GPU is `helpers.train.planner`
(`planner.from_profile(profile, ...)`, `planner.fit_memory(plan)`, `planner.translated(plan, tutorial)`), reading it
as rows, tables and a summary is `helpers.train.plan_view` (`plan_view.explain(plan)`, `rows`, `summary`,
`scaling_table`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from helpers.core import paths
from helpers.core.names import closest
from helpers.train import lr
from helpers.tricks import registry
from helpers.tricks.recipe import AUGMENT_PRESETS

ENV_VAR = "WORKBOOK_PLAN"
LR_RULES = ("linear", "sqrt", "none")
# Ultralytics' build_optimizer names, which it matches whatever their case; the plan keeps its spelling
OPTIMIZERS = ("SGD", "MuSGD", "Adam", "Adamax", "AdamW", "NAdam", "RAdam", "RMSprop", "auto")
CACHES = (False, True, "ram", "disk")
AUGMENT_DEVICES = ("cpu", "gpu")
STORES = ("auto", "gpu", "host", "jpeg", "off")  # helpers.pipeline.store.MODES
WEIGHT_DECAY = 5e-4  # Ultralytics' default, before its batch scaling
# Ultralytics arguments the plan sets itself: `extra` may not set them behind its back.
OWNED = {k: k for k in ("data", "imgsz", "epochs", "batch", "nbs", "optimizer", "amp", "device", "workers", "cache",
                        "seed", "project", "name", "model", "plots", "compile", "deterministic", "exist_ok")}
OWNED.update(lr0="lr_fixed", warmup_epochs="warmup_fixed")


class PlanError(ValueError):
    """A plan that cannot run as given; the message names the field and what it accepts."""


def one_size(imgsz: Any) -> Any:
    """A list of image sizes ([64, 96], '64,96') as Ultralytics' trainer takes it: its largest, said in a warning;
    anything else unchanged (the plan checks it)."""
    sizes = re.findall(r"\d+", str(imgsz))
    if not isinstance(imgsz, (str, list, tuple)) or len(sizes) < 2 or \
            not re.fullmatch(r"[\[(]?\s*\d+(\s*,\s*\d+)+\s*,?\s*[\])]?", str(imgsz).replace("'", "")):
        return imgsz
    from ultralytics.utils import LOGGER

    largest = max(map(int, sizes))
    LOGGER.warning(f"imgsz={imgsz!r}: training takes one square size; {largest}, the largest, as Ultralytics' "
                   "trainer takes it (check_imgsz)")
    return largest


TYPE_WORDS = {bool: "must be true or false", int: "must be an integer", float: "must be a number", str: "must be text"}


def _with_trick_options(cls: type) -> type:
    """The class body's fields plus every registered trick's options (`helpers.tricks.registry`), placed before
    `extra`, made into one frozen dataclass: a trick's option is a plan field like any other."""
    body = dict(cls.__dict__.get("__annotations__", {}))
    merged: dict[str, Any] = {}
    for name, hint in body.items():
        if name == "extra":
            for o in registry.options():
                if o.name in body:
                    raise TypeError(f"trick option {o.name!r} is a core field of TrainPlan already")
                merged[o.name] = o.type if isinstance(o.type, type) else Any
                setattr(cls, o.name, o.default)
        merged[name] = hint
    cls.__annotations__ = merged
    return dataclass(frozen=True)(cls)


def _type_ok(value: Any, kind: type | tuple[type, ...]) -> bool:
    """isinstance, except that a bool is not an int or a float here (True is no batch size)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool):
        return bool in kinds
    return isinstance(value, kinds) or (float in kinds and isinstance(value, int))


def _choose(value: Any, choices: tuple[Any, ...]) -> str:
    """What a value outside an option's choices should be, with the closest name ('' listed first: it means off)."""
    named = [c for c in choices if c != ""]
    near = closest(str(value), [str(c) for c in named])
    if "" in choices and all(isinstance(c, str) for c in choices):
        return f"choose '' or one of {named}{near}"
    return f"choose one of {choices}{near}"


@_with_trick_options
class TrainPlan:
    """One training run: what to train, on what, how big a step, which tricks. Derived values are properties."""

    model: str = "yolo12n.yaml"
    data: str = ""  # a dataset yaml (see helpers.data.sources.choose)
    train_images: int = 0  # training images in `data`, counted from its files: the warm-up depends on it
    imgsz: int = 640
    epochs: int = 30
    batch: int = 256  # Ultralytics' `batch`: the micro-batch, global over all training processes
    nbs: int = 256  # Ultralytics' nominal batch: accumulate = max(round(nbs / batch), 1)
    fitted_from: int = 0  # the nbs asked for, where the planner lowered it to meet the step floor (0: not lowered)
    lr_rule: str = "linear"  # linear | sqrt | none: lr0 from lr_ref at batch_ref (linear: the record's choice)
    lr_ref: float = 0.01  # Ultralytics' SGD default lr0 ...
    batch_ref: int = 64  # ... tuned at its default nbs
    lr_fixed: float | None = None  # an explicit lr0 (fine-tuning, a comparison); None: from the rule
    warmup_fixed: float | None = None  # explicit warm-up epochs; None: from the step count (lr.warmup_epochs)
    optimizer: str = "SGD"  # 'auto' would ignore lr0
    augment: str = "b256"  # a key of AUGMENT_PRESETS, or '' for Ultralytics' own defaults
    amp: str = "fp16"  # fp16 | bf16 | fp32 (helpers.tricks.precision)
    augment_device: str = "cpu"  # cpu: Ultralytics' workers augment | gpu: batched on the training GPU (helpers.pipeline)
    store: str = "auto"  # where augment_device='gpu' keeps the set: auto | gpu | host | jpeg | off (pipeline.store)
    compile: bool = False  # torch.compile the model's forward (Ultralytics' own `compile`; the loss stays eager)
    deterministic: bool = True  # Ultralytics' own: deterministic algorithms and cuDNN kernels (slower steps)
    weights: str = ""  # '' from scratch | 'starter' | path/to/file.pt
    device: str = ""  # '' lets Ultralytics choose; 'cpu', '0', '0,1' (the GPUs of each host)
    nnodes: int = 1  # hosts; > 1 runs through torchrun (python -m helpers train --nnodes ..., helpers.train.worker)
    workers: int = 8
    cache: str | bool = "ram"
    seed: int = 0
    name: str = "train"
    project: str = ""  # '' -> runs/train
    exist_ok: bool = False  # reuse project/name (notebooks do: stable paths); False: a taken name becomes name2, name3 ...
    plots: bool = True  # Ultralytics' plots: results.png, confusion matrix, PR curve, validation predictions
    tensorboard: bool = False  # Ultralytics' TensorBoard logging into the run folder (offline; needs `tensorboard`)
    extra: dict[str, Any] = field(default_factory=dict)  # further real Ultralytics arguments (close_mosaic, val ...)

    def __post_init__(self) -> None:
        def bad(name: str, msg: str) -> None:
            raise PlanError(f"{name}={getattr(self, name)!r}: {msg}")

        from helpers.tricks import precision

        if self.fitted_from < 0:
            bad("fitted_from", "must be >= 0")
        for name in ("imgsz", "epochs", "batch", "nbs", "batch_ref", "nnodes"):
            v = getattr(self, name)
            if name == "batch" and not isinstance(v, bool) and isinstance(v, (int, float)) and (v == -1 or 0 < v < 1):
                bad(name, "is Ultralytics' AutoBatch; the workbook sizes the micro-batch from measured memory instead "
                    "(`planner.fit_memory(plan)`, notebook 02 section 2): give a whole number of images")
            if name == "imgsz":  # a list of sizes becomes its largest (said once, in one_size)
                v = one_size(v)
                object.__setattr__(self, name, v)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                bad(name, "must be a positive integer")
        for name in ("exist_ok", "plots", "compile", "deterministic", "tensorboard"):
            if not isinstance(getattr(self, name), bool):
                bad(name, "must be true or false")
        if self.workers < 0 or self.train_images < 0:
            bad("workers" if self.workers < 0 else "train_images", "must be >= 0")
        if self.lr_rule not in LR_RULES:
            bad("lr_rule", f"choose one of {LR_RULES}{closest(str(self.lr_rule), LR_RULES)}")
        spelled = {o.lower(): o for o in OPTIMIZERS}.get(str(self.optimizer).lower())
        if spelled is None:
            bad("optimizer", f"choose one of {OPTIMIZERS}{closest(str(self.optimizer), OPTIMIZERS)}")
        object.__setattr__(self, "optimizer", spelled)
        if self.augment and self.augment not in AUGMENT_PRESETS:
            bad("augment", f"choose '' or one of {sorted(AUGMENT_PRESETS)}{closest(self.augment, list(AUGMENT_PRESETS))}")
        if self.amp not in precision.CHOICES:
            bad("amp", f"choose one of {precision.CHOICES}{closest(str(self.amp), precision.CHOICES)}")
        if self.augment_device not in AUGMENT_DEVICES:
            bad("augment_device", f"choose one of {AUGMENT_DEVICES}")
        if self.store not in STORES:
            bad("store", f"choose one of {STORES}{closest(str(self.store), STORES)}")
        if self.store not in ("auto", "off") and self.augment_device != "gpu":
            bad("store", "a store feeds augment_device='gpu'; with 'cpu' Ultralytics' workers load the images "
                         "(set augment_device='gpu', or store='auto')")
        if self.cache not in CACHES:
            bad("cache", "choose 'ram', 'disk', True or False")
        if self.world > 1 and self.batch % self.world:
            where = f"{self.world} processes ({self.nnodes} hosts x {self.per_host})" if self.nnodes > 1 else \
                f"{self.world} GPUs"
            bad("batch", f"does not split evenly over {where}; use a multiple of {self.world}")
        for o in registry.options():  # the tricks' own options: type, choices, then the trick's check
            v = getattr(self, o.name)
            if not _type_ok(v, o.type):
                bad(o.name, TYPE_WORDS.get(o.type, f"must be {o.type}"))  # type: ignore[arg-type]
            if o.choices is not None and v not in o.choices:
                bad(o.name, _choose(v, o.choices))
            msg = o.check(v, self) if o.check is not None else None
            if msg:
                bad(o.name, msg)
        _check_extra(self.extra)

    # ------------------------------------------------------------------ derived values (one rule each)
    @property
    def accumulate(self) -> int:
        """Micro-batches per optimizer step, as Ultralytics computes it."""
        return lr.accumulate(self.batch, self.nbs)

    @property
    def effective_batch(self) -> int:
        """Images per optimizer step (over all GPUs): micro-batch x accumulation."""
        return lr.effective_batch(self.batch, self.nbs)

    @property
    def per_host(self) -> int:
        """Training processes on each host: one per GPU of the device list (one for 'cpu', '' or a single GPU)."""
        ids = [d for d in str(self.device).split(",") if d.strip()]
        return len(ids) if len(ids) > 1 else 1

    @property
    def world(self) -> int:
        """Training processes over all hosts (torch's WORLD_SIZE): hosts x processes per host."""
        return self.nnodes * self.per_host

    @property
    def per_gpu_batch(self) -> int:
        return self.batch // self.world

    @property
    def lr0(self) -> float:
        """The learning rate the run starts from: explicit, or scaled from the reference by the rule."""
        if self.lr_fixed is not None:
            return float(self.lr_fixed)
        if self.lr_rule == "none":
            return self.lr_ref
        return round(lr.scale_lr(self.lr_ref, self.batch_ref, self.effective_batch, self.lr_rule), 6)

    @property
    def steps_per_epoch(self) -> float:
        return lr.steps_per_epoch(self.train_images, self.effective_batch)

    @property
    def total_steps(self) -> float:
        """Optimizer steps over the whole run."""
        return lr.total_steps(self.epochs, self.train_images, self.effective_batch)

    @property
    def over_data(self) -> str:
        """What becomes of a micro-batch larger than the training set, in words ('' when it fits): Ultralytics'
        build_dataloader caps it at the set, so every step sees fewer images than lr0 is scaled for."""
        if not 0 < self.train_images < self.per_gpu_batch:
            return ""
        n = self.train_images
        return (f"batch {self.per_gpu_batch} is more than the {n} training images: Ultralytics trains batches of {n} "
                f"(its loader caps the batch at the data) while lr0 and the weight decay are set for "
                f"{self.effective_batch} images per step; set batch and nbs to {n} or fewer, or add images")

    @property
    def below_floor(self) -> str:
        """What of the step floor (lr.MIN_STEPS_PER_EPOCH, lr.MIN_STEPS) this run misses, in words ('' if none)."""
        return lr.below_floor(self.epochs, self.train_images, self.effective_batch)

    @property
    def warmup_epochs(self) -> float:
        """Explicit, or long enough in optimizer steps for this dataset's real size (lr.warmup_epochs)."""
        if self.warmup_fixed is not None:
            return float(self.warmup_fixed)
        return lr.warmup_epochs(self.epochs, self.train_images, self.effective_batch)

    @property
    def weight_decay(self) -> float:
        """The decay Ultralytics applies: weight_decay x batch x accumulate / nbs."""
        return lr.ultralytics_weight_decay(float(self.extra.get("weight_decay", WEIGHT_DECAY)), self.batch, self.nbs)

    @property
    def augmentation(self) -> dict[str, float]:
        return dict(AUGMENT_PRESETS.get(self.augment, {}))

    def start(self) -> tuple[str, str]:
        """(what YOLO(...) loads, why): the yaml, the starter checkpoint for this image size, or a .pt file."""
        from helpers.train.weights import starting_point

        return starting_point(self.model, self.weights, self.imgsz)

    @property
    def precision(self) -> str:
        """What the run trains in: fp16 | bf16 | fp32 (fp32 on a CPU, whatever was asked)."""
        from helpers.tricks import precision

        return precision.runs_in(self.amp)

    def amp_arg(self) -> tuple[str | bool, str]:
        """(Ultralytics' amp value, why): bf16 is refused on GPUs without bf16 tensor cores; CPU trains in fp32."""
        from helpers.tricks import precision

        return precision.choose_amp(self.amp)

    def replace(self, **changes: Any) -> "TrainPlan":
        """A copy with some fields changed (a misspelt name is an error naming the closest)."""
        _check_names(changes)
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ what Ultralytics gets
    def ultralytics_args(self) -> dict[str, Any]:
        """Keyword arguments for `YOLO(...).train(...)`: only real Ultralytics arguments (the trainer class is
        chosen by `helpers.train.run.train`)."""
        args: dict[str, Any] = dict(
            data=self.data, imgsz=self.imgsz, epochs=self.epochs, batch=self.batch, nbs=self.nbs,
            optimizer=self.optimizer, lr0=self.lr0, warmup_epochs=self.warmup_epochs, amp=self.amp_arg()[0],
            device=self.device or None, workers=self.workers, cache=self.cache, seed=self.seed,
            project=self.project or str(paths.runs_dir() / "train"), name=self.name, exist_ok=self.exist_ok, plots=self.plots,
            compile=self.compile, deterministic=self.deterministic)
        args.update(self.augmentation)
        args.update(registry.ultralytics_args(self))
        args.update(self.extra)
        return args

    @property
    def run_dir(self) -> Path:
        """The run's folder as the plan names it (a new run whose folder is taken gets the next free name)."""
        return Path(self.project or paths.runs_dir() / "train") / self.name

    # ------------------------------------------------------------------ the one channel to worker processes
    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "TrainPlan":
        d = json.loads(text)
        if "recipe" in d:  # a plan saved before the recipe's pieces became plan fields
            d.update(_recipe_fields(d.pop("recipe")))
        _check_names(d)
        return cls(**d)

    @classmethod
    def from_env(cls) -> "TrainPlan | None":
        """The plan of the run this process belongs to ($WORKBOOK_PLAN), or None outside a workbook run."""
        text = os.environ.get(ENV_VAR)
        return cls.from_json(text) if text else None


def _recipe_fields(recipe: dict[str, Any] | None) -> dict[str, Any]:
    """The plan fields of a stability recipe saved as one object (plan.json of earlier runs), so `--resume` of such
    a run trains on with the same tricks."""
    if not recipe:
        return {}
    from helpers.tricks.loss_stages import spec

    out = {k: recipe[k] for k in ("clip_norm", "restart_epoch", "restart_fraction", "restart_after", "restart_decay",
                                  "nan_guard", "guard_max_bad", "guard_lr_drop", "empty_cache_every", "atomic_save")
           if k in recipe}
    if recipe.get("clip_norm") is None and "clip_norm" in recipe:
        out.pop("clip_norm")
        out["clip_rule"] = "off"
    if recipe.get("loss_stages"):
        out["loss_stages"] = spec(recipe["loss_stages"])
    if recipe.get("early_stop"):
        out["early_stop"] = int(recipe["early_stop"]["patience"])
    return out


def _check_names(values: dict[str, Any]) -> None:
    known = [f.name for f in fields(TrainPlan)]
    for k in values:
        if k not in known:
            raise PlanError(f"TrainPlan has no field {k!r}{closest(k, known)}")


def _check_extra(extra: dict[str, Any]) -> None:
    """Extra arguments must be real Ultralytics arguments the plan does not set itself."""
    if not extra:
        return
    from ultralytics.cfg import DEFAULT_CFG_DICT

    for k in extra:
        if k in OWNED:
            field_ = OWNED[k]
            raise PlanError(f"extra argument {k!r} belongs to the plan: set its field {field_!r} instead "
                            f"(`--{field_.replace('_', '-')}` on the command line, `plan.replace({field_}=...)` in "
                            "a notebook)")
        if k not in DEFAULT_CFG_DICT:
            from helpers.tricks.translate import TUTORIAL_KEYS, did_you_mean

            hint = ("a tutorial argument: helpers.train.planner.translated() maps it" if k in TUTORIAL_KEYS else
                    did_you_mean(k, set(DEFAULT_CFG_DICT)))
            raise PlanError(f"extra argument {k!r} is not an Ultralytics argument ({hint})")
