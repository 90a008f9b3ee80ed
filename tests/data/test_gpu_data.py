"""The resident training set (helpers.tricks.gpu_data) on the CPU: the store holds exactly what Ultralytics' dataset
loads, the index loader visits every image once per epoch (and splits them over ranks), the augmentation from the
store matches the augmentation of the workers' batches, and the compiled pixel pass computes the same pixels."""

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from helpers.data import synthetic
from helpers.tricks import gpu_augment, gpu_data
from helpers.tricks.gpu_augment import FILL, GpuAugment

COCO8 = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "coco8"
CPU = torch.device("cpu")


def dataset(yaml_path, imgsz, **hyp):
    from ultralytics.cfg import get_cfg
    from ultralytics.data.build import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    dd = check_det_dataset(str(yaml_path))
    cfg = get_cfg(overrides={"imgsz": imgsz, "cache": False, **hyp})
    return build_yolo_dataset(cfg, dd["train"], 8, dd, mode="train"), cfg


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return synthetic.generate(tmp_path_factory.mktemp("shapes"), synthetic.SynthSpec(n_train=24, n_val=4, imgsz=96))


@pytest.fixture(scope="module")
def coco8(tmp_path_factory):
    if not COCO8.exists():
        pytest.skip("../shared/datasets/coco8 is not here")
    dst = tmp_path_factory.mktemp("coco8") / "coco8"
    shutil.copytree(COCO8, dst)  # never write into ../shared (Ultralytics writes label caches)
    yaml_file = dst / "coco8.yaml"
    text = yaml_file.read_text()
    lines = [ln for ln in text.splitlines() if not ln.startswith(("path:", "download:"))]
    yaml_file.write_text(f"path: {dst}\n" + "\n".join(lines) + "\n")
    return yaml_file


@pytest.mark.parametrize("which", ["shapes", "coco8"])
def test_the_store_holds_what_ultralytics_loads(which, request):
    """Every image as load_image returns it (RGB, at the top left of FILL), its size, and its boxes in pixels."""
    ds, _ = dataset(request.getfixturevalue(which), 96)
    store = gpu_data.build_store(ds, CPU, "device", threads=2)
    assert len(store) == len(ds.im_files) and store.resident
    for i in range(len(ds.im_files)):
        im, _, (h, w) = ds.load_image(i)
        got = store.images[i].numpy()
        assert np.array_equal(got[:h, :w], im[..., ::-1]) and (got[h:] == FILL).all() and (got[:, w:] == FILL).all()
        assert tuple(store.hw[i].tolist()) == (h, w)
        lb = ds.labels[i]
        a, b = int(store.boxes.offsets[i]), int(store.boxes.offsets[i + 1])
        xywh = np.asarray(lb["bboxes"]).reshape(-1, 4) * [w, h, w, h]
        want = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
        assert np.allclose(store.boxes.xyxy[a:b].numpy(), want, atol=1e-3)
        assert np.array_equal(store.boxes.cls[a:b].numpy().ravel(), np.asarray(lb["cls"]).ravel())


def test_the_index_loader_visits_every_image_once_per_epoch_and_splits_ranks(shapes):
    ds, _ = dataset(shapes, 96)
    store = gpu_data.build_store(ds, CPU, "device", threads=2)
    loader = gpu_data.IndexLoader(ds, store, batch_size=5, device=CPU, seed=3)
    epochs = [torch.cat([b["store_idx"] for b in loader]) for _ in range(2)]
    assert len(loader) == 5 and all(sorted(e.tolist()) == list(range(24)) for e in epochs)
    assert not torch.equal(epochs[0], epochs[1])  # reshuffled
    first = next(iter(loader))
    assert first["im_file"] == [ds.im_files[i] for i in first["store_idx"].tolist()]
    ranks = []
    for r in range(2):
        ld = gpu_data.IndexLoader(ds, store, batch_size=4, device=CPU, rank=r, world=2, seed=3)
        ld.sampler.set_epoch(1)
        ranks.append(torch.cat([b["store_idx"] for b in ld]).tolist())
    assert len(ranks[0]) == len(ranks[1]) == 12 and sorted(ranks[0] + ranks[1]) == list(range(24))


def test_from_the_store_without_randomness_the_images_and_boxes_pass_through(shapes):
    """mosaic 0, no scale/translate/flips/HSV: each output is its stored image (square synthetic images)."""
    ds, cfg = dataset(shapes, 96, mosaic=0.0, scale=0.0, translate=0.0, fliplr=0.0, hsv_h=0.0, hsv_s=0.0, hsv_v=0.0)
    store = gpu_data.build_store(ds, CPU, "device", threads=2)
    idx = torch.tensor([5, 0, 17])
    images, hw, boxes, sample, pool = store.batch_images(idx, CPU)
    out = GpuAugment.from_args(cfg).augment(images, hw, boxes, sample, pool, torch.Generator().manual_seed(0))
    want = store.images[idx].permute(0, 3, 1, 2).float() / 255
    assert torch.allclose(out["img"], want, atol=1e-6)
    i, n = store.boxes.select(idx)
    xyxy = store.boxes.xyxy[n] / 96
    assert torch.equal(out["batch_idx"], i)
    assert torch.allclose(out["bboxes"], torch.cat([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], 1),
                          atol=1e-5)


