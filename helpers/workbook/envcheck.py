"""Environment check: what this machine can do for the workbook, and what each notebook can run here.

Everything is detected, nothing assumed: bf16 tensor cores need compute capability >= 8.0 (A100, H100, RTX 30/40);
a T4 (7.5) has none, even where `torch.cuda.is_bf16_supported()` says True through emulation.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from helpers.core import offline, paths
from helpers.core.tables import Table

SETUP = "make setup"
OPTIONAL = {  # import name -> (distribution, install command)
    "onnx": ("onnx", ".venv/bin/pip install -e '.[export]'"),
    "onnxruntime": ("onnxruntime", ".venv/bin/pip install -e '.[export]'"),
    "flash_attn": ("flash-attn", ".venv/bin/pip install -e '.[flash]'  (compiles against your CUDA toolkit; needs nvcc)"),
    "tensorrt": ("tensorrt", ".venv/bin/pip install -e '.[tensorrt]'  (NVIDIA GPU + driver needed)"),
    "pynvml": ("nvidia-ml-py", SETUP),
    "ipywidgets": ("ipywidgets", SETUP),
    "papermill": ("papermill", SETUP),
}


@dataclass(frozen=True)
class GPU:
    index: int
    name: str
    memory_gib: float
    capability: tuple[int, int]

    @property
    def bf16_tensor_cores(self) -> bool:
        """bf16 tensor cores arrived with Ampere (compute capability 8.0)."""
        return self.capability >= (8, 0)

    @property
    def flash_attn_ok(self) -> bool:
        """flash-attn 2 supports Ampere and newer (>= 8.0)."""
        return self.capability >= (8, 0)


@dataclass(frozen=True)
class Package:
    name: str
    version: str | None
    error: str | None = None  # installed but failed to import (e.g. an undefined CUDA symbol)

    @property
    def usable(self) -> bool:
        return self.version is not None and self.error is None


@dataclass
class EnvReport:
    python: str
    platform: str
    torch: str | None
    torch_cuda: str | None
    cuda_available: bool
    gpus: list[GPU]
    ultralytics: str | None
    offline: bool
    cpu_cores: int
    ram_gib: float
    disk_free_gib: float
    shm_gib: float | None
    packages: dict[str, Package] = field(default_factory=dict)

    def facts(self) -> Table:
        rows = [
            ("Python", self.python),
            ("Platform", self.platform),
            ("torch", f"{self.torch or 'missing'} (CUDA build: {self.torch_cuda or 'none'})"),
            ("CUDA available", "yes" if self.cuda_available else "no: the 'quick' CPU profile is used"),
            ("GPUs", len(self.gpus)),
            ("Ultralytics", self.ultralytics or "missing"),
            ("Offline (YOLO_OFFLINE=1)", "yes: models are built from yaml, nothing is downloaded" if self.offline else "no (WORKBOOK_ONLINE=1)"),
            ("CPU cores", self.cpu_cores),
            ("RAM", f"{self.ram_gib:.1f} GiB"),
            ("Disk free (runs/)", f"{self.disk_free_gib:.1f} GiB"),
            ("/dev/shm", "n/a" if self.shm_gib is None else f"{self.shm_gib:.1f} GiB (dataloader workers share batches through it)"),
        ]
        rows += [(f"package {k}", _package_state(p)) for k, p in self.packages.items()]
        return Table(("what", "found"), rows, "This machine")

    def gpu_table(self) -> Table:
        rows = [
            (g.index, g.name, f"{g.memory_gib:.1f}", f"{g.capability[0]}.{g.capability[1]}",
             "yes" if g.bf16_tensor_cores else "no (use fp16 + GradScaler)", "yes" if g.flash_attn_ok else "no")
            for g in self.gpus
        ]
        return Table(("#", "name", "memory GiB", "compute capability", "bf16 tensor cores", "flash-attn 2 arch"), rows,
                     "GPUs" if rows else "GPUs: none found")


@dataclass(frozen=True)
class Verdict:
    notebook: str
    runs: str  # what runs here
    missing: str
    fix: str


def _package_state(p: Package) -> str:
    if p.version is None:
        return "not installed"
    return p.version if p.error is None else f"{p.version}, import fails: {p.error}"


def probe_package(module: str, dist: str) -> Package:
    """Version of an installed distribution and whether its module imports (one-line error if not)."""
    try:
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return Package(module, None)
    try:
        importlib.import_module(module)
    except Exception as e:  # ImportError, OSError (missing .so), RuntimeError from stub wheels
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return Package(module, version, f"{type(e).__name__}: {msg[:160]}")
    return Package(module, version)


def _gpus() -> tuple[str | None, str | None, bool, list[GPU]]:
    try:
        import torch
    except ImportError:
        return None, None, False, []
    gpus = []
    available = torch.cuda.is_available()
    if available:
        for i in range(torch.cuda.device_count()):
            prop = torch.cuda.get_device_properties(i)
            gpus.append(GPU(i, prop.name, prop.total_memory / 2**30, (prop.major, prop.minor)))
    return torch.__version__, torch.version.cuda, available, gpus


def collect() -> EnvReport:
    """Probe this machine (fast: no GPU work beyond reading device properties)."""
    import psutil

    torch_v, torch_cuda, available, gpus = _gpus()
    try:
        ultra = importlib.metadata.version("ultralytics")
    except importlib.metadata.PackageNotFoundError:
        ultra = None
    runs = paths.runs_dir()
    runs.mkdir(parents=True, exist_ok=True)
    shm = shutil.disk_usage("/dev/shm").total / 2**30 if os.path.isdir("/dev/shm") else None
    return EnvReport(
        python=sys.version.split()[0],
        platform=f"{platform.system()} {platform.machine()}",
        torch=torch_v,
        torch_cuda=torch_cuda,
        cuda_available=available,
        gpus=gpus,
        ultralytics=ultra,
        offline=offline.is_offline(),
        cpu_cores=os.cpu_count() or 1,
        ram_gib=psutil.virtual_memory().total / 2**30,
        disk_free_gib=shutil.disk_usage(runs).free / 2**30,
        shm_gib=shm,
        packages={m: probe_package(m, d) for m, (d, _) in OPTIONAL.items()},
    )


def verdicts(env: EnvReport, only_present: bool = True) -> list[Verdict]:
    """Per notebook: which profile runs here, what is missing and the exact command to get it.

    `only_present` keeps the notebooks that exist in notebooks/ (the list below also covers the planned ones).
    """
    gpu = env.cuda_available and bool(env.gpus)
    big = max((g.memory_gib for g in env.gpus), default=0.0)
    pk = env.packages

    def need(*mods: str) -> tuple[str, str]:
        miss = [m for m in mods if not pk[m].usable]
        return ", ".join(miss), "; ".join(dict.fromkeys(OPTIONAL[m][1] for m in miss))

    train = "quick + gpu profiles" if gpu else "quick (CPU)"
    train_missing = "" if gpu else "a CUDA GPU for the gpu/full profiles"
    if gpu and big < 45:
        train_missing = f"physical batch 256 of stock yolo12n needs ~45 GiB (largest GPU here: {big:.0f} GiB): accumulation is used"
    recorded = "" if gpu else "run on a machine with an NVIDIA GPU (the recorded GPU results are shown meanwhile)"
    out = [
        Verdict("00_environment_check", "yes", "", ""),
        Verdict("01_dataset_prep", "yes (synthetic + real datasets when present)", "", ""),
        Verdict("02_train_b256", train, train_missing, recorded),
        Verdict("02b_when_b256_pays", "yes (reads the recorded time-to-accuracy runs in benchmarks/results; trains nothing)",
                "", ""),
        Verdict("03_memory_speed", train, train_missing, recorded),
        Verdict("04_stability_recipe", train, train_missing, recorded),
    ]
    miss, fix = need("pynvml")
    out.append(Verdict("05_monitoring", "CPU/RAM telemetry" + (" + GPU (NVML)" if gpu and not miss else ""),
                       miss or ("" if gpu else "a GPU for NVML metrics"), fix))
    miss, fix = need("onnx", "onnxruntime")
    trt_miss, trt_fix = need("tensorrt")
    runs = "ONNX export + ONNX Runtime" if not miss else "PyTorch only"
    if gpu and not trt_miss:
        runs += " + TensorRT engines"
    out.append(Verdict("06_export_tensorrt", runs, ", ".join(x for x in (miss, trt_miss or ("" if gpu else "GPU for TensorRT")) if x),
                       "; ".join(x for x in (fix, trt_fix) if x)))
    out.append(Verdict("07_troubleshooting", "yes (GPU-only failures are shown from recorded runs)", "", ""))
    out.append(Verdict("08_model_choice", train, train_missing, recorded))
    out.append(Verdict("09_claims_ledger", "yes (reads benchmarks/results)", "", ""))
    out.append(Verdict("10_your_own_dataset", "yes: validate, plan, train, evaluate, export" +
                       ("" if gpu else " (a short CPU run)"), "", ""))
    if only_present:
        out = [v for v in out if (paths.NOTEBOOKS / f"{v.notebook}.ipynb").exists()]
    return out


def verdict_table(env: EnvReport) -> Table:
    rows = [(v.notebook, v.runs, v.missing or "-", v.fix or "-") for v in verdicts(env)]
    colours = ["#1e8449" if r[2] == "-" else "#b9770e" for r in rows]
    return Table(("notebook", "runs here", "missing", "how to get it"), rows, "What each notebook can do here", colours)


# The versions the GPU results in benchmarks/results were recorded with (their files' environment blocks say so too).
RECORDED = {"ultralytics": "8.4.190", "torch": "2.11.0+cu130"}


def locked_versions(path: Path | None = None) -> dict[str, str]:
    """The versions pinned by constraints.txt (the lock `make setup` installs from): {distribution: version}."""
    path = path or paths.ROOT / "constraints.txt"
    out = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            out[name.strip().lower()] = version.strip()
    return out


def version_rows(installed: dict[str, str | None] | None = None,
                 locked: dict[str, str] | None = None) -> list[tuple[str, str, str, str, str]]:
    """(package, installed, locked, recorded on the GPU machine, verdict) for the packages results depend on."""
    locked = locked if locked is not None else locked_versions()
    names = ("ultralytics", "torch", "numpy", "opencv-python", "pillow", "matplotlib")
    if installed is None:
        installed = {}
        for n in names:
            try:
                installed[n] = importlib.metadata.version(n)
            except importlib.metadata.PackageNotFoundError:
                installed[n] = None
    rows = []
    for n in names:
        have, lock, rec = installed.get(n), locked.get(n, ""), RECORDED.get(n, "")
        if have is None:
            verdict = "missing"
        elif lock and have != lock:
            verdict = "differs from the lock: recorded figures and checked outputs may not match (make setup)"
        elif rec and have.split("+")[0] != rec.split("+")[0]:
            verdict = (f"the GPU results were recorded with {rec}: figures measured here are this machine's" if not lock
                       else "as locked; the GPU results were recorded with another version")
        else:
            verdict = "as recorded"
        rows.append((n, have or "-", lock or "-", rec or "-", verdict))
    return rows


def versions_table(rows: list[tuple[str, str, str, str, str]] | None = None) -> Table:
    rows = rows if rows is not None else version_rows()
    colours = ["#1e8449" if r[4] == "as recorded" else "#b9770e" for r in rows]
    return Table(("package", "installed", "locked (constraints.txt)", "GPU results recorded with", "verdict"), rows,
                 "Versions", colours)

