"""The batched augmentation (helpers.pipeline.augment) against Ultralytics' own pipeline, on the CPU: exact where
nothing is random, the same box statistics over many samples, the same HSV maths as cv2, and a short training that
ends where Ultralytics' pipeline ends."""

import random
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from helpers.core import profiles
from helpers.data import synthetic
from helpers.pipeline.augment import FILL, GpuAugment, unsupported
from helpers.train import planner


class PadTopLeft:
    """Loader transform: the cached image (long side = imgsz) at the top left of an imgsz x imgsz canvas of FILL;
    its own (h, w) stays in labels['resized_shape'] for the GPU pipeline."""

    def __init__(self, imgsz: int):
        self.imgsz = imgsz

    def __call__(self, labels: dict[str, Any]) -> dict[str, Any]:
        img = labels["img"]
        h, w = img.shape[:2]
        canvas = np.full((self.imgsz, self.imgsz, img.shape[2]), FILL, dtype=np.uint8)
        canvas[:h, :w] = img
        labels["img"] = canvas
        labels["resized_shape"] = (h, w)
        inst = labels["instances"]
        inst.convert_bbox(format="xywh")
        if inst.normalized:
            inst.denormalize(w, h)  # pixels of the image = pixels of the canvas; Format normalises by the canvas
        return labels


def adopt(dataset: Any) -> Any:
    """An Ultralytics training dataset whose workers do not augment (the cached image padded, Format for the boxes):
    its batches are what `GpuAugment.__call__` takes, to compare the batched augmentation with Ultralytics' own."""
    from ultralytics.data.augment import Compose, Format

    dataset.transforms = Compose([PadTopLeft(dataset.imgsz),
                                  Format(bbox_format="xywh", normalize=True, return_mask=False,
                                         return_keypoint=False, return_obb=False, batch_idx=True, bgr=0.0)])
    dataset.close_mosaic = lambda hyp=None: None
    return dataset


def loaders(data, imgsz, batch=16, **hyp):
    """(Ultralytics' augmenting loader, the GPU pipeline's loader, the args) on the same dataset."""
    from ultralytics.cfg import get_cfg
    from ultralytics.data.build import build_dataloader, build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    dd = check_det_dataset(str(data))
    cfg = get_cfg(overrides={"imgsz": imgsz, "cache": False, **hyp})
    stock = build_dataloader(build_yolo_dataset(cfg, dd["train"], batch, dd, mode="train"), batch, 0, shuffle=True)
    ours = build_dataloader(adopt(build_yolo_dataset(cfg, dd["train"], batch, dd, mode="train")), batch, 0,
                            shuffle=True)
    return stock, ours, cfg


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return synthetic.generate(tmp_path_factory.mktemp("shapes"), synthetic.SynthSpec(n_train=64, n_val=8, imgsz=128))


def stats(batches):
    per, w, h, x, y = [], [], [], [], []
    for b in batches:
        idx = b["batch_idx"].long()
        per += [int((idx == k).sum()) for k in range(b["img"].shape[0])]
        bb = b["bboxes"].float()
        x += bb[:, 0].tolist(); y += bb[:, 1].tolist(); w += bb[:, 2].tolist(); h += bb[:, 3].tolist()  # noqa: E702
    return {k: (float(np.mean(v)), float(np.percentile(v, 10)), float(np.percentile(v, 90)))
            for k, v in (("per_image", per), ("w", w), ("h", h), ("x", x), ("y", y))}


def test_without_randomness_the_pipeline_returns_the_images_and_boxes_unchanged(data):
    """mosaic 0, scale 0, translate 0, no flips, no HSV: square images pass through exactly, as Ultralytics' would."""
    _, ours, cfg = loaders(data, 128, mosaic=0.0, scale=0.0, translate=0.0, fliplr=0.0, hsv_h=0.0, hsv_s=0.0,
                           hsv_v=0.0)
    batch = next(iter(ours))
    img, boxes, idx = batch["img"].clone(), batch["bboxes"].clone(), batch["batch_idx"].clone()
    out = GpuAugment.from_args(cfg)(batch, torch.Generator().manual_seed(0))
    assert torch.allclose(out["img"], img.float() / 255, atol=1e-6)
    assert torch.allclose(out["bboxes"], boxes, atol=1e-5) and torch.equal(out["batch_idx"], idx)


def test_box_statistics_match_ultralytics_pipeline(data):
    """Over 1024 augmented images each: boxes per image, box sizes and positions agree with Ultralytics' Mosaic +
    RandomPerspective + flips (tolerances: 7% on means of counts and sizes, 0.03 on positions, 0.03 on quantiles)."""
    random.seed(0), np.random.seed(0), torch.manual_seed(0)
    stock, ours, cfg = loaders(data, 128)
    aug, gen = GpuAugment.from_args(cfg), torch.Generator().manual_seed(0)
    a = stats([b for _ in range(16) for b in stock])
    g = stats([aug(b, gen) for _ in range(16) for b in ours])
    for key in ("per_image", "w", "h"):
        assert g[key][0] == pytest.approx(a[key][0], rel=0.07), (key, a[key], g[key])
    for key in ("w", "h", "x", "y"):
        assert abs(g[key][1] - a[key][1]) < 0.03 and abs(g[key][2] - a[key][2]) < 0.03, (key, a[key], g[key])
    for key in ("x", "y"):
        assert abs(g[key][0] - a[key][0]) < 0.03, (key, a[key], g[key])


