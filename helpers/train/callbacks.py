"""Ultralytics callbacks the workbook attaches to a run: each an object whose `on_*` methods are the callbacks, all
registered by one `attach`. Pass them to `helpers.train.run.train(plan, callbacks=[...])`."""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.train.curves import MAP50_95


class Hooks:
    """Base class: every method named after an Ultralytics callback event is registered by `attach`."""

    def events(self) -> list[str]:
        from ultralytics.utils.callbacks.base import default_callbacks

        return [name for name in default_callbacks if callable(getattr(self, name, None))]

    def attach(self, target: Any) -> "Hooks":
        """Register on a YOLO model or a trainer (both have `add_callback`); returns self."""
        for name in self.events():
            target.add_callback(name, getattr(self, name))
        return self


def attach(target: Any, callbacks: Any) -> None:
    """Register `callbacks` on a YOLO model or trainer: Hooks objects, {event: fn} mappings, or (event, fn) pairs."""
    from ultralytics.utils.callbacks.base import default_callbacks

    for cb in callbacks:
        if isinstance(cb, Hooks):
            cb.attach(target)
            continue
        pairs = cb.items() if isinstance(cb, dict) else [cb]
        for event, fn in pairs:
            if event not in default_callbacks:
                raise ValueError(f"{event!r} is not an Ultralytics callback event; known: {sorted(default_callbacks)}")
            target.add_callback(event, fn)


@dataclass
class StepTimer(Hooks):
    """Each training batch split into data wait (loader) and compute, for images/s and the loader's stall share.

    Times come from the host clock around Ultralytics' batch callbacks; the batch-end callback synchronises CUDA,
    so "compute" includes the GPU work of the step.
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

    def summary(self) -> dict[str, float]:
        """Median compute and wait per batch, images/s with and without the loader, and the loader's stall share."""
        if not self.compute_s:
            return {}
        c = statistics.median(self.compute_s)
        w = statistics.median(self.wait_s) if self.wait_s else 0.0
        return {"compute_s": c, "wait_s": w, "img_s": self.batch_size / (c + w), "img_s_no_wait": self.batch_size / c,
                "stall_pct": 100 * w / (c + w), "batches": len(self.compute_s)}


@dataclass
class EpochProgress(Hooks):
    """One progress bar over epochs (with loss and mAP) in place of Ultralytics' per-batch bars. Headless
    ($WORKBOOK_HEADLESS, set by the runner) it prints one line per epoch instead: a bar widget would vanish from the
    executed notebook and its HTML."""

    bar: Any = None
    lines: bool = False
    done: int = 0
    _epoch_open: bool = False

    def on_train_start(self, trainer) -> None:
        self.done = trainer.start_epoch
        self.lines = os.environ.get("WORKBOOK_HEADLESS", "").strip() not in ("", "0")
        if not self.lines:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=trainer.epochs, initial=trainer.start_epoch, desc="epochs", unit="epoch")

    def on_train_epoch_start(self, trainer) -> None:
        self._epoch_open = True

    def on_fit_epoch_end(self, trainer) -> None:
        # Ultralytics calls on_fit_epoch_end once more after validating best.pt, also after an early stop; only the
        # call that closes a trained epoch counts (the trainer's tricks_log.csv counts the same way).
        if not self._epoch_open:
            return
        self._epoch_open = False
        self.done += 1
        m = trainer.metrics or {}
        loss = trainer.tloss
        if isinstance(loss, dict):  # 8.4: a dict of loss components
            loss = sum(float(v) for v in loss.values())
        mp = float(m.get(MAP50_95, 0.0))
        shown = {"loss": f"{float(loss):.3f}" if loss is not None else "-",
                 "mAP50-95": f"{mp:.3f}" if mp == mp else "not validated"}
        if self.lines:
            print(f"epoch {self.done}/{trainer.epochs}: " + ", ".join(f"{k} {v}" for k, v in shown.items()), flush=True)
        elif self.bar is not None:
            self.bar.set_postfix(shown)
            self.bar.update(1)

    def on_train_end(self, trainer) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass
class StopSwitch(Hooks):
    """A stop request (a panel's Stop button) that ends the run cleanly: Ultralytics finishes the epoch, validates
    and saves, then stops (its own `trainer.stop`)."""

    requested: bool = False
    epochs_done: int = 0
    _epoch_open: bool = False

    def on_train_epoch_start(self, trainer) -> None:
        self._epoch_open = True

    def on_train_batch_end(self, trainer) -> None:
        if self.requested:
            trainer.stop = True  # Ultralytics ORs its own stop rule into this at the epoch's end

    def on_fit_epoch_end(self, trainer) -> None:
        if self._epoch_open:  # not the extra call after validating best.pt (it reports epoch + 1)
            self._epoch_open = False
            self.epochs_done = trainer.epoch + 1


@dataclass
class RunReport(Hooks):
    """What the trainer actually ran with, read inside the run (the attention backend, the checkpointed layers, the
    input pipeline): a plan says what was asked, this says what happened."""

    attention: str = ""
    layers: list[int] = field(default_factory=list)
    pipeline: str = ""

    def on_train_end(self, trainer) -> None:
        from helpers.tricks import attention, checkpointing

        self.attention = attention.current()
        self.layers = checkpointing.enabled_layers(trainer.model)
        self.pipeline = trainer.input_pipeline


@dataclass
class WorkerReport(Hooks):
    """Writes what a (worker) process actually trains with: pid, trainer class, the attention backend, checkpointed
    layers and whether their wrappers are installed, the clip its steps get, rank and world size."""

    path: str

    def on_train_start(self, trainer) -> None:
        from ultralytics.nn.modules import A2C2f

        from helpers.train.distributed import global_rank
        from helpers.tricks import attention, checkpointing, clip

        Path(self.path).write_text(json.dumps({
            "pid": os.getpid(), "trainer": type(trainer).__name__, "attention": attention.current(),
            "checkpointed": checkpointing.enabled_layers(trainer.model),
            "checkpoint_wrappers": checkpointing.installed(A2C2f),
            "clip_norm": clip.max_norm(trainer.plan) if trainer.plan is not None else clip.ULTRALYTICS_NORM,
            "rank": global_rank(), "world_size": trainer.world_size,
        }))
