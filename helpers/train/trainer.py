"""The workbook's Ultralytics trainers: stock DetectionTrainer plus the plan's tricks, in every process of a run.

Ultralytics runs multi-GPU training in worker processes that rebuild the trainer from its class (pickled by
reference), so anything done only in the launching process is lost there. The trainers therefore read the run's
`TrainPlan` from its one environment variable ($WORKBOOK_PLAN, set by `helpers.train.run.train`), which the workers
inherit, and apply it when they are built: the attention backend, activation checkpointing, and (RecipeTrainer) the
stability recipe.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ultralytics.models.yolo.detect import DetectionTrainer

from helpers.core import offline
from helpers.train.curves import MAP50_95
from helpers.train.plan import TrainPlan
from helpers.tricks import attention, checkpointing
from helpers.tricks.recipe import Recipe


def torch_generator(device, seed: int):
    """A random generator on the training device, seeded from the run's seed (and the rank under DDP)."""
    import torch

    return torch.Generator(device=device).manual_seed(int(seed))


def global_rank() -> int:
    """This process's rank among all training processes (-1 outside DDP), from torch's launcher environment."""
    import os

    return int(os.environ.get("RANK", -1))


def install_tricks(plan: TrainPlan) -> None:
    """Patch this process for the plan: the attention backend and the checkpointing wrappers (class level)."""
    attention.patch(plan.attention)
    if plan.checkpoint:
        checkpointing.install(plan.checkpoint)


@contextlib.contextmanager
def tricks_installed(plan: TrainPlan) -> Iterator[None]:
    """`install_tricks` inside the block; afterwards the classes are as they were."""
    from ultralytics.nn.modules.block import AAttn

    before = AAttn.forward
    try:
        install_tricks(plan)
        yield
    finally:
        AAttn.forward = before
        checkpointing.uninstall()


class WorkbookTrainer(DetectionTrainer):
    """DetectionTrainer that applies the run's plan (from $WORKBOOK_PLAN): attention backend and checkpointing."""

    def __init__(self, *args, **kwargs):
        offline.prepare_ultralytics()
        self.plan = TrainPlan.from_env()
        if self.plan is not None:  # a DDP worker gets the model pickled with its flags, but not the class wrappers
            install_tricks(self.plan)
        super().__init__(*args, **kwargs)

    def get_model(self, cfg=None, weights=None, verbose=True):
        model = super().get_model(cfg=cfg, weights=weights, verbose=verbose)
        if self.plan is not None and self.plan.checkpoint:
            checkpointing.enable(model, self.plan.checkpoint)
        return model

    # --- augmentation on the GPU (plan.augment_device == "gpu") ----------------------------------------------------
    gpu_augment = None

    def build_dataset(self, img_path, mode="train", batch=None):
        dataset = super().build_dataset(img_path, mode, batch)
        if mode == "train" and self.plan is not None and self.plan.augment_device == "gpu":
            from ultralytics.utils import LOGGER

            from helpers.tricks import gpu_augment

            why = gpu_augment.unsupported(self.args)
            if why:
                LOGGER.warning(f"augment_device='gpu' falls back to Ultralytics' CPU pipeline: {why}")
            else:
                self.gpu_augment = gpu_augment.GpuAugment.from_args(self.args)
                self._aug_gen = torch_generator(self.device, self.args.seed + max(global_rank(), 0))
                gpu_augment.adopt(dataset)
        return dataset

    def _close_dataloader_mosaic(self):
        super()._close_dataloader_mosaic()
        if self.gpu_augment is not None:  # the workers no longer augment: mosaic is switched off here
            import dataclasses

            self.gpu_augment = dataclasses.replace(self.gpu_augment, mosaic=0.0)

    def preprocess_batch(self, batch):
        if self.gpu_augment is None:
            return super().preprocess_batch(batch)
        for k, v in batch.items():
            if hasattr(v, "to"):
                batch[k] = v.to(self.device, non_blocking=True)
        return self.gpu_augment(batch, self._aug_gen)


class RecipeTrainer(WorkbookTrainer):
    """WorkbookTrainer plus the stability tricks of the plan's `helpers.tricks.recipe.Recipe`:
    warm-restart schedule, configurable clip norm with grad-norm logging, NaN/Inf guard, staged loss gains, early
    stop with a reason, periodic empty_cache, atomic checkpoint writes. Logs go to `tricks_log.csv` and
    `guard_events.csv` in the run folder."""

    def __init__(self, *args, **kwargs):
        from helpers.tricks import checkpoint_io, guard

        super().__init__(*args, **kwargs)
        self.recipe = (self.plan.recipe if self.plan is not None else None) or Recipe()
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
            _write_csv(t.save_dir / "empty_cache.csv", t.memory_log)

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
