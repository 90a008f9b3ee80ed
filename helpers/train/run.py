"""The one way the workbook trains: `train(plan)`.

Every notebook, the command line, `pretrain`, the doctor's out-of-memory retry, the benchmarks and the multi-GPU
launcher call it. It validates the dataset first and refuses on errors (or, asked explicitly, drops the bad files and
lists them), applies the plan's tricks in a context that always restores them, hands the plan to DDP workers through
one environment variable, runs Ultralytics with the plan's arguments and returns what happened.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.core.logs import quiet
from helpers.data.sources import DatasetError
from helpers.train.plan import ENV_VAR, PlanError, TrainPlan


@dataclass
class TrainResult:
    """What a run left: its folder, final metrics, timings, the plan it ran, and what was dropped from the data."""

    plan: TrainPlan
    save_dir: Path
    seconds: float
    metrics: dict[str, float]
    model: Any  # the Ultralytics YOLO object; `.trainer` holds the trainer and its logs
    dropped: list[tuple[str, str]] = field(default_factory=list)
    data_check: str = ""

    @property
    def trainer(self) -> Any:
        return self.model.trainer

    @property
    def best(self) -> Path:
        return self.save_dir / "weights" / "best.pt"

    @property
    def last(self) -> Path:
        return self.save_dir / "weights" / "last.pt"

    def curves(self) -> dict[str, list[float]]:
        """results.csv as columns (see helpers.train.curves)."""
        from helpers.train import curves

        return curves.load(self.save_dir)


def checked_data(plan: TrainPlan, drop_bad: bool = False) -> tuple[TrainPlan, list[tuple[str, str]], str]:
    """(the plan to train, files dropped, the validator's summary). A dataset with errors raises DatasetError listing
    each file and line, unless `drop_bad`: then the plan points at a view without those files."""
    from helpers.data import clean, validate

    one_class = bool(plan.extra.get("single_cls", False))  # Ultralytics then takes any class id as the one class
    summary = validate.known_good(plan.data, one_class)
    if summary is not None:
        return plan, [], summary
    report = validate.validate(plan.data, single_cls=one_class)
    if report.ok:
        validate.remember_good(plan.data, report, one_class)
        return plan, [], report.summary()
    if not drop_bad:
        droppable = all(p.kind in clean.PER_FILE for p in report.errors)
        try:
            report.raise_if_errors()
        except DatasetError as e:
            hint = (" or train with drop_bad=True (command line: --drop-bad) to leave those images out" if droppable
                    else "")
            raise DatasetError(f"{e}\nFix them (python -m helpers validate {plan.data}){hint}.") from None
    view, dropped = clean.without_errors(plan.data, report)
    from helpers.data.sources import count_images

    return plan.replace(data=str(view), train_images=count_images(view, "train")), dropped, report.summary()


@contextlib.contextmanager
def applied(plan: TrainPlan) -> Iterator[None]:
    """The plan in $WORKBOOK_PLAN (for this process's trainer and the DDP workers it starts) and its tricks
    installed here; afterwards both are as they were."""
    from helpers.train.trainer import tricks_installed

    before = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = plan.to_json()
    try:
        with tricks_installed(plan), tensorboard_logging(plan.tensorboard):
            yield
    finally:
        if before is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = before


@contextlib.contextmanager
def tensorboard_logging(on: bool) -> Iterator[None]:
    """Ultralytics' TensorBoard callback for this run (its settings file, which DDP workers read too), then the
    setting as it was. Offline: the event files go into the run folder; view them with `tensorboard --logdir`."""
    if not on:
        yield
        return
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise ModuleNotFoundError("tensorboard=True needs the `tensorboard` package: pip install -e '.[tensorboard]' "
                                  "(or set tensorboard=False)")
    from ultralytics.utils import SETTINGS

    before = SETTINGS["tensorboard"]
    SETTINGS.update({"tensorboard": True})
    try:
        yield
    finally:
        SETTINGS.update({"tensorboard": before})


def trainer_class(plan: TrainPlan, trainer: type | None = None) -> type:
    """The trainer for the plan: WorkbookTrainer, or a given subclass of it (it reads the plan)."""
    from helpers.train.trainer import WorkbookTrainer

    if trainer is None:
        return WorkbookTrainer
    if not (isinstance(trainer, type) and issubclass(trainer, WorkbookTrainer)):
        raise TypeError(f"trainer={trainer!r} must be a subclass of WorkbookTrainer (it reads the plan)")
    return trainer


def train(plan: TrainPlan, callbacks: Iterable[Any] = (), *, drop_bad: bool = False, trainer: type | None = None,
          verbose: bool = False, progress: bool = True) -> TrainResult:
    """Train `plan`. callbacks: `helpers.train.callbacks.Hooks` objects, {event: fn} mappings or (event, fn) pairs.
    verbose shows Ultralytics' full log; otherwise one epoch bar (progress) and Ultralytics' warnings, including
    what it says about dataset files."""
    from ultralytics import YOLO

    plan, dropped, data_check = checked_data(plan, drop_bad)
    cls = trainer_class(plan, trainer)
    print(f"data: {data_check}")
    if dropped:
        print(f"dropped {len(dropped)} image(s) with errors (drop_bad=True):")
        for f, why in dropped:
            print(f"  {f}: {why}")
    claimed = not plan.exist_ok  # own_folder makes the folder: a run that fails before writing to it gives it back
    plan = own_folder(plan)
    try:
        start, why = plan.start()
        print(f"start: {why}")
        warn_steps(plan)
        return _fit(YOLO(start), plan, cls, callbacks, verbose, progress, plan.ultralytics_args(), dropped, data_check)
    except BaseException:
        if claimed:
            release_if_empty(plan.run_dir)
        raise


def release_if_empty(folder: Path) -> None:
    """Remove a run folder that holds no file (its empty subfolders too), so the next run may take its name."""
    if folder.is_dir() and not any(p.is_file() for p in folder.rglob("*")):
        shutil.rmtree(folder)  # only empty folders are left in it


def warn_steps(plan: TrainPlan) -> None:
    """One line when the batch is larger than the training set or the run is short of the step floor
    (helpers.train.lr): it trains, as asked, but may learn nothing."""
    from ultralytics.utils import LOGGER

    from helpers.train import lr

    said = [plan.over_data] if plan.over_data else []
    if plan.below_floor:
        said.append(f"{plan.train_images} images at effective batch {plan.effective_batch} for {plan.epochs} epochs: "
                    f"{plan.below_floor}; a run this short may learn nothing; "
                    f"{lr.proposal(plan.epochs, plan.train_images, plan.nbs, plan.effective_batch)} would meet the floor")
    if said:
        LOGGER.warning("; ".join(said))


def holds_run(folder: Path) -> bool:
    """Whether a run folder holds a run's results (weights or results.csv), not merely the folder."""
    return (folder / "results.csv").exists() or any((folder / "weights").glob("*.pt"))


def own_folder(plan: TrainPlan) -> TrainPlan:
    """The plan with a run folder nobody else writes: a taken name becomes name2, name3 ... (Ultralytics' own rule),
    claimed with one atomic mkdir, so two runs started at once never share a folder. exist_ok=True keeps the name
    (the notebooks' stable paths). A torchrun rank keeps the launch's name: every rank and restart must agree on it,
    so a taken folder is refused on the first attempt instead."""
    from helpers.train.distributed import WORKER_ENV, restart_count

    if plan.exist_ok:
        return plan
    if os.environ.get(WORKER_ENV) == "torchrun":
        if restart_count() == 0 and holds_run(plan.run_dir):
            raise PlanError(f"{plan.run_dir} holds another run: choose another --name, --resume it, or pass "
                            "--exist-ok true to write over it")
        return plan
    project = plan.run_dir.parent
    project.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        name = plan.name if n == 1 else f"{plan.name}{n}"
        try:
            (project / name).mkdir()
        except FileExistsError:
            continue
        if n > 1:
            print(f"run folder: {project / name} ({plan.name} is taken; exist_ok=True would reuse it)")
        return plan.replace(name=name, exist_ok=True)  # the folder is this run's now
    raise AssertionError("unreachable")


def last_checkpoint(plan: TrainPlan) -> Path:
    """Where the plan's run keeps last.pt (global rank 0 writes it under DDP)."""
    return plan.run_dir / "weights" / "last.pt"


def newest_checkpoint(plan: TrainPlan) -> Path:
    """The newest last.pt among the plan's name and the names a taken folder becomes (name2, name3 ...); the plan's
    own last.pt when none exists (then resume says there is nothing to resume)."""
    project, name = plan.run_dir.parent, plan.name
    found = [d / "weights" / "last.pt" for d in project.glob(f"{name}*")
             if (d.name == name or d.name[len(name):].isdigit()) and (d / "weights" / "last.pt").exists()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else last_checkpoint(plan)


def resume(plan: TrainPlan, checkpoint: str | Path | None = None, callbacks: Iterable[Any] = (), *,
           trainer: type | None = None, verbose: bool = False, progress: bool = True) -> TrainResult:
    """Continue an interrupted run of `plan` from its last.pt (or `checkpoint`): Ultralytics restores the epoch, the
    optimizer and the EMA; the plan's tricks apply again (the per-epoch logs drop rows the checkpoint does not
    cover)."""
    from ultralytics import YOLO

    # a plan without exist_ok may have trained into NAME2, NAME3 ...: its newest run is the one to continue
    ckpt = Path(checkpoint) if checkpoint else last_checkpoint(plan) if plan.exist_ok else newest_checkpoint(plan)
    if not ckpt.exists():
        raise FileNotFoundError(f"nothing to resume: {ckpt} does not exist (the run saves last.pt after each epoch)")
    return _fit(YOLO(str(ckpt)), plan, trainer_class(plan, trainer), callbacks, verbose, progress, {"resume": True})


def _fit(model: Any, plan: TrainPlan, cls: type, callbacks: Iterable[Any], verbose: bool, progress: bool,
         args: dict[str, Any], dropped: list[tuple[str, str]] = (), data_check: str = "") -> TrainResult:
    """Ultralytics' training with the plan applied around it; the one place that calls `.train(...)`."""
    from helpers.train.callbacks import EpochProgress, attach

    attach(model, callbacks)
    if progress and not verbose:
        EpochProgress().attach(model)
    t0 = time.time()
    with applied(plan), (contextlib.nullcontext() if verbose else quiet()):
        model.train(trainer=cls, **args)
    seconds = time.time() - t0
    t = model.trainer
    metrics = {k: float(v) for k, v in (t.metrics or {}).items()}
    return TrainResult(plan, Path(t.save_dir), seconds, metrics, model, list(dropped), data_check)
