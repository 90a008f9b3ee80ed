"""A background GPU/CPU sampler (NVML through `nvidia-ml-py`, psutil) with bounded memory, attachable to a training
run as Ultralytics callbacks, and its plots.

NVML reads the same counters as `nvidia-smi`: utilisation is the share of the last sample period in which *any*
kernel ran (not how busy the SMs were), memory is what the driver has handed out (PyTorch's reserved pool plus the
CUDA context, more than `torch.cuda.max_memory_allocated`), power in W, temperature in C, SM clock in MHz.
"""

from __future__ import annotations

import csv
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from helpers.train.callbacks import Hooks, StepTimer
from helpers.train import plan_view
from helpers.train import planner

FILE = "gpu_samples.csv"


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the sampler started
    gpu: int  # -1: the host row (CPU and RAM only)
    util_pct: float | None = None
    mem_used_gib: float | None = None
    mem_total_gib: float | None = None
    power_w: float | None = None
    temp_c: float | None = None
    sm_clock_mhz: float | None = None
    cpu_pct: float | None = None
    ram_used_gib: float | None = None


def _nvml():
    """The pynvml module, initialised, or (None, why)."""
    try:
        import pynvml
    except ImportError:
        return None, "nvidia-ml-py is not installed (pip install nvidia-ml-py)"
    try:
        pynvml.nvmlInit()
    except Exception as e:  # NVMLError_LibraryNotFound / DriverNotLoaded on CPU-only machines
        return None, f"no NVIDIA driver here ({type(e).__name__})"
    return pynvml, "NVML"


class Sampler(Hooks):
    """Samples every GPU (and the host) every `interval` seconds in a daemon thread, keeping the last `max_samples`
    rows. `nvml` may be a stand-in module with pynvml's functions (tests); without a GPU only the host is sampled
    and `gpu_state` says why."""

    def __init__(self, interval: float = 0.5, max_samples: int = 20_000, nvml: Any = None):
        self.interval = interval
        self.samples: deque[Sample] = deque(maxlen=max_samples)
        if nvml is None:
            nvml, why = _nvml()
        else:
            why = "NVML (supplied)"
        self._nvml = nvml
        self.handles = []
        self.names: list[str] = []
        if nvml is not None:
            try:
                n = nvml.nvmlDeviceGetCount()
                self.handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(n)]
                self.names = [_str(nvml.nvmlDeviceGetName(h)) for h in self.handles]
            except Exception as e:
                why = f"NVML failed to list GPUs ({type(e).__name__}: {e})"
                self.handles = []
        self.gpu_state = f"{len(self.handles)} GPU(s) via {why}" if self.handles else f"no GPU: {why}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.t0 = 0.0  # perf_counter() at start: sample times are relative to it

    @property
    def has_gpu(self) -> bool:
        return bool(self.handles)

    def read(self) -> list[Sample]:
        """One reading: a host row, then a row per GPU (a counter the GPU does not report stays None)."""
        import psutil

        t = time.perf_counter() - self.t0
        vm = psutil.virtual_memory()
        rows = [Sample(t, -1, cpu_pct=psutil.cpu_percent(None), ram_used_gib=(vm.total - vm.available) / 2**30)]
        nv = self._nvml
        for i, h in enumerate(self.handles):
            rows.append(Sample(
                t, i,
                util_pct=_try(lambda: nv.nvmlDeviceGetUtilizationRates(h).gpu),
                mem_used_gib=_try(lambda: nv.nvmlDeviceGetMemoryInfo(h).used / 2**30),
                mem_total_gib=_try(lambda: nv.nvmlDeviceGetMemoryInfo(h).total / 2**30),
                power_w=_try(lambda: nv.nvmlDeviceGetPowerUsage(h) / 1000),
                temp_c=_try(lambda: nv.nvmlDeviceGetTemperature(h, 0)),  # 0 = NVML_TEMPERATURE_GPU
                sm_clock_mhz=_try(lambda: nv.nvmlDeviceGetClockInfo(h, 1)),  # 1 = NVML_CLOCK_SM
            ))
        return rows

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.extend(self.read())
            self._stop.wait(self.interval)

    def start(self) -> "Sampler":
        if self._thread and self._thread.is_alive():
            return self
        import psutil

        psutil.cpu_percent(None)  # the first call only primes the counter
        self.t0 = time.perf_counter()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="workbook-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> "Sampler":
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        return self

    def __enter__(self) -> "Sampler":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, [fl.name for fl in fields(Sample)])
            w.writeheader()
            w.writerows(asdict(s) for s in list(self.samples))
        return path

    def summary(self) -> dict[str, Any]:
        return summarize(list(self.samples))

    # Ultralytics callbacks: start with the run, save beside it when it ends
    def on_train_start(self, trainer) -> None:
        self.start()

    def on_train_end(self, trainer) -> None:
        self.stop()
        self.save(Path(trainer.save_dir) / FILE)



