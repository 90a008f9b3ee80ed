"""A parameter panel: ipywidgets for the settings that matter, built from a notebook's parameters cell.

Interactive (JupyterLab): `panel.show()` draws the controls, a line of derived settings that follows every change
(computed by the run's `TrainPlan`: effective batch, lr0 by the chosen rule), and optional Plan / Train / Stop
buttons; training runs in a thread so Stop stays clickable. A client without widgets (Papermill, nbconvert) keeps
the values as text in the same output, and waits on nothing. Headless ($WORKBOOK_HEADLESS=1, set by the workbook's
runner, or no ipywidgets): the same object holds the parameters-cell values, `show()` prints them, and the notebook
calls the same functions. `panel.plan(base)` is the base plan with the panel's values.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from helpers.train.callbacks import Hooks, StopSwitch
from helpers.train.plan import TrainPlan
from helpers.train import plan_view
from helpers.tricks import registry
from helpers.workbook import redraw
from helpers.workbook.redraw import headless


def _choices() -> dict[str, tuple]:
    """A TrainPlan field -> the values its dropdown offers: the panel's own lists for the sizes, the plan's tables for
    its core fields, and each trick option's declared choices (helpers.tricks.registry), so a new trick needs no
    entry here."""
    from helpers.train.plan import LR_RULES
    from helpers.tricks import precision

    return {
        "model": ("yolo12n.yaml", "yolo12s.yaml", "yolo12m.yaml", "yolo12l.yaml", "yolov9s.yaml"),
        "imgsz": (64, 96, 128, 160, 256, 320, 416, 512, 640, 800, 960, 1280),
        "nbs": (8, 16, 32, 64, 128, 256, 512, 1024),  # images per optimizer step: batch x max(round(nbs / batch), 1)
        "batch": (0, 4, 8, 16, 32, 64, 128, 256),  # the micro-batch; 0: the memory planner chooses
        "lr_rule": LR_RULES,
        "amp": precision.CHOICES,
        "weights": ("", "starter"),
        **{o.name: o.choices for o in registry.options() if o.choices},
    }


CHOICES: dict[str, tuple] = _choices()  # the widget of each is a dropdown / toggle over its values
NUMBERS = {"epochs": (1, 2000)}  # name -> (min, max): an integer box
FLAGS = tuple(o.name for o in registry.options() if o.type is bool)  # the tricks' switches (nan_guard ...): checkboxes
LABELS = {"nbs": "effective batch (nbs)", "batch": "micro-batch (0 = plan)", "lr_rule": "lr rule",
          "attention": "attention", "amp": "AMP dtype", "weights": "start from", "imgsz": "image size"}


def as_plan(v: dict[str, Any], base: TrainPlan | None = None) -> TrainPlan:
    """`base` (default: a plain TrainPlan) with each panel value set on the plan field of the same name; a batch of
    0 (the planner chooses) keeps the base's batch."""
    plan_fields = {f.name for f in dataclasses.fields(TrainPlan)}
    changes = {k: val for k, val in v.items() if k in plan_fields and not (k == "batch" and not val)}
    return (base or TrainPlan()).replace(**changes)


def derive(v: dict[str, Any], base: TrainPlan | None = None) -> str:
    """One line of what the values mean for Ultralytics: batch/nbs/accumulation and lr0, computed by the plan."""
    plan = as_plan(v, base)
    parts = []
    if "nbs" in v:
        if v.get("batch"):
            parts.append(f"batch={plan.batch}, nbs={plan.nbs} -> {plan.batch} x {plan.accumulate} = "
                         f"{plan.effective_batch} images per step")
        else:
            parts.append(f"nbs={plan.nbs}; batch chosen by the memory planner")
        if "lr_rule" in v:
            ref = "" if plan.lr_rule == "none" else f" rule from {plan.lr_ref:g} at {plan.batch_ref}"
            parts.append(f"lr0={plan.lr0:.4g} ({plan.lr_rule}{ref})")
    for k in ("model", "imgsz", "epochs", "attention", "checkpoint", "amp", "weights"):
        if k in v:
            parts.append(f"{LABELS.get(k, k)}={v[k] if v[k] != '' else 'off' if k == 'checkpoint' else 'scratch'}")
    on = [f for f in FLAGS if v.get(f)]
    if any(f in v for f in FLAGS):
        parts.append("tricks: " + (", ".join(on) or "none"))
    return " · ".join(parts)


