"""Ultralytics' label caches in the workbook's cache folder instead of the user's dataset folder, and its JPEG
repair kept out of that folder too.

Ultralytics saves each split's parsed labels as `labels/<split>.cache` beside the labels. The workbook promises to
leave a user's dataset folder as it was, so `install()` points Ultralytics' two cache functions (as its dataset
module imported them) at `runs/cache/labels/<hash of the folder>/<split>.cache`. Ultralytics' own validity check
(the hash of the files' paths and sizes, and the cache version) is unchanged. Ultralytics also rewrites, in place, a JPEG that does not end with its end marker
(`check_image` -> `_replace_image`); `install()` lets it decode and re-encode the image as before (a file that does
not decode is still dropped) but into a scratch file that is then removed, so the user's image stays as it was and
the loader reads it as it is; Ultralytics' log line about it says so. With `cache="disk"` Ultralytics writes one `.npy` per image beside the image;
`install()` points those at `runs/cache/npy/<hash of the image folder>/` and checks that folder's free space instead.
"""

from __future__ import annotations

import hashlib
import inspect
import shutil
from pathlib import Path

from helpers.core import paths

WRITTEN_FOR = "8.4"  # the Ultralytics minor whose functions are replaced (checked at install)
UPSTREAM = {  # sha256 of inspect.getsource of the replaced functions (tests/code/test_upstream_patches.py checks them)
    "ultralytics.data.utils.load_dataset_cache_file":
        "1c6cea96ce88f24d624644312af980f2c7fbe098fe5595f8ba7084a91cdeac78",
    "ultralytics.data.utils.save_dataset_cache_file":
        "ff400df7acf00376a38489ee03480c5cbcd06c98df45b1b055e9f8752be4a63f",
    "ultralytics.data.utils._replace_image": "355d12b4e757f5e9c7a2db124e608b5b7b664f9cc05697a3e0a68f928310cbd0",
    "ultralytics.data.base.BaseDataset.check_cache_disk":
        "fdf8df68df57e1f35197ad8817014cd8917cff0c1c0e271714e83762ec9e24be",
}
_STATE: dict = {}


def cache_dir() -> Path:
    return paths.runs_dir() / "cache" / "labels"


def cached_path(path: str | Path) -> Path:
    """Where the cache Ultralytics would write at `path` lives: one folder per labels folder."""
    path = Path(path)
    return cache_dir() / _folder_key(path) / path.name


def _folder_key(path: Path) -> str:
    """The cache subfolder of the folder holding `path`: a short hash of its resolved path."""
    return hashlib.sha1(str(path.resolve().parent).encode()).hexdigest()[:16]


def npy_path(im_file: str | Path) -> Path:
    """Where cache='disk' keeps an image's decoded copy: one folder per image folder, under the cache folder."""
    im_file = Path(im_file)
    return paths.runs_dir() / "cache" / "npy" / _folder_key(im_file) / im_file.with_suffix(".npy").name


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

    load_elsewhere._workbook_original, save_elsewhere._workbook_original = load, save  # what the hash test reads
    ds.load_dataset_cache_file, ds.save_dataset_cache_file = load_elsewhere, save_elsewhere
    _STATE.update(installed=True, original=(load, save))
    _keep_images()
    _npy_elsewhere()
    return True


def _keep_images() -> None:
    """Ultralytics' in-place JPEG repair writes to a scratch file in the cache folder, which is removed."""
    import uuid

    from ultralytics.data import utils as du

    replace = getattr(du, "_replace_image", None)
    if replace is None or list(inspect.signature(replace).parameters) != ["im_file", "write"]:
        return  # a different Ultralytics: its repair is not redirected (the validator warns about such files)

    def decode_only(im_file, write):
        scratch = cache_dir().parent / "scratch"
        scratch.mkdir(parents=True, exist_ok=True)
        tmp = scratch / f"{uuid.uuid4().hex}{Path(im_file).suffix}"
        try:
            write(str(tmp))  # raises for an image that does not decode: Ultralytics then drops it, as before
        finally:
            tmp.unlink(missing_ok=True)

    decode_only._workbook_original = replace
    du._replace_image = decode_only
    from ultralytics.utils import LOGGER

    LOGGER.addFilter(_say_kept)


REPAIRED, KEPT = "corrupt JPEG restored and saved", "JPEG without its end marker: read as it is, the file left unchanged"


def _say_kept(record) -> bool:
    """Ultralytics' log says the JPEG was repaired in place; with the redirect the file was left as it was."""
    text = record.getMessage()
    if REPAIRED in text:
        record.msg, record.args = text.replace(REPAIRED, KEPT), ()
    return True


def _npy_elsewhere() -> None:
    """cache='disk': Ultralytics' check before it writes the .npy files (called only then) moves them to the cache
    folder and checks that folder's free space, as Ultralytics checks the images' folder."""
    from ultralytics.data.base import BaseDataset

    check = BaseDataset.check_cache_disk
    if hasattr(check, "_workbook_original") or list(inspect.signature(check).parameters) != ["self", "safety_margin"]:
        return  # installed already, or a different Ultralytics (the UPSTREAM hash test says which)

    def check_cache_disk(self, safety_margin: float = 0.1) -> bool:
        import random

        from ultralytics.utils import LOGGER
        from ultralytics.utils.patches import imread

        self.npy_files = [npy_path(f) for f in self.im_files]
        for folder in {f.parent for f in self.npy_files}:
            folder.mkdir(parents=True, exist_ok=True)
        b, gb, n = 0, 1 << 30, min(self.ni, 30)  # bytes of 30 random images, extrapolated as Ultralytics does
        for _ in range(n):
            im = imread(random.choice(self.im_files), flags=self.cv2_flag)
            b += im.nbytes if im is not None else 0
        required = b * self.ni / max(n, 1) * (1 + safety_margin)
        total, _used, free = shutil.disk_usage(self.npy_files[0].parent)
        if required > free:
            self.cache = None
            LOGGER.warning(f"{self.prefix}{required / gb:.1f}GB disk space required, with {int(safety_margin * 100)}% "
                           f"safety margin but only {free / gb:.1f}/{total / gb:.1f}GB free in "
                           f"{self.npy_files[0].parent.parent}, not caching images to disk")
            return False
        return True

    check_cache_disk._workbook_original = check
    BaseDataset.check_cache_disk = check_cache_disk


def why_not() -> str:
    return _STATE.get("why_not", "")