def _str(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def _try(fn) -> float | None:
    try:
        return float(fn())
    except Exception:  # a counter this GPU does not support (NVMLError_NotSupported)
        return None


def load(path: str | Path) -> list[Sample]:
    """Samples from a saved gpu_samples.csv."""
    out = []
    with open(path) as f:
        for r in csv.DictReader(f):
            out.append(Sample(**{k: (int(v) if k == "gpu" else float(v)) if v not in ("", "None") else None
                                 for k, v in r.items()}))
    return out


def summarize(samples: list[Sample]) -> dict[str, Any]:
    """Per GPU: mean and median utilisation, peak memory used, mean power, max temperature; host: mean CPU %."""
    import statistics

    out: dict[str, Any] = {}
    host = [s.cpu_pct for s in samples if s.gpu == -1 and s.cpu_pct is not None]
    if host:
        out["cpu_pct_mean"] = statistics.fmean(host)
    for g in sorted({s.gpu for s in samples if s.gpu >= 0}):
        rows = [s for s in samples if s.gpu == g]
        util = [s.util_pct for s in rows if s.util_pct is not None]
        mem = [s.mem_used_gib for s in rows if s.mem_used_gib is not None]
        power = [s.power_w for s in rows if s.power_w is not None]
        temp = [s.temp_c for s in rows if s.temp_c is not None]
        out[f"gpu{g}"] = {"samples": len(rows),
                          "util_mean_pct": statistics.fmean(util) if util else None,
                          "util_median_pct": statistics.median(util) if util else None,
                          "mem_peak_gib": max(mem) if mem else None,
                          "mem_total_gib": rows[0].mem_total_gib,
                          "power_mean_w": statistics.fmean(power) if power else None,
                          "temp_max_c": max(temp) if temp else None}
    return out


def plot(samples: list[Sample], title: str = "", windows: list[tuple[float, float]] | None = None, t0: float = 0.0):
    """Utilisation, memory and power over time for each GPU (or CPU % when there is none), one panel each; `windows`
    (absolute perf_counter times, e.g. StepTimer.epochs, with the sampler's t0) are shaded: the training loops."""
    import matplotlib.pyplot as plt

    gpus = sorted({s.gpu for s in samples if s.gpu >= 0})
    host = [s for s in samples if s.gpu == -1]
    panels = [("util_pct", "GPU util %"), ("mem_used_gib", "GPU memory GiB"), ("power_w", "power W")] if gpus else \
        [("cpu_pct", "CPU %"), ("ram_used_gib", "RAM used GiB")]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 2.6), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels):
        for g in gpus or [-1]:
            rows = [s for s in (samples if gpus else host) if s.gpu == g and getattr(s, key) is not None]
            ax.plot([s.t for s in rows], [getattr(s, key) for s in rows], lw=1, label=f"GPU {g}" if g >= 0 else "host")
        if key == "mem_used_gib" and gpus:
            total = next((s.mem_total_gib for s in samples if s.mem_total_gib), None)
            if total:
                ax.axhline(total, color="grey", ls="--", lw=0.8)
        for k, (a, b) in enumerate(windows or []):
            ax.axvspan(a - t0, b - t0, color="tab:green", alpha=0.12, lw=0, label="training loop" if k == 0 else None)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("s", fontsize=8)
    if len(gpus) > 1 or windows:
        axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def watched_train(plan: Any, interval: float = 0.5, *, plan_memory: bool = False,
                  hooks: tuple[Hooks, ...] | list[Hooks] = ()) -> tuple[Any, StepTimer, Sampler]:
    """One monitored training run: (the TrainResult, its StepTimer, its Sampler), with a live figure redrawn each
    epoch and CUDA's peak-memory counters reset first; `plan_memory` lets the memory planner choose the micro-batch
    on this GPU first (on a CPU the plan keeps its own). `hooks`: more callbacks, e.g. a panel's Stop button."""
    import torch

    from helpers.train.run import train

    if plan_memory:
        plan, _ = planner.fit_memory(plan)
    print(plan_view.summary(plan))
    timer, sampler = StepTimer(skip=1), Sampler(interval)
    live = LiveView(sampler, f"{plan.model} · {plan.imgsz} px")
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    return train(plan, callbacks=[timer, sampler, live, *hooks]), timer, sampler


class LiveView(Hooks):
    """Redraws the sampler's plot in place after every epoch (a display handle: live in JupyterLab, the last state in
    a headless run). Pass it to `train(plan, callbacks=[sampler, LiveView(sampler)])`."""

    def __init__(self, sampler: Sampler, title: str = "live"):
        self.sampler, self.title, self.handle = sampler, title, None

    def on_train_start(self, trainer) -> None:
        from IPython.display import display

        self.handle = display(f"{self.title}: waiting for the first epoch ({self.sampler.gpu_state})", display_id=True)

    def on_fit_epoch_end(self, trainer) -> None:
        import matplotlib.pyplot as plt

        if self.handle is None:
            return
        done = min(trainer.epoch + 1, trainer.epochs)  # Ultralytics calls this once more after validating best.pt
        fig = plot(list(self.sampler.samples), f"{self.title} · epoch {done}/{trainer.epochs}")
        self.handle.update(fig)
        plt.close(fig)

