"""The claims ledger: every tutorial claim has a row, statuses follow the recorded figures (change a figure, the
status changes), and the README table is the generated one."""

import json
import shutil

import pytest

from helpers.records import ledger, shown


@pytest.fixture(scope="module")
def rows():
    return ledger.claims()


def test_every_claim_has_a_row_with_a_reproducible_command(rows):
    assert [c.n for c in rows][:14] == [str(i) for i in range(1, 15)]
    for c in rows:
        assert c.status in ledger.STATUSES and c.measured and c.command and c.device
    assert all(c.status == "not checkable here" for c in rows if c.n == "13")
    by = {c.n: c for c in rows}  # decided from the time-to-accuracy record
    assert by["4"].status == "refuted" and "H200" in by["4"].device
    assert by["14"].status == "refuted" and "the plain plan" in by["14"].measured


def test_readme_table_is_the_generated_one(rows):
    text = ledger.README.read_text()
    assert ledger.readme_block(rows) in text, "README ledger is stale: run python -m helpers ledger --write-readme"


def test_statuses_follow_the_recorded_figures(tmp_path, monkeypatch):
    copy = tmp_path / "results"
    shutil.copytree(ledger.RESULTS, copy)
    monkeypatch.setattr(ledger, "RESULTS", copy)
    assert ledger.c1().status == "refuted"
    doc = json.loads((copy / f"{shown.THROUGHPUT}.json").read_text())
    for r in doc["results"]:
        if r["label"] == "yolo12n b256 fp16 stock":
            r["peak_allocated_gib"] = 14.2  # as the tutorial says
    (copy / f"{shown.THROUGHPUT}.json").write_text(json.dumps(doc))
    assert ledger.c1().status == "confirmed"
    big = json.loads((copy / f"{shown.LARGE}.json").read_text())
    for r in big["results"]:
        r["peak_reserved_gib"] = 7.0
    (copy / f"{shown.LARGE}.json").write_text(json.dumps(big))
    assert ledger.c9().status == "confirmed"
    assert ledger.c6().status == "partly" and "1.73x" in ledger.c6().measured  # the recorded 2x H200 figures
    ddp = json.loads((copy / "ddp-2xh200.json").read_text())
    for r in ddp["runs"]:
        if r["gpus"] == 2:
            r["img_s"] = [x * 0.7 for x in r["img_s"]]  # two GPUs barely faster than one
    (copy / "ddp-2xh200.json").write_text(json.dumps(ddp))
    assert ledger.c6().status == "refuted"
    assert ledger.c4().status == "refuted"
    tta = copy / "tta-h200" / "tta-h200-320.json"
    doc = json.loads(tta.read_text())
    for key, p in doc["points"].items():
        if key.startswith("b256-sqrt/"):
            p["mAP50-95"] = [m + 0.3 for m in p["mAP50-95"]]  # as if the square-root rule had won every seed
    tta.write_text(json.dumps(doc))
    assert ledger.c4().status == "confirmed"


def test_tutorial_arguments_are_checked_against_ultralytics_itself(monkeypatch, rows):
    assert next(c for c in rows if c.n == "W1").status == "refuted"
    monkeypatch.setattr(ledger, "TUTORIAL_ARGS", ("nbs", "batch"))  # real arguments: accepted
    assert ledger.c14().status == "confirmed"


def test_write_readme_replaces_only_its_block(tmp_path, rows):
    p = tmp_path / "README.md"
    p.write_text(f"intro\n{ledger.START}\nSTALE-TABLE\n{ledger.END}\noutro\n")
    assert ledger.write_readme(p, rows) and not ledger.write_readme(p, rows)
    text = p.read_text()
    assert text.startswith("intro\n") and text.endswith("\noutro\n") and "STALE-TABLE" not in text
    (tmp_path / "x.md").write_text("no markers")
    with pytest.raises(ValueError, match="no <!-- ledger:start -->"):
        ledger.write_readme(tmp_path / "x.md", rows)
