"""Each failure is triggered for real (small and on CPU; out-of-memory on the GPU machine) and the doctor's finding
is checked."""

import pytest
import torch

from helpers.diagnose import doctor, failures
from helpers.data import synthetic


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return synthetic.generate(tmp_path_factory.mktemp("d"), synthetic.SynthSpec(n_train=8, n_val=4, imgsz=64, seed=1))


def kind(e):
    f = doctor.diagnose(e)
    return f.kind if f else None


def test_unknown_tutorial_argument(data):
    e = failures.unknown_argument(data)
    assert "accumulate" in str(e) and kind(e) == "unknown-argument"
    assert "translate" in " ".join(doctor.diagnose(e).fix)


def test_dataset_problems(tmp_path):
    assert kind(failures.missing_dataset(tmp_path)) == "dataset-path"
    e = failures.broken_labels(tmp_path)
    assert type(e).__name__ == "DatasetError" and kind(e) == "dataset"


# Ultralytics' own texts for the dataset problems the validator also reports (seen with 8.4.190 on real files)
@pytest.mark.parametrize("text,expected", [
    ("RuntimeError: Dataset '/d/data.yaml' error ❌ /d/data.yaml 'names' length 80 and 'nc: 79' must match.",
     "dataset-nc-names"),
    ("ValueError: train: No labels found in /d/labels/train.cache. See https://docs.ultralytics.com/datasets",
     "dataset-no-labels"),
    ("FileNotFoundError: train: Error loading data from /d/images/nothere", "dataset-path"),
    ("RuntimeError: Dataset '/d/nowhere/data.yaml' error ❌ '/d/nowhere/data.yaml' does not exist", "dataset-path"),
    ("DatasetError: d.yaml: 1 error(s)\n  d.yaml:-: nc-names: 'nc: 79' but 'names:' lists 80 classes", "dataset-nc-names"),
    ("DatasetError: d.yaml: 1 error(s)\n  labels/train:-: no-labels: none of the 4 'train' images has a label file",
     "dataset-no-labels"),
    ("DatasetError: Dataset yaml not found: /d/x.yaml.", "dataset-path"),
    ("DatasetError: d.yaml: 1 error(s)\n  labels/train/a.txt:9: zero-size-box: box has zero size", "dataset"),
])
def test_each_dataset_problem_has_its_own_finding(text, expected):
    f = doctor.diagnose(text)
    assert f.kind == expected and f.fix


def test_a_folder_without_one_yaml_is_a_path_problem_not_broken_files(tmp_path):
    from helpers.data import sources

    for names in ((), ("a.yaml", "b.yaml")):
        folder = tmp_path / f"data{len(names)}"
        folder.mkdir()
        for n in names:
            (folder / n).write_text("train: images\n")
        with pytest.raises(sources.DatasetError) as e:
            sources.dataset_yaml(str(folder))
        assert kind(e.value) == "dataset-path"


def test_flash_attn_missing():
    e = failures.flash_attn_missing()
    assert isinstance(e, ImportError) and kind(e) == "flash-attn"
    assert any("sdpa" in f for f in doctor.diagnose(e).fix)


def test_ddp_port_in_use_and_free_port():
    e, port = failures.port_in_use()
    assert kind(e) == "ddp-port"
    fix = " ".join(doctor.diagnose(e).fix)
    free = int(fix.split("MASTER_PORT=")[1].split()[0].rstrip("`"))
    assert free != port
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", free))  # the suggested port really is free


def test_dataloader_worker_killed():
    e = failures.worker_killed()
    assert "DataLoader worker" in str(e) and kind(e) == "dataloader-workers"


def test_bf16_on_a_t4():
    assert kind(failures.bf16_on_t4()) == "bf16-unsupported"


def test_offline_download():
    e = failures.offline_download()
    assert type(e).__name__ == "OfflineError" and kind(e) == "offline"


def test_nan_that_persists(data, tmp_path):
    e = failures.nan_persisted(data, tmp_path)
    assert "NaN persisted" in str(e) and kind(e) == "nan-loss"


# The message PyTorch printed on the GPU machine for failures.cuda_oom() (benchmarks/results/doctor-oom-h100.txt).
OOM_TEXT = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1000.00 GiB. GPU 0 has a total capacity"


