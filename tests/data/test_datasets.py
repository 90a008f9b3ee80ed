import os
import stat

import pytest
import yaml

from helpers.data import sources as datasets, synthetic
from helpers.core import profiles


def make_readonly_dataset(root):
    synthetic.generate(root, synthetic.SynthSpec(n_train=2, n_val=1, imgsz=64))
    (root / "generator.json").unlink()
    (root / "data.yaml").write_text("train: images/train\nval: images/val\nnames: [a, b, c, d, e]\n")
    (root / "dataset.yaml").unlink()
    for p in sorted(root.rglob("*"), reverse=True):
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    root.chmod(root.stat().st_mode & ~stat.S_IWUSR)
    return root / "data.yaml"


def test_copy_leaves_source_untouched_and_is_writable(tmp_path):
    src = make_readonly_dataset(tmp_path / "shared" / "mini")
    before = sorted(p.name for p in src.parent.rglob("*"))
    out = datasets.copy_dataset(src, tmp_path / "copy")
    assert sorted(p.name for p in src.parent.rglob("*")) == before
    data = yaml.safe_load(out.read_text())
    assert os.path.isabs(data["path"]) and data["path"] == str((tmp_path / "copy").resolve())
    assert os.access(tmp_path / "copy" / "labels" / "train", os.W_OK)
    mtime = out.stat().st_mtime_ns
    (tmp_path / "copy" / "labels" / "train.cache").write_text("x")  # Ultralytics' cache beside the copy's labels
    datasets.copy_dataset(src, tmp_path / "copy")  # reused, cache kept
    assert (tmp_path / "copy" / "labels" / "train.cache").exists() and out.stat().st_mtime_ns >= mtime


def test_find_shared_and_choose(tmp_path, monkeypatch, runs):
    make_readonly_dataset(tmp_path / "shared" / "mini")
    monkeypatch.setenv("WORKBOOK_SHARED_DATASETS", str(tmp_path / "shared"))
    assert list(datasets.find_shared()) == ["mini"]
    y = datasets.choose("mini", profiles.get("quick"))
    assert y.is_relative_to(runs)
    with pytest.raises(datasets.DatasetError, match="mini"):
        datasets.choose("imagenet", profiles.get("quick"))


def test_synthetic_for_profile_sizes(runs):
    q = profiles.get("quick").replace(n_train=3, n_val=2, imgsz=64)
    y = datasets.synthetic_for(q, progress=False)
    assert y.is_relative_to(runs)
    assert len(list((y.parent / "images" / "train").glob("*.jpg"))) == 3


def test_root_resolution_matches_ultralytics(tmp_path):
    from ultralytics.data.utils import check_det_dataset

    y = synthetic.generate(tmp_path / "d", synthetic.SynthSpec(n_train=1, n_val=1, imgsz=64))
    ours = {s.split: str(s.locations[0]) for s in datasets.split_sources(y)}
    theirs = check_det_dataset(str(y))
    assert ours["train"] == theirs["train"] and ours["val"] == theirs["val"]


def test_the_class_histogram_says_how_many_classes_it_leaves_out():
    from collections import Counter

    from helpers.data import plots

    names = [f"c{i}" for i in range(40)]
    counts = Counter({i: 40 - i for i in range(35)})  # 35 present, 5 absent
    assert plots.class_histogram(counts, names, top=30).axes[0].get_title().endswith(
        "(805 boxes; 5 of 40 classes absent; the 30 most frequent of 35 present shown)")
    assert plots.class_histogram(counts, names, top=40).axes[0].get_title().endswith("5 of 40 classes absent)")
