"""The stability tricks as pure logic: schedule, loss gains, clip, NaN guard, early stop, atomic writes, translator."""

import os
from types import SimpleNamespace

import pytest
import torch

from helpers.train.plan import PlanError, TrainPlan
from helpers.tricks import checkpoint_io, convergence, guard, loss_stages, recipe, schedule, translate


def test_schedule_restart_exp_and_cosine():
    s = schedule.Schedule(epochs=10, lrf=0.01, restart_epoch=6, restart_fraction=0.5, decay=0.9)
    assert s(0) == pytest.approx(1.0) and s(5) == pytest.approx(s.base(5))  # Ultralytics' linear before it
    assert s(6) == pytest.approx(0.5) and s(8) == pytest.approx(0.5 * 0.81)
    c = schedule.Schedule(epochs=10, lrf=0.01, restart_epoch=6, restart_fraction=0.5, after="cosine")
    assert c(6) == pytest.approx(0.5) and c(9) == pytest.approx(0.01)
    assert c(7) > c(8) > c(9)
    with pytest.raises(ValueError, match="inside the run"):
        schedule.Schedule(epochs=10, restart_epoch=10)


def test_schedule_base_is_ultralytics_own():
    from ultralytics.utils.torch_utils import one_cycle

    s = schedule.Schedule(epochs=30, lrf=0.02, cos=True)
    oc = one_cycle(1, 0.02, 30)
    assert all(s(e) == pytest.approx(oc(e)) for e in range(30))


def test_loss_stages_scaled_and_lookup():
    st = loss_stages.LossStages.scaled(600)
    assert [s[0] for s in st.stages] == [1, 101, 451]
    assert st.at(100) == (1.5, 0.8, 0.5) and st.at(101) == (1.0, 1.0, 1.0) and st.at(600) == (0.7, 1.2, 1.3)
    assert [s[0] for s in loss_stages.LossStages.scaled(6).stages] == [1, 2, 5]
    with pytest.raises(ValueError):
        loss_stages.LossStages(((2, 1, 1, 1),))


def test_loss_value_changes_with_the_stage():
    """The real detection loss on a fixed batch: the box term doubles when the stage doubles its gain."""
    from ultralytics.cfg import get_cfg
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    model = DetectionModel("yolo12n.yaml", nc=5, verbose=False)
    model.args = get_cfg()
    batch = {"img": torch.rand(2, 3, 64, 64), "batch_idx": torch.tensor([0.0, 1.0]), "cls": torch.tensor([[1.0], [3.0]]),
             "bboxes": torch.tensor([[0.5, 0.5, 0.3, 0.3], [0.4, 0.6, 0.2, 0.4]])}
    trainer = SimpleNamespace(args=model.args, model=model)
    stages = loss_stages.LossStages(((1, 1.0, 1.0, 1.0), (3, 2.0, 0.5, 1.0)))
    base = {"box": 7.5, "cls": 0.5, "dfl": 1.5}
    model.train()
    loss_stages.apply(trainer, stages, base, epoch=2)
    _, before = model.loss(batch)
    assert loss_stages.apply(trainer, stages, base, epoch=3) == (15.0, 0.25, 1.5)
    _, after = model.loss(batch)  # same criterion object, built before the switch
    assert float(after["box_loss"]) == pytest.approx(2 * float(before["box_loss"]), rel=1e-5)
    assert float(after["cls_loss"]) == pytest.approx(0.5 * float(before["cls_loss"]), rel=1e-5)
    assert float(after["dfl_loss"]) == pytest.approx(float(before["dfl_loss"]), rel=1e-5)


def fake_trainer(clip_norm, loss=1.0, max_bad=3):
    """The workbook's optimizer step on a one-layer model, with the plan's clip and the NaN guard's skip."""
    from helpers.train.trainer import WorkbookTrainer

    lin = torch.nn.Linear(4, 1, bias=False)
    opt = torch.optim.SGD(lin.parameters(), lr=1.0)
    plan = TrainPlan(clip_norm=clip_norm, nan_guard=True, guard_max_bad=max_bad)
    t = SimpleNamespace(model=lin, optimizer=opt, scaler=torch.amp.GradScaler("cpu", enabled=False), ema=None,
                        plan=plan, device=torch.device("cpu"), guard=guard.NaNGuard(max_bad=max_bad), step_norms=[],
                        loss=torch.tensor(loss), bad_loss=False, stepped_loss=None, epoch=0, optimizer_steps=0,
                        skipped_steps=0, lr_scale=1.0, agreed=lambda flag: flag)
    return t, lin, opt, lambda: (WorkbookTrainer.optimizer_step(t), guard.batch_end(t))  # as in Ultralytics' loop


def test_clip_norm_is_applied_and_logged():
    t, lin, opt, step = fake_trainer(clip_norm=2.0)
    lin.weight.grad = torch.tensor([[30.0, 40.0, 0.0, 0.0]])  # norm 50
    w0 = lin.weight.detach().clone()
    step()
    assert [float(n) for n in t.step_norms] == [pytest.approx(50.0)]  # the pre-clip norm is kept for the log
    assert float((lin.weight.detach() - w0).norm()) == pytest.approx(2.0, rel=1e-5)  # SGD lr 1: the update is the clipped grad


