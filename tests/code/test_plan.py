"""The TrainPlan: one rule for every derived number, only real Ultralytics arguments, strict fields, the one channel
to worker processes, and the curves of a run."""

import json

import pytest

from helpers.core import profiles
from helpers.train import curves, lr, plan_view, planner
from helpers.train.plan import ENV_VAR, PlanError, TrainPlan


@pytest.mark.parametrize("batch,nbs,acc,eff", [(256, 256, 1, 256), (64, 256, 4, 256), (32, 256, 8, 256),
                                               (256, 64, 1, 256), (100, 256, 3, 300), (8, 16, 2, 16)])
def test_accumulation_follows_ultralytics_rule(batch, nbs, acc, eff):
    p = TrainPlan(batch=batch, nbs=nbs)
    assert p.accumulate == acc == max(round(nbs / batch), 1)
    assert p.effective_batch == eff


def test_gpu_profiles_plan_effective_b256_at_640():
    for name in ("gpu", "full"):
        prof = profiles.get(name)
        p = TrainPlan(batch=prof.batch, nbs=prof.nbs, imgsz=prof.imgsz, model=prof.model)
        assert (p.effective_batch, p.imgsz, p.model) == (256, 640, "yolo12n.yaml")


def test_lr0_by_rule_from_the_effective_batch():
    assert TrainPlan(batch=256, nbs=256, lr_rule="sqrt").lr0 == pytest.approx(0.02)
    assert TrainPlan(batch=64, nbs=256, lr_rule="linear").lr0 == pytest.approx(0.04)  # 64 x 4 = 256 per step
    assert TrainPlan(batch=256, nbs=256, lr_rule="none").lr0 == pytest.approx(0.01)
    assert TrainPlan(batch=256, nbs=256, lr_fixed=0.002).lr0 == 0.002
    # On 2 GPUs Ultralytics' batch is global: 512 = 256 per GPU, one step sees 512 images.
    two = TrainPlan(batch=512, nbs=512, device="0,1", lr_rule="linear")
    assert (two.world, two.per_gpu_batch, two.effective_batch, two.lr0) == (2, 256, 512, pytest.approx(0.08))


def test_warm_up_comes_from_the_datasets_real_size():
    small = TrainPlan(batch=256, nbs=256, epochs=30, train_images=2048)  # 8 steps per epoch
    assert small.warmup_epochs == lr.warmup_epochs(30, 2048, 256) == 6.0  # >= 50 steps, <= 20% of the run
    big = TrainPlan(batch=256, nbs=256, epochs=30, train_images=118_000)
    assert big.warmup_epochs == 3.0
    assert TrainPlan(warmup_fixed=0.0).warmup_epochs == 0.0


def test_weight_decay_as_ultralytics_scales_it():
    assert TrainPlan(batch=256, nbs=64).weight_decay == pytest.approx(0.002)  # 4x: 'same recipe' is not the same
    assert TrainPlan(batch=64, nbs=256).weight_decay == pytest.approx(0.0005)


def test_ultralytics_args_are_real_arguments():
    from ultralytics.cfg import get_cfg

    p = TrainPlan(data="d.yaml", batch=8, nbs=16, lr_rule="sqrt", extra={"close_mosaic": 15, "save_period": 5})
    args = p.ultralytics_args()
    cfg = get_cfg(overrides=args)  # raises on an unknown argument
    assert (cfg.batch, cfg.nbs, cfg.lr0, cfg.optimizer) == (8, 16, p.lr0, "SGD")  # 'auto' would ignore lr0
    assert (cfg.close_mosaic, cfg.save_period, cfg.warmup_epochs) == (15, 5, p.warmup_epochs)
    assert {k: args[k] for k in ("mosaic", "scale", "mixup", "copy_paste")} == {
        "mosaic": 1.0, "scale": 0.5, "mixup": 0.0, "copy_paste": 0.1}
    assert "trainer" not in args and "accumulate" not in args


