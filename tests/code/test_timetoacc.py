"""The time-to-accuracy record and its reader: the target, the clock of each configuration, the collapses counted,
and the plan defaults and step floor that cite the record agree with it."""

import statistics

import pytest

from helpers.records import timetoacc
from helpers.train import lr
from helpers.train.plan import TrainPlan


@pytest.fixture(scope="module")
def rec():
    return timetoacc.load()


def test_the_target_is_the_reference_plans_median_best_and_the_clock_reads_the_solo_runs(rec):
    ref = rec.plan_points(timetoacc.REFERENCE)
    assert len(ref) >= 2 and all(p.plan["effective_batch"] == 64 and p.plan["epochs"] == 30 for p in ref)
    assert rec.target() == pytest.approx(statistics.median(p.best for p in ref))
    clock = rec.clock((256, 1, 320))
    assert clock is not None and clock.at(1) == clock.measured[0]
    assert clock.at(len(clock.measured) + 10) == pytest.approx(clock.measured[0] + (len(clock.measured) + 9)
                                                               * clock.epoch_s)


def test_a_collapse_is_an_epoch_below_half_the_best_before_it_once_learning_shows():
    p = timetoacc.Point("x", 0, "ok", {"train_images": 2048, "effective_batch": 256}, (0.0, 0.04, 0.01, 0.3, 0.12,
                                                                                        0.5, 0.2), (), 1, ())
    assert p.collapses() == [5, 7]  # 0.04 -> 0.01 is noise below LEARNING
    assert p.first_epoch_at(0.3) == 4 and p.steps_to(0.3) == 32


def test_the_step_floor_and_the_lr_default_follow_the_record(rec):
    """The floor: no recorded run that reached 95% of the target had fewer steps per epoch, and every recorded run
    passed mAP50-95 0.05 in fewer steps than the floor's total. The default lr rule: at effective batch 256 the linear
    rule's median best beat the square-root rule's in the same epochs."""
    level = 0.95 * rec.target()
    reached = [p for p in rec.points if p.first_epoch_at(level) is not None]
    assert reached and lr.MIN_STEPS_PER_EPOCH <= min(p.steps_per_epoch for p in reached)
    learned = [p.steps_to(0.05) for p in rec.points if p.steps_to(0.05) is not None]
    assert learned and max(learned) < lr.MIN_STEPS
    assert rec.summary("b256-linear", level)["best_median"] > rec.summary("b256-sqrt", level)["best_median"]
    assert TrainPlan().lr_rule == "linear"
