"""Dataset sources: read a dataset yaml, list its images, find the real datasets beside the repo, copy them to a
writable place, choose one for a run.

Ultralytics writes `labels/*.cache` files beside the labels, so a dataset under the read-only `../shared` is always
used through a copy under `runs/datasets/`.
"""

from __future__ import annotations

import glob

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from helpers.core import paths
from helpers.core.profiles import Profile
from helpers.data import synthetic

IMG_SUFFIXES = {".avif", ".bmp", ".dng", ".heic", ".heif", ".jp2", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff",
                ".webp"}  # Ultralytics' IMG_FORMATS


class DatasetError(ValueError):
    """A dataset that cannot be used as given; the message says what to change."""


@dataclass(frozen=True)
class SplitSource:
    """One split as Ultralytics will read it: a folder of images, a .txt list of images, or several of these."""

    split: str
    locations: tuple[Path, ...]


def load_yaml(data_yaml: str | Path) -> dict[str, Any]:
    """Read a dataset yaml, with a clear error for a missing file or broken YAML."""
    p = Path(data_yaml)
    if not p.is_file():
        raise DatasetError(f"Dataset yaml not found: {p}. Give the path to a YOLO dataset .yaml file.")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise DatasetError(f"{p} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{p} should hold a mapping with 'train', 'val' and 'names'; it holds {type(data).__name__}.")
    return data


def class_names(data: dict[str, Any]) -> list[str]:
    """Class names from `names` (list or {id: name}) or `nc`."""
    names = data.get("names")
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names, key=int)]
    if isinstance(names, list):
        return [str(n) for n in names]
    if "nc" in data:
        try:
            return [f"class_{i}" for i in range(int(data["nc"]))]
        except (TypeError, ValueError):
            raise DatasetError(f"'nc: {data['nc']}' must be a whole number of classes.") from None
    raise DatasetError("The dataset yaml has neither 'names' nor 'nc'.")


def dataset_root(data_yaml: str | Path, data: dict[str, Any]) -> Path:
    """The root folder, resolved as Ultralytics does: `path:` (cwd-relative, else under its datasets dir) or the yaml's folder."""
    raw = data.get("path")
    if not raw:
        return Path(data_yaml).resolve().parent
    root = Path(raw)
    if not root.exists() and not root.is_absolute():
        from ultralytics.utils import DATASETS_DIR

        root = (Path(DATASETS_DIR) / root).resolve()
    return root


def split_sources(data_yaml: str | Path, data: dict[str, Any] | None = None) -> list[SplitSource]:
    """Where each split's images are, as absolute paths (train, val, and test if given)."""
    data = data if data is not None else load_yaml(data_yaml)
    root = dataset_root(data_yaml, data)
    out = []
    for split in ("train", "val", "test"):
        value = data.get(split)
        if split == "val" and "val" not in data:
            value = data.get("validation")  # Ultralytics renames a 'validation:' key to 'val:'
        if not value:
            continue
        items = value if isinstance(value, list) else [value]
        locs = []
        for item in items:
            p = (root / str(item)).resolve()
            if not p.exists() and str(item).startswith("../"):
                p = (root / str(item)[3:]).resolve()  # Ultralytics' own fallback
            locs.append(p)
        out.append(SplitSource(split, tuple(locs)))
    return out


def list_images(location: Path) -> tuple[list[Path], list[tuple[int, Path]]]:
    """(images, [(line, missing path)]) of a split location: a folder (searched recursively) or a .txt list of image
    paths read as Ultralytics reads them: a line starting with './' is relative to the list's folder, any other
    relative line to the current folder (UTF-8, a byte-order mark allowed). A location that does not exist gives
    ([], [])."""
    if location.is_dir():  # Ultralytics' glob: hidden files and folders (._x.jpg, .thumbnails/) are not images
        found = glob.glob(str(Path(glob.escape(location)) / "**" / "*.*"), recursive=True)
        return sorted(Path(p) for p in found if "." + p.rpartition(".")[-1].lower() in IMG_SUFFIXES), []
    if location.is_file() and location.suffix == ".txt":
        found, missing = [], []
        for n, line in enumerate(location.read_text(encoding="utf-8-sig").splitlines(), 1):
            line = line.strip()
            if line and "." + line.rpartition(".")[-1].lower() in IMG_SUFFIXES:  # Ultralytics skips other lines
                p = location.parent / line[2:] if line.startswith("./") else Path(line)
                p = p.resolve() if p.is_absolute() or line.startswith("./") else Path.cwd() / p
                (found.append(p) if p.exists() else missing.append((n, p)))
        return found, missing
    return [], []


