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
    found = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
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


def test_ci_runs_the_readme_test_commands():
    """CI runs `make check`, which is the README's `make test` and then `make test-slow`."""
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert all(f"make {c}" in readme for c in ("test", "test-slow", "check", "workbook"))
    assert re.search(r"^make check$", ci, re.M)
    make = (ROOT / "Makefile").read_text()
    assert re.search(r"^check: test test-slow$", make, re.M)
    fast, slow = (make.split(f"\n{t}: ", 1)[1].split("\n\n")[0] for t in ("test", "test-slow"))
    assert '-m "not slow"' in fast and "-m slow" in slow and "tests notebooks -m slow $(NBVAL)" in slow


# Which stage may import which: imports point one way (workbook on top, core at the ground).
MAY_IMPORT = {
    "core": {"core"},
    "data": {"core", "data"},
    "tricks": {"core", "tricks"},
    "pipeline": {"core", "pipeline"},
    "deploy": {"core", "deploy"},
    "records": {"core", "tricks", "train", "records"},
    "train": {"core", "data", "tricks", "pipeline", "train"},
    "measure": {"core", "data", "tricks", "pipeline", "train", "records", "measure"},
    "diagnose": {"core", "data", "tricks", "pipeline", "train", "diagnose"},
    "workbook": {"core", "data", "tricks", "pipeline", "train", "measure", "records", "deploy", "diagnose",
                 "workbook"},
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


def test_make_lab_starts_jupyter_on_localhost_and_as_root_adds_allow_root(tmp_path):
    """`make lab` through scripts/lab.sh, with a stand-in `jupyter` that prints what it was given."""
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]  # tests/code/ -> the repo
    fake = tmp_path / "venv" / "bin"
    fake.mkdir(parents=True)
    (fake / "jupyter").write_text("#!/bin/sh\necho \"jupyter $*\"\n")
    (fake / "jupyter").chmod(0o755)
    out = subprocess.run(["bash", "scripts/lab.sh"], cwd=root, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "VENV": str(tmp_path / "venv")}).stdout
    assert "jupyter lab notebooks --ServerApp.ip=localhost" in out and "URL" in out
    assert ("--allow-root" in out) == (os.getuid() == 0)
    assert "token" not in out.split("jupyter lab", 1)[1]  # the token is kept: nothing switches it off
    make = (root / "Makefile").read_text()
    assert "scripts/lab.sh" in make.split("lab: setup", 1)[1].split("\n\n")[0]


def test_tests_live_in_their_kind_folder_with_unique_names():
    """tests/code, data, model, notebooks (make test-fast runs the first two in parallel); one conftest.py above them,
    and no two test files of one name (pytest imports each by its file name)."""
    tests = ROOT / "tests"
    assert sorted(p.name for p in tests.glob("*.py")) == ["conftest.py"], "place new tests in tests/<kind>/"
    found = sorted(p.relative_to(tests) for p in tests.rglob("*.py"))
    assert {p.parts[0] for p in found if len(p.parts) > 1} == {"code", "data", "model", "notebooks"}
    names = [p.name for p in found]
    assert len(names) == len(set(names)) and names.count("conftest.py") == 1
    make = (ROOT / "Makefile").read_text()
    assert 'tests/code tests/data -m "not slow" -n' in make.split("test-fast: setup", 1)[1].split("\n\n")[0]


def test_notebooks_and_readme_point_only_inside_the_repository():
    """Notebooks and the README cite the repository's own records, never the measurements folder beside a checkout
    (../shared is not in a user's clone)."""
    texts = {p.name: p.read_text() for p in [*notebooks(), ROOT / "README.md"]}
    assert not [name for name, text in texts.items() if "../shared/measurements" in text or "shared/design" in text]
