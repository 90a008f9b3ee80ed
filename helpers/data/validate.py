"""Dataset validator: every problem with its file and line, before Ultralytics silently drops images.

Stock Ultralytics skips a whole image (its valid boxes too) when one label line is bad, with one warning for the scan,
and lets zero-size boxes through. This validator reads every image and every label line and reports each problem.
Errors make a dataset unusable as is; warnings are legal but worth knowing (background images, orphan labels).
"""

from __future__ import annotations

import html
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from helpers.data.sources import DatasetError, class_names, list_images, load_yaml, split_sources
from helpers.core.tables import Table

SEVERITY_COLOURS = {"error": "#c0392b", "warning": "#b9770e"}


@dataclass(frozen=True)
class Problem:
    severity: str  # "error" | "warning"
    kind: str
    file: str
    line: int | None
    message: str


@dataclass
class Report:
    """What the validator found. `ok` is False when there is any error."""

    dataset: str
    names: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    images: dict[str, int] = field(default_factory=dict)  # split -> image count
    boxes: int = 0
    class_counts: Counter = field(default_factory=Counter)
    labels: dict[str, list[tuple[int, float, float, float, float]]] = field(default_factory=dict)  # image -> valid boxes

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self) -> Counter:
        """Problems per (severity, kind)."""
        return Counter((p.severity, p.kind) for p in self.problems)

    def summary(self) -> str:
        imgs = ", ".join(f"{k}: {v}" for k, v in self.images.items()) or "none"
        state = "OK" if self.ok else f"{len(self.errors)} error(s)"
        return f"{self.dataset}: {state}, {len(self.warnings)} warning(s); images {imgs}; {self.boxes} valid boxes"

    def rows(self, limit: int | None = None) -> list[tuple[str, str, str, str, str]]:
        """(severity, kind, file, line, message) rows, errors first."""
        ordered = sorted(self.problems, key=lambda p: (p.severity != "error", p.kind, p.file, p.line or 0))
        return [(p.severity, p.kind, p.file, "" if p.line is None else str(p.line), p.message) for p in ordered[:limit]]

    def table(self, limit: int | None = 50) -> Table:
        """The problems as a table (errors first, at most `limit` rows)."""
        more = f" (first {limit} of {len(self.problems)})" if limit is not None and len(self.problems) > limit else ""
        colours = [SEVERITY_COLOURS[r[0]] for r in self.rows(limit)]
        return Table(("severity", "kind", "file", "line", "message"), self.rows(limit), self.summary() + more, colours)

    def to_markdown(self, limit: int | None = 50) -> str:
        return self.table(limit).to_markdown() if self.problems else f"**{self.summary()}**"

    def _repr_html_(self) -> str:
        return self.table()._repr_html_() if self.problems else f"<p><b>{html.escape(self.summary())}</b></p>"

    def raise_if_errors(self) -> None:
        """Stop with a readable list of errors (for use before training)."""
        if not self.ok:
            listing = "\n".join(f"  {p.file}:{p.line or '-'}: {p.kind}: {p.message}" for p in self.errors[:20])
            more = f"\n  ... and {len(self.errors) - 20} more" if len(self.errors) > 20 else ""
            raise DatasetError(f"{self.summary()}\n{listing}{more}")