def count_images(data_yaml: str | Path, split: str = "train") -> int:
    """Images of one split as Ultralytics will load them (no file is opened)."""
    for src in split_sources(data_yaml):
        if src.split == split:
            return sum(len(list_images(loc)[0]) for loc in src.locations)
    return 0


def find_shared() -> dict[str, Path]:
    """Real datasets shipped beside the repo: {name: yaml path}. Empty when ../shared/datasets is absent."""
    base = paths.shared_datasets_dir()
    if base is None:
        return {}
    found = {}
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        yamls = sorted(folder.glob("*.yaml"))
        if yamls:
            found[folder.name] = yamls[0]
    return found


def copy_dataset(data_yaml: str | Path, dest: str | Path | None = None) -> Path:
    """Copy a dataset (images and labels) to a writable folder and return the copy's yaml (absolute `path:`).

    An existing copy with the same files is reused.
    """
    data_yaml = Path(data_yaml)
    data = load_yaml(data_yaml)
    src_root = dataset_root(data_yaml, data)
    dest = Path(dest) if dest else paths.datasets_dir() / src_root.name
    if src_root.resolve() == dest.resolve():
        raise DatasetError("Source and destination are the same folder.")
    src_files = sorted(p.relative_to(src_root) for p in src_root.rglob("*") if p.is_file() and p.suffix != ".cache")
    have = sorted(p.relative_to(dest) for p in dest.rglob("*") if p.is_file()) if dest.exists() else []
    if not set(src_files) <= set(have):
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(src_root, dest, ignore=shutil.ignore_patterns("*.cache"))
        for p in dest.rglob("*"):  # a read-only source would leave a read-only copy
            p.chmod(p.stat().st_mode | 0o200)
    copy = dict(data, path=str(dest.resolve()))
    out = dest / data_yaml.name
    out.write_text(yaml.safe_dump(copy, sort_keys=False))
    return out


def synthetic_for(profile: Profile, *, progress: bool = True) -> Path:
    """The synthetic dataset sized for a profile (generated once, then reused)."""
    spec = synthetic.SynthSpec(n_train=profile.n_train, n_val=profile.n_val, imgsz=profile.imgsz, seed=profile.seed)
    root = paths.datasets_dir() / f"synthetic-{spec.imgsz}px-{spec.n_train}-{spec.n_val}-s{spec.seed}"
    return synthetic.generate(root, spec, progress=progress)


def dataset_yaml(source: str | Path) -> Path:
    """The dataset yaml a path means: the path itself, or the one .yaml in a folder (an error naming what is there
    otherwise)."""
    p = Path(source).expanduser()
    if p.is_dir():
        yamls = sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml"))
        if len(yamls) != 1:
            found = ", ".join(y.name for y in yamls) or "none"
            raise DatasetError(f"{p} is a folder; it should hold exactly one dataset .yaml (found: {found}). "
                               "Give the yaml's path instead.")
        p = yamls[0]
    return p


def choose(source: str, profile: Profile) -> Path:
    """A ready-to-train dataset yaml for `source`: 'synthetic', a shared dataset name (e.g. 'coco8'), a dataset yaml,
    or a folder holding one. Anything under the read-only shared folder is used through a copy."""
    if source in ("", "synthetic"):
        return synthetic_for(profile)
    shared = find_shared()
    if source in shared:
        return copy_dataset(shared[source])
    p = dataset_yaml(source)
    if p.suffix in (".yaml", ".yml"):
        load_yaml(p)  # clear error if missing or broken
        base = paths.shared_datasets_dir()
        if base is not None and p.resolve().is_relative_to(base):
            return copy_dataset(p)  # Ultralytics writes label caches beside the labels: never into ../shared
        return p
    names = ", ".join(["synthetic", *shared]) or "synthetic"
    raise DatasetError(f"Unknown dataset {source!r}. Use one of: {names}, a dataset .yaml, or a folder holding one.")
