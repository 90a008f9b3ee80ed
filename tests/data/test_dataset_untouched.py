"""The user's dataset folder is left as it was: training and evaluation write Ultralytics' label caches and its
cache='disk' images into the workbook's cache folder (helpers.data.label_cache), never beside the user's files."""

import hashlib
import shutil
from pathlib import Path

import pytest

from helpers.core import profiles
from helpers.data import label_cache, synthetic
from helpers.train.run import train
from helpers.train import planner


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_training_leaves_the_dataset_folder_as_it_was(runs, tmp_path):
    user = tmp_path / "my_data"  # outside the workbook's runs folder, as a user's dataset is
    synthetic.generate(user, synthetic.SynthSpec(n_train=16, n_val=4, imgsz=64))
    before = digest(user)
    prof = profiles.get("quick").replace(imgsz=64)
    plan = planner.from_profile(prof, dataset=str(user / "dataset.yaml"), epochs=1, batch=8, nbs=8, weights="",
                                checkpoint="", plots=False, name="untouched")
    result = train(plan, progress=False)
    assert digest(user) == before, set(digest(user)) ^ set(before)
    caches = sorted(label_cache.cache_dir().rglob("*.cache"))
    assert {p.name for p in caches} >= {"train.cache", "val.cache"}
    train(plan.replace(name="untouched-again"), progress=False)  # the second run reads those caches
    assert digest(user) == before and result.best.exists()


def test_a_changed_folder_forgets_its_caches(runs, tmp_path):
    user = tmp_path / "d"
    (user / "labels" / "train").mkdir(parents=True)
    (user / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    target = label_cache.cached_path(user / "labels" / "train.cache")
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x")
    (user / "labels" / "old.cache").write_bytes(b"x")  # one plain Ultralytics wrote there
    assert label_cache.forget(user) == 1 and not target.exists() and not (user / "labels" / "old.cache").exists()
    shutil.rmtree(user)


def test_the_patch_knows_the_ultralytics_it_was_written_for():
    """Fails when Ultralytics' cache functions change shape: the redirect must then be looked at again."""
    assert label_cache.install(), label_cache.why_not()
    from ultralytics.data import dataset as ds

    assert ds.save_dataset_cache_file.__name__ == "save_elsewhere"


def test_a_disk_cache_lives_in_the_cache_folder_and_loads_the_same_pixels(runs, tmp_path):
    from ultralytics.cfg import get_cfg
    from ultralytics.data.build import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    user = tmp_path / "my_data"
    synthetic.generate(user, synthetic.SynthSpec(n_train=6, n_val=2, imgsz=64))
    before = digest(user)
    assert label_cache.install(), label_cache.why_not()
    data = check_det_dataset(str(user / "dataset.yaml"))

    def build(cache):
        return build_yolo_dataset(get_cfg(overrides={"imgsz": 64, "cache": cache}), data["train"], 2, data)

    disk, plain = build("disk"), build(False)
    assert digest(user) == before  # no .npy beside the images
    assert all(f.exists() and f.is_relative_to(runs / "cache" / "npy") for f in disk.npy_files)
    for i in range(len(plain)):
        a, b = disk.load_image(i)[0], plain.load_image(i)[0]
        assert (a == b).all()
