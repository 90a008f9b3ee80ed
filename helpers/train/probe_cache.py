"""The memory planner's probes reused: a probe that fit is kept under `runs/cache/probes/` and read back, not run
again, when the same configuration is probed on the same GPU with the same libraries and probe code.

Each probe is a few real training steps, and the first step on a new shape pays CUDA's start-up and cuDNN's
autotuning, most of a probe's time (`benchmarks/results/step-h200/`). Notebooks 02, 03, 04, 05, 08 and 10 all plan
the micro-batch, most of them the same configuration, so each probe is measured once per machine. A probe that ran
out of memory or failed is not kept (the card may have been busy); deleting the folder measures everything again.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Callable

from helpers.core import paths
from helpers.train.probe import ProbeConfig, ProbeResult


def cache_dir() -> Path:
    """Where kept probes live: one JSON file per probed configuration."""
    return paths.runs_dir() / "cache" / "probes"


def fingerprint() -> dict:
    """What a probe's peak memory and speed depend on beside its configuration: the GPU, the libraries, the probe's
    own code."""
    import torch
    import ultralytics

    from helpers.train import probe

    fp = {"torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
          "ultralytics": ultralytics.__version__,
          "probe_code": hashlib.sha256(Path(probe.__file__).read_bytes()).hexdigest()[:16]}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        fp.update(gpu=p.name, gpu_bytes=p.total_memory, capability=f"{p.major}.{p.minor}")
    return fp


def key(cfg: ProbeConfig, fp: dict) -> str:
    """The file name of a configuration probed under fingerprint `fp` (a model yaml of the user's by its content)."""
    model = Path(cfg.model)
    content = hashlib.sha256(model.read_bytes()).hexdigest() if model.is_file() else ""
    text = json.dumps({"config": asdict(cfg), "model_file": content, "fingerprint": fp}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24] + ".json"


def read(path: Path) -> ProbeResult | None:
    """A kept probe, or None where the file is missing or unreadable (then the probe runs again)."""
    try:
        data = json.loads(path.read_text())
        names = {f.name for f in fields(ProbeResult)}
        return ProbeResult(**{k: v for k, v in data["result"].items() if k in names})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cached(run: Callable[[ProbeConfig], ProbeResult]) -> Callable[[ProbeConfig], ProbeResult]:
    """`run`, reading back a probe already measured here and keeping each new one that fit."""
    fp = fingerprint()

    def run_cached(cfg: ProbeConfig) -> ProbeResult:
        path = cache_dir() / key(cfg, fp)
        kept = read(path)
        if kept is not None:
            kept.reused = True
            return kept
        result = run(cfg)
        if result.ok:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            measured = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            tmp.write_text(json.dumps({"fingerprint": fp, "measured": measured, "result": asdict(result)}, indent=1))
            tmp.replace(path)
        return result

    return run_cached
