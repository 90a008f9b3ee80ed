"""Every recorded GPU result the notebooks and the README show, with the calls that regenerate it on one GPU machine.

    python benchmarks/regenerate.py list                         # records, calls, the device time each took
    python benchmarks/regenerate.py plan --budget 1800           # the calls that fit in that much device time
    python benchmarks/regenerate.py plan --sessions              # every call, in sessions of that much device time
    python benchmarks/regenerate.py run --out DIR [NAME ...]     # run the calls not yet done by this tree, in order
    python benchmarks/regenerate.py run --out DIR --pack $OUT/regenerate.tgz   # DIR packed after each call
    python benchmarks/regenerate.py tree                         # this tree's fingerprint

The GPU machine runs one command for at most ten minutes, so a record is regenerated as calls that each fit, and a
run resumes: a call that finished writes `DIR/NAME/callN.done.json` (the tree's fingerprint, device, date, seconds,
exit status), and `run` skips a call done by the same tree. One tree regenerates every record: a call done by another
tree is run again. In a call, `$OUT` is the record's folder under DIR, `$DEV` the device tag of the names (`h200`).
On the GPU machine DIR must outlive the call: keep it under the tree's ignored `runs/` while the machine stays warm,
or copy it to the command's `$OUT` at the end of each call and back into the tree before the next (`--max-calls 1`
runs one call at a time). `--pack FILE` writes DIR as one archive after every call, so that a call cut off at the
machine's time limit still brings back every call finished before it.

Once every call of a record is done, its files go under benchmarks/results under its name (a record of one file beside
the others, `b256-h200.json`; a record of several in its folder), and `helpers/records/shown.py` is pointed at the
records it names: the notebooks, the ledger and the README read them from there.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the workbook's package
RESULTS = ROOT / "benchmarks" / "results"
SOURCES = ("helpers", "benchmarks", "notebooks", "data", "pyproject.toml")  # what a record's figures depend on
RT = "python benchmarks/real_training.py"
TTA = "python benchmarks/time_to_accuracy.py --tag tta-$DEV-320 --imgsz 320 --out $OUT"
SOLO = "python benchmarks/time_to_accuracy.py --tag tta-$DEV-320-solo --imgsz 320 --jobs 1 --workers 1 --seeds 0 --out $OUT"
RUN = "python -m helpers run --profile gpu --out $OUT"
CUT = "python benchmarks/cut_outputs.py"  # a cell's tables and figures out of an executed notebook (or its HTML)
MERGE = f"{RT} merge"
SWEEP = "python -m helpers sweep --only 02 --profile gpu --out $OUT/sweep"


@dataclass(frozen=True)
class Record:
    name: str  # under benchmarks/results, with the device tag as `$DEV`
    calls: tuple[str, ...]  # shell commands from the repository root, each within one ten-minute call
    seconds: int  # device seconds its last recording took, as that record states (0: not stated)
    shown_by: str
    kind: str = "nvidia-h200"  # the GPU machine it needs


RECORDS: tuple[Record, ...] = (
    Record("realtrain-$DEV", (  # validation off, as recorded
        f"{RT} --tag realtrain-$DEV-call1 --out-dir $OUT --no-val --epochs 2 --repeats 0 --pieces augment,probe "
        "--plans workbook-gpu-fast --steps stock,sdpa,sdpa-nondet,sdpa-nondet-bench,sdpa-nondet-bench-fused,"
        "sdpa-flash,sdpa-efficient,sdpa-cudnn,sdpa-bf16",
        f"{RT} --tag realtrain-$DEV-call2 --out-dir $OUT --no-val --epochs 2 --repeats 1 --pieces none "
        "--plans workbook-default,workbook-gpu-fast",
        f"{RT} --tag realtrain-$DEV-call3 --out-dir $OUT --no-val --epochs 2 --repeats 1 --pieces profile "
        "--profile-config workbook-gpu-fast --plans workbook-gpu-fast,workbook-default,workbook-lean",
        f"{RT} merge $OUT/realtrain-$DEV-call2.json $OUT/realtrain-$DEV-call3.json "
        "--pieces-from $OUT/realtrain-$DEV-call1.json --tag realtrain-$DEV --out-dir $OUT"),
        1442, "notebook 03 §6, README (Memory and speed)"),
    Record("store-$DEV", (
        f"{RT} --tag store-$DEV-call1 --out-dir $OUT --plans store-gpu,store-host --pieces augment --one-plain "
        "--epochs 3 --repeats 1",
        f"{RT} --tag store-$DEV-call2 --out-dir $OUT --plans store-jpeg,store-off --pieces none --one-plain --epochs 3 "
        "--repeats 1",
        "test -d .bench/coco128 || (mkdir -p .bench && cp -r ../shared/datasets/coco128 .bench/); "
        "python -m pytest -q tests/data/test_pipeline_store_gpu.py > $OUT/gpu-tests-call3.txt; "
        f"{RT} --tag store-$DEV-call3 --out-dir $OUT --plans store-auto-16gb --jpeg-set .bench/coco128 "
        "--jpeg-plans store-auto --pieces none --one-plain --epochs 3 --repeats 1",
        f"{RT} merge $OUT/store-$DEV-call1.json $OUT/store-$DEV-call2.json $OUT/store-$DEV-call3.json "
        "--tag store-$DEV --out-dir $OUT"),
        1227, "notebooks 02, 03 §7, 05; README (Where the training set lives); needs .bench/coco128, a copy of "
        "../shared/datasets/coco128"),
    Record("step-$DEV", (
        f"{RT} --tag step-$DEV-call1 --out-dir $OUT --plans store-gpu-compile,store-gpu,store-gpu-compile "
        "--one-plain --pieces none --epochs 3 --repeats 1",
        f"{RT} --tag step-$DEV-call2 --out-dir $OUT --plans store-gpu --repeats 0 --pieces probe,profile --steps '' "
        "--profile-config store-gpu,store-gpu-compile",
        f"{RT} --tag step-$DEV-call3 --out-dir $OUT --plans '' --repeats 0 --pieces probe --images 256 "
        "--val-images 16 --steps sdpa-compiled,sdpa-cudagraphs --timeout 280",
        f"{RT} --tag step-$DEV-call4 --out-dir $OUT --plans '' --repeats 0 --pieces probe --images 256 "
        "--val-images 16 --steps sdpa-nondet,sdpa-nondet-bench --timeout 75",  # the first step: autotuning
        # notebook 02 timed in a runs folder of its own: the planner's probes measured (cold), then read back (warm)
        "rm -rf runs/nb02-timed; export WORKBOOK_RUNS=$PWD/runs/nb02-timed; " + " && ".join(
            f"python -m helpers run --profile gpu --only 02 --out $OUT/nb02-{r}" for r in ("cold", "warm")) + "".join(
            f" && {CUT} $OUT/nb02-{r}/02_train_b256.ipynb --text-only --out $OUT/nb02-{r}.ipynb"
            f" && {CUT} $OUT/nb02-{r}.ipynb --seconds --out $OUT/nb02-{r}-cells"
            f" && {CUT} $OUT/nb02-{r}.ipynb --cell 'clock = EpochClock()' --cell 'planner.fit_memory(plan)'"
            f" --out $OUT/nb02-{r}-train" for r in ("cold", "warm")),
        f"{RT} merge $OUT/step-$DEV-call1.json --pieces-from $OUT/step-$DEV-call3.json,$OUT/step-$DEV-call4.json,"
        "$OUT/step-$DEV-call2.json --tag step-$DEV --out-dir $OUT"),
        1311, "notebooks 02, 03 §7; README (Where the training set lives, the targets)"),
    Record("sweep-02-$DEV", (
        f"{SWEEP} --grid nbs=64,128 --seeds 0", f"{SWEEP} --grid nbs=256 --seeds 0,1",
        f"{SWEEP} --grid nbs=64,128 --seeds 1", f"{SWEEP} --grid nbs=64,128,256 --seeds 0,1"),
        1249, "notebooks 02, 08, 09; README (claims)"),
    Record("tta-$DEV", (f"{TTA} --jobs 8 --deadline 535",
                        f"{TTA} --jobs 6 --workers 1 --deadline 350 --only b256-linear-bn-60ep,recipe-guards-bn",
                        f"{SOLO} --epochs 8 --deadline 185 --only b256-linear-bn,b64-sqrt",
                        f"{SOLO} --epochs 6 --deadline 140 --only b64-sqrt"),
           1800, "notebooks 02b, 04, 09; README (claims)"),
    Record("workbook-gpu-$DEV", (  # notebook 08 took 729 s: its models in two calls, each model a fresh process
        f"{RUN} --only 08 --set 'models=[yolo12n.yaml, yolo11n.yaml]'",
        f"{RUN}/08b --only 08 --set 'models=[yolo26n.yaml, yolov9s.yaml]' && cp $OUT/08b/08-gpu-*-results.csv $OUT/",
        f"{RUN} --only 02,03 && {CUT} $OUT/02_train_b256.html --cell 'planner.fit_memory(plan)' --out $OUT/02-memory-plan",
        f"{RUN} --only 04,05 && {CUT} $OUT/04_stability_recipe.html --cell 'if rt.memory_log' --take 1 "
        "--out $OUT/04-empty_cache && " f"{CUT} $OUT/05_monitoring.html --cell 'panel.result  # the latest run' "
        "--cell 'timing = timer.summary()' --cell 'v = telemetry.verdict(' --out $OUT/05-monitor",
        f"{RUN} --only 00,07,10"),
           1524, "notebooks 03, 08; README (The notebooks)"),
    Record("b256-$DEV", ("python benchmarks/train_throughput.py --matrix b256 --tag b256-$DEV --out-dir $OUT",), 0,
           "notebooks 02b, 03, 09; README (claims)"),
    Record("ckpt-$DEV", ("python benchmarks/train_throughput.py --matrix ckpt --isolate --tag ckpt-$DEV --out-dir $OUT",), 0,
           "notebooks 03, 09"),
    Record("large-$DEV", ("python benchmarks/train_throughput.py --matrix large --tag large-$DEV --out-dir $OUT",), 0, "notebook 09"),
    Record("attention-$DEV", ("python benchmarks/attention_check.py --out $OUT/attention-$DEV.json",), 0,
           "notebooks 03, 09"),
    Record("memory-$DEV", ("python benchmarks/memory_breakdown.py --batch 128 --tag memory-$DEV --out-dir $OUT",), 0,
           "notebook 03"),
    Record("export-$DEV", ("python benchmarks/export_latency.py --weights yolo12n-shapes --imgsz 640 "
                           "--tag export-$DEV --out-dir $OUT",), 0, "notebooks 06, 09"),
    Record("doctor-oom-$DEV", (
        'python -c "import torch; from helpers.diagnose import doctor, failures; from helpers.train import probe; '
        "e = failures.cuda_oom(); print(torch.cuda.get_device_name(0), torch.__version__); "
        "print('RAW:', type(e).__name__, e); print(doctor.diagnose(e)); "
        "c = probe.ProbeConfig(model='yolo12s.yaml', batch=512, nbs=512, attention='stock'); r = probe.run(c); "
        "print('TRAINING STEP:', c.label(), r.error or 'no error: it fit'); print(doctor.diagnose(r.error or 'fit'))"
        '" > $OUT/doctor-oom-$DEV.txt',), 0, "notebook 07"),
    Record("ddp-2x$DEV", (  # as notebook 02's record of it ran (helpers.records.evidence, 02.ddp)
        "python -m helpers synth --out $OUT/shapes --n-train 8192 --n-val 256 --imgsz 640 && python -m helpers train "
        "--profile gpu --device 0,1 --batch 512 --nbs 512 --epochs 3 --data $OUT/shapes/dataset.yaml "
        "--augment-device cpu --lr-rule sqrt --project $OUT",),
           0, "notebooks 02, 09; README (Several GPUs)", kind="nvidia-h200-x2"),
)
# under benchmarks/results, recorded once and read by nothing the reader sees, or a CPU result: kept, not regenerated
NOT_REGENERATED = {
    "model-sizes.json": "parameters and GFLOPs, computed on the CPU (`python benchmarks/model_sizes.py`)",
    "tests-cpu.md": "the test suite's time on two CPU cores (`bash scripts/time_check.sh`)",
    "b256-extra-h100": "read by no notebook", "ckpt-h100-run1": "an earlier run of ckpt-h100",
    "loader-h100": "read by no notebook", "envcheck-h100.md": "read by no notebook",
    "sdpa-pin-h200.md": "a GPU test's output", "pretrain-h100": "how data/weights were trained",
    "realtrain-h200": "the calls merged into realtrain-h200.json",
    "attention-h100-run1.json": "regenerated as attention-$DEV", "b256-h100": "regenerated as b256-$DEV",
    "ckpt-h100": "regenerated as ckpt-$DEV", "large-h100": "regenerated as large-$DEV",
    "memory-h100.json": "regenerated as memory-$DEV", "export-h100": "regenerated as export-$DEV",
    "doctor-oom-h100.txt": "regenerated as doctor-oom-$DEV", "ddp-2xh200": "regenerated as ddp-2x$DEV",
    "monitor-gpu-h100": "regenerated inside workbook-gpu-$DEV (notebook 05)",
    "tricks-gpu-h100": "regenerated inside workbook-gpu-$DEV (notebook 04)",
    "workbook-gpu-h100": "regenerated as workbook-gpu-$DEV", "workbook-gpu-h100-2": "regenerated as workbook-gpu-$DEV",
}


def fingerprint(root: Path = ROOT) -> str:
    """A hash of the sources a record's figures depend on (no git needed: the GPU machine gets a copy of the tree)."""
    h = hashlib.sha256()
    for top in SOURCES:
        p = root / top
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file() and _counts(f, p))
        for f in files:
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _counts(f: Path, top: Path) -> bool:
    rel = f.relative_to(top).parts
    return "__pycache__" not in rel and "results" not in rel[:1] and f.suffix in {".py", ".ipynb", ".yaml", ".txt"}


