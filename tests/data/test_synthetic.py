import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from helpers.data import synthetic


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.suffix in (".jpg", ".txt")}


def test_same_seed_gives_identical_files(tmp_path):
    spec = synthetic.SynthSpec(n_train=6, n_val=2, imgsz=96, seed=3)
    synthetic.generate(tmp_path / "a", spec)
    synthetic.generate(tmp_path / "b", spec)
    a, b = digest(tmp_path / "a"), digest(tmp_path / "b")
    assert len(a) == 16 and a == b


def test_other_seed_gives_other_data(tmp_path):
    synthetic.generate(tmp_path / "a", synthetic.SynthSpec(n_train=4, n_val=1, imgsz=96, seed=0))
    synthetic.generate(tmp_path / "b", synthetic.SynthSpec(n_train=4, n_val=1, imgsz=96, seed=1))
    a, b = digest(tmp_path / "a"), digest(tmp_path / "b")
    assert a.keys() == b.keys() and all(a[k] != b[k] for k in a)


def test_small_set_is_prefix_of_large_set():
    small = synthetic.SynthSpec(n_train=4, imgsz=96)
    large = synthetic.SynthSpec(n_train=64, imgsz=96)
    for i in range(4):
        assert synthetic.draw_image(small, "train", i)[1] == synthetic.draw_image(large, "train", i)[1]


def test_labels_are_valid_and_boxes_enclose_the_shape():
    spec = synthetic.SynthSpec(imgsz=128, max_objects=1)
    for i in range(20):
        img, labels = synthetic.draw_image(spec, "val", i)
        assert len(labels) == 1
        c, cx, cy, w, h = labels[0]
        assert 0 <= c < len(spec.classes) and 0 < w <= 1 and 0 < h <= 1
        assert 0 <= cx - w / 2 and cx + w / 2 <= 1 and 0 <= cy - h / 2 and cy + h / 2 <= 1
        # Shapes carry a black outline: the darkest pixels must lie inside the labelled box (1 px tolerance).
        a = np.asarray(img.convert("L"), dtype=np.int16)
        ys, xs = np.nonzero(a < 8)
        if len(xs) == 0:
            continue
        s = spec.imgsz
        assert xs.min() >= (cx - w / 2) * s - 1.5 and xs.max() <= (cx + w / 2) * s + 1.5
        assert ys.min() >= (cy - h / 2) * s - 1.5 and ys.max() <= (cy + h / 2) * s + 1.5


def test_generate_reuses_and_regenerates(tmp_path):
    spec = synthetic.SynthSpec(n_train=3, n_val=1, imgsz=64)
    y = synthetic.generate(tmp_path, spec)
    first = (tmp_path / "images/train/train_000000.jpg").stat().st_mtime_ns
    assert synthetic.generate(tmp_path, spec) == y
    assert (tmp_path / "images/train/train_000000.jpg").stat().st_mtime_ns == first  # reused, not rewritten
    synthetic.generate(tmp_path, synthetic.SynthSpec(n_train=2, n_val=1, imgsz=64))
    assert len(list((tmp_path / "images/train").glob("*.jpg"))) == 2  # spec changed: regenerated
    with Image.open(tmp_path / "images/train/train_000000.jpg") as im:
        assert im.size == (64, 64)


def _generate_in_child(root: str, n: int) -> None:
    synthetic.generate(root, synthetic.SynthSpec(n_train=n, n_val=4, imgsz=64, seed=2))


def test_processes_asking_for_the_same_dataset_at_once_get_it_whole(tmp_path):
    import multiprocessing

    root = tmp_path / "shared"
    ctx = multiprocessing.get_context("spawn")
    kids = [ctx.Process(target=_generate_in_child, args=(str(root), 40)) for _ in range(3)]
    for k in kids:
        k.start()
    for k in kids:
        k.join(120)
    assert [k.exitcode for k in kids] == [0, 0, 0]
    reference = tmp_path / "alone"
    _generate_in_child(str(reference), 40)
    assert digest(root) == digest(reference) and len(digest(root)) == 88
