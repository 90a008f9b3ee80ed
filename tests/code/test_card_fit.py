"""The largest micro-batch per card (helpers.train.memory.fit_cards): the planner's line applied to card sizes as
sold, with its margin, and the training set stored on the card where helpers.pipeline.store would put it."""

import math

import pytest

from helpers.records import results, shown
from helpers.train import memory
from helpers.pipeline import store as stores


def test_a_card_as_sold_in_gib():
    assert memory.card_gib(16) == pytest.approx(14.90, abs=0.01)
    assert memory.card_gib(80) == pytest.approx(74.51, abs=0.01)


def test_the_largest_batch_under_a_line():
    assert memory.largest_batch(0.5, 1.0, 11.0) == 20  # 1 + 0.5 x 20 = 11: exactly at the limit fits
    assert memory.largest_batch(0.5, 1.0, 10.9) == 19
    assert memory.largest_batch(0.5, 1.0, 0.5) == 0  # not even one image
    with pytest.raises(ValueError, match="slope"):
        memory.largest_batch(0.0, 1.0, 10.0)


def test_without_a_store_the_planner_chooses_the_same_micro_batch():
    """fit_cards' micro-batch is what memory.choose picks from probes on that line, for every card."""
    slope, intercept = 0.15, 0.2
    points = [memory.Point(b, intercept + slope * b) for b in (16, 64)]
    for fit in memory.fit_cards(slope, intercept, (8, 16, 24, 40, 80), target=256):
        assert fit.store_where == "" and fit.store_gib == 0.0
        assert fit.usable_gib == pytest.approx(fit.card_gib * (1 - memory.MARGIN))
        assert intercept + slope * fit.largest <= fit.usable_gib < intercept + slope * (fit.largest + 1)
        assert fit.micro_batch == memory.choose(points, fit.card_gib, 256).micro_batch
        assert fit.micro_batch * fit.accumulate == 256


def test_the_store_takes_its_bytes_where_it_goes_on_the_card():
    slope, intercept = 0.15, 0.2
    small = stores.decoded_bytes(2048, 640)  # the gpu profile's set: 2.34 GiB
    (plain,), (stored,) = (memory.fit_cards(slope, intercept, [16], store_bytes=b) for b in (0, small))
    assert stored.store_where == "device" and stored.store_gib == pytest.approx(small / 2**30)
    assert stored.usable_gib == pytest.approx(plain.usable_gib - small / 2**30)
    assert stored.largest < plain.largest
    big = int(stores.GPU_SHARE * memory.card_gib(16) * 2**30) + 1  # more than the store's share of the card
    (host,) = memory.fit_cards(slope, intercept, [16], store_bytes=big)
    assert host.store_where == "host" and host.store_gib == 0.0 and host.largest == plain.largest


def test_the_recorded_fit_puts_a_16_gb_card_between_64_and_256():
    run = results.load(shown.THROUGHPUT)
    pts = [memory.Point(r["config"]["batch"], r["peak_allocated_gib"]) for r in run.rows
           if r["ok"] and r["config"]["model"] == "yolo12n.yaml" and r["label"].split(" ", 2)[2] == "fp16 sdpa"]
    assert sorted(p.batch for p in pts) == [64, 256]
    slope, intercept = memory.fit(pts)
    (fit,) = memory.fit_cards(slope, intercept, [16])
    assert 64 <= fit.largest < 256 and fit.micro_batch == 64 and fit.accumulate == 4
    assert not math.isnan(fit.usable_gib)
    table = memory.cards_table({"fp16 sdpa": memory.fit_cards(slope, intercept, [16, 80])})
    assert len(table.rows) == 2 and table.rows[0][0] == "16 GB"
