"""Where the workbook keeps things: the repo root, its `runs/` output folder and the shared datasets beside it."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def runs_dir() -> Path:
    """Output root for runs and generated data ($WORKBOOK_RUNS, default <repo>/runs; empty counts as unset)."""
    return Path(os.environ.get("WORKBOOK_RUNS") or ROOT / "runs").resolve()


def datasets_dir() -> Path:
    """Where generated datasets and copies of shared datasets live ($WORKBOOK_DATASETS, default runs/datasets; never
    inside ../shared). A sweep's points share one."""
    return Path(os.environ.get("WORKBOOK_DATASETS") or runs_dir() / "datasets").resolve()


def shared_datasets_dir() -> Path | None:
    """The read-only real datasets beside the repo ($WORKBOOK_SHARED_DATASETS or ../shared/datasets), if present."""
    env = os.environ.get("WORKBOOK_SHARED_DATASETS")
    path = Path(env) if env else ROOT.parent / "shared" / "datasets"
    return path.resolve() if path.is_dir() else None


def keep_compile_cache() -> Path:
    """Point torch.compile's on-disk caches (Inductor's and Triton's) at runs/cache/compile unless the user set them,
    so a later run on this machine reuses the kernels an earlier one compiled (a shorter first epoch)."""
    root = runs_dir() / "cache" / "compile"
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(root / "inductor"))
    os.environ.setdefault("TRITON_CACHE_DIR", str(root / "triton"))
    return root
