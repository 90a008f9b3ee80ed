"""What notebooks 02 and 10 show after training, in one place: the trained model per class beside the model it
started from, and its predictions with a confidence slider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.measure import evaluate


def after_training(before: evaluate.Evaluation, best: str | Path, plan: Any) -> evaluate.Evaluation:
    """best.pt on the plan's validation split: its per-class table, then the before/after comparison; returns it."""
    from IPython.display import display

    after = evaluate.evaluate(best, name="after: best.pt", **evaluate.evaluation_args(plan))
    display(after.class_table())
    display(evaluate.compare([before, after]))
    return after


def predictions(best: str | Path, plan: Any, conf: float, what: str = "validation images", n: int = 8) -> list[Path]:
    """`n` validation images with best.pt's boxes; in JupyterLab a slider redraws them at another confidence
    threshold when released (headless: at `conf`). Returns the images."""
    from helpers.workbook.redraw import slider

    images = evaluate.val_images(plan.data, n)

    def draw(conf: float) -> Any:
        return evaluate.predict_grid(best, images, plan.imgsz, conf=conf, title=f"best.pt on {what}, conf >= {conf:g}")

    slider(draw, "conf", conf)
    return images
