"""Training in a fresh process: the child trains the plan it was given (its fields arrive unchanged), reports its
timings, leaves its log in the run folder, and a failure surfaces with the end of the child's output."""

import pytest

from helpers.core import profiles
from helpers.data import synthetic
from helpers.measure import isolated
from helpers.train import planner


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return synthetic.generate(tmp_path_factory.mktemp("shapes"), synthetic.SynthSpec(n_train=8, n_val=4, imgsz=64))


@pytest.mark.slow
def test_a_plan_trains_in_its_own_process_and_comes_back_whole(data, tmp_path, runs):
    plan = planner.from_profile(profiles.get("quick"), dataset=data, imgsz=64, epochs=2, weights="",
                                project=str(tmp_path / "p"), name="iso", exist_ok=True, seed=7)
    r = isolated.train(plan, timeout_s=600)
    assert r.plan == plan  # nothing of the plan was re-resolved in the child
    assert r.save_dir == tmp_path / "p" / "iso"
    assert len(r.curves()["epoch"]) == 2 and r.seconds > 0
    assert r.img_s is None or r.img_s > 0  # two epochs: the first is left out, one remains
    assert r.peak_gib is None  # no CUDA here
    assert "data:" in (r.save_dir / "child.log").read_text()


def test_a_failing_child_says_why(data, tmp_path, runs):
    import shutil
    from pathlib import Path

    copy = tmp_path / "copy"
    shutil.copytree(Path(data).parent, copy)
    yaml = copy / Path(data).name
    yaml.write_text(yaml.read_text().replace(str(Path(data).parent), str(copy)))
    plan = planner.from_profile(profiles.get("quick"), dataset=str(yaml), imgsz=64, epochs=1,
                                weights="", project=str(tmp_path / "p"), name="bad", exist_ok=True)
    shutil.rmtree(copy / "images" / "val")  # the dataset loses its val split after the plan was made
    with pytest.raises(isolated.IsolatedRunError, match="val"):
        isolated.train(plan, timeout_s=300)


def test_a_child_stopped_at_its_time_out_is_told_apart_from_a_failure(data, tmp_path, runs):
    """The time-to-accuracy benchmark records such a point as cut (its finished epochs kept), not as an error."""
    plan = planner.from_profile(profiles.get("quick"), dataset=data, imgsz=64, epochs=1, weights="",
                                project=str(tmp_path / "p"), name="cut", exist_ok=True)
    with pytest.raises(isolated.IsolatedTimeout, match="timed out"):
        isolated.train(plan, timeout_s=0.5)  # importing torch alone takes longer
    assert issubclass(isolated.IsolatedTimeout, isolated.IsolatedRunError)
