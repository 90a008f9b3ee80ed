"""The workbook's Ultralytics trainers: stock DetectionTrainer plus the plan's tricks, in every process of a run.

Ultralytics runs multi-GPU training in worker processes that rebuild the trainer from its class (pickled by
reference), so anything done only in the launching process is lost there. The trainers therefore read the run's
`TrainPlan` from its one environment variable ($WORKBOOK_PLAN, set by `helpers.train.run.train`), which the workers
inherit, and apply it when they are built: every trick's hooks from `helpers.tricks.registry` (its process-level
patch, its change to the model, its callbacks, its lr factor, its say in each optimizer step, its columns of the
run's per-epoch log `tricks_log.csv`). The stability recipe's pieces are such tricks, each with its own options.

Processes started by torchrun for several hosts (`helpers.train.worker`, $WORKBOOK_WORKER=torchrun) are not
Ultralytics' own workers: there the trainer takes the world size from torchrun's environment, not from the device
list, picks the GPU from the local rank (gloo on the CPU when there is none), and leaves checkpoints, logs and
validation summaries to global rank 0, as Ultralytics does.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from ultralytics.models.yolo.detect import DetectionTrainer

from helpers.core import csvlog, offline
from helpers.data import label_cache
from helpers.train.curves import MAP50_95
from helpers.train.plan import TrainPlan
from helpers.tricks import cpu_ddp, registry
from helpers.tricks.upstream import check_version


def torch_generator(device, seed: int):
    """A random generator on the training device, seeded from the run's seed (and the rank under DDP)."""
    import torch

    return torch.Generator(device=device).manual_seed(int(seed))


def global_rank() -> int:
    """This process's rank among all training processes (-1 outside DDP), from torch's launcher environment."""
    return int(os.environ.get("RANK", -1))


WORKER_ENV = "WORKBOOK_WORKER"  # 'torchrun' in the processes helpers.train.worker runs