@pytest.mark.parametrize("change,message", [
    ({"datset": "x"}, "did you mean 'data'"),
    ({"attention": "sdpaa"}, "did you mean 'sdpa'"),
    ({"checkpoint": "everything"}, "choose ''"),
    ({"batch": 0}, "positive integer"),
    ({"batch": "abc"}, "positive integer"),
    ({"batch": 3, "device": "0,1"}, "multiple of 2"),
    ({"augment": "long_run"}, "did you mean 'long-run'"),
    ({"extra": {"close_mosiac": 10}}, "did you mean 'close_mosaic'"),
    ({"extra": {"accumulate": 4}}, "tutorial argument"),
    ({"extra": {"batch": 4}}, "field 'batch' instead .`--batch`"),
    ({"extra": {"lr0": 0.1}}, "field 'lr_fixed' instead .`--lr-fixed`"),
    ({"extra": {"deterministic": False}}, "field 'deterministic'"),
    ({"sdpa_kernel": "flash2"}, "choose '' or one of"),
    ({"cudnn_benchmark": True}, "set deterministic=False too"),
])
def test_bad_fields_are_clear_errors(change, message):
    with pytest.raises(PlanError, match=message):
        TrainPlan().replace(**change)


def test_the_plan_round_trips_through_its_one_environment_variable(monkeypatch):
    p = TrainPlan(data="d.yaml", batch=64, nbs=256, checkpoint="all", attention="sdpa", extra={"close_mosaic": 5},
                  clip_norm=3.0, loss_stages="1:1,1,1;3:2,0.5,1", early_stop=5, restart_epoch=20, nan_guard=True)
    assert TrainPlan.from_json(p.to_json()) == p
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert TrainPlan.from_env() is None
    monkeypatch.setenv(ENV_VAR, p.to_json())
    assert TrainPlan.from_env() == p
    bad = json.loads(p.to_json()) | {"accumulate": 4}
    with pytest.raises(PlanError, match="no field 'accumulate'"):
        TrainPlan.from_json(json.dumps(bad))


def test_from_profile_counts_the_training_images_and_takes_overrides(runs):
    prof = profiles.get("quick").replace(n_train=12, n_val=4, imgsz=64)
    p = planner.from_profile(prof, dataset="synthetic", epochs=7, lr_rule="linear")
    assert p.train_images == 12 and p.epochs == 7 and p.batch == prof.batch and p.data.endswith("dataset.yaml")
    with pytest.raises(PlanError, match="did you mean 'epochs'"):
        planner.from_profile(prof, epoch=7)


def test_explain_names_each_setting_and_its_reason():
    p = TrainPlan(batch=64, nbs=256, train_images=2048, epochs=30)
    rows = {r[0]: r for r in plan_view.rows(p)}
    assert rows["accumulate"][1:] == ("4", "max(round(nbs 256 / batch 64), 1)")
    assert rows["lr0"][1] == "0.04" and "linear rule from 0.01 at batch 64" in rows["lr0"][2]  # the default rule
    assert rows["optimizer steps"][1:] == ("8.0 per epoch, 240 in all", "at least the floor 8 per epoch and 200 in all "
                                           "(benchmarks/results/tta-h200)")
    assert rows["warm-up epochs"][1:] == ("6", "capped at 20% of 30 epochs (it would want 6.25 epochs: 8.0 optimizer "
                                               "steps per epoch)")  # the rule that bound, not all of them
    assert "64 x 4 = 256 per step" in plan_view.summary(p)
    assert "| accumulate | 4 |" in plan_view.explain(p).to_markdown()


def test_translated_tutorial_arguments_land_on_the_plan():
    p, tr = planner.translated(TrainPlan(data="d.yaml"), 
        {"batch": 64, "accumulate": 4, "grad_clip_norm": 2.0, "mosaic_prob": 0.5, "amp_dtype": "bfloat16",
         "gradient_checkpointing": True, "restart_epoch": 300, "lr0": 0.02, "epochs": 600, "close_mosaic": 15})
    assert (p.batch, p.nbs, p.effective_batch, p.lr0, p.epochs, p.amp, p.checkpoint) == \
        (64, 256, 256, 0.02, 600, "bf16", "all")
    assert p.clip_norm == 2.0 and p.restart_epoch == 300
    assert p.extra == {"close_mosaic": 15, "mosaic": 0.5}
    with pytest.raises(PlanError, match="batch-size.*train_dual.py"):
        planner.translated(TrainPlan(), {"batch-size": 64})


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


