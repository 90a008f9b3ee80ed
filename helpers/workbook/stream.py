"""Run a command (a multi-GPU training) from a notebook: its own process group, its output streamed into the cell,
every process of it killed when it ends, fails, times out or is interrupted, and a failure explained by the doctor.

DDP from inside a Jupyter kernel is fragile (workers that outlive a crashed cell, ports left bound), so the notebook
runs `python -m helpers train ...` this way instead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Sequence


def stream(cmd: Sequence[str], timeout: float | None = None, env: dict | None = None) -> int:
    """Run `cmd`, print its output as it comes, kill its whole process group at the end; returns the exit code."""
    from helpers.diagnose import doctor

    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                            env=env, start_new_session=True)
    tail: list[str] = []
    timer = threading.Timer(timeout, lambda: _kill(proc)) if timeout else None
    if timer:
        timer.start()
    try:
        for line in proc.stdout:
            print(line, end="", flush=True)
            tail = (tail + [line])[-60:]
        rc = proc.wait()
    except KeyboardInterrupt:
        _kill(proc)
        raise
    finally:
        if timer:
            timer.cancel()
        _kill(proc)  # workers of a failed run may still hold the port and GPU memory
    if rc != 0:
        finding = doctor.diagnose("".join(tail))
        print(f"\nexit code {rc}" + (f": {finding.what}. Fix: {'; '.join(finding.fix)}" if finding else ""), flush=True)
    return rc


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
