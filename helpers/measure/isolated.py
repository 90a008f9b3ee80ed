"""Measurements in a fresh Python process, for comparisons whose speed must not depend on what ran before: the one
runner every benchmark and comparison uses (`fresh_process`), and `train(plan)` through it.

Runs trained one after another in one process slow each other (compiled kernels, the CUDA allocator's cache and the
loader's workers stay behind), so a comparison of models or settings trains each in its own process. The child
trains with the one `train()`, times the epochs with `EpochClock` and writes what it measured to a JSON file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.train.plan import TrainPlan


@dataclass(frozen=True)
class IsolatedRun:
    """What a run in its own process left: its plan and folder, wall time of `train()`, the training loop's img/s
    (None for a single epoch), the peak memory allocated (GiB; None without CUDA) and the child's epoch clock."""

    plan: TrainPlan
    save_dir: Path
    seconds: float
    img_s: float | None
    peak_gib: float | None
    clock: dict[str, Any]  # the child's EpochClock.record(): per-epoch loops, overheads, epoch_end_s since its start

    def curves(self) -> dict[str, list[float]]:
        """results.csv as columns (see helpers.train.curves)."""
        from helpers.train import curves

        return curves.load(self.save_dir)


class IsolatedRunError(RuntimeError):
    """The child process failed; the message holds the end of its output."""


class IsolatedTimeout(IsolatedRunError):
    """The child process was stopped at its time-out (what it wrote before stays in its run folder)."""


def fresh_process(cmd: list[str], result: Path, timeout: float | None = None, log: Path | None = None,
                  env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `cmd` as its own process and read the JSON record it writes to `result`; its output is appended to `log`
    (a temporary file otherwise). Returns the record plus `process_s` (wall seconds), or {'error', 'tail',
    'process_s'} when it failed, timed out (then with 'timed_out') or wrote nothing."""
    import os
    import time

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fresh-") as tmp:
        out = Path(log) if log is not None else Path(tmp) / "child.log"
        try:
            with open(out, "a") as f:
                f.write(f"\n$ {' '.join(cmd)}\n")
                f.flush()
                p = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout,
                                   env={**os.environ, "YOLO_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **(env or {})})
            text = Path(result).read_text() if Path(result).exists() else ""
            rec = json.loads(text) if text.strip() else {"error": f"exit code {p.returncode}, no record"}
            if p.returncode and "error" not in rec:
                rec["error"] = f"exit code {p.returncode}"
        except subprocess.TimeoutExpired:
            rec = {"error": f"timed out after {timeout:.0f} s", "timed_out": True}
        if "error" in rec:
            rec["tail"] = "\n".join(out.read_text(errors="replace").splitlines()[-15:])
    rec["process_s"] = round(time.perf_counter() - t0, 1)
    return rec


def train(plan: TrainPlan, timeout_s: float | None = None) -> IsolatedRun:
    """Train `plan` in a fresh process and return what it measured; its output is kept in the run's `child.log`."""
    with tempfile.TemporaryDirectory(prefix="isolated-") as tmp:
        spec, out = Path(tmp) / "plan.json", Path(tmp) / "result.json"
        spec.write_text(plan.to_json())
        log = Path(tmp) / "child.log"
        r = fresh_process([sys.executable, "-m", "helpers.measure.isolated", str(spec), str(out)], out, timeout_s, log)
        text = log.read_text(errors="replace")
        if "error" in r:
            failed = IsolatedTimeout if r.get("timed_out") else IsolatedRunError
            raise failed(f"training {plan.model} in its own process failed ({r['error']}):\n{r['tail']}")
    save_dir = Path(r["save_dir"])
    (save_dir / "child.log").write_text(text)
    return IsolatedRun(TrainPlan.from_json(r["plan"]), save_dir, r["seconds"], r["img_s"], r["peak_gib"], r["clock"])


def _child(spec: str, out: str) -> int:
    """The child's side: train the plan in `spec`, write seconds, img/s and peak memory to `out`."""
    import torch

    from helpers.measure.wallclock import EpochClock
    from helpers.train.run import train as train_here

    plan = TrainPlan.from_json(Path(spec).read_text())
    clock = EpochClock()
    cuda = torch.cuda.is_available()
    result = train_here(plan, callbacks=[clock.callbacks()], progress=False)
    doc: dict[str, Any] = dict(plan=result.plan.to_json(), save_dir=str(result.save_dir), seconds=result.seconds,
                               img_s=clock.loop_img_s(),
                               peak_gib=torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
                               clock=clock.record())
    Path(out).write_text(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(_child(*sys.argv[1:3]))
