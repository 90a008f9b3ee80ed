"""BatchNorm momentum that follows the batch (helpers.tricks.bn_momentum): Ultralytics' 0.03 unless asked, scaled with
the batch under `bn_rule='linear'` so the running statistics remember the same number of epochs, capped, and set on
every BatchNorm layer of the model."""

import pytest
import torch

from helpers.tricks import bn_momentum
from helpers.train.plan import TrainPlan


def plan(**kw) -> TrainPlan:
    return TrainPlan(data="d.yaml", train_images=2048, **kw)


def epochs_remembered(p: TrainPlan) -> float:
    """1 / momentum forward passes, in epochs: each process runs train_images / batch forwards per epoch."""
    return 1 / bn_momentum.momentum(p) / (p.train_images / p.batch)


def test_the_default_is_ultralytics_own_momentum():
    assert bn_momentum.momentum(plan(batch=256, nbs=256)) == bn_momentum.ULTRALYTICS_MOMENTUM == 0.03
    assert bn_momentum.summary(plan(batch=256, nbs=256)) == ""


@pytest.mark.parametrize("batch, device", [(64, ""), (128, ""), (256, ""), (512, "0,1")])
def test_linear_keeps_the_epochs_remembered_of_the_reference_batch(batch, device):
    ref = plan(batch=64, nbs=64, bn_rule="fixed")
    p = plan(batch=batch, nbs=max(batch, 64), device=device, bn_rule="linear")
    assert p.batch_ref == 64
    assert epochs_remembered(p) == pytest.approx(epochs_remembered(ref), rel=1e-4)
    assert "epochs" in bn_momentum.row(p)[2]


def test_the_momentum_is_capped():
    assert bn_momentum.momentum(plan(batch=4096, nbs=4096, bn_rule="linear")) == bn_momentum.MAX_MOMENTUM


def test_every_batchnorm_layer_gets_it():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4), torch.nn.BatchNorm1d(4))
    bn_momentum.apply(plan(batch=256, nbs=256, bn_rule="linear"), model, None)
    assert [m.momentum for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)] == [0.12, 0.12]