def test_the_kernel_choices_reach_ultralytics_and_the_table():
    fast = TrainPlan(deterministic=False, cudnn_benchmark=True, sdpa_kernel="flash")
    assert fast.ultralytics_args()["deterministic"] is False and TrainPlan().ultralytics_args()["deterministic"] is True
    rows = {r[0]: r for r in plan_view.rows(fast)}
    assert rows["kernels"][1] == "cuDNN benchmark" and "SDPA kernel flash" in rows["attention"][1]
    assert {r[0]: r for r in plan_view.rows(TrainPlan())}["kernels"][1] == "deterministic"


def test_loader_workers_are_sized_from_the_cores(runs):
    from helpers.train.planner import auto_workers

    assert auto_workers("", cpus=16) == 15 and auto_workers("0", cpus=16) == 15
    assert auto_workers("0,1", cpus=32) == 15 and auto_workers("0,1,2,3", cpus=16) == 3
    assert auto_workers("cpu", cpus=2) == 0 and auto_workers("", cpus=1) == 1
    gpu = profiles.get("gpu").replace(n_train=8, n_val=4, imgsz=64)
    assert gpu.workers == -1
    p = planner.from_profile(gpu, dataset="synthetic")
    assert p.workers == auto_workers(p.device) and p.workers >= 1
    assert planner.from_profile(gpu, dataset="synthetic", workers=3).workers == 3  # a value the user set stays
    assert (p.augment_device, p.deterministic, p.cudnn_benchmark) == ("gpu", False, True)


@pytest.mark.parametrize("model", ["yolo12n.yaml", "yolo11n.yaml"])
@pytest.mark.parametrize("checkpoint", ["", "attention", "all"])
def test_every_row_of_the_plan_gives_its_reason(model, checkpoint):
    plan = TrainPlan(data="d.yaml", model=model, checkpoint=checkpoint, train_images=512)
    for setting, value, why in plan_view.rows(plan):
        assert str(value).strip() and str(why).strip(), f"row {setting!r} has no value or no reason: {value!r}, {why!r}"


def test_the_planner_fits_the_batch_to_the_data_and_an_explicit_batch_trains_with_one_warning(tmp_path, monkeypatch,
                                                                                                capsys):
    """205 images at the gpu profile's 256 would be 0.8 optimizer steps per epoch: the planner lowers nbs to the
    largest power of two that gives the floor's steps and says why; asked for explicitly, 256 stays, the row says it
    is too few and what would do, and train() warns once in one line."""
    from helpers.train import run

    monkeypatch.setattr("helpers.data.sources.choose", lambda source, profile: tmp_path / "data.yaml")
    monkeypatch.setattr("helpers.data.sources.count_images", lambda data, split: 205)
    gpu = profiles.get("gpu")
    fitted = planner.from_profile(gpu, epochs=20)
    assert (fitted.nbs, fitted.batch, fitted.fitted_from) == (16, 16, 256)
    assert fitted.steps_per_epoch >= lr.MIN_STEPS_PER_EPOCH and fitted.total_steps >= lr.MIN_STEPS
    row = {r[0]: r for r in plan_view.rows(fitted)}["optimizer steps"]
    assert row[1] == "12.8 per epoch, 256 in all" and "nbs lowered from 256 to 16" in row[2]
    for explicit in (planner.from_profile(gpu, epochs=20, nbs=256),  # an override: the user's choice
                     planner.from_profile(profiles.resolve("gpu", base=gpu, nbs=128), epochs=20)):  # a parameter
        assert explicit.fitted_from == 0 and explicit.below_floor
    kept = planner.from_profile(gpu, epochs=20, nbs=256)
    row = {r[0]: r for r in plan_view.rows(kept)}["optimizer steps"]
    assert row[1] == "0.8 per epoch, 16 in all" and "too few to learn from" in row[2] and "nbs=16 would" in row[2]
    from ultralytics.utils import LOGGER

    seen = []
    monkeypatch.setattr(LOGGER, "warning", lambda msg, *a, **k: seen.append(msg))
    run.warn_steps(kept)
    run.warn_steps(fitted)
    assert len(seen) == 1 and "\n" not in seen[0] and "may learn nothing" in seen[0] and "nbs=16" in seen[0]
    # a smaller batch a user chose is never raised, and more epochs are proposed where no batch would do
    assert lr.fitting_nbs(3, 32, 8) == 8
    assert lr.proposal(3, 32, 16, 16) == "at least 128 training images with epochs=25"  # 8 steps x 25 = 200
    assert lr.proposal(30, 32, 16, 16) == "at least 128 training images"  # 8 steps x 30 epochs meet both floors
    assert lr.proposal(10, 160, 16, 16) == "epochs=20"  # 10 steps per epoch: only the total is short