def restart_count() -> int:
    """How often torchrun has restarted this host's processes (0 on the first attempt)."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0))


def torchrun_worker() -> bool:
    """True in a process of a torchrun launch of several processes (helpers.train.worker)."""
    return os.environ.get(WORKER_ENV) == "torchrun" and int(os.environ.get("WORLD_SIZE", 1)) > 1


def distributed() -> bool:
    """True while this process belongs to an initialised process group of more than one process."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def agreed(flag: bool, device) -> bool:
    """`flag` OR-ed over every process of the run (one small all-reduce), so that all ranks take the same branch;
    the flag itself outside distributed training."""
    if not distributed():
        return flag
    import torch
    import torch.distributed as dist

    on = device if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([int(flag)], device=on)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


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
    "ultralytics.engine.trainer.BaseTrainer.final_eval":  # copied into WorkbookTrainer.final_eval (torchrun)
        "398e74e935f3478962a7c7258e2be9ec6ce0dea676d5b1540ab971e5fb7f7d7c",
    "ultralytics.engine.trainer.BaseTrainer._setup_ddp":  # replaced for torchrun's ranks
        "90798e18affb9e90b321be0d8cd6203f6a940bab3b0d6bebe1402e84cd053d4f",
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
        self.plan = TrainPlan.from_env()
        if self.plan is not None:  # a DDP worker gets the model pickled with its flags, but not the class wrappers
            install_tricks(self.plan)
        super().__init__(*args, **kwargs)
        if torchrun_worker():  # torchrun's world, not the length of this host's device list
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
        if self.plan is not None and global_rank() in (-1, 0):  # what `--resume RUN_DIR` rebuilds the run from
            self.save_dir.mkdir(parents=True, exist_ok=True)
            (self.save_dir / "plan.json").write_text(self.plan.to_json())

    def get_model(self, cfg=None, weights=None, verbose=True):
        """Ultralytics' model, then each trick's `on_model` hook (checkpointing flags, SyncBatchNorm ...)."""
        model = super().get_model(cfg=cfg, weights=weights, verbose=verbose)
        if self.plan is not None:
            model = registry.on_model(self.plan, model, self)
        return model

    def _setup_ddp(self):
        """Ultralytics' set-up for its own workers; for torchrun's: the GPU of the local rank (or the CPU with gloo
        when there is none) and a process group over torchrun's world."""
        if not torchrun_worker():
            return super()._setup_ddp()
        from datetime import timedelta

        import torch
        import torch.distributed as dist
        from ultralytics.utils.torch_utils import get_torch_device_backend

        local = int(os.environ["LOCAL_RANK"])
        if self.device.type == "cuda":
            ids = [d for d in str(self.args.device).split(",") if d.strip().isdigit()]
            index = int(ids[local]) if len(ids) > local else local
            self.device = torch.device("cuda", index)
            self.accelerator = get_torch_device_backend(self.device)
            self.accelerator.set_device(index)
            os.environ.setdefault("TORCH_NCCL_BLOCKING_WAIT", "1")
            backend = "nccl"
        else:
            self.device, self.accelerator, backend = torch.device("cpu"), None, "gloo"
        if not dist.is_initialized():
            dist.init_process_group(backend=backend, timeout=timedelta(hours=3), rank=global_rank(),
                                    world_size=self.world_size)

    def _setup_train(self):
        if torchrun_worker() and self.device.type == "cpu":
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
        """Ultralytics' final validation of best.pt; under torchrun the ranks share rank 0's file first (hosts need
        no shared file system, and no rank reads it while rank 0 strips it), then validate their shards of the
        validation set together. A copy of BaseTrainer.final_eval, not a call to it: upstream strips and reads best.pt
        per host (LOCAL_RANK) and skips validating where the file is absent, which would leave the other ranks
        waiting in the validator's collectives (guarded by UPSTREAM's hash)."""
        if not torchrun_worker():
            return super().final_eval()
        import tempfile
        from pathlib import Path

        import torch.distributed as dist
        from ultralytics.utils.torch_utils import strip_optimizer

        rank = global_rank()
        if rank == 0 and self.last.exists():
            ckpt = strip_optimizer(self.last)
            if self.best.exists():
                strip_optimizer(self.best, updates={"train_results": ckpt.get("train_results")})
        shared = [self.best.read_bytes() if rank == 0 and self.best.exists() else None]
        dist.broadcast_object_list(shared, src=0)
        if shared[0] is None:
            return
        with tempfile.TemporaryDirectory() as tmp:
            model = self.best
            if rank != 0:
                model = Path(tmp) / "best.pt"
                model.write_bytes(shared[0])
            self.validator.args.plots = self.args.plots  # the same on every rank: it decides a collective
            self.validator.args.compile = False
            with cpu_ddp.validator_on_cpu() if self.device.type == "cpu" else contextlib.nullcontext():
                self.metrics = self.validator(model=str(model)) or {}
        self.metrics.pop("fitness", None)
        self.epoch += 1  # Ultralytics logs the best model's metrics at epochs + 1
        self.run_callbacks("on_fit_epoch_end")
        self.epoch -= 1

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
        if ckpt is None or not self.resume or global_rank() > 0:  # rank 0 keeps the logs
            return
        for log in ("results.csv", "grad_norms.csv"):
            csvlog.keep_epochs(self.save_dir / log, self.start_epoch)
        if csvlog.keep_epochs(self.save_dir / "tricks_log.csv", self.start_epoch):  # the history early stop reads
            self.epoch_log = csvlog.read_rows(self.save_dir / "tricks_log.csv")

    def agreed(self, flag: bool) -> bool:
        """`flag` OR-ed over every process of the run: all ranks take the same branch (the NaN guard's skip)."""
        return agreed(flag, self.device)

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
        if global_rank() > 0:
            return  # validation metrics, the early-stop decision (broadcast by Ultralytics) and the logs: rank 0
        m = t.metrics or {}
        row = {"epoch": t.epoch + 1, "lr_pg0": t.optimizer.param_groups[0]["lr"],
               "val_loss": sum(float(v) for k, v in m.items() if k.startswith("val/")),
               "mAP50-95": float(m.get(MAP50_95, float("nan")))}
        t.epoch_log.append(registry.epoch_row(t.plan, t, row))
        csvlog.write_rows(t.save_dir / "tricks_log.csv", t.epoch_log)

    # --- augmentation on the GPU (plan.augment_device == "gpu") ----------------------------------------------------
    gpu_augment = None  # the GpuAugment of this run, or None (Ultralytics' own CPU pipeline)
    image_store = None  # helpers.tricks.gpu_data.ImageStore when the batches come as indices
    input_pipeline = "cpu workers"  # what feeds the steps, in words (logged, and read by the benchmarks)
    augment_first_s = None  # seconds of the first augmented batch (compilation included)

    def get_dataloader(self, dataset_path, batch_size=16, rank=0, mode="train"):
        """Ultralytics' loader, except for augment_device='gpu' training: the set resident on the device (or pinned
        on the host) and batches of indices (helpers.tricks.gpu_data), or, where it fits nowhere, the workers
        handing over un-augmented images."""
        if mode != "train" or self.plan is None or self.plan.augment_device != "gpu":
            return super().get_dataloader(dataset_path, batch_size, rank, mode)
        from ultralytics.data.build import build_dataloader
        from ultralytics.utils import LOGGER
        from ultralytics.utils.torch_utils import torch_distributed_zero_first

        from helpers.tricks import gpu_augment, gpu_data

        why = gpu_augment.unsupported(self.args)
        if not why:
            with torch_distributed_zero_first(rank):
                dataset = self.build_dataset(dataset_path, mode, batch_size)
            why = gpu_augment.unsupported(self.args, dataset)
        if why:
            LOGGER.warning(f"augment_device='gpu' falls back to Ultralytics' CPU pipeline: {why}")
            self.gpu_augment, self.input_pipeline = None, "cpu workers"
            return super().get_dataloader(dataset_path, batch_size, rank, mode)
        self.gpu_augment = gpu_augment.GpuAugment.from_args(self.args)
        self._aug_gen = torch_generator(self.device, self.args.seed + max(global_rank(), 0))
        if self.image_store is not None:  # a rebuild (Ultralytics' out-of-memory retry): let the old store go first
            self.image_store = None
            if self.device.type == "cuda":
                import torch

                torch.cuda.empty_cache()
        where, reason = gpu_data.where_it_fits(len(dataset.im_files), int(self.args.imgsz), self.device)
        if where:
            self.image_store = gpu_data.build_store(dataset, self.device, where, threads=max(int(self.args.workers), 1))
            self.input_pipeline = "resident on the GPU" if where == "device" and self.device.type == "cuda" else \
                "resident in memory" if where == "device" else "pinned host memory"
            LOGGER.info(f"augment_device='gpu': training set {self.input_pipeline} ({reason})")
            self.add_callback("on_train_epoch_start", WorkbookTrainer._tell_epoch)
            return gpu_data.IndexLoader(dataset, self.image_store, batch_size, self.device, rank=global_rank(),
                                        world=self.world_size, seed=self.args.seed)
        LOGGER.warning(f"augment_device='gpu': {reason}; the loader's workers hand over the images")
        self.input_pipeline = "cpu workers, augmentation on the GPU"
        return build_dataloader(gpu_augment.adopt(dataset), batch=batch_size, workers=self.args.workers, shuffle=True,
                                rank=rank, drop_last=False, device=self.device)

    @staticmethod
    def _tell_epoch(t: "WorkbookTrainer") -> None:
        """The index loader's shuffle follows the trainer's epoch (a resumed run continues the order)."""
        sampler = getattr(t.train_loader, "sampler", None)
        if hasattr(sampler, "told"):
            sampler.set_epoch(t.epoch)

    def _close_dataloader_mosaic(self):
        super()._close_dataloader_mosaic()
        if self.gpu_augment is not None:  # the workers no longer augment: mosaic is switched off here
            import dataclasses

            self.gpu_augment = dataclasses.replace(self.gpu_augment, mosaic=0.0)

    def _image_dtype(self):
        """The dtype the augmented images are handed to the model in: the autocast dtype on a GPU (the first
        convolution would cast to it anyway), float32 otherwise."""
        import torch

        if self.device.type != "cuda" or not bool(self.amp):
            return torch.float32
        return torch.bfloat16 if self.args.amp == "bf16" else torch.float16

    def preprocess_batch(self, batch):
        if self.gpu_augment is None:
            return super().preprocess_batch(batch)
        import time

        import torch

        first = self.augment_first_s is None
        t0 = time.perf_counter()
        cuda = self.device.type == "cuda"
        if "store_idx" in batch:
            images, hw, boxes, sample, pool = self.image_store.batch_images(batch["store_idx"], self.device)
            out = self._augment_store(images, hw, boxes, sample, pool, cuda)
            batch.update(out)
            batch["batch_idx"] = out["batch_idx"].float()
        else:
            for k, v in batch.items():
                if hasattr(v, "to"):
                    batch[k] = v.to(self.device, non_blocking=True)
            batch = self.gpu_augment(batch, self._aug_gen, out_dtype=self._image_dtype())
        if first:
            if cuda:
                torch.cuda.synchronize(self.device)
            self.augment_first_s = time.perf_counter() - t0
        return batch

    def _augment_store(self, images, hw, boxes, sample, pool, cuda: bool):
        """The fused augmentation (compiled on a GPU; eager where compilation fails, with one warning)."""
        import torch

        kw = dict(out_dtype=self._image_dtype(), channels_last=cuda)
        if cuda and getattr(self, "_compile_ok", True):
            try:
                return self.gpu_augment.augment(images, hw, boxes, sample, pool, self._aug_gen, compiled=True, **kw)
            except torch.OutOfMemoryError:
                raise  # Ultralytics' own retry with a smaller batch handles it
            except Exception as e:  # an Inductor/Triton failure: the same function runs eagerly
                from ultralytics.utils import LOGGER

                LOGGER.warning(f"augment_device='gpu': compiling the augmentation failed ({type(e).__name__}: "
                               f"{str(e).splitlines()[0][:160] if str(e) else ''}); running it uncompiled")
                self._compile_ok = False
        return self.gpu_augment.augment(images, hw, boxes, sample, pool, self._aug_gen, **kw)
