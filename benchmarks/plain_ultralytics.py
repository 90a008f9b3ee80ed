"""Plain Ultralytics, nothing of the workbook imported: the baseline of `benchmarks/real_training.py`.

    python benchmarks/plain_ultralytics.py train --data D.yaml --workers 8 --json out.json [--imgsz 640 ...]
    python benchmarks/plain_ultralytics.py loader --data D.yaml --workers 8 --json out.json

`train` is `YOLO("yolo12n.yaml").train(...)` with Ultralytics' defaults except the benchmark's fixed settings, timed
by `EpochClock` (the workbook's plans are timed by the same class). `loader` times Ultralytics' training loader
alone (mosaic, cache, batch), no model. Each call is one fresh process; the JSON it writes names its pid.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("YOLO_OFFLINE", "1")  # nothing downloaded


class EpochClock:
    """Wall clock of each epoch as a user would time it: the training loop (first batch to last, CUDA synchronised
    only at the epoch's ends, never per batch) and what follows it until the next epoch (validation, checkpoint,
    plots), plus the set-up before the first epoch."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.train_start: float | None = None
        self.loops: list[tuple[float, float]] = []  # (loop start, loop end) per epoch
        self.fit_ends: list[float] = []  # end of each epoch's validation + saving
        self.end: float | None = None
        self.images = 0  # images per epoch seen by this process
        self.batch = 0

    @staticmethod
    def _sync() -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def callbacks(self) -> dict:
        return {"on_train_start": self.on_train_start, "on_train_epoch_start": self.on_train_epoch_start,
                "on_train_epoch_end": self.on_train_epoch_end, "on_fit_epoch_end": self.on_fit_epoch_end,
                "on_train_end": self.on_train_end}

    def on_train_start(self, trainer) -> None:
        self.train_start = time.perf_counter()
        self.images = len(trainer.train_loader.dataset)
        self.batch = trainer.batch_size

    def on_train_epoch_start(self, trainer) -> None:
        self._sync()
        self._open = time.perf_counter()

    def on_train_epoch_end(self, trainer) -> None:
        self._sync()
        self.loops.append((self._open, time.perf_counter()))

    def on_fit_epoch_end(self, trainer) -> None:
        if len(self.fit_ends) < len(self.loops):  # not Ultralytics' extra call after validating best.pt
            self.fit_ends.append(time.perf_counter())

    def on_train_end(self, trainer) -> None:
        self.end = time.perf_counter()

    def record(self) -> dict:
        """img/s of the training loop (epochs after the first) and of wall time, the epoch overhead, the set-up."""
        steady = self.loops[1:] or self.loops
        loop_s = sum(e - s for s, e in steady)
        out = {"images_per_epoch": self.images, "epochs_timed": len(steady),
               "loop_s": [round(e - s, 3) for s, e in self.loops],
               "img_s": round(self.images * len(steady) / loop_s, 1) if loop_s else None,
               "setup_s": round(self.train_start - self.t0, 2) if self.train_start else None}
        if len(self.fit_ends) == len(self.loops) and len(self.loops) > 1:
            wall = self.fit_ends[-1] - self.loops[1][0]
            overhead = [f - e for (_, e), f in zip(self.loops, self.fit_ends)]
            out.update(img_s_wall=round(self.images * (len(self.loops) - 1) / wall, 1),
                       overhead_s=[round(x, 3) for x in overhead],
                       overhead_share=round(sum(overhead[1:]) / wall, 3))
        if self.end and self.train_start:
            out["train_wall_s"] = round(self.end - self.train_start, 2)
        return out


def peak_gib() -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None


def train(a: argparse.Namespace) -> dict:
    from ultralytics import YOLO

    clock = EpochClock()
    model = YOLO(a.model)
    for event, fn in clock.callbacks().items():
        model.add_callback(event, fn)
    model.train(data=a.data, epochs=a.epochs, batch=a.batch, nbs=a.batch, imgsz=a.imgsz, workers=a.workers,
                cache=a.cache, val=False, plots=False, amp=True, close_mosaic=0, mosaic=1.0, optimizer="SGD", lr0=0.01,
                device=a.device or None, project=a.project, name=a.name, exist_ok=True, verbose=False)
    return {**clock.record(), "peak_allocated_gib": peak_gib(), "workers": a.workers}


def loader(a: argparse.Namespace) -> dict:
    """Ultralytics' training loader alone: img/s over `batches` batches after 3 warm-up ones."""
    from ultralytics.cfg import get_cfg
    from ultralytics.data.build import build_dataloader, build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    data = check_det_dataset(a.data)
    cfg = get_cfg(overrides={"imgsz": a.imgsz, "cache": a.cache, "mosaic": 1.0, "workers": a.workers})
    ds = build_yolo_dataset(cfg, data["train"], a.batch, data, mode="train")
    dl = build_dataloader(ds, a.batch, a.workers, shuffle=True)
    it = iter(dl)
    n = 0
    for i in range(3 + a.batches):
        if i == 3:
            t0 = time.perf_counter()
        b = next(it, None)
        if b is None:
            it = iter(dl)
            b = next(it)
        if i >= 3:
            n += b["img"].shape[0]
    dt = time.perf_counter() - t0
    return {"img_s": round(n / dt, 1), "batches": a.batches, "workers": a.workers}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("train", "loader"))
    ap.add_argument("--data", required=True)
    ap.add_argument("--json", required=True, help="where to write the record")
    ap.add_argument("--model", default="yolo12n.yaml")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--batches", type=int, default=20, help="loader: timed batches")
    ap.add_argument("--cache", default="ram")
    ap.add_argument("--device", default="")
    ap.add_argument("--project", default="runs/bench")
    ap.add_argument("--name", default="plain")
    a = ap.parse_args(argv)
    a.cache = {"false": False, "true": True}.get(str(a.cache).lower(), a.cache)
    t0 = time.perf_counter()
    rec = train(a) if a.what == "train" else loader(a)
    rec.update(pid=os.getpid(), process_wall_s=round(time.perf_counter() - t0, 2),
               workbook_imported=any(m == "helpers" or m.startswith("helpers.") for m in sys.modules))
    with open(a.json, "w") as f:
        json.dump(rec, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
