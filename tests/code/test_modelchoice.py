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


def finals(*maps):
    return {m: {"mAP50": v, "mAP50-95": v / 2} for m, v in zip(("yolo12n.yaml", "yolo11n.yaml"), maps)}


def test_the_recorded_settings_are_read_from_the_record_and_agree_with_its_title():
    from helpers.train import lr

    rec = evidence.get("08.models")
    runs = modelchoice.curves_of(rec.paths())
    s = modelchoice.recorded_settings(rec, runs)
    assert s["epochs"] == len(runs["yolo12n"]["epoch"])
    for words in (f"{s['epochs']} epochs", f"{s['imgsz']} px", f"effective batch {s['nbs']}"):
        assert words in rec.title, words
    assert s["close_mosaic"] == modelchoice._default("close_mosaic") and "close_mosaic" not in rec.command
    col = runs["yolo12n"]["lr/pg0"]  # after warm-up every logged lr is lr0 x Ultralytics' factor
    assert abs(col[-1] - s["lr0"] * lr.ultralytics_lf(len(col) - 1, len(col))) < 1e-5
    text = modelchoice.settings_text(s)
    assert f"lr0 {s['lr0']:g}" in text and f"close_mosaic={s['close_mosaic']}" in text


def test_lr0_is_recovered_from_a_logged_column_with_a_warm_up():
    from helpers.train import lr

    col = [0.04 * lr.ultralytics_lf(e, 20) * (min(e + 1, 3) / 3) for e in range(20)]  # 3 epochs of warm-up
    assert modelchoice.recorded_lr0(col, 20) == 0.04


def test_an_all_zero_run_says_why_and_points_to_the_record():
    from helpers.train.plan import TrainPlan

    plan = TrainPlan(model="yolo12n.yaml", data="d.yaml", train_images=32, epochs=3, imgsz=128, batch=8, nbs=16,
                     weights="")
    rec = {"epochs": 30, "imgsz": 640, "nbs": 256}
    zero = finals(0.0, 0.004)
    assert modelchoice.near_zero(zero)
    text = modelchoice.run_reading(zero, plan, "this CPU", rec)
    assert "3 epochs from random weights at 128 px on this CPU" in text and "30 epochs at 640 px" in text
    learned = finals(0.2, 0.6)
    assert not modelchoice.near_zero(learned)
    assert "yolo11n's 0.300" in modelchoice.run_reading(learned, plan, "this CPU", rec)


def test_losses_of_different_functions_are_compared_relative_to_their_first_epoch():
    a = {"epoch": [1, 2, 3], "train/box_loss": [2.0, 1.0, 0.5], "train/cls_loss": [2.0, 1.0, 0.5],
         "train/dfl_loss": [4.0, 2.0, 1.0], "metrics/mAP50-95(B)": [0.0, 0.0, 0.0]}
    b = {"epoch": [1, 2, 3], "train/box_loss": [1.0, 0.5, 0.25], "train/cls_loss": [1.0, 0.5, 0.25],
         "train/l1_loss": [0.1, 0.05, 0.025], "metrics/mAP50-95(B)": [0.0, 0.0, 0.0]}
    assert modelchoice.relative_loss(a) == modelchoice.relative_loss(b) == [1.0, 0.5, 0.25]
    assert modelchoice.loss_terms(b) == ["box", "cls", "l1"]
    fig = modelchoice.plot({"a": a, "b": b}, with_map=False)
    assert len(fig.axes) == 1 and "b (box+cls+l1)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(modelchoice.plot({"a": a, "b": b}).axes) == 2


def test_the_mosaic_reading_names_the_models_that_jump_at_the_switch():
    flat = [0.1 * i for i in range(10)]
    jump = [0.05 * i for i in range(6)] + [0.6, 0.8, 0.85, 0.9]  # +0.55 over the 2 epochs after the switch at epoch 7
    runs = {m: {"epoch": list(range(1, 11)), "metrics/mAP50-95(B)": c}
            for m, c in (("yolo12n", jump), ("yolo11n", flat))}
    text = modelchoice.mosaic_reading(runs, 4)
    assert "from epoch 7" in text and "yolo12n jumped" in text and "yolo11n jumped" not in text
    assert modelchoice.mosaic_reading(runs, 10) == "" and modelchoice.mosaic_reading(runs, 0) == ""
