"""The validator against Ultralytics' own functions on a generated corpus of dataset variants.

Each variant changes one thing in a small generated dataset (a label file's text, an image file, the folder layout
or the yaml). The oracle is Ultralytics itself, run on a copy: `check_det_dataset` for the yaml, its dataset's
`get_img_files` for which files are images, `img2label_paths` for where their labels are and `verify_image_label`
for keep or drop. Per image the validator must agree: no error where Ultralytics keeps the image (no false
refusal), an error where Ultralytics drops it (nothing it drops is called OK), and every refusal names its file
and line, or the yaml key. One deliberate difference is declared: a zero-size box, which Ultralytics keeps in the
label table and loses silently in augmentation, is an error.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from helpers.data import synthetic, validate

IMAGE = "images/train/train_000000.jpg"
LABEL = "labels/train/train_000000.txt"
STRICTER = {"zero-size-box"}  # refused although Ultralytics keeps the image (it drops the box silently)


def label(text: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        (root / LABEL).write_text(text, encoding="utf-8", newline="")
    return change


def image(make: Callable[[Path], None]) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        make(root / IMAGE)
    return change


def _tiny(side: tuple[int, int]):
    return lambda p: Image.new("RGB", side, (90, 90, 90)).save(p)


def _exif_rotated(p: Path) -> None:
    exif = Image.Exif()
    exif[274] = 6  # rotated 90 degrees: Ultralytics swaps width and height
    Image.new("RGB", (64, 12), (90, 90, 90)).save(p, exif=exif)


def _exif_rotated_tiny(p: Path) -> None:
    exif = Image.Exif()
    exif[274] = 6
    Image.new("RGB", (9, 40), (90, 90, 90)).save(p, exif=exif)  # 40 x 9 once rotated


def _trailing_bytes(p: Path) -> None:
    p.write_bytes(p.read_bytes() + b"appended by a camera")  # decodes, but no end marker at the end


def _truncated(p: Path) -> None:
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _as(fmt: str, suffix: str):
    def change(root: Path) -> None:
        src = root / IMAGE
        Image.open(src).convert("L" if fmt == "gray" else "RGB").save(src.with_suffix(suffix),
                                                                     "JPEG" if fmt == "gray" else fmt)
        if src.with_suffix(suffix) != src:
            src.unlink()
    return change


def _move(to: str):
    def change(root: Path) -> None:
        (root / to).parent.mkdir(parents=True, exist_ok=True)
        (root / IMAGE).rename(root / to)
        img2label = validate.label_path(root / to)
        img2label.parent.mkdir(parents=True, exist_ok=True)
        (root / LABEL).rename(img2label)
    return change


def _extra_file(name: str, content: bytes):
    return lambda root: (root / "images/train" / name).parent.mkdir(parents=True, exist_ok=True) or \
        (root / "images/train" / name).write_bytes(content)


def _yaml(text: str):
    return lambda root: (root / "dataset.yaml").write_text(text.replace("ROOT", str(root)))


def _listed(lines: str):
    def change(root: Path) -> None:
        (root / "train.txt").write_text(lines)
        _yaml("path: ROOT\ntrain: train.txt\nval: images/val\nnames: [a, b, c, d, e]\n")(root)
    return change


NAMES5 = "names: [a, b, c, d, e]\n"
VARIANTS: dict[str, Callable[[Path], None]] = {
    # label lines
    "box": label("0 0.5 0.5 0.2 0.2\n"),
    "polygon": label("0 0.1 0.1 0.5 0.1 0.5 0.5\n"),
    "byte-order-mark": label("\ufeff0 0.5 0.5 0.2 0.2\n"),
    "crlf": label("0 0.5 0.5 0.2 0.2\r\n1 0.3 0.3 0.1 0.1\r\n"),
    "tabs": label("0\t0.5\t0.5\t0.2\t0.2\n"),
    "blank-lines-and-spaces": label("\n\n  0 0.5 0.5 0.2 0.2   \n\n"),
    "scientific-notation": label("0 5e-1 0.5 2e-1 0.2\n"),
    "class-written-as-float": label("1.0 0.5 0.5 0.2 0.2\n"),
    "rounding-over-1": label("0 0.5 0.5 0.2 1.005\n"),
    "rounding-under-0": label("0 -0.005 0.5 0.2 0.2\n"),
    "duplicate-rows": label("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n"),
    "duplicate-polygons": label("0 0.1 0.1 0.5 0.1 0.5 0.5\n0 0.1 0.1 0.5 0.1 0.5 0.5\n"),
    "empty-label-file": label(""),
    "missing-label-file": lambda root: (root / LABEL).unlink(),
    "zero-size-box": label("0 0.5 0.5 0 0.2\n"),
    "mixed-polygon-and-box": label("0 0.1 0.1 0.5 0.1 0.5 0.5\n0 0.5 0.5 0.2 0.2\n"),
    "six-values": label("0 0.5 0.5 0.2 0.2 0.3\n"),
    "four-values": label("0 0.5 0.5 0.2\n"),
    "odd-polygon": label("0 0.1 0.1 0.5 0.1 0.5 0.5 0.7\n"),
    "polygon-out-of-range": label("0 0.1 0.1 1.3 0.1 0.5 0.5\n"),
    "over-1": label("0 0.5 0.5 0.2 1.2\n"),
    "negative": label("0 -0.2 0.5 0.2 0.2\n"),
    "negative-size": label("0 0.5 0.5 -0.005 0.2\n"),
    "class-out-of-range": label("7 0.5 0.5 0.2 0.2\n"),
    "class-negative": label("-1 0.5 0.5 0.2 0.2\n"),
    "class-not-integer": label("1.5 0.5 0.5 0.2 0.2\n"),
    "not-a-number": label("0 0.5 x 0.2 0.2\n"),
    # image files
    "tiny-image": image(_tiny((9, 40))),
    "ten-pixels": image(_tiny((10, 10))),
    "exif-rotated": image(_exif_rotated),
    "exif-rotated-tiny": image(_exif_rotated_tiny),
    "jpeg-with-trailing-bytes": image(_trailing_bytes),
    "truncated-jpeg": image(_truncated),
    "text-named-jpg": image(lambda p: p.write_text("not an image")),
    "png": _as("PNG", ".png"),
    "webp": _as("WEBP", ".webp"),
    "grayscale": _as("gray", ".jpg"),
    "uppercase-suffix": _move("images/train/train_000000.JPG"),
    "nested-folder": _move("images/train/sub/train_000000.jpg"),
    "images-twice-in-path": _move("images/train/images/train_000000.jpg"),
    "macos-resource-fork": _extra_file("._train_000000.jpg", b"\x00\x05\x16\x07 Mac OS X resource fork"),
    "hidden-folder": _extra_file(".thumbnails/train_000000.jpg", b"not decodable"),
    "gif-beside-images": _extra_file("animation.gif", b"GIF89a"),
    "readme-beside-images": _extra_file("README.txt", b"where these came from"),
    # the yaml and lists
    "names-as-mapping": _yaml("path: ROOT\ntrain: images/train\nval: images/val\nnames: {0: a, 1: b, 2: c, 3: d, 4: e}\n"),
    "nc-only": _yaml("path: ROOT\ntrain: images/train\nval: images/val\nnc: 5\n"),
    "nc-as-text": _yaml("path: ROOT\ntrain: images/train\nval: images/val\nnc: '5'\n"),
    "validation-key": _yaml("path: ROOT\ntrain: images/train\nvalidation: images/val\n" + NAMES5),
    "no-path-key": _yaml("train: images/train\nval: images/val\n" + NAMES5),
    "missing-test-split": _yaml("path: ROOT\ntrain: images/train\nval: images/val\ntest: images/test\n" + NAMES5),
    "list-with-dot-slash": _listed("./images/train/train_000000.jpg\n./images/train/train_000001.jpg\n"),
    "list-with-absolute-paths": lambda root: _listed(f"{root}/images/train/train_000000.jpg\n")(root),
    "list-naming-a-missing-image": _listed("./images/train/train_000000.jpg\n./images/train/gone.jpg\n"),
    "nc-disagrees-with-names": _yaml("path: ROOT\ntrain: images/train\nval: images/val\nnc: 3\n" + NAMES5),
    "missing-val": _yaml("path: ROOT\ntrain: images/train\nval: images/nowhere\n" + NAMES5),
    "no-val-key": _yaml("path: ROOT\ntrain: images/train\n" + NAMES5),
    "no-names-no-nc": _yaml("path: ROOT\ntrain: images/train\nval: images/val\n"),
}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus") / "base"
    synthetic.generate(root, synthetic.SynthSpec(n_train=3, n_val=1, imgsz=64))
    return root


def ultralytics_keeps(data_yaml: Path, monkeypatch) -> dict[str, bool] | str:
    """Per image of train and val, whether Ultralytics' own functions keep it; or why it refuses the dataset."""
    from ultralytics.data import utils as du
    from ultralytics.data.base import BaseDataset

    monkeypatch.setattr(du, "check_font", lambda *a, **k: None)  # a font for plots, not a check
    try:
        data = du.check_det_dataset(str(data_yaml), autodownload=False)
        files = {s: BaseDataset.get_img_files(SimpleNamespace(prefix="", fraction=1.0), data[s]) for s in ("train", "val")}
    except Exception as e:  # noqa: BLE001 - every refusal of Ultralytics counts as one
        return f"{type(e).__name__}: {e}"
    keep = {}
    for fs in files.values():
        for f, lb in zip(fs, du.img2label_paths(fs)):
            keep[str(Path(f).resolve())] = du.verify_image_label((f, lb, "", False, len(data["names"]), 0, 0, False))[0] \
                is not None
    return keep


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_validator_decides_each_image_as_ultralytics_does(variant, base, tmp_path, monkeypatch):
    ours_root, theirs_root = tmp_path / "ours", tmp_path / "theirs"
    for root in (ours_root, theirs_root):
        shutil.copytree(base, root)
        (root / "dataset.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/val\n{NAMES5}")
        VARIANTS[variant](root)
    monkeypatch.chdir(tmp_path)
    theirs = ultralytics_keeps(theirs_root / "dataset.yaml", monkeypatch)
    rep = validate.validate(ours_root / "dataset.yaml")  # never raises
    for p in rep.errors:  # every refusal names its file, and its line where it is one
        assert p.file and p.message, p
        if p.kind in ("bad-line", "not-a-number", "class-out-of-range", "coord-out-of-range", "mixed-rows",
                      "zero-size-box", "missing-image"):
            assert p.line, p
    if isinstance(theirs, str):
        assert not rep.ok, (variant, theirs)
        assert any(p.file.endswith((".yaml", "nowhere")) for p in rep.errors), (variant, rep.rows())
        return
    assert not [p for p in rep.errors if p.file.endswith(".yaml")], (variant, rep.rows())
    by_file: dict[str, list[str]] = {}
    for p in rep.errors:
        by_file.setdefault(str(Path(p.file).resolve()), []).append(p.kind)
    missing = [p for p in rep.errors if p.kind == "missing-image"]  # listed, not there: one error at the list's line
    ours_images = {k: v for k, v in rep.images.items() if k in ("train", "val")}
    assert sum(ours_images.values()) + len(missing) == len(theirs), (variant, ours_images, sorted(theirs))
    for f, kept in theirs.items():  # the same files are images, and each is kept or dropped alike
        mine = Path(str(f).replace(str(theirs_root.resolve()), str(ours_root.resolve())))
        kinds = by_file.get(str(mine), []) + by_file.get(str(validate.label_path(mine)), [])
        kinds += [p.kind for p in missing if str(mine) in p.message]
        if kept:
            assert set(kinds) <= STRICTER, (variant, f, kinds)  # no false refusal
        else:
            assert kinds, (variant, f, "Ultralytics drops it, the validator called it OK")


