"""helpers.deploy.latency as notebook 06 shows it: one latency in one unit per labelled column (ms per batch beside ms
per image), the plot in ms per image with what the time includes, the quoted T4 TensorRT figures on their own and
labelled as quoted, the recorded fp16-vs-fp32 rows read from the record with the reason given as likely, and no
latency figure typed into the notebook's Markdown."""

import re

import matplotlib
import nbformat
import pytest

from helpers.core import paths
from helpers.deploy import latency
from helpers.records import results, shown

matplotlib.use("Agg")


def rows() -> list[dict]:
    out = []
    for backend, batch, ms in [("pytorch cuda fp32", 1, 8.335), ("pytorch cuda fp16", 1, 8.306),
                               ("pytorch cuda fp32", 8, 8.748), ("pytorch cuda fp16", 8, 10.31),
                               ("pytorch cuda fp32", 32, 14.77), ("pytorch cuda fp16", 32, 10.14)]:
        out.append({"backend": backend, "batch": batch, "median_ms": ms, "p90_ms": ms * 1.1,
                    "img_s": batch / ms * 1000, "runs": 50})
    return out


def test_table_labels_per_batch_and_per_image_and_what_is_timed():
    table = latency.latency_table(rows(), "somewhere")
    md = table.to_markdown()
    assert "| median ms per batch | p90 ms per batch | median ms per image | img/s |" in md
    assert latency.WHAT in md and "somewhere" in md
    assert "| pytorch cuda fp16 | 8 | 10.31 | 11.34 | 1.29 | 776 |" in md  # 10.31 ms per batch = 1.29 ms per image
    assert latency.per_image_ms({"batch": 8, "median_ms": 10.0}) == 1.25


def test_plot_axis_names_its_unit_and_what_is_included():
    fig = latency.plot_latency(rows(), "t")
    ax = fig.axes[0]
    assert "ms per image" in ax.get_ylabel() and ax.get_xlabel() == latency.WHAT
    heights = sorted(round(b.get_height(), 3) for b in ax.patches)
    assert round(10.31 / 8, 3) in heights and 10.31 not in heights  # per image, not per batch


def test_quoted_figures_stand_alone_with_device_runtime_and_source():
    md = latency.reference_table().to_markdown()
    assert "quoted" in md and "not measured" in md
    for model, ms in latency.REFERENCE_T4_TRT_MS.items():
        assert f"| {model} | NVIDIA T4 | TensorRT fp16 | 1 | 640 px | {ms:.2f} |" in md
    assert "H100" not in md and "CUDA graph" not in md


def test_fp16_reading_states_the_slower_batch_and_a_likely_reason():
    text = latency.fp16_reading(rows(), "GPU X")
    assert text.startswith("On GPU X (recorded), eager PyTorch fp16 was slower than fp32 at batch 8 (1.29 against "
                           "1.09 ms per image)")
    assert "about level with fp32 at batch 1" in text and "faster than fp32 at batch 32" in text
    assert "likely" in text and "launch" in text and "casts" in text and "not measure" in text
    assert text.count(". ") == 0  # one sentence
    fast = [dict(r, median_ms=r["median_ms"] / 2) if "fp16" in r["backend"] else r for r in rows()]
    text = latency.fp16_reading(fast, "GPU X")
    assert "faster than fp32 at batch 1" in text and "slower" not in text and "likely" not in text
    assert latency.fp16_reading([r for r in rows() if "fp16" not in r["backend"]], "GPU X") == ""


def test_fp16_reading_of_the_gpu_record_follows_its_figures():
    gpu = results.read(shown.EXPORT)
    ms = {(r["backend"], r["batch"]): r["median_ms"] / r["batch"] for r in gpu["latency"]}
    text = latency.fp16_reading(gpu["latency"], gpu["environment"]["device"])
    if ms[("pytorch cuda fp16", 8)] > ms[("pytorch cuda fp32", 8)] * 1.05:
        assert (f"slower than fp32 at batch 8 ({ms[('pytorch cuda fp16', 8)]:.3g} against "
                f"{ms[('pytorch cuda fp32', 8)]:.3g} ms per image)") in text and "likely" in text
    assert gpu["environment"]["device"] in text


def test_notebook_06_types_no_latency_figure_and_claims_no_tensorrt_measurement():
    nb = nbformat.read(paths.NOTEBOOKS / "06_export_tensorrt.ipynb", as_version=4)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert not re.findall(r"\d\s*(?:ms|MiB|img/s)\b", prose)
    assert "no TensorRT latency is measured" in prose and "ONNX Runtime against PyTorch" in prose
    assert "latency.reference_table()" in code and "latency.fp16_reading(" in code
    assert "REFERENCE_T4_TRT_MS.items()" not in code  # the quoted figures are not tabled beside a measured column


@pytest.mark.parametrize("key", ["median_ms", "p90_ms"])
def test_per_image_divides_by_the_batch(key):
    assert latency.per_image_ms({"batch": 4, key: 2.0}, key) == 0.5
