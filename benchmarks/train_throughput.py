"""Training throughput and memory matrix (model x batch x nbs x options), with the same step code as the workbook.

    python benchmarks/train_throughput.py --matrix b256            # on a GPU: the batch-256 matrix
    python benchmarks/train_throughput.py --matrix smoke --device cpu   # tiny, anywhere
    python benchmarks/train_throughput.py --matrix b256 --loader    # also: the real dataloader vs pre-loaded tensors

Each configuration runs in this process, one after another, through `helpers.train.probe.run` (pre-loaded tensors).
Results go to benchmarks/results/<tag>.json and .md, rewritten after every configuration so a cut-off run keeps what
it measured. Ratios compare configurations within the same run only (img/s varies 10-15% between runs).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

import helpers  # noqa: F401  (offline before ultralytics is imported)
from helpers.train import planner, probe
from helpers.records.results import rows_table
from helpers.core.tables import markdown

RESULTS = Path(__file__).resolve().parent / "results"
P = probe.ProbeConfig


def matrix(name: str) -> list[probe.ProbeConfig]:
    """Named sets of configurations. The first config of each (model, batch, nbs, image size) group is its baseline."""
    n256 = P(model="yolo12n.yaml", batch=256, nbs=256)
    n64 = P(model="yolo12n.yaml", batch=64, nbs=256)
    s256 = P(model="yolo12s.yaml", batch=256, nbs=256)
    if name == "smoke":
        return [P(batch=4, nbs=8, imgsz=128, warmup=1, steps=2),
                P(batch=4, nbs=8, imgsz=128, warmup=1, steps=2, attention="sdpa", checkpoint="all")]
    if name == "b256":
        return [
            n256,
            replace(n256, attention="sdpa"),
            replace(n256, attention="sdpa", checkpoint="attention"),
            replace(n256, attention="sdpa", checkpoint="blocks"),
            replace(n256, attention="sdpa", checkpoint="all"),
            replace(n256, attention="sdpa", amp="bf16"),
            replace(n256, attention="sdpa", amp="bf16", checkpoint="all"),
            replace(n256, attention="sdpa", cudnn_benchmark=True),
            replace(n256, attention="sdpa", checkpoint="all", cudnn_benchmark=True),
            n64,
            replace(n64, attention="sdpa"),
            replace(n64, attention="sdpa", checkpoint="attention"),
            replace(n64, attention="sdpa", checkpoint="all"),
            replace(n64, attention="sdpa", cudnn_benchmark=True),
            s256,
            replace(s256, attention="sdpa"),
            replace(s256, attention="sdpa", checkpoint="all"),
            P(model="yolov9s.yaml", batch=64, nbs=64),
        ]
    if name == "b256-extra":  # compile and head checkpointing, with same-run baselines
        return [
            n256,
            replace(n256, attention="sdpa"),
            replace(n256, attention="sdpa", compile=True, warmup=5),
            replace(n256, attention="sdpa", checkpoint="all"),
            replace(n256, attention="sdpa", checkpoint="all+head"),
            replace(n256, attention="sdpa", checkpoint="all+head", compile=True, warmup=5),
            n64,
            replace(n64, attention="sdpa"),
            replace(n64, attention="sdpa", compile=True, warmup=5),
            replace(n64, attention="sdpa", checkpoint="attention", compile=True, warmup=5),
        ]
    if name == "ckpt":  # the leanest options, each against the same-run stock baseline
        return [
            n256,
            replace(n256, attention="sdpa", checkpoint="all"),
            replace(n256, attention="sdpa", checkpoint="all+head"),
            n64,
            replace(n64, attention="sdpa", checkpoint="all+head"),
        ]
    if name == "large":  # the claim that checkpointing lets yolo12l train at batch 32-64 on an 8 GB card
        l32 = P(model="yolo12l.yaml", batch=32, nbs=64)
        return [
            l32,
            replace(l32, attention="sdpa", checkpoint="all+head"),
            replace(l32, batch=16, nbs=64, attention="sdpa", checkpoint="all+head"),
            replace(l32, batch=64, nbs=64, attention="sdpa", checkpoint="all+head"),
        ]
    raise SystemExit(f"unknown matrix {name!r}: smoke | b256 | b256-extra | ckpt | large")


def environment(device: torch.device) -> dict:
    """Device and versions, as printed by the libraries themselves."""
    from helpers.core.versions import describe

    return describe(str(device))


def loader_share(imgsz: int, batch: int, n_images: int, workers: int, attention: str, epochs: int = 3) -> dict:
    """The same model trained by Ultralytics from JPEGs on disk (mosaic on), timed per batch: loader wait vs compute.

    Ultralytics' loader starts its workers when it is built, so the first ~2 x workers batches are ready before the
    first step; only later epochs show the steady state, hence several epochs and `skip` batches each.
    """
    from helpers.core import paths, profiles
    from helpers.train.callbacks import StepTimer
    from helpers.train.run import train

    prof = profiles.get("gpu").replace(imgsz=imgsz, n_train=n_images, n_val=16)
    plan = planner.from_profile(prof, batch=batch, nbs=batch, epochs=epochs, attention=attention,
                                workers=workers, cache=False, project=str(paths.runs_dir() / "bench"), name="loader",
                                extra={"close_mosaic": 0, "val": False})
    timer = StepTimer(skip=3)
    t0 = time.time()
    train(plan, callbacks=[timer])
    return {"attention": attention, "imgsz": imgsz, "batch": batch, "images": n_images, "epochs": epochs,
            "mosaic": True, "workers": workers, "wall_s": round(time.time() - t0, 1), **timer.summary()}


def isolated(matrix_name: str, index: str, cfg: probe.ProbeConfig, device: str,
             on: str | None = None) -> probe.ProbeResult:
    """Run one configuration of the matrix in a child process (on the `--device` given, if any) and read it back."""
    import tempfile

    from helpers.measure.isolated import fresh_process

    with tempfile.TemporaryDirectory() as tmp:
        rec = fresh_process([sys.executable, __file__, "--matrix", matrix_name, "--only", index, "--tag", "one",
                             "--out-dir", tmp, *(["--device", on] if on else [])], Path(tmp) / "one.json")
        try:
            return probe.ProbeResult(**rec["results"][0])
        except (KeyError, IndexError, TypeError):
            tail = (rec.get("tail") or rec.get("error") or "no output").strip().splitlines()[-1:] or ["no output"]
            return probe.ProbeResult(asdict(cfg), cfg.label(), device, ok=False, error=f"child failed: {tail[0][:200]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--matrix", default="b256")
    ap.add_argument("--device", default=None)
    ap.add_argument("--tag", default=None, help="results file name (default: matrix + device + date)")
    ap.add_argument("--out-dir", default=str(RESULTS))
    ap.add_argument("--only", default="", help="comma-separated row numbers to run (0-based)")
    ap.add_argument("--loader", action="store_true", help="also measure the real dataloader (yolo12n b256, sdpa)")
    ap.add_argument("--loader-images", type=int, default=2560)
    ap.add_argument("--isolate", action="store_true",
                    help="run each configuration in a fresh process (a failure cannot leave memory behind)")
    a = ap.parse_args(argv)

    dev = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    env = environment(dev)
    tag = a.tag or f"{a.matrix}-{env['device'].replace(' ', '_')}-{time.strftime('%Y%m%d')}"
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    configs = matrix(a.matrix)
    if a.only:
        configs = [configs[int(i)] for i in a.only.split(",")]
    doc = {"environment": env, "results": [], "loader": None}
    print(json.dumps(env), flush=True)

    def save() -> None:
        (out / f"{tag}.json").write_text(json.dumps(doc, indent=2))
        md = [f"# Training throughput: {a.matrix}", "",
              "Device: " + ", ".join(f"{k} {v}" for k, v in env.items()), "",
              "Pre-loaded tensors, real Ultralytics loss/AMP/accumulation/EMA step; median of "
              f"{configs[0].steps} optimizer steps after {configs[0].warmup} warm-up (5 for compiled models); "
              "640 px unless the label says. Ratios: against the first row of the same model/batch/nbs/size group.", "",
              rows_table(doc["results"]).to_markdown()]
        if doc["loader"]:
            md += ["", "## Real dataloader vs pre-loaded tensors", "", markdown(list(doc["loader"]), [list(doc["loader"].values())])]
        (out / f"{tag}.md").write_text("\n".join(md) + "\n")

    for i, cfg in enumerate(configs):
        if a.isolate:
            r = isolated(a.matrix, a.only.split(",")[i] if a.only else str(i), cfg, env["device"], a.device)
        else:
            try:
                r = probe.run(cfg, dev)
            except Exception as e:  # e.g. a compiler error: record it and go on with the matrix
                r = probe.ProbeResult(asdict(cfg), cfg.label(), env["device"], ok=False, error=f"{type(e).__name__}: {e}"[:300])
        doc["results"].append(asdict(r))
        shown = f"{r.img_s:8.1f} img/s" if r.ok else f"FAILED {r.error[:80]}"
        peak = f"{r.peak_allocated_gib:6.2f} GiB" if r.peak_allocated_gib is not None else ""
        print(f"{r.label:55s} {shown}  {peak}", flush=True)
        save()
    if a.loader:
        doc["loader"] = loader_share(640, 256, a.loader_images, 8, "sdpa")
        print("loader:", json.dumps(doc["loader"]), flush=True)
        save()
    print(f"wrote {out / tag}.json and .md", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
