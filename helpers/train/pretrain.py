"""Train a starter checkpoint with the workbook's own recipe and ship it with its provenance (`helpers.train.weights`).

`python -m helpers pretrain --model yolo12n.yaml --profile gpu` plans the micro-batch, trains on synthetic shapes
drawn with a seed the notebooks do not use (so their datasets stay unseen), scores best.pt at several image sizes
and writes `data/weights/<model>-<tag>.pt` and `.json`.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from helpers.core import paths, profiles, versions
from helpers.core.logs import quiet
from helpers.data import synthetic
from helpers.train import plan_view, planner, weights
from helpers.train.run import train

DATA_SEED = 1  # the notebooks' synthetic data uses seed 0


def score(pt: str | Path, data: str | Path, sizes: Sequence[int], device: str | None, batch: int = 32) -> dict[int, dict[str, float]]:
    """mAP50-95 / mAP50 / precision / recall of a checkpoint on `data`'s val split at each image size."""
    from ultralytics import YOLO

    out, net = {}, YOLO(str(pt))
    for s in sizes:
        with quiet():
            m = net.val(data=str(data), imgsz=s, batch=batch, device=device, plots=False,
                        project=str(paths.runs_dir() / "pretrain"), name="val", exist_ok=True)
        out[int(s)] = {"mAP50-95": round(float(m.box.map), 4), "mAP50": round(float(m.box.map50), 4),
                       "precision": round(float(m.box.mp), 4), "recall": round(float(m.box.mr), 4)}
    return out


def pretrain(model: str = "yolo12n.yaml", profile: str = "gpu", *, epochs: int | None = None, imgsz: int | None = None,
             n_train: int | None = None, n_val: int | None = None, init: str = "", tag: str = "shapes",
             eval_sizes: Sequence[int] = (128, 160, 320, 640), out: Path | None = None,
             argv: Sequence[str] | None = None) -> Path:
    """Train, score and write `<out>/<model>-<tag>.pt` plus its provenance json; returns the checkpoint path."""
    import torch

    p = profiles.get(profile)
    p = p.replace(**{k: v for k, v in dict(model=model, epochs=epochs, imgsz=imgsz, n_train=n_train,
                                           n_val=n_val).items() if v is not None})
    out = Path(out or weights.WEIGHTS_DIR)
    out.mkdir(parents=True, exist_ok=True)
    spec = synthetic.SynthSpec(n_train=p.n_train, n_val=p.n_val, imgsz=p.imgsz, seed=DATA_SEED)
    data = synthetic.generate(paths.datasets_dir() / f"pretrain-{p.imgsz}px-{p.n_train}-{p.n_val}-s{DATA_SEED}",
                              spec, progress=True)
    name = weights.name_for(p.model, tag)
    start_from = str(weights.get(init).path) if init and not Path(init).exists() else init
    plan = planner.from_profile(p, dataset=data, weights=start_from, name=f"pretrain-{name}", exist_ok=True,
                                amp=p.amp if torch.cuda.is_available() else "fp32")
    plan, _ = planner.fit_memory(plan)
    print(plan_view.summary(plan))
    result = train(plan)
    seconds = result.seconds
    env = versions.describe()
    best = result.best
    dest = out / f"{name}.pt"
    shutil.copyfile(best, dest)
    by_size = score(dest, data, sorted({*eval_sizes, p.imgsz}), p.device or None)
    prov: dict[str, Any] = {
        "name": name,
        "command": "python -m helpers pretrain " + " ".join(shlex.quote(a) for a in (argv or [])),
        "model": p.model,
        "init": {"path": start_from, "sha256": weights.sha256(start_from)} if start_from else "random",
        "data": {"generator": "helpers.data.synthetic", **{k: v for k, v in spec.__dict__.items() if k != "classes"},
                 "classes": list(spec.classes)},
        "recipe": {"profile": p.name, "imgsz": plan.imgsz, "epochs": plan.epochs, "batch": plan.batch,
                   "nbs": plan.nbs, "accumulate": plan.accumulate, "lr0": plan.lr0, "lr_rule": plan.lr_rule,
                   "warmup_epochs": plan.warmup_epochs, "optimizer": plan.optimizer, "amp": str(plan.amp_arg()[0]),
                   "attention": plan.attention, "seed": plan.seed, **plan.augmentation},
        "device": env["device"],
        "versions": {k: env[k] for k in ("python", "torch", "cuda", "ultralytics")},
        "train_seconds": round(seconds, 1),
        "metrics": {"imgsz": p.imgsz, **by_size[p.imgsz]},
        "metrics_by_imgsz": {str(k): v for k, v in by_size.items()},
        "bytes": dest.stat().st_size,
        "sha256": weights.sha256(dest),
        "date": time.strftime("%Y-%m-%d"),
    }
    dest.with_suffix(".json").write_text(json.dumps(prov, indent=2) + "\n")
    return dest


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    argv = list(sys.argv[1:] if argv is None else argv)
    a = argparse.ArgumentParser(prog="python -m helpers pretrain", description=__doc__.splitlines()[0])
    a.add_argument("--model", default="yolo12n.yaml")
    a.add_argument("--profile", default="gpu")
    a.add_argument("--epochs", type=int)
    a.add_argument("--imgsz", type=int)
    a.add_argument("--n-train", type=int)
    a.add_argument("--n-val", type=int)
    a.add_argument("--init", default="", help="start from a starter name or .pt (default: random init)")
    a.add_argument("--tag", default="shapes")
    a.add_argument("--out", type=Path)
    ns = a.parse_args(argv)
    path = pretrain(ns.model, ns.profile, epochs=ns.epochs, imgsz=ns.imgsz, n_train=ns.n_train, n_val=ns.n_val,
                    init=ns.init, tag=ns.tag, out=ns.out, argv=argv)
    print(json.dumps(json.loads(path.with_suffix(".json").read_text())["metrics_by_imgsz"], indent=1))
    print("wrote", path)
    return 0
