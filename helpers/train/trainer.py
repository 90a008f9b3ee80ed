"""The workbook's Ultralytics trainer: stock DetectionTrainer plus the speed/memory tricks, reaching DDP workers too.

Ultralytics runs multi-GPU training in worker processes that rebuild the trainer from its class (pickled by
reference), so anything done only in the notebook's process is lost there. The tricks are therefore read from
environment variables, which the workers inherit, when the trainer is built:
WORKBOOK_ATTENTION (see tricks.attention) and WORKBOOK_CHECKPOINT ('attention' | 'blocks' | 'all').
"""

from __future__ import annotations

import contextlib
import logging
import os
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from ultralytics.models.yolo.detect import DetectionTrainer

from helpers.core import offline
from helpers.train.curves import MAP50_95
from helpers.tricks import attention, checkpointing

CHECKPOINT_VAR = "WORKBOOK_CHECKPOINT"


def set_options(attention_backend: str | None = None, checkpoint: str | None = None) -> dict[str, str]:
    """Choose the tricks for the next training (this process and the DDP workers it starts); returns the env it set."""
    env = {}
    if attention_backend:
        env[attention.ENV_VAR] = attention.patch(attention_backend)
    else:
        attention.unpatch()
    if checkpoint:
        if checkpoint not in checkpointing.LAYER_SETS:
            raise ValueError(f"checkpoint={checkpoint!r}: choose one of {sorted(checkpointing.LAYER_SETS)}")
        os.environ[CHECKPOINT_VAR] = env[CHECKPOINT_VAR] = checkpoint
    else:
        os.environ.pop(CHECKPOINT_VAR, None)
    return env


@contextlib.contextmanager
def quiet(level: int = logging.WARNING) -> Iterator[None]:
    """Silence Ultralytics' INFO log and its progress bars inside the block (warnings and errors still show)."""
    from ultralytics.utils import LOGGER

    before = LOGGER.level
    LOGGER.setLevel(level)
    try:
        yield
    finally:
        LOGGER.setLevel(before)


class WorkbookTrainer(DetectionTrainer):
    """DetectionTrainer that applies the attention backend and activation checkpointing chosen by `set_options`."""

    def __init__(self, *args, **kwargs):
        offline.prepare_ultralytics()
        attention.patch_from_env()
        layers = os.environ.get(CHECKPOINT_VAR)
        if layers:  # a DDP worker gets the model pickled with its flags, but not the class-level wrappers
            checkpointing.install(layers)
        super().__init__(*args, **kwargs)

    def get_model(self, cfg=None, weights=None, verbose=True):
        model = super().get_model(cfg=cfg, weights=weights, verbose=verbose)
        layers = os.environ.get(CHECKPOINT_VAR)
        if layers:
            checkpointing.enable(model, layers)
        return model


@dataclass
class StepTimer:
    """Callbacks that split each training batch into data wait (loader) and compute, for images/s and stall %.

    Attach with `timer.attach(model)` before `model.train(...)`. Times come from the host clock around Ultralytics'
    batch callbacks; the batch-end callback synchronises CUDA, so "compute" includes the GPU work of the step.
    """

    skip: int = 3  # batches ignored at the start of each epoch (warm-up, cudnn autotune, worker start)
    batch_size: int = 0
    compute_s: list[float] = field(default_factory=list)
    wait_s: list[float] = field(default_factory=list)
    epochs: list[tuple[float, float]] = field(default_factory=list)  # (first batch start, last batch end) per epoch
    _start: float | None = None
    _end: float | None = None
    _i: int = 0
    _epoch_start: float | None = None

    def on_train_epoch_start(self, trainer) -> None:
        self._end, self._i, self._epoch_start = None, 0, None

    def on_train_batch_start(self, trainer) -> None:
        now = time.perf_counter()
        if self._epoch_start is None:
            self._epoch_start = now
        if self._end is not None and self._i > self.skip:
            self.wait_s.append(now - self._end)
        self._start = now

    def on_train_batch_end(self, trainer) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self._end = time.perf_counter()
        self._i += 1
        self.batch_size = trainer.batch_size
        if self._i > self.skip:
            self.compute_s.append(self._end - self._start)

    def on_train_epoch_end(self, trainer) -> None:
        if self._epoch_start is not None and self._end is not None:
            self.epochs.append((self._epoch_start, self._end))

    def attach(self, model) -> "StepTimer":
        for name in ("on_train_epoch_start", "on_train_batch_start", "on_train_batch_end", "on_train_epoch_end"):
            model.add_callback(name, getattr(self, name))
        return self

    def summary(self) -> dict[str, float]:
        """Median compute and wait per batch, images/s with and without the loader, and the loader's stall share."""
        if not self.compute_s:
            return {}
        c = statistics.median(self.compute_s)
        w = statistics.median(self.wait_s) if self.wait_s else 0.0
        return {"compute_s": c, "wait_s": w, "img_s": self.batch_size / (c + w), "img_s_no_wait": self.batch_size / c,
                "stall_pct": 100 * w / (c + w), "batches": len(self.compute_s)}


