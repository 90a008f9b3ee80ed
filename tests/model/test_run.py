"""The one train(): a dataset with one fault stops every training path before the first epoch, with the file and
line (or the yaml key) in one message; drop_bad trains without the bad images and lists them; the options are
restored; the command line ends with one message and exit 2, no traceback. Real files: a copy of COCO8 when
../shared/datasets is present, the generated shapes otherwise."""

import subprocess
import sys

import pytest

from helpers.core import profiles
from helpers.data import faults, sources
from helpers.data.sources import DatasetError
from helpers.train.plan import TrainPlan
from helpers.train.run import train
from helpers.train import planner

WHERE = {  # what the message must name for each fault: a file and line, a file, or the yaml key
    "bad-line": (".txt:", "bad-line"), "zero-size-box": (".txt:", "zero-size-box"),
    "corrupt-image": (".jpg", "corrupt-image"), "text-as-jpg": (".jpg", "corrupt-image"),
    "nc-names": (".yaml", "nc-names"), "no-labels": ("labels", "no-labels"), "missing-split": ("nowhere", "missing-split"),
}
PER_FILE = ("bad-line", "zero-size-box", "corrupt-image", "text-as-jpg")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A real dataset's yaml, copied (never ../shared itself)."""
    shared = sources.find_shared()
    if "coco8" in shared:
        return sources.copy_dataset(shared["coco8"], tmp_path_factory.mktemp("coco8") / "coco8")
    from helpers.data import synthetic

    return synthetic.generate(tmp_path_factory.mktemp("shapes"), synthetic.SynthSpec(n_train=8, n_val=4, imgsz=64))


def tiny(data, project, **kw) -> TrainPlan:
    return planner.from_profile(profiles.get("quick"), dataset=data, imgsz=64, epochs=1, weights="",
                                project=str(project), name="run", **kw)


@pytest.mark.parametrize("fault", faults.ONE_FAULT)
def test_a_broken_dataset_stops_training_before_the_first_epoch(source, fault, tmp_path, runs):
    data = faults.with_fault(source, fault, tmp_path / "data")
    plan = tiny(data, tmp_path / "out")
    with pytest.raises(DatasetError) as e:
        train(plan)
    where, kind = WHERE[fault]
    msg = str(e.value)
    assert where in msg and kind in msg
    if fault in ("bad-line", "zero-size-box"):
        assert f"{msg.split('.txt:')[1].split(':')[0]}".isdigit()  # the line number
    assert not (tmp_path / "out").exists()  # nothing trained, nothing written
    from helpers.tricks import attention

    assert attention.current() == "stock"


@pytest.mark.parametrize("fault", ["bad-line", "nc-names"])
def test_the_command_line_gives_one_message_and_exit_2(source, fault, tmp_path, runs):
    data = faults.with_fault(source, fault, tmp_path / "data")
    out = subprocess.run([sys.executable, "-m", "helpers", "train", "--profile", "quick", "--data", str(data),
                          "--imgsz", "64", "--epochs", "1", "--project", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300, env={**__import__("os").environ,
                                                                          "WORKBOOK_RUNS": str(runs)})
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
    assert "Traceback" not in out.stderr and out.stderr.count("error:") == 1
    assert WHERE[fault][1] in out.stderr and "[doctor]" in out.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_drop_bad_trains_without_the_bad_images_and_lists_them(source, tmp_path, runs, capsys):
    data = faults.with_fault(source, "bad-line", tmp_path / "data")
    n = sources.count_images(data, "train")
    result = train(tiny(data, tmp_path / "out"), drop_bad=True, progress=False)
    assert len(result.dropped) == 1 and "bad-line (line" in result.dropped[0][1]
    assert result.plan.train_images == n - 1 and result.last.exists()
    assert "dropped 1 image(s)" in capsys.readouterr().out
    assert data.read_text() == faults.with_fault(source, "bad-line", tmp_path / "again").read_text().replace(
        str(tmp_path / "again"), str(tmp_path / "data"))  # the user's yaml untouched


def test_drop_bad_cannot_fix_a_yaml_that_disagrees_with_its_files(source, tmp_path, runs):
    data = faults.with_fault(source, "nc-names", tmp_path / "data")
    with pytest.raises(DatasetError, match="whole dataset"):
        train(tiny(data, tmp_path / "out"), drop_bad=True)


@pytest.mark.slow
def test_a_clean_dataset_is_checked_once_then_remembered(source, tmp_path, runs, capsys):
    plan = tiny(source, tmp_path / "out")
    train(plan, progress=False)
    train(plan.replace(name="again"), progress=False)
    out = capsys.readouterr().out
    assert out.count("(checked earlier; files unchanged)") == 1


@pytest.mark.slow
def test_a_notebook_run_on_a_broken_dataset_fails_at_training_naming_the_file(source, tmp_path, runs):
    from helpers.workbook import runner

    data = faults.with_fault(source, "zero-size-box", tmp_path / "data")
    (res,) = runner.run("quick", ["02"], tmp_path / "nb", {"dataset": str(data)}, 300, html=False, progress=False)
    assert res.status == "failed" and res.error["ename"] == "DatasetError"
    assert "zero-size-box" in res.error["evalue"] or "1 error(s)" in res.error["evalue"]
    assert not (runs / "train" / "02-quick").exists()  # no epoch ran
