"""The repo's contract: pyproject and environment.yml agree, notebooks are parameterised and lean, CI runs the README."""

import ast
import re
import tomllib

import nbformat
import yaml

from helpers.core import paths
from helpers.workbook.runner import CHECK_MARK

ROOT = paths.ROOT
ALIASES = {"pytorch": "torch"}


def norm(req: str) -> str:
    name = re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")
    return ALIASES.get(name, name)


def test_environment_yml_lists_the_same_packages():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    want = {norm(r) for r in py["dependencies"] + py["optional-dependencies"]["export"]
            + py["optional-dependencies"]["browser"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    conda = {norm(d) for d in env if isinstance(d, str)} - {"python", "pip"}
    pip = {norm(d) for d in next(d["pip"] for d in env if isinstance(d, dict)) if not d.startswith("-e")}
    assert conda | pip == want
    assert not conda & pip


def notebooks():
    found = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert found
    return found


def test_each_notebook_has_a_parameters_cell_and_small_outputs():
    for path in notebooks():
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, path.name
        for c in nb.cells:
            if c.cell_type == "code" and c.outputs:
                assert c.source.startswith(CHECK_MARK), f"{path.name}: committed output in an unchecked cell"
        assert path.stat().st_size < 100_000, path.name


def test_notebook_code_parses_and_imports_only_helpers_from_the_project():
    for path in notebooks():
        for c in nbformat.read(path, as_version=4).cells:
            if c.cell_type != "code":
                continue
            tree = ast.parse("\n".join(ln for ln in c.source.splitlines() if not ln.lstrip().startswith(("%", "!"))))
            for node in ast.walk(tree):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    mod = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                    assert not (mod or "").startswith("benchmarks"), path.name


def test_helpers_never_import_notebooks_or_benchmarks():
    for py in (ROOT / "helpers").rglob("*.py"):
        tree = ast.parse(py.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("benchmarks", "notebooks")), py
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith(("benchmarks", "notebooks")) for a in node.names), py


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make workbook" in readme
    assert re.search(r"^make test$", ci, re.M)


# Which stage may import which: imports point one way (workbook on top, core at the ground).
MAY_IMPORT = {
    "core": {"core"},
    "data": {"core", "data"},
    "tricks": {"core", "tricks"},
    "deploy": {"core", "deploy"},
    "train": {"core", "data", "tricks", "train"},
    "measure": {"core", "data", "tricks", "train", "measure"},
    "diagnose": {"core", "data", "tricks", "train", "diagnose"},
    "workbook": {"core", "data", "tricks", "train", "measure", "deploy", "diagnose", "workbook"},
}


def test_stages_import_one_way():
    for stage, allowed in MAY_IMPORT.items():
        for py in (ROOT / "helpers" / stage).rglob("*.py"):
            for node in ast.walk(ast.parse(py.read_text())):
                names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module else
                         [a.name for a in node.names] if isinstance(node, ast.Import) else [])
                for name in names:
                    if name.startswith("helpers."):
                        assert name.split(".")[1] in allowed, f"{py.relative_to(ROOT)} imports {name}"


def test_only_the_one_train_function_calls_ultralytics_train_with_arguments():
    pattern = re.compile(r"\.train\((\*\*|[a-z_]+=)")
    found = set()
    for folder in ("helpers", "notebooks", "benchmarks"):
        for f in (ROOT / folder).rglob("*"):
            if f.suffix in (".py", ".ipynb") and pattern.search(f.read_text()):
                found.add(str(f.relative_to(ROOT)))
    # the failures module reproduces Ultralytics' own errors (a rejected argument, a missing dataset) on purpose, and
    # the benchmarks' baseline is plain Ultralytics with nothing of the workbook (benchmarks/plain_ultralytics.py)
    assert found == {"helpers/train/run.py", "helpers/diagnose/failures.py", "benchmarks/plain_ultralytics.py"}