@dataclass
class EpochProgress:
    """One progress bar over epochs (with loss and mAP) in place of Ultralytics' per-batch bars, which `quiet()`
    hides. Attach with `EpochProgress().attach(model)`."""

    bar: object = None
    _epoch_open: bool = False

    def on_train_start(self, trainer) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=trainer.epochs, initial=trainer.start_epoch, desc="epochs", unit="epoch")

    def on_train_epoch_start(self, trainer) -> None:
        self._epoch_open = True

    def on_fit_epoch_end(self, trainer) -> None:
        # Ultralytics calls on_fit_epoch_end once more after validating best.pt, also after an early stop; only the
        # call that closes a trained epoch counts (RecipeTrainer logs the same way).
        if self.bar is None or not self._epoch_open:
            return
        self._epoch_open = False
        m = trainer.metrics or {}
        loss = trainer.tloss
        if isinstance(loss, dict):  # 8.4: a dict of loss components
            loss = sum(float(v) for v in loss.values())
        self.bar.set_postfix({"loss": f"{float(loss):.3f}" if loss is not None else "-",
                              "mAP50-95": f"{m.get(MAP50_95, 0.0):.3f}"})
        self.bar.update(1)

    def on_train_end(self, trainer) -> None:
        if self.bar is not None:
            self.bar.close()

    def attach(self, model) -> "EpochProgress":
        for name in ("on_train_start", "on_train_epoch_start", "on_fit_epoch_end", "on_train_end"):
            model.add_callback(name, getattr(self, name))
        return self


