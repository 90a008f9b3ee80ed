"""The real-training benchmark's method: every run a fresh process, plain Ultralytics with nothing of the workbook
imported, alternating order, the record's fields; and its summary arithmetic on a hand-made record."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]  # tests/model/ -> the repo
SCRIPT = ROOT / "benchmarks" / "real_training.py"
SUMMARY_FIELDS = {"baseline", "isolated_processes", "repeats", "plain_img_s", "plain_best_img_s", "fastest", "img_s",
                  "ratio_vs_plain", "ratio_vs_plain_best", "gpu_only_img_s", "loader_efficiency", "augment_ms",
                  "peak_allocated_gib", "device", "cpu_count", "versions"}


def _bench():
    sys.path.insert(0, str(SCRIPT.parent))
    import real_training

    return real_training


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    env = {**os.environ, "WORKBOOK_RUNS": str(out / "runs")}
    p = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--tag", "smoke", "--out-dir", str(out)],
                       capture_output=True, text=True, timeout=900, env=env, cwd=ROOT)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return json.loads((out / "smoke.json").read_text()), (out / "smoke.md").read_text()


@pytest.mark.slow
def test_every_run_is_its_own_process_and_the_baseline_is_plain_ultralytics(smoke):
    doc, _ = smoke
    runs = doc["runs"]
    assert runs and not [r for r in runs if "error" in r]
    pids = [r["pid"] for r in runs] + [v["pid"] for v in doc["pieces"].values()]
    assert len(pids) == len(set(pids)) and os.getpid() not in pids
    plain = [r for r in runs if r["config"].startswith("ultralytics")]
    assert plain and all(r["workbook_imported"] is False for r in plain)
    assert all(r["attention_forward"] == "ultralytics.nn.modules.block.AAttn.forward" for r in plain)
    pipelines = {r["config"]: (r["input_pipeline"], r["store"]) for r in runs if not r["config"].startswith("ultra")}
    assert pipelines == {"workbook-default": ("cpu workers", None), "store-gpu": ("gpu store in memory", "gpu"),
                         "store-host": ("host store in memory", "host"), "store-jpeg": ("jpeg store in memory", "jpeg"),
                         "store-off": ("cpu workers", "off")}  # every store mode forced, each said in the record


@pytest.mark.slow
def test_runs_alternate_and_repeat_with_the_record_fields(smoke):
    doc, md = smoke
    order = [r["config"] for r in doc["runs"]]
    half = len(order) // 2
    assert doc["setup"]["repeats"] == 2 and order[half:] == order[:half][::-1]
    for r in doc["runs"]:
        assert r["img_s"] > 0 and r["epochs_timed"] == 1 and len(r["loop_s"]) == 2
    s = doc["summary"]
    assert SUMMARY_FIELDS <= set(s), SUMMARY_FIELDS - set(s)
    assert s["baseline"] == "ultralytics" and s["isolated_processes"] is True and s["repeats"] == 2
    assert s["cpu_count"] == os.cpu_count() and s["versions"]["ultralytics"]
    assert s["ratio_vs_plain"] == pytest.approx(s["img_s"] / s["plain_img_s"], rel=1e-2)
    assert {"loader:w2", "augment", "probe:workbook-default", "probe:store-gpu", "probe:sdpa"} <= set(doc["pieces"])
    assert doc["pieces"]["augment"]["eager"]["ms"] > 0 and doc["pieces"]["probe:sdpa"]["ok"]
    sizes = doc["pieces"]["augment"]["stores"]
    assert sizes["jpeg"]["bytes"] < sizes["host"]["bytes"] == sizes["gpu"]["bytes"] and sizes["jpeg"]["batch_to_device_ms"] > 0
    assert set(s["ratio_by_store"]) == {"gpu", "host", "jpeg", "off"} and set(s["epoch_ratio_by_store"]) == {
        "gpu", "host", "jpeg", "off"}
    assert s["ratio_by_store"]["gpu"] == pytest.approx(s["img_s_by_config"]["store-gpu"]["median"] / s["plain_img_s"],
                                                       abs=2e-3)
    assert s["first_epoch_s"]["store-jpeg"] > 0
    assert "| store-gpu |" in md


def test_summary_arithmetic_and_isolation_check():
    rt = _bench()
    env = {"device": "X", "torch": "t", "ultralytics": "u"}
    runs = [{"config": "ultralytics-w8", "img_s": 100.0, "pid": 1, "workbook_imported": False},
            {"config": "ultralytics-w8", "img_s": 120.0, "pid": 2, "workbook_imported": False},
            {"config": "ultralytics-w15", "img_s": 130.0, "pid": 3, "workbook_imported": False},
            {"config": "workbook-gpu-fast", "img_s": 300.0, "pid": 4, "peak_allocated_gib": 30.0},
            {"config": "workbook-gpu-fast", "img_s": 280.0, "pid": 5, "peak_allocated_gib": 31.0},
            {"config": "workbook-default", "img_s": 200.0, "pid": 6},
            {"config": "workbook-lean", "img_s": 400.0, "pid": 7, "peak_allocated_gib": 9.0},
            {"config": "workbook-default", "error": "exit code 1", "pid": 8}]
    doc = {"environment": env, "setup": {"ultralytics_default_workers": 8, "repeats": 2}, "runs": runs,
           "pieces": {"probe:workbook-gpu-fast": {"img_s": 320.0}, "augment": {"compiled": {"ms": 4.0}}}}
    s = rt.summarize(doc)
    assert s["plain_img_s"] == 110.0 and s["plain_best_img_s"] == 130.0 and s["plain_best"] == "ultralytics-w15"
    assert s["fastest"] == "workbook-gpu-fast" and s["img_s"] == 290.0  # the lean plan is not a candidate
    assert s["ratio_vs_plain"] == round(290 / 110, 3) and s["ratio_vs_plain_best"] == round(290 / 130, 3)
    assert s["loader_efficiency"] == round(290 / 320, 3) and s["augment_ms"] == 4.0 and s["peak_allocated_gib"] == 31.0
    assert s["lean"]["peak_allocated_gib"] == 9.0 and s["isolated_processes"] is True
    runs[1]["pid"] = 1  # two runs in one process
    assert rt.summarize(doc)["isolated_processes"] is False
    runs[1]["pid"], runs[0]["workbook_imported"] = 2, True  # a baseline that imported the workbook
    assert rt.summarize(doc)["isolated_processes"] is False


def test_recorded_h200_record_is_the_merge_of_its_calls(tmp_path):
    """benchmarks/results/realtrain-h200.json is what `merge` makes of the calls kept beside it."""
    rt = _bench()
    calls = ROOT / "benchmarks" / "results" / "realtrain-h200"
    rt.main(["merge", str(calls / "realtrain-h200-call2.json"), str(calls / "realtrain-h200-call3.json"),
             "--pieces-from", str(calls / "realtrain-h200-call1.json"), "--tag", "m", "--out-dir", str(tmp_path)])
    made = json.loads((tmp_path / "m.json").read_text())
    kept = json.loads((ROOT / "benchmarks" / "results" / "realtrain-h200.json").read_text())
    assert made["summary"] == kept["summary"] and made["runs"] == kept["runs"]
    assert kept["summary"]["device"] == "NVIDIA H200" and kept["summary"]["isolated_processes"] is True


def test_recorded_store_record_is_the_merge_of_its_calls(tmp_path):
    """benchmarks/results/store-h200/store-h200.json is what `merge` makes of its three calls, and says per store mode
    how it compares with plain Ultralytics on the same images."""
    rt = _bench()
    calls = ROOT / "benchmarks" / "results" / "store-h200"
    rt.main(["merge", *(str(calls / f"store-h200-call{i}.json") for i in (1, 2, 3)), "--tag", "m",
             "--out-dir", str(tmp_path)])
    made = json.loads((tmp_path / "m.json").read_text())
    kept = json.loads((calls / "store-h200.json").read_text())
    assert made["summary"] == kept["summary"] and made["runs"] == kept["runs"]
    s = kept["summary"]
    assert {"gpu", "host", "jpeg", "off", "auto-16gb", "auto@coco128x48"} <= set(s["ratio_by_store"])
    assert {r["store"] for r in kept["runs"] if r["config"].startswith("store")} == {"gpu", "host", "jpeg", "off"}
