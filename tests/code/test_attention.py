"""SDPA area attention equals Ultralytics' stock one (fp32, CPU), forward and backward, block and whole model."""

import os
import subprocess
import sys

import pytest
import torch
from ultralytics.nn.modules.block import AAttn
from ultralytics.nn.tasks import DetectionModel

from helpers.data import synthetic
from helpers.tricks import attention

REL = 2e-5  # fp32: the two compute the same sums in a different order; max |diff| <= REL * max |value|


def assert_close(a, b):
    scale = a.abs().max().item()
    assert scale > 0
    assert (a - b).abs().max().item() <= REL * scale, ((a - b).abs().max().item(), scale)


@pytest.fixture(autouse=True)
def restore():
    yield
    attention.unpatch()


def grads(module):
    return torch.cat([p.grad.flatten() for p in module.parameters() if p.grad is not None])


@pytest.mark.parametrize("area,heads,hw", [(1, 2, 8), (4, 4, 16), (4, 2, 12)])
def test_block_parity_forward_and_backward(area, heads, hw):
    torch.manual_seed(0)
    m = AAttn(64, heads, area=area)
    x = torch.randn(2, 64, hw, hw, requires_grad=True)
    outs = {}
    for backend in ("stock", "sdpa"):
        m.zero_grad()
        x.grad = None
        with attention.patched(backend):
            y = m(x)
            (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        outs[backend] = (y.detach(), x.grad.clone(), grads(m))
    for a, b in zip(outs["stock"], outs["sdpa"]):
        assert_close(a, b)


def test_whole_yolo12n_parity_in_training_mode():
    torch.manual_seed(0)
    m = DetectionModel("yolo12n.yaml", verbose=False).train()  # batch-statistics BN: activations of order 1
    x = torch.rand(2, 3, 128, 128)
    res = {}
    for backend in ("stock", "sdpa"):
        m.zero_grad()
        with attention.patched(backend):
            out = m(x)
            (out["boxes"].pow(2).mean() + out["scores"].pow(2).mean()).backward()
        res[backend] = (out["boxes"].detach(), out["scores"].detach(), grads(m))
    for a, b in zip(res["stock"], res["sdpa"]):
        assert_close(a, b)


def test_patch_unpatch():
    assert attention.current() == "stock"
    assert attention.patch("sdpa") == "sdpa" and AAttn.forward is attention.sdpa_forward
    attention.unpatch()
    assert attention.current() == "stock"
    with pytest.raises(ValueError, match="not one of"):
        attention.patch("xformers")
    with attention.patched("sdpa"):
        assert attention.current() == "sdpa"
    assert attention.current() == "stock"


def test_auto_falls_back_to_sdpa_and_flash_explains(monkeypatch):
    monkeypatch.setattr(attention, "flash_attn_status", lambda: (False, "flash-attn is not importable (...)"))
    assert attention.resolve("auto")[0] == "sdpa"
    with pytest.raises(attention.FlashAttnUnavailable, match="not importable"):
        attention.patch("flash")
    assert attention.current() == "stock"


def test_missing_flash_attn_is_one_line_without_cuda():
    ok, why = attention.flash_attn_status()
    if not ok:
        assert "\n" not in why and ("flash-attn" in why)


def test_flash_forward_falls_back_to_sdpa_on_cpu():
    torch.manual_seed(0)
    m = AAttn(32, 2, area=4)
    x = torch.randn(1, 32, 8, 8)
    assert torch.allclose(attention.flash_forward(m, x), attention.sdpa_forward(m, x))


def test_the_plan_reaches_a_fresh_process_like_a_ddp_worker(tmp_path):
    from helpers.train.plan import ENV_VAR, TrainPlan

    data = synthetic.generate(tmp_path / "d", synthetic.SynthSpec(n_train=2, n_val=1, imgsz=64))
    code = ("import helpers\nfrom helpers.train.trainer import WorkbookTrainer\n"
            "from helpers.tricks import attention\n"
            "print('before', attention.current())\n"
            f"WorkbookTrainer(overrides={{'model': 'yolo12n.yaml', 'data': r'{data}', 'device': 'cpu'}})\n"
            "print('after', attention.current())\n")
    env = dict(os.environ, **{ENV_VAR: TrainPlan(data=str(data), attention="sdpa").to_json()})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert "before stock" in out.stdout and "after sdpa" in out.stdout, out.stderr[-2000:]


@pytest.mark.gpu
@pytest.mark.parametrize("kernel", ["flash", "efficient", "cudnn", "math"])
def test_a_pinned_kernel_runs_the_validators_model(kernel):
    """The validator's model (fused, fp16 weights, eval, rectangular batches) under each pinned SDPA kernel: it runs
    and gives the stock outputs within fp16 tolerance."""
    torch.manual_seed(0)
    m = DetectionModel("yolo12n.yaml", verbose=False).fuse(verbose=False).half().eval().cuda()
    for h, w in ((640, 640), (480, 640)):
        x = torch.rand(2, 3, h, w, device="cuda", dtype=torch.half)
        with torch.no_grad():
            with attention.patched("stock"):
                ref = m(x)[0].float()
            attention.set_sdpa_kernel(kernel)
            try:
                with attention.patched("sdpa"):
                    out = m(x)[0].float()
            finally:
                attention.set_sdpa_kernel("")
        assert torch.isfinite(out).all()
        assert (out - ref).abs().max().item() <= 2e-2 * ref.abs().max().item(), (kernel, h, w)
