"""The sync_bn trick from its own module: a plan field checked against the CPU, the 'BatchNorm' row of a run over
several processes, and the conversion of the trainer's model when its world is larger than one."""

import dataclasses

import pytest
import torch

from helpers.train.plan import PlanError, TrainPlan
from helpers.tricks import registry, sync_bn
from helpers.train import plan_view


class FakeTrainer:
    def __init__(self, world_size: int):
        self.world_size = world_size


def small_model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                               torch.nn.Conv2d(4, 4, 3), torch.nn.BatchNorm2d(4))


def test_sync_bn_is_a_plan_field_from_the_registry():
    assert registry.trick("sync_bn") is sync_bn.TRICK
    assert "sync_bn" in [f.name for f in dataclasses.fields(TrainPlan)]
    p = TrainPlan(sync_bn=True, device="0,1")
    assert p.sync_bn is True and TrainPlan().sync_bn is False
    assert TrainPlan.from_json(p.to_json()).sync_bn is True and p.replace(sync_bn=False).sync_bn is False


def test_sync_bn_is_refused_on_the_cpu_and_must_be_a_bool():
    with pytest.raises(PlanError, match="sync_bn=True: SyncBatchNorm runs on GPUs only"):
        TrainPlan(sync_bn=True, device="cpu")
    with pytest.raises(PlanError, match="sync_bn=1: must be true or false"):
        TrainPlan(sync_bn=1)


def test_the_batchnorm_row_appears_for_several_processes_only_before_the_loader():
    assert "BatchNorm" not in [r[0] for r in plan_view.rows(TrainPlan(device="0"))]
    rows = plan_view.rows(TrainPlan(device="0,1", batch=64, sync_bn=True))
    settings = [r[0] for r in rows]
    assert settings.index("BatchNorm") == settings.index("loader") - 1
    assert rows[settings.index("BatchNorm")][1] == "SyncBatchNorm"
    per_gpu = {r[0]: r for r in plan_view.rows(TrainPlan(device="0,1", batch=64))}["BatchNorm"]
    assert per_gpu[1] == "per GPU" and "its own 32 images" in per_gpu[2]


def test_the_trainers_model_is_converted_only_when_asked_and_the_world_is_larger_than_one():
    def converted(plan, world):
        model = registry.on_model(plan, small_model(), FakeTrainer(world))
        return sum(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())

    assert converted(TrainPlan(sync_bn=True, device="0,1"), 2) == 2
    assert converted(TrainPlan(sync_bn=True, device=""), 1) == 0
    assert converted(TrainPlan(sync_bn=False, device="0,1"), 2) == 0
