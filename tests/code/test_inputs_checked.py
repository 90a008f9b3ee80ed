"""Values are checked before any work starts, each error naming its key: the tricks' plan fields by type and range,
and the tutorial translator (a bf16 request kept with amp=True, AutoBatch with accumulate, non-numeric values)."""

import pytest

from helpers.train import planner
from helpers.train.plan import PlanError, TrainPlan
from helpers.tricks.translate import TranslateError, translate


@pytest.mark.parametrize("field,value", [("clip_norm", "x"), ("clip_norm", 0), ("restart_epoch", 1.5),
                                         ("restart_fraction", 2.0), ("guard_max_bad", 0), ("guard_lr_drop", 0),
                                         ("empty_cache_every", -1), ("nan_guard", "yes"), ("early_stop", -1),
                                         ("restart_after", "linear"), ("loss_stages", "2:1,1,1")])
def test_a_bad_trick_value_names_its_field(field, value):
    with pytest.raises(PlanError, match=f"{field}="):
        TrainPlan(**{field: value})


def test_good_trick_values_pass():
    p = TrainPlan(clip_norm=3, restart_epoch=5, guard_lr_drop=1.0, extra={"save_period": 5})
    assert p.clip_norm == 3 and p.restart_epoch == 5


def test_the_command_line_refuses_a_bad_trick_value_before_training(runs):
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "helpers", "train", "--profile", "quick", "--clip-norm", "x",
                        "--dry-run"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "clip_norm='x'" in p.stdout + p.stderr
    assert "Traceback" not in p.stdout + p.stderr


def test_amp_dtype_bfloat16_is_kept_when_amp_is_on():
    t = translate({"amp": True, "amp_dtype": "bfloat16"})
    assert t.args["amp"] == "bf16"
    assert translate({"amp": False, "amp_dtype": "bfloat16"}).args["amp"] is False  # AMP off stays off, said so
    plan, _ = planner.translated(TrainPlan(), {"amp": True, "amp_dtype": "torch.bfloat16"})
    assert plan.amp == "bf16"


def test_autobatch_with_accumulate_asks_for_nbs():
    with pytest.raises(TranslateError, match=r"accumulate=4 with batch=-1.*nbs"):
        translate({"batch": -1, "accumulate": 4})
    assert translate({"batch": 64, "accumulate": 4}).args["nbs"] == 256


@pytest.mark.parametrize("args,key", [({"grad_clip_norm": "x"}, "grad_clip_norm"), ({"accumulate": "four"}, "accumulate"),
                                      ({"accumulate": 2.5}, "accumulate"), ({"mosaic_prob": None}, "mosaic_prob"),
                                      ({"empty_cache_every": "5s"}, "empty_cache_every")])
def test_a_bad_tutorial_value_names_its_key(args, key):
    with pytest.raises(TranslateError, match=f"^{key}="):
        translate(args)


def test_undefined_precision_shows_a_dash_with_its_reason():
    from helpers.measure.evaluate import Evaluation

    e = Evaluation("m", 0.3, 0.5, 0.6, 0.4, [("circle", 4, 9, 0.8, 0.7, 0.75, 0.5), ("cross", 2, 3, 1.0, 0.0, 0.0, 0.0)])
    t = e.class_table()
    text = t.to_markdown()
    assert "| cross | 2 | 3 | - | 0.000 |" in text and "| circle | 4 | 9 | 0.800 |" in text
    assert "precision is undefined" in text