@pytest.mark.parametrize("name", ["sgd", "ADAM", "adamax", "adamw", "nadam", "RAdam", "rmsprop", "RMSProp"])
def test_an_optimizer_ultralytics_builds_is_taken_in_its_spelling(name):
    """Ultralytics matches optimizer names whatever their case: the plan takes what it builds, in its spelling."""
    from types import SimpleNamespace

    import torch
    from ultralytics.engine.trainer import BaseTrainer

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    built = BaseTrainer.build_optimizer(SimpleNamespace(args=SimpleNamespace()), model, name=name)
    assert TrainPlan(data="x.yaml", optimizer=name).optimizer == type(built).__name__


def test_an_optimizer_ultralytics_refuses_is_refused_with_the_nearest_name():
    from types import SimpleNamespace

    import torch
    from ultralytics.engine.trainer import BaseTrainer

    with pytest.raises(NotImplementedError):
        BaseTrainer.build_optimizer(SimpleNamespace(args=SimpleNamespace()), torch.nn.Linear(2, 2), name="adamx")
    with pytest.raises(PlanError, match="did you mean 'Adamax'"):
        TrainPlan(data="x.yaml", optimizer="adamx")


def test_a_batch_larger_than_the_data_is_said_where_the_plan_is_shown_and_when_it_trains(monkeypatch):
    """Ultralytics' build_dataloader caps the batch at the data: the plan says so (and what lr0 was set for)."""
    from ultralytics.data.build import build_dataloader
    from ultralytics.utils import LOGGER

    from helpers.train import run

    loader = build_dataloader(list(range(4)), 64, workers=0, shuffle=False, device="cpu")
    assert loader.batch_size == 4  # the oracle: four images give batches of four
    plan = TrainPlan(data="x.yaml", batch=64, nbs=64, train_images=4)
    assert plan.over_data.startswith("batch 64 is more than the 4 training images: Ultralytics trains batches of 4")
    assert {r[0]: r for r in plan_view.rows(plan)}["micro-batch (batch)"][2] == plan.over_data
    seen = []
    monkeypatch.setattr(LOGGER, "warning", lambda msg, *a, **k: seen.append(msg))
    run.warn_steps(plan)
    assert len(seen) == 1 and seen[0].startswith(plan.over_data + "; 4 images at effective batch 64")  # one line
    assert not TrainPlan(data="x.yaml", batch=4, nbs=64, train_images=4).over_data


def test_an_unknown_train_option_names_the_nearest(capsys):
    from helpers.train import launch

    with pytest.raises(SystemExit) as e:
        launch.parser().parse_args(["--attenton", "sdpa"])
    assert e.value.code == 2 and "--attenton (did you mean '--attention'?)" in capsys.readouterr().err


@pytest.mark.parametrize("batch", [-1, 0.7])
def test_ultralytics_autobatch_is_answered_with_the_workbooks_own_planner(batch):
    with pytest.raises(PlanError, match="AutoBatch.*fit_memory"):
        TrainPlan(data="x.yaml", batch=batch)