class RecipeTrainer(WorkbookTrainer):
    """WorkbookTrainer plus the stability tricks of `helpers.tricks.recipe.Recipe` (read from $WORKBOOK_RECIPE):
    warm-restart schedule, configurable clip norm with grad-norm logging, NaN/Inf guard, staged loss gains, early
    stop with a reason, periodic empty_cache, atomic checkpoint writes. Logs go to `tricks_log.csv` and
    `guard_events.csv` in the run folder."""

    def __init__(self, *args, **kwargs):
        from helpers.tricks import checkpoint_io, guard
        from helpers.tricks.recipe import Recipe

        self.recipe = Recipe.from_env()
        super().__init__(*args, **kwargs)
        self.guard = guard.NaNGuard(self.recipe.guard_max_bad, self.recipe.guard_lr_drop) if self.recipe.nan_guard else None
        self.step_norms: list[float] = []  # this epoch's pre-clip gradient norms
        self.epoch_norms: list[float] = []  # median per epoch
        self.epoch_log: list[dict] = []
        self.stop_reason: str | None = None
        self.gains: tuple[float, float, float] | None = None
        self.memory_log: list[dict] = []
        self._bad_loss = False
        self._epoch_open = False
        self._stepped_loss = None
        self._base_gains = {"box": self.args.box, "cls": self.args.cls, "dfl": self.args.dfl}
        if self.recipe.atomic_save:
            self.wdir = checkpoint_io.AtomicPath(self.wdir)
            self.last, self.best = self.wdir / "last.pt", self.wdir / "best.pt"
        self.add_callback("on_train_epoch_start", RecipeTrainer._epoch_start)
        self.add_callback("on_train_batch_end", RecipeTrainer._batch_end)
        self.add_callback("on_train_epoch_end", RecipeTrainer._epoch_end)
        self.add_callback("on_fit_epoch_end", RecipeTrainer._fit_epoch_end)

    # --- schedule -------------------------------------------------------------------------------------------------
    def _setup_scheduler(self):
        from torch import optim

        sched = self.recipe.schedule(self.epochs, self.args.lrf, bool(self.args.cos_lr))
        self.schedule = sched
        self.lf = lambda e: sched(e) * (self.guard.lr_scale if self.guard else 1.0)
        self.scheduler = optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda=self.lf)

    # --- step: clip, log, guard -----------------------------------------------------------------------------------
    def optimizer_step(self):
        import math

        import torch

        self.scaler.unscale_(self.optimizer)
        max_norm = self.recipe.clip_norm if self.recipe.clip_norm is not None else float("inf")
        norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm=max_norm))
        self.step_norms.append(norm)
        loss_ok = not self._bad_loss and (self.loss is None or bool(torch.isfinite(self.loss).all()))
        self._bad_loss = False
        self._stepped_loss = self.loss  # this micro-batch is accounted for: on_train_batch_end must not re-flag it
        scaler_on = self.scaler.is_enabled()
        if self.guard and self.guard.is_bad(loss_ok, norm, scaler_on):
            self.optimizer.zero_grad()
            if scaler_on:
                self.scaler.update()  # the unscale_ recorded the infs: the scaler lowers its scale too
            self.guard.bad(self.model, self.optimizer, {"epoch": self.epoch + 1, "loss_finite": loss_ok,
                                                        "grad_norm": norm if math.isfinite(norm) else str(norm)})
            return
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad()
        if self.ema:
            self.ema.update(self.model)
        if self.guard:
            self.guard.good(self.model, self.optimizer)

    def resume_training(self, ckpt):
        """Ultralytics' resume, plus: drop log rows of epochs the checkpoint does not cover (a run killed between
        writing results.csv and last.pt would otherwise log that epoch twice) and reload the tricks log."""
        super().resume_training(ckpt)
        if ckpt is None or not self.resume:
            return
        for name in ("results.csv", "tricks_log.csv"):
            path = self.save_dir / name
            if not path.exists():
                continue
            lines = path.read_text().splitlines()
            kept = [lines[0]] + [ln for ln in lines[1:] if ln and float(ln.split(",")[0]) <= self.start_epoch]
            path.write_text("\n".join(kept) + "\n")
            if name == "tricks_log.csv":
                import csv

                self.epoch_log = [dict(r) for r in csv.DictReader(kept)]  # the rows just kept, not re-read
                for r in self.epoch_log:
                    r["epoch"] = int(r["epoch"])
                    for k in ("val_loss", "mAP50-95", "grad_norm_median"):
                        r[k] = float(r[k])
                self.epoch_norms = [r["grad_norm_median"] for r in self.epoch_log]

    def _handle_nan_recovery(self, epoch):
        """Ultralytics reloads last.pt and redoes the epoch when the epoch's last loss is NaN/Inf; with the guard on,
        that step was already skipped, so only a non-finite validation fitness still triggers the reload."""
        import math

        import torch

        if self.guard and self.loss is not None and not bool(torch.isfinite(self.loss).all()) and (
                self.fitness is None or math.isfinite(self.fitness)):
            return False
        return super()._handle_nan_recovery(epoch)

    # --- callbacks (called with the trainer) -----------------------------------------------------------------------
    @staticmethod
    def _epoch_start(t: "RecipeTrainer") -> None:
        from helpers.tricks import loss_stages

        t.step_norms = []
        t._epoch_open = True
        stages = t.recipe.stages()
        if stages:
            t.gains = loss_stages.apply(t, stages, t._base_gains, t.epoch + 1)

    @staticmethod
    def _batch_end(t: "RecipeTrainer") -> None:
        import torch

        if t.loss is not None and t.loss is not t._stepped_loss and not bool(torch.isfinite(t.loss).all()):
            t._bad_loss = True  # a micro-batch of a step still accumulating

    @staticmethod
    def _epoch_end(t: "RecipeTrainer") -> None:
        import torch

        k = t.recipe.empty_cache_every
        if k and (t.epoch + 1) % k == 0 and torch.cuda.is_available():
            before = (torch.cuda.memory_allocated(), torch.cuda.memory_reserved())
            torch.cuda.empty_cache()
            after = (torch.cuda.memory_allocated(), torch.cuda.memory_reserved())
            t.memory_log.append({"epoch": t.epoch + 1, "allocated_gib": before[0] / 2**30,
                                 "reserved_before_gib": before[1] / 2**30, "reserved_after_gib": after[1] / 2**30,
                                 "allocated_after_gib": after[0] / 2**30})

    @staticmethod
    def _fit_epoch_end(t: "RecipeTrainer") -> None:
        import math
        import statistics

        from helpers.tricks import convergence

        if not t._epoch_open:
            return  # Ultralytics calls on_fit_epoch_end once more after validating best.pt
        t._epoch_open = False
        finite = [n for n in t.step_norms if math.isfinite(n)]
        med = statistics.median(finite) if finite else float("nan")
        t.epoch_norms.append(med)
        m = t.metrics or {}
        row = {"epoch": t.epoch + 1, "lr_pg0": t.optimizer.param_groups[0]["lr"], "grad_norm_median": med,
               "grad_norm_max": max(finite) if finite else float("nan"), "steps": len(t.step_norms),
               "clipped_steps": sum(n > (t.recipe.clip_norm or float("inf")) for n in finite),
               "lr_scale": t.guard.lr_scale if t.guard else 1.0,
               "guard_events": len(t.guard.events) if t.guard else 0,
               "box": t.args.box, "cls": t.args.cls, "dfl": t.args.dfl,
               "val_loss": sum(float(v) for k, v in m.items() if k.startswith("val/")),
               "mAP50-95": float(m.get(MAP50_95, float("nan")))}
        t.epoch_log.append(row)
        if t.recipe.early_stop and t.stop_reason is None:
            reason = convergence.diagnose([r["val_loss"] for r in t.epoch_log], [r["mAP50-95"] for r in t.epoch_log],
                                          t.epoch_norms, t.recipe.early_stop)
            if reason:
                t.stop_reason = reason
                t.stop = True
                from ultralytics.utils import LOGGER

                LOGGER.warning(f"early stop after epoch {t.epoch + 1}: {reason}")
        row["stop_reason"] = t.stop_reason or ""
        _write_csv(t.save_dir / "tricks_log.csv", t.epoch_log)
        if t.guard and t.guard.events:
            _write_csv(t.save_dir / "guard_events.csv", t.guard.events)


def _write_csv(path, rows: list[dict]) -> None:
    import csv

    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
