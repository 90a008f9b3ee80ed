"""What a trained model does on the validation split: Ultralytics' own standard views of a run, a per-class table with
the dataset's class names, the model before vs after training, and predictions drawn on images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from helpers.core.logs import quiet
from helpers.core.tables import Table, small_image

# Ultralytics' plots of a run (plots=True), in reading order, with what each shows
STANDARD_VIEWS = {
    "results.png": "losses and metrics per epoch (Ultralytics' own summary plot)",
    "confusion_matrix_normalized.png": "confusion matrix: each column a true class, normalised to 1 (bottom row: missed "
                                       "objects; right column: false alarms)",
    "BoxPR_curve.png": "precision-recall curve per class at IoU 0.5 (the area under it is AP50)",
    "val_batch0_labels.jpg": "validation images with their true boxes",
    "val_batch0_pred.jpg": "the same images with the model's predictions",
}


@dataclass
class Evaluation:
    """Validation metrics of one checkpoint on one dataset: overall and per class."""

    name: str
    map50_95: float
    map50: float
    precision: float
    recall: float
    per_class: list[tuple[str, int, int, float, float, float, float]]  # name, images, boxes, P, R, AP50, AP50-95

    def row(self) -> tuple:
        return (self.name, f"{self.map50_95:.3f}", f"{self.map50:.3f}", f"{self.precision:.3f}", f"{self.recall:.3f}")

    def class_table(self, title: str = "") -> Table:
        """Per class; precision shows '-' where no detection of the class was correct at any confidence (recall and
        AP50 both 0): precision is undefined there, and Ultralytics reports 0 or 1 by convention."""
        undefined = [n for n, _, _, _, r, a50, _ in self.per_class if r == 0 and a50 == 0]
        rows = [(n, i, b, "-" if n in undefined else f"{p:.3f}", f"{r:.3f}", f"{a50:.3f}", f"{a:.3f}")
                for n, i, b, p, r, a50, a in self.per_class]
        note = (f" ('-': no correct detection of {len(undefined)} class(es) at any confidence, so precision is "
                "undefined; Ultralytics prints 0 or 1 there)") if undefined else ""
        return Table(("class", "images", "boxes", "precision", "recall", "AP50", "AP50-95"), rows,
                     (title or f"{self.name}: per class on the validation split") + note)


def evaluate(weights: str | Path, data: str | Path, imgsz: int, *, name: str = "", batch: int = 16,
             device: str | None = None, project: str | Path | None = None) -> Evaluation:
    """Validate a checkpoint (or a model yaml: random weights) on the dataset's val split, per class too."""
    from ultralytics import YOLO

    from helpers.core import paths
    from helpers.data import label_cache

    label_cache.install()  # the val split's label cache goes to the workbook's cache folder
    with quiet():
        m = YOLO(str(weights)).val(data=str(data), imgsz=imgsz, batch=batch, device=device, plots=False,
                                   project=str(project or paths.runs_dir() / "val"), name=name or "val",
                                   exist_ok=True, verbose=False)
    per_class = []
    for i, c in enumerate(m.box.ap_class_index):
        p, r, ap50, ap = m.box.class_result(i)
        per_class.append((m.names[int(c)], int(m.nt_per_image[int(c)]), int(m.nt_per_class[int(c)]),
                          float(p), float(r), float(ap50), float(ap)))
    return Evaluation(name or Path(str(weights)).name, float(m.box.map), float(m.box.map50), float(m.box.mp),
                      float(m.box.mr), per_class)


def compare(evaluations: Sequence[Evaluation], title: str = "before vs after training") -> Table:
    return Table(("model", "mAP50-95", "mAP50", "precision", "recall"), [e.row() for e in evaluations], title)


def standard_views(run_dir: str | Path) -> list[tuple[Path, str]]:
    """Ultralytics' plots that exist in a run folder, with what each shows."""
    return [(Path(run_dir) / f, why) for f, why in STANDARD_VIEWS.items() if (Path(run_dir) / f).exists()]


def show_views(run_dir: str | Path, max_px: int = 900) -> int:
    """Display Ultralytics' standard views of a run (returns how many were there)."""
    from IPython.display import Markdown, display

    from helpers.core.tables import md_escape

    views = standard_views(run_dir)
    for path, why in views:
        display(Markdown(f"**{md_escape(path.name)}** — {md_escape(why)}"))
        display(small_image(path, max_px))
    if not views:
        display(Markdown(f"No Ultralytics plots in `{run_dir}`: the run had `plots=False`."))
    return len(views)


def epoch_log(cols: dict[str, list[float]], last: int = 5) -> Table:
    """The last epochs of results.csv as a compact table: losses, mAP and lr."""
    keys = [("train/box_loss", "box"), ("train/cls_loss", "cls"), ("train/dfl_loss", "dfl"),
            ("metrics/mAP50(B)", "mAP50"), ("metrics/mAP50-95(B)", "mAP50-95"), ("lr/pg0", "lr")]
    n = len(cols.get("epoch", []))
    rows = [(int(cols["epoch"][i]), *(f"{cols[k][i]:.4g}" if k in cols else "-" for k, _ in keys))
            for i in range(max(0, n - last), n)]
    return Table(("epoch", *(short for _, short in keys)), rows, f"epoch log (last {min(last, n)} of {n})")


def predict_grid(weights: str | Path, images: Sequence[str | Path], imgsz: int, conf: float = 0.25,
                 cols: int = 4, title: str = ""):
    """Predictions (boxes, classes, scores at or above `conf`) drawn on images, as one figure."""
    import matplotlib.pyplot as plt
    from ultralytics import YOLO

    model = YOLO(str(weights))
    with quiet():
        results = model.predict([str(p) for p in images], imgsz=imgsz, conf=conf, verbose=False)
    rows = max(1, -(-len(results) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, r in zip(axes.flat, results):
        ax.imshow(r.plot(line_width=1, font_size=8)[..., ::-1])  # BGR -> RGB
        ax.set_title(f"{Path(r.path).name}: {len(r.boxes)} box(es)", fontsize=8)
    fig.suptitle(title or f"predictions at conf >= {conf:g}", fontsize=10)
    fig.tight_layout()
    return fig


def val_images(data: str | Path, n: int = 8) -> list[Path]:
    """The first `n` images of the dataset's val split."""
    from helpers.data.sources import list_images, split_sources

    for src in split_sources(data):
        if src.split == "val":
            return [p for loc in src.locations for p in list_images(loc)[0]][:n]
    return []


def evaluation_args(plan: Any) -> dict[str, Any]:
    """evaluate() arguments that match a run's plan (data, image size, device, a batch that fits)."""
    return {"data": plan.data, "imgsz": plan.imgsz, "batch": max(min(plan.batch, 32), 8), "device": plan.device or None}
