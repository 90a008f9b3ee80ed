"""The "What you learned" helpers: bullets leave out lessons a run does not hold, lists read as prose, and a recorded
GPU result's figures come back as numbers, from its summary .json and from its .md tables, less those it omits."""

from helpers.records import evidence
from helpers.workbook import lessons


def test_bullets_one_per_lesson_and_none_left_out():
    md = lessons.bullets(["First lesson.", None, "", "  Second lesson. ", "Third."])
    assert md.data == "- First lesson.\n- Second lesson.\n- Third."


def test_listing_reads_as_prose():
    assert lessons.listing([]) == ""
    assert lessons.listing(["a"]) == "a"
    assert lessons.listing(["a", "b"]) == "a and b"
    assert lessons.listing([1, 2, 3], "or") == "1, 2 or 3"


def test_values_as_helpers_record_writes_them():
    value = evidence.recorded_value
    assert value("epoch-overhead-bound") == "epoch-overhead-bound"
    assert value("94.6 %") == 94.6 and value("286") == 286 and isinstance(value("2.0"), float)
    assert value("12/12") == "12/12"
    assert evidence.recorded_lines("[recorded] verdict: data-bound\n[recorded] img_s: 82 img/s\nother") == \
        {"verdict": "data-bound", "img_s": 82}


def test_recorded_figures_from_md_tables_and_summaries():
    default, starved = lessons.recorded_figures("05.monitor"), lessons.recorded_figures("05.data_bound")
    assert default["verdict"] == "epoch-overhead-bound" and starved["verdict"] == "data-bound"
    assert starved["loader_stall_pct"] > default["loader_stall_pct"]
    figures = lessons.recorded_figures("08.models")
    assert {f"{m}_mAP50-95" for m in ("yolo12n", "yolo11n", "yolo26n", "yolov9s")} <= set(figures)
    omitted = evidence.get("03.train").omit
    assert omitted and not set(omitted) & set(lessons.recorded_figures("03.train"))
