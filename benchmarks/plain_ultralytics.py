"""Plain Ultralytics, nothing of the workbook imported: the baseline of `benchmarks/real_training.py`.

    python benchmarks/plain_ultralytics.py train --data D.yaml --workers 8 --json out.json [--imgsz 640 ...]
    python benchmarks/plain_ultralytics.py loader --data D.yaml --workers 8 --json out.json

`train` is `YOLO("yolo12n.yaml").train(...)` with Ultralytics' defaults except the benchmark's fixed settings, timed
by `helpers/measure/wallclock.py`'s `EpochClock`, loaded as a lone file (the workbook's plans are timed by the same
class); the record says whether any workbook module or patch was loaded. `loader` times Ultralytics' training loader
alone (mosaic, cache, batch), no model. Each call is one fresh process; the JSON it writes names its pid.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")  # nothing downloaded


ROOT = Path(__file__).resolve().parent.parent
CLOCK_FILE = ROOT / "helpers" / "measure" / "wallclock.py"


def clock_module():
    """The workbook's clock file on its own (it imports nothing of the workbook): the same timing for every run,
    without importing the workbook's package, trainer or patches."""
    spec = importlib.util.spec_from_file_location("wallclock_alone", CLOCK_FILE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def peak_gib() -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None


def train(a: argparse.Namespace) -> dict:
    from ultralytics import YOLO

    clock = clock_module().EpochClock()
    model = YOLO(a.model)
    for event, fn in clock.callbacks().items():
        model.add_callback(event, fn)
    model.train(data=a.data, epochs=a.epochs, batch=a.batch, nbs=a.batch, imgsz=a.imgsz, workers=a.workers,
                cache=a.cache, val=a.val, plots=False, amp=True, close_mosaic=0, mosaic=1.0, optimizer="SGD", lr0=0.01,
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
    ap.add_argument("--val", action=argparse.BooleanOptionalAction, default=False,
                    help="validate every epoch (Ultralytics' default)")
    a = ap.parse_args(argv)
    a.cache = {"false": False, "true": True}.get(str(a.cache).lower(), a.cache)
    t0 = time.perf_counter()
    rec = train(a) if a.what == "train" else loader(a)
    from ultralytics.nn.modules.block import AAttn

    rec.update(pid=os.getpid(), process_wall_s=round(time.perf_counter() - t0, 2),
               workbook_imported=any(m == "helpers" or m.startswith("helpers.") for m in sys.modules),
               attention_forward=f"{AAttn.forward.__module__}.{AAttn.forward.__qualname__}")
    with open(a.json, "w") as f:
        json.dump(rec, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
