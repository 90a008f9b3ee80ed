"""Fast area attention for YOLOv12: the stock `AAttn.forward` builds an explicit N x N attention matrix per head;
this computes the same thing with `torch.nn.functional.scaled_dot_product_attention` (or flash-attn when asked).

The patch is class-level (`AAttn.forward`), so checkpoints keep the stock class and load anywhere; every other
process of a run (Ultralytics' DDP workers, torchrun's ranks) applies the same backend from the run's plan in
$WORKBOOK_PLAN: see `helpers.train.trainer.WorkbookTrainer`. PyTorch's SDPA can be pinned to one kernel (`set_sdpa_kernel`); its FLASH
backend is FlashAttention-2, so the flash kernels run without building the flash-attn package.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from helpers.tricks.registry import Option, Row, Trick
from helpers.tricks.upstream import check_version

if TYPE_CHECKING:  # torch and Ultralytics load when a forward or a patch needs them (this module declares TRICK)
    import torch
    from ultralytics.nn.modules.block import AAttn

WRITTEN_FOR = "8.4"  # the Ultralytics minor whose AAttn.forward the SDPA/flash forwards reproduce
UPSTREAM = {  # sha256 of inspect.getsource of the stock forward that _split_qkv/_finish slice exactly as
    "ultralytics.nn.modules.block.AAttn.forward": "f16c0ffa0bb61d829a3d545ba105ab07745bd8441dcca7860d20eac6c7d07897",
}
BACKENDS = ("auto", "sdpa", "flash", "stock")
_STOCK: dict[str, Any] = {}  # Ultralytics' own AAttn.forward, recorded when the class is first imported here


def aattn() -> type[AAttn]:
    """Ultralytics' AAttn class (imported on first use, when its own forward is recorded as the stock one)."""
    from ultralytics.nn.modules.block import AAttn

    _STOCK.setdefault("forward", AAttn.forward)
    return AAttn


def forwards() -> dict[str, Any]:
    """Each backend's AAttn.forward: stock (Ultralytics' own), sdpa, flash."""
    aattn()
    return {"stock": _STOCK["forward"], "sdpa": sdpa_forward, "flash": flash_forward}


def __getattr__(name: str) -> Any:
    """STOCK_FORWARD and FORWARDS, read when first asked for (they import Ultralytics)."""
    if name == "STOCK_FORWARD":
        return forwards()["stock"]
    if name == "FORWARDS":
        return forwards()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class FlashAttnUnavailable(RuntimeError):
    """flash-attn was asked for explicitly but cannot run here (the message says why, in one line)."""


def flash_attn_status() -> tuple[bool, str]:
    """(usable, reason): flash-attn 2 needs the package, a CUDA GPU with compute capability >= 8.0."""
    try:
        import flash_attn  # noqa: F401
    except Exception as e:  # ImportError, or OSError/undefined symbol from a build against another torch
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        return False, (f"flash-attn is not importable ({type(e).__name__}: {first}); "
                       "install it with `pip install -e '.[flash]'` (compiles against your CUDA), or use 'sdpa'")
    import torch

    if not torch.cuda.is_available():
        return False, "flash-attn needs a CUDA GPU; using 'sdpa'"
    major, minor = torch.cuda.get_device_capability()
    if major < 8:
        return False, f"flash-attn 2 needs compute capability >= 8.0 (this GPU: {major}.{minor}); using 'sdpa'"
    return True, "flash-attn available"


