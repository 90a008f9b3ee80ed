"""The validation loader during training (helpers.pipeline.val_loader): Ultralytics' batch split over the workers,
each image padded exactly as Ultralytics' own validation loader pads it."""

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from helpers.pipeline import val_loader

COCO128 = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "coco128"


@pytest.mark.parametrize("batch,images,workers,expected", [
    (512, 512, 16, 32),  # the recorded case: one batch of 512 becomes 16, one per worker
    (512, 5000, 16, 512),  # a large set keeps Ultralytics' batch
    (200, 100, 16, 20),  # a divisor of the batch, at least the floor of 16 images
    (8, 4, 0, 8),  # no workers: one batch
    (6, 100, 3, 6),
])
def test_the_batch_divides_ultralytics_batch_and_spreads_over_the_workers(batch, images, workers, expected):
    got = val_loader.spread(batch, images, workers)
    assert got == expected and batch % got == 0
    assert val_loader.spread(200, 100, 16, floor=1) == 8  # without the floor: one batch per worker


def test_a_batch_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        val_loader.spread(0, 10, 2)


@pytest.mark.skipif(not COCO128.exists(), reason="needs ../shared/datasets/coco128")
def test_every_image_gets_ultralytics_padding_across_its_rect_groups(tmp_path, monkeypatch):
    from ultralytics.cfg import get_cfg
    from ultralytics.data import build_dataloader, build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    root = tmp_path / "coco128"  # a copy: Ultralytics writes its label cache next to the labels
    shutil.copytree(COCO128, root)
    data = check_det_dataset(str(root / "coco128.yaml"))  # no `path:`: the folders next to the yaml
    cfg = get_cfg(overrides={"imgsz": 96, "workers": 1})

    def build_dataset(path, mode, batch):
        return build_yolo_dataset(cfg, path, batch, data, mode=mode, rect=True, stride=32)

    monkeypatch.setattr(val_loader, "spread", lambda batch, images, workers: 2)  # groups of 8 read 2 at a time
    trainer = SimpleNamespace(build_dataset=build_dataset, args=cfg, device=torch.device("cpu"), world_size=1)
    ours = list(val_loader.build(trainer, data["val"], 8, rank=-1))
    theirs = list(build_dataloader(build_dataset(data["val"], "val", 8), batch=8, workers=0, shuffle=False, rank=-1,
                                   device=torch.device("cpu")))
    assert len(ours) == 64 and len(theirs) == 16
    mine = {f: img for b in ours for f, img in zip(b["im_file"], b["img"])}
    assert len(mine) == 128
    for b in theirs:
        for f, img in zip(b["im_file"], b["img"]):
            assert torch.equal(mine[f], img), f
    # the test can fail: a dataset built at the loader's batch pads differently
    shapes = {f: img.shape for b in build_dataloader(build_dataset(data["val"], "val", 2), batch=2, workers=0,
                                                     shuffle=False, rank=-1, device=torch.device("cpu"))
              for f, img in zip(b["im_file"], b["img"])}
    assert any(shapes[f] != mine[f].shape for f in mine)
