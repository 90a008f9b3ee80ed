"""Distributed training on the CPU (torchrun ranks with gloo, `helpers.train.worker`): two patches, each for one
block, of Ultralytics code that assumes every DDP rank has an accelerator.

- `ddp_without_device_ids`: `BaseTrainer._setup_train` wraps the model with `device_ids=[self.device.index]`, which
  is [None] on the CPU and rejected by torch.
- `validator_on_cpu`: `BaseValidator.__call__` picks `cuda:<current device>` for a DDP rank whatever the run's device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from helpers.tricks.upstream import check_version

WRITTEN_FOR = "8.4"  # the Ultralytics minor whose code these patches work around
UPSTREAM = {  # sha256 of inspect.getsource of the upstream functions the patches were written against
    "ultralytics.engine.trainer.BaseTrainer._setup_train":
        "aecd0c111afe4314dba3d3313567116ee03c7fb9f6358f66d6b09fb15bc2a0fd",
    "ultralytics.engine.validator.BaseValidator.__call__":
        "29da273b2118ebb6c4c1e91c29efd196c06669297b72484528ded488f62f97ca",
}


@contextlib.contextmanager
def ddp_without_device_ids() -> Iterator[None]:
    """Ultralytics wraps the model with `device_ids=[device.index]`, which is [None] on the CPU and rejected by
    torch; inside the block DistributedDataParallel takes [None] as 'no device ids' (the CPU/gloo form)."""
    import torch

    check_version(WRITTEN_FOR, "helpers.tricks.cpu_ddp.ddp_without_device_ids")
    real = torch.nn.parallel.DistributedDataParallel

    class CpuDDP(real):
        def __init__(self, module, device_ids=None, **kwargs):
            super().__init__(module, device_ids=None if device_ids == [None] else device_ids, **kwargs)

    torch.nn.parallel.DistributedDataParallel = CpuDDP
    try:
        yield
    finally:
        torch.nn.parallel.DistributedDataParallel = real


@contextlib.contextmanager
def validator_on_cpu() -> Iterator[None]:
    """Ultralytics' validator picks `cuda:<current device>` for a DDP rank whatever the run's device; inside the
    block a rank of a CPU (gloo) run validates on the CPU."""
    import torch
    from ultralytics.engine import validator

    check_version(WRITTEN_FOR, "helpers.tricks.cpu_ddp.validator_on_cpu")

    class NoAccelerator:
        @staticmethod
        def current_device() -> int:
            return 0

    backend, auto = validator.get_torch_device_backend, validator.AutoBackend
    validator.get_torch_device_backend = lambda device_type: NoAccelerator
    validator.AutoBackend = lambda *a, **k: auto(*a, **{**k, "device": torch.device("cpu")})
    try:
        yield
    finally:
        validator.get_torch_device_backend, validator.AutoBackend = backend, auto
