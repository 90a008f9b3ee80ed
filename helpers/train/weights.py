"""Starter weights shipped in `data/weights/`: small checkpoints trained by `python -m helpers pretrain` on the
synthetic shapes, each with a provenance file (command, data, device, versions, metrics, sha256). Loaded offline.

Nothing can be downloaded here, so without them every model starts from random weights and a CPU run shows the
mechanics of training but no learning.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.core.paths import ROOT

WEIGHTS_DIR = ROOT / "data" / "weights"


class WeightsError(FileNotFoundError):
    """A starter checkpoint is missing or does not match its recorded sha256."""


@dataclass(frozen=True)
class Starter:
    path: Path
    provenance: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.stem


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def name_for(model: str, tag: str = "shapes") -> str:
    """'yolo12n.yaml' -> 'yolo12n-shapes' (the file stem of its starter checkpoint)."""
    return f"{Path(model).stem}-{tag}"


def available(folder: Path | None = None) -> list[str]:
    """Names of the starter checkpoints that have a provenance file."""
    folder = folder or WEIGHTS_DIR
    return sorted(p.stem for p in folder.glob("*.pt") if p.with_suffix(".json").exists())


def get(name_or_model: str, folder: Path | None = None, verify: bool = True) -> Starter:
    """The starter checkpoint for a name ('yolo12n-shapes') or a model ('yolo12n.yaml'), its sha256 checked."""
    folder = folder or WEIGHTS_DIR
    name = name_or_model if not name_or_model.endswith((".yaml", ".yml")) else name_for(name_or_model)
    path, meta = folder / f"{name}.pt", folder / f"{name}.json"
    if not path.exists() or not meta.exists():
        have = ", ".join(available(folder)) or "none"
        raise WeightsError(f"No starter weights {name!r} in {folder} (available: {have}). "
                           f"Train them with: python -m helpers pretrain --model {name.split('-')[0]}.yaml")
    prov = json.loads(meta.read_text())
    if verify and sha256(path) != prov.get("sha256"):
        raise WeightsError(f"{path} does not match the sha256 in {meta.name}: the file is damaged or was replaced. "
                           "Restore it with `git checkout -- data/weights` or retrain it.")
    return Starter(path, prov)


def starter_for(model: str, imgsz: int, folder: Path | None = None) -> Starter:
    """The starter checkpoint for `model` trained at `imgsz` if there is one, else its default (640 px) one."""
    folder = folder or WEIGHTS_DIR
    sized = f"{name_for(model)}-{imgsz}"
    return get(sized if sized in available(folder) else name_for(model), folder)


def starting_point(model: str, weights: str, imgsz: int = 640) -> tuple[str, str]:
    """What `YOLO(...)` should load for a profile's (model, weights, imgsz) and a one-line why.

    weights: '' (random init from the yaml), 'starter' (the shipped checkpoint for the model at this image size, or
    random init with a note when there is none), or a path to a .pt file.
    """
    if not weights:
        return model, f"{model}: random initialisation (training from scratch)"
    if weights == "starter":
        try:
            s = starter_for(model, imgsz)
        except WeightsError as e:
            return model, f"{model}: random initialisation ({str(e).split('(')[0].strip()})"
        m = s.provenance.get("metrics", {})
        score = f", mAP50 {m['mAP50']:.3f} at {m['imgsz']} px" if "mAP50" in m else ""
        return str(s.path), f"{s.name}: starter weights trained on synthetic shapes{score}"
    path = Path(weights)
    if not path.exists():
        raise WeightsError(f"weights={weights!r}: no such file. Use '' (scratch), 'starter', or a .pt path.")
    return str(path), f"{path.name}: weights from a file"


def class_note(start: str | Path, data_yaml: str | Path) -> str:
    """'' when a checkpoint predicts the dataset's classes; otherwise, in words, why its own score on this data is 0
    by construction and what training carries over (the weights whose shapes fit)."""
    if not str(start).endswith(".pt"):
        return ""
    import torch

    from helpers.data.sources import class_names, load_yaml

    ckpt = torch.load(str(start), map_location="cpu", weights_only=False)
    model = ckpt.get("ema") or ckpt.get("model")
    names = getattr(model, "names", None) or []
    theirs = list(names.values()) if isinstance(names, dict) else list(names)
    ours = class_names(load_yaml(data_yaml))
    if theirs == ours:
        return ""
    return (f"{Path(start).name} predicts {len(theirs)} classes ({', '.join(map(str, theirs[:5]))}"
            f"{' ...' if len(theirs) > 5 else ''}); this dataset has {len(ours)} ({', '.join(ours[:5])}"
            f"{' ...' if len(ours) > 5 else ''}). Training, Ultralytics transfers every weight whose shape fits "
            f"(backbone, neck, the head's box branch) and builds new outputs for {len(ours)} classes; the "
            "checkpoint as it is scores 0 here by construction (its validation skips the labels of classes it "
            "cannot predict). What carries over is the features, not the classes.")
