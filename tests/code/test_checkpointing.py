"""Activation checkpointing: same gradients, only chosen layers, and models stay portable."""

import copy
import subprocess
import sys

import pytest
import torch
from ultralytics.nn.modules import C3k2, Conv
from ultralytics.nn.tasks import DetectionModel

from helpers.tricks import checkpointing
from helpers.train import plan_view


@pytest.fixture(autouse=True)
def restore():
    yield
    checkpointing.uninstall()


def step(m, x):
    m.zero_grad()
    out = m(x)
    (out["boxes"].pow(2).mean() + out["scores"].pow(2).mean()).backward()
    return torch.cat([p.grad.flatten() for p in m.parameters() if p.grad is not None])


def test_same_gradients_with_and_without():
    torch.manual_seed(0)
    m = DetectionModel("yolo12n.yaml", verbose=False).train()
    x = torch.rand(2, 3, 96, 96)
    state = copy.deepcopy(m.state_dict())
    plain = step(m, x)
    m.load_state_dict(state)  # BatchNorm running stats back to where they were
    assert checkpointing.enable(m, "all+head") == 16
    ckpt = step(m, x)
    assert torch.allclose(plain, ckpt, atol=1e-6)


def test_batchnorm_statistics_updated_once_per_step():
    torch.manual_seed(0)
    m = DetectionModel("yolo12n.yaml", verbose=False).train()
    x = torch.rand(2, 3, 64, 64)
    state = copy.deepcopy(m.state_dict())
    step(m, x)
    plain = {k: v.clone() for k, v in m.state_dict().items() if "running" in k}
    m.load_state_dict(state)
    checkpointing.enable(m, "all+head")
    step(m, x)
    ckpt = {k: v for k, v in m.state_dict().items() if "running" in k}
    assert all(torch.allclose(plain[k], ckpt[k], atol=1e-7) for k in plain)
    assert all(b.momentum == 0.03 for b in m.modules() if isinstance(b, torch.nn.BatchNorm2d))


def test_layer_sets_choose_top_level_layers():
    m = DetectionModel("yolo12n.yaml", verbose=False)
    assert checkpointing.enable(m, "attention") == 5
    assert checkpointing.enabled_layers(m) == [6, 8, 11, 14, 17]
    kinds = {type(m.model[i]).__name__ for i in checkpointing.enabled_layers(m)}
    assert kinds == {"A2C2f"}
    checkpointing.enable(m, "blocks")
    assert {type(m.model[i]).__name__ for i in checkpointing.enabled_layers(m)} == {"A2C2f", "C3k2"}
    checkpointing.disable(m)
    assert checkpointing.enabled_layers(m) == []
    with pytest.raises(ValueError, match="choose one of"):
        checkpointing.enable(m, "everything")


def test_recompute_really_happens():
    """With checkpointing, the layer's forward runs twice per training step (once more in backward)."""
    m = DetectionModel("yolo12n.yaml", verbose=False).train()
    calls = []
    m.model[6].cv1.register_forward_hook(lambda *a: calls.append(1))  # inner layers run again on recompute
    step(m, torch.rand(1, 3, 64, 64))
    assert len(calls) == 1
    checkpointing.enable(m, "attention")
    calls.clear()
    step(m, torch.rand(1, 3, 64, 64))
    assert len(calls) == 2
    calls.clear()
    with torch.no_grad():
        m.eval()(torch.rand(1, 3, 64, 64))
    assert len(calls) == 1  # no checkpointing outside training


def test_checkpointed_model_loads_without_helpers(tmp_path):
    m = DetectionModel("yolo12n.yaml", verbose=False)
    checkpointing.enable(m, "all")
    path = tmp_path / "m.pt"
    torch.save({"model": m}, path)
    code = (f"import torch, sys\nm = torch.load(r'{path}', weights_only=False)['model']\n"
            "assert 'helpers' not in sys.modules\n"
            "print(type(m).__module__, m.eval()(torch.rand(1, 3, 64, 64))[0].shape)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "ultralytics.nn.tasks torch.Size([1, 84, 84])" in out.stdout, out.stderr[-1500:]


def test_the_checkpoint_trick_is_a_plan_field_with_its_choices_row_and_hooks():
    from helpers.train.plan import PlanError, TrainPlan
    from helpers.tricks import registry

    assert registry.choices("checkpoint") == ("", "attention", "blocks", "all", "all+head")
    with pytest.raises(PlanError, match=r"checkpoint='everything': choose '' or one of .*all\+head"):
        TrainPlan(checkpoint="everything")
    with pytest.raises(PlanError, match="did you mean 'blocks'"):
        TrainPlan(checkpoint="block")
    rows = {r[0]: r for r in plan_view.rows(TrainPlan(checkpoint="all"))}
    assert rows["checkpointing"][1:] == ("all", "recompute activations in the backward pass")
    assert {r[0]: r for r in plan_view.rows(TrainPlan(model="yolov8n.yaml", checkpoint="attention"))}["checkpointing"][1] == \
        "attention: nothing to recompute"
    settings = [r[0] for r in plan_view.rows(TrainPlan())]
    assert settings.index("kernels") + 1 == settings.index("checkpointing") == settings.index("precision") - 1

    plan = TrainPlan(checkpoint="blocks")
    with registry.installed(plan):
        assert checkpointing.installed(C3k2) and not checkpointing.installed(Conv)
        m = registry.on_model(plan, DetectionModel("yolo12n.yaml", verbose=False), None)
        assert {type(m.model[i]).__name__ for i in checkpointing.enabled_layers(m)} == {"A2C2f", "C3k2"}
    assert not checkpointing._ORIGINAL  # the run's end leaves no class wrapped
    m = registry.on_model(TrainPlan(), DetectionModel("yolo12n.yaml", verbose=False), None)
    assert checkpointing.enabled_layers(m) == []
