"""Notebooks call helpers (issue 26, item 5): no function or class definitions in a notebook beyond a widget's
callback, and results files read only through the reader (helpers.records.results, helpers.records.evidence)."""

import ast
import json
import shutil
from pathlib import Path

import nbformat

from helpers.core import paths

# Keyword arguments and methods that take a widget callback: a function passed to one of them may be defined in
# the notebook (it is wiring: which helper a button calls); any other definition belongs in helpers/.
CALLBACK_KEYWORDS = {"on_plan", "on_train"}
CALLBACK_CALLS = {"on_click", "observe", "interact", "slider"}
# Calls that parse a file themselves; a notebook reads results through helpers.records.results / evidence instead.
PARSERS = {("json", "load"), ("json", "loads"), ("csv", "reader"), ("csv", "DictReader"), ("pd", "read_csv"),
           ("pd", "read_json"), ("pandas", "read_csv"), ("np", "loadtxt"), ("np", "genfromtxt")}
# A path expression that names a results file: recorded results, a run's own logs, or a .json/.csv file.
RESULT_HINTS = ("RESULTS", "results", "benchmarks", "save_dir", "run_dir", ".json", ".csv")


def code_cells(path: Path) -> list[tuple[int, ast.Module]]:
    """Each code cell's index and syntax tree (IPython magics and shell lines left out)."""
    out = []
    for i, c in enumerate(nbformat.read(path, as_version=4).cells):
        if c.cell_type == "code":
            src = "\n".join(ln for ln in c.source.splitlines() if not ln.lstrip().startswith(("%", "!")))
            out.append((i, ast.parse(src)))
    return out


def callbacks(trees: list[ast.Module]) -> set[str]:
    """Names the notebook hands to a widget as its callback (on_train=run, button.on_click(go), ...)."""
    names = set()
    for tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            names |= {k.value.id for k in node.keywords if k.arg in CALLBACK_KEYWORDS and isinstance(k.value, ast.Name)}
            fn = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if fn in CALLBACK_CALLS and node.args and isinstance(node.args[0], ast.Name):
                names.add(node.args[0].id)
    return names


def names_a_result(node: ast.AST) -> bool:
    """Whether an expression (a path) mentions results: a RESULTS folder, a run's folder, a .json or .csv name."""
    text = ast.unparse(node)
    return any(h in text for h in RESULT_HINTS)


def problems(path: Path) -> list[str]:
    """What in a notebook's code cells should be a helper call: definitions that are not a widget callback, lambdas
    kept under a name, results read past the reader, and Ultralytics imported past the helpers."""
    cells = code_cells(path)
    allowed = callbacks([t for _, t in cells])
    found = []
    for i, tree in cells:
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            where = f"{path.name} cell {i} line {getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.ClassDef):
                found.append(f"{where}: class {node.name}")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if not (id(node) in top and node.name in allowed):
                    found.append(f"{where}: def {node.name} (not a widget callback)")
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and isinstance(node.value, ast.Lambda):
                found.append(f"{where}: a lambda kept under a name")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                if any(m.split(".")[0] == "ultralytics" for m in mods):
                    found.append(f"{where}: imports Ultralytics (notebooks -> helpers -> ultralytics)")
            elif isinstance(node, ast.Call):
                f = node.func
                if isinstance(f, ast.Name) and f.id == "open":
                    found.append(f"{where}: open() reads a file directly")
                elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and (f.value.id, f.attr) in PARSERS:
                    found.append(f"{where}: {f.value.id}.{f.attr}() parses a file directly")
                elif isinstance(f, ast.Attribute) and f.attr in ("read_text", "read_bytes", "open") \
                        and names_a_result(f.value):
                    target = ast.unparse(f.value)
                    target = target if isinstance(f.value, (ast.Name, ast.Attribute)) else f"({target})"
                    found.append(f"{where}: {target}.{f.attr}() reads a results file directly")
    return found


def notebooks(folder: Path = paths.NOTEBOOKS) -> list[Path]:
    found = sorted(folder.glob("[0-9][0-9]*_*.ipynb"))
    assert found
    return found


def test_notebooks_define_only_widget_callbacks_and_read_results_through_the_reader():
    found = [p for nb in notebooks() for p in problems(nb)]
    assert not found, "move these into helpers/ (and call them from the cell):\n" + "\n".join(found)


def test_the_check_fails_on_a_definition_or_a_direct_read(tmp_path):
    """A copy of a real notebook with each kind of offence appended is caught, offence by offence; the widget
    callback it also gets is not."""
    src = paths.NOTEBOOKS / "05_monitoring.ipynb"
    clean = tmp_path / src.name
    shutil.copy(src, clean)
    assert problems(clean) == []
    bad = [
        "def helper(x):\n    return x + 1",
        "class Report:\n    pass",
        "square = lambda x: x * x",
        "doc = json.loads((results.RESULTS / 'memory-h100.json').read_text())",
        "rows = list(csv.DictReader(open(rt.save_dir / 'tricks_log.csv')))",
        "text = (paths.ROOT / 'benchmarks/results/doctor-oom-h100.txt').read_text()",
        "from ultralytics import YOLO",
        "def go(_b):\n    print('clicked')\n\nbutton.on_click(go)",  # a callback: allowed
    ]
    nb = json.loads(clean.read_text())
    nb["cells"] += [{"cell_type": "code", "execution_count": None, "id": f"bad{i}", "metadata": {}, "outputs": [],
                     "source": s} for i, s in enumerate(bad)]
    broken = tmp_path / "broken" / src.name
    broken.parent.mkdir()
    broken.write_text(json.dumps(nb, indent=1) + "\n")
    found = problems(broken)
    text = "\n".join(found)
    for expected in ("def helper", "class Report", "lambda kept", "json.loads()", "read_text() reads a results",
                     "csv.DictReader()", "open() reads", "doctor-oom-h100.txt').read_text()", "imports Ultralytics"):
        assert expected in text, (expected, found)
    assert "def go" not in text
    assert len(found) == 9, found
