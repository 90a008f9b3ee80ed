"""The parameter panel: values map to real Ultralytics settings, widgets follow and drive them, headless works
without widgets, and the Stop button's callback stops a trainer at the epoch's end."""

import types

import pytest

from helpers.workbook import panel as P
from helpers.workbook import redraw
from helpers.train import planner

VALUES = {"model": "yolo12n.yaml", "imgsz": 640, "epochs": 30, "nbs": 256, "batch": 64,
          "lr_rule": "sqrt", "attention": "auto", "checkpoint": "", "amp": "fp16", "weights": "",
          "atomic_save": True, "nan_guard": False}


def test_derive_maps_values_to_ultralytics_arguments():
    line = P.derive(VALUES)
    assert "batch=64, nbs=256 -> 64 x 4 = 256 images per step" in line
    assert "lr0=0.02 (sqrt rule" in line and "checkpoint=off" in line and "tricks: atomic_save" in line
    assert "batch chosen by the memory planner" in P.derive({**VALUES, "batch": 0})
    assert "lr0=0.04 (linear" in P.derive({**VALUES, "lr_rule": "linear"})


def test_panel_values_become_a_plan():
    from helpers.train.plan import TrainPlan

    base = TrainPlan(batch=8, nbs=16, device="cpu", lr_ref=0.02)
    p = P.Panel(VALUES, base=base)
    plan = p.plan()
    assert (plan.model, plan.imgsz, plan.epochs, plan.batch, plan.nbs, plan.attention, plan.amp, plan.weights) == \
        ("yolo12n.yaml", 640, 30, 64, 256, "auto", "fp16", "")
    assert plan.device == "cpu"  # fields the panel does not hold stay as they were
    assert P.Panel({**VALUES, "batch": 0}, base=base).plan().batch == 8  # 0: the planner decides, later
    assert "lr0=0.04 (sqrt rule from 0.02 at 64)" in p.summary()  # the plan's reference lr, not a constant


def test_every_panel_value_reaches_the_plan_field_of_the_same_name():
    import dataclasses

    from helpers.train.plan import TrainPlan

    base = TrainPlan(device="cpu")
    fields = {f.name for f in dataclasses.fields(TrainPlan)}
    assert set(P.CHOICES) | set(P.NUMBERS) | set(P.FLAGS) <= fields  # every control is a plan field
    assert {"nan_guard", "atomic_save"} <= set(P.FLAGS)  # the tricks' switches, from the registry
    assert P.Panel({**VALUES, "nan_guard": True}, base=base).plan().nan_guard is True
    for name, choices in {**P.CHOICES, **{k: (lo + 1,) for k, (lo, _) in P.NUMBERS.items()}}.items():
        value = next(c for c in choices if c != getattr(base, name) and c != 0)
        assert getattr(P.Panel({name: value}, base=base).plan(), name) == value, name
    assert P.LABELS["nbs"] == "effective batch (nbs)"


def test_headless_panel_holds_the_parameters(monkeypatch, capsys):
    monkeypatch.setenv(redraw.HEADLESS_VAR, "1")
    p = P.Panel(VALUES)
    assert p.values() == VALUES and p.get("imgsz", "epochs") == (640, 30)
    p.show()
    assert "headless" in capsys.readouterr().out and not p.controls
    p.set(epochs=5)
    assert p.values()["epochs"] == 5
    with pytest.raises(KeyError, match="no control"):
        P.Panel({"accumulate": 4})


def test_widgets_follow_and_drive_the_values(monkeypatch):
    monkeypatch.delenv(redraw.HEADLESS_VAR, raising=False)
    p = P.Panel(VALUES, on_plan=lambda v: None, on_train=lambda v, panel: None)
    box = p.widget()
    assert box.children and set(p.controls) == set(VALUES)
    p.controls["nbs"].value = 512  # as a click would
    assert p.values()["nbs"] == 512
    assert "nbs=512 -> 64 x 8 = 512" in p._summary.value  # the derived line followed
    p.set(lr_rule="linear")
    assert p.controls["lr_rule"].value == "linear" and "lr0=0.08" in p._summary.value
    odd = P.Panel({"imgsz": 200})  # a value outside the usual list is kept, not replaced
    odd.widget()
    assert odd.values() == {"imgsz": 200}


