"""Reproductions of the common failures of large-batch training, each small and safe, each returning the real
exception (or message) that the library raised — for notebook 07 and the doctor's tests."""

from __future__ import annotations

import os
import signal
import socket
from datetime import timedelta
from pathlib import Path

import torch

from helpers.core.logs import quiet


def _catch(fn) -> BaseException:
    try:
        fn()
    except BaseException as e:  # noqa: BLE001 - the point is to return it
        if isinstance(e, KeyboardInterrupt):
            raise
        return e
    raise AssertionError("the reproduction did not fail")


def unknown_argument(data: str | Path) -> BaseException:
    from ultralytics import YOLO

    with quiet(40):  # Ultralytics prints its whole CLI help under the error
        return _catch(lambda: YOLO("yolo12n.yaml").train(data=str(data), epochs=1, accumulate=4))


def missing_dataset(tmp: str | Path) -> BaseException:
    from ultralytics import YOLO

    with quiet(40):
        return _catch(lambda: YOLO("yolo12n.yaml").train(data=str(Path(tmp) / "nowhere" / "data.yaml"), epochs=1,
                                                         device="cpu"))


def stock_training_on(data: str | Path, project: str | Path) -> BaseException:
    """What stock Ultralytics raises when it trains on `data` (one CPU step at 64 px): its own dataset errors."""
    from ultralytics import YOLO

    with quiet(40):
        return _catch(lambda: YOLO("yolo12n.yaml").train(data=str(data), epochs=1, imgsz=64, batch=2, workers=0,
                                                         device="cpu", plots=False, project=str(project),
                                                         name="stock", exist_ok=True))


def broken_labels(tmp: str | Path) -> BaseException:
    from helpers.data import faults, validate

    yaml_path, _ = faults.broken_dataset(Path(tmp) / "broken")
    return _catch(lambda: validate.validate(yaml_path).raise_if_errors())


def flash_attn_missing() -> BaseException:
    return _catch(lambda: __import__("flash_attn"))


def port_in_use() -> tuple[BaseException, int]:
    """A TCPStore (what DDP's rendezvous uses) on a port another socket already listens on."""
    from torch.distributed import TCPStore

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        return _catch(lambda: TCPStore("127.0.0.1", port, is_master=True, timeout=timedelta(seconds=10))), port
    finally:
        holder.close()


class _DyingDataset(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i):
        os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's OOM killer or a too-small /dev/shm does to a worker


def worker_killed() -> BaseException:
    loader = torch.utils.data.DataLoader(_DyingDataset(), num_workers=1, timeout=60)
    return _catch(lambda: next(iter(loader)))


def bf16_on_t4() -> str:
    from helpers.tricks import precision

    value, why = precision.choose_amp("bf16", capability=(7, 5))
    return why


def offline_download() -> BaseException:
    from ultralytics import YOLO

    from helpers.core import offline

    offline.block_downloads()
    return _catch(lambda: YOLO("yolo12n.pt"))  # pretrained weights: Ultralytics would download them


def nan_persisted(data: str | Path, project: str | Path) -> BaseException:
    """Every step from the third on gets NaN images and no guard: Ultralytics reloads last.pt 3 times, then fails."""
    from helpers.train.plan import TrainPlan
    from helpers.train.run import train

    plan = TrainPlan(data=str(data), imgsz=64, epochs=3, batch=4, nbs=4, workers=0, device="cpu", amp="fp32",
                     cache=False, attention="stock", augment="", warmup_fixed=0.0, project=str(project), name="nan",
                     exist_ok=True, nan_guard=False, extra={"mosaic": 0.0})
    return _catch(lambda: train(plan, trainer=nan_trainer(set(range(2, 10_000))), progress=False))


def nan_trainer(bad_iterations: set[int] | frozenset[int]):
    """A WorkbookTrainer subclass that turns the images of the given training iterations (0-based, counted across
    epochs) into NaN, to show and test the NaN guard on a real run."""
    from helpers.train.trainer import WorkbookTrainer

    class NaNInjectingTrainer(WorkbookTrainer):
        bad = frozenset(bad_iterations)
        seen = 0

        def preprocess_batch(self, batch):
            batch = super().preprocess_batch(batch)
            if type(self).seen in self.bad:
                batch["img"] = batch["img"] * float("nan")
            type(self).seen += 1
            return batch

    return NaNInjectingTrainer


def cuda_oom(gib: float | None = None) -> BaseException:
    """A real CUDA out-of-memory error (GPU only): one tensor a little larger than the memory free now (or `gib`),
    the size a batch too large for the card asks for."""
    if not torch.cuda.is_available():
        raise RuntimeError("cuda_oom needs a CUDA GPU")
    if gib is None:
        free, _ = torch.cuda.mem_get_info()
        gib = free / 2**30 + 2.0
    return _catch(lambda: torch.empty(int(gib * 2**30), dtype=torch.uint8, device="cuda"))


def killed_training(plan, profile: str | None = None, after_epochs: int = 1, timeout: float = 900) -> Path:
    """Train `plan` with `python -m helpers train` in a child process and kill -9 it as soon as `after_epochs`
    epochs are saved (results.csv has them and last.pt was written after it): what a crashed machine leaves for
    `--resume`. The plan's own folder is emptied first; returns it."""
    import csv
    import os
    import shutil
    import signal
    import subprocess
    import time

    from helpers.train import launch

    run = plan.run_dir
    shutil.rmtree(run, ignore_errors=True)
    proc = subprocess.Popen(launch.command(plan.replace(exist_ok=True), profile), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    csv_file, last = run / "results.csv", run / "weights" / "last.pt"
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if csv_file.exists() and last.exists() and last.stat().st_mtime >= csv_file.stat().st_mtime:
                with open(csv_file) as f:
                    if len(list(csv.DictReader(f))) >= after_epochs:
                        time.sleep(0.5)  # last.pt's write is over; the next epoch has begun
                        break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"the run ended or timed out before {after_epochs} epoch(s) were saved: {run}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return run


def _rank(rank: int, port: int, timeout_s: float, out) -> None:
    """One process of a two-process group: rank 0 enters an all-reduce, rank 1 never does (it is busy past the
    timeout), as a rank stuck in its loader or on another branch leaves DDP's gradient all-reduce."""
    import time

    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2,
                            timeout=timedelta(seconds=timeout_s))
    try:
        if rank == 0:
            try:
                dist.all_reduce(torch.zeros(1))
                out.put("no error")
            except Exception as e:  # noqa: BLE001 - the point is to report it
                out.put(f"{type(e).__module__}.{type(e).__name__}: {e}")
        else:
            time.sleep(timeout_s + 3)
    finally:
        dist.destroy_process_group()


def collective_timeout(timeout_s: float = 3.0) -> str:
    """What the waiting process of a hung multi-process run raises (gloo on the CPU; NCCL's watchdog says the same
    of a GPU group): two processes, one of which never reaches the all-reduce the other waits in."""
    import multiprocessing as mp

    from helpers.diagnose.doctor import free_port

    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=_rank, args=(r, port, timeout_s, out)) for r in (0, 1)]
    for p in procs:
        p.start()
    try:
        return out.get(timeout=120)
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
