"""Notebook 08's recorded comparison: the statement of when YOLO12 is worth it follows the figures it is given (a
change of the numbers changes the words), the table has a row per recorded model, and the record it reads exists."""

from helpers.records import evidence, modelchoice


def figures(**maps):
    out = {}
    for m, (acc, img_s, peak) in maps.items():
        out.update({f"{m}_mAP50-95": acc, f"{m}_img_s": img_s, f"{m}_peak_gib": peak, f"{m}_train_seconds": 100.0})
    return out


def test_a_model_better_on_every_column_is_named_and_the_spread_decides_what_counts():
    f = figures(yolo12n=(0.80, 1000, 30), yolo11n=(0.90, 1200, 25), yolo26n=(0.81, 1100, 28))
    text = modelchoice.verdict(f, spread=(0.78, 0.83))
    assert "yolo11n beat yolo12n on every column" in text
    assert "yolo11n beat it" in text and "yolo26n is within that range" in text  # 0.01 < spread 0.05


def test_yolo12_best_says_it_is_worth_it():
    f = figures(yolo12n=(0.95, 900, 40), yolo11n=(0.80, 1200, 25))
    assert "YOLO12 is worth it" in modelchoice.verdict(f, spread=(0.94, 0.96))
    assert "a trade" in modelchoice.verdict(figures(yolo12n=(0.80, 900, 40), yolo11n=(0.90, 800, 45)))


def test_a_run_still_rising_is_called_so():
    runs = {"yolo12n": {"metrics/mAP50-95(B)": [0.1 * i for i in range(10)]},
            "yolo11n": {"metrics/mAP50-95(B)": [0.5] * 10}}
    text = modelchoice.verdict(figures(yolo12n=(0.9, 1, 1), yolo11n=(0.5, 1, 1)), runs)
    assert "yolo12n was still climbing" in text and "yolo11n was" not in text


def test_the_recorded_comparison_reads_back_whole():
    rec = evidence.get("08.models")
    assert all(p.exists() for p in rec.paths())
    figs = evidence.summary_figures(rec.paths()[0])
    table = modelchoice.table(figs, "t")
    assert [r[0] for r in table.rows] == ["yolo12n", "yolo11n", "yolo26n", "yolov9s"]
    assert all(len(r) == len(table.headers) for r in table.rows)


def test_the_sweep_spread_is_the_range_of_the_matching_points():
    from helpers.workbook import sweep

    folder = evidence.RESULTS / "sweep-02-h200"
    doc = sweep.read(folder)
    at256 = [p["records"]["last_epoch_mAP50-95"] for p in doc["points"] if p["params"]["effective_batch"] == 256]  # the record's own column
    assert len(at256) == 2
    assert sweep.spread(folder, "last_epoch_mAP50-95", nbs=256) == (min(at256), max(at256))  # recorded as effective_batch
    assert sweep.spread(folder, "last_epoch_mAP50-95", nbs=99) is None


def test_recorded_curves_are_matched_by_model_name_not_file_order():
    rec = evidence.get("08.models")
    curves = modelchoice.curves_of(list(reversed(rec.paths())))
    assert list(curves) == ["yolo12n", "yolo11n", "yolo26n", "yolov9s"]
    figs = evidence.summary_figures(rec.paths()[0])
    for m, cols in curves.items():  # each file's last mAP is the figure the notebook recorded for that model
        assert round(cols["metrics/mAP50-95(B)"][-1], 4) == figs[f"{m}_mAP50-95"]
