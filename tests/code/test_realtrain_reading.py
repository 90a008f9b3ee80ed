"""The real-training record's reading and the store table state the record's own figures (no number typed in)."""

import json

from helpers.records import realtrain
from helpers.records.results import RESULTS


def test_the_reading_states_the_records_figures():
    doc = realtrain.read()
    s = doc["summary"]
    text = realtrain.reading(doc)
    assert f"{s['plain_img_s']:.0f} img/s" in text and f"{s['img_s']:.0f} img/s" in text
    assert f"{s['ratio_vs_plain']:.2f}x plain" in text and f"{s['gpu_only_img_s']:.0f}" in text
    firsts = s["first_epoch_s"].values()
    assert f"{min(firsts):.0f}-{max(firsts):.0f} s" in text
    assert f"{s['peak_allocated_gib']:.1f} GiB peak" in text and f"{s['lean']['peak_allocated_gib']:.1f} GiB" in text


def test_the_store_table_has_a_row_per_store_run_and_one_per_plain_baseline():
    doc = json.loads((RESULTS / "store-h200" / "store-h200.json").read_text())
    table = realtrain.store_table(doc)
    text = str(table)
    for k, v in doc["summary"]["img_s_by_config"].items():
        assert f"| {v['median']:.0f} |" in text, k
    for label, r in doc["summary"]["ratio_by_store"].items():
        assert f"{r:.2f}x" in text, label
