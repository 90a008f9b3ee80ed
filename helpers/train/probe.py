"""Measure real training steps of an Ultralytics model on pre-loaded tensors: step time, images/s, peak memory.

The step is Ultralytics' own: the model's loss (v8 detection loss with the default gains), AMP autocast with a
GradScaler (fp16) or bf16 without one, gradient accumulation `max(round(nbs / batch), 1)`, gradient clipping at 10,
SGD and an EMA update, channels_last on CUDA. Feeding tensors already on the device takes the dataloader out, so
the figures are what the GPU can do; `benchmarks/` compares them with the real dataloader.
"""

from __future__ import annotations

import gc
import statistics
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch

from helpers.train.lr import accumulate
from helpers.tricks import attention, checkpointing, precision


@dataclass(frozen=True)
class ProbeConfig:
    """One probed configuration. Built for a run by `helpers.train.planner.probe_config(plan)`, which reads every
    field it shares with the plan; the defaults here serve the benchmarks' own probes."""

    model: str = "yolo12n.yaml"
    batch: int = 256
    nbs: int = 256
    imgsz: int = 640
    amp: str = "fp16"  # "fp16" | "bf16" | "fp32"
    attention: str = "stock"  # see tricks.attention.BACKENDS
    checkpoint: str = ""  # "" | "attention" | "blocks" | "all"
    cudnn_benchmark: bool = False  # Ultralytics' default (deterministic=True) leaves it off
    compile: bool = False  # torch.compile the model (first steps include compilation: use warmup >= 3)
    compile_mode: str = "default"  # torch.compile mode when compile is on
    deterministic: bool = False  # Ultralytics' deterministic=True: torch.use_deterministic_algorithms + cuDNN deterministic
    sdpa_kernel: str = ""  # pin PyTorch SDPA to one backend (tricks.attention.SDPA_KERNELS); '' lets PyTorch choose
    fused_sgd: bool = False  # SGD(fused=True): one kernel for the whole update
    boxes_per_image: int = 8
    nc: int = 80  # classes of the detection head (the dataset's, when the planner probes for a run)
    warmup: int = 3  # optimizer steps not timed
    steps: int = 8  # optimizer steps timed
    seed: int = 0

    @property
    def accumulate(self) -> int:
        return accumulate(self.batch, self.nbs)

    def label(self) -> str:
        parts = [self.model.replace(".yaml", ""), f"b{self.batch}" + (f"x{self.accumulate}" if self.accumulate > 1 else ""),
                 self.amp, self.attention]
        if self.imgsz != 640:
            parts.insert(1, f"{self.imgsz}px")
        if self.checkpoint:
            parts.append(f"ckpt-{self.checkpoint}")
        if self.cudnn_benchmark:
            parts.append("cudnn-bench")
        if self.compile:
            parts.append("compiled" + ("" if self.compile_mode == "default" else f"-{self.compile_mode}"))
        if self.deterministic:
            parts.append("deterministic")
        if self.sdpa_kernel:
            parts.append(f"sdpa-{self.sdpa_kernel}")
        if self.fused_sgd:
            parts.append("fused-sgd")
        return " ".join(parts)


@dataclass
class ProbeResult:
    config: dict
    label: str
    device: str
    ok: bool
    error: str = ""
    step_s: float | None = None  # median seconds per optimizer step (batch x accumulate images)
    img_s: float | None = None
    peak_allocated_gib: float | None = None
    peak_reserved_gib: float | None = None
    loss: float | None = None
    first_step_s: float | None = None  # the first step: lazy start-up, cuDNN autotuning, compilation
    reused: bool = False  # read back from an earlier probe on this machine (helpers.train.probe_cache)


def fake_batch(n: int, imgsz: int, boxes: int, nc: int, device: torch.device, gen: torch.Generator) -> dict:
    """A detection batch like Ultralytics' collate output: uint8 images and normalised xywh boxes."""
    img = torch.randint(0, 256, (n, 3, imgsz, imgsz), dtype=torch.uint8, generator=gen)
    m = n * boxes
    xy = torch.rand(m, 2, generator=gen) * 0.8 + 0.1
    wh = torch.rand(m, 2, generator=gen) * 0.15 + 0.03
    return {
        "img": img.to(device),
        "cls": torch.randint(0, nc, (m, 1), generator=gen).float().to(device),
        "bboxes": torch.cat([xy, wh], 1).to(device),
        "batch_idx": torch.arange(n).repeat_interleave(boxes).float().to(device),
    }


