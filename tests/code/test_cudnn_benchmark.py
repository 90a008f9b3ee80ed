"""The cudnn_benchmark trick from its own module: refused with deterministic=True, the 'kernels' row in its place,
and the benchmark switched on by its callback at the end of the trainer's set-up, put back after the run."""

import pytest
import torch

from helpers.train.plan import PlanError, TrainPlan
from helpers.tricks import cudnn_benchmark, registry
from helpers.train import plan_view


class FakeTrainer:
    def __init__(self, plan):
        self.plan = plan


@pytest.fixture(autouse=True)
def keep_benchmark():
    saved = torch.backends.cudnn.benchmark
    yield
    torch.backends.cudnn.benchmark = saved


def test_benchmark_needs_deterministic_off():
    with pytest.raises(PlanError, match="cudnn_benchmark=True: cuDNN's benchmark mode .* set deterministic=False too"):
        TrainPlan(cudnn_benchmark=True)
    assert TrainPlan(cudnn_benchmark=True, deterministic=False).cudnn_benchmark is True


def test_the_kernels_row_sits_between_attention_and_checkpointing():
    def kernels(**kw):
        rows = plan_view.rows(TrainPlan(**kw))
        settings = [r[0] for r in rows]
        assert settings.index("kernels") == settings.index("checkpointing") - 1
        assert settings.index("kernels") > settings.index("attention")
        return rows[settings.index("kernels")][1:]

    assert kernels()[0] == "deterministic"
    assert kernels(deterministic=False, cudnn_benchmark=True) == (
        "cuDNN benchmark", "cuDNN times its kernels per shape (the first steps are slower)")
    assert kernels(deterministic=False)[0] == "non-deterministic"
    assert kernels(deterministic=False, device="cpu") == ("non-deterministic", "the CPU has no cuDNN choice")


def test_the_callback_switches_it_on_only_when_asked_and_the_run_puts_it_back():
    assert ("on_pretrain_routine_end", cudnn_benchmark.switch_on) in registry.callbacks()
    torch.backends.cudnn.benchmark = False
    cudnn_benchmark.switch_on(FakeTrainer(TrainPlan()))
    assert torch.backends.cudnn.benchmark is False
    cudnn_benchmark.switch_on(FakeTrainer(None))
    assert torch.backends.cudnn.benchmark is False
    fast = TrainPlan(deterministic=False, cudnn_benchmark=True)
    with registry.installed(fast):
        cudnn_benchmark.switch_on(FakeTrainer(fast))
        assert torch.backends.cudnn.benchmark is True
    assert torch.backends.cudnn.benchmark is False
