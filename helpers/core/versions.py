"""Device and versions for a results file, as the libraries report them (one definition for every benchmark,
checkpoint provenance and recorded notebook)."""

from __future__ import annotations

import os
import platform


def describe(device: str | None = None) -> dict:
    """Device and versions for a results file, as the libraries report them (one definition for every benchmark)."""
    import subprocess
    import time

    import torch
    import ultralytics

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    env = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
           "cudnn": torch.backends.cudnn.version(), "ultralytics": ultralytics.__version__,
           "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu",
           "cpu_count": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if dev.type == "cuda":
        p = torch.cuda.get_device_properties(dev)
        env["gpu_memory_gib"] = round(p.total_memory / 2**30, 1)
        env["capability"] = f"{p.major}.{p.minor}"
        try:
            env["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                           capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return env
