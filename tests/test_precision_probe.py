"""bf16 guard, the training-step probe (incl. out-of-memory as a result) and a real short training with the tricks."""

import subprocess
import sys

import pytest
import torch

from helpers.train import probe, trainer
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
    assert r.ok and r.img_s > 0 and r.step_s > 0 and r.loss > 0
    assert r.label == "yolo12n 64px b2x2 fp16 sdpa ckpt-attention"
    assert attention.current() == "stock"  # the probe leaves no patch behind
    assert not checkpointing._ORIGINAL


def test_probe_reports_out_of_memory(monkeypatch):
    def boom(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 40.00 GiB")

    monkeypatch.setattr(probe, "fake_batch", boom)
    r = probe.run(probe.ProbeConfig(batch=2, nbs=2, imgsz=64), "cpu")
    assert not r.ok and r.error.startswith("CUDA out of memory") and r.img_s is None


def test_training_with_tricks_validates_and_saves_a_portable_checkpoint(tmp_path):
    from ultralytics import YOLO

    data = synthetic.generate(tmp_path / "d", synthetic.SynthSpec(n_train=8, n_val=4, imgsz=64))
    trainer.set_options("sdpa", "all")
    try:
        model = YOLO("yolo12n.yaml")
        timer = trainer.StepTimer(skip=0).attach(model)
        model.train(data=str(data), trainer=trainer.WorkbookTrainer, imgsz=64, epochs=1, batch=4, workers=0,
                    device="cpu", project=str(tmp_path), name="t", plots=False, verbose=False)
        assert attention.current() == "sdpa"
        assert checkpointing.enabled_layers(model.trainer.model)  # the layers trained checkpointed
        assert timer.summary()["batches"] == 2 and timer.summary()["img_s"] > 0
        assert model.trainer.metrics  # the validation pass ran with the patched attention
    finally:
        trainer.set_options(None, None)
        checkpointing.uninstall()
    best = tmp_path / "t" / "weights" / "best.pt"
    code = (f"import torch, sys\nfrom ultralytics import YOLO\nm = YOLO(r'{best}')\n"
            "assert 'helpers' not in sys.modules\n"
            "print(type(m.model.model[6].m[0][0].attn).__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().endswith("ultralytics.nn.modules.block"), out.stderr[-1500:]


def test_set_options_rejects_unknown_layers():
    with pytest.raises(ValueError, match="choose one of"):
        trainer.set_options("sdpa", "everything")
    trainer.set_options(None, None)
