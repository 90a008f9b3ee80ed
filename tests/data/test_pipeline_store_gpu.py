"""The stores on a CUDA GPU (skipped elsewhere): nvJPEG's batched decode gives the CPU decoder's pixels, also while
the training stream is busy and freeing memory (pytorch/vision #9606), and the host store's staged batches arrive
intact through the pinned buffers and the side stream."""

import pytest
import torch

from helpers.data import synthetic
from helpers.pipeline import store as stores
from helpers.pipeline.loader import IndexLoader

pytestmark = pytest.mark.gpu
NVJPEG_LEVELS = 1.0  # nvJPEG against libjpeg-turbo on the same bytes: mean absolute difference, 0-255 levels


def dataset(yaml_path, imgsz):
    from ultralytics.cfg import get_cfg
    from ultralytics.data.build import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    dd = check_det_dataset(str(yaml_path))
    return build_yolo_dataset(get_cfg(overrides={"imgsz": imgsz, "cache": False}), dd["train"], 8, dd, mode="train")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return synthetic.generate(tmp_path_factory.mktemp("shapes"), synthetic.SynthSpec(n_train=96, n_val=4, imgsz=320))


def test_nvjpeg_decodes_the_cpu_decoders_pixels_while_the_gpu_is_busy(shapes):
    dev = torch.device("cuda")
    js = stores.build(dataset(shapes, 320), dev, "jpeg", threads=4)
    idx = torch.arange(len(js))
    want = js.decode(idx, torch.device("cpu")).to(dev).float()
    for trial in range(5):  # busy training stream, blocks freed while it still reads them
        busy = [torch.randn(2048, 2048, device=dev) for _ in range(8)]
        sums = [b.sum() for b in busy for _ in range(4)]
        del busy
        ld = IndexLoader(dataset(shapes, 320), js, batch_size=32, device=dev, seed=trial)
        for batch in ld:
            got = batch["store_images"].float()
            diff = (got - want[batch["store_idx"]]).abs().mean().item()
            assert diff <= NVJPEG_LEVELS, (trial, diff)
        torch.cuda.synchronize()
        assert all(torch.isfinite(s) for s in sums)


def test_host_batches_arrive_intact_through_the_staging_buffers(shapes):
    dev = torch.device("cuda")
    host = stores.build(dataset(shapes, 320), dev, "host", threads=4)
    assert host.images.is_pinned() and not host.resident
    for epoch in range(3):
        ld = IndexLoader(dataset(shapes, 320), host, batch_size=20, device=dev, seed=epoch)
        seen = []
        for batch in ld:
            idx = batch["store_idx"].cpu()
            assert torch.equal(batch["store_images"].cpu(), host.images[idx])
            seen += idx.tolist()
        assert sorted(seen) == list(range(len(host)))