@pytest.mark.parametrize("imgsz", [[64, 96], (96, 64), "64,96", "[64, 96]", 96])
def test_a_list_of_image_sizes_trains_at_the_size_ultralytics_trains(imgsz, monkeypatch):
    from ultralytics.utils import LOGGER
    from ultralytics.utils.checks import check_imgsz

    sizes = [int(x) for x in str(imgsz).strip("[]()").split(",")]
    theirs = check_imgsz(sizes if len(sizes) > 1 else sizes[0], stride=32, floor=32, max_dim=1)
    seen = []
    monkeypatch.setattr(LOGGER, "warning", lambda msg, *a, **k: seen.append(msg))
    assert TrainPlan(data="x.yaml", imgsz=imgsz).imgsz == theirs == 96
    assert len(seen) == (len(sizes) > 1)  # a list is said once


@pytest.mark.parametrize("device, batch, nbs", [("", 128, 256), ("0,1", 256, 512), ("0,1,2,3", 512, 1024)])
def test_the_memory_planner_fits_each_gpu_and_the_plan_counts_them_all(device, batch, nbs):
    """The probe measures one GPU (20 GiB + 0.3 GiB per image here: 128 fit an 80 GiB card); the plan's batch and nbs
    are global, so on several GPUs each gets what one fits and the effective batch per GPU stays nbs / GPUs."""
    from helpers.train.probe import ProbeResult

    def fake(cfg):
        return ProbeResult({}, "", "fake", ok=True, peak_allocated_gib=20 + 0.3 * cfg.batch, img_s=1.0)

    plan = TrainPlan(data="d.yaml", device=device, batch=nbs, nbs=nbs, train_images=4096)
    fitted, mem = planner.fit_memory(plan, run=fake, card_gib=80.0)
    assert mem.micro_batch == 128
    assert (fitted.batch, fitted.nbs, fitted.per_gpu_batch, fitted.accumulate) == (batch, nbs, 128, nbs // batch)


def test_the_training_set_stored_on_the_gpu_is_planned_around(monkeypatch):
    """With the set decoded on the GPU (the store's own choice), the micro-batch is planned on what the store leaves."""
    import torch

    from helpers.pipeline import store
    from helpers.train.probe import ProbeResult

    def fake(cfg):
        return ProbeResult({}, "", "fake", ok=True, peak_allocated_gib=20 + 0.3 * cfg.batch, img_s=1.0)

    plan = TrainPlan(data="d.yaml", batch=256, nbs=256, train_images=8192, augment_device="gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(store, "choose", lambda mode, n, imgsz, device, sharers=1: store.Choice("gpu", "fits"))
    fitted, mem = planner.fit_memory(plan, run=fake, card_gib=70.0)  # 8192 images at 640 px: 9.4 GiB
    assert planner.gpu_store_gib(plan) == pytest.approx(store.decoded_bytes(8192, 640) / 2**30)
    assert (mem.micro_batch, fitted.batch) == (64, 64) and "9.4 GiB" in mem.notes[0]  # 128 needs 58.4 GiB of 0.9 x 60.6
    monkeypatch.setattr(store, "choose", lambda mode, n, imgsz, device, sharers=1: store.Choice("host", "fits"))
    assert planner.fit_memory(plan, run=fake, card_gib=70.0)[1].micro_batch == 128  # 58.4 of 0.9 x 70


def test_the_probe_gets_the_datasets_classes(tmp_path):
    """The head's outputs and the loss's tensors grow with the classes: the planner probes with the dataset's."""
    yaml = tmp_path / "d.yaml"
    yaml.write_text("path: .\ntrain: images\nval: images\nnames: [a, b, c, d, e]\n")
    plan = TrainPlan(data=str(yaml), batch=16, nbs=16)
    assert planner.probe_config(plan).nc == 5
    assert planner.probe_config(plan.replace(extra={"single_cls": True})).nc == 1
    assert planner.probe_config(plan.replace(data=str(tmp_path / "gone.yaml"))).nc == 80  # unread: the default
