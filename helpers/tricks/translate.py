"""Translate a tutorial's training arguments into real Ultralytics arguments plus the workbook's recipe and tricks.

Popular YOLOv12 tutorials pass arguments Ultralytics does not have; it rejects them with an error. Here each key
becomes a real argument, a recipe field (a callback or trainer override), a trick of the run's plan, or a stated
reason why it cannot be done. A key the user gave as a real Ultralytics argument is never overridden by a tutorial
key that maps onto it (the result does not depend on the order of the keys). Unknown keys are listed with the
closest real name, never dropped; the spellings of YOLOv9's `train_dual.py` (`batch-size`, `img`, `close-mosaic`)
are recognised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from helpers.core import names

# train_dual.py / YOLOv5-style command-line spellings -> the Ultralytics argument (or why there is none)
TRAIN_DUAL = {
    "batch-size": "batch", "batch_size": "batch", "img": "imgsz", "img-size": "imgsz", "img_size": "imgsz",
    "close-mosaic": "close_mosaic", "cos-lr": "cos_lr", "label-smoothing": "(no label smoothing in Ultralytics 8.4)",
    "save-period": "save_period", "exist-ok": "exist_ok", "single-cls": "single_cls", "multi-scale": "multi_scale",
    "weights": "model (a .pt path)", "cfg": "model (a model .yaml)", "hyp": "the hyper-parameters as arguments",
    "noval": "val=False", "nosave": "save=False", "noplots": "plots=False", "image-weights": "(not in Ultralytics)",
    "sync-bn": "TrainPlan.sync_bn (no SyncBatchNorm switch in Ultralytics)", "local_rank": "(set by the DDP launcher)",
    "local-rank": "(set by the DDP launcher)", "min-items": "(not in Ultralytics)", "evolve": "model.tune(...)",
}
TUTORIAL_KEYS = ("accumulate", "grad_clip_norm", "mosaic_prob", "amp_dtype", "fp16_skip_layers",
                 "gradient_checkpointing", "restart_epoch", "restart_lr_fraction", "restart_factor", "lr_decay",
                 "decay_per_epoch", "loss_weights_schedule", "empty_cache_every", "empty_cache_interval",
                 "flash_attention", "sync_bn")


class TranslateError(ValueError):
    """A tutorial argument whose value cannot be translated; the message names the key."""


def _number(key: str, value: Any, kind: type = float) -> Any:
    """`value` as `kind`, or an error naming the key (a bare ValueError from float('x') names nothing)."""
    try:
        if isinstance(value, bool):
            raise ValueError
        out = kind(value)
        if kind is int and float(value) != out:
            raise ValueError
        return out
    except (TypeError, ValueError):
        raise TranslateError(f"{key}={value!r}: must be {'an integer' if kind is int else 'a number'}") from None


@dataclass
class Translation:
    args: dict[str, Any] = field(default_factory=dict)  # real Ultralytics arguments
    tricks: dict[str, Any] = field(default_factory=dict)  # the tricks' plan fields (clip, restart, checkpoint ...)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (key, what was done and why)
    unsupported: list[tuple[str, str]] = field(default_factory=list)  # (key, why not)
    unknown: list[tuple[str, str]] = field(default_factory=list)  # (key, did-you-mean hint)

    def table(self):
        from helpers.core.tables import Table

        rows = [(k, "mapped", why) for k, why in self.notes]
        rows += [(k, "cannot", why) for k, why in self.unsupported]
        rows += [(k, "unknown", hint) for k, hint in self.unknown]
        return Table(("tutorial key", "result", "how / why"), rows, "Translation")


def _ultralytics_keys() -> set[str]:
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return set(DEFAULT_CFG_DICT)


def did_you_mean(key: str, real: set[str] | None = None) -> str:
    """A hint for a key that is neither an Ultralytics argument nor a known tutorial one."""
    real = real if real is not None else _ultralytics_keys()
    if key in TRAIN_DUAL:
        return f"did you mean {TRAIN_DUAL[key]}? ('{key}' is a train_dual.py spelling)"
    near = names.nearest(key.replace("-", "_"), sorted(real | set(TUTORIAL_KEYS)), cutoff=0.6)
    return f"did you mean {near!r}?" if near else "not an Ultralytics argument nor a known tutorial argument"


def translate(tutorial: dict[str, Any]) -> Translation:
    """Real arguments first, as given; then each tutorial key, which never overrides a real argument the user set."""
    t = Translation()
    real = _ultralytics_keys()
    for key, value in tutorial.items():
        if key in real:
            t.args[key] = value
    given = set(t.args)

    def put(arg: str, value: Any, key: str, how: str) -> None:
        if arg in given:
            t.notes.append((key, f"ignored: you also set {arg}={tutorial[arg]!r}, which wins (it would have been "
                                 f"{arg}={value!r})"))
        else:
            t.args[arg] = value
            t.notes.append((key, how))

    batch = _number("batch", tutorial.get("batch", 16))  # -1 or a fraction of memory: AutoBatch
    for key, value in tutorial.items():
        if key in real:
            continue
        if key == "accumulate":
            n = _number(key, value, int)
            if n < 1:
                raise TranslateError(f"accumulate={value!r}: must be >= 1")
            if batch < 1:  # AutoBatch (batch=-1, or a fraction of memory) picks the micro-batch at run time
                raise TranslateError(
                    f"accumulate={n} with batch={tutorial.get('batch')!r}: AutoBatch chooses the micro-batch when the "
                    "run starts, so batch x accumulate is unknown here. Give the images per optimizer step instead: "
                    f"nbs (e.g. nbs={64 * n}); the workbook's memory planner (planner.fit_memory) then picks the "
                    "micro-batch and Ultralytics accumulates round(nbs / batch)")
            batch = int(batch)
            put("nbs", batch * n, key, f"nbs={batch * n}: Ultralytics accumulates max(round(nbs / batch), 1) = {n} "
                                       "micro-batches (and scales weight decay by batch*accumulate/nbs)")
        elif key == "grad_clip_norm":
            t.tricks["clip_norm"] = _number(key, value)
            t.notes.append((key, f"plan.replace(clip_norm={value}): the workbook's optimizer step clips at this norm "
                                 "(Ultralytics hard-codes 10.0) and logs every step's norm"))
        elif key == "mosaic_prob":
            put("mosaic", _number(key, value), key, f"mosaic={value}: Ultralytics' mosaic argument already is the "
                                                     "probability")
        elif key == "amp_dtype":
            v = str(value).lower().replace("torch.", "")
            amp_on = "amp" in given and tutorial["amp"] in (True, 1, "true", "True", "fp16")
            if v in ("bfloat16", "bf16") and amp_on:  # amp switches autocast on, amp_dtype says which: not a conflict
                t.args["amp"] = "bf16"
                t.notes.append((key, f"amp='bf16': amp={tutorial['amp']!r} turns mixed precision on and "
                                     "amp_dtype=bfloat16 chooses bf16 (refused on GPUs below compute capability 8.0)"))
            elif v in ("bfloat16", "bf16"):
                put("amp", "bf16", key, "amp='bf16' (Ultralytics 8.4 native; the plan refuses it on GPUs below "
                                        "compute capability 8.0, which have no bf16 tensor cores)")
            elif v in ("float16", "fp16", "half"):
                put("amp", True, key, "amp=True: fp16 autocast with a GradScaler is Ultralytics' default")
            elif v in ("float32", "fp32", "none"):
                put("amp", False, key, "amp=False: full fp32")
            else:
                t.unsupported.append((key, f"unknown dtype {value!r}: use bfloat16, float16 or float32"))
        elif key == "fp16_skip_layers":
            t.unsupported.append((key, "no per-layer precision control in Ultralytics' autocast; the loss (incl. DFL) "
                                       "is already computed in fp32 there. Use amp='bf16' on GPUs with bf16 tensor "
                                       "cores, or amp=False, for overflow-prone runs"))
        elif key == "gradient_checkpointing":
            if value:
                layers = value if isinstance(value, str) else "all"
                t.tricks["checkpoint"] = layers
                t.notes.append((key, f"plan.replace(checkpoint={layers!r}): torch.utils.checkpoint per top-level "
                                     "layer, applied by the workbook's trainer"))
            else:
                t.notes.append((key, "off: nothing to do"))
        elif key == "restart_epoch":
            t.tricks["restart_epoch"] = _number(key, value, int)
            t.notes.append((key, f"plan.replace(restart_epoch={value}): the schedule resets lr to "
                                 "restart_fraction x lr0 at that epoch and decays after it"))
        elif key in ("restart_lr_fraction", "restart_factor"):
            t.tricks["restart_fraction"] = _number(key, value)
            t.notes.append((key, f"plan.replace(restart_fraction={value})"))
        elif key in ("lr_decay", "decay_per_epoch"):
            t.tricks["restart_decay"] = _number(key, value)
            t.notes.append((key, f"plan.replace(restart_decay={value}) after the restart"))
        elif key == "loss_weights_schedule":
            from helpers.tricks.loss_stages import spec

            t.tricks["loss_stages"] = spec(value)
            t.notes.append((key, f"plan.replace(loss_stages={spec(value)!r}): gains set at each stage's first epoch by "
                                 "a callback"))
        elif key in ("empty_cache_every", "empty_cache_interval"):
            t.tricks["empty_cache_every"] = _number(key, value, int)
            t.notes.append((key, f"plan.replace(empty_cache_every={value}): a callback calls torch.cuda.empty_cache() "
                                 "every that many epochs"))
        elif key == "flash_attention":
            t.tricks["attention"] = "flash" if value else "stock"
            t.notes.append((key, "plan.replace(attention='flash'|'stock'): class-level AAttn patch ('auto' falls "
                                 "back to SDPA when flash-attn is missing)"))
        elif key == "sync_bn":
            t.tricks["sync_bn"] = bool(value)
            t.notes.append((key, "plan.replace(sync_bn=True): Ultralytics 8.4 has no switch; the workbook's trainer "
                                 "converts the model's BatchNorm with torch's SyncBatchNorm in every GPU worker"))
        else:
            t.unknown.append((key, did_you_mean(key, real)))
    return t
