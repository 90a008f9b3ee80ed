"""The validation loader during training (helpers.pipeline.val_loader): Ultralytics' batch split over the workers,
each image padded exactly as Ultralytics' own validation loader pads it."""

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from helpers.pipeline import val_loader

COCO8 = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "coco8"


@pytest.mark.parametrize("batch,images,workers,expected", [
    (512, 512, 16, 32),  # the recorded case: one batch of 512 becomes 16, one per worker
    (512, 5000, 16, 512),  # a large set keeps Ultralytics' batch
    (200, 100, 16, 8),  # a divisor of the batch, never a batch that straddles Ultralytics' rect groups
    (8, 4, 0, 4),  # no workers: one batch
    (6, 100, 3, 6),
])
def test_the_batch_divides_ultralytics_batch_and_spreads_over_the_workers(batch, images, workers, expected):
    got = val_loader.spread(batch, images, workers)
    assert got == expected and batch % got == 0


def test_a_batch_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        val_loader.spread(0, 10, 2)


@pytest.mark.skipif(not COCO8.exists(), reason="needs ../shared/datasets/coco8")
def test_every_image_gets_ultralytics_padding(tmp_path):
    from ultralytics.cfg import get_cfg
    from ultralytics.data import build_dataloader, build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    root = tmp_path / "coco8"
    shutil.copytree(COCO8, root)
    yaml = root / "coco8.yaml"  # no `path:`: Ultralytics resolves the folders next to it
    data = check_det_dataset(str(yaml))
    cfg = get_cfg(overrides={"imgsz": 96, "workers": 1})

    def build_dataset(path, mode, batch):
        return build_yolo_dataset(cfg, path, batch, data, mode=mode, rect=True, stride=32)

    trainer = SimpleNamespace(build_dataset=build_dataset, args=cfg, device=torch.device("cpu"))
    ours = list(val_loader.build(trainer, data["val"], 4, rank=-1))
    theirs = list(build_dataloader(build_dataset(data["val"], "val", 4), batch=4, workers=0, shuffle=False, rank=-1,
                                   device=torch.device("cpu")))
    assert len(ours) == 2 and len(theirs) == 1  # 4 images over 2 workers: two batches of 2
    mine = {f: img for b in ours for f, img in zip(b["im_file"], b["img"])}
    for f, img in zip(theirs[0]["im_file"], theirs[0]["img"]):
        assert torch.equal(mine[f], img), f
