"""The TrainPlan: everything one training run is, in one frozen object.

Built from a profile plus overrides plus an optional memory plan. Every number derived from it — accumulation,
effective batch, lr0, warm-up, the weight decay Ultralytics applies — is computed here and nowhere else.
`ultralytics_args()` turns it into real Ultralytics arguments only (Ultralytics rejects `accumulate=`,
`grad_clip_norm=` ...), and `to_json()` carries it, as one environment variable, to the worker processes
Ultralytics starts for multi-GPU training, where the workbook's trainer rebuilds the same state from it. With
`nnodes > 1` the processes come from torchrun instead (`helpers.train.worker`) and read the same variable, which the
launch line puts in front of torchrun on every host.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from helpers.core import paths
from helpers.core.profiles import Profile
from helpers.core.tables import Table
from helpers.train import lr
from helpers.tricks.recipe import AUGMENT_PRESETS, Recipe

ENV_VAR = "WORKBOOK_PLAN"
LR_RULES = ("linear", "sqrt", "none")
OPTIMIZERS = ("SGD", "MuSGD", "Adam", "Adamax", "AdamW", "NAdam", "RAdam", "RMSProp", "auto")
CACHES = (False, True, "ram", "disk")
AUGMENT_DEVICES = ("cpu", "gpu")
WEIGHT_DECAY = 5e-4  # Ultralytics' default, before its batch scaling
# Ultralytics arguments the plan sets itself: `extra` may not set them behind its back.
OWNED = {k: k for k in ("data", "imgsz", "epochs", "batch", "nbs", "optimizer", "amp", "device", "workers", "cache",
                        "seed", "project", "name", "model", "plots", "compile", "deterministic", "exist_ok")}
OWNED.update(lr0="lr_fixed", warmup_epochs="warmup_fixed", save_period="recipe.save_period")


PROFILE_FIELDS = ("model", "imgsz", "epochs", "batch", "nbs", "attention", "checkpoint", "amp", "weights", "device",
                  "workers", "cache", "seed", "plots", "tensorboard", "augment_device", "deterministic",
                  "cudnn_benchmark")


class PlanError(ValueError):
    """A plan that cannot run as given; the message names the field and what it accepts."""


def closest(name: str, known: list[str] | tuple[str, ...]) -> str:
    """' (did you mean X?)' for the nearest known name, or ''."""
    near = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f" (did you mean {near[0]!r}?)" if near else ""


@dataclass(frozen=True)
class TrainPlan:
    """One training run: what to train, on what, how big a step, which tricks. Derived values are properties."""

    model: str = "yolo12n.yaml"
    data: str = ""  # a dataset yaml (see helpers.data.sources.choose)
    train_images: int = 0  # training images in `data`, counted from its files: the warm-up depends on it
    imgsz: int = 640
    epochs: int = 30
    batch: int = 256  # Ultralytics' `batch`: the micro-batch, global over all training processes
    nbs: int = 256  # Ultralytics' nominal batch: accumulate = max(round(nbs / batch), 1)
    lr_rule: str = "sqrt"  # linear | sqrt | none: lr0 from lr_ref at batch_ref
    lr_ref: float = 0.01  # Ultralytics' SGD default lr0 ...
    batch_ref: int = 64  # ... tuned at its default nbs
    lr_fixed: float | None = None  # an explicit lr0 (fine-tuning, a comparison); None: from the rule
    warmup_fixed: float | None = None  # explicit warm-up epochs; None: from the step count (lr.warmup_epochs)
    optimizer: str = "SGD"  # 'auto' would ignore lr0
    augment: str = "b256"  # a key of AUGMENT_PRESETS, or '' for Ultralytics' own defaults
    attention: str = "auto"  # auto | sdpa | flash | stock (helpers.tricks.attention)
    checkpoint: str = ""  # '' | attention | blocks | all | all+head (helpers.tricks.checkpointing)
    amp: str = "fp16"  # fp16 | bf16 | fp32 (helpers.tricks.precision)
    augment_device: str = "cpu"  # cpu: Ultralytics' workers augment | gpu: batched on the training GPU (tricks.gpu_augment)
    compile: bool = False  # torch.compile the model's forward (Ultralytics' own `compile`; the loss stays eager)
    deterministic: bool = True  # Ultralytics' own: deterministic algorithms and cuDNN kernels (slower steps)
    cudnn_benchmark: bool = False  # let cuDNN time its kernels for each new shape (needs deterministic=False)
    sdpa_kernel: str = ""  # pin PyTorch SDPA to one kernel: flash (FlashAttention-2) | efficient | cudnn | '' (PyTorch picks)
    recipe: Recipe | None = None  # the stability recipe (RecipeTrainer); None: Ultralytics' own loop
    val_every: int = 1  # validate every k epochs (the last epoch always; skipped epochs log NaN metrics)
    weights: str = ""  # '' from scratch | 'starter' | path/to/file.pt
    device: str = ""  # '' lets Ultralytics choose; 'cpu', '0', '0,1' (the GPUs of each host)
    nnodes: int = 1  # hosts; > 1 runs through torchrun (python -m helpers train --nnodes ..., helpers.train.worker)
    sync_bn: bool = False  # SyncBatchNorm over all GPUs (statistics of the global batch); GPUs only
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

        from helpers.tricks import attention, checkpointing, precision

        for name in ("imgsz", "epochs", "batch", "nbs", "batch_ref", "nnodes", "val_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                bad(name, "must be a positive integer")
        for name in ("exist_ok", "plots", "compile", "deterministic", "cudnn_benchmark", "sync_bn", "tensorboard"):
            if not isinstance(getattr(self, name), bool):
                bad(name, "must be true or false")
        if self.workers < 0 or self.train_images < 0:
            bad("workers" if self.workers < 0 else "train_images", "must be >= 0")
        if self.lr_rule not in LR_RULES:
            bad("lr_rule", f"choose one of {LR_RULES}{closest(str(self.lr_rule), LR_RULES)}")
        if self.optimizer not in OPTIMIZERS:
            bad("optimizer", f"choose one of {OPTIMIZERS}{closest(str(self.optimizer), OPTIMIZERS)}")
        if self.augment and self.augment not in AUGMENT_PRESETS:
            bad("augment", f"choose '' or one of {sorted(AUGMENT_PRESETS)}{closest(self.augment, list(AUGMENT_PRESETS))}")
        if self.attention not in attention.BACKENDS:
            bad("attention", f"choose one of {attention.BACKENDS}{closest(str(self.attention), attention.BACKENDS)}")
        if self.checkpoint and self.checkpoint not in checkpointing.LAYER_SETS:
            bad("checkpoint", f"choose '' or one of {sorted(checkpointing.LAYER_SETS)}"
                              f"{closest(str(self.checkpoint), list(checkpointing.LAYER_SETS))}")
        if self.amp not in precision.CHOICES:
            bad("amp", f"choose one of {precision.CHOICES}{closest(str(self.amp), precision.CHOICES)}")
        if self.augment_device not in AUGMENT_DEVICES:
            bad("augment_device", f"choose one of {AUGMENT_DEVICES}")
        if self.sdpa_kernel not in attention.SDPA_KERNELS:
            bad("sdpa_kernel", f"choose one of {attention.SDPA_KERNELS}")
        if self.cudnn_benchmark and self.deterministic:
            bad("cudnn_benchmark", "cuDNN's benchmark mode picks kernels by timing, which deterministic=True forbids; "
                                   "set deterministic=False too")
        if self.cache not in CACHES:
            bad("cache", "choose 'ram', 'disk', True or False")
        if self.world > 1 and self.batch % self.world:
            where = f"{self.world} processes ({self.nnodes} hosts x {self.per_host})" if self.nnodes > 1 else \
                f"{self.world} GPUs"
            bad("batch", f"does not split evenly over {where}; use a multiple of {self.world}")
        if self.sync_bn and str(self.device).strip() == "cpu":
            bad("sync_bn", "SyncBatchNorm runs on GPUs only (torch has no CPU kernel); set sync_bn=False on the CPU")
        if self.recipe is not None and not isinstance(self.recipe, Recipe):
            raise PlanError(f"recipe must be a Recipe, not {type(self.recipe).__name__}")
        if self.val_every > 1 and self.recipe is not None and self.recipe.early_stop:
            bad("val_every", "the recipe's early stop reads every epoch's validation; use val_every=1 with it, or "
                             "a recipe without early_stop")
        if self.val_every > 1 and self.extra.get("val") is False:
            bad("val_every", "val=False already validates the last epoch only")
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

    # ------------------------------------------------------------------ building
    @classmethod
    def from_profile(cls, profile: Profile, *, dataset: str | Path = "synthetic", **overrides: Any) -> "TrainPlan":
        """The plan for a profile's defaults, the dataset resolved to a yaml and its training images counted, plus
        overrides (any field; a misspelt one is an error naming the closest)."""
        from helpers.data import sources

        _check_names(overrides)
        sized = profile.replace(imgsz=overrides["imgsz"]) if "imgsz" in overrides else profile
        data = sources.choose(str(dataset), sized)  # the synthetic set is drawn at the run's image size
        base = profile_values(profile)
        base.update(data=str(data), train_images=sources.count_images(data, "train"))
        base.update(overrides)
        if base["workers"] == AUTO_WORKERS:  # sized from this machine's cores
            base["workers"] = auto_workers(base["device"], base.get("nnodes", 1))
        return cls(**base)

    def replace(self, **changes: Any) -> "TrainPlan":
        """A copy with some fields changed (a misspelt name is an error naming the closest)."""
        _check_names(changes)
        return dataclasses.replace(self, **changes)

    def with_memory(self, memory_plan: Any) -> "TrainPlan":
        """The micro-batch and nbs of a `helpers.train.memory.Plan` (the planner's choice for this card)."""
        return self.replace(batch=memory_plan.micro_batch, nbs=memory_plan.nbs)

    def probe_config(self):
        """The planner's probe for this plan (CPU: fp32, as Ultralytics trains there)."""
        import torch

        from helpers.train.probe import ProbeConfig

        return ProbeConfig(model=self.model, imgsz=self.imgsz, amp=self.amp if torch.cuda.is_available() else "fp32",
                           attention=self.attention, checkpoint=self.checkpoint)

    def fit_memory(self, **kwargs: Any) -> tuple["TrainPlan", Any]:
        """Probe this GPU and return (the plan with the planned micro-batch, the memory plan). Without CUDA the
        memory plan says so and the micro-batch stays."""
        from helpers.train import memory

        mem = memory.plan(self.probe_config(), target=self.nbs, fallback_batch=self.batch, **kwargs)
        return self.with_memory(mem), mem

    def translated(self, tutorial: dict[str, Any]) -> tuple["TrainPlan", Any]:
        """(this plan with a tutorial's arguments applied, the translation): real arguments go to the plan's fields
        or `extra`, tutorial ones to the recipe and tricks (helpers.tricks.translate). Unknown keys are an error."""
        from helpers.tricks.translate import translate

        tr = translate(tutorial)
        if tr.unknown:
            raise PlanError("unknown argument(s): " + "; ".join(f"{k!r}: {hint}" for k, hint in tr.unknown))
        changes: dict[str, Any] = {}
        extra = dict(self.extra)
        recipe = dict(tr.recipe)
        for k, v in tr.args.items():
            if k == "amp":
                changes["amp"] = "bf16" if v == "bf16" else "fp16" if v in (True, "fp16") else "fp32"
            elif k == "save_period":
                recipe["save_period"] = int(v)
            elif k in OWNED:
                changes[OWNED[k]] = v
            else:
                extra[k] = v
        changes.update(tr.tricks)
        if recipe:
            base = dataclasses.asdict(self.recipe or Recipe())
            changes["recipe"] = Recipe.from_dict({**base, **recipe})
        return self.replace(**changes, extra=extra), tr

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
        if self.recipe is not None:
            args["save_period"] = self.recipe.save_period
        args.update(self.extra)
        return args

    # ------------------------------------------------------------------ reading it
    def rows(self) -> list[tuple[str, str, str]]:
        """(setting, value, where it comes from) for every choice of the run."""
        from helpers.tricks import attention

        _, why = self.start()
        area = attention.area_attention_layers(self.model)
        used, att_why = attention.resolve(self.attention) if self.attention != "flash" else ("flash", "as requested")
        amp_value, amp_why = self.amp_arg()
        gpus = (f"{self.world} processes ({self.nnodes} hosts x {self.per_host}), {self.per_gpu_batch} images each"
                if self.nnodes > 1 else f"{self.world} GPUs, {self.per_gpu_batch} images each" if self.world > 1 else "")
        rule = ("set explicitly" if self.lr_fixed is not None else
                f"{self.lr_rule} rule from {self.lr_ref:g} at batch {self.batch_ref}" if self.lr_rule != "none" else
                "reference lr, not scaled")
        warm = ("set explicitly" if self.warmup_fixed is not None else
                lr.warmup_reason(self.epochs, self.train_images, self.effective_batch))
        return [
            ("model", self.model, why),
            ("data", self.data, f"{self.train_images} training images"),
            ("image size", str(self.imgsz), "pixels of the longer side: Ultralytics resizes and pads every image to it"),
            ("epochs", str(self.epochs), f"{lr.steps_per_epoch(self.train_images, self.effective_batch) * self.epochs:.0f} "
             f"optimizer steps in all at this effective batch" if self.train_images else "passes over the training images"),
            ("micro-batch (batch)", str(self.batch), gpus or "images per forward/backward pass"),
            ("accumulate", str(self.accumulate), f"max(round(nbs {self.nbs} / batch {self.batch}), 1)"),
            ("effective batch", str(self.effective_batch), "images per optimizer step"),
            ("lr0", f"{self.lr0:g}", rule),
            ("warm-up epochs", f"{self.warmup_epochs:g}", warm),
            ("weight decay applied", f"{self.weight_decay:.2e}", "weight_decay x batch x accumulate / nbs"),
            ("optimizer", self.optimizer, "'auto' would ignore lr0" if self.optimizer != "auto" else "ignores lr0"),
            ("augmentation", f"{self.augment or 'Ultralytics defaults'} on the {self.augment_device.upper()}",
             ", ".join(f"{k}={v:g}" for k, v in self.augmentation.items())),
            *([("compile", "torch.compile", "the model's forward; the first steps include compilation")]
              if self.compile else []),
            ("attention", f"{self.attention} -> {used}" + (f", SDPA kernel {self.sdpa_kernel}" if self.sdpa_kernel else ""),
             att_why) if area != 0 else
            ("attention", "does not apply", f"{Path(self.model).stem} has no area-attention (A2C2f) layers: its own "
                                            "layers run unchanged"),
            ("kernels", "deterministic" if self.deterministic else
             "cuDNN benchmark" if self.cudnn_benchmark else "non-deterministic",
             "Ultralytics' default: reproducible, slower kernels" if self.deterministic else
             "cuDNN times its kernels per shape (the first steps are slower)" if self.cudnn_benchmark else
             "cuDNN's heuristics pick the kernels") if str(self.device).strip() != "cpu" else
            ("kernels", "deterministic" if self.deterministic else "non-deterministic", "the CPU has no cuDNN choice"),
            ("checkpointing", self.checkpoint or "off", "recompute activations in the backward pass" if self.checkpoint else
             "every activation kept for the backward pass (fastest; checkpoint='attention' or 'all' trades speed "
             "for memory)")
            if not (self.checkpoint == "attention" and area == 0) else
            ("checkpointing", "attention: nothing to recompute", f"{Path(self.model).stem} has no A2C2f layers; "
                                                                 "'all' also recomputes its top-level Conv layers"),
            ("precision", self.precision, (f"asked {self.amp}; " if self.precision != self.amp else "")
             + f"amp={amp_value!r}: {amp_why}"),
            ("stability recipe", "on" if self.recipe else "off", _recipe_text(self.recipe)),
            ("device", self.device or "auto", "as set" if self.device else
             "Ultralytics' choice: GPU 0 when CUDA has one, else the CPU"),
            *([("hosts", str(self.nnodes), "torchrun, one rendezvous (helpers.train.worker)")] if self.nnodes > 1 else []),
            *([("BatchNorm", "SyncBatchNorm" if self.sync_bn else "per GPU",
                "statistics over the global batch (a collective per BatchNorm layer)" if self.sync_bn else
                f"each GPU normalises over its own {self.per_gpu_batch} images (Ultralytics' default)")]
              if self.world > 1 else []),
            ("loader", f"{self.workers} workers, cache={self.cache}",
             "processes that decode and augment images; with the set on the GPU they serve validation only"
             if self.augment_device == "gpu" else "processes that decode and augment images for training and validation"),
            *([("validation", f"every {self.val_every} epochs", "and the last; the epochs between log NaN metrics and "
                "cannot become best.pt")] if self.val_every > 1 else []),
            ("logging", "plots" + (" + TensorBoard" if self.tensorboard else "") if self.plots else
             ("TensorBoard" if self.tensorboard else "results.csv only"),
             "tensorboard --logdir " + (self.project or "runs/train") if self.tensorboard else
             "Ultralytics' figures and results.csv in the run folder" if self.plots else "results.csv in the run folder"),
            *[(k, repr(v), "extra Ultralytics argument") for k, v in self.extra.items()],
        ]

    @property
    def run_dir(self) -> Path:
        """The run's folder as the plan names it (a new run whose folder is taken gets the next free name)."""
        return Path(self.project or paths.runs_dir() / "train") / self.name

    def explain(self, title: str = "") -> Table:
        """The plan as a table: each setting, its value and why."""
        return Table(("setting", "value", "why"), self.rows(), title or f"TrainPlan '{self.name}'")

    def scaling_table(self, batches: tuple[int, ...] = (64, 128, 256, 1024)) -> Table:
        """lr0 by each rule and the decay Ultralytics applies at nbs 256 and 64, for other batches: computed by this
        plan's own arithmetic, so the comparison cannot drift from what a run uses."""
        def at(b: int, nbs: int, rule: str) -> "TrainPlan":
            return self.replace(batch=b, nbs=nbs, lr_rule=rule, lr_fixed=None, device="")

        rows = [(b, f"{at(b, b, 'linear').lr0:.4f}", f"{at(b, b, 'sqrt').lr0:.4f}",
                 f"{at(b, 256, 'sqrt').weight_decay:.5f}", f"{at(b, 64, 'sqrt').weight_decay:.5f}") for b in batches]
        return Table(("batch", "lr0 linear", "lr0 sqrt", "decay at nbs=256", "decay at nbs=64"), rows)

    def summary(self) -> str:
        """One line: the step, lr0 and the tricks."""
        ckpt = f", checkpoint {self.checkpoint}" if self.checkpoint else ""
        return (f"{Path(self.model).stem} {self.imgsz}px · batch={self.batch}, nbs={self.nbs} -> {self.batch} x "
                f"{self.accumulate} = {self.effective_batch} per step · lr0 {self.lr0:g} · warm-up "
                f"{self.warmup_epochs:g} ep · {self.epochs} epochs · attention {self.attention}{ckpt} · "
                f"{self.precision}")

    # ------------------------------------------------------------------ the one channel to worker processes
    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        d["recipe"] = None if self.recipe is None else json.loads(self.recipe.to_json())
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> "TrainPlan":
        d = json.loads(text)
        _check_names(d)
        if d.get("recipe") is not None:
            d["recipe"] = Recipe.from_dict(d["recipe"])
        return cls(**d)

    @classmethod
    def from_env(cls) -> "TrainPlan | None":
        """The plan of the run this process belongs to ($WORKBOOK_PLAN), or None outside a workbook run."""
        text = os.environ.get(ENV_VAR)
        return cls.from_json(text) if text else None


AUTO_WORKERS = -1  # a profile's `workers` that the plan sizes from the cores


def auto_workers(device: str = "", nnodes: int = 1, cpus: int | None = None) -> int:
    """Loader workers per training process: the cores of this host shared by its GPU processes, one core left to
    each training process itself (Ultralytics' CPU loader gives about 123 img/s per worker on 640 px mosaics)."""
    ids = [d for d in str(device).split(",") if d.strip()]
    if str(device).strip() == "cpu":
        return 0 if (cpus or os.cpu_count() or 1) <= 2 else min(4, (cpus or os.cpu_count() or 1) - 1)
    per_host = len(ids) if len(ids) > 1 else 1
    return max(1, (cpus or os.cpu_count() or 1) // per_host - 1)


def profile_values(profile: Profile) -> dict[str, Any]:
    """The plan fields a profile sets (the rest keep the plan's defaults)."""
    return {k: getattr(profile, k) for k in PROFILE_FIELDS}


def _recipe_text(r: Recipe | None) -> str:
    if r is None:
        return "Ultralytics' own loop (clip 10, no guard)"
    base = Recipe()
    diff = [f"{f.name}={getattr(r, f.name)}" for f in fields(Recipe) if getattr(r, f.name) != getattr(base, f.name)]
    return "RecipeTrainer: " + (", ".join(diff) if diff else "defaults (clip 10, NaN guard)")


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
            raise PlanError(f"extra argument {k!r} belongs to the plan: set TrainPlan.{OWNED[k]} instead")
        if k not in DEFAULT_CFG_DICT:
            from helpers.tricks.translate import TUTORIAL_KEYS, did_you_mean

            hint = ("a tutorial argument: TrainPlan.translated() maps it" if k in TUTORIAL_KEYS else
                    did_you_mean(k, set(DEFAULT_CFG_DICT)))
            raise PlanError(f"extra argument {k!r} is not an Ultralytics argument ({hint})")
