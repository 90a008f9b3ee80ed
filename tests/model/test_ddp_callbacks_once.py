"""Ultralytics' own DDP workers run each of the workbook's callbacks once per event (issue 35, item 5).

A launching trainer (2 'GPUs') writes Ultralytics' DDP script (`generate_ddp_command`: the trainer class, its
arguments, the model and its `callbacks`, pickled) and starts it under torch.distributed.run, as BaseTrainer.train()
does; the two ranks train 2 epochs of a tiny generated dataset on the CPU with gloo (helpers.tricks.cpu_ddp, through
$WORKBOOK_WORKER=torchrun). The pickled callbacks already hold the tricks' and the trainer's own callbacks, and the
worker's trainer adds them again in __init__ unless it checks. A spy trick, registered in both processes (a worker
imports this module when it unpickles the spy's functions, as discovery imports a trick's module), counts in each rank
every call of every workbook callback (helpers.*, and this module's) from the end of the set-up on: each must run once
per process per event and epoch (once per batch for batch events). A callback added only in the launching process
(not by the registry) must still run, once: the worker's callbacks come from the pickle. Before the fix (added only
if not registered already) rank 0 listed and ran each of them twice per event: the recipe trainer's four, the tricks'
and the spy's.
"""

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from helpers.tricks.registry import Trick

SPY_ENV = "CALLBACK_SPY"  # the folder the spies write to, one file per process


def _log(t, event: str, fn: str) -> None:
    from helpers.train.distributed import global_rank

    rec = {"pid": os.getpid(), "rank": global_rank(), "event": event, "epoch": getattr(t, "epoch", None), "fn": fn,
           "batches": len(t.train_loader) if getattr(t, "train_loader", None) is not None else None}
    with open(Path(os.environ[SPY_ENV]) / f"{os.getpid()}.jsonl", "a") as f:
        f.write(json.dumps(rec) + "\n")


def _workbook(fn) -> bool:
    """One of the workbook's callbacks (the tricks', the trainers', this test's), not one of Ultralytics' own."""
    module = getattr(fn, "__module__", "") or ""
    return module.startswith("helpers.") or module == __name__


def _name(fn) -> str:
    """A callback's module and name: two tricks may each have an `epoch_start`."""
    return f"{fn.__module__}:{fn.__qualname__}"


def _counted(event: str, fn):
    def call(t):
        _log(t, event, _name(fn))
        return fn(t)

    call.counted = True
    return call


def spy_setup_end(t) -> None:
    """on_pretrain_routine_end: this call counted, and what the trainer's lists hold; from here on every call of a
    workbook callback is counted (each list entry wrapped, so a function listed twice is counted twice)."""
    _log(t, "on_pretrain_routine_end", _name(spy_setup_end))
    if any(getattr(f, "counted", False) for fns in t.callbacks.values() for f in fns):
        return  # wrapped already (by a second entry of this function)
    listed = Counter((event, _name(f)) for event, fns in t.callbacks.items() for f in fns if _workbook(f))
    _log(t, "lists", json.dumps(sorted([e, f, n] for (e, f), n in listed.items())))
    for event, fns in t.callbacks.items():
        t.callbacks[event] = [_counted(event, f) if _workbook(f) else f for f in fns]


def spy_epoch_end(t) -> None:
    """A trick's per-epoch callback (counted by the wrapper)."""


def user_epoch_end(t) -> None:
    """A callback of the launching process only (not the registry's): the worker has it from the pickle alone."""


SPY = Trick("callback_spy", callbacks={"on_pretrain_routine_end": spy_setup_end, "on_train_epoch_end": spy_epoch_end},
            doc="test: counts the workbook's callback calls in a DDP worker")

if os.environ.get(SPY_ENV) and os.environ.get("LOCAL_RANK") is not None:  # a DDP worker unpickling the callbacks
    from helpers.tricks import registry as _registry

    _registry.register(SPY)
    _log(None, "imported", __name__)



