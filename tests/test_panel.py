"""The parameter panel: values map to real Ultralytics settings, widgets follow and drive them, headless works
without widgets, and the Stop button's callback stops a trainer at the epoch's end."""

import types

import pytest

from helpers.workbook import panel as P

VALUES = {"model": "yolo12n.yaml", "imgsz": 640, "epochs": 30, "effective_batch": 256, "micro_batch": 64,
          "lr_rule": "sqrt", "attention_backend": "auto", "checkpoint": "", "amp": "fp16", "weights": "",
          "clip": True, "nan_guard": False}


def test_derive_maps_values_to_ultralytics_arguments():
    line = P.derive(VALUES)
    assert "batch=64, nbs=256 -> 64 x 4 = 256 images per step" in line
    assert "lr0=0.02 (sqrt rule" in line and "checkpoint=off" in line and "tricks: clip" in line
    assert "batch chosen by the memory planner" in P.derive({**VALUES, "micro_batch": 0})
    assert "lr0=0.04 (linear" in P.derive({**VALUES, "lr_rule": "linear"})


def test_panel_values_become_a_profile():
    from helpers.core import profiles

    p = P.Panel(VALUES)
    prof = p.profile(profiles.get("quick"))
    assert (prof.model, prof.imgsz, prof.epochs, prof.nbs, prof.attention, prof.amp, prof.weights) == \
        ("yolo12n.yaml", 640, 30, 256, "auto", "fp16", "")
    assert prof.batch == 8 and prof.device == "cpu"  # fields the panel does not hold stay as they were


def test_headless_panel_holds_the_parameters(monkeypatch, capsys):
    monkeypatch.setenv(P.HEADLESS_VAR, "1")
    p = P.Panel(VALUES)
    assert p.values() == VALUES and p.get("imgsz", "epochs") == (640, 30)
    p.show()
    assert "headless" in capsys.readouterr().out and not p.controls
    p.set(epochs=5)
    assert p.values()["epochs"] == 5
    with pytest.raises(KeyError, match="no control"):
        P.Panel({"accumulate": 4})


def test_widgets_follow_and_drive_the_values(monkeypatch):
    monkeypatch.delenv(P.HEADLESS_VAR, raising=False)
    p = P.Panel(VALUES, on_plan=lambda v: None, on_train=lambda v, panel: None)
    box = p.widget()
    assert box.children and set(p.controls) == set(VALUES)
    p.controls["effective_batch"].value = 512  # as a click would
    assert p.values()["effective_batch"] == 512
    assert "nbs=512 -> 64 x 8 = 512" in p._summary.value  # the derived line followed
    p.set(lr_rule="linear")
    assert p.controls["lr_rule"].value == "linear" and "lr0=0.08" in p._summary.value
    odd = P.Panel({"imgsz": 200})  # a value outside the usual list is kept, not replaced
    odd.widget()
    assert odd.values() == {"imgsz": 200}


def test_train_runs_with_panel_values_and_stop_sets_trainer_stop(monkeypatch):
    monkeypatch.setenv(P.HEADLESS_VAR, "1")
    seen = {}
    p = P.Panel(VALUES, on_train=lambda v, panel: seen.update(v))
    p.start_training()  # headless: in the foreground
    assert seen == VALUES and p.thread is None
    cb = p.callbacks()
    t = types.SimpleNamespace(stop=False, epochs=3, start_epoch=0, epoch=0)
    cb["on_train_batch_end"](t)
    assert t.stop is False
    p.request_stop()
    cb["on_train_batch_end"](t)
    assert t.stop is True


def test_stop_button_ends_a_real_training_after_the_current_epoch(runs):
    """Ultralytics ORs its own stop rule into trainer.stop at the epoch's end: a 5-epoch run stops after epoch 1."""
    from ultralytics import YOLO

    from helpers.data import sources as datasets
    from helpers.core import profiles
    from helpers.train import trainer

    prof = profiles.get("quick").replace(imgsz=64, n_train=16, n_val=4)
    data = datasets.synthetic_for(prof, progress=False)
    p = P.Panel({"epochs": 5})
    net = YOLO("yolo12n.yaml")
    for name, fn in p.callbacks().items():
        net.add_callback(name, fn)
    net.add_callback("on_train_batch_end", lambda tr: p.request_stop())
    with trainer.quiet():
        net.train(data=str(data), imgsz=64, epochs=5, batch=8, workers=0, device="cpu", plots=False, val=False,
                  project=str(runs), name="stop", exist_ok=True)
    assert net.trainer.epoch == 0  # stopped at the end of the first epoch


def test_background_training_reports_its_end_and_errors(monkeypatch, capsys):
    monkeypatch.setenv(P.HEADLESS_VAR, "1")

    def fake_train(values, panel):
        t = types.SimpleNamespace(stop=False, epochs=3, start_epoch=0, epoch=0)
        cb = panel.callbacks()
        for e in range(3):
            t.epoch = e
            cb["on_train_batch_end"](t)
            cb["on_fit_epoch_end"](t)
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
