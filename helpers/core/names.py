"""The nearest known name to a misspelt one: the one rule behind every "did you mean" of the workbook."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def nearest(name: str, known: Iterable[object], cutoff: float = 0.5) -> str | None:
    """The known name closest to `name`, case aside ('adamx' finds 'Adamax'), in its own spelling; None if none is."""
    spelled = {str(k).lower(): str(k) for k in known}
    near = difflib.get_close_matches(str(name).lower(), list(spelled), n=1, cutoff=cutoff)
    return spelled[near[0]] if near else None


def closest(name: str, known: Iterable[object]) -> str:
    """' (did you mean X?)' for the nearest known name, or ''."""
    near = nearest(name, known)
    return f" (did you mean {near!r}?)" if near else ""
