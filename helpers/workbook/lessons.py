"""A notebook's "What you learned": its lessons as a Markdown list, each a sentence built from what it measured."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from helpers.core.tables import listing  # noqa: F401  (notebooks call lessons.listing)


def bullets(lessons: Iterable[str | None]) -> Any:
    """The lessons as a Markdown list, one bullet each; None or "" (a lesson this run does not hold) is left out."""
    from IPython.display import Markdown

    return Markdown("\n".join(f"- {line.strip()}" for line in lessons if line and line.strip()))


def recorded_figures(key: str) -> dict[str, Any]:
    """The figures a recorded GPU result (helpers.records.evidence) holds, by name: its summary .json's records and
    the `[recorded] name: value unit` lines of its .md tables (numbers as numbers), less those it omits."""
    from helpers.records import evidence

    rec = evidence.get(key)
    out: dict[str, Any] = {}
    for path in rec.paths():
        if path.name.endswith("-summary.json"):
            out.update(evidence.summary_figures(path))
        elif path.suffix == ".md":
            out.update(evidence.recorded_lines(path.read_text()))
    return {k: v for k, v in out.items() if not any(k == o or k.endswith(o) for o in rec.omit)}
