from pathlib import Path

import pytest

from helpers.data import sources as datasets, faults, synthetic, validate


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    root = tmp_path_factory.mktemp("broken")
    data, done = faults.broken_dataset(root)
    return data, done, validate.validate(data)


def test_clean_synthetic_dataset_passes(tmp_path):
    rep = validate.validate(synthetic.generate(tmp_path, synthetic.SynthSpec(n_train=6, n_val=2, imgsz=64)))
    assert rep.ok and not rep.problems
    assert rep.images == {"train": 6, "val": 2}
    assert rep.boxes == sum(rep.class_counts.values()) > 0


def test_every_fault_is_reported_with_file_and_line(broken):
    _, _, rep = broken
    got = {(p.severity, p.kind, Path(p.file).name, p.line) for p in rep.problems}
    assert got == {
        ("error", "class-out-of-range", "train_000000.txt", 4),
        ("error", "zero-size-box", "train_000001.txt", 5),
        ("error", "bad-line", "train_000002.txt", 3),
        ("error", "coord-out-of-range", "train_000003.txt", 3),
        ("error", "corrupt-image", "train_000004.jpg", None),
        ("warning", "no-label", "train_000005.jpg", None),
        ("warning", "duplicate-box", "train_000006.txt", 3),
        ("warning", "orphan-label", "stray_000099.txt", None),
    }
    assert not rep.ok


def test_valid_boxes_of_a_bad_file_are_kept(broken):
    _, _, rep = broken
    # train_000000 has 3 good boxes and one bad line: the good ones still count.
    boxes = next(v for k, v in rep.labels.items() if k.endswith("train_000000.jpg"))
    assert len(boxes) == 3


def test_stock_ultralytics_drops_whole_images(broken):
    data, _, rep = broken
    images = sorted((data.parent / "images" / "train").glob("*.jpg"))
    rows = {r[0]: r[2] for r in validate.ultralytics_view(rep, images, nc=5).rows}
    assert rows["train_000000.jpg"].startswith("image DROPPED")
    assert rows["train_000002.jpg"].startswith("image DROPPED")
    assert rows["train_000001.jpg"].startswith("kept")  # the zero-size box passes silently


def test_raise_if_errors_lists_each_problem(broken):
    _, _, rep = broken
    with pytest.raises(datasets.DatasetError) as e:
        rep.raise_if_errors()
    assert "train_000002.txt:3: bad-line" in str(e.value)


def test_report_renders(broken):
    _, _, rep = broken
    md = rep.to_markdown()
    assert md.count("| error |") == 5 and "severity" in md
    assert "<table>" in rep._repr_html_()


def test_missing_yaml_and_bad_paths_are_reported_not_raised(tmp_path):
    rep = validate.validate(tmp_path / "nope.yaml")
    assert [p.kind for p in rep.problems] == ["bad-yaml"]
    y = tmp_path / "d.yaml"
    y.write_text(f"path: {tmp_path}\ntrain: images/train\nval: images/val\nnames: [a]\n")
    rep = validate.validate(y)
    assert {p.kind for p in rep.errors} == {"missing-split"}
    y.write_text("train: [unclosed\n")
    assert validate.validate(y).problems[0].kind == "bad-yaml"


LABEL_VARIANTS = {  # label text -> what it tests; Ultralytics' verify_image_label decides keep or drop
    "polygon": "0 0.1 0.1 0.5 0.1 0.5 0.5\n",
    "bom": "\ufeff0 0.5 0.5 0.2 0.2\n",
    "mixed-polygon-and-box": "0 0.1 0.1 0.5 0.1 0.5 0.5\n0 0.5 0.5 0.2 0.2\n",
    "six-values": "0 0.5 0.5 0.2 0.2 0.3\n",
    "odd-polygon": "0 0.1 0.1 0.5 0.1 0.5 0.5 0.7\n",
    "rounding-over-1": "0 0.5 0.5 0.2 1.005\n",
    "over-1": "0 0.5 0.5 0.2 1.2\n",
    "class-out-of-range": "7 0.5 0.5 0.2 0.2\n",
    "negative-class": "-1 0.5 0.5 0.2 0.2\n",
    "fractional-class": "1.5 0.5 0.5 0.2 0.2\n",
    "not-a-number": "0 0.5 x 0.2 0.2\n",
}


