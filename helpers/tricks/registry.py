"""The tricks as plug-ins: each trick module declares one `TRICK = Trick(...)` and the rest of the workbook reads it here.

A trick brings its plan options (fields of `helpers.train.plan.TrainPlan`, checked when a plan is built), the row
that explains it in `TrainPlan.rows()`, and its hooks into `helpers.train.trainer.WorkbookTrainer`: a process-level
patch (`install`), a change to the model Ultralytics builds (`on_model`), Ultralytics callbacks, Ultralytics
arguments, the lr factor per epoch (`lr_factor`), a say in each optimizer step (`skip_step`) and its columns of the
run's per-epoch log (`epoch_row`). Discovery reads every module of the `helpers.tricks` package and imports those that assign `TRICK` at
module level, so adding or removing a trick is one file; such a module is imported whenever a plan is, so it keeps
torch and Ultralytics out of its top-level imports (they belong inside the hooks). `register` adds a trick from
elsewhere (before `helpers.train.plan` is imported, for its options to become plan fields).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib
import pkgutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Row = tuple[str, str, str]  # (setting, value, why), as TrainPlan.rows() lists them
PACKAGE = "helpers.tricks"
IMMUTABLE = (bool, int, float, str, tuple, type(None))  # option defaults are shared by every plan: no lists or dicts


@dataclass(frozen=True)
class Option:
    """One plan field a trick adds: its type and default, the values a widget may offer, and its own check."""

    name: str
    type: type | tuple[type, ...]
    default: Any
    check: Callable[[Any, Any], str | None] | None = None  # (value, plan) -> what is wrong, or None
    choices: tuple[Any, ...] | None = None  # the accepted values (a dropdown's), or None for any of `type`
    doc: str = ""  # one line: what the option does

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"option name {self.name!r} is not a Python identifier")
        if not isinstance(self.default, IMMUTABLE):
            raise ValueError(f"option {self.name!r}: the default must be immutable, not {type(self.default).__name__}")
        if self.choices is not None and self.default not in self.choices:
            raise ValueError(f"option {self.name!r}: the default {self.default!r} is not one of {self.choices}")


@dataclass(frozen=True)
class Trick:
    """A trick: its options, the row(s) that explain it, and the trainer hooks that apply it (each may be None)."""

    name: str
    options: tuple[Option, ...] = ()
    row: Callable[[Any], Row | list[Row] | None] | None = None  # plan -> its row(s) in TrainPlan.rows()
    before: str = ""  # the setting whose row its rows precede ('' or absent: just before the extra arguments)
    install: Callable[[Any], None] | None = None  # plan -> None: a process-level patch, applied once per process
    in_place: Callable[[Any], bool] | None = None  # plan -> whether its patch is still there (someone may undo it)
    state: Callable[[], Any] | None = None  # what `installed` puts back afterwards ...
    restore: Callable[[Any], None] | None = None  # ... and how
    on_model: Callable[[Any, Any, Any], Any] | None = None  # (plan, model, trainer) -> model, in get_model
    # Ultralytics event -> fn(trainer), added once Ultralytics' __init__ is done (on_pretrain_routine_start has fired)
    callbacks: Mapping[str, Callable[[Any], None]] = field(default_factory=dict)
    ultralytics_args: Callable[[Any], dict[str, Any]] | None = None  # plan -> further YOLO.train() arguments
    summary: Callable[[Any], str] | None = None  # plan -> its words in the plan's one-line summary ('' for none)
    # (plan, epochs, lrf, cos) -> the lr factor per epoch that replaces Ultralytics' schedule, or None to keep it
    lr_factor: Callable[[Any, int, float, bool], Callable[[float], float] | None] | None = None
    # (plan, trainer, pre-clip norm) -> True to skip this optimizer step (after unscale and clip, before the step)
    skip_step: Callable[[Any, Any, Any], bool] | None = None
    # (plan, trainer, the row so far) -> this trick's columns of the run's per-epoch log (tricks_log.csv): rank 0,
    # after each epoch's validation, in trick order (a later trick sees the earlier tricks' columns)
    epoch_row: Callable[[Any, Any, dict[str, Any]], dict[str, Any]] | None = None
    doc: str = ""

    def values(self, plan: Any) -> tuple[Any, ...]:
        """This trick's option values in a plan (what its process-level patch depends on)."""
        return tuple(getattr(plan, o.name) for o in self.options)


_registered: dict[str, Trick] = {}
_discovered = {"done": False}
_installed: dict[str, tuple[Any, ...]] = {}  # trick -> the option values its install hook last applied here


def with_plan(fn: Callable[[Any], None]) -> Callable[[Any], None]:
    """A trick's callback that does nothing in a trainer without a plan: a process Ultralytics started without
    $WORKBOOK_PLAN still runs the callbacks pickled into its DDP script. Keeps the function's name, so the callback
    pickles by reference as before."""
    @functools.wraps(fn)
    def call(trainer: Any) -> None:
        if getattr(trainer, "plan", None) is not None:
            fn(trainer)

    return call


