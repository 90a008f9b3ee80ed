"""plan.val_every: validation every k epochs and always the last; the skipped epochs log NaN metrics and cannot
become best.pt (a real CPU run on generated data)."""

import csv
import math

import pytest

from helpers.core import profiles
from helpers.train.plan import PlanError, TrainPlan
from helpers.train.run import train
from helpers.train import plan_view, planner


@pytest.mark.slow
def test_validation_every_second_epoch_and_the_last(runs):
    prof = profiles.get("quick").replace(n_train=16, n_val=4, imgsz=64)
    plan = planner.from_profile(prof, epochs=3, batch=8, nbs=8, weights="", checkpoint="", plots=False,
                                val_every=2, name="val-every")
    result = train(plan, progress=False)
    with open(result.save_dir / "results.csv") as f:
        rows = [{k.strip(): v for k, v in r.items()} for r in csv.DictReader(f)]
    maps = [float(r["metrics/mAP50-95(B)"]) for r in rows]
    assert [int(float(r["epoch"])) for r in rows] == [1, 2, 3]
    assert math.isnan(maps[0]) and not math.isnan(maps[1]) and not math.isnan(maps[2])
    assert result.trainer.validations_skipped == 1 and result.best.exists()


def test_val_every_is_checked_with_what_it_cannot_go_with():
    with pytest.raises(PlanError, match="positive integer"):
        TrainPlan(val_every=0)
    with pytest.raises(PlanError, match="early stop"):
        TrainPlan(val_every=2, early_stop=5)
    with pytest.raises(PlanError, match="val=False"):
        TrainPlan(val_every=2, extra={"val": False})
    rows = {r[0]: r for r in plan_view.rows(TrainPlan(val_every=5))}
    assert rows["validation"][1] == "every 5 epochs"
    settings = [r[0] for r in plan_view.rows(TrainPlan(val_every=5))]
    assert settings.index("loader") + 1 == settings.index("validation") == settings.index("logging") - 1
    assert "validation" not in [r[0] for r in plan_view.rows(TrainPlan())]
    from helpers.tricks import registry, val_every

    assert registry.trick("val_every") is val_every.TRICK