@pytest.mark.parametrize("single_cls", [False, True])
@pytest.mark.parametrize("variant", sorted(LABEL_VARIANTS))
def test_the_validator_keeps_and_refuses_what_ultralytics_does(variant, single_cls, tmp_path):
    """Per image: the validator calls it OK exactly when Ultralytics' own verify_image_label keeps it, with and
    without single_cls (one class: any whole class id of at least 0)."""
    from ultralytics.data.utils import verify_image_label

    root = tmp_path / variant
    synthetic.generate(root, synthetic.SynthSpec(n_train=1, n_val=1, imgsz=64))
    label = root / "labels/train/train_000000.txt"
    label.write_text(LABEL_VARIANTS[variant], encoding="utf-8")
    image = root / "images/train/train_000000.jpg"
    kept = verify_image_label((str(image), str(label), "", False, 5, 0, 0, single_cls))[0] is not None
    rep = validate.validate(root / "dataset.yaml", single_cls=single_cls)
    ours = not [p for p in rep.errors if p.file == str(label) or p.file == str(image)]
    assert ours == kept, (variant, kept, [p.message for p in rep.problems])


def test_a_tiny_image_is_refused_as_ultralytics_drops_it(tmp_path):
    from PIL import Image

    root = tmp_path / "tiny"
    synthetic.generate(root, synthetic.SynthSpec(n_train=1, n_val=1, imgsz=64))
    Image.new("RGB", (9, 40), (90, 90, 90)).save(root / "images/train/train_000000.jpg")
    rep = validate.validate(root / "dataset.yaml")
    assert [p.kind for p in rep.errors] == ["tiny-image"] and "10 px" in rep.errors[0].message


def test_a_missing_test_split_is_a_warning_and_relative_lists_follow_ultralytics(tmp_path, monkeypatch):
    root = tmp_path / "d"
    synthetic.generate(root, synthetic.SynthSpec(n_train=2, n_val=1, imgsz=64))
    (root / "train.txt").write_text("images/train/train_000000.jpg\n./images/train/train_000001.jpg\n")
    (root / "dataset.yaml").write_text(f"path: {root}\ntrain: train.txt\nval: images/val\ntest: images/nowhere\n"
                                       "names: [a, b, c, d, e]\n")
    monkeypatch.chdir(tmp_path)  # Ultralytics reads the line without './' from here, where it does not exist
    rep = validate.validate(root / "dataset.yaml")
    assert [p.kind for p in rep.errors] == ["missing-image"] and "'./images/train" in rep.errors[0].message
    assert "missing-split" in {p.kind for p in rep.warnings}
    monkeypatch.chdir(root)  # from the dataset's folder both lines resolve
    assert validate.validate(root / "dataset.yaml").ok


def test_overlapping_splits_warn_once(tmp_path):
    root = tmp_path / "same"
    synthetic.generate(root, synthetic.SynthSpec(n_train=3, n_val=1, imgsz=64))
    (root / "dataset.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/train\nnames: [a,b,c,d,e]\n")
    rep = validate.validate(root / "dataset.yaml")
    assert [p.kind for p in rep.problems] == ["split-overlap"]
    assert rep.images == {"train": 3, "val": 3}


def test_shared_coco128_as_its_readme_describes(tmp_path):
    shared = datasets.find_shared()
    if "coco128" not in shared:
        pytest.skip("coco128 is not beside the repo")
    rep = validate.validate(shared["coco128"])
    kinds = sorted(p.kind for p in rep.problems)
    assert kinds == ["no-label", "no-label", "orphan-label", "orphan-label", "split-overlap"]
    # 941 lines published, 12 of them in the two orphan label files.
    assert rep.boxes == 929 and len(rep.class_counts) == 71


