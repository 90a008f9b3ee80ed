"""A dataset without the files the validator rejected, for a user who asks for that explicitly.

The user's files are never touched: the view is a list of the kept images per split and a yaml pointing at those
lists, written under runs/datasets/. Problems of the whole dataset (a yaml that disagrees with its files) cannot be
dropped and still stop training.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from helpers.core import paths
from helpers.data.sources import DatasetError, list_images, load_yaml, split_sources
from helpers.data.validate import Report, label_path

# Problems that belong to one image or its label file: dropping that image removes them.
PER_FILE = {"corrupt-image", "tiny-image", "bad-line", "not-a-number", "class-out-of-range", "coord-out-of-range",
            "zero-size-box", "missing-image"}


def without_errors(data_yaml: str | Path, report: Report) -> tuple[Path, list[tuple[str, str]]]:
    """(yaml of the dataset minus every image with an error, [(dropped file, why)]); raises DatasetError when an
    error is not about one file."""
    whole = [p for p in report.errors if p.kind not in PER_FILE]
    if whole:
        listing = "\n".join(f"  {p.file}: {p.kind}: {p.message}" for p in whole)
        raise DatasetError(f"{data_yaml}: these problems concern the whole dataset; dropping files cannot fix them:\n"
                           f"{listing}")
    bad: dict[str, str] = {}
    for p in report.errors:
        bad.setdefault(p.file, f"{p.kind}" + (f" (line {p.line})" if p.line else "") + f": {p.message}")
    data = load_yaml(data_yaml)
    key = hashlib.sha256(str(Path(data_yaml).resolve()).encode()).hexdigest()[:10]
    out = paths.datasets_dir() / f"clean-{Path(data_yaml).stem}-{key}"
    out.mkdir(parents=True, exist_ok=True)
    dropped: list[tuple[str, str]] = []
    view = {k: v for k, v in data.items() if k not in ("path", "train", "val", "test")}
    for src in split_sources(data_yaml, data):
        kept = []
        for loc in src.locations:
            for img in list_images(loc)[0]:
                why = bad.get(str(img)) or bad.get(str(label_path(img)))
                if why:
                    dropped.append((str(img), why))
                else:
                    kept.append(str(img))
        (out / f"{src.split}.txt").write_text("\n".join(kept) + "\n")
        view[src.split] = str(out / f"{src.split}.txt")
    target = out / Path(data_yaml).name
    target.write_text(yaml.safe_dump(view, sort_keys=False))
    return target, sorted(set(dropped))
