"""Where a run's wall time goes, as a stopwatch sees it: the set-up, each epoch's training loop, what follows each
loop (validation, checkpoint, plots) and the final validation, with images per second of loop time and of wall time.

CUDA is synchronised at the ends of each epoch and once after the run's first step, never per batch (a per-batch
synchronisation would let the loader's workers catch up and hide them). This file imports nothing of the workbook at
module level, so the benchmarks time plain Ultralytics with the same clock (`benchmarks/plain_ultralytics.py` loads
this file alone).
"""

from __future__ import annotations

import time
from typing import Any

PREFETCH_FACTOR = 2  # torch DataLoader's default: batches each worker loads ahead


class EpochClock:
    """Ultralytics callbacks (`callbacks()`) that time a run; `record()` for a benchmark, `table()` for a notebook."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.since_start = _process_age()  # seconds this process had run when the clock was made
        self.train_start: float | None = None
        self.loops: list[tuple[float, float]] = []  # (loop start, loop end) per epoch
        self.fit_ends: list[float] = []  # end of each epoch's validation + checkpoint
        self.end: float | None = None
        self.images = 0  # training images per epoch of this process
        self.batches = 0  # batches per epoch
        self.workers = 0  # loader worker processes
        self._open: float | None = None
        self.waits: list[float] = []  # per epoch: host seconds between a batch's end and the next batch's start
        self._batch_end: float | None = None
        self.first_step_s: float | None = None  # the run's first step, synchronised: start-up, autotuning, compilation
        self.val_ms: list[dict[str, float]] = []  # per validation: Ultralytics' validator stages, ms per image
        self._speed: dict | None = None  # the validator's last timings (a skipped validation leaves them)

    @staticmethod
    def _sync() -> None:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()

    def callbacks(self) -> dict[str, Any]:
        """{event: function} for `model.add_callback` or `helpers.train.run.train(plan, callbacks=[...])`."""
        return {"on_train_start": self.on_train_start, "on_train_epoch_start": self.on_train_epoch_start,
                "on_train_batch_start": self.on_train_batch_start, "on_train_batch_end": self.on_train_batch_end,
                "on_train_epoch_end": self.on_train_epoch_end, "on_fit_epoch_end": self.on_fit_epoch_end,
                "on_train_end": self.on_train_end}

    def on_train_start(self, trainer: Any) -> None:
        self.train_start = time.perf_counter()
        loader = trainer.train_loader
        self.images = len(loader.dataset)
        self.batches = len(loader)
        self.workers = int(getattr(loader, "num_workers", 0) or 0)

    def on_train_epoch_start(self, trainer: Any) -> None:
        self._sync()
        if self._open is not None and self.waits:  # the last epoch never ended (Ultralytics' out-of-memory retry)
            self.waits.pop()
        if len(self.loops) > len(self.fit_ends):  # the last epoch is redone (Ultralytics' NaN recovery)
            self.loops.pop()
            self.waits.pop()
        self._open = time.perf_counter()
        self.waits.append(0.0)
        self._batch_end = None

    def on_train_batch_start(self, trainer: Any) -> None:
        """The host waits here for the loader's next batch (no synchronisation: the GPU's share is waited for
        inside the step, where Ultralytics reads the loss)."""
        if self._batch_end is not None and self.waits:
            self.waits[-1] += time.perf_counter() - self._batch_end

    def on_train_batch_end(self, trainer: Any) -> None:
        if self.first_step_s is None and not self.loops and self._open is not None:  # once per run: one sync
            self._sync()
            self.first_step_s = time.perf_counter() - self._open
        self._batch_end = time.perf_counter()

    def on_train_epoch_end(self, trainer: Any) -> None:
        self._sync()
        if self._open is not None:
            self.loops.append((self._open, time.perf_counter()))
            self._open = None

    def on_fit_epoch_end(self, trainer: Any) -> None:
        if len(self.fit_ends) < len(self.loops):  # not Ultralytics' extra call after validating best.pt
            self.fit_ends.append(time.perf_counter())
            speed = getattr(getattr(trainer, "validator", None), "speed", None)
            if speed and any(speed.values()) and speed is not self._speed:  # a validation ran (a new dict)
                self.val_ms.append({k: round(float(v), 3) for k, v in speed.items()})
            self._speed = speed

    def on_train_end(self, trainer: Any) -> None:
        self.end = time.perf_counter()

    # ------------------------------------------------------------------ figures
    def steady(self) -> list[tuple[float, float]]:
        """The loops that show the steady state: every epoch after the first (the first when there is one)."""
        return self.loops[1:] or self.loops

    def loop_img_s(self) -> float | None:
        """Images per second of training-loop wall time, first epoch left out."""
        s = self.steady()
        loop = sum(e - b for b, e in s)
        return self.images * len(s) / loop if loop > 0 else None

    def overheads(self) -> list[float]:
        """Seconds after each epoch's loop: validation, checkpoint, plots (and Ultralytics' bookkeeping)."""
        return [f - e for (_, e), f in zip(self.loops, self.fit_ends)]

    def prefetch_hides_loader(self) -> bool:
        """True when an epoch has no more batches than the workers load ahead during the pause between epochs: the
        loader's speed then never shows inside the loop."""
        return self.workers > 0 and self.batches <= self.workers * PREFETCH_FACTOR

    def record(self) -> dict[str, Any]:
        """The figures as JSON-ready numbers (the benchmarks' record)."""
        img_s = self.loop_img_s()
        out: dict[str, Any] = {"images_per_epoch": self.images, "batches_per_epoch": self.batches,
                               "workers": self.workers, "epochs_timed": len(self.steady()),
                               "loop_s": [round(e - s, 3) for s, e in self.loops],
                               "img_s": round(img_s, 1) if img_s else None,
                               "setup_s": round(self.train_start - self.t0, 2) if self.train_start else None}
        steady = self.steady()
        loop = sum(e - b for b, e in steady)
        waits = self.waits[1:len(self.loops)] if len(self.loops) > 1 else self.waits[:1]
        if loop > 0 and waits:
            out["loader_wait_share"] = round(sum(waits) / loop, 3)
        if len(self.fit_ends) == len(self.loops) and len(self.loops) > 1:
            wall = self.fit_ends[-1] - self.loops[1][0]
            over = self.overheads()
            out.update(img_s_wall=round(self.images * (len(self.loops) - 1) / wall, 1),
                       overhead_s=[round(x, 3) for x in over], overhead_share=round(sum(over[1:]) / wall, 3))
        if self.end and self.train_start:
            out["train_wall_s"] = round(self.end - self.train_start, 2)
        out["epoch_end_s"] = self.epoch_end_s()
        if self.first_step_s is not None:
            out["first_step_s"] = round(self.first_step_s, 3)
        if self.val_ms:
            out["val_ms_per_image"] = self.val_ms
        return out

    def epoch_end_s(self) -> list[float]:
        """Seconds from this process's start to the end of each epoch (validation and checkpoint included): the
        wall clock a user waits for each epoch's result, interpreter start-up and set-up included."""
        return [round(self.since_start + f - self.t0, 2) for f in self.fit_ends]

    def rows(self) -> list[tuple[str, str, str]]:
        """(measure, value, what it includes) for a notebook's table."""
        if not self.loops:
            return [("training loop", "-", "no epoch finished")]
        img_s = self.loop_img_s()
        over = self.overheads()
        total = (self.end or (self.fit_ends[-1] if self.fit_ends else self.loops[-1][1])) - (self.train_start or
                                                                                             self.loops[0][0])
        loop_all = sum(e - s for s, e in self.loops)
        trained = self.images * len(self.loops)
        first = self.loops[0][1] - self.loops[0][0]
        rows = [("images / s, training loop", f"{img_s:.0f}" if img_s else "-",
                 f"epochs {2 if len(self.loops) > 1 else 1}-{len(self.loops)}: {self.images} images each, loop wall "
                 "time (first batch to last)"),
                ("images / s, whole run", f"{trained / total:.0f}" if total > 0 else "-",
                 f"{trained} images over {total:.1f} s from the first epoch's start to the end (validation, "
                 "checkpoints, plots and the final validation included)"),
                ("first epoch", f"{first:.1f} s", "includes the run's start-up (loader workers, cuDNN autotuning, "
                 "compilation where they apply): paid once per run")]
        if over:
            share = sum(over) / total if total > 0 else 0.0
            rows.append(("after each epoch", f"{sum(over) / len(over):.2f} s (median {sorted(over)[len(over) // 2]:.2f})",
                         f"validation, checkpoint, plots: {share:.0%} of the run's wall time"))
        rows.append(("time in training loops", f"{loop_all:.1f} s of {total:.1f} s",
                     f"{loop_all / total:.0%} of the wall time" if total > 0 else ""))
        wait = self.record().get("loader_wait_share")
        if wait is not None:
            rows.append(("waiting for the loader", f"{wait:.0%} of loop time",
                         "between one batch's end and the next batch's arrival; the rest of the loop is the step "
                         "(with augment_device='gpu', the augmentation too)"))
        if self.setup_s() is not None:
            rows.append(("set-up before epoch 1", f"{self.setup_s():.1f} s", "dataset check and caching, model build"))
        if self.prefetch_hides_loader():
            rows.append(("note", "loader hidden", f"an epoch is {self.batches} batches and {self.workers} workers load "
                         f"{self.workers * PREFETCH_FACTOR} ahead between epochs: the loop never waits for them, so "
                         "this run cannot show a data-bound loader"))
        return rows

    def setup_s(self) -> float | None:
        return self.train_start - self.t0 if self.train_start else None

    def table(self, title: str = "Where the wall time went"):
        """The rows as the workbook's Table (rendered as HTML in a notebook)."""
        from helpers.core.tables import Table

        return Table(("measure", "value", "what it includes"), self.rows(), title)


def _process_age() -> float:
    """Seconds since this process started (its start time as the OS records it)."""
    import psutil

    return max(time.time() - psutil.Process().create_time(), 0.0)
