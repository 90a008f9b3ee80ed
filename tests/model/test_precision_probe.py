"""bf16 guard, the training-step probe (incl. out-of-memory as a result) and a real short training with the tricks."""

import subprocess
import sys

import pytest
import torch

from helpers.train import probe
from helpers.data import synthetic
from helpers.tricks import attention, checkpointing, precision


def fake_gpu(monkeypatch, capability):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: capability)


def test_bf16_refused_on_a_t4(monkeypatch):
    fake_gpu(monkeypatch, (7, 5))
    amp, why = precision.choose_amp("bf16")
    assert amp is True and "no bf16 tensor cores" in why and "7.5" in why


def test_bf16_accepted_on_ampere_and_hopper(monkeypatch):
    for cap in ((8, 0), (9, 0)):
        fake_gpu(monkeypatch, cap)
        assert precision.choose_amp("bf16")[0] == "bf16"
    assert precision.choose_amp("fp16")[0] is True and precision.choose_amp("fp32")[0] is False
    with pytest.raises(ValueError):
        precision.choose_amp("fp8")


def test_no_cuda_means_fp32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert precision.choose_amp("bf16")[0] is False


def test_probe_runs_real_steps_on_cpu():
    cfg = probe.ProbeConfig(batch=2, nbs=4, imgsz=64, warmup=1, steps=2, attention="sdpa", checkpoint="attention")
    r = probe.run(cfg, "cpu")
    assert r.ok and r.img_s > 0 and r.step_s > 0 and r.loss > 0 and r.first_step_s > 0
    assert r.label == "yolo12n 64px b2x2 fp16 sdpa ckpt-attention"
    assert attention.current() == "stock"  # the probe leaves no patch behind
    assert not checkpointing._ORIGINAL


def test_a_compiled_probe_compiles_the_forward_and_keeps_the_loss_eager(monkeypatch):
    inputs = []

    class Compiled:  # what torch.compile returns, recording what the step hands it
        def __init__(self, model):
            self.model = model

        def __call__(self, x, *args, **kwargs):
            inputs.append(type(x).__name__)
            return self.model(x, *args, **kwargs)

    monkeypatch.setattr(torch, "compile", lambda model, **kw: Compiled(model))
    r = probe.run(probe.ProbeConfig(batch=2, nbs=2, imgsz=64, warmup=1, steps=1, compile=True), "cpu")
    assert r.ok and r.loss > 0
    assert inputs == ["Tensor", "Tensor"]  # the images, as Ultralytics' trainer calls a compiled model: not the batch


def test_probe_reports_out_of_memory(monkeypatch):
    def boom(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 40.00 GiB")

    monkeypatch.setattr(probe, "fake_batch", boom)
    r = probe.run(probe.ProbeConfig(batch=2, nbs=2, imgsz=64), "cpu")
    assert not r.ok and r.error.startswith("CUDA out of memory") and r.img_s is None


@pytest.mark.slow
def test_training_with_tricks_validates_and_saves_a_portable_checkpoint(tmp_path, runs):
    from helpers.train.callbacks import Hooks, StepTimer
    from helpers.train.plan import TrainPlan
    from helpers.train.run import train

    class Seen(Hooks):
        def on_train_end(self, t):
            self.attention, self.layers = attention.current(), checkpointing.enabled_layers(t.model)

    data = synthetic.generate(tmp_path / "d", synthetic.SynthSpec(n_train=8, n_val=4, imgsz=64))
    plan = TrainPlan(data=str(data), train_images=8, imgsz=64, epochs=1, batch=4, nbs=4, workers=0, device="cpu",
                     amp="fp32", cache=False, attention="sdpa", checkpoint="all", project=str(tmp_path), name="t")
    timer, seen = StepTimer(skip=0), Seen()
    result = train(plan, callbacks=[timer, seen])
    assert seen.attention == "sdpa" and seen.layers  # the layers trained checkpointed, with the fast attention
    assert timer.summary()["batches"] == 2 and timer.summary()["img_s"] > 0
    assert result.metrics  # the validation pass ran with the patched attention
    assert attention.current() == "stock" and not checkpointing._ORIGINAL  # and train() restored the classes
    code = (f"import torch, sys\nfrom ultralytics import YOLO\nm = YOLO(r'{result.best}')\n"
            "assert 'helpers' not in sys.modules\n"
            "print(type(m.model.model[6].m[0][0].attn).__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().endswith("ultralytics.nn.modules.block"), out.stderr[-1500:]


def test_tricks_are_restored_even_when_training_fails(runs):
    from helpers.train.plan import TrainPlan
    from helpers.train.trainer import tricks_installed

    with pytest.raises(RuntimeError, match="boom"):
        with tricks_installed(TrainPlan(attention="sdpa", checkpoint="all")):
            assert attention.current() == "sdpa" and checkpointing._ORIGINAL
            raise RuntimeError("boom")
    assert attention.current() == "stock" and not checkpointing._ORIGINAL


def test_the_probe_trains_a_head_of_the_classes_it_is_given():
    r = probe.run(probe.ProbeConfig(batch=2, nbs=2, imgsz=64, warmup=1, steps=1, nc=3), "cpu")
    assert r.ok, r.error
    assert probe.training_model("yolo12n.yaml", torch.device("cpu"), nc=3).model[-1].nc == 3