class _Progress(Hooks):
    """The panel's epoch bar (a widget) following a run."""

    def __init__(self, bar):
        self.bar = bar

    def on_train_start(self, trainer) -> None:
        if self.bar is not None:
            self.bar.max, self.bar.value = trainer.epochs, trainer.start_epoch

    def on_fit_epoch_end(self, trainer) -> None:
        if self.bar is not None:
            self.bar.value = min(trainer.epoch + 1, self.bar.max)


class Panel:
    """Holds parameter values; draws widgets for them when someone can click."""

    def __init__(self, values: dict[str, Any], *, base: TrainPlan | None = None,
                 on_plan: Callable[[dict], Any] | None = None,
                 on_train: Callable[[dict, "Panel"], Any] | None = None, title: str = "Parameters"):
        unknown = [k for k in values if k not in CHOICES and k not in NUMBERS and k not in FLAGS]
        if unknown:
            raise KeyError(f"Panel has no control for {unknown}; known: {sorted([*CHOICES, *NUMBERS, *FLAGS])}")
        self._values = dict(values)
        self.base, self.on_plan, self.on_train, self.title = base, on_plan, on_train, title
        self.controls: dict[str, Any] = {}
        self.stop = StopSwitch()
        self.thread: threading.Thread | None = None
        self._summary = self._output = self._progress = None
        self.latest: Any = None  # the TrainResult of the last run the Train button started

    # ------------------------------------------------------------------ values (work with or without widgets)
    def values(self) -> dict[str, Any]:
        if self.controls:
            return {k: c.value for k, c in self.controls.items()}
        return dict(self._values)

    def get(self, *names: str) -> tuple:
        v = self.values()
        return tuple(v[n] for n in names)

    def set(self, **changes: Any) -> None:
        """Change values (and the widgets, if drawn) from code."""
        for k, val in changes.items():
            if k not in self._values:
                raise KeyError(k)
            self._values[k] = val
            if k in self.controls:
                self.controls[k].value = val

    def summary(self) -> str:
        return derive(self.values(), self.base)

    def plan(self, base: TrainPlan | None = None) -> TrainPlan:
        """The base plan (the panel's own by default) with the panel's values."""
        return as_plan(self.values(), base or self.base)

    # ------------------------------------------------------------------ widgets
    def _control(self, name: str, value: Any):
        import ipywidgets as w

        desc = LABELS.get(name, name)
        style = {"description_width": "150px"}
        if name in CHOICES:
            opts = list(CHOICES[name])
            if value not in opts:
                opts.append(value)
            labels = [(("off" if name == "checkpoint" else "scratch") if o == "" else str(o), o) for o in opts]
            if name in ("lr_rule", "amp", "weights"):
                return w.ToggleButtons(options=labels, value=value, description=desc, style=style)
            return w.Dropdown(options=labels, value=value, description=desc, style=style)
        if name in NUMBERS:
            lo, hi = NUMBERS[name]
            return w.BoundedIntText(value=int(value), min=lo, max=hi, description=desc, style=style)
        return w.Checkbox(value=bool(value), description=name.replace("_", " "), indent=False)

    def widget(self):
        """The panel as one ipywidgets box (built once)."""
        import ipywidgets as w

        if not self.controls:
            self.controls = {k: self._control(k, v) for k, v in self._values.items()}
            self._summary = w.HTML(self._summary_html())
            for c in self.controls.values():
                c.observe(lambda _change: setattr(self._summary, "value", self._summary_html()), names="value")
        buttons = []
        if self.on_plan:
            b = w.Button(description="Plan", icon="calculator", tooltip="probe the GPU and choose the micro-batch")
            b.on_click(lambda _b: self._run(self.on_plan, self.values()))
            buttons.append(b)
        if self.on_train:
            t = w.Button(description="Train", icon="play", button_style="success")
            s = w.Button(description="Stop", icon="stop", button_style="danger",
                         tooltip="finish the current epoch, validate, save, stop")
            t.on_click(lambda _b: self.start_training())
            s.on_click(lambda _b: self.request_stop())
            self._progress = w.IntProgress(value=0, min=0, max=1, description="epochs")
            buttons += [t, s, self._progress]
        self._output = self._output or w.Output()
        flags = [c for k, c in self.controls.items() if k in FLAGS]
        rows = [c for k, c in self.controls.items() if k not in FLAGS]
        parts = [w.HTML(f"<b>{self.title}</b>"), *rows]
        if flags:
            parts.append(w.HBox(flags))
        parts.append(self._summary)
        if buttons:
            parts.append(w.HBox(buttons))
        parts.append(self._output)
        return w.VBox(parts, layout=w.Layout(border="1px solid #ddd", padding="6px"))

    def _summary_html(self) -> str:
        return f"<code class='workbook-derived'>{self.summary()}</code>"

    def _run(self, fn: Callable, *args) -> Any:
        if self._output is None:
            return fn(*args)
        with self._output:
            return fn(*args)

    def show(self) -> None:
        """Draw the widgets (with the values as text for a client without widgets), or print the values when
        headless."""
        if headless():
            print(f"{self.title} (headless: values from the parameters cell)\n  " + self.summary())
        else:
            redraw.show(self.widget(), {"text/plain": f"{self.title}: {self.summary()}"})

    # ------------------------------------------------------------------ training with a stop button
    @property
    def stop_requested(self) -> bool:
        return self.stop.requested

    @property
    def epochs_done(self) -> int:
        return self.stop.epochs_done

    def request_stop(self) -> None:
        self.stop.requested = True

    def hooks(self) -> list[Hooks]:
        """The callbacks for a run started from this panel: the Stop button and the epoch bar."""
        return [self.stop, _Progress(self._progress)]

    def start_training(self, background: bool | None = None) -> None:
        """Run on_train(values, panel); in a thread when interactive, so the Stop button is heard."""
        if self.on_train is None:
            raise RuntimeError("this panel has no on_train function")
        if self.thread and self.thread.is_alive():
            return
        self.stop = StopSwitch()
        background = (not headless()) if background is None else background
        if not background:  # in the running cell, so its output (and a live plot) appears there
            self.on_train(self.values(), self)
            return
        self.thread = threading.Thread(target=self._train_in_thread, args=(self.values(),), daemon=True)
        self.thread.start()

    def _say(self, text: str) -> None:
        """A line in the panel's output area; safe from the training thread (no capture context needed)."""
        if self._output is not None:
            self._output.append_stdout(text + "\n")
        else:
            print(text)

    def _train_in_thread(self, values: dict[str, Any]) -> None:
        ret = None
        try:
            ret = self.on_train(values, self)
        except Exception as e:  # shown in the panel: a thread's exception would otherwise vanish
            self._say(f"training failed: {type(e).__name__}: {e}")
        finally:
            stopped = ", stopped by the Stop button" if self.stop_requested else ""
            self._say(f"finished: {self.epochs_done} epoch(s){stopped}")
        result = _train_result(ret)
        if result is not None:
            self.latest = result
            self._report(result)

    def _report(self, result: Any) -> None:
        """The run's own figures in the panel: the last epoch's losses and mAP, the wall clock, and its curves."""
        for line in run_lines(result):
            self._say(line)
        try:
            import io

            import matplotlib.pyplot as plt
            from IPython.display import Image

            from helpers.train import curves

            fig = curves.plot(result.curves(), f"this run: {result.save_dir.name}")
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=80)
            plt.close(fig)
            if self._output is not None:
                self._output.append_display_data(Image(buf.getvalue()))
        except FileNotFoundError as e:  # stopped before its first epoch ended: no results.csv yet
            self._say(str(e))