def label_path(image: Path) -> Path:
    """The label file Ultralytics reads for an image: last '/images/' -> '/labels/', suffix -> .txt."""
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return Path(sb.join(str(image).rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt")


def _images_in(location: Path, rep: Report, split: str) -> list[Path]:
    if not location.exists():  # training never reads 'test:': a warning there
        rep.problems.append(
            Problem("error" if split != "test" else "warning", "missing-split", str(location), None,
                    f"'{split}' points to {location}, which does not exist"
                    + (" (training never reads it)" if split == "test" else "")))
        return []
    found, missing = list_images(location)
    for n, p in missing:
        hint = ""
        if location.suffix == ".txt":
            raw = location.read_text(encoding="utf-8-sig").splitlines()[n - 1].strip()
            if not raw.startswith(("./", "/")) and (location.parent / raw).exists():
                hint = (f" (Ultralytics reads a relative line from the current folder; write './{raw}' to make it "
                        "relative to the list)")
        rep.problems.append(Problem("error" if split != "test" else "warning", "missing-image", str(location), n,
                                    f"listed image {p} does not exist{hint}"))
    return found


def _pil_open():
    """PIL's own Image.open: Ultralytics replaces it with one that tries to pip-install a HEIF plugin whenever a file
    is not an image, which turns 'not an image' into 'No module named pi_heif' (and asks the network)."""
    import sys

    patches = sys.modules.get("ultralytics.utils.patches")
    return getattr(patches, "_image_open", Image.open)


def _image_problems(path: Path) -> list[Problem]:
    """What is wrong with one image file (decoded in full), as problems; [] when nothing."""
    open_image = _pil_open()
    out: list[Problem] = []
    try:
        with open_image(path) as im:
            im.verify()
        with open_image(path) as im:  # verify() leaves the file unusable; a full decode catches truncation
            im.load()
            if min(im.size) < 10:  # Ultralytics' check_image drops such an image (its own limit)
                out.append(Problem("error", "tiny-image", str(path), None,
                                            f"image is {im.size[0]}x{im.size[1]} px: Ultralytics drops images under "
                                            "10 px on a side"))
            if im.format == "JPEG":
                with open(path, "rb") as f:
                    f.seek(-2, 2)
                    if f.read() != b"\xff\xd9":
                        out.append(Problem(
                            "warning", "jpeg-end", str(path), None,
                            "the JPEG does not end with its end marker (FF D9): it decodes, and plain Ultralytics "
                            "would rewrite it in place; the workbook's training leaves the file as it is"))
    except Exception as e:  # PIL raises many types for broken files
        out.append(Problem("error", "corrupt-image", str(path), None, f"cannot be decoded: {type(e).__name__}: {e}"))
    return out


def _images_checked(images: list[Path]) -> dict[Path, list[Problem]]:
    """Every image's problems, decoded by a few threads (PIL releases the GIL while decoding), in the images' order."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    if len(images) < 64:
        return {img: _image_problems(img) for img in images}
    with ThreadPoolExecutor(min(16, os.cpu_count() or 1)) as pool:
        return dict(zip(images, pool.map(_image_problems, images)))


def _check_labels(path: Path, nc: int, rep: Report, single_cls: bool = False) -> list[tuple[int, float, float, float, float]]:
    """Check one label file line by line; return its valid boxes. With `single_cls` any class id that is a whole
    number of at least 0 is one class, as Ultralytics' verify_image_label takes it."""
    good = []
    seen: dict[str, int] = {}
    text = path.read_bytes().decode("utf-8-sig", errors="replace")  # a byte-order mark is fine (Ultralytics)
    if not text.strip():
        rep.problems.append(Problem("warning", "empty-label", str(path), None, "no boxes: trained as a background image"))
        return good
    rows = [(n, raw.strip()) for n, raw in enumerate(text.splitlines(), 1) if raw.strip()]
    polygons = any(len(line.split()) > 6 for _, line in rows)  # Ultralytics' rule: then every line is a polygon
    for n, line in rows:
        parts = line.split()
        def bad(kind: str, msg: str) -> None:
            rep.problems.append(Problem("error", kind, str(path), n, f"{msg}: '{line[:60]}'"))

        if polygons and len(parts) == 5:
            bad("mixed-rows", "a box line in a file of segmentation polygons (Ultralytics drops the whole image)")
            continue
        if polygons and (len(parts) < 7 or len(parts) % 2 == 0):
            bad("bad-line", f"a polygon needs a class and x y pairs (3 points or more), got {len(parts)} numbers")
            continue
        if not polygons and len(parts) != 5:
            bad("bad-line", f"expected 5 numbers 'class cx cy w h', got {len(parts)}")
            continue
        try:
            values = [float(v) for v in parts]
        except ValueError:
            bad("not-a-number", "a value is not a number")
            continue
        cls, coords = values[0], values[1:]
        if cls != int(cls) or cls < 0 or (cls >= nc and not single_cls):
            bad("class-out-of-range", f"class id {parts[0]} is not an integer in 0..{nc - 1}" if not single_cls
                else f"class id {parts[0]} is not a whole number of at least 0 (single_cls)")
            continue
        if not all(-0.01 <= v <= 1.01 for v in coords):  # Ultralytics' tolerance for rounding
            bad("coord-out-of-range", "coordinates must be normalised to 0..1")
            continue
        if polygons:  # the polygon's box, as Ultralytics' segments2boxes makes it
            xs, ys = coords[0::2], coords[1::2]
            cx, cy, w, h = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs), max(ys) - min(ys)
        else:
            cx, cy, w, h = coords
        if w <= 0 or h <= 0:
            bad("zero-size-box", f"box has zero size (w={parts[3]}, h={parts[4]})")
            continue
        key = " ".join(parts) if polygons else f"{cls:g} {cx:g} {cy:g} {w:g} {h:g}"
        if key in seen:
            rep.problems.append(
                Problem("warning", "duplicate-box", str(path), n, f"same box as line {seen[key]} (Ultralytics drops duplicates)")
            )
            continue
        seen[key] = n
        good.append((int(cls), cx, cy, w, h))
    return good


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _split_without_labels(images: list[Path], split: str, rep: Report) -> bool:
    """One error when not a single image of a split has a label file (a missing or empty labels folder); True then."""
    if not images or any(label_path(img).exists() for img in images):
        return False
    folders = sorted({label_path(img).parent for img in images})
    where = folders[0] if len(folders) == 1 else f"{folders[0]} (and {len(folders) - 1} more)"
    missing = [f for f in folders if not f.is_dir()]
    state = "does not exist" if missing else "holds no label file for any of them"
    rep.problems.append(Problem("error" if split != "test" else "warning", "no-labels", str(folders[0]), None,
                                f"none of the {len(images)} '{split}' images has a label file: {where} {state} "
                                "(labels go in a 'labels' folder beside 'images', one .txt per image)"))
    return True


def validate(data_yaml: str | Path, *, check_images: bool = True, single_cls: bool = False) -> Report:
    """Validate a YOLO detection dataset described by a yaml file; never raises for dataset content. `single_cls`:
    trained as one class (Ultralytics' argument), so class ids beyond `names` are no error."""
    rep = Report(dataset=str(data_yaml))
    try:
        data = load_yaml(data_yaml)
        rep.names = class_names(data)
    except DatasetError as e:
        rep.problems.append(Problem("error", "bad-yaml", str(data_yaml), None, str(e)))
        return rep
    renamed = "val" not in data and bool(data.get("validation"))  # Ultralytics renames 'validation:' to 'val:'
    if renamed:
        rep.problems.append(Problem("warning", "validation-key", str(data_yaml), None,
                                    "'validation:' is read as 'val:' (Ultralytics renames it)"))
    for need in ("train", "val"):
        if not data.get(need) and not (need == "val" and renamed):
            rep.problems.append(Problem("error", "missing-key", str(data_yaml), None, f"'{need}:' is missing"))
    if data.get("names") is not None and data.get("nc") is not None and _number(data["nc"]) != len(rep.names):
        rep.problems.append(Problem("error", "nc-names", str(data_yaml), None,
                                    f"'nc: {data['nc']}' but 'names:' lists {len(rep.names)} classes; make them agree "
                                    "(Ultralytics refuses this yaml)"))
    nc = len(rep.names)
    label_dirs: set[Path] = set()
    used_labels: set[Path] = set()
    seen_in: dict[Path, str] = {}  # image -> first split that listed it
    for src in split_sources(data_yaml, data):
        images = [img for loc in src.locations for img in _images_in(loc, rep, src.split)]
        rep.images[src.split] = len(images)
        if not images and all(loc.exists() for loc in src.locations):
            rep.problems.append(Problem("error", "no-images", str(src.locations[0]), None, f"'{src.split}' has no images"))
        shared = [img for img in images if img in seen_in]
        if shared:
            other = seen_in[shared[0]]
            rep.problems.append(
                Problem("warning", "split-overlap", str(src.locations[0]), None,
                        f"{len(shared)} of {len(images)} '{src.split}' images are also in '{other}': "
                        f"its metrics then measure memorisation, not generalisation")
            )
        by_label: dict[Path, Path] = {}
        fresh = [img for img in images if img not in seen_in]  # an image listed by an earlier split is checked once
        unlabelled = _split_without_labels(fresh, src.split, rep)
        checked = _images_checked(fresh) if check_images else {}
        for img in fresh:
            seen_in[img] = src.split
            lab = label_path(img)
            label_dirs.add(lab.parent)
            if lab in by_label:
                rep.problems.append(
                    Problem("warning", "duplicate-image", str(img), None, f"shares label file {lab.name} with {by_label[lab].name}")
                )
            by_label[lab] = img
            rep.problems.extend(checked.get(img, ()))
            if not lab.exists():
                if not unlabelled:  # one error for the split says it already
                    rep.problems.append(Problem("warning", "no-label", str(img), None,
                                                "no label file: trained as a background image"))
                continue
            used_labels.add(lab)
            boxes = _check_labels(lab, nc, rep, single_cls)
            rep.labels[str(img)] = boxes
            rep.boxes += len(boxes)
            rep.class_counts.update(b[0] for b in boxes)
    for d in sorted(label_dirs):
        if d.is_dir():
            for lab in sorted(d.glob("*.txt")):
                if lab not in used_labels:
                    rep.problems.append(Problem("warning", "orphan-label", str(lab), None, "label file has no image"))
    return rep


def ultralytics_view(report: Report, split_images: list[Path], nc: int) -> Table:
    """What stock Ultralytics' own label check does with each image, beside what this validator found."""
    from ultralytics.data.utils import verify_image_label

    by_file: dict[str, list[Problem]] = {}
    for p in report.problems:
        by_file.setdefault(Path(p.file).stem, []).append(p)
    rows = []
    for img in split_images:
        res = verify_image_label((str(img), str(label_path(img)), "", False, nc, 0, 0, False))
        lb, msg = res[1], str(res[-1]).strip()
        reason = msg.split("ignoring corrupt image/label:", 1)[1] if "image/label:" in msg else msg.split(": ", 1)[-1]
        reason = " ".join(reason.split())  # numpy's padded arrays, on one line
        if lb is None:
            theirs = f"image DROPPED with all its boxes ({reason.strip()})"
        else:
            theirs = f"kept {len(lb)} box(es)" + (f"; {reason.strip()}" if msg else "")
        ours = "; ".join(f"{p.kind}" + (f" (line {p.line})" if p.line else "") for p in by_file.get(img.stem, [])) or "ok"
        rows.append((img.name, ours, theirs))
    return Table(("image", "this validator", "stock Ultralytics"), rows, "Same images, two checks")


def fingerprint(data_yaml: str | Path) -> str:
    """A hash of the yaml and of every image and label file's path, size and modification time (nothing is read)."""
    import hashlib

    h = hashlib.sha256(Path(data_yaml).read_bytes())
    for src in split_sources(data_yaml):
        for loc in src.locations:
            for img in list_images(loc)[0]:
                for f in (img, label_path(img)):
                    st = f.stat() if f.exists() else None
                    h.update(f"{f}|{st.st_size if st else -1}|{st.st_mtime_ns if st else -1}\n".encode())
    return h.hexdigest()


def _stamp(data_yaml: str | Path, single_cls: bool = False) -> Path:
    from helpers.core import paths

    return paths.runs_dir() / "validated" / f"{fingerprint(data_yaml)}{'-single-cls' if single_cls else ''}.txt"


def known_good(data_yaml: str | Path, single_cls: bool = False) -> str | None:
    """The summary of an earlier clean validation of exactly these files (and class rule), or None (then validate
    again)."""
    try:
        stamp = _stamp(data_yaml, single_cls)
    except (OSError, DatasetError):
        return None
    return stamp.read_text() if stamp.exists() else None


def remember_good(data_yaml: str | Path, report: Report, single_cls: bool = False) -> None:
    """Record a clean validation (under runs/, never beside the user's data) so the next run skips decoding."""
    if report.ok:
        stamp = _stamp(data_yaml, single_cls)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(report.summary() + " (checked earlier; files unchanged)")
