"""Plain Papermill, as anyone runs it (not the workbook's runner: no $WORKBOOK_HEADLESS), goes past notebook 10's
confidence slider without waiting: the slider draws once as plain output and leaves nbclient nothing to answer, so
the notebook ends far inside its time-out (issue 35: `ipywidgets.interact` held that cell for the whole time-out,
papermill #723, nbclient #312)."""

import os
import time

import papermill
import pytest
from nbclient.output_widget import OutputWidget

from helpers.core import paths
from helpers.workbook.runner import kernel_name

TIMEOUT = 120  # seconds a cell may take; the slider cell used to take all of them


@pytest.mark.slow
def test_plain_papermill_does_not_wait_on_the_slider(tmp_path, runs, monkeypatch):
    for k in [k for k in os.environ if k.startswith("WORKBOOK_") and k != "WORKBOOK_RUNS"]:
        monkeypatch.delenv(k)  # WORKBOOK_RUNS (the `runs` fixture) only keeps the outputs out of the repo
    shell_sends = []  # nbclient's stand-in for an Output widget writes to the kernel's shell channel mid-cell
    send = OutputWidget.send
    monkeypatch.setattr(OutputWidget, "send", lambda self, *a, **k: (shell_sends.append(self.comm_id),
                                                                      send(self, *a, **k))[1])
    start = time.monotonic()
    nb = papermill.execute_notebook(paths.NOTEBOOKS / "10_your_own_dataset.ipynb", tmp_path / "10.ipynb",
                                    parameters={"profile": "quick", "epochs": 1, "export_onnx": False},
                                    kernel_name=kernel_name(), execution_timeout=TIMEOUT, progress_bar=False,
                                    cwd=str(paths.NOTEBOOKS))
    wall = time.monotonic() - start
    cell = next(c for c in nb.cells if "views.predictions(" in c.source)
    assert cell.metadata.papermill.duration < 20, cell.metadata.papermill.duration  # seconds, not the time-out
    assert wall < TIMEOUT, wall
    assert shell_sends == []
    (shown,) = [o for o in cell.outputs if o.output_type == "display_data"]
    assert "application/vnd.jupyter.widget-view+json" in shown.data  # the slider is there, as a widget
    assert "image/png" in shown.data  # and the drawing is plain output a reader of the executed notebook sees
