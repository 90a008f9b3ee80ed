"""The epoch wall clock (helpers.measure.wallclock): what it counts, on a simulated run, including Ultralytics'
out-of-memory retry and NaN redo of an epoch."""

import time
from types import SimpleNamespace

from helpers.measure.wallclock import EpochClock


def trainer(batches=4, images=32, workers=2):
    """What the clock reads of a trainer: its loader's dataset, length and workers."""
    loader = type("Loader", (), {"dataset": list(range(images)), "num_workers": workers,
                                 "__len__": lambda self: batches})()
    return SimpleNamespace(train_loader=loader)


def epoch(clock, t, batches=4, wait=0.0, step=0.002, done=True, validated=True):
    clock.on_train_epoch_start(t)
    for _ in range(batches):
        time.sleep(wait)
        clock.on_train_batch_start(t)
        time.sleep(step)
        clock.on_train_batch_end(t)
        if not done:
            return
    clock.on_train_epoch_end(t)
    if validated:
        time.sleep(0.01)
        clock.on_fit_epoch_end(t)


def test_loop_overhead_and_loader_wait_are_counted_apart():
    c, t = EpochClock(), trainer()
    c.on_train_start(t)
    epoch(c, t)
    epoch(c, t, wait=0.004)
    epoch(c, t, wait=0.004)
    c.on_train_end(t)
    r = c.record()
    assert r["epochs_timed"] == 2 and len(r["loop_s"]) == 3 and r["images_per_epoch"] == 32
    assert 0.3 < r["loader_wait_share"] < 0.8  # 3 of 4 gaps of 4 ms against 2 ms steps
    assert all(0.009 < o < 0.05 for o in r["overhead_s"]) and r["img_s_wall"] < r["img_s"]
    assert c.prefetch_hides_loader()  # 4 batches, 2 workers x 2 prefetched
    names = [row[0] for row in c.rows()]
    assert "waiting for the loader" in names and names[-1] == "note"


def test_an_epoch_restarted_or_redone_is_counted_once():
    c, t = EpochClock(), trainer(workers=0)
    c.on_train_start(t)
    epoch(c, t, done=False)  # out of memory inside the epoch: Ultralytics restarts it
    epoch(c, t)
    epoch(c, t, validated=False)  # NaN recovery: the epoch is redone without on_fit_epoch_end
    epoch(c, t)
    assert len(c.loops) == len(c.fit_ends) == len(c.waits) == 2
    assert not c.prefetch_hides_loader()


def test_the_first_step_and_the_validators_stages_are_recorded():
    c, t = EpochClock(), trainer(workers=0)
    c.on_train_start(t)
    c.on_train_epoch_start(t)
    c.on_train_batch_start(t)
    time.sleep(0.03)  # the run's first step: start-up
    c.on_train_batch_end(t)
    for _ in range(3):
        c.on_train_batch_start(t)
        c.on_train_batch_end(t)
    c.on_train_epoch_end(t)
    t.validator = SimpleNamespace(speed={"preprocess": 0.5, "inference": 2.0, "loss": 0.0, "postprocess": 4.25})
    c.on_fit_epoch_end(t)
    epoch(c, t)  # validation skipped (val_every): the validator keeps its last timings
    t.validator.speed = {"preprocess": 0.25, "inference": 1.0, "loss": 0.0, "postprocess": 2.0}
    epoch(c, t)  # a later epoch's first step is not the run's first step
    r = c.record()
    assert 0.03 <= r["first_step_s"] < r["loop_s"][0] + 1e-6
    assert [v["postprocess"] for v in r["val_ms_per_image"]] == [4.25, 2.0]  # one entry per validation that ran
