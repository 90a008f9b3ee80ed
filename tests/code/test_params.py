"""Strict parameters: a misspelt or mistyped notebook parameter stops the run before anything runs (command line:
exit 2 within seconds, naming the closest valid name); Papermill-injected ones are caught inside the notebook; each
notebook gets only the parameters it declares; every notebook declares its parameters with types."""

import subprocess
import sys
import time

import nbformat
import pytest

from helpers.core import paths
from helpers.workbook import params, runner


def write_nb(path, params_src):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params_src)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell("y = x + 1\nfor i in range(2):\n    pass\ndef f():\n    pass")]
    nbformat.write(nb, path)
    return path


def test_declared_parameters_and_their_types(tmp_path):
    nb = write_nb(tmp_path / "00_a.ipynb", "P = 3\nx: int = P\nrate: float = 0.1\ncache: str | bool = False\n"
                                           "names: list = []\nlr: float | None = None")
    d = params.declared(nb)
    assert set(d) == {"x", "rate", "cache", "names", "lr"}  # P is not a parameter: it has no annotation
    assert d["x"].accepts(3) and not d["x"].accepts(True) and not d["x"].accepts("abc")
    assert d["rate"].accepts(1) and d["rate"].accepts(0.5) and not d["rate"].accepts("0.5")
    assert d["cache"].accepts("ram") and d["cache"].accepts(False) and not d["cache"].accepts(3)
    assert d["lr"].accepts(None) and d["names"].accepts(["a"])


def test_check_names_the_closest_and_splits_by_notebook(tmp_path):
    a = write_nb(tmp_path / "00_a.ipynb", "dataset: str = 'synthetic'\nimgsz: int = 64")
    b = write_nb(tmp_path / "01_b.ipynb", "imgsz: int = 64\nbatch: int = 8")
    assert params.check({"imgsz": 96, "batch": 4}, [a, b]) == {a: {"imgsz": 96}, b: {"imgsz": 96, "batch": 4}}
    with pytest.raises(params.ParameterError, match="unknown parameter 'datset'; did you mean 'dataset'"):
        params.check({"datset": "x"}, [a, b])
    with pytest.raises(params.ParameterError, match=r"batch='abc' \(str\): 01_b expects int"):
        params.check({"batch": "abc"}, [a, b])
    with pytest.raises(params.ParameterError, match="--profile"):
        params.check({"profile": "gpu"}, [a])


def test_every_workbook_notebook_declares_typed_parameters_and_checks_them():
    for nb in runner.discover():
        d = params.declared(nb)
        assert "profile" in d, nb.name
        src = "".join("".join(c["source"]) for c in nbformat.read(nb, as_version=4).cells)
        assert f'params.check_injected(globals(), "{nb.stem}")' in src, nb.name
        cell = params.parameters_cell(nb)
        assigned = [ln.split("=")[0].strip() for ln in cell.splitlines()
                    if "=" in ln and not ln.startswith((" ", "#", "P =", "from", "import"))]
        assert all(":" in a for a in assigned), (nb.name, assigned)  # every parameter has a type


def test_injected_unknown_or_mistyped_values_stop_the_notebook():
    ns = {"profile": "quick", "dataset": "synthetic", "imgsz": 128, "P": object(), "profiles": object(),
          "In": [], "_": None, "plan": object()}  # plan: bound by a later cell (a re-run in the lab)
    params.check_injected(ns, "02_train_b256")
    with pytest.raises(params.ParameterError, match="unknown parameter 'datset'; did you mean 'dataset'"):
        params.check_injected({**ns, "datset": "coco8"}, "02_train_b256")
    with pytest.raises(params.ParameterError, match="imgsz='640'"):
        params.check_injected({**ns, "imgsz": "640"}, "02_train_b256")


@pytest.mark.parametrize("bad,named", [("datset=x", "dataset"), ("epochs=abc", "expects int")])
def test_the_command_line_refuses_within_seconds(bad, named):
    t0 = time.time()
    out = subprocess.run([sys.executable, "-m", "helpers", "run", "--set", bad], capture_output=True, text=True,
                         timeout=120, cwd=paths.ROOT)
    assert out.returncode == 2 and named in out.stderr and "Traceback" not in out.stderr
    assert time.time() - t0 < 30  # nothing ran


@pytest.mark.parametrize("old,new,notebook", [("micro_batch", "batch", "02_train_b256"),
                                              ("effective_batch", "nbs", "08_model_choice"),
                                              ("attention_backend", "attention", "03_memory_speed")])
def test_an_old_parameter_name_points_to_the_plan_field_it_became(old, new, notebook):
    nb = paths.NOTEBOOKS / f"{notebook}.ipynb"
    with pytest.raises(params.ParameterError, match=f"'{old}': it is now called '{new}'"):
        params.check({old: 4}, [nb])
    with pytest.raises(params.ParameterError, match=f"'{old}': it is now called '{new}'"):
        params.check_injected({"profile": "quick", old: 4}, notebook)


def _plan_keywords(nb) -> list[tuple[str, str]]:
    """(plan field or panel key, notebook name) for every `field=name` keyword and `"field": name` dict entry."""
    import ast

    found = []
    for cell in nbformat.read(nb, as_version=4).cells:
        if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []):
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.keyword) and node.arg and isinstance(node.value, ast.Name):
                found.append((node.arg, node.value.id))
            elif isinstance(node, ast.Dict):
                found += [(k.value, v.id) for k, v in zip(node.keys, node.values)
                          if isinstance(k, ast.Constant) and isinstance(k.value, str) and isinstance(v, ast.Name)]
    return found


def test_every_notebook_parameter_named_like_a_plan_field_reaches_the_plan_under_that_name():
    import dataclasses

    from helpers.train.plan import OWNED, TrainPlan

    fields = {f.name for f in dataclasses.fields(TrainPlan)}
    for nb in runner.discover():
        if "planner.from_profile(" not in nb.read_text():
            continue  # builds no plan (06 exports given weights)
        declared = set(params.declared(nb))
        passed = _plan_keywords(nb)
        for name in sorted(declared & fields):
            assert (name, name) in passed, f"{nb.stem}: parameter {name!r} is never given as {name}={name}"
        for field, name in passed:  # a parameter handed to a plan field of another name is a hand mapping
            if field in fields and name in declared:  # lr0 -> lr_fixed: Ultralytics' own name, the plan's OWNED
                assert field == name or OWNED.get(name) == field, f"{nb.stem}: {field}={name}"


def test_one_nearest_name_rule_case_aside():
    from helpers.core import names

    assert names.nearest("adamx", ["SGD", "Adamax", "AdamW"]) == "Adamax"
    assert names.closest("atention", ["attention", "amp"]) == " (did you mean 'attention'?)"
    assert names.nearest("zzz", ["attention"]) is None and names.closest("zzz", ["attention"]) == ""
