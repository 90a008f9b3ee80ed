import math

import pytest

from helpers.train import lr


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

    from helpers.data import synthetic

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


def test_ddp_split_follows_ultralytics():
    # batch is global: 4 GPUs x 256 = 1024, no accumulation; 4 x 64 with nbs 1024 accumulates 4 steps.
    assert lr.ddp_split(1024, 1024, 4) == {"per_rank_batch": 256, "accumulate": 1, "global_effective_batch": 1024,
                                           "world": 4}
    assert lr.ddp_split(256, 1024, 4)["accumulate"] == 4
    assert lr.ddp_split(256, 1024, 4)["global_effective_batch"] == 1024
    with pytest.raises(ValueError, match="multiple of 3"):
        lr.ddp_split(256, 256, 3)


def test_warmup_is_long_enough_in_optimizer_steps():
    # 2048 images at effective 256 = 8 steps/epoch: 3 epochs would be 24 steps, so 50 steps need 6.25 epochs,
    # capped at 20% of a 30-epoch run.
    assert lr.warmup_epochs(30, 2048, 256) == pytest.approx(6.0)
    assert lr.warmup_epochs(600, 2048, 256) == pytest.approx(6.25)
    assert lr.warmup_epochs(600, 100_000, 256) == pytest.approx(3.0)  # plenty of steps: Ultralytics' default
    assert lr.warmup_epochs(1, 32, 16) == 0  # Ultralytics never warms up past the second-to-last epoch


def test_warmup_matches_ultralytics_iterations():
    # Ultralytics warms up over round(warmup_epochs * batches_per_epoch) iterations (8.4's _get_warmup_iterations).
    from types import SimpleNamespace

    from ultralytics.engine.trainer import BaseTrainer

    fake = SimpleNamespace(args=SimpleNamespace(warmup_epochs=lr.warmup_epochs(600, 2048, 256)), epochs=600)
    assert BaseTrainer._get_warmup_iterations(fake, 8) == 50


def test_the_warm_up_reason_names_the_rule_that_bound():
    assert lr.warmup_reason(30, 2048, 64).startswith("Ultralytics' 3 epochs")  # 32 steps per epoch: 96 >= 50
    assert lr.warmup_reason(600, 2048, 256).startswith("50 optimizer steps")  # 8 per epoch: 6.25 epochs, no cap
    assert lr.warmup_reason(30, 2048, 256).startswith("capped at 20% of 30 epochs")
    assert "one optimizer step every 8.0 epochs" in lr.warmup_reason(3, 8, 64)