def test_nan_guard_skips_lowers_lr_and_restores():
    t, lin, opt, step = fake_trainer(clip_norm=10.0, max_bad=2)
    lin.weight.grad = torch.ones(1, 4)
    step()  # good: snapshot taken
    good = lin.weight.detach().clone()
    with torch.no_grad():
        lin.weight.mul_(float("nan"))  # weights corrupted outside the step
    lin.weight.grad = torch.full((1, 4), float("nan"))
    step()
    assert torch.isnan(lin.weight).all() and t.guard.events[-1]["action"] == "skip+lr_drop"
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)
    lin.weight.grad = torch.full((1, 4), float("nan"))
    step()
    assert t.guard.events[-1]["action"] == "restore" and torch.equal(lin.weight, good)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.25) and t.guard.lr_scale == pytest.approx(0.25)
    assert t.lr_scale == pytest.approx(0.25)  # the schedule keeps the lowered lr
    t.loss = torch.tensor(float("inf"))  # a non-finite loss is bad even with finite gradients
    lin.weight.grad = torch.ones(1, 4)
    step()
    assert t.guard.events[-1]["loss_finite"] is False and torch.equal(lin.weight, good)
    assert (t.optimizer_steps, t.skipped_steps) == (1, 3)  # the per-rank report counts what was taken and skipped
    assert [e["step"] for e in t.guard.events] == [1, 2, 3]


def test_guard_leaves_fp16_scaler_overflow_to_the_scaler():
    assert not guard.NaNGuard.is_bad(True, float("inf"), scaler_enabled=True)
    assert guard.NaNGuard.is_bad(True, float("inf"), scaler_enabled=False)
    assert guard.NaNGuard.is_bad(False, 1.0, scaler_enabled=True)


def test_early_stop_fires_on_stagnation_not_on_improvement():
    cfg = convergence.EarlyStop(patience=4, min_delta=0.01, window=3)
    improving = [0.1 * i for i in range(10)]
    flat = [0.1, 0.3, 0.5, 0.5, 0.505, 0.5, 0.502, 0.5]
    norms = [1.0] * 10
    assert convergence.diagnose([1.0] * 10, improving, norms, cfg) is None
    reason = convergence.diagnose([1.0] * 8, flat, norms[:8], cfg)
    assert reason and "not improved" in reason and "5 epochs" in reason
    # A flat zero at the start (seen on the H100: 11 epochs at mAP 0 before a b256 run starts learning) is no plateau.
    assert convergence.diagnose([1.0] * 12, [0.0] * 12, [1.0] * 12, cfg) is None
    # Nor are those zeros stagnation once mAP first moves: the H100 run that stopped at epoch 11 with mAP 0.00032.
    ten = convergence.EarlyStop(patience=10)
    assert convergence.diagnose([9.6] * 11, [0.0] * 10 + [0.00032], [1.0] * 11, ten) is None
    rising = [0.0] * 10 + [0.05, 0.2, 0.4]
    assert convergence.diagnose([9.6] * 13, rising, [1.0] * 13, ten) is None
    flat_after = rising + [0.4] * 10  # learning from epoch 11, no gain after epoch 13: ten flat epochs count
    reason = convergence.diagnose([9.6] * 23, flat_after, [1.0] * 23, ten)
    assert reason and "for 10 epochs" in reason
    assert convergence.diagnose([9.6] * 22, flat_after[:-1], [1.0] * 22, ten) is None
    boom = convergence.diagnose([1.0] * 6, improving[:6], [1.0, 1.1, 0.9, 1.0, 1.0, 25.0], cfg)
    assert boom and boom.startswith("gradient norm exploded")
    settled = convergence.EarlyStop(patience=100, window=3, val_loss_std=0.01)
    assert "settled" in convergence.diagnose([2.0, 1.5, 1.2, 1.2, 1.2, 1.201], [0.1, 0.2, 0.3, 0.3, 0.3, 0.3],
                                             [1.0] * 6, settled)
    assert convergence.diagnose([2.0, 1.5, 1.2, 1.2, 1.2, 1.201], [0.1, 0.2, 0.3, 0.35, 0.4, 0.45], [1.0] * 6,
                                settled) is None


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    p = checkpoint_io.AtomicPath(tmp_path / "last.pt")
    p.write_bytes(b"good checkpoint")
    assert isinstance(p.parent / "epoch3.pt", checkpoint_io.AtomicPath)

    def killed(*a, **k):
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        p.write_bytes(b"half a new checkp")
    assert p.read_bytes() == b"good checkpoint"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["last.pt"]  # no temporary left behind


