"""The headless runner on tiny notebooks: success with records, a failing cell, a time-out, and the summary."""

import json

import nbformat
import pytest

from helpers.workbook import runner


def write_nb(path, *sources, params="x = 1"):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p] + [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    src = tmp_path_factory.mktemp("nbs")
    out = tmp_path_factory.mktemp("out")
    ok = write_nb(src / "10_ok.ipynb", "import helpers, os\nhelpers.record('answer', x * 42, 'units')\n"
                  "helpers.record('profile_env', os.environ['WORKBOOK_PROFILE'])")
    bad = write_nb(src / "11_bad.ipynb", "y = 2", "raise ValueError('broken on purpose')", "z = 3")
    slow = write_nb(src / "12_slow.ipynb", "import time\ntime.sleep(60)")
    kernel = runner.kernel_name()
    res = [runner.run_one(ok, out, "quick", {"x": 2}, 120, kernel),
           runner.run_one(bad, out, "quick", {}, 120, kernel, html=False),
           runner.run_one(slow, out, "quick", {}, 8, kernel, html=False)]
    return out, res


def test_success_records_and_parameters(results):
    out, (ok, _, _) = results
    assert ok.status == "ok" and ok.error is None
    assert [(r["name"], r["value"], r["unit"]) for r in ok.records] == [
        ("answer", 84, "units"), ("profile_env", "quick", "")]  # x=2 was injected by Papermill
    assert (out / "10_ok.html").exists()


def test_failure_names_the_cell(results):
    _, (_, bad, _) = results
    assert bad.status == "failed"
    assert bad.error["cell"] == 3 and bad.error["ename"] == "ValueError"
    assert "broken on purpose" in bad.error["evalue"] and bad.error["source"].startswith("raise")


def test_timeout_stops_the_notebook(results):
    _, (_, _, slow) = results
    assert slow.status == "timeout" and slow.seconds < 40


def test_summary_files(results, tmp_path):
    _, res = results
    files = runner.write_summary(res, tmp_path, "quick")
    md = files["md"].read_text()
    assert "1/3 notebooks ok" in md
    assert "answer = 84 units" in md and "cell 3: ValueError: broken on purpose" in md
    assert "TIMEOUT" in md
    assert json.loads(files["json"].read_text())["results"][1]["status"] == "failed"
    assert "<table>" in files["html"].read_text()
    assert "## The slowest cells" in md and "| 10_ok | 1 |" in md  # the ok notebook's one code cell, timed


def test_cell_seconds_ranks_by_papermills_timing():
    nb = nbformat.v4.new_notebook()
    injected = nbformat.v4.new_code_cell("x = 2")
    injected.metadata["tags"] = ["injected-parameters"]
    cells = [nbformat.v4.new_code_cell(f"step_{i}()\nmore()") for i in range(3)]
    for c, sec in zip(cells, (0.4, 112.04, 16.0)):
        c.metadata["papermill"] = {"duration": sec}
    nb.cells = [injected, nbformat.v4.new_markdown_cell("prose"), *cells, nbformat.v4.new_code_cell("never ran")]
    assert runner.cell_seconds(nb, top=2) == [{"cell": 2, "seconds": 112.0, "source": "step_1()"},
                                              {"cell": 3, "seconds": 16.0, "source": "step_2()"}]


def test_discover_filters_and_rejects_unknown(tmp_path):
    for name in ("00_a", "01_b", "02_c"):
        write_nb(tmp_path / f"{name}.ipynb")
    assert [p.stem for p in runner.discover(["0", "02_c"], tmp_path)] == ["00_a", "02_c"]
    with pytest.raises(ValueError, match="No notebook matches"):
        runner.discover(["7"], tmp_path)


def test_freeze_keeps_only_checked_outputs(tmp_path):
    src = write_nb(tmp_path / "00_x.ipynb", "# NBVAL_CHECK_OUTPUT\nprint('kept')", "print('dropped')")
    ran = tmp_path / "ran"
    ran.mkdir()
    nb = nbformat.read(src, as_version=4)
    for i, c in enumerate(nb.cells[1:], 1):
        c.outputs = [nbformat.v4.new_output("stream", name="stdout", text=c.source.split("'")[1] + "\n")]
        c.execution_count = i
    nbformat.write(nb, ran / "00_x.ipynb")
    runner.freeze(ran, [src])
    cells = nbformat.read(src, as_version=4).cells
    assert cells[1].outputs[0]["text"] == "kept\n" and cells[1].execution_count == 1
    assert cells[2].outputs == [] and cells[2].execution_count is None
