"""The workbook's Ultralytics trainer: stock DetectionTrainer plus the plan's tricks, in every process of a run.

Ultralytics runs multi-GPU training in worker processes that rebuild the trainer from its class (pickled by
reference), so anything done only in the launching process is lost there. The trainer therefore reads the run's
`TrainPlan` from its one environment variable ($WORKBOOK_PLAN, set by `helpers.train.run.train`), which the workers
inherit, and applies it when it is built: every trick's hooks from `helpers.tricks.registry` (its process-level
patch, its change to the model, its callbacks, its lr factor, its say in each optimizer step, its columns of the
run's per-epoch log `tricks_log.csv`). The input pipeline of augment_device='gpu' runs meets the trainer at one seam
(`helpers.pipeline.feed`); torchrun's ranks are `helpers.train.distributed`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from ultralytics.models.yolo.detect import DetectionTrainer

from helpers.core import csvlog, offline, paths
from helpers.data import label_cache
from helpers.train import distributed
from helpers.train.curves import MAP50_95
from helpers.train.plan import TrainPlan
from helpers.tricks import cpu_ddp, registry
from helpers.tricks.upstream import check_version


def install_tricks(plan: TrainPlan) -> None:
    """Patch this process for the plan, once: every trick's `install` hook (the attention backend and SDPA kernel,
    the checkpointing wrappers ...), skipped where this process has it in place already (helpers.tricks.registry)."""
    registry.install(plan)


@contextlib.contextmanager
def tricks_installed(plan: TrainPlan) -> Iterator[None]:
    """`install_tricks` inside the block; afterwards the classes (and what else the tricks' `state` saw) are as they
    were."""
    with registry.installed(plan):
        yield


WRITTEN_FOR = "8.4"  # the Ultralytics minor whose trainer methods the overrides below copy or rely on
UPSTREAM = {  # sha256 of inspect.getsource of those methods when the overrides were written (tests check them)
    "ultralytics.engine.trainer.BaseTrainer.optimizer_step":  # copied into WorkbookTrainer.optimizer_step
        "bec16cbc552a8f2dcbc5535dde4957f6e56c6d7bbf34abdaf35ba6bf648ea576",
    "ultralytics.engine.trainer.BaseTrainer._setup_scheduler":  # copied into WorkbookTrainer._setup_scheduler
        "2102ad770f8e4e6fc7aa740111c977d8a295d70266f59fe09f8285f40ee0abcd",
    "ultralytics.engine.trainer.BaseTrainer._handle_nan_recovery":  # reads self.loss, which the NaN guard hides
        "e465d82576a3bc806f48bdff06bda0f35901e6a402d0004bd41914950da65687",
}


class WorkbookTrainer(DetectionTrainer):
    """DetectionTrainer that applies the run's plan (from $WORKBOOK_PLAN): the tricks' hooks, validation every k
    epochs, augmentation on the GPU, torchrun's ranks, and the per-epoch log of every run (tricks_log.csv)."""

    optimizer_steps = 0  # optimizer steps taken by this process (steps a trick skipped not counted)
    skipped_steps = 0  # optimizer steps a trick skipped (the NaN guard)
    saves = 0  # checkpoints this process wrote (global rank 0 only under DDP)
    lr_scale = 1.0  # a factor on the schedule a trick may lower (the NaN guard)
    guard = None  # the NaN guard of this run, when it has one (helpers.tricks.guard)
    stop_reason = None  # why a trick stopped the run early (helpers.tricks.convergence)

    def __init__(self, *args, **kwargs):
        """Each callback is added once per event: in a DDP worker Ultralytics hands this trainer the launching
        trainer's callbacks (pickled into its script, ours included), so one already registered is not added again."""
        check_version(WRITTEN_FOR, "helpers.train.trainer")
        offline.prepare_ultralytics()
        label_cache.install()  # Ultralytics' label caches go to the workbook's cache folder, not the user's dataset
        paths.keep_compile_cache()  # compiled kernels kept under the runs folder, reused by the next run
        self.plan = TrainPlan.from_env()
        if self.plan is not None:  # a DDP worker gets the model pickled with its flags, but not the class wrappers
            install_tricks(self.plan)
        super().__init__(*args, **kwargs)
        if distributed.torchrun_worker():  # torchrun's world, not the length of this host's device list
            self.world_size = int(os.environ["WORLD_SIZE"])
        self.step_norms: list = []  # this epoch's pre-clip gradient norms, tensors (helpers.tricks.clip logs them)
        self.epoch_log: list[dict] = []  # the rows of tricks_log.csv (rank 0)
        self.memory_log: list[dict] = []  # empty_cache's measurements (helpers.tricks.empty_cache)
        self.bad_loss, self.stepped_loss = False, None  # the NaN guard's view of the micro-batches' losses
        if self.plan is not None:  # the tricks' Ultralytics callbacks, in every process, between the log's two halves
            hooks = [("on_train_epoch_start", WorkbookTrainer._open_epoch), *registry.callbacks(),
                     ("on_fit_epoch_end", WorkbookTrainer._log_epoch)]
            for event, fn in hooks:
                if fn not in self.callbacks.get(event, ()):  # a DDP worker has them from the pickle already
                    self.add_callback(event, fn)
        if self.plan is not None and distributed.global_rank() in (-1, 0):  # what `--resume RUN_DIR` rebuilds the run from
            self.save_dir.mkdir(parents=True, exist_ok=True)
            (self.save_dir / "plan.json").write_text(self.plan.to_json())

    def get_model(self, cfg=None, weights=None, verbose=True):
        """Ultralytics' model, then each trick's `on_model` hook (checkpointing flags, SyncBatchNorm ...)."""
        model = super().get_model(cfg=cfg, weights=weights, verbose=verbose)
        if self.plan is not None:
            model = registry.on_model(self.plan, model, self)
        return model

    def _setup_ddp(self):
        """Ultralytics' set-up for its own workers; torchrun's ranks: helpers.train.distributed.setup_torchrun."""
        if not distributed.torchrun_worker():
            return super()._setup_ddp()
        distributed.setup_torchrun(self)

    def _setup_train(self):
        if distributed.torchrun_worker() and self.device.type == "cpu":
            with cpu_ddp.ddp_without_device_ids():
                return super()._setup_train()
        return super()._setup_train()

    def optimizer_step(self):
        """BaseTrainer.optimizer_step with the plan's clip (upstream's is fixed at 10), each step's pre-clip norm kept,
        as a tensor, for the clip trick's per-epoch log (helpers.tricks.clip), and the tricks' say in whether the step
        is taken (the NaN guard's skip): a copy, since upstream hides the norm and steps unconditionally (guarded by
        UPSTREAM's hash)."""
        import torch

        from helpers.tricks import clip

        self.scaler.unscale_(self.optimizer)
        limit = clip.max_norm(self.plan) if self.plan is not None else clip.ULTRALYTICS_NORM
        foreach = False if self.device.type == "npu" else None
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm=limit, foreach=foreach)
        self.step_norms.append(norm.detach())
        if self.plan is not None and registry.skip_step(self.plan, self, norm):  # the NaN guard's skip
            return
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad()
        if self.ema:
            self.ema.update(self.model)
        self.optimizer_steps += 1

    def final_eval(self):
        """Ultralytics' final validation of best.pt; under torchrun: helpers.train.distributed.final_eval."""
        if not distributed.torchrun_worker():
            return super().final_eval()
        distributed.final_eval(self)

    validations_skipped = 0  # epochs whose validation plan.val_every skipped

    def validate(self):
        """Ultralytics' validation, or, on an epoch plan.val_every skips, NaN metrics and no fitness (so the epoch
        can neither become best.pt nor count for Ultralytics' early stop). The last epoch is always validated. A method,
        not a hook of the val_every trick (helpers.tricks.val_every): Ultralytics' loop calls it and no callback can
        skip it."""
        k = getattr(self.plan, "val_every", 1) if self.plan is not None else 1
        due = (self.epoch + 1) % k == 0 or self.epoch + 1 >= self.epochs or self.stop or self.stopper.possible_stop
        if k <= 1 or due:
            return super().validate()
        self.validations_skipped += 1
        return {key: float("nan") for key in (self.metrics or {})}, None

    def save_model(self):
        saved = super().save_model()
        self.saves += 1
        return saved

    def resume_training(self, ckpt):
        """Ultralytics' resume, plus: drop the per-epoch logs' rows of epochs the checkpoint does not cover (a run
        killed between writing results.csv and last.pt would otherwise log that epoch twice), and reload the kept rows
        of tricks_log.csv."""
        super().resume_training(ckpt)
        if ckpt is None or not self.resume or distributed.global_rank() > 0:  # rank 0 keeps the logs
            return
        for log in ("results.csv", "grad_norms.csv"):
            csvlog.keep_epochs(self.save_dir / log, self.start_epoch)
        if csvlog.keep_epochs(self.save_dir / "tricks_log.csv", self.start_epoch):  # the history early stop reads
            self.epoch_log = csvlog.read_rows(self.save_dir / "tricks_log.csv")

    def agreed(self, flag: bool) -> bool:
        """`flag` OR-ed over every process of the run: all ranks take the same branch (the NaN guard's skip)."""
        return distributed.agreed(flag, self.device)

    def _setup_scheduler(self):
        """Ultralytics' schedule (linear or cosine from 1 to lrf), or a trick's factor in its place (the warm restart),
        times `lr_scale`, which the NaN guard lowers: a copy of BaseTrainer._setup_scheduler with that factor
        (guarded by UPSTREAM's hash)."""
        from torch import optim

        from helpers.tricks.schedule import Schedule

        lrf, cos = self.args.lrf, bool(self.args.cos_lr)
        base = registry.lr_factor(self.plan, self.epochs, lrf, cos) if self.plan is not None else None
        base = base or Schedule(self.epochs, lrf, cos)  # without a restart: Ultralytics' own linear or cosine factor
        self.lf = lambda x: base(x) * self.lr_scale
        self.scheduler = optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda=self.lf)

    def _handle_nan_recovery(self, epoch):
        """Ultralytics reloads last.pt and redoes the epoch when the epoch's last loss is NaN/Inf; with the NaN guard
        on, that step was already skipped, so only a non-finite validation fitness still triggers the reload.
        Ultralytics' check runs on every rank (it broadcasts rank 0's decision), so it is always called, with the
        skipped loss hidden from it."""
        import torch

        if not (self.guard and self.loss is not None and not bool(torch.isfinite(self.loss).all())):
            return super()._handle_nan_recovery(epoch)
        skipped, self.loss = self.loss, torch.zeros_like(self.loss)
        try:
            return super()._handle_nan_recovery(epoch)
        finally:
            self.loss = skipped

    _epoch_open = False  # an epoch trained and not yet logged (Ultralytics calls on_fit_epoch_end once more at the end)

    @staticmethod
    def _open_epoch(t: "WorkbookTrainer") -> None:
        t._epoch_open = t.plan is not None

    @staticmethod
    def _log_epoch(t: "WorkbookTrainer") -> None:
        """After validation (rank 0): this epoch's row of tricks_log.csv, the lr and the validation figures, then every
        trick's columns (the clip's norms, the gains, the guard's events, early stop's decision), written out."""
        if not t._epoch_open:
            return
        t._epoch_open = False
        if distributed.global_rank() > 0:
            return  # validation metrics, the early-stop decision (broadcast by Ultralytics) and the logs: rank 0
        m = t.metrics or {}
        row = {"epoch": t.epoch + 1, "lr_pg0": t.optimizer.param_groups[0]["lr"],
               "val_loss": sum(float(v) for k, v in m.items() if k.startswith("val/")),
               "mAP50-95": float(m.get(MAP50_95, float("nan")))}
        t.epoch_log.append(registry.epoch_row(t.plan, t, row))
        csvlog.write_rows(t.save_dir / "tricks_log.csv", t.epoch_log)

    # --- the input pipeline (plan.augment_device == "gpu"): helpers.pipeline.feed -------------------------------
    feed = None  # the pipeline.feed.Feed of a run that augments on the GPU

    @property
    def input_pipeline(self) -> str:
        """What feeds the steps, in words (logged, and read by the benchmarks)."""
        return self.feed.pipeline if self.feed is not None else "cpu workers"

    def get_dataloader(self, dataset_path, batch_size=16, rank=0, mode="train"):
        """Ultralytics' loader, except for augment_device='gpu' training: the index loader over the plan's store,
        where the feed finds one (it says in one line when Ultralytics' own loader runs instead); on a GPU,
        validation batches split over the loader's workers (helpers.pipeline.val_loader)."""
        if mode == "train" and self.plan is not None and self.plan.augment_device == "gpu":
            from helpers.pipeline.feed import Feed

            self.feed = self.feed or Feed(self.plan.store, distributed.global_rank(), self.world_size)
            loader = self.feed.loader(self, dataset_path, batch_size, rank)
            if loader is not None:
                if WorkbookTrainer._tell_epoch not in self.callbacks["on_train_epoch_start"]:
                    self.add_callback("on_train_epoch_start", WorkbookTrainer._tell_epoch)
                return loader
        if mode == "val" and self.device.type == "cuda":  # a CPU validates in the training process (Ultralytics')
            from helpers.pipeline import val_loader

            return val_loader.build(self, dataset_path, batch_size, rank)
        return super().get_dataloader(dataset_path, batch_size, rank, mode)

    @staticmethod
    def _tell_epoch(t: "WorkbookTrainer") -> None:
        """The index loader's shuffle follows the trainer's epoch (a resumed run continues the order)."""
        sampler = getattr(t.train_loader, "sampler", None)
        if hasattr(sampler, "told"):
            sampler.set_epoch(t.epoch)

    def _close_dataloader_mosaic(self):
        super()._close_dataloader_mosaic()
        if self.feed is not None:  # the batched augmentation switches mosaic off with Ultralytics' workers
            self.feed.close_mosaic()

    def preprocess_batch(self, batch):
        if "store_idx" not in batch:
            return super().preprocess_batch(batch)
        import torch

        dtype = torch.float32  # what the augmented images are handed over in: the autocast dtype on a GPU
        if self.device.type == "cuda" and bool(self.amp):
            dtype = torch.bfloat16 if self.args.amp == "bf16" else torch.float16
        return self.feed.preprocess(batch, self.device, dtype)
