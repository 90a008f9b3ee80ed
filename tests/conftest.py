"""Shared fixtures. Outputs go to a temporary runs folder; GPU tests skip cleanly without CUDA."""

from __future__ import annotations

import pytest

import helpers  # noqa: F401  (sets YOLO_OFFLINE before anything imports ultralytics)
from helpers.core import profiles


@pytest.hookimpl(tryfirst=True)  # before -m selects: the marks must be on the items by then
def pytest_collection_modifyitems(config, items):
    """nbval's notebook cells count as slow (they run the workbook: `make test-slow`); GPU tests skip without CUDA."""
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)
    if profiles.cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """An isolated WORKBOOK_RUNS folder."""
    monkeypatch.setenv("WORKBOOK_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


@pytest.fixture(autouse=True)
def _workbook_variables_restored():
    """Each test leaves the workbook's own variables (WORKBOOK_*) as it found them: a command's main() may set one
    in-process (the torchrun worker marks its process), and a later test must not inherit it."""
    import os

    before = {k: v for k, v in os.environ.items() if k.startswith("WORKBOOK_")}
    yield
    for k in [k for k in os.environ if k.startswith("WORKBOOK_") and k not in before]:
        del os.environ[k]
    os.environ.update(before)
