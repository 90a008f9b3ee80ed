"""No run overwrites another: a taken name becomes name2, name3 ... as Ultralytics names them, claimed atomically so
runs started at once never share a folder; exist_ok=True keeps a stable name (the notebooks); a torchrun rank
refuses a folder that holds another run; `--resume` alone finds the newest of the name's runs."""

import hashlib
import multiprocessing as mp

import pytest

from helpers.core import profiles
from helpers.data import synthetic
from helpers.train import launch, planner
from helpers.train.plan import PlanError, TrainPlan
from helpers.train.run import newest_checkpoint, own_folder, train


def _plan(project, **kw) -> TrainPlan:
    return TrainPlan(data="unused.yaml", project=str(project), name="exp", **kw)


def _claim(project: str) -> str:
    return own_folder(_plan(project)).name


def test_a_taken_name_gets_the_next_free_one_and_exist_ok_keeps_it(tmp_path):
    first = own_folder(_plan(tmp_path))
    assert first.name == "exp" and first.exist_ok and (tmp_path / "exp").is_dir()
    assert own_folder(_plan(tmp_path)).name == "exp2"
    assert own_folder(_plan(tmp_path)).name == "exp3"
    assert own_folder(_plan(tmp_path, exist_ok=True)).name == "exp"
    assert first.ultralytics_args()["exist_ok"] is True and _plan(tmp_path).ultralytics_args()["exist_ok"] is False


@pytest.mark.slow
def test_runs_started_at_once_never_share_a_folder(tmp_path):
    with mp.get_context("spawn").Pool(6) as pool:
        names = pool.map(_claim, [str(tmp_path)] * 12)
    assert len(set(names)) == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


def test_a_torchrun_rank_refuses_a_folder_holding_another_run(tmp_path, monkeypatch):
    from helpers.train.distributed import WORKER_ENV

    monkeypatch.setenv(WORKER_ENV, "torchrun")
    assert own_folder(_plan(tmp_path)).name == "exp"  # nothing there yet: the launch's name, for every rank
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "results.csv").write_text("epoch\n1\n")
    with pytest.raises(PlanError, match="holds another run") as e:
        own_folder(_plan(tmp_path))
    assert "--name" in str(e.value) and "\n" not in str(e.value)
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")  # a restart continues its own folder
    assert own_folder(_plan(tmp_path)).name == "exp"


def test_resume_alone_takes_the_newest_run_of_the_name(tmp_path):
    import os

    for i, name in enumerate(("exp", "exp2", "exp3", "expert")):
        w = tmp_path / name / "weights"
        w.mkdir(parents=True)
        (w / "last.pt").write_bytes(b"x")
        os.utime(w / "last.pt", (1000 + i * (1 if name != "exp2" else 10),) * 2)
    assert newest_checkpoint(_plan(tmp_path)) == tmp_path / "exp2" / "weights" / "last.pt"  # 'expert' is another name
    plan, ckpt = launch.resume_target("", _plan(tmp_path))
    assert ckpt == tmp_path / "exp2" / "weights" / "last.pt"


def test_a_second_training_with_the_same_name_leaves_the_first_untouched(tmp_path, runs, capsys):
    data = synthetic.generate(tmp_path / "d", synthetic.SynthSpec(n_train=4, n_val=2, imgsz=64))
    earlier = tmp_path / "out" / "exp"
    (earlier / "weights").mkdir(parents=True)
    (earlier / "weights" / "last.pt").write_bytes(b"an earlier run's weights")
    (earlier / "results.csv").write_text("epoch,metrics/mAP50-95(B)\n1,0.5\n")
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in earlier.rglob("*") if p.is_file()}
    plan = planner.from_profile(profiles.get("quick"), dataset=data, imgsz=64, epochs=1, batch=4, nbs=4, weights="",
                                project=str(tmp_path / "out"), name="exp", plots=False, extra={"val": False})
    result = train(plan, progress=False)
    assert result.save_dir == tmp_path / "out" / "exp2" and (result.save_dir / "weights" / "last.pt").exists()
    assert "exp is taken" in capsys.readouterr().out
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in earlier.rglob("*") if p.is_file()}
    assert after == before


def test_resume_of_a_plan_without_exist_ok_continues_its_newest_run(tmp_path):
    import os

    from helpers.train.run import resume

    for i, name in enumerate(("exp", "exp2")):
        (tmp_path / name / "weights").mkdir(parents=True)
        (tmp_path / name / "weights" / "last.pt").write_bytes(b"not a checkpoint")
        os.utime(tmp_path / name / "weights" / "last.pt", (1000 + i, 1000 + i))
    with pytest.raises(Exception) as e:  # it reaches the checkpoint of exp2, which is not a real one
        resume(_plan(tmp_path))
    assert "exp2" in str(e.value) or "exp2" in repr(e.value.__cause__ or e.value.__context__)


def test_a_run_that_fails_before_writing_gives_its_folder_back(tmp_path, runs, monkeypatch):
    """The workbook makes the run folder before Ultralytics starts; a run that fails before writing a file leaves no
    empty folder behind, so the next run takes the name; a folder a run wrote to, or one a user kept, stays."""
    from helpers.train import run

    data = synthetic.generate(tmp_path / "d", synthetic.SynthSpec(n_train=4, n_val=2, imgsz=64))
    plan = planner.from_profile(profiles.get("quick"), dataset=data, imgsz=64, epochs=1, weights="",
                                project=str(tmp_path / "out"), name="exp")

    def fails_early(*a, **k):
        raise RuntimeError("before the first file")

    monkeypatch.setattr(run, "_fit", fails_early)
    with pytest.raises(RuntimeError, match="before the first file"):
        train(plan)
    assert not (tmp_path / "out" / "exp").exists() and own_folder(plan).name == "exp"

    def fails_late(model, plan, *a, **k):
        (plan.run_dir / "args.yaml").write_text("written\n")
        raise RuntimeError("after the first file")

    monkeypatch.setattr(run, "_fit", fails_late)
    with pytest.raises(RuntimeError, match="after the first file"):
        train(plan)  # exp is taken (claimed above): this run is exp2
    assert (tmp_path / "out" / "exp2" / "args.yaml").exists()
    with pytest.raises(RuntimeError):
        monkeypatch.setattr(run, "_fit", fails_early)
        train(plan.replace(exist_ok=True))  # a folder the user named to keep is never removed
    assert (tmp_path / "out" / "exp").is_dir()