def test_train_runs_with_panel_values_and_stop_sets_trainer_stop(monkeypatch):
    monkeypatch.setenv(redraw.HEADLESS_VAR, "1")
    seen = {}
    p = P.Panel(VALUES, on_train=lambda v, panel: seen.update(v))
    p.start_training()  # headless: in the foreground
    assert seen == VALUES and p.thread is None
    t = types.SimpleNamespace(stop=False, epochs=3, start_epoch=0, epoch=0)
    p.stop.on_train_batch_end(t)
    assert t.stop is False
    p.request_stop()
    p.stop.on_train_batch_end(t)
    assert t.stop is True


def test_stop_button_ends_a_real_training_after_the_current_epoch(runs):
    """Ultralytics ORs its own stop rule into trainer.stop at the epoch's end: a 5-epoch run stops after epoch 1."""
    from helpers.core import profiles
    from helpers.train.run import train

    prof = profiles.get("quick").replace(imgsz=64, n_train=16, n_val=4)
    plan = planner.from_profile(prof, epochs=5, batch=8, nbs=8, weights="", name="stop", extra={"val": False})
    p = P.Panel({"epochs": 5}, base=plan)
    press = ("on_train_batch_end", lambda tr: p.request_stop())
    result = train(p.plan(), callbacks=[*p.hooks(), press], progress=False)
    assert result.trainer.epoch == 0 and p.epochs_done == 1  # stopped at the end of the first epoch


def test_background_training_reports_its_end_and_errors(monkeypatch, capsys):
    monkeypatch.setenv(redraw.HEADLESS_VAR, "1")

    def fake_train(values, panel):
        t = types.SimpleNamespace(stop=False, epochs=3, start_epoch=0, epoch=0)
        for e in range(3):
            t.epoch = e
            for hook in panel.hooks():
                for name in ("on_train_epoch_start", "on_train_batch_end", "on_fit_epoch_end"):
                    if hasattr(hook, name):
                        getattr(hook, name)(t)
            if e == 0:
                panel.request_stop()
            if t.stop:  # what Ultralytics does with trainer.stop at the epoch's end
                break

    p = P.Panel({"epochs": 3}, on_train=fake_train)
    p.start_training(background=True)
    p.thread.join(5)
    assert p.epochs_done == 2 and "finished: 2 epoch(s), stopped by the Stop button" in capsys.readouterr().out
    broken = P.Panel({"epochs": 3}, on_train=lambda v, panel: 1 / 0)
    broken.start_training(background=True)
    broken.thread.join(5)
    assert "training failed: ZeroDivisionError" in capsys.readouterr().out


def test_train_in_the_background_shows_that_runs_own_figures(monkeypatch, capsys, runs):
    """After the Train button's run the panel prints its plan, losses and mAP, and keeps it as `latest`."""
    from helpers.core import profiles
    from helpers.train.run import train

    monkeypatch.setenv(redraw.HEADLESS_VAR, "1")
    prof = profiles.get("quick").replace(imgsz=64, n_train=8, n_val=4)
    plan = planner.from_profile(prof, epochs=1, batch=4, nbs=4, weights="", name="panel", plots=False)
    p = P.Panel({"epochs": 1, "nbs": 4}, base=plan,
                on_train=lambda v, panel: (train(panel.plan(), callbacks=panel.hooks(), progress=False), "timer"))
    p.set(nbs=8)  # a changed panel: the run and its report follow it
    p.start_training(background=True)
    p.thread.join(300)
    out = capsys.readouterr().out
    assert p.latest is not None and p.latest.plan.nbs == 8
    assert "batch=4, nbs=8 -> 4 x 2 = 8 per step" in out and "last epoch: train loss box_loss" in out
    assert f"run {p.latest.save_dir}" in out and "val mAP50-95" in out


def test_every_trick_option_with_choices_is_a_dropdown_of_those_choices():
    from helpers.tricks import registry

    declared = {o.name: o.choices for o in registry.options() if o.choices}
    assert {"attention", "checkpoint", "sdpa_kernel"} <= set(declared)
    assert all(P.CHOICES[name] == values for name, values in declared.items())