def test_out_of_memory_text_and_retry_keeps_effective_batch(monkeypatch):
    from helpers.train import run
    from helpers.train.plan import TrainPlan

    f = doctor.diagnose(OOM_TEXT + " ... with batch=256")
    assert f.kind == "out-of-memory" and "`batch=128` with the same nbs" in f.fix[0]
    calls = []

    def fake_train(plan, **kw):  # stands in for a GPU that fits 64 images
        calls.append((plan.batch, plan.nbs, plan.effective_batch))
        if plan.batch > 64:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return "trained"

    monkeypatch.setattr(run, "train", fake_train)
    assert doctor.train(TrainPlan(batch=256, nbs=256), retry_oom=True) == "trained"
    assert calls == [(256, 256, 256), (128, 256, 256), (64, 256, 256)]
    with pytest.raises(torch.OutOfMemoryError):
        doctor.train(TrainPlan(batch=256, nbs=256), retry_oom=False)


@pytest.mark.gpu
def test_real_cuda_oom():
    e = failures.cuda_oom()
    assert isinstance(e, torch.OutOfMemoryError) and kind(e) == "out-of-memory"


def test_unrecognised_error_gives_none():
    assert doctor.diagnose(ValueError("something else entirely")) is None


def test_a_missing_model_yaml_is_not_called_a_dataset_problem():
    from ultralytics import YOLO

    with pytest.raises(Exception) as e:
        YOLO("yolo12q.yaml")
    f = doctor.diagnose(e.value)
    assert f.kind == "model-yaml" and "yolo12q.yaml" in f.what


def test_invalid_yaml_names_line_and_column(tmp_path):
    from ultralytics.data.utils import check_det_dataset

    bad = tmp_path / "data.yaml"
    bad.write_text("train: images/train\nval: [a, b\nnames: {0: a}\n")
    with pytest.raises(Exception) as e:
        check_det_dataset(str(bad))
    f = doctor.diagnose(e.value)
    assert f.kind == "yaml-syntax" and "line 3, column 6" in f.what and str(bad) in f.what


def test_a_truncated_checkpoint_is_a_checkpoint_finding(tmp_path):
    from pathlib import Path

    from ultralytics import YOLO

    src = Path(__file__).resolve().parents[2] / "data" / "weights" / "yolo12n-shapes.pt"
    cut = tmp_path / "last.pt"
    cut.write_bytes(src.read_bytes()[:1000])
    with pytest.raises(Exception) as e:
        YOLO(str(cut))
    f = doctor.diagnose(e.value)
    assert f.kind == "checkpoint" and str(cut) in f.what


@pytest.mark.slow
def test_a_process_that_never_reaches_the_all_reduce_is_a_collective_hang():
    err = failures.collective_timeout(timeout_s=2.0)
    assert "Timed out" in err, err  # gloo's own words, from the process left waiting
    assert doctor.diagnose(err).kind == "collective-hang"
    nccl = ("[Rank 0] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=12, OpType=ALLREDUCE, NumelIn=1, "
            "Timeout(ms)=600000) ran for 600029 milliseconds before timing out.")
    assert doctor.diagnose(nccl).kind == "collective-hang"


def _results(folder, maps, cls=None):
    """A results.csv with these mAP50-95 values per epoch (Ultralytics' column names)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["epoch,train/cls_loss,metrics/mAP50-95(B)"]
    rows += [f"{i},{(cls or [1.0] * len(maps))[i - 1]},{m}" for i, m in enumerate(maps, 1)]
    (folder / "results.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_a_run_whose_map_never_left_zero_is_read_with_its_steps(tmp_path):
    from helpers.train.plan import TrainPlan

    run = _results(tmp_path / "zero", [0.0, 0.0, 0.004])
    (run / "plan.json").write_text(TrainPlan(data="d.yaml", train_images=64, batch=16, nbs=16, epochs=3).to_json())
    (finding,) = doctor.read_run(run)
    assert finding.kind == "map-zero" and "all 3 epochs (12 optimizer steps)" in finding.what
    assert "would meet the workbook's step floor" in finding.fix[0]
    assert doctor.read_run(_results(tmp_path / "learned", [0.0, 0.02, 0.3])) == []


def test_a_collapse_of_the_validated_map_is_read_from_the_recorded_recipe_run():
    from helpers.records import evidence

    path = evidence.get("04.recipe").paths()[0]
    (finding,) = doctor.read_run(path)
    maps = [float(r["metrics/mAP50-95(B)"]) for r in evidence.csv_rows(path)]
    fall = next(i for i in range(1, len(maps)) if doctor.COLLAPSE_FROM <= max(maps[:i]) and maps[i] < max(maps[:i]) / 2)
    assert finding.kind == "map-collapse"
    assert f"fell from {max(maps[:fall]):.3f}" in finding.what and f"to {maps[fall]:.3f} (epoch {fall + 1})" in finding.what
    assert doctor.read_run(evidence.get("02.train").paths()[1]) == []  # a run that rose and stayed up