def test_a_batch_copied_from_host_memory_is_the_same_batch(shapes):
    """The pinned-host store hands each batch over as its own small store: same pixels, same boxes."""
    ds, cfg = dataset(shapes, 96, mosaic=0.0)
    store = gpu_data.build_store(ds, CPU, "device", threads=2)
    host = gpu_data.ImageStore(store.images, store.hw, store.boxes, resident=False)
    idx = torch.tensor([3, 9, 1, 20])
    aug = GpuAugment.from_args(cfg)
    a = aug.augment(*store.batch_images(idx, CPU), torch.Generator().manual_seed(1))
    b = aug.augment(*host.batch_images(idx, CPU), torch.Generator().manual_seed(1))
    assert torch.equal(a["img"], b["img"]) and torch.allclose(a["bboxes"], b["bboxes"])
    assert torch.equal(a["batch_idx"], b["batch_idx"]) and torch.equal(a["cls"], b["cls"])


def test_the_store_and_the_workers_batches_render_the_same_pixels(shapes):
    """The same draws from the store and from a collated batch of the same images give the same output."""
    ds, cfg = dataset(shapes, 96)
    store = gpu_data.build_store(ds, CPU, "device", threads=2)
    idx = torch.arange(6)
    batch = {"img": store.images[idx].permute(0, 3, 1, 2).contiguous(), "resized_shape": store.hw[idx].tolist()}
    i, n = store.boxes.select(idx)
    xyxy = store.boxes.xyxy[n] / 96
    batch.update(bboxes=torch.cat([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], 1),
                 cls=store.boxes.cls[n], batch_idx=i.float())
    aug = GpuAugment.from_args(cfg)
    workers = aug(dict(batch), torch.Generator().manual_seed(4))
    local = torch.arange(6)
    resident = aug.augment(store.images, store.hw, store.boxes, idx, local, torch.Generator().manual_seed(4))
    assert torch.allclose(workers["img"], resident["img"], atol=1e-6)
    assert torch.allclose(workers["bboxes"], resident["bboxes"], atol=1e-5)


@pytest.mark.slow
def test_the_compiled_pixel_pass_equals_the_eager_one(shapes):
    """What CUDA runs (torch.compile of `render`, channels-last output) against eager, here on the CPU."""
    ds, cfg = dataset(shapes, 96, degrees=10.0, shear=3.0)
    store = gpu_data.build_store(ds, CPU, "device", threads=2)
    idx = torch.tensor([2, 7, 11, 19])
    aug = GpuAugment.from_args(cfg)
    kw = dict(out_dtype=torch.float32, channels_last=True)
    e = aug.augment(*store.batch_images(idx, CPU), torch.Generator().manual_seed(2), **kw)
    c = aug.augment(*store.batch_images(idx, CPU), torch.Generator().manual_seed(2), compiled=True, **kw)
    assert c["img"].is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(e["img"], c["img"], atol=1e-5) and torch.equal(e["bboxes"], c["bboxes"])


def test_copy_paste_with_segments_falls_back_with_a_reason():
    args = SimpleNamespace(mixup=0.0, cutmix=0.0, perspective=0.0, multi_scale=0.0, rect=False, task="detect",
                           copy_paste=0.1)
    boxes_only = SimpleNamespace(labels=[{"segments": []}])
    polygons = SimpleNamespace(labels=[{"segments": [np.zeros((5, 2))]}])
    assert gpu_augment.unsupported(args, boxes_only) is None
    assert "copy_paste=0.1" in gpu_augment.unsupported(args, polygons)


def test_on_the_cpu_the_store_lives_in_memory():
    where, why = gpu_data.where_it_fits(100, 640, CPU)
    assert where == "device" and "100 images" in why


def test_what_the_gpu_pipeline_would_ignore_sends_the_run_to_the_workers():
    base = dict(mixup=0.0, cutmix=0.0, perspective=0.0, multi_scale=0.0, rect=False, task="detect", copy_paste=0.0)
    assert "bgr=0.5" in gpu_augment.unsupported(SimpleNamespace(**base, bgr=0.5))
    gray = SimpleNamespace(labels=[], data={"channels": 1})
    assert "channels=1" in gpu_augment.unsupported(SimpleNamespace(**base, bgr=0.0), gray)


def test_the_shuffle_follows_the_epoch_the_trainer_names(shapes):
    """A resumed run (the trainer calls set_epoch) continues the order of its epoch instead of starting over."""
    ds, _ = dataset(shapes, 96)
    store = gpu_data.build_store(ds, CPU, "device", threads=2)
    a = gpu_data.IndexLoader(ds, store, batch_size=6, device=CPU, seed=1)
    first, second = [torch.cat([x["store_idx"] for x in a]) for _ in range(2)]
    b = gpu_data.IndexLoader(ds, store, batch_size=6, device=CPU, seed=1)
    b.sampler.set_epoch(1)
    assert torch.equal(torch.cat([x["store_idx"] for x in b]), second)
    assert torch.equal(torch.cat([x["store_idx"] for x in b]), second)  # told: stays at the trainer's epoch
    b.close()
    assert b.store is None
