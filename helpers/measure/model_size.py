"""A model's size as Ultralytics builds it from its yaml: parameters and GFLOPs (Ultralytics' own counter)."""

from __future__ import annotations

from typing import Any


def size(model: str, nc: int | None = None, imgsz: int = 640, fused: bool = False) -> dict[str, Any]:
    """{'params', 'gflops', 'nc'} of `model` (a yaml) with its own classes or `nc`, at `imgsz`; `fused`: Conv and
    BatchNorm folded, as deployed."""
    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.utils.torch_utils import get_flops

    net = DetectionModel(model, **({"nc": nc} if nc else {}), verbose=False).eval()
    if fused:
        net.fuse(verbose=False)
    return {"params": sum(p.numel() for p in net.parameters()), "gflops": get_flops(net, imgsz), "nc": net.yaml["nc"]}
