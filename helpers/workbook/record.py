"""Record a notebook's key figures (images/s, peak memory, mAP ...) so the headless runner can summarise them.

`record()` displays one output with a private MIME type beside a short plain-text line; the runner reads that MIME
type back from the executed notebook. Nothing is written to disk, so it works the same in JupyterLab and Papermill.
"""

from __future__ import annotations

import json
import math
from typing import Any

MIME = "application/x.yolo-b256-workbook.record+json"


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy / torch scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    json.dumps(value)  # raises for anything that would not survive the notebook file
    return value


def record(name: str, value: Any, unit: str = "") -> None:
    """Show `name: value unit` and store it for the workbook summary."""
    from IPython.display import display

    value = _jsonable(value)
    shown = f"{value:.4g}" if isinstance(value, float) else str(value)
    text = f"[recorded] {name}: {shown}{(' ' + unit) if unit else ''}"
    display({MIME: {"name": name, "value": value, "unit": unit}, "text/plain": text}, raw=True)


def read_records(nb: Any) -> list[dict[str, Any]]:
    """All records in an executed notebook (an nbformat node or a plain dict), in cell order."""
    out = []
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if MIME in data:
                rec = data[MIME]
                out.append(json.loads(rec) if isinstance(rec, str) else dict(rec))
    return out
