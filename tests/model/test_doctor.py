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
