"""Strict notebook parameters: a name given to a notebook (`run --set`, Papermill's `-p`) must be one its
`parameters` cell declares, with a value of the declared type; a typo stops the run at once, naming the closest.

A parameter is an annotated assignment in the cell tagged `parameters` (`imgsz: int = P.imgsz`); other names the
cell binds (`P`, imports) are not parameters. Papermill itself only logs "Passed unknown parameter" and runs on.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.core import names
from helpers.records.sweep_record import RENAMED  # parameters renamed to the TrainPlan field they set: old -> new

TYPES = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict}
IPYTHON = {"In", "Out", "get_ipython", "exit", "quit", "open"}


class ParameterError(ValueError):
    """An unknown or mistyped notebook parameter; the message names the notebook and the closest valid name."""


@dataclass(frozen=True)
class Parameter:
    name: str
    annotation: str  # as written, e.g. 'str | bool'

    def accepts(self, value: Any) -> bool:
        """Whether `value` has one of the annotated types (an int passes for a float; a bool is no int)."""
        for part in (p.strip() for p in self.annotation.split("|")):
            base = part.split("[", 1)[0]
            if base == "None" and value is None:
                return True
            t = TYPES.get(base)
            if t is None:
                return True  # an annotation this check does not know: no constraint
            if t is bool and isinstance(value, bool):
                return True
            if t is int and isinstance(value, int) and not isinstance(value, bool):
                return True
            if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
                return True
            if t not in (bool, int, float) and isinstance(value, t):
                return True
        return False


def parameters_cell(notebook: str | Path) -> str:
    """The source of the notebook's cell tagged `parameters`."""
    nb = json.loads(Path(notebook).read_text())
    for cell in nb["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return "".join(cell["source"])
    raise ParameterError(f"{Path(notebook).name} has no cell tagged 'parameters'")


def declared(notebook: str | Path) -> dict[str, Parameter]:
    """The notebook's parameters: every annotated assignment of its parameters cell."""
    tree = ast.parse(parameters_cell(notebook))
    return {node.target.id: Parameter(node.target.id, ast.unparse(node.annotation))
            for node in tree.body if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)}


def _bound_names(notebook: str | Path) -> set[str]:
    """Every name any code cell of the notebook binds (assignments, imports, definitions, loop variables)."""
    names = set()
    for cell in json.loads(Path(notebook).read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        try:
            tree = ast.parse("".join(cell["source"]))
        except SyntaxError:  # IPython magics
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
    return names


def _problem(name: str, value: Any, where: dict[str, Parameter], known: set[str]) -> str | None:
    if not where:
        if RENAMED.get(name) in known:
            return f"unknown parameter {name!r}: it is now called {RENAMED[name]!r}, the TrainPlan field it sets"
        near = names.nearest(name, sorted(known))
        hint = f"; did you mean {near!r}?" if near else f"; known: {', '.join(sorted(known))}"
        return f"unknown parameter {name!r}{hint}"
    wrong = [f"{nb} expects {p.annotation}" for nb, p in where.items() if not p.accepts(value)]
    if wrong:
        return f"parameter {name}={value!r} ({type(value).__name__}): " + "; ".join(wrong)
    return None


def check(values: dict[str, Any], notebooks: list[Path]) -> dict[Path, dict[str, Any]]:
    """Each notebook's share of `values` (the parameters it declares); ParameterError for a name no notebook
    declares or a value of the wrong type, before anything runs."""
    decl = {nb: declared(nb) for nb in notebooks}
    known = {n for d in decl.values() for n in d}
    problems = []
    for name, value in values.items():
        if name == "profile":
            problems.append("choose the profile with --profile, not --set profile=...")
            continue
        where = {nb.stem: d[name] for nb, d in decl.items() if name in d}
        msg = _problem(name, value, where, known)
        if msg:
            problems.append(msg)
    if problems:
        raise ParameterError("; ".join(problems))
    return {nb: {k: v for k, v in values.items() if k in decl[nb]} for nb in notebooks}


def check_injected(namespace: dict[str, Any], notebook: str) -> None:
    """In the notebook, after Papermill injected its values: a name that no cell of the notebook binds is an
    unknown parameter, and every parameter must hold its declared type."""
    from helpers.core import paths

    path = paths.NOTEBOOKS / f"{notebook}.ipynb"
    decl, bound = declared(path), _bound_names(path)
    problems = []
    for name, value in namespace.items():
        if name.startswith("_") or name in IPYTHON or name in bound or type(value).__name__ == "module":
            continue
        problems.append(_problem(name, value, {}, set(decl)))
    for name, p in decl.items():
        if name in namespace and not p.accepts(namespace[name]):
            problems.append(_problem(name, namespace[name], {notebook: p}, set(decl)))
    if problems:
        raise ParameterError(f"{notebook}: " + "; ".join(problems))
