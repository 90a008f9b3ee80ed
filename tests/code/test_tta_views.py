"""Notebook 02b's views of the time-to-accuracy record (helpers.records.tta_views): the verdict's arithmetic on a
record made by hand, and on the real record what the chapter says of it (no batch-256 run at the target, every step
with a finite norm clipped, each solo epoch split into its loop and what follows it)."""

import math

import matplotlib
import pytest

from helpers.records import timetoacc, tta_views
from helpers.records.timetoacc import Point, Record

matplotlib.use("Agg")


def point(name, seed, batch, maps, status="ok", epoch_end_s=(), grad_norms=()):
    plan = {"batch": batch, "nbs": batch, "accumulate": 1, "effective_batch": batch, "imgsz": 320,
            "train_images": 2048, "epochs": 10, "lr0": 0.01 * batch / 64, "lr_rule": "linear", "warmup_epochs": 1.0,
            "clip_norm": 10.0}
    return Point(name, seed, status, plan, tuple(maps), tuple(grad_norms), 1, tuple(epoch_end_s))


@pytest.fixture
def made():
    """b64-sqrt reaches 0.8 at epoch 3 (both seeds); big reaches 0.76 (95%) at epoch 5 and never 0.8."""
    ref = [point(timetoacc.REFERENCE, s, 64, [0.1, 0.5, 0.8, 0.8]) for s in (0, 1)]
    big = [point("big", s, 256, [0.0, 0.2, 0.5, 0.7, 0.76, 0.78], status="cut" if s else "ok") for s in (0, 1)]
    solo = [point("s64", 0, 64, [0, 0], epoch_end_s=(50.0, 54.0)), point("s256", 0, 256, [0, 0],
                                                                          epoch_end_s=(30.0, 32.0, 34.0))]
    return Record(tuple(ref + big), tuple(solo), ({"environment": {"device": "GPU X", "date": "2026-01-01"},
                                                   "started": "2026-01-01 10:00 UTC", "ended": "2026-01-01 10:05 UTC",
                                                   "command": "benchmarks/time_to_accuracy.py --tag t --out o"},))


def test_the_verdict_from_a_record_made_by_hand(made):
    v = tta_views.verdict(made, level_share=0.95, budget=0.75)
    assert v["target"] == pytest.approx(0.8) and v["plans"] == ["big"] and v["reached_full"] == 0 and not v["met"]
    ref, (big,) = v["ref_level"], v["at_level"]
    assert ref["epoch"] == 3 and ref["seconds"] == pytest.approx(50 + 2 * 4)  # the clock's median epoch after it
    assert big["epoch"] == 5 and big["steps"] == 40 and big["seconds"] == pytest.approx(30 + 4 * 2)
    assert big["ratio"] == pytest.approx(38 / 58) and big["first_s"] + big["later_s"] == pytest.approx(38)
    assert big["later_ratio"] == pytest.approx(8 / 8)
    assert v["not_at_level"] == []
    table = tta_views.plan_table(made, 0.95)
    rows = {r[0]: r for r in table.rows}
    assert rows["big"][5] == "6 of 10 (cut)" and rows["big"][7] == "2 of 2" and rows["big"][9] == "0 of 2"
    label = tta_views.label(made)
    assert "GPU X" in label and "`python benchmarks/time_to_accuracy.py --tag t`" in label


def test_clip_stats_count_finite_clipped_and_skipped_steps():
    g = [{"epoch": 1, "steps": 8, "clipped": 0, "clipped_share": math.nan, "median": math.nan, "p10": math.nan,
          "p90": math.nan},
         {"epoch": 2, "steps": 8, "clipped": 3, "clipped_share": 1.0, "median": 500.0, "p10": 200.0, "p90": 900.0},
         {"epoch": 3, "steps": 8, "clipped": 4, "clipped_share": 0.5, "median": 9.0, "p10": 5.0, "p90": 20.0}]
    s = tta_views.clip_stats(point("x", 0, 256, [0, 0, 0], grad_norms=g))
    assert s == {"steps": 24, "finite": 11, "clipped": 7, "nonfinite": 13, "min_p10": 5.0}
    g[2] = {**g[2], "clipped": 0, "clipped_share": 0.0}  # finite norms none of which was clipped: count unknown
    assert tta_views.clip_stats(point("x", 0, 256, [0, 0, 0], grad_norms=g))["finite"] is None


@pytest.fixture(scope="module")
def rec():
    return timetoacc.load()


def test_what_the_chapter_says_of_the_real_record(rec):
    v = tta_views.verdict(rec, 0.95, 0.75)
    assert not v["met"] and v["reached_full"] == 0 and v["points"] > 0
    assert [t["ratio"] for t in v["at_level"]] == sorted(t["ratio"] for t in v["at_level"])
    assert v["ref_level"]["seconds"] == pytest.approx(rec.summary(timetoacc.REFERENCE, v["level"])["seconds"])
    for t in v["at_level"]:
        assert t["ratio"] == pytest.approx(t["seconds"] / v["ref_level"]["seconds"])
    stats = [tta_views.clip_stats(p) for p in rec.points]
    assert all(s["finite"] is not None and s["clipped"] == s["finite"] for s in stats)  # every finite step clipped
    assert all(s["min_p10"] > p.plan["clip_norm"] for s, p in zip(stats, rec.points))
    assert {n for n in rec.names() if tta_views.is_cut(rec, n)} >= {"b256-linear-bn-60ep"}


def test_a_solo_epoch_is_its_loop_and_what_follows_it(rec):
    splits = tta_views.solo_splits()
    assert {s.config for s in splits} == {p.config for p in rec.solo}
    for s in splits:
        assert s.before_s >= 0
        for k in range(1, len(s.epoch_end_s)):
            assert s.epoch_end_s[k] - s.epoch_end_s[k - 1] == pytest.approx(s.loop_s[k] + s.overhead_s[k], abs=0.05)
        assert rec.clock(s.config).measured == s.epoch_end_s
    assert len(tta_views.epoch_table(rec, splits).rows) == len(splits)


def test_the_figures_draw(rec):
    names = [timetoacc.REFERENCE, "b256-linear-bn-60ep"]
    assert len(tta_views.frontier(rec, names).axes) == 1
    assert len(tta_views.plot_grad_norms(rec, names).axes) == 2
    assert len(tta_views.plot_epochs(rec, names).axes) == 2
    assert len(tta_views.plot_epoch_split(tta_views.solo_splits()).axes) == 2
