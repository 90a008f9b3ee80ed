"""The slider that redraws a figure: one plain drawing, the widget in the same output where widgets work, its
drawing set on the Output widget (never captured: what left nbclient waiting, issue 35), a redraw on a move."""

import matplotlib.pyplot as plt
import pytest

from helpers.workbook import panel, redraw

WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def shown(monkeypatch):
    """What the code displays, as (object, raw) pairs."""
    out = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: out.append((obj, raw)))
    return out


def figure(conf: float):
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.set_title(f"{conf:g}")
    return fig


def test_headless_draws_once_as_plain_output(monkeypatch, shown):
    monkeypatch.setenv(redraw.HEADLESS_VAR, "1")
    open_before = plt.get_fignums()  # other tests' figures
    assert redraw.slider(figure, "conf", 0.25) is None
    ((bundle, raw),) = shown
    assert raw and set(bundle) == {"image/png", "text/plain"} and bundle["text/plain"] == "conf = 0.25"
    assert plt.get_fignums() == open_before  # closed: the cell's end does not draw it again


def test_with_widgets_one_output_holds_the_widget_and_the_drawing_and_a_move_redraws(monkeypatch, shown):
    monkeypatch.delenv(redraw.HEADLESS_VAR, raising=False)
    seen, open_before = [], plt.get_fignums()

    def draw(conf):
        seen.append(conf)
        if conf > 0.9:
            raise ValueError("too high")
        figure(conf)  # drawn, not returned: the current figure is taken

    box = redraw.slider(draw, "conf", 0.25)
    control, out = box.children
    ((bundle, raw),) = shown
    assert raw and bundle[WIDGET]["model_id"] == box.model_id and bundle["image/png"]
    assert bundle["text/plain"] == "conf = 0.25" and not control.continuous_update
    assert [o["data"]["text/plain"] for o in out.outputs] == ["conf = 0.25"]  # the same drawing, set in the widget
    control.value = 0.5  # as a released slider would
    assert seen == [0.25, 0.5] and [o["data"]["text/plain"] for o in out.outputs] == ["conf = 0.5"]
    control.value = 0.95
    assert out.outputs[0]["output_type"] == "stream" and "ValueError: too high" in out.outputs[0]["text"]
    assert len(shown) == 1 and plt.get_fignums() == open_before


def test_panel_shows_its_values_as_text_beside_the_widgets(monkeypatch, shown):
    monkeypatch.delenv(redraw.HEADLESS_VAR, raising=False)
    p = panel.Panel({"epochs": 3, "nbs": 64, "batch": 8}, title="t")
    p.show()
    ((bundle, raw),) = shown
    assert raw and WIDGET in bundle and bundle["text/plain"] == "t: " + p.summary()
