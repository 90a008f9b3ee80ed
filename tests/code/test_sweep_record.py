"""The batch sweep's record has one reader (helpers.records.sweep_record): it reads the recorded sweep under today's
parameter names, the sweep's own report and the ledger go through it, and the notebooks that show it type none of
its figures (nor the tutorials' claimed ones) by hand."""

import json
import shutil
import statistics

import nbformat

from helpers.core import paths, profiles
from helpers.records import evidence, ledger, sweep_record
from helpers.workbook import sweep


def test_the_record_is_read_under_todays_names_and_read_keeps_the_file_as_written():
    raw = sweep_record.read()
    assert "effective_batch" in raw["grid"]  # the name it ran under
    rec = sweep_record.load()
    assert list(rec.grid) == ["nbs", "seed"] and rec.renamed == {"nbs": "effective_batch"}
    assert all(set(p.params) == {"nbs", "seed"} for p in rec.points)
    assert [p.params["nbs"] for p in rec.points] == [p["params"]["effective_batch"] for p in raw["points"]]
    assert sweep.read is sweep_record.read and sweep.Point is sweep_record.Point  # the runner re-uses the reader


def test_values_spread_and_medians_are_the_matching_points_figures():
    raw, rec = sweep_record.read(), sweep_record.load()
    at = {b: [p["records"]["best_val_mAP50-95"] for p in raw["points"]
              if p["status"] == "ok" and p["params"]["effective_batch"] == b] for b in raw["grid"]["effective_batch"]}
    assert rec.by("nbs", "best_val_mAP50-95") == at
    assert rec.median("nbs", "best_val_mAP50-95") == {b: statistics.median(v) for b, v in at.items()}
    assert rec.spread("best_val_mAP50-95", nbs=256) == (min(at[256]), max(at[256]))
    assert sweep_record.spread(sweep_record.FOLDER, "best_val_mAP50-95", nbs=99) is None
    assert rec.epochs == int(raw["points"][0]["curves"]["epoch"][-1])


def test_the_setup_paragraph_states_the_records_own_figures():
    rec = sweep_record.load()
    text = rec.setup()
    images = profiles.get(rec.profile).n_train
    assert f"`nbs` = {', '.join(map(str, rec.grid['nbs']))} (recorded as `effective_batch`" in text
    assert f"{rec.epochs} epochs on {images} training images" in text
    for b in rec.grid["nbs"]:
        r = rec.ok(nbs=b)[0].records
        assert f"{r['plan_micro_batch']} x {r['plan_accumulate']}" in text and f"{r['lr0']:.3g}" in text
        assert f"{images / b:g} at {b}" in text
    assert "(the sqrt rule)" in text and f"`{rec.command()}`" in text
    assert rec.command() == ("python -m helpers sweep --only 02 --profile gpu --grid nbs=64,128,256 --seeds 0,1 "
                             "--set lr_rule=sqrt")  # the rule it ran under, the profile's default being linear now
    assert evidence.get("02.sweep").command == rec.command()


def test_the_table_has_a_row_per_batch_with_the_median_over_the_seeds():
    rec = sweep_record.load()
    table = rec.table()
    assert table.headers[0] == "nbs" and [r[0] for r in table.rows] == rec.grid["nbs"]
    best = rec.median("nbs", "best_val_mAP50-95")
    assert [r[table.headers.index("best mAP50-95")].split(" ")[0] for r in table.rows] == \
        [f"{best[b]:.4g}" for b in rec.grid["nbs"]]


