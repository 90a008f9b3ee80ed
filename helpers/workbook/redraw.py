"""Widgets that no notebook client waits on: a figure drawn once as plain output, redrawn when a slider moves.

`ipywidgets.interact` sends its drawing through an Output widget while the cell runs. nbclient (what Papermill and
nbconvert run notebooks with) then mimics that widget by sending on the kernel's shell channel, and can miss the
cell's reply until the cell's time-out (papermill #723, nbclient #312). Here nothing is captured while a cell runs:
the first drawing is both the output's own image (what a client without widgets keeps) and the Output widget's
content (set, not captured); only a slider move, which needs a browser, replaces that content.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable
from typing import Any

HEADLESS_VAR = "WORKBOOK_HEADLESS"  # set by the workbook's runner: nobody can click


def headless() -> bool:
    """True when no one can click: $WORKBOOK_HEADLESS is set (the workbook runner sets it) or ipywidgets is missing."""
    if os.environ.get(HEADLESS_VAR, "").strip() not in ("", "0"):
        return True
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return True
    return False


def png(fig: Any) -> bytes:
    """A matplotlib figure (None: the current one) as PNG bytes; the figure is closed, so the cell's end does not
    draw it a second time."""
    import matplotlib.pyplot as plt

    fig = plt.gcf() if fig is None else fig
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def image(fig: Any, text: str) -> dict[str, str]:
    """A figure as a MIME bundle: its PNG and a line of text."""
    return {"image/png": base64.b64encode(png(fig)).decode("ascii"), "text/plain": text}


def show(widget: Any, plain: dict[str, Any]) -> None:
    """Display `widget` as one output that also holds `plain` (a MIME bundle): JupyterLab draws the widget, a client
    without widgets (Papermill, nbconvert) keeps the plain drawing."""
    from IPython.display import display

    display({**widget._repr_mimebundle_(), **plain}, raw=True)


def slider(fn: Callable[[float], Any], name: str, value: float, lo: float = 0.0, hi: float = 1.0,
           step: float = 0.05) -> Any:
    """Draw `fn(value)` (the matplotlib figure it returns, or else draws) as plain output; with widgets, a slider
    over `name` redraws it when released. Returns that widget (None headless: no ipywidgets, or $WORKBOOK_HEADLESS)."""
    from IPython.display import display

    first = image(fn(value), f"{name} = {value:g}")
    if headless():
        display(first, raw=True)
        return None
    import ipywidgets as w

    control = w.FloatSlider(value=value, min=lo, max=hi, step=step, description=name, continuous_update=False)
    out = w.Output(outputs=({"output_type": "display_data", "data": first, "metadata": {}},))

    def redraw(change: dict) -> None:
        try:
            drawn = {"output_type": "display_data", "metadata": {},
                     "data": image(fn(change["new"]), f"{name} = {change['new']:g}")}
        except Exception as e:  # shown where the drawing was: a callback's exception would only reach the log
            drawn = {"output_type": "stream", "name": "stderr", "text": f"{type(e).__name__}: {e}\n"}
        out.outputs = (drawn,)

    control.observe(redraw, names="value")
    box = w.VBox([control, out])
    show(box, first)
    return box
