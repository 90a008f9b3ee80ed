"""Offline by default: no weights, datasets or fonts fetched from the network.

Ultralytics reads YOLO_OFFLINE and YOLO_CONFIG_DIR when it is imported, so `configure()` runs in `helpers/__init__`
before anything imports ultralytics. Set WORKBOOK_ONLINE=1 to let Ultralytics go online (e.g. to fetch official weights yourself).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ONLINE_VAR = "WORKBOOK_ONLINE"
FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")


class OfflineError(ConnectionError):
    """Raised when a step would need the network while the workbook is offline.

    A ConnectionError, so Ultralytics' own offline handling applies (e.g. its AMP check is skipped, not failed).
    """


def is_offline() -> bool:
    """True unless the user opted into network use with WORKBOOK_ONLINE=1."""
    return os.environ.get(ONLINE_VAR, "").strip().lower() not in {"1", "true", "yes"}


def configure() -> bool:
    """Set YOLO_OFFLINE=1 (unless WORKBOOK_ONLINE=1) and Ultralytics' config folder (its settings, fonts) to the
    workbook's cache unless YOLO_CONFIG_DIR is set: nothing is read from or written to the user's own; return
    whether the workbook is offline."""
    from helpers.core import paths

    os.environ.setdefault("YOLO_CONFIG_DIR", str(paths.runs_dir() / "cache"))  # Ultralytics adds /Ultralytics
    offline = is_offline()
    if offline:
        os.environ["YOLO_OFFLINE"] = "1"
    return offline


def install_fonts() -> list[Path]:
    """Give Ultralytics a local font so its plotting never tries to download Arial.

    Ultralytics' `check_font` looks in its config dir, then matplotlib's font list, then downloads. We copy
    matplotlib's bundled DejaVu Sans (a real, freely licensed TTF) into the config dir under the names it asks for,
    then forget `check_font`'s cached answers: it is an lru_cache, and a lookup made before the fonts were placed
    (None on a fresh machine, offline) would otherwise be served for the rest of the process.
    """
    import matplotlib
    from ultralytics.utils import checks

    src = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    placed = []
    for name in FONT_NAMES:
        dst = Path(checks.USER_CONFIG_DIR) / name  # the folder check_font itself reads
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        placed.append(dst)
    cached = getattr(checks.check_font, "__wrapped__", checks.check_font)  # under Ultralytics' ThreadingLocked
    if hasattr(cached, "cache_clear"):
        cached.cache_clear()
    return placed


def block_downloads() -> bool:
    """Offline, make Ultralytics' one download function fail at once with a clear OfflineError (no network attempt).

    YOLO_OFFLINE alone does not stop Ultralytics from trying to fetch a dataset named like 'coco8.yaml' or the
    yolo26n.pt its AMP check wants. Returns True when downloads are blocked.
    """
    if not is_offline():
        return False
    import ultralytics.data.utils as data_utils
    import ultralytics.utils.downloads as downloads

    def refuse(url: str = "", *args, **kwargs):
        raise OfflineError(
            f"Not downloading {url}: the workbook is offline (YOLO_OFFLINE=1). Use local files (a dataset .yaml "
            f"path, a model .yaml config); set {ONLINE_VAR}=1 to allow downloads."
        )

    def no_release_lookup(repo: str = "", *args, **kwargs):
        raise OfflineError(f"Not asking GitHub for the release assets of {repo}: the workbook is offline "
                           f"(YOLO_OFFLINE=1). Use a local file; set {ONLINE_VAR}=1 to allow network access.")

    downloads.safe_download = refuse
    data_utils.safe_download = refuse
    downloads.get_github_assets = no_release_lookup  # unknown weight names are looked up on GitHub first
    return True


def prepare_ultralytics() -> None:
    """Everything Ultralytics needs to run offline here: a local font, and downloads refused up front."""
    install_fonts()
    block_downloads()


def require_local(path: str | os.PathLike) -> Path:
    """Return `path` if it exists locally; offline, a missing weights/data file is a clear error, not a download."""
    p = Path(path)
    if p.exists():
        return p
    if is_offline():
        hint = ""
        if p.suffix == ".pt":
            hint = f" Build the model from its config instead (e.g. '{p.stem}.yaml'), or copy the file to {p}."
        raise OfflineError(
            f"'{path}' is not on this machine and the workbook is offline (YOLO_OFFLINE=1), so nothing is "
            f"downloaded.{hint} To allow downloads, set {ONLINE_VAR}=1."
        )
    return p