def test_hsv_follows_cv2():
    """The same gains through cv2's uint8 HSV (Ultralytics' RandomHSV) and the tensor version: within 3/255."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (1, 16, 16, 3), dtype=np.uint8)
    aug = GpuAugment(imgsz=16, hsv_h=0.015, hsv_s=0.7, hsv_v=0.4)
    gains = torch.tensor([[0.01, -0.5, 0.3]])

    class Fixed:  # rnd(b, 3) * 2 - 1 == gains / [h, s, v]
        def __call__(self, *shape):
            return (gains / torch.tensor([0.015, 0.7, 0.4]) + 1) / 2

    ours = aug._hsv(torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255, Fixed())
    r = gains[0].numpy()
    x = np.arange(0, 256, dtype=np.float64)
    lut = np.stack([((x + r[0] * 180) % 180), np.clip(x * (r[1] + 1), 0, 255), np.clip(x * (r[2] + 1), 0, 255)], -1)
    lut[0, 1] = 0
    hsv = cv2.cvtColor(rgb[0], cv2.COLOR_RGB2HSV)
    ref = cv2.cvtColor(cv2.LUT(hsv, lut.astype(np.uint8).reshape(1, 256, 3)), cv2.COLOR_HSV2RGB)
    diff = np.abs(ours[0].permute(1, 2, 0).numpy() * 255 - ref.astype(np.float64))
    # cv2 quantises hue to 2-degree steps and S, V to 8 bits before and after the LUT: a few units apart at most
    assert diff.mean() <= 1.0 and np.percentile(diff, 99) <= 6.0 and diff.max() <= 16


def test_what_it_cannot_do_is_said():
    from types import SimpleNamespace

    base = dict(mixup=0.0, cutmix=0.0, perspective=0.0, multi_scale=0.0, rect=False, task="detect")
    assert unsupported(SimpleNamespace(**base)) is None
    assert "mixup" in unsupported(SimpleNamespace(**{**base, "mixup": 0.1}))
    assert "rect" in unsupported(SimpleNamespace(**{**base, "rect": True}))


@pytest.mark.slow
def test_a_short_training_ends_where_ultralytics_pipeline_ends(runs):
    """Fine-tuning the starter weights three CPU epochs with each pipeline: the same mAP within run-to-run noise."""
    from helpers.train.run import train

    plan = planner.from_profile(profiles.get("quick"), lr_fixed=0.001, name="aug")
    maps = {dev: train(plan.replace(augment_device=dev, name=f"aug-{dev}"), progress=False).metrics[
        "metrics/mAP50-95(B)"] for dev in ("cpu", "gpu")}
    assert maps["gpu"] == pytest.approx(maps["cpu"], abs=0.05), maps
    assert (runs / "train" / "aug-gpu" / "train_batch0.jpg").exists()  # Ultralytics drew the batched pipeline's batch


@pytest.fixture
def said():
    """The messages Ultralytics' logger emits during a test (it does not propagate to pytest's caplog)."""
    import logging

    got: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            got.append(record.getMessage())

    log, handler = logging.getLogger("ultralytics"), Keep(logging.INFO)
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield got
    log.removeHandler(handler)
    log.setLevel(level)


@pytest.mark.slow
def test_training_falls_back_with_one_line_where_it_cannot_run(runs, said):
    from helpers.train.run import train

    prof = profiles.get("quick").replace(imgsz=64, n_train=8, n_val=4)
    plan = planner.from_profile(prof, epochs=1, weights="", augment_device="gpu", extra={"mixup": 0.1})
    result = train(plan, progress=False)
    assert result.trainer.feed.augment is None and result.trainer.input_pipeline == "cpu workers"
    lines = [m for m in said if "own loader" in m]
    assert len(lines) == 1 and "Ultralytics' own loader and CPU augmentation at its own speed (mixup=0.1 is not " \
        "implemented" in lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("store", ["off", "jpeg"])
def test_each_store_trains_and_says_where_the_set_lives_in_one_line(runs, said, store):
    """store='off' trains on Ultralytics' own loader and says so once; a store mode trains from its store and names it
    in one line with its size."""
    from helpers.train.run import train

    prof = profiles.get("quick").replace(imgsz=64, n_train=8, n_val=4)
    plan = planner.from_profile(prof, epochs=1, weights="", augment_device="gpu", store=store, name=f"store-{store}")
    result = train(plan, progress=False)
    lines = [m for m in said if "augment_device='gpu'" in m]
    assert len(lines) == 1, lines
    if store == "off":
        assert result.trainer.input_pipeline == "cpu workers" and result.trainer.feed.augment is None
        assert "Ultralytics' own loader and CPU augmentation at its own speed (store='off')" in lines[0]
    else:
        assert result.trainer.feed.choice.mode == "jpeg" and "jpeg store" in lines[0] and "GiB, built in" in lines[0]
