"""Deliberately broken inputs, for the notebooks' demonstrations and the tests (never used on real data)."""

from __future__ import annotations

from pathlib import Path

from helpers.data import label_cache, synthetic

# (image index in train, what is done, the line appended to its label file or None)
BREAKS = (
    (0, "class id 7 in a 5-class dataset", "7 0.5 0.5 0.2 0.2"),
    (1, "zero-width box", "1 0.5 0.5 0.0 0.1"),
    (2, "line with 4 numbers", "2 0.5 0.5 0.2"),
    (3, "x centre 1.4 (not normalised)", "0 1.4 0.5 0.2 0.2"),
    (4, "image file truncated", None),
    (5, "label file deleted", None),
    (6, "a box repeated", None),
)


def broken_dataset(root: str | Path) -> tuple[Path, list[tuple[str, str]]]:
    """A small synthetic dataset with the faults in BREAKS plus an orphan label; returns (yaml, [(file, fault)])."""
    root = Path(root)
    data = synthetic.generate(root, synthetic.SynthSpec(n_train=10, n_val=4, imgsz=64, seed=7))
    label_cache.forget(root)
    lab = root / "labels" / "train"
    img = root / "images" / "train"
    done = []
    for i, what, line in BREAKS:
        stem = f"train_{i:06d}"
        label = lab / f"{stem}.txt"
        if line is not None:
            label.write_text(label.read_text() + line + "\n")
            done.append((label.name, what))
        elif "truncated" in what:
            image = img / f"{stem}.jpg"
            image.write_bytes(image.read_bytes()[:200])
            done.append((image.name, what))
        elif "deleted" in what:
            label.unlink()
            done.append((label.name, what))
        elif "repeated" in what:
            first = label.read_text().splitlines()[0]
            label.write_text(label.read_text() + first + "\n")
            done.append((label.name, what))
    (lab / "stray_000099.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    done.append(("stray_000099.txt", "label file with no image"))
    (root / "generator.json").unlink()  # the folder no longer matches its spec: regenerate next time
    return data, done


# One fault each, applied to a copy of a real dataset: what a user's own data most often gets wrong.
ONE_FAULT = ("bad-line", "corrupt-image", "text-as-jpg", "zero-size-box", "nc-names", "no-labels", "missing-split")


def with_fault(data_yaml: str | Path, fault: str, dest: str | Path) -> Path:
    """A copy of the dataset at `dest` with one fault (ONE_FAULT) in its first training image, label or its yaml;
    returns the copy's yaml. The source is never touched."""
    import shutil

    import yaml

    from helpers.data.sources import copy_dataset, list_images, split_sources
    from helpers.data.validate import label_path

    if fault not in ONE_FAULT:
        raise ValueError(f"fault={fault!r}: choose one of {ONE_FAULT}")
    copy = copy_dataset(data_yaml, dest)
    train = next(s for s in split_sources(copy) if s.split == "train")
    image = list_images(train.locations[0])[0][0]
    label = label_path(image)
    data = yaml.safe_load(copy.read_text())
    if fault == "bad-line":
        label.write_text(label.read_text() + "0 0.5 0.5 0.2\n")
    elif fault == "zero-size-box":
        label.write_text(label.read_text() + "0 0.5 0.5 0.0 0.2\n")
    elif fault == "corrupt-image":
        image.write_bytes(image.read_bytes()[: max(200, image.stat().st_size // 3)])
    elif fault == "text-as-jpg":
        image.write_text("this is a text file with an image's name\n")
    elif fault == "nc-names":
        data["nc"] = len(data["names"]) + 1
    elif fault == "no-labels":
        shutil.rmtree(label.parent.parent)
    elif fault == "missing-split":
        data["val"] = "images/nowhere"
    copy.write_text(yaml.safe_dump(data, sort_keys=False))
    label_cache.forget(Path(copy).parent)
    return copy
