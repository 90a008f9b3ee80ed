"""The committed benchmark results are complete and readable, and the notebooks' reader flags doubtful runs."""

import json

from helpers.records import results, shown


def test_every_results_file_names_device_and_versions():
    names = results.available()
    assert shown.THROUGHPUT in names and shown.LEAN in names and shown.LARGE in names
    for name in names:
        run = results.load(name)
        env = run.environment
        assert env["device"] and env["torch"] and env["ultralytics"] and env["date"], name
        assert run.rows, name
        for r in run.rows:
            assert r["ok"] == (r["img_s"] is not None), (name, r["label"])


def test_only_probe_runs_are_listed_and_every_record_names_device_and_versions():
    names = results.available()
    assert "realtrain-h100" not in names and "ddp-2xh200" not in names  # other shapes, read by their own readers
    for path in sorted(results.RESULTS.glob("*.json")):
        env = json.loads(path.read_text()).get("environment")
        if env is not None:
            assert env.get("torch") and env.get("ultralytics") and env.get("date"), path.name


def test_table_ratios_come_from_the_same_run():
    run = results.load(shown.LEAN)
    table = results.table(run)
    base = run.rows[0]
    lean = results.find(run, "yolo12n b256 fp16 sdpa ckpt-all+head")
    row = next(r for r in table.rows if r[0] == lean["label"])
    assert row[3] == f"{lean['img_s'] / base['img_s']:.2f}x"


def test_a_run_with_a_failed_row_is_flagged(tmp_path):
    ok = {"label": "a", "ok": True, "error": "", "img_s": 1.0, "peak_allocated_gib": 1.0}
    oom = dict(ok, label="b", ok=False, error="CUDA out of memory: ...", img_s=None)
    crash = dict(ok, label="c", ok=False, error="InductorError: ...", img_s=None)
    for name, rows, flagged in (("oom", [ok, oom, ok], False), ("crash", [ok, crash, ok], True)):
        (tmp_path / f"{name}.json").write_text(json.dumps({"environment": {}, "results": rows}))
        assert results.load(name, tmp_path).contaminated_after_failure is flagged
    assert results.load("b256-extra-h100").contaminated_after_failure


def test_the_amp_and_loss_readings_follow_their_records(tmp_path):
    from helpers.records import shown

    row = {"ok": True, "error": "", "peak_allocated_gib": 37.6}
    rows = [dict(row, label="yolo12n b256 fp16 sdpa", img_s=1000.0), dict(row, label="yolo12n b256 bf16 sdpa", img_s=1200.0)]
    (tmp_path / "r.json").write_text(json.dumps({"environment": {"device": "GPU X"}, "results": rows}))
    text = results.amp_reading(results.load("r", tmp_path))
    assert "faster, 1.20x" in text and "GPU X" in text
    rows[1]["img_s"] = 840.0
    (tmp_path / "r.json").write_text(json.dumps({"environment": {"device": "GPU X"}, "results": rows}))
    assert "slower, 0.84x" in results.amp_reading(results.load("r", tmp_path))
    assert results.amp_reading(results.load("r", tmp_path), model="yolo12s") == ""  # no such rows: nothing said
    mem = results.read(shown.MEMORY)
    worst = max(mem["dfl"]["relative_difference"].values())
    assert f"at most {worst:.0e}" in results.dfl_reading(mem, shown.MEMORY)
    assert results.recorded_device(shown.DOCTOR_OOM).startswith("NVIDIA ")
