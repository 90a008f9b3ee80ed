"""Deliberately broken inputs, for the notebooks' demonstrations and the tests (never used on real data)."""

from __future__ import annotations

from pathlib import Path

from helpers.data import synthetic

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
    for stale in root.rglob("*.cache"):
        stale.unlink()
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


def nan_trainer(bad_iterations: set[int] | frozenset[int]):
    """A RecipeTrainer subclass that turns the images of the given training iterations (0-based, counted across
    epochs) into NaN, to show and test the NaN guard on a real run."""
    from helpers.train.trainer import RecipeTrainer

    class NaNInjectingTrainer(RecipeTrainer):
        bad = frozenset(bad_iterations)
        seen = 0

        def preprocess_batch(self, batch):
            batch = super().preprocess_batch(batch)
            if type(self).seen in self.bad:
                batch["img"] = batch["img"] * float("nan")
            type(self).seen += 1
            return batch

    return NaNInjectingTrainer