def _kinds(rep):
    return {(p.severity, p.kind) for p in rep.problems}


def test_nc_disagreeing_with_names_is_an_error(tmp_path):
    data = faults.with_fault(synthetic.generate(tmp_path / "s", synthetic.SynthSpec(n_train=4, n_val=2, imgsz=64)),
                             "nc-names", tmp_path / "bad")
    rep = validate.validate(data)
    assert ("error", "nc-names") in _kinds(rep) and not rep.ok
    assert "'nc: 6' but 'names:' lists 5 classes" in rep.to_markdown()


def test_missing_or_empty_labels_folder_is_one_error_per_split(tmp_path):
    src = synthetic.generate(tmp_path / "s", synthetic.SynthSpec(n_train=4, n_val=2, imgsz=64))
    missing = validate.validate(faults.with_fault(src, "no-labels", tmp_path / "missing"))
    errors = [p for p in missing.errors if p.kind == "no-labels"]
    assert len(errors) == 2 and "does not exist" in errors[0].message
    assert not [p for p in missing.problems if p.kind == "no-label"]  # no flood of per-image warnings
    empty = tmp_path / "empty"
    datasets.copy_dataset(src, empty)
    for f in (empty / "labels").rglob("*.txt"):
        f.unlink()
    rep = validate.validate(empty / src.name)
    assert [p.kind for p in rep.errors] == ["no-labels", "no-labels"]
    assert "holds no label file" in rep.errors[0].message


def test_a_split_pointing_nowhere_is_an_error(tmp_path):
    src = synthetic.generate(tmp_path / "s", synthetic.SynthSpec(n_train=4, n_val=2, imgsz=64))
    rep = validate.validate(faults.with_fault(src, "missing-split", tmp_path / "bad"))
    assert ("error", "missing-split") in _kinds(rep)


def test_a_text_file_named_jpg_is_reported_as_not_an_image(tmp_path):
    src = synthetic.generate(tmp_path / "s", synthetic.SynthSpec(n_train=4, n_val=2, imgsz=64))
    rep = validate.validate(faults.with_fault(src, "text-as-jpg", tmp_path / "bad"))
    (err,) = rep.errors
    assert err.kind == "corrupt-image" and "cannot identify image file" in err.message  # not a plugin install


def test_validate_accepts_a_folder_as_train_does(tmp_path):
    import subprocess
    import sys

    root = tmp_path / "d"
    synthetic.generate(root, synthetic.SynthSpec(n_train=2, n_val=1, imgsz=64))
    p = subprocess.run([sys.executable, "-m", "helpers", "validate", str(root)], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0 and "error" not in p.stdout.split("|")[0].lower(), p.stdout + p.stderr


def test_a_dataset_clean_only_as_one_class_is_checked_again_without_it(tmp_path, runs):
    """train() skips the validator for files validated clean before; a pass under single_cls (class ids beyond
    `names` allowed) must not excuse a run without it."""
    from helpers.train.plan import TrainPlan
    from helpers.train.run import checked_data

    root = tmp_path / "one-class"
    synthetic.generate(root, synthetic.SynthSpec(n_train=2, n_val=1, imgsz=64))
    (root / "labels/train/train_000000.txt").write_text("9 0.5 0.5 0.2 0.2\n")
    yaml_file = str(root / "dataset.yaml")
    plan = TrainPlan(data=yaml_file, extra={"single_cls": True})
    assert checked_data(plan)[0] is plan and checked_data(plan)[2].endswith("(checked earlier; files unchanged)")
    with pytest.raises(datasets.DatasetError, match="class id 9"):
        checked_data(plan.replace(extra={}))
