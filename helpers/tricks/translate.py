"""Translate a tutorial's training arguments into real Ultralytics arguments plus the workbook's recipe.

Popular YOLOv12 tutorials pass arguments Ultralytics does not have; it rejects them with an error. Here each key
becomes a real argument, a recipe field (a callback or trainer override), or a stated reason why it cannot be done.
Unknown keys are listed, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Translation:
    args: dict[str, Any] = field(default_factory=dict)  # pass to model.train(...)
    recipe: dict[str, Any] = field(default_factory=dict)  # fields of helpers.tricks.recipe.Recipe
    tricks: dict[str, Any] = field(default_factory=dict)  # set_options(attention, checkpoint) choices
    notes: list[tuple[str, str]] = field(default_factory=list)  # (key, what was done and why)
    unsupported: list[tuple[str, str]] = field(default_factory=list)  # (key, why not)
    unknown: list[str] = field(default_factory=list)

    def table(self):
        from helpers.core.tables import Table

        rows = [(k, "mapped", why) for k, why in self.notes]
        rows += [(k, "cannot", why) for k, why in self.unsupported]
        rows += [(k, "unknown", "not an Ultralytics argument and not a known tutorial argument: check the spelling")
                 for k in self.unknown]
        return Table(("tutorial key", "result", "how / why"), rows, "Translation")


def _ultralytics_keys() -> set[str]:
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return set(DEFAULT_CFG_DICT)


def translate(tutorial: dict[str, Any]) -> Translation:
    t = Translation()
    real = _ultralytics_keys()
    batch = tutorial.get("batch", 16)
    for key, value in tutorial.items():
        if key == "accumulate":
            n = int(value)
            t.args["nbs"] = int(batch) * n
            t.notes.append((key, f"nbs={int(batch) * n}: Ultralytics accumulates max(round(nbs / batch), 1) = {n} "
                                 "micro-batches (and scales weight decay by batch*accumulate/nbs)"))
        elif key == "grad_clip_norm":
            t.recipe["clip_norm"] = float(value)
            t.notes.append((key, f"Recipe(clip_norm={value}): RecipeTrainer.optimizer_step clips at this norm "
                                 "(Ultralytics hard-codes 10.0) and logs the norm"))
        elif key == "mosaic_prob":
            t.args["mosaic"] = float(value)
            t.notes.append((key, f"mosaic={value}: Ultralytics' mosaic argument already is the probability"))
        elif key == "amp_dtype":
            v = str(value).lower().replace("torch.", "")
            if v in ("bfloat16", "bf16"):
                t.args["amp"] = "bf16"
                t.notes.append((key, "amp='bf16' (Ultralytics 8.4 native; refused by helpers.tricks.precision on GPUs "
                                     "below compute capability 8.0, which have no bf16 tensor cores)"))
            elif v in ("float16", "fp16", "half"):
                t.args["amp"] = True
                t.notes.append((key, "amp=True: fp16 autocast with a GradScaler is Ultralytics' default"))
            elif v in ("float32", "fp32", "none"):
                t.args["amp"] = False
                t.notes.append((key, "amp=False: full fp32"))
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
                t.notes.append((key, f"trainer.set_options(checkpoint={layers!r}) + trainer=WorkbookTrainer: "
                                     "torch.utils.checkpoint per top-level layer"))
            else:
                t.notes.append((key, "off: nothing to do"))
        elif key == "restart_epoch":
            t.recipe["restart_epoch"] = int(value)
            t.notes.append((key, f"Recipe(restart_epoch={value}): RecipeTrainer's schedule resets lr to "
                                 "restart_fraction x lr0 at that epoch and decays after it"))
        elif key in ("restart_lr_fraction", "restart_factor"):
            t.recipe["restart_fraction"] = float(value)
            t.notes.append((key, f"Recipe(restart_fraction={value})"))
        elif key in ("lr_decay", "decay_per_epoch"):
            t.recipe["restart_decay"] = float(value)
            t.notes.append((key, f"Recipe(restart_decay={value}) after the restart"))
        elif key == "loss_weights_schedule":
            t.recipe["loss_stages"] = tuple(tuple(s) for s in value)
            t.notes.append((key, "Recipe(loss_stages=...): gains set at each stage's first epoch by a callback"))
        elif key in ("empty_cache_every", "empty_cache_interval"):
            t.recipe["empty_cache_every"] = int(value)
            t.notes.append((key, f"Recipe(empty_cache_every={value}) epochs: a callback calls torch.cuda.empty_cache()"))
        elif key == "flash_attention":
            t.tricks["attention"] = "flash" if value else "stock"
            t.notes.append((key, "trainer.set_options(attention='flash'|'stock'): class-level AAttn patch "
                                 "('auto' falls back to SDPA when flash-attn is missing)"))
        elif key == "sync_bn":
            t.unsupported.append((key, "Ultralytics 8.4 has no SyncBatchNorm switch; each GPU keeps its own BatchNorm "
                                       "statistics over its share of the batch"))
        elif key in real:
            t.args[key] = value
        else:
            t.unknown.append(key)
    return t
