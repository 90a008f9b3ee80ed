"""The planner's fit and choice on fake measurements, its recovery from an out-of-memory probe, and the CPU fallback."""

import pytest

from helpers.train import memory
from helpers.train.probe import ProbeConfig, ProbeResult


def linear(batches, base=1.5, per_image=0.18, oom_at=None):
    return [memory.Point(b, None if oom_at and b >= oom_at else base + per_image * b) for b in batches]


def test_fit_recovers_the_line():
    slope, intercept = memory.fit(linear([8, 16, 32]))
    assert slope == pytest.approx(0.18) and intercept == pytest.approx(1.5)
    with pytest.raises(ValueError, match="two or more"):
        memory.fit([memory.Point(8, 2.0), memory.Point(16, None)])


def test_choice_on_a_16_gib_card():
    # 1.5 + 0.18 b <= 14.4 GiB usable -> b <= 71: the largest divisor of 256 is 64, so 64 x 4.
    p = memory.choose(linear([8, 16, 32]), card_gib=16.0, target=256, margin=0.1)
    assert (p.micro_batch, p.accumulate, p.effective_batch) == (64, 4, 256)
    assert p.train_args() == {"batch": 64, "nbs": 256}


def test_choice_on_an_80_gib_card_is_physical_256():
    p = memory.choose(linear([8, 16, 32]), card_gib=80.0)
    assert (p.micro_batch, p.accumulate) == (256, 1)
    assert any("no accumulation" in n for n in p.notes)


def test_out_of_memory_probe_caps_the_choice():
    # The fit alone would allow 128 on 40 GiB, but batch 32 ran out of memory (e.g. fragmentation): stay below it.
    p = memory.choose(linear([8, 16, 32], oom_at=32), card_gib=40.0)
    assert p.micro_batch == 16 and any("ran out of memory" in n for n in p.notes)


def test_nothing_fits_says_what_to_do():
    p = memory.choose(linear([8, 16], base=20.0), card_gib=16.0)
    assert p.micro_batch == 1 and "checkpointing" in p.notes[-1]


def test_probe_sequence_recovers_from_a_simulated_oom():
    seen = []

    def fake_run(cfg: ProbeConfig) -> ProbeResult:
        seen.append(cfg.batch)
        if cfg.batch >= 64:
            return ProbeResult({}, cfg.label(), "fake", ok=False, error="CUDA out of memory: tried to allocate 2 GiB")
        return ProbeResult({}, cfg.label(), "fake", ok=True, peak_allocated_gib=1.0 + 0.2 * cfg.batch, img_s=100.0)

    p = memory.plan(ProbeConfig(), target=256, batches=(16, 32, 64, 128), card_gib=80.0, run=fake_run)
    assert seen == [16, 32, 64]  # stopped at the first OOM
    assert [pt.oom for pt in p.points] == [False, False, True]
    assert p.micro_batch == 32 and p.accumulate == 8
    assert "out of memory" in p.table().to_markdown()


def test_cpu_falls_back_to_the_profile_batch(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    p = memory.plan(ProbeConfig(), target=16, fallback_batch=8)
    assert p.micro_batch == 8 and p.accumulate == 2 and "no CUDA GPU" in p.notes[0]


def test_the_chosen_batch_is_probed_and_an_oom_there_lowers_the_choice():
    seen = []

    def fake_run(cfg: ProbeConfig) -> ProbeResult:
        seen.append(cfg.batch)
        if cfg.batch >= 128:  # the line predicts 128 fits in 40 GiB, the card disagrees
            return ProbeResult({}, cfg.label(), "fake", ok=False, error="CUDA out of memory")
        return ProbeResult({}, cfg.label(), "fake", ok=True, peak_allocated_gib=1.5 + 0.2 * cfg.batch, img_s=1.0)

    p = memory.plan(ProbeConfig(), target=256, batches=(8, 16, 32), card_gib=40.0, run=fake_run)
    assert seen == [8, 16, 32, 128, 64]  # 128 chosen by the fit, refuted; 64 chosen and confirmed
    assert p.micro_batch == 64 and p.accumulate == 4
    assert any(n.startswith("checked: micro-batch 64 measured") for n in p.notes)
    assert any("128 ran out of memory" in n for n in p.notes)


def test_plan_plot_shows_points_fit_and_limits():
    p = memory.choose(linear([8, 16, 32], oom_at=32), card_gib=16.0)
    fig = p.plot()
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "measured peak" in labels and "fit" in labels and "out of memory at 32" in labels
    assert any(label.startswith("chosen micro-batch") for label in labels)