def test_training_leaves_a_jpeg_without_end_marker_as_it_was(base, tmp_path, runs):
    """Ultralytics rewrites such a JPEG in place when it scans it; with the workbook's redirect it keeps the file."""
    from ultralytics.data.utils import check_image

    from helpers.data import label_cache

    root = tmp_path / "d"
    shutil.copytree(base, root)
    (root / "dataset.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/val\n{NAMES5}")
    _trailing_bytes(root / IMAGE)
    before = (root / IMAGE).read_bytes()
    assert label_cache.install()
    check_image(str(root / IMAGE))
    said = _logged_while(lambda: _scan(root / "images" / "train"))  # Ultralytics' scan logs what it did to the file
    assert label_cache.KEPT in said and label_cache.REPAIRED not in said, said
    assert (root / IMAGE).read_bytes() == before and sorted(p.name for p in (root / IMAGE).parent.iterdir()) == \
        sorted(p.name for p in (base / IMAGE).parent.iterdir())
    rep = validate.validate(root / "dataset.yaml")
    assert rep.ok and [p.kind for p in rep.warnings if p.file.endswith(".jpg")] == ["jpeg-end"]


def _scan(folder: Path) -> None:
    """Ultralytics' own scan of a training folder's labels (what training runs first), from a fresh cache."""
    from ultralytics.cfg import get_cfg
    from ultralytics.data.dataset import YOLODataset

    YOLODataset(img_path=str(folder), imgsz=64, augment=False, hyp=get_cfg(), data={"names": dict(enumerate("abcde")),
                "channels": 3}, cache=False)


def _logged_while(action) -> str:
    """What Ultralytics' logger printed while `action` ran."""
    import logging

    from ultralytics.utils import LOGGER

    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    LOGGER.addHandler(handler)
    try:
        action()
    finally:
        LOGGER.removeHandler(handler)
    return "\n".join(lines)
