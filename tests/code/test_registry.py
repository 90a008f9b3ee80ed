"""Tricks are plug-ins (issue 26): one new module in helpers.tricks that declares TRICK becomes a plan field with its
checks, a row of the plan, a JSON field, and hooks the trainer calls; the registry itself is checked unit by unit."""

import json
import subprocess
import sys
import textwrap

import pytest

from helpers.core import paths
from helpers.train.plan_view import place
from helpers.tricks import registry
from helpers.tricks.registry import Option, Trick

FOO = '''
"""A throwaway trick for the plug-in test."""

from helpers.tricks.registry import Option, Trick

CALLS = []


def _check(value, plan):
    return "needs at least 2 epochs" if value and plan.epochs < 2 else None


def _install(plan):
    CALLS.append(["install", plan.foo_level])


def _on_model(plan, model, trainer):
    CALLS.append(["on_model", plan.foo_level])
    model.foo_level = plan.foo_level
    return model


def _epoch_start(trainer):
    CALLS.append(["epoch_start", trainer.plan.foo_level])


TRICK = Trick(
    "foo", options=(Option("foo_level", int, 0, check=_check, choices=(0, 1, 2), doc="how much foo"),),
    row=lambda plan: ("foo", str(plan.foo_level), "the test's trick") if plan.foo_level else None, before="loader",
    install=_install, on_model=_on_model, callbacks={"on_train_epoch_start": _epoch_start},
    ultralytics_args=lambda plan: {"close_mosaic": 3} if plan.foo_level else {},
    summary=lambda plan: f"foo {plan.foo_level}" if plan.foo_level else "")
'''

