"""Training precision: Ultralytics' `amp` argument takes True/'fp16' (autocast + GradScaler), 'bf16' (no scaler) or
False/'fp32'. It does not check the GPU; this guard refuses bf16 where there are no bf16 tensor cores (compute
capability < 8.0, e.g. a T4), since PyTorch would accept it there and run it slowly in emulation.
"""

from __future__ import annotations

import torch

CHOICES = ("fp16", "bf16", "fp32")


def bf16_tensor_cores(device: int | str | torch.device = 0) -> bool:
    """True on CUDA GPUs of compute capability >= 8.0 (A100, H100, RTX 30/40)."""
    return torch.cuda.is_available() and torch.cuda.get_device_capability(device) >= (8, 0)


def choose_amp(requested: str = "fp16", device: int | str | torch.device = 0,
               capability: tuple[int, int] | None = None) -> tuple[str | bool, str]:
    """(value for Ultralytics' `amp`, one-line reason). bf16 on a GPU without bf16 tensor cores falls back to fp16.
    `capability` stands in for a GPU's compute capability (to show what a T4, 7.5, would get)."""
    if requested not in CHOICES:
        raise ValueError(f"amp={requested!r}: choose one of {CHOICES}")
    if requested == "fp32":
        return False, "full fp32 (slowest, most memory)"
    if capability is None and not torch.cuda.is_available():
        return False, "no CUDA GPU: Ultralytics trains in fp32 on the CPU"
    if requested == "bf16":
        cap = capability or torch.cuda.get_device_capability(device)
        if cap >= (8, 0):
            return "bf16", "bf16 autocast, no GradScaler"
        major, minor = cap
        return True, (f"bf16 refused: this GPU (compute capability {major}.{minor}) has no bf16 tensor cores; "
                      "using fp16 autocast + GradScaler")
    return True, "fp16 autocast + GradScaler (Ultralytics' default)"


def runs_in(requested: str = "fp16") -> str:
    """The precision a run asking for `requested` trains in here: fp16 | bf16 | fp32 (fp32 on a CPU)."""
    return named(choose_amp(requested)[0])


def named(amp_value: str | bool) -> str:
    """Ultralytics' `amp` value as the precision it trains in: fp16 | bf16 | fp32."""
    return {False: "fp32", True: "fp16"}.get(amp_value, str(amp_value))
