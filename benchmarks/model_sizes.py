"""Parameters and GFLOPs (640 px) of the YOLOv12 family and yolov9s as Ultralytics builds them from yaml, for 80 COCO
classes (as the published tables) and for the workbook's 5 synthetic classes. Deterministic; runs on a CPU.

    python benchmarks/model_sizes.py      # writes results/model-sizes.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import helpers  # noqa: E402,F401  (offline before ultralytics is imported)
from helpers.core.versions import describe  # noqa: E402
from helpers.measure import model_size  # noqa: E402

MODELS = ("yolo12n.yaml", "yolo12s.yaml", "yolo12m.yaml", "yolo12l.yaml", "yolo12x.yaml", "yolov9s.yaml")


def size(model: str, nc: int) -> dict:
    """The record's row: parameters and GFLOPs at 640 px, as built and fused (Conv + BatchNorm folded, as deployed
    and as `model.info()` reports after fusing)."""
    plain, fused = model_size.size(model, nc), model_size.size(model, nc, fused=True)
    return {"params": plain["params"], "gflops_640": round(plain["gflops"], 2),
            "params_fused": fused["params"], "gflops_640_fused": round(fused["gflops"], 2)}


def main() -> int:
    env = describe("cpu")
    out = {"environment": {k: env[k] for k in ("python", "torch", "ultralytics", "date")},
           "models": {m: {"nc80": size(m, 80), "nc5": size(m, 5)} for m in MODELS}}
    path = Path(__file__).resolve().parent / "results" / "model-sizes.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    for m, v in out["models"].items():
        a = v["nc80"]
        print(f"{m:14s} {a['params'] / 1e6:6.2f} M params ({a['params_fused'] / 1e6:.2f} M fused), "
              f"{a['gflops_640']:.1f} GFLOPs ({a['gflops_640_fused']:.1f} fused), 80 classes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
