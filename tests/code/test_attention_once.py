"""The attention patch is applied once per process: the launching process's `applied(plan)` and its trainer both
ask for it, and the second ask is a no-op; a trainer built without it (a DDP worker) still applies it."""

import pytest
from ultralytics.nn.modules.block import AAttn

from helpers.data import synthetic
from helpers.tricks import attention
from helpers.train import plan_view


@pytest.fixture(autouse=True)
def restore():
    saved = attention.state()
    yield
    attention.restore(saved)
    attention.unpatch()


def test_install_twice_for_the_same_plan_patches_once():
    n = attention.applications()
    assert attention.install("sdpa", "") is True
    assert attention.install("sdpa", "") is False
    assert attention.applications() == n + 1 and AAttn.forward is attention.sdpa_forward
    assert attention.install("stock", "") is True  # another backend is applied
    assert attention.current() == "stock" and attention.applications() == n + 2


def test_install_again_after_someone_restored_the_stock_forward():
    n = attention.applications()
    attention.install("sdpa", "math")
    attention.unpatch()
    assert attention.install("sdpa", "math") is True and attention.current() == "sdpa"
    assert attention.applications() == n + 2 and attention.sdpa_kernel_name() == "math"
    attention.set_sdpa_kernel("")  # someone else's kernel choice: the plan's is put back
    assert attention.install("sdpa", "math") is True and attention.sdpa_kernel_name() == "math"


def test_restore_puts_back_forward_kernel_and_record():
    attention.install("sdpa", "math")
    saved = attention.state()
    attention.install("stock", "")
    attention.restore(saved)
    assert attention.current() == "sdpa" and attention.sdpa_kernel_name() == "math"
    assert attention.install("sdpa", "math") is False


def test_the_launch_and_its_trainer_apply_the_patch_once(tmp_path, runs):
    from helpers.train.plan import TrainPlan
    from helpers.train.run import applied
    from helpers.train.trainer import WorkbookTrainer

    data = synthetic.generate(tmp_path / "d", synthetic.SynthSpec(n_train=2, n_val=1, imgsz=64))
    plan = TrainPlan(data=str(data), attention="sdpa")
    n = attention.applications()
    with applied(plan):
        WorkbookTrainer(overrides={"model": "yolo12n.yaml", "data": str(data), "device": "cpu",
                                   "project": str(runs), "name": "once"})
        assert attention.current() == "sdpa"
        assert attention.applications() == n + 1
    assert attention.current() == "stock"


def test_a_trainer_without_the_launch_applies_it_itself(tmp_path, runs, monkeypatch):
    from helpers.train.plan import ENV_VAR, TrainPlan
    from helpers.train.trainer import WorkbookTrainer

    data = synthetic.generate(tmp_path / "d", synthetic.SynthSpec(n_train=2, n_val=1, imgsz=64))
    monkeypatch.setenv(ENV_VAR, TrainPlan(data=str(data), attention="sdpa").to_json())
    monkeypatch.delenv("RANK", raising=False)
    n = attention.applications()
    WorkbookTrainer(overrides={"model": "yolo12n.yaml", "data": str(data), "device": "cpu",
                               "project": str(runs), "name": "alone"})
    assert attention.current() == "sdpa" and attention.applications() == n + 1


def test_the_attention_trick_is_two_plan_fields_with_choices_a_row_and_a_restoring_install():
    from helpers.train.plan import PlanError, TrainPlan
    from helpers.tricks import registry

    assert registry.choices("attention") == attention.BACKENDS and registry.choices("sdpa_kernel") == attention.SDPA_KERNELS
    with pytest.raises(PlanError, match="attention='spda': choose one of .*did you mean 'sdpa'"):
        TrainPlan(attention="spda")
    rows = {r[0]: r for r in plan_view.rows(TrainPlan(attention="sdpa", sdpa_kernel="math"))}
    assert rows["attention"][1:] == ("sdpa -> sdpa, SDPA kernel math", "as requested")
    assert {r[0]: r for r in plan_view.rows(TrainPlan(model="yolov8n.yaml"))}["attention"][1] == "does not apply"
    attention.unpatch()
    n = attention.applications()
    plan = TrainPlan(attention="sdpa", sdpa_kernel="math")
    with registry.installed(plan):
        assert attention.current() == "sdpa" and attention.sdpa_kernel_name() == "math"
        assert registry.install(plan) == [] and attention.applications() == n + 1  # in place: not patched again
    assert attention.current() == "stock" and attention.sdpa_kernel_name() == ""
