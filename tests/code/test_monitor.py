"""GPU sampler (a stand-in NVML module; the real one on a GPU), the bottleneck verdict on synthetic timings."""

import time
import types

import pytest

from helpers.measure import monitor, telemetry


def fake_nvml(n=2, fail_power=False):
    calls = {"util": 0}

    def util(h):
        calls["util"] += 1
        return types.SimpleNamespace(gpu=50 + 10 * h)

    def power(h):
        if fail_power:
            raise RuntimeError("NVMLError_NotSupported")
        return 300_000 + h

    nv = types.SimpleNamespace(
        nvmlDeviceGetCount=lambda: n,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: b"Fake GPU",
        nvmlDeviceGetUtilizationRates=util,
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(used=(h + 1) * 2**30, total=80 * 2**30),
        nvmlDeviceGetPowerUsage=power,
        nvmlDeviceGetTemperature=lambda h, kind: 40 + h,
        nvmlDeviceGetClockInfo=lambda h, kind: 1980,
    )
    return nv, calls


def test_sampler_reads_every_gpu_and_the_host(tmp_path):
    nv, _ = fake_nvml(2, fail_power=True)
    s = monitor.Sampler(interval=0.01, nvml=nv)
    assert s.has_gpu and s.names == ["Fake GPU", "Fake GPU"] and "2 GPU(s)" in s.gpu_state
    rows = s.read()
    assert [r.gpu for r in rows] == [-1, 0, 1]
    assert rows[2].util_pct == 60 and rows[2].mem_used_gib == 2 and rows[1].temp_c == 40
    assert rows[1].power_w is None  # unsupported counter: None, not a crash
    assert rows[0].cpu_pct is not None and rows[0].util_pct is None


def test_sampler_thread_is_bounded_and_saves(tmp_path):
    nv, calls = fake_nvml(1)
    s = monitor.Sampler(interval=0.005, max_samples=10, nvml=nv)
    with s:
        time.sleep(0.3)
    n = calls["util"]
    assert n > 10 and len(s.samples) == 10  # many readings, only the last 10 rows kept
    time.sleep(0.05)
    assert calls["util"] == n  # stopped means stopped
    back = monitor.load(s.save(tmp_path / "x.csv"))
    assert back == list(s.samples)
    summ = monitor.summarize(back)
    assert summ["gpu0"]["util_mean_pct"] == 50 and summ["gpu0"]["mem_peak_gib"] == 1


def test_no_gpu_is_a_clear_state(monkeypatch):
    monkeypatch.setattr(monitor, "_nvml", lambda: (None, "no NVIDIA driver here (NVMLError_LibraryNotFound)"))
    s = monitor.Sampler()
    assert not s.has_gpu and s.gpu_state.startswith("no GPU: no NVIDIA driver")
    assert [r.gpu for r in s.read()] == [-1]
    monitor.plot(s.read(), "host only")


@pytest.mark.gpu
def test_real_nvml_on_gpu():
    import torch

    s = monitor.Sampler(interval=0.05)
    assert s.has_gpu and len(s.handles) == torch.cuda.device_count()
    x = torch.randn(8192, 8192, device="cuda")
    with s:
        for _ in range(50):
            x = x @ x.T / 8192
        torch.cuda.synchronize()
        time.sleep(0.2)
    g = s.summary()["gpu0"]
    assert g["mem_peak_gib"] > 0.25 and g["util_mean_pct"] is not None and g["power_mean_w"] > 0


T = {"compute_s": 0.1, "img_s": 100.0, "img_s_no_wait": 160.0}


def test_verdicts_on_synthetic_timings():
    gpu = {"mem_peak_gib": 30, "mem_total_gib": 80, "util_mean_pct": 95}
    assert telemetry.verdict({**T, "stall_pct": 37.5}, gpu, workers=2, cache=False).kind == "data-bound"
    v = telemetry.verdict({**T, "stall_pct": 37.5}, gpu, workers=2, cache=False)
    assert any("workers (now 2)" in r for r in v.remedies) and any("cache='ram'" in r for r in v.remedies)
    assert any("1.60x" in r for r in v.remedies)
    assert telemetry.verdict({**T, "stall_pct": 2}, gpu).kind == "gpu-bound"
    assert telemetry.verdict({**T, "stall_pct": 2}, {**gpu, "mem_peak_gib": 76}).kind == "memory-bound"
    assert telemetry.verdict({**T, "stall_pct": 2}, {**gpu, "util_mean_pct": 40}).kind == "launch-bound"
    assert telemetry.verdict({**T, "stall_pct": 2}, None).kind == "cpu"
    assert telemetry.verdict({}, None).kind == "unknown"
    # data-bound wins over memory: feeding the GPU comes first
    assert telemetry.verdict({**T, "stall_pct": 50}, {**gpu, "mem_peak_gib": 79}).kind == "data-bound"


def test_phases_split_training_loops_from_epoch_boundaries():
    S = monitor.Sample
    # 10 s sampled; training loops 100-102 s and 105-107 s (absolute), t0 = 100: busy inside, idle outside
    samples = [S(t=float(t), gpu=0, util_pct=95.0 if t in (0, 1, 2, 5, 6, 7) else 0.0) for t in range(11)]
    ph = telemetry.phases(samples, [(100.0, 102.0), (105.0, 107.0)], t0=100.0, lag=0, skip_first=False)
    assert ph.step_share == pytest.approx(0.4) and ph.util_in_steps == 95 and ph.util_outside == 0
    lagged = [monitor.Sample(t=s.t + 0.5, gpu=0, util_pct=s.util_pct) for s in samples]  # read 0.5 s later
    assert telemetry.phases(lagged, [(100.0, 102.0), (105.0, 107.0)], 100.0, skip_first=False) == ph
    later = telemetry.phases(samples, [(100.0, 102.0), (105.0, 107.0)], t0=100.0, lag=0)  # first epoch left out
    assert later.step_share == pytest.approx(2 / 7) and later.util_in_steps == 95
    gpu = {"mem_peak_gib": 30, "mem_total_gib": 80, "util_mean_pct": 52}
    v = telemetry.verdict({**T, "stall_pct": 1}, gpu, split=ph, steps_per_epoch=8)
    assert v.kind == "epoch-overhead-bound" and "8 steps per epoch" in v.remedies[0]
    assert "the GPU is the limit" in v.remedies[-1]
    busy = telemetry.phases(samples, [(100.0, 110.0)], t0=100.0, lag=0)
    assert telemetry.verdict({**T, "stall_pct": 1}, {**gpu, "util_mean_pct": 57}, split=busy).kind == "launch-bound"
    assert telemetry.phases(samples[:1], [(100.0, 101.0)], 100.0) is None
