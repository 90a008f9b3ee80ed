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


def test_the_store_reading_states_its_figures_and_follows_the_off_run():
    doc = json.loads((RESULTS / "store-h200" / "store-h200.json").read_text())
    loop, epoch = doc["summary"]["ratio_by_store"], doc["summary"]["epoch_ratio_by_store"]
    text = realtrain.store_reading(doc)
    assert f"`off` included ({loop['off']:.2f}x" in text and f"{epoch['off']:.2f}x for `off`" in text
    lo = min(loop[k] for k in ("gpu", "host", "jpeg"))
    assert f"{lo:.2f}-{max(loop[k] for k in ('gpu', 'host', 'jpeg')):.2f}x for the stores" in text
    changed = {**doc, "summary": {**doc["summary"], "ratio_by_store": {**loop, "off": 0.5}}}
    assert "kernels, not where the set lives" in text
    slow = realtrain.store_reading(changed)
    assert "(0.50x" in slow and "kernels, not where the set lives" not in slow


def test_the_step_record_is_read_with_its_own_figures():
    doc = realtrain.read(realtrain.STEP_RECORD)
    runs = realtrain.step_runs(doc)
    labels = [r["label"] for r in runs]
    assert sum("compile cache cold" in x for x in labels) == 1 and sum("compile cache warm" in x for x in labels) == 1
    plain = next(r for r in runs if r["config"].startswith("ultralytics"))
    table = str(realtrain.step_table(doc))
    for r in runs:
        assert f"| {r['img_s']:.0f} |" in table and f"{r['img_s'] / plain['img_s']:.2f}x" in table
        assert f"{r['img_s_wall'] / plain['img_s_wall']:.2f}x" in table and f"| {r['first_step_s']:.0f} |" in table
    kernels = str(realtrain.step_kernels(doc))
    for key in ("profile:store-gpu", "profile:store-gpu-compile"):
        p = doc["pieces"][key]
        assert f"| {p['gpu_ms_per_step']:.1f} |" in kernels or f"| {p['gpu_ms_per_step']:.1f}" in kernels
    text = realtrain.step_reading(doc)
    eager = next(r for r in runs if r["config"] == "store-gpu")
    assert f"{eager['img_s']:.0f} eager" in text and f"{eager['first_step_s']:.0f} s of {eager['loop_s'][0]:.0f} s" in text
    assert f"{doc['pieces']['profile:store-gpu']['gpu_ms_per_step']:.0f} ms of an eager step" in text


def test_the_gpu_only_steps_and_what_autotuning_and_compiling_cost_are_the_records():
    doc = realtrain.read(realtrain.STEP_RECORD)
    probes = realtrain.step_probes(doc)
    assert list(probes) == list(realtrain.PROBE_NAMES)  # all four variants ran and are shown in this order
    table = str(realtrain.step_probe_table(doc))
    for k, v in probes.items():
        assert f"| {realtrain.PROBE_NAMES[k]} | {v['img_s']:.0f} | {v['step_ms']:.1f} | {v['first_step_s']:.1f} |" in table
    off, on, comp = probes["sdpa-nondet"], probes["sdpa-nondet-bench"], probes["sdpa-compiled"]
    text = realtrain.step_reading(doc)
    cost = on["first_step_s"] - off["first_step_s"]
    assert f"its {cost:.0f} s are repaid after about {cost / ((off['step_ms'] - on['step_ms']) / 1000):.0f} steps" in text
    assert f"{comp['img_s']:.0f} img/s against {on['img_s']:.0f} eager" in text
    bare = {**doc, "pieces": {k: v for k, v in doc["pieces"].items() if not k.startswith("probe:sdpa")}}
    assert "autotuning" not in realtrain.step_reading(bare) and not realtrain.step_probe_table(bare).rows


def test_a_compiled_run_is_cold_or_warm_by_the_cache_it_found_where_the_record_says():
    run = {"config": "store-gpu-compile"}
    doc = {"runs": [{**run, "compile_cache_files_before": 12}, {**run, "compile_cache_files_before": 0}, run, run]}
    labels = [r["label"].rsplit(", ", 1)[1] for r in realtrain.step_runs(doc)]
    assert labels == ["compile cache warm", "compile cache cold", "compile cache warm", "compile cache warm"]


def test_a_merged_record_says_how_many_calls_made_it():
    step = realtrain.read(realtrain.STEP_RECORD)
    sources = {m["record"] for m in step["setup"]["merged_from"]} | {
        v["from"].split(",")[0] for v in step["pieces"].values() if v.get("from")}
    assert len(sources) == 5  # call 2's runs, the pieces of calls 1 and 3 (12-04) and of calls 5 and 6 (12-05)
    line = realtrain.provenance(step, realtrain.STEP_COMMAND)
    assert "recorded as 5 calls" in line and "2026-12-04 and 2026-12-05" in line
    one = {**step, "setup": {k: v for k, v in step["setup"].items() if k != "merged_from"},
           "pieces": {k: {x: y for x, y in v.items() if x != "from"} for k, v in step["pieces"].items()}}
    assert "calls" not in realtrain.provenance(one, realtrain.STEP_COMMAND)
