"""The user's dataset folder is left as it was: training and evaluation write Ultralytics' label caches into the
workbook's cache folder (helpers.data.label_cache), never beside the user's labels."""

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