def declares_trick(path: Path) -> bool:
    """True when a module's source assigns `TRICK` at module level (read, not imported: a cheap test)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return False
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) \
            else []
        if any(isinstance(t, ast.Name) and t.id == "TRICK" for t in targets):
            return True
    return False


def discover(package: str = PACKAGE) -> list[Trick]:
    """Import every module of `package` that declares `TRICK` and register its trick; returns those found."""
    pkg = importlib.import_module(package)
    found = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.ispkg or info.name == "registry":
            continue
        spec = info.module_finder.find_spec(info.name)  # type: ignore[union-attr]
        if spec is None or not spec.origin or not declares_trick(Path(spec.origin)):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        trick = getattr(module, "TRICK", None)
        if not isinstance(trick, Trick):
            raise TypeError(f"{package}.{info.name}.TRICK must be a helpers.tricks.registry.Trick")
        found.append(trick if _registered.get(trick.name) is trick else register(trick))
    return found


def register(trick: Trick) -> Trick:
    """Add a trick; its name and option names must be new."""
    if trick.name in _registered:
        raise ValueError(f"a trick named {trick.name!r} is registered already")
    taken = {o.name: t.name for t in _registered.values() for o in t.options}
    for o in trick.options:
        if o.name in taken:
            raise ValueError(f"trick {trick.name!r}: option {o.name!r} belongs to trick {taken[o.name]!r}")
    _registered[trick.name] = trick
    return trick


def unregister(name: str) -> None:
    """Remove a registered trick (tests; the plan class keeps the fields it was built with)."""
    _registered.pop(name, None)
    _installed.pop(name, None)


def tricks() -> tuple[Trick, ...]:
    """Every trick: the package's (by module name), discovered on the first call, then any registered by hand; hooks
    run in this order."""
    if not _discovered["done"]:
        _discovered["done"] = True
        discover()
    return tuple(_registered.values())


def trick(name: str) -> Trick:
    """The trick of that name."""
    for t in tricks():
        if t.name == name:
            return t
    raise KeyError(f"no trick named {name!r}; known: {[t.name for t in tricks()]}")


def options() -> tuple[Option, ...]:
    """Every trick's options, in trick order: the plan fields the tricks add."""
    return tuple(o for t in tricks() for o in t.options)


def option(name: str) -> Option:
    """The option of that name."""
    for o in options():
        if o.name == name:
            return o
    raise KeyError(f"no trick option named {name!r}")


def choices(name: str) -> tuple[Any, ...] | None:
    """The values a widget may offer for a trick option (None: any value of its type)."""
    return option(name).choices


# ------------------------------------------------------------------ what the plan and its view ask
def rows(plan: Any) -> list[tuple[str, list[Row]]]:
    """(the setting each trick's rows precede, those rows) for every trick that explains itself in this plan."""
    out = []
    for t in tricks():
        got = t.row(plan) if t.row is not None else None
        got = [got] if isinstance(got, tuple) else list(got or [])
        if got:
            out.append((t.before, got))
    return out


def ultralytics_args(plan: Any) -> dict[str, Any]:
    """The Ultralytics arguments the tricks add for this plan."""
    args: dict[str, Any] = {}
    for t in tricks():
        if t.ultralytics_args is not None:
            args.update(t.ultralytics_args(plan))
    return args


# ------------------------------------------------------------------ what the trainer applies
def install(plan: Any) -> list[str]:
    """Each trick's process-level patch for this plan, once per process: a trick whose patch is in place for the
    same option values is skipped (the launching process and its trainer both ask). Returns the tricks patched."""
    done = []
    for t in tricks():
        if t.install is None:
            continue
        if _installed.get(t.name) == t.values(plan) and (t.in_place is None or t.in_place(plan)):
            continue
        t.install(plan)
        _installed[t.name] = t.values(plan)
        done.append(t.name)
    return done


@contextlib.contextmanager
def installed(plan: Any) -> Iterator[None]:
    """`install(plan)` inside the block; afterwards each trick's `restore` puts back what its `state` saw."""
    saved = {t.name: t.state() for t in tricks() if t.state is not None}
    before = dict(_installed)
    try:
        install(plan)
        yield
    finally:
        for t in tricks():
            if t.name in saved and t.restore is not None:
                t.restore(saved[t.name])
        _installed.clear()
        _installed.update(before)


def on_model(plan: Any, model: Any, trainer: Any) -> Any:
    """The model after every trick's `on_model` hook, in trick order."""
    for t in tricks():
        if t.on_model is not None:
            model = t.on_model(plan, model, trainer)
    return model


def summaries(plan: Any) -> list[str]:
    """Each trick's words for the plan's one-line summary (TrainPlan.summary), empty ones left out."""
    return [w for t in tricks() if t.summary is not None for w in [t.summary(plan)] if w]


def lr_factor(plan: Any, epochs: int, lrf: float, cos: bool) -> Callable[[float], float] | None:
    """The first trick's replacement for Ultralytics' lr factor per epoch, or None (Ultralytics' own schedule)."""
    for t in tricks():
        factor = t.lr_factor(plan, epochs, lrf, cos) if t.lr_factor is not None else None
        if factor is not None:
            return factor
    return None


def skip_step(plan: Any, trainer: Any, norm: Any) -> bool:
    """Whether a trick skips this optimizer step (each asked, in trick order, until one does)."""
    return any(t.skip_step(plan, trainer, norm) for t in tricks() if t.skip_step is not None)


def epoch_row(plan: Any, trainer: Any, row: dict[str, Any]) -> dict[str, Any]:
    """`row` with every trick's columns of this epoch added, in trick order."""
    for t in tricks():
        if t.epoch_row is not None:
            row.update(t.epoch_row(plan, trainer, row))
    return row


def callbacks() -> list[tuple[str, Callable[[Any], None]]]:
    """(Ultralytics event, function of the trainer) for every trick's callbacks."""
    return [(event, fn) for t in tricks() for event, fn in t.callbacks.items()]
