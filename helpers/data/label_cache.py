"""Ultralytics' label caches in the workbook's cache folder instead of the user's dataset folder.

Ultralytics saves each split's parsed labels as `labels/<split>.cache` beside the labels. The workbook promises to
leave a user's dataset folder as it was, so `install()` points Ultralytics' two cache functions (as its dataset
module imported them) at `runs/cache/labels/<hash of the folder>/<split>.cache`. Ultralytics' own validity check
(the hash of the files' paths and sizes, and the cache version) is unchanged. `cache="disk"` is another matter:
Ultralytics writes one `.npy` per image beside the image (the README says so); the workbook does not move those.
"""

from __future__ import annotations

import hashlib
import inspect
import shutil
from pathlib import Path

from helpers.core import paths

WRITTEN_FOR = "8.4"  # the Ultralytics minor whose functions are replaced (checked at install)
_STATE: dict = {}


def cache_dir() -> Path:
    return paths.runs_dir() / "cache" / "labels"


def cached_path(path: str | Path) -> Path:
    """Where the cache Ultralytics would write at `path` lives: one folder per labels folder."""
    path = Path(path)
    key = hashlib.sha1(str(path.resolve().parent).encode()).hexdigest()[:16]
    return cache_dir() / key / path.name


def forget(root: str | Path) -> int:
    """Remove the caches of every labels folder under `root` (after its files were changed in place); returns how
    many folders were removed."""
    root = Path(root).resolve()
    n = 0
    for target in {cached_path(p.parent.with_suffix(".cache")).parent for p in root.rglob("*.txt")}:
        if target.exists():  # Ultralytics' cache of a split folder F is F.with_suffix('.cache')
            shutil.rmtree(target, ignore_errors=True)
            n += 1
    for stale in root.rglob("*.cache"):  # written before the redirect, or by plain Ultralytics
        stale.unlink()
    return n


def install() -> bool:
    """Redirect Ultralytics' label caches (idempotent); False, with the reason kept in `why_not()`, if this
    Ultralytics' functions are not the ones this was written for."""
    if _STATE.get("installed"):
        return True
    import ultralytics
    from ultralytics.data import dataset as ds

    load, save = getattr(ds, "load_dataset_cache_file", None), getattr(ds, "save_dataset_cache_file", None)
    ok = (load is not None and save is not None and ultralytics.__version__.startswith(WRITTEN_FOR) and
          list(inspect.signature(load).parameters) == ["path"] and
          list(inspect.signature(save).parameters) == ["prefix", "path", "x", "version"])
    if not ok:
        _STATE["why_not"] = (f"Ultralytics {ultralytics.__version__}'s dataset cache functions are not the {WRITTEN_FOR} "
                             "ones: label caches stay beside the labels")
        return False

    def load_elsewhere(path):
        return load(cached_path(path))

    def save_elsewhere(prefix, path, x, version):
        target = cached_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        return save(prefix, target, x, version)

    ds.load_dataset_cache_file, ds.save_dataset_cache_file = load_elsewhere, save_elsewhere
    _STATE.update(installed=True, original=(load, save))
    return True


def why_not() -> str:
    return _STATE.get("why_not", "")