def test_translator_maps_every_key_or_says_why():
    from ultralytics.cfg import get_cfg

    t = translate.translate({"batch": 64, "accumulate": 4, "grad_clip_norm": 2.0, "mosaic_prob": 0.5,
                             "amp_dtype": "bfloat16", "fp16_skip_layers": ["dfl"], "gradient_checkpointing": True,
                             "restart_epoch": 300, "lr0": 0.02, "epochs": 600, "warmup_epoch": 3})
    assert t.args == {"batch": 64, "nbs": 256, "mosaic": 0.5, "amp": "bf16", "lr0": 0.02, "epochs": 600}
    assert t.tricks == {"clip_norm": 2.0, "checkpoint": "all", "restart_epoch": 300}  # the tricks' plan fields
    TrainPlan(epochs=600, **t.tricks)  # the plan takes them as they are
    assert [k for k, _ in t.unsupported] == ["fp16_skip_layers"]
    assert t.unknown == [("warmup_epoch", "did you mean 'warmup_epochs'?")]  # reported, not dropped
    get_cfg(overrides=t.args)  # Ultralytics accepts every translated argument
    md = t.table().to_markdown()
    assert "warmup_epoch" in md and "fp16_skip_layers" in md


def test_translator_never_overrides_a_key_the_user_gave_whatever_the_order():
    a = translate.translate({"mosaic": 1.0, "mosaic_prob": 0.5, "nbs": 128, "batch": 64, "accumulate": 4})
    b = translate.translate({"accumulate": 4, "mosaic_prob": 0.5, "batch": 64, "nbs": 128, "mosaic": 1.0})
    assert a.args == b.args == {"mosaic": 1.0, "nbs": 128, "batch": 64}
    notes = dict(a.notes)
    assert "you also set mosaic=1.0, which wins" in notes["mosaic_prob"]
    assert "you also set nbs=128" in notes["accumulate"]


def test_translator_knows_train_dual_spellings():
    t = translate.translate({"batch-size": 64, "img": 640, "close-mosaic": 15, "mosiac": 1.0})
    hints = dict(t.unknown)
    assert hints["batch-size"].startswith("did you mean batch?") and "train_dual.py" in hints["batch-size"]
    assert hints["img"].startswith("did you mean imgsz?") and hints["close-mosaic"].startswith("did you mean close_mosaic?")
    assert hints["mosiac"] == "did you mean 'mosaic'?"
    assert t.args == {}  # suggested, never applied behind the user's back


def test_the_tutorials_recipe_is_plan_fields_each_piece_can_be_left_out_and_old_plans_still_load():
    fields = recipe.tutorial(600)
    assert fields == {"clip_norm": 10.0, "restart_epoch": 360, "restart_fraction": 0.7, "restart_after": "exp",
                      "restart_decay": 0.95, "loss_stages": "tutorial", "lr_fixed": 0.01, "warmup_fixed": 0.0,
                      "nan_guard": True, "early_stop": 200, "empty_cache_every": 5, "atomic_save": True}
    plan = TrainPlan(epochs=600, **fields)
    assert TrainPlan.from_json(plan.to_json()) == plan
    plan = TrainPlan(epochs=600, **recipe.tutorial(600, clip_norm=2.0))
    for piece in recipe.PIECES:  # each piece switched off alone: its fields keep the plan's own values
        alone = TrainPlan(epochs=600, **recipe.tutorial(600, clip_norm=2.0, without=(piece,)))
        changed = {k for k in fields if getattr(alone, k) != getattr(plan, k)}
        assert changed and changed <= set(fields), piece
    assert TrainPlan(epochs=600, **recipe.tutorial(600, without=("warm_restart",))).restart_epoch is None
    with pytest.raises(ValueError, match="no recipe piece named"):
        recipe.tutorial(30, without=("restart",))
    with pytest.raises(PlanError, match="restart_epoch=30: must be inside the run"):
        TrainPlan(epochs=30, restart_epoch=30)
    with pytest.raises(PlanError, match="loss_stages"):
        TrainPlan(loss_stages="1:1,1")
    import json

    old = json.loads(TrainPlan(epochs=30).to_json())  # a plan.json written when the recipe was one object
    old["recipe"] = {"clip_norm": 2.0, "restart_epoch": 18, "loss_stages": [[1, 1.5, 0.8, 0.5], [6, 1, 1, 1]],
                     "early_stop": {"patience": 10, "min_delta": 0.001}, "nan_guard": True, "save_period": -1}
    loaded = TrainPlan.from_json(json.dumps(old))
    assert (loaded.clip_norm, loaded.restart_epoch, loaded.loss_stages, loaded.early_stop, loaded.nan_guard) == \
        (2.0, 18, "1:1.5,0.8,0.5;6:1,1,1", 10, True)


def test_signals_plot_has_three_panels_and_the_reason():
    rows = [{"epoch": i, "mAP50-95": 0.1 * i, "val_loss": 3 - 0.1 * i, "grad_norm_median": 10.0 / i} for i in range(1, 6)]
    fig = convergence.plot_signals(rows, "mAP has not improved")
    assert len(fig.axes) == 3 and "mAP has not improved" in fig._suptitle.get_text()
    assert list(fig.axes[0].lines[0].get_ydata()) == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