@pytest.mark.slow
def test_ultralytics_ddp_workers_run_each_workbook_callback_once_per_event(tmp_path, runs, monkeypatch):
    from helpers.core import profiles
    from helpers.data import synthetic
    from helpers.train import planner
    from helpers.train.run import applied
    from helpers.train.trainer import WorkbookTrainer
    from helpers.tricks import recipe, registry

    data = synthetic.generate(tmp_path / "shapes", synthetic.SynthSpec(n_train=8, n_val=4, imgsz=64))
    plan = planner.from_profile(profiles.get("quick").replace(imgsz=64), dataset=data, device="cpu", epochs=2,
                                batch=4, nbs=4, weights="", **recipe.tutorial(2), workers=0, plots=False,
                                project=str(runs), name="ddp-callbacks", extra={"val": False})
    spy = tmp_path / "spy"
    spy.mkdir()
    monkeypatch.setenv(SPY_ENV, str(spy))
    monkeypatch.setenv("WORKBOOK_WORKER", "torchrun")  # the ranks' CPU plumbing (gloo, DDP without device ids)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    registry.register(SPY)
    try:
        with applied(plan):
            t = WorkbookTrainer(overrides=dict(model="yolo12n.yaml", **plan.ultralytics_args()))
            t.add_callback("on_train_epoch_end", user_epoch_end)
            t.model = t.get_model(cfg="yolo12n.yaml", verbose=False)  # what YOLO.train() hands the trainer
            t.ddp, t.world_size = True, 2  # what BaseTrainer.__init__ sets in a process launching on 2 GPUs
            t.train()  # Ultralytics' launch: ultralytics.utils.dist.generate_ddp_command, torch.distributed.run
    finally:
        registry.unregister(SPY.name)

    recs = [json.loads(line) for f in sorted(spy.glob("*.jsonl")) for line in f.read_text().splitlines()]
    by_pid = {}
    for r in recs:
        by_pid.setdefault(r["pid"], set()).add(r["rank"])
    assert os.getpid() not in by_pid and sorted(r for ranks in by_pid.values() for r in ranks) == [0, 1]
    imported = [r for r in recs if r["event"] == "imported"]
    assert len(imported) == 2, imported  # each rank imported this module while unpickling: the spy is registered there

    for rank in (0, 1):
        mine = [r for r in recs if r["rank"] == rank]
        lists = json.loads(next(r["fn"] for r in mine if r["event"] == "lists"))
        twice = [(e, f, n) for e, f, n in lists if n != 1]
        calls = Counter((r["event"], r["epoch"], r["fn"]) for r in mine if r["event"] not in ("imported", "lists"))
        batches = {r["epoch"]: r["batches"] for r in mine if r["event"] == "on_train_batch_end"}
        wrong = {k: n for k, n in calls.items()
                 if n != (batches[k[1]] if k[0] == "on_train_batch_end" else 1)}
        assert not twice and not wrong, f"rank {rank}: listed more than once {twice}; calls per event {wrong}"
        assert calls[("on_pretrain_routine_end", None, _name(spy_setup_end))] == 1
        for epoch in (0, 1):
            for event, fn in (("on_train_epoch_start", "helpers.train.trainer:WorkbookTrainer._open_epoch"),
                              ("on_train_epoch_start", "helpers.tricks.loss_stages:epoch_start"),
                              ("on_train_epoch_start", "helpers.tricks.clip:epoch_start"),
                              ("on_train_epoch_end", "helpers.tricks.empty_cache:release"),
                              ("on_fit_epoch_end", "helpers.train.trainer:WorkbookTrainer._log_epoch"),
                              ("on_train_epoch_end", _name(spy_epoch_end)), ("on_train_epoch_end", _name(user_epoch_end))):
                assert calls[(event, epoch, fn)] == 1, (rank, event, epoch, fn)
            assert calls[("on_train_batch_end", epoch, "helpers.tricks.guard:batch_end")] == batches[epoch] >= 1
