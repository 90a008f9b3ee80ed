"""A notebook's "What you learned": its lessons as a Markdown list, each a sentence built from what it measured."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from helpers.core.tables import listing  # noqa: F401  (notebooks call lessons.listing)

PREFIX = "[recorded] "


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
            for line in path.read_text().splitlines():
                if line.startswith(PREFIX) and ": " in line:
                    name, text = line.removeprefix(PREFIX).split(": ", 1)
                    out[name.strip()] = _value(text.strip())
    return {k: v for k, v in out.items() if not any(k == o or k.endswith(o) for o in rec.omit)}


def _value(text: str) -> Any:
    """A recorded value as written by helpers.record: a number (its unit dropped) or the text itself."""
    first = text.split(" ", 1)[0]
    try:
        number = float(first)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in first else number