def _split_qkv(self: AAttn, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int, int, int, int]:
    """q, k, v as [B', N', heads, head_dim] (B' = B * area), exactly as the stock forward slices them."""
    B, _, H, W = x.shape
    N = H * W
    qkv = self.qkv(x).flatten(2).transpose(1, 2)
    if self.area > 1:
        qkv = qkv.reshape(B * self.area, N // self.area, self.all_head_dim * 3)
    b, n, _ = qkv.shape
    q, k, v = qkv.view(b, n, self.num_heads, self.head_dim * 3).split(self.head_dim, dim=3)
    return q, k, v, B, H, W, n


def _finish(self: AAttn, out: torch.Tensor, v: torch.Tensor, B: int, H: int, W: int) -> torch.Tensor:
    """From per-area [B', N', heads, head_dim] back to [B, C, H, W], plus the positional term, as in the stock code."""
    x = out.reshape(B, H, W, self.all_head_dim).permute(0, 3, 1, 2).contiguous()
    v = v.reshape(B, H, W, self.all_head_dim).permute(0, 3, 1, 2).contiguous()
    return self.proj(x + self.pe(v))


SDPA_KERNELS = ("", "flash", "efficient", "cudnn", "math")  # '': PyTorch picks; 'flash' is FlashAttention-2
_sdpa_kernel = {"name": ""}


def sdpa_kernel_name() -> str:
    """The SDPA kernel the patched layers ask for ('' when PyTorch chooses)."""
    return _sdpa_kernel["name"]


def set_sdpa_kernel(name: str) -> None:
    """Pin PyTorch SDPA to one backend (torch.nn.attention.sdpa_kernel): 'flash' (FlashAttention-2 kernels inside
    PyTorch, no flash-attn package needed), 'efficient', 'cudnn', 'math', or '' to let PyTorch choose."""
    if name not in SDPA_KERNELS:
        raise ValueError(f"sdpa kernel {name!r} is not one of {SDPA_KERNELS}")
    _sdpa_kernel["name"] = name


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    import torch
    import torch.nn.functional as F

    name = _sdpa_kernel["name"]
    if not name or not q.is_cuda or (name != "math" and q.dtype not in (torch.float16, torch.bfloat16)):
        return F.scaled_dot_product_attention(q, k, v)  # flash/cuDNN/efficient pins: half precision only
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backend = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
               "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}[name]
    q, k, v = (t if t.stride(-1) == 1 else t.contiguous() for t in (q, k, v))  # the fused kernels need it
    try:
        with sdpa_kernel([backend]):
            return F.scaled_dot_product_attention(q, k, v)
    except RuntimeError as e:  # inputs this kernel refuses (a shape or layout): PyTorch's choice runs them instead
        if "No available kernel" not in str(e):
            raise
        if not _sdpa_kernel.get("warned"):
            from ultralytics.utils import LOGGER

            LOGGER.warning(f"sdpa_kernel={name!r} cannot run attention inputs of shape {tuple(q.shape)} "
                           f"({q.dtype}, strides {q.stride()}); PyTorch picks the kernel for those")
            _sdpa_kernel["warned"] = True
        return F.scaled_dot_product_attention(q, k, v)


def sdpa_forward(self: AAttn, x: torch.Tensor) -> torch.Tensor:
    """Area attention through scaled_dot_product_attention (flash / memory-efficient / cuDNN kernels on CUDA)."""
    q, k, v, B, H, W, _ = _split_qkv(self, x)
    out = _sdpa(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    return _finish(self, out.transpose(1, 2), v, B, H, W)


def flash_forward(self: AAttn, x: torch.Tensor) -> torch.Tensor:
    """Area attention through flash-attn 2 when the tensors allow it (CUDA, fp16/bf16), else SDPA."""
    import torch

    q, k, v, B, H, W, _ = _split_qkv(self, x)
    if q.is_cuda and q.dtype in (torch.float16, torch.bfloat16):
        from flash_attn import flash_attn_func

        out = flash_attn_func(q.contiguous(), k.contiguous(), v.contiguous())
    else:  # fp32 (e.g. an fp32 validation pass) or CPU: flash-attn has no kernel for it
        out = _sdpa(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2)
    return _finish(self, out, v, B, H, W)


def area_attention_layers(model: str) -> int | None:
    """How many A2C2f blocks a model yaml has (YOLO12's area attention, the only layers this trick and the
    'attention' checkpointing touch); None for a checkpoint or a yaml Ultralytics cannot find."""
    if not str(model).endswith((".yaml", ".yml")):
        return None
    try:
        from ultralytics.nn.tasks import yaml_model_load

        d = yaml_model_load(model)
    except Exception:  # noqa: BLE001 - a yaml that does not load is the trainer's error to report
        return None
    return sum(1 for layer in d.get("backbone", []) + d.get("head", []) if layer[2] == "A2C2f")


def resolve(backend: str) -> tuple[str, str]:
    """(backend actually used, why). 'auto' picks flash when it can run, else sdpa; explicit 'flash' must run."""
    if backend not in BACKENDS:
        raise ValueError(f"attention backend {backend!r} is not one of {BACKENDS}")
    if backend in ("flash", "auto"):
        ok, why = flash_attn_status()
        if ok:
            return "flash", why
        if backend == "flash":
            raise FlashAttnUnavailable(why)
        return "sdpa", why
    return backend, "as requested"


def patch(backend: str = "auto") -> str:
    """Route every YOLOv12 area-attention layer through `backend`; returns the backend used."""
    used, _ = resolve(backend)
    if used != "stock":
        check_version(WRITTEN_FOR, "helpers.tricks.attention")
    aattn().forward = forwards()[used]
    return used


_installed: dict = {"plan": None, "forward": None, "applications": 0}  # what `install` put in place in this process


def install(backend: str, kernel: str = "") -> bool:
    """The plan's backend and SDPA kernel for this process, once: a second call for the same pair while both are
    still in place is a no-op (the launching process and its trainer both ask). True when it patched."""
    if in_place(backend, kernel):
        return False
    patch(backend)
    set_sdpa_kernel(kernel)
    _installed.update(plan=(backend, kernel), forward=aattn().forward, applications=_installed["applications"] + 1)
    return True


def in_place(backend: str, kernel: str = "") -> bool:
    """True while what `install(backend, kernel)` put in place is still there (no one restored another forward)."""
    return _installed["plan"] == (backend, kernel) and aattn().forward is _installed["forward"] \
        and sdpa_kernel_name() == kernel


def applications() -> int:
    """How many times `install` patched this process (a no-op call is not counted)."""
    return _installed["applications"]


def state() -> tuple:
    """What `restore` puts back: the forward in place, the SDPA kernel and what `install` recorded."""
    return aattn().forward, sdpa_kernel_name(), (_installed["plan"], _installed["forward"])


def restore(saved: tuple) -> None:
    """Back to a `state()`: the forward, the SDPA kernel and the install record as they were."""
    aattn().forward = saved[0]
    set_sdpa_kernel(saved[1])
    _installed["plan"], _installed["forward"] = saved[2]


def unpatch() -> None:
    """Back to Ultralytics' own forward."""
    aattn().forward = forwards()["stock"]


def current() -> str:
    """The backend AAttn uses right now."""
    return next(name for name, fn in forwards().items() if aattn().forward is fn)


@contextlib.contextmanager
def patched(backend: str) -> Iterator[str]:
    """Use `backend` inside the block, then restore what was there before."""
    before = aattn().forward
    try:
        yield patch(backend)
    finally:
        aattn().forward = before


# ------------------------------------------------------------------ the trick as the plan and the trainer see it
def row(plan: Any) -> Row:
    """The 'attention' row: the backend asked and the one used (and the SDPA kernel), or why it does not apply."""
    from pathlib import Path

    if area_attention_layers(plan.model) == 0:
        return ("attention", "does not apply", f"{Path(plan.model).stem} has no area-attention (A2C2f) layers: its "
                                               "own layers run unchanged")
    used, why = resolve(plan.attention) if plan.attention != "flash" else ("flash", "as requested")
    kernel = f", SDPA kernel {plan.sdpa_kernel}" if plan.sdpa_kernel else ""
    return "attention", f"{plan.attention} -> {used}{kernel}", why


TRICK = Trick(
    "attention",
    options=(Option("attention", str, "auto", choices=BACKENDS, doc="area attention: auto | sdpa | flash | stock"),
             Option("sdpa_kernel", str, "", choices=SDPA_KERNELS,
                    doc="pin PyTorch SDPA to one kernel: flash (FlashAttention-2) | efficient | cudnn | math | '' "
                        "(PyTorch picks)")),
    row=row, before="kernels",
    install=lambda plan: install(plan.attention, plan.sdpa_kernel),
    in_place=lambda plan: in_place(plan.attention, plan.sdpa_kernel), state=state, restore=restore,
    summary=lambda plan: f"attention {plan.attention}" + (f" ({plan.sdpa_kernel} kernel)" if plan.sdpa_kernel else ""),
    doc="YOLOv12's area attention through SDPA or flash-attn instead of an explicit attention matrix")
