"""The recipe's arguments are real Ultralytics arguments with the lr the rule says, and curves read results.csv."""

import pytest

from helpers.train import curves, plan as recipe
from helpers.core import profiles


def test_lr_choice_rules():
    assert recipe.LRChoice("sqrt", 256).lr0 == pytest.approx(0.02)
    assert recipe.LRChoice("linear", 256).lr0 == pytest.approx(0.04)
    assert recipe.LRChoice("none", 256).lr0 == pytest.approx(0.01)
    assert "sqrt rule from 0.01 at batch 64" in recipe.LRChoice("sqrt", 256).explain()


def test_train_kwargs_are_accepted_by_ultralytics(tmp_path):
    from ultralytics.cfg import get_cfg

    p = profiles.get("quick")
    kw = recipe.train_kwargs(p, tmp_path / "data.yaml", batch=8, nbs=16, lr0=0.005, warmup=0.0, name="t")
    assert kw["optimizer"] == "SGD"  # 'auto' would ignore lr0
    assert {k: kw[k] for k in recipe.AUGMENT} == {"scale": 0.5, "mosaic": 1.0, "mixup": 0.0, "copy_paste": 0.1}
    cfg = get_cfg(overrides={k: v for k, v in kw.items() if k != "trainer"})  # raises on an unknown argument
    assert (cfg.batch, cfg.nbs, cfg.lr0) == (8, 16, 0.005)


def test_curves_load_and_plot(tmp_path):
    (tmp_path / "results.csv").write_text(
        "epoch,time,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),metrics/recall(B),"
        "metrics/mAP50(B),metrics/mAP50-95(B),val/box_loss,val/cls_loss,val/dfl_loss,lr/pg0,lr/pg1,lr/pg2\n"
        "1,3.0,2.0,4.0,1.5,0.1,0.2,0.05,0.02,2.1,4.1,1.6,0.001,0.001,0.001\n"
        "2,6.0,1.8,3.0,1.4,0.3,0.4,0.25,0.12,1.9,3.1,1.5,0.002,0.002,0.002\n")
    cols = curves.load(tmp_path)
    assert cols["train/box_loss"] == [2.0, 1.8]
    assert curves.final(cols)["mAP50-95"] == pytest.approx(0.12)
    fig = curves.plot(cols)
    assert len(fig.axes) == 3 and len(fig.axes[0].lines) == 6
    with pytest.raises(FileNotFoundError, match="first epoch"):
        curves.load(tmp_path / "nope")