def training_model(model: str, device: torch.device, checkpoint: str = "", nc: int = 80):
    """A DetectionModel as Ultralytics' trainer runs it: loss gains attached, channels_last on CUDA, train mode, and
    the chosen layers checkpointed."""
    from ultralytics.cfg import get_cfg
    from ultralytics.nn.tasks import DetectionModel

    m = DetectionModel(model, nc=nc, verbose=False).to(device)
    m.args = get_cfg()  # the loss reads box/cls/dfl gains from here
    if device.type == "cuda":
        m = m.to(memory_format=torch.channels_last)
    m.train()
    if checkpoint:
        checkpointing.enable(m, checkpoint)
    return m


def _build(cfg: ProbeConfig, device: torch.device):
    from ultralytics.utils.torch_utils import ModelEMA

    model = training_model(cfg.model, device, cfg.checkpoint, nc=cfg.nc)
    fused = {"fused": True} if cfg.fused_sgd and device.type == "cuda" else {}
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.937, nesterov=True, weight_decay=5e-4, **fused)
    ema = ModelEMA(model)
    return (torch.compile(model, mode=cfg.compile_mode) if cfg.compile else model), model, opt, ema


def run(cfg: ProbeConfig, device: str | torch.device | None = None) -> ProbeResult:
    """Time `cfg.steps` optimizer steps after `cfg.warmup`; an out-of-memory error is a result, not an exception."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = dev.type == "cuda"
    res = ProbeResult(asdict(cfg), cfg.label(), torch.cuda.get_device_name(dev) if cuda else "cpu", ok=False)
    if cfg.amp == "bf16" and cuda and not precision.bf16_tensor_cores(dev):
        res.error = "bf16 needs compute capability >= 8.0"
        return res
    prev_bench = torch.backends.cudnn.benchmark
    prev_det = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic)
    prev_kernel = attention.sdpa_kernel_name()
    torch.backends.cudnn.benchmark = cfg.cudnn_benchmark
    fill = torch.utils.deterministic.fill_uninitialized_memory
    if cfg.deterministic:  # as Ultralytics' init_seeds(deterministic=True), which skips the NaN fill of new tensors
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.utils.deterministic.fill_uninitialized_memory = False
    attention.set_sdpa_kernel(cfg.sdpa_kernel)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = raw = opt = ema = batch = None
    try:
        with attention.patched(cfg.attention):
            if cuda:
                gc.collect()
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(dev)
            model, raw, opt, ema = _build(cfg, dev)
            amp_on = cuda and cfg.amp in ("fp16", "bf16")
            dtype = torch.bfloat16 if cfg.amp == "bf16" else torch.float16
            scaler = torch.amp.GradScaler("cuda", enabled=cuda and cfg.amp == "fp16")
            batch = fake_batch(cfg.batch, cfg.imgsz, cfg.boxes_per_image, cfg.nc, dev, gen)
            times = []
            for step in range(cfg.warmup + cfg.steps):
                if cuda:
                    torch.cuda.synchronize(dev)
                t0 = time.perf_counter()
                for _ in range(cfg.accumulate):
                    b = dict(batch, img=batch["img"].float() / 255)
                    with torch.autocast(dev.type, dtype=dtype, enabled=amp_on) if amp_on else nullcontext():
                        if cfg.compile:  # as Ultralytics' trainer: the forward compiled, the loss eager
                            loss, items = raw.loss(b, model(b["img"]))
                        else:
                            loss, items = model(b)
                    scaler.scale(loss.sum()).backward()
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(raw.parameters(), max_norm=10.0)
                scaler.step(opt)
                scaler.update()
                opt.zero_grad(set_to_none=True)
                ema.update(raw)
                if cuda:
                    torch.cuda.synchronize(dev)
                if step == 0:
                    res.first_step_s = time.perf_counter() - t0
                if step >= cfg.warmup:
                    times.append(time.perf_counter() - t0)
            res.step_s = statistics.median(times)
            res.img_s = cfg.batch * cfg.accumulate / res.step_s
            res.loss = float(loss.sum().detach())
            res.ok = True
    except torch.OutOfMemoryError as e:
        res.error = "CUDA out of memory: " + str(e).splitlines()[0][:200]
    finally:
        if cuda:
            res.peak_allocated_gib = torch.cuda.max_memory_allocated(dev) / 2**30
            res.peak_reserved_gib = torch.cuda.max_memory_reserved(dev) / 2**30
        del model, raw, opt, ema, batch
        if cfg.checkpoint:
            checkpointing.uninstall()
        if cfg.compile:  # the next compile in this process (a probe of another batch, the training) starts afresh
            torch._dynamo.reset()
        torch.backends.cudnn.benchmark = prev_bench
        torch.use_deterministic_algorithms(prev_det[0], warn_only=True)
        torch.backends.cudnn.deterministic = prev_det[1]
        torch.utils.deterministic.fill_uninitialized_memory = fill
        attention.set_sdpa_kernel(prev_kernel)
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    return res