CHILD = '''
import dataclasses, json, os, sys
import helpers.tricks
helpers.tricks.__path__.append(sys.argv[1])  # the folder with foo.py: part of the package, no other file changed
from helpers.tricks import registry
from helpers.train import plan_view
from helpers.train.plan import ENV_VAR, PlanError, TrainPlan

out = {"fields": [f.name for f in dataclasses.fields(TrainPlan)], "choices": registry.choices("foo_level"),
       "torch_loaded_by_the_plan": "torch" in sys.modules}
p = TrainPlan(foo_level=2, epochs=3, device="cpu")
out["value"], out["default"] = p.foo_level, TrainPlan().foo_level
out["rows"] = [list(r) for r in plan_view.rows(p)]
out["rows_off"] = [r[0] for r in plan_view.rows(TrainPlan())]
out["json"] = TrainPlan.from_json(p.to_json()) == p and json.loads(p.to_json())["foo_level"] == 2
out["replace"] = p.replace(foo_level=1).foo_level
out["args"] = p.ultralytics_args().get("close_mosaic")
out["summary"], out["summary_off"] = plan_view.summary(p), plan_view.summary(TrainPlan())
errors = {}
for kw in ({"foo_level": 5}, {"foo_level": "2"}, {"foo_level": 1, "epochs": 1}, {"foo_levl": 1}):
    try:
        TrainPlan(**kw) if "foo_levl" not in kw else p.replace(**kw)
    except (PlanError, TypeError) as e:
        errors[json.dumps(kw)] = str(e)
out["errors"] = errors

from helpers.data import synthetic
from helpers.train.run import applied
from helpers.train.trainer import WorkbookTrainer
from helpers.tricks import foo

data = synthetic.generate(os.path.join(sys.argv[2], "d"), synthetic.SynthSpec(n_train=2, n_val=1, imgsz=64))
plan = p.replace(data=str(data), model="yolov8n.yaml", project=sys.argv[2], name="foo", exist_ok=True)
with applied(plan):  # the launch installs; the trainer it builds asks again and gets a no-op
    t = WorkbookTrainer(overrides={"model": "yolov8n.yaml", "data": str(data), "device": "cpu",
                                   "project": sys.argv[2], "name": "foo", "exist_ok": True})
    model = t.get_model(cfg="yolov8n.yaml", verbose=False)
    t.run_callbacks("on_train_epoch_start")
out["model_flag"] = model.foo_level
out["calls"] = foo.CALLS
out["callback_added"] = foo._epoch_start in t.callbacks["on_train_epoch_start"]
print("RESULT " + json.dumps(out))
'''


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    """What a fresh interpreter sees with foo.py dropped into the helpers.tricks package."""
    tmp = tmp_path_factory.mktemp("plugin")
    (tmp / "pkg").mkdir()
    (tmp / "pkg" / "foo.py").write_text(textwrap.dedent(FOO))
    script = tmp / "child.py"
    script.write_text(CHILD)
    proc = subprocess.run([sys.executable, str(script), str(tmp / "pkg"), str(tmp / "runs")], cwd=paths.ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def test_a_new_trick_module_is_a_plan_field_with_its_default_and_choices(child):
    assert "foo_level" in child["fields"] and child["fields"][-1] == "extra"
    assert child["value"] == 2 and child["default"] == 0 and child["replace"] == 1
    assert child["choices"] == [0, 1, 2]
    assert not child["torch_loaded_by_the_plan"]


def test_the_plan_checks_the_new_option(child):
    errors = child["errors"]
    assert "choose one of (0, 1, 2)" in errors['{"foo_level": 5}']
    assert "must be an integer" in errors['{"foo_level": "2"}']
    assert "foo_level=1: needs at least 2 epochs" in errors['{"foo_level": 1, "epochs": 1}']
    assert "did you mean 'foo_level'" in errors['{"foo_levl": 1}']


def test_the_new_trick_explains_itself_in_its_place_and_survives_json(child):
    settings = [r[0] for r in child["rows"]]
    assert ["foo", "2", "the test's trick"] in child["rows"]
    assert settings.index("foo") == settings.index("loader") - 1
    assert "foo" not in child["rows_off"]  # off: no row
    assert child["json"] is True
    assert child["args"] == 3
    assert "foo 2" in child["summary"] and "foo" not in child["summary_off"]


def test_the_trainer_calls_the_new_tricks_hooks(child):
    assert child["calls"].count(["install", 2]) == 1  # the launch and the trainer both asked: patched once
    assert ["on_model", 2] in child["calls"] and child["model_flag"] == 2
    assert child["callback_added"] and ["epoch_start", 2] in child["calls"]


# ------------------------------------------------------------------ the registry alone
@pytest.fixture
def clean(monkeypatch):
    """An empty registry (discovery done) for the test; the real one afterwards."""
    registry.tricks()
    monkeypatch.setattr(registry, "_registered", {})
    monkeypatch.setattr(registry, "_installed", {})


def test_register_refuses_a_taken_name_or_option(clean):
    registry.register(Trick("t1", options=(Option("t1_on", bool, False),)))
    with pytest.raises(ValueError, match="registered already"):
        registry.register(Trick("t1"))
    with pytest.raises(ValueError, match="belongs to trick 't1'"):
        registry.register(Trick("t2", options=(Option("t1_on", bool, True),)))
    assert registry.option("t1_on").default is False and registry.choices("t1_on") is None


def test_options_refuse_mutable_or_foreign_defaults():
    with pytest.raises(ValueError, match="immutable"):
        Option("x", list, [])
    with pytest.raises(ValueError, match="not one of"):
        Option("x", str, "c", choices=("a", "b"))


def test_install_patches_once_per_values_and_again_when_undone(clean):
    calls, present = [], {"on": True}

    class P:
        level = 1

    registry.register(Trick("t3", options=(Option("level", int, 0),), install=lambda p: calls.append(p.level),
                            in_place=lambda p: present["on"]))
    registry.install(P())
    registry.install(P())
    assert calls == [1]
    present["on"] = False  # someone undid the patch
    registry.install(P())
    assert calls == [1, 1]


def test_installed_restores_what_state_saw(clean):
    box = {"v": "before"}

    class P:
        pass

    registry.register(Trick("t4", install=lambda p: box.update(v="during"), state=lambda: box["v"],
                            restore=lambda saved: box.update(v=saved)))
    with registry.installed(P()):
        assert box["v"] == "during"
    assert box["v"] == "before"


def test_rows_go_before_their_setting_even_another_tricks():
    core = [("a", "", ""), ("b", "", "")]
    tricks = [("x", [("y", "", "")]), ("b", [("x", "", "")]), ("", [("z", "", "")])]
    assert [r[0] for r in place(core, tricks)] == ["a", "y", "x", "b", "z"]


def test_declares_trick_reads_the_source_without_importing(tmp_path):
    (tmp_path / "yes.py").write_text("import not_a_module\nTRICK = object()\n")
    (tmp_path / "no.py").write_text("def f():\n    TRICK = 1\n")
    assert registry.declares_trick(tmp_path / "yes.py") and not registry.declares_trick(tmp_path / "no.py")