def test_a_report_the_runner_writes_is_read_back_by_the_reader(tmp_path):
    grid = {"nbs": [16, 32], "seed": [0]}
    done = [sweep.Point({"nbs": b, "seed": 0}, "ok", 5.0, {"best_val_mAP50-95": m, "lr0": 0.01 * b / 64},
                        {"epoch": [1.0, 2.0], "mAP50-95": [0.0, m]}) for b, m in ((16, 0.2), (32, 0.1))]
    sweep.write_report(tmp_path, paths.NOTEBOOKS / "02_train_b256.ipynb", "quick", grid, {"epochs": 2}, done, "CPU")
    rec = sweep_record.load(tmp_path)
    assert rec.renamed == {} and rec.grid == grid and rec.fixed == {"epochs": 2} and rec.epochs == 2
    assert rec.by("nbs", "best_val_mAP50-95") == {16: [0.2], 32: [0.1]}
    assert f"`{rec.command()}`" in (tmp_path / "sweep.md").read_text()  # one command line for the report and reader
    assert rec.command().endswith("--grid nbs=16,32 --seeds 0 --set epochs=2")


def test_the_ledger_decides_claim_7_through_the_reader(tmp_path, monkeypatch):
    rec = sweep_record.load()
    c7 = ledger.c7()
    assert c7.command == rec.command() and c7.device == rec.device
    for b, m in rec.median("nbs", "settle_epoch").items():
        assert f"batch {b}: best mAP50-95 {statistics.median(rec.by('nbs', 'best_val_mAP50-95')[b]):.3f}" in c7.measured
        assert f"loss settles at epoch {m:g}" in c7.measured
    copy = tmp_path / "results"
    shutil.copytree(sweep_record.FOLDER, copy / sweep_record.FOLDER.name)
    monkeypatch.setattr(ledger, "RESULTS", copy)
    doc = json.loads((copy / sweep_record.FOLDER.name / "sweep.json").read_text())
    for p in doc["points"]:  # as the tutorial says: 256 above 64 on every seed, and settling sooner
        if p["params"]["effective_batch"] == 256:
            p["records"].update({"best_val_mAP50-95": 0.99, "settle_epoch": 5.0})
    (copy / sweep_record.FOLDER.name / "sweep.json").write_text(json.dumps(doc))
    assert c7.status == "refuted" and ledger.c7().status == "confirmed"


def test_the_claims_state_the_ledgers_claimed_figures():
    by = {c.n: c for c in ledger.claims()}
    for n, m in ledger.MEMORY.items():
        assert f"{m.gb:g} GB" in by[n].claim
        assert m.measured() and m.device() == by[n].device
    assert "/".join(f"{v:g}" for v in ledger.PARAMS_M.values()) in by["10"].claim
    assert f"+{ledger.SQRT_GAIN_PCT:g}% mAP" in by["4"].claim and f"+{ledger.SQRT_GAIN_PCT:g}%" in ledger.accuracy_scale()


def _cells(name: str) -> list:
    return nbformat.read(paths.NOTEBOOKS / name, as_version=4).cells


def test_notebook_09_types_none_of_the_claimed_figures():
    text = "\n".join(c.source for c in _cells("09_claims_ledger.ipynb"))
    claimed = [*(m.gb for m in ledger.MEMORY.values()), *ledger.PARAMS_M.values(), ledger.SQRT_GAIN_PCT]
    typed = [f"{v:g}" for v in claimed if f"{v:g}" in text and "." in f"{v:g}"]  # whole numbers match too much
    assert not typed, f"notebook 09 types claimed figures the ledger holds: {typed}"


def test_notebook_02_shows_the_sweep_once_and_its_prose_types_none_of_its_figures():
    cells = _cells("02_train_b256.ipynb")
    start = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and "The recorded sweep" in c.source)
    prose, code = cells[start].source, cells[start + 1].source
    rec = sweep_record.load()
    figures = {*map(str, rec.grid["nbs"]), str(rec.epochs), str(profiles.get(rec.profile).n_train)}
    assert not [f for f in figures if f in prose]
    assert "sweep_record.load()" in code and "swept.table()" in code
    everything = "\n".join(c.source for c in cells)
    assert everything.count("sweep_record.load(") == 1 and "sweep.recorded(" not in everything
