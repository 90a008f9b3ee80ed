"""What the workbook's patches of Ultralytics were written against: the Ultralytics major.minor, and the source of
each upstream function a patch replaces, wraps or copies (its sha256, which tests/code/test_upstream_patches.py checks).

A trick module that patches or copies Ultralytics code declares `WRITTEN_FOR = "8.4"` and `UPSTREAM = {dotted name:
sha256 of inspect.getsource}`; `check_version` warns once per patch when the installed Ultralytics is another
major.minor, and the test fails when an upstream body changes, so the patch is re-checked against the new code.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import warnings
from collections.abc import Callable

_WARNED: set[str] = set()


def major_minor(version: str) -> str:
    """'8.4' from '8.4.190'."""
    return ".".join(version.split(".")[:2])


def check_version(written_for: str, what: str) -> bool:
    """True when the installed Ultralytics is the major.minor `written_for`; otherwise False and one warning (per
    patch) saying that `what` was written for another Ultralytics and must be re-checked."""
    import ultralytics

    if major_minor(ultralytics.__version__) == written_for:
        return True
    if what not in _WARNED:
        _WARNED.add(what)
        warnings.warn(f"{what} was written for Ultralytics {written_for}.x, this is {ultralytics.__version__}: "
                      "re-check the patch against this Ultralytics' code", RuntimeWarning, stacklevel=2)
    return False


def resolve(dotted: str) -> Callable:
    """The function named 'package.module.Class.method' (the longest importable module prefix, then attributes);
    where a workbook wrapper is in place, the function it wraps (its `_workbook_original`)."""
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        while hasattr(obj, "_workbook_original"):
            obj = obj._workbook_original
        return obj
    raise ImportError(f"nothing importable in {dotted!r}")


def source_hash(fn: Callable) -> str:
    """sha256 of the function's source text, as `inspect.getsource` gives it."""
    return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()


def changed(upstream: dict[str, str]) -> list[str]:
    """The names in an UPSTREAM table whose installed source no longer hashes as recorded."""
    return [name for name, digest in upstream.items() if source_hash(resolve(name)) != digest]
