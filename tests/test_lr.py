import math

import pytest

from helpers import lr


def test_linear_and_sqrt_rules():
    assert lr.scale_lr(0.01, 64, 256, "linear") == pytest.approx(0.04)
    assert lr.scale_lr(0.01, 64, 256, "sqrt") == pytest.approx(0.02)  # the tutorials' 0.01 @ 64 -> 0.02 @ 256
    assert lr.scale_lr(0.01, 256, 1024, "sqrt") == pytest.approx(0.02)
    assert lr.scale_lr(0.02, 256, 64, "linear") == pytest.approx(0.005)
    with pytest.raises(ValueError):
        lr.scale_lr(0.01, 64, 256, "cubic")
    with pytest.raises(ValueError):
        lr.scale_lr(0.01, 0, 256)


@pytest.mark.parametrize("batch,nbs,acc", [(256, 256, 1), (64, 256, 4), (48, 256, 5), (300, 256, 1), (16, 64, 4)])
def test_accumulation(batch, nbs, acc):
    assert lr.accumulate(batch, nbs) == acc
    assert lr.effective_batch(batch, nbs) == batch * acc


def test_weight_decay_differs_between_the_two_effective_256_recipes():
    b256_nbs64 = lr.ultralytics_weight_decay(5e-4, 256, 64)
    b64_nbs256 = lr.ultralytics_weight_decay(5e-4, 64, 256)
    assert b256_nbs64 == pytest.approx(4 * 5e-4) and b64_nbs256 == pytest.approx(5e-4)
    assert b256_nbs64 / b64_nbs256 == pytest.approx(4)
    # At the same nbs the two recipes get the same decay.
    assert lr.ultralytics_weight_decay(5e-4, 256, 256) == lr.ultralytics_weight_decay(5e-4, 64, 256)


def test_auto_optimizer_matches_ultralytics(tmp_path):
    """Run Ultralytics' own build_optimizer choice through a real trainer setup and compare."""
    from ultralytics.models.yolo.detect import DetectionTrainer

    from helpers import synthetic

    data = synthetic.generate(tmp_path / "d", synthetic.SynthSpec(n_train=8, n_val=2, imgsz=64))
    t = DetectionTrainer(overrides={"model": "yolo12n.yaml", "data": str(data), "device": "cpu", "batch": 4,
                                    "nbs": 16, "epochs": 2, "workers": 0, "imgsz": 64, "project": str(tmp_path),
                                    "plots": False, "optimizer": "auto", "lr0": 0.123})
    t._setup_train()
    name, want_lr, _ = lr.ultralytics_auto_optimizer(8, 4, 16, 2, 5)
    assert type(t.optimizer).__name__ == name == "AdamW"
    assert t.optimizer.param_groups[0]["lr"] == pytest.approx(want_lr) != 0.123
    decays = {g["weight_decay"] for g in t.optimizer.param_groups}
    assert lr.ultralytics_weight_decay(5e-4, 4, 16) in decays


def test_auto_switches_to_musgd_on_long_runs():
    assert lr.ultralytics_auto_optimizer(118_287, 256, 256, 600, 80)[0] == "MuSGD"
    assert lr.ultralytics_auto_optimizer(1000, 256, 256, 10, 80) == ("AdamW", round(0.01 / 84, 6), 0.9)
    assert math.ceil(118_287 / 256) * 600 > 10000
