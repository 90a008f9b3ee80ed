"""The clip trick: the plan's clip reaches Ultralytics' optimizer step, every step's pre-clip norm is logged, and the
relation the workbook teaches holds on real images with Ultralytics' own loss: the norm grows with the batch."""

import math

import pytest

from helpers.data import synthetic
from helpers.measure import gradnorm
from helpers.train.plan import PlanError, TrainPlan
from helpers.train.run import train
from helpers.train.weights import starting_point
from helpers.tricks import clip


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return synthetic.generate(root, synthetic.SynthSpec(n_train=16, n_val=4, imgsz=128, seed=0))


def test_the_clip_follows_its_rule():
    p = TrainPlan(batch=256, nbs=256, batch_ref=64)
    assert clip.max_norm(p) == 10.0  # Ultralytics' own
    assert clip.max_norm(p.replace(clip_rule="linear")) == 40.0  # 10 x 256 / 64
    assert clip.max_norm(p.replace(clip_rule="linear", batch=64)) == 40.0  # the effective batch, not the micro-batch
    assert clip.max_norm(p.replace(clip_norm=3.0)) == 3.0
    assert clip.max_norm(p.replace(clip_rule="off")) == math.inf
    with pytest.raises(PlanError, match="clip_norm=0"):
        p.replace(clip_norm=0)
    with pytest.raises(PlanError, match="did you mean 'linear'"):
        p.replace(clip_rule="lineer")


def test_ultralytics_loss_is_a_sum_so_the_norm_grows_with_the_batch(data, runs):
    """k copies of one image: k x the norm (the loss is the batch's sum). Distinct images: between sqrt(k) and k
    times, and past Ultralytics' clip of 10 already at small batches (a trained model, real images, CPU)."""
    weights, _ = starting_point("yolo12n.yaml", "starter", 128)
    same = gradnorm.norms_by_batch(weights, data, 128, (1, 4), copies=True)
    assert same[4] == pytest.approx(4 * same[1], rel=0.02)
    norms = gradnorm.norms_by_batch(weights, data, 128, (2, 8))
    assert math.sqrt(4) * 0.9 < norms[8] / norms[2] < 4 * 1.1
    assert norms[8] > clip.ULTRALYTICS_NORM


def test_every_run_logs_each_steps_pre_clip_norm(data, tmp_path, runs):
    plan = TrainPlan(data=str(data), train_images=16, imgsz=64, epochs=2, batch=4, nbs=8, workers=0, device="cpu",
                     amp="fp32", cache=False, augment="", attention="stock", project=str(tmp_path), name="clip",
                     clip_norm=2.0, plots=False, warmup_fixed=0.0, extra={"mosaic": 0.0})
    t = train(plan).trainer
    steps = clip.read(t.save_dir)
    assert [int(s["epoch"]) for s in steps] == [1, 1, 2, 2]  # 16 images / 8 per step, two epochs
    assert all(s["max_norm"] == 2.0 for s in steps)
    assert t.optimizer_steps == len(steps)
    epochs = clip.per_epoch(steps)
    assert [e["steps"] for e in epochs] == [2, 2]
    assert all(e["clipped"] == sum(s["norm"] > 2.0 for s in steps if s["epoch"] == e["epoch"]) for e in epochs)
