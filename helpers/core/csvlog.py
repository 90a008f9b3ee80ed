"""Per-epoch CSV logs of a run folder: written whole from a list of rows, and trimmed to the epochs a checkpoint covers."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any


def write_rows(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """The rows as a CSV file (columns in the order they first appear)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def read_rows(path: str | Path) -> list[dict[str, str]]:
    """A CSV file's rows ([] when there is none)."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [dict(r) for r in csv.DictReader(f)]


def keep_epochs(path: str | Path, last_epoch: int) -> list[str]:
    """Keep a per-epoch CSV's header and its rows of epochs 1..last_epoch (the first column); returns the lines kept
    ([] if absent)."""
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    kept = [lines[0]] + [ln for ln in lines[1:] if ln and float(ln.split(",")[0]) <= last_epoch]
    path.write_text("\n".join(kept) + "\n")
    return kept