def named(rec: Record, dev: str) -> str:
    return rec.name.replace("$DEV", dev)


def plan(records: tuple[Record, ...], budget_s: float, sessions: bool = False) -> list[tuple[str, int, str, int]]:
    """(record, call number, command, session) in order while the records' recorded device time fits the budget, or,
    with `sessions`, every call, a new session (1, 2, ...) starting where the budget is spent; a record whose time is
    not recorded counts one call limit (600 s) a call."""
    out, spent, session = [], 0.0, 1
    for rec in records:
        device_calls = [c for c in rec.calls if not c.startswith(MERGE)]
        per_call = rec.seconds / len(device_calls) if rec.seconds else 600.0
        for i, cmd in enumerate(rec.calls, 1):
            cost = 0.0 if cmd.startswith(MERGE) else per_call  # a merge is a few seconds of the CPU
            if spent + cost > budget_s:
                if not sessions:
                    return out
                spent, session = 0.0, session + 1
            spent += cost
            out.append((rec.name, i, cmd, session))
    return out


def pack(folder: Path, archive: Path) -> None:
    """The regeneration folder as one .tgz, written whole or not at all (a call cut off leaves the last one)."""
    part = archive.with_name(archive.name + ".part")
    with tarfile.open(part, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    part.replace(archive)


def run(records: tuple[Record, ...], out: Path, dev: str, tree: str, env: dict | None = None,
        max_calls: int = 0, archive: Path | None = None) -> list[dict]:
    """Each call not yet done by this tree, in order (at most `max_calls`, 0: all); stops at the first call that
    fails (a later run resumes). With `archive`, the folder is packed there after each call."""
    from helpers.core.versions import describe  # device, versions and date: the benchmarks' one definition

    done = []
    for rec in records:
        folder = out / named(rec, dev)
        folder.mkdir(parents=True, exist_ok=True)
        for i, cmd in enumerate(rec.calls, 1):
            mark = folder / f"call{i}.done.json"
            if mark.exists() and json.loads(mark.read_text()).get("tree") == tree:
                continue
            if max_calls and len(done) >= max_calls:
                return done
            t0 = time.time()
            rc = subprocess.call(cmd, shell=True, cwd=ROOT, env={**os.environ, **(env or {}), "OUT": str(folder),
                                                                  "DEV": dev})
            note = {"record": named(rec, dev), "call": i, "command": cmd, "tree": tree, "rc": rc,
                    "seconds": round(time.time() - t0, 1), "environment": describe()}
            done.append(note)
            if rc != 0:
                (folder / f"call{i}.failed.json").write_text(json.dumps(note, indent=1))
            else:
                mark.write_text(json.dumps(note, indent=1))
                (folder / f"call{i}.failed.json").unlink(missing_ok=True)
            if archive:
                pack(out, archive)
            if rc != 0:
                return done
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=["list", "plan", "run", "tree"])
    ap.add_argument("names", nargs="*", help="records to run (default: every one for this machine's kind)")
    ap.add_argument("--out", default="runs/regenerate")
    ap.add_argument("--dev", default="h200", help="the device tag in the records' names")
    ap.add_argument("--budget", type=float, default=1800.0, help="plan: device seconds available")
    ap.add_argument("--kind", default="nvidia-h200")
    ap.add_argument("--sessions", action="store_true", help="plan: every call, in sessions of --budget each")
    ap.add_argument("--max-calls", type=int, default=0, help="run: stop after this many calls (0: all)")
    ap.add_argument("--pack", default="", help="run: write the --out folder to this .tgz after each call")
    a = ap.parse_args(argv)
    unknown = [n for n in a.names if n not in {r.name for r in RECORDS} | {named(r, a.dev) for r in RECORDS}]
    if unknown:
        ap.error(f"unknown records {unknown}; `list` names them")
    chosen = tuple(r for r in RECORDS if (named(r, a.dev) in a.names or r.name in a.names) or
                   (not a.names and r.kind == a.kind))
    if a.action == "tree":
        print(fingerprint())
    elif a.action == "list":
        for r in RECORDS:
            print(f"{named(r, a.dev):22s} {r.kind:16s} {len(r.calls)} calls  {r.seconds or '?':>5} s  {r.shown_by}")
        total = sum(r.seconds for r in RECORDS if r.kind == a.kind)
        print(f"recorded device time of the {a.kind} records that state it: {total} s")
    elif a.action == "plan":
        for name, i, cmd, session in plan(chosen, a.budget, a.sessions):
            print(f"{f'session {session}: ' if a.sessions else ''}{name.replace('$DEV', a.dev)} call {i}: "
                  f"{cmd.replace('$DEV', a.dev)}")
    else:
        notes = run(chosen, Path(a.out).resolve(), a.dev, fingerprint(), max_calls=a.max_calls,
                    archive=Path(a.pack).resolve() if a.pack else None)
        print(json.dumps(notes, indent=1))
        return 1 if notes and notes[-1]["rc"] != 0 else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