def _train_result(ret: Any) -> Any:
    """The TrainResult in what an on_train function returned (itself, or the first item of a tuple)."""
    for item in ret if isinstance(ret, tuple) else (ret,):
        if hasattr(item, "save_dir") and hasattr(item, "curves"):
            return item
    return None


def run_lines(result: Any) -> list[str]:
    """A finished run in words: where it is, how long it took, the last epoch's losses and mAP."""
    from helpers.train import curves

    lines = [f"run {result.save_dir}: {result.seconds:.0f} s by the wall clock", plan_view.summary(result.plan)]
    try:
        cols = result.curves()
    except FileNotFoundError:
        return lines
    n = len(cols.get("epoch", []))
    losses = ", ".join(f"{k.split('/')[1]} {cols[k][-1]:.3g}" for k in cols if k.startswith("train/") and cols[k])
    fin = curves.final(cols)
    images = result.plan.train_images * n
    lines.append(f"{n} epoch(s), {images / result.seconds:.0f} training images/s including validation and start-up"
                 if result.seconds > 0 else f"{n} epoch(s)")
    lines.append(f"last epoch: train loss {losses}; val mAP50-95 {fin.get('mAP50-95', float('nan')):.3f}, mAP50 "
                 f"{fin.get('mAP50', float('nan')):.3f}")
    return lines

