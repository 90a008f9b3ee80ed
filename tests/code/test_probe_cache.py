"""The planner's probes kept and read back: the same probe on the same machine runs once, anything else runs again."""

import pytest

from helpers.train import memory, probe_cache
from helpers.train.probe import ProbeConfig, ProbeResult


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_RUNS", str(tmp_path))
    return tmp_path


def counting(oom_at: int | None = None):
    seen: list[int] = []

    def fake_run(cfg: ProbeConfig) -> ProbeResult:
        seen.append(cfg.batch)
        if oom_at and cfg.batch >= oom_at:
            return ProbeResult({}, cfg.label(), "fake", ok=False, error="CUDA out of memory")
        return ProbeResult({}, cfg.label(), "fake", ok=True, peak_allocated_gib=1.5 + 0.2 * cfg.batch, img_s=9.0,
                           first_step_s=20.0)

    return fake_run, seen


def test_a_probe_that_fit_is_read_back_not_run_again(runs):
    fake_run, seen = counting()
    first = probe_cache.cached(fake_run)(ProbeConfig(batch=16))
    again = probe_cache.cached(fake_run)(ProbeConfig(batch=16))
    assert seen == [16]
    assert not first.reused and again.reused
    assert again.peak_allocated_gib == first.peak_allocated_gib and again.img_s == 9.0
    assert [p.parent for p in runs.rglob("*.json")] == [probe_cache.cache_dir()]


def test_another_configuration_or_machine_runs_again(runs, monkeypatch):
    fake_run, seen = counting()
    probe_cache.cached(fake_run)(ProbeConfig(batch=16))
    probe_cache.cached(fake_run)(ProbeConfig(batch=32))
    probe_cache.cached(fake_run)(ProbeConfig(batch=16, attention="sdpa"))
    real = probe_cache.fingerprint
    monkeypatch.setattr(probe_cache, "fingerprint", lambda: {**real(), "gpu": "another card"})
    probe_cache.cached(fake_run)(ProbeConfig(batch=16))
    assert seen == [16, 32, 16, 16]


def test_a_model_yaml_edited_in_place_is_probed_again(runs, tmp_path):
    fake_run, seen = counting()
    yaml = tmp_path / "mine.yaml"
    yaml.write_text("nc: 3\n")
    probe_cache.cached(fake_run)(ProbeConfig(model=str(yaml)))
    probe_cache.cached(fake_run)(ProbeConfig(model=str(yaml)))
    yaml.write_text("nc: 3\ndepth_multiple: 0.5\n")
    probe_cache.cached(fake_run)(ProbeConfig(model=str(yaml)))
    assert len(seen) == 2


def test_out_of_memory_is_not_kept_and_a_broken_file_is_measured_again(runs):
    fake_run, seen = counting(oom_at=64)
    run = probe_cache.cached(fake_run)
    assert not run(ProbeConfig(batch=64)).ok and not run(ProbeConfig(batch=64)).ok
    run(ProbeConfig(batch=8))
    for f in probe_cache.cache_dir().glob("*.json"):
        f.write_text("{not json")
    assert not run(ProbeConfig(batch=8)).reused
    assert seen == [64, 64, 8, 8]


def test_the_plan_says_which_probes_it_read_back(runs):
    fake_run, seen = counting()
    run = probe_cache.cached(fake_run)
    first = memory.plan(ProbeConfig(), target=256, card_gib=80.0, run=run)
    second = memory.plan(ProbeConfig(), target=256, card_gib=80.0, run=run)
    assert seen == [8, 16, 32, 256]
    assert second.micro_batch == first.micro_batch == 256
    assert [p.peak_gib for p in second.points] == [p.peak_gib for p in first.points]
    assert not any("earlier run" in n for n in first.notes)
    assert second.notes[0].startswith("micro-batch 8, 16, 32, 256: measured by an earlier run on this GPU")
    assert str(probe_cache.cache_dir()) in second.notes[0]
