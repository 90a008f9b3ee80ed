"""The input pipeline's stores (helpers.pipeline) on the CPU: every mode hands over what Ultralytics' dataset loads
(gpu and host exactly, jpeg within JPEG_MEAN_LEVELS), the index loader visits every image once per epoch (and splits
them over ranks), the choice of store follows the memory it is given, the augmentation from the store matches the
augmentation of the workers' batches, and the compiled pixel pass computes the same pixels."""

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from helpers.data import synthetic
from helpers.pipeline import augment as gpu_augment
from helpers.pipeline import images, jpeg, store as stores
from helpers.pipeline.loader import IndexLoader
from helpers.pipeline.augment import FILL, GpuAugment

COCO8 = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "coco8"
CPU = torch.device("cpu")


def resident(store, idx):
    """(images, hw, boxes, sample, pool) of a resident store: the augmentation reads the whole store."""
    return store.images, store.hw, store.boxes, idx, torch.arange(len(store))


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
    store = stores.build(ds, CPU, "gpu", threads=2)
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
    store = stores.build(ds, CPU, "gpu", threads=2)
    loader = IndexLoader(ds, store, batch_size=5, device=CPU, seed=3)
    epochs = [torch.cat([b["store_idx"] for b in loader]) for _ in range(2)]
    assert len(loader) == 5 and all(sorted(e.tolist()) == list(range(24)) for e in epochs)
    assert not torch.equal(epochs[0], epochs[1])  # reshuffled
    first = next(iter(loader))
    assert first["im_file"] == [ds.im_files[i] for i in first["store_idx"].tolist()]
    ranks = []
    for r in range(2):
        ld = IndexLoader(ds, store, batch_size=4, device=CPU, rank=r, world=2, seed=3)
        ld.sampler.set_epoch(1)
        ranks.append(torch.cat([b["store_idx"] for b in ld]).tolist())
    assert len(ranks[0]) == len(ranks[1]) == 12 and sorted(ranks[0] + ranks[1]) == list(range(24))


def test_a_compiled_run_drops_the_last_incomplete_batch_as_ultralytics_loader_does(shapes):
    """Ultralytics drops each epoch's last short batch when compiling (static shapes); the index loader follows its
    build_dataloader, batch for batch, and keeps every image otherwise."""
    from ultralytics.data.build import build_dataloader

    ds, _ = dataset(shapes, 96)
    store = stores.build(ds, CPU, "gpu", threads=2)
    for batch, drop, sizes in [(5, True, [5] * 4), (5, False, [5] * 4 + [4]), (6, True, [6] * 4), (24, True, [24]),
                               (30, True, [24])]:
        ours = IndexLoader(ds, store, batch_size=batch, device=CPU, seed=0, drop_last=drop)
        theirs = build_dataloader(ds, batch, workers=0, shuffle=True, drop_last=drop, device=CPU)
        got = [len(b["store_idx"]) for b in ours]
        assert got == [len(b["img"]) for b in theirs] == sizes and len(ours) == len(theirs) == len(sizes)


def test_from_the_store_without_randomness_the_images_and_boxes_pass_through(shapes):
    """mosaic 0, no scale/translate/flips/HSV: each output is its stored image (square synthetic images)."""
    ds, cfg = dataset(shapes, 96, mosaic=0.0, scale=0.0, translate=0.0, fliplr=0.0, hsv_h=0.0, hsv_s=0.0, hsv_v=0.0)
    store = stores.build(ds, CPU, "gpu", threads=2)
    idx = torch.tensor([5, 0, 17])
    images, hw, boxes, sample, pool = resident(store, idx)
    out = GpuAugment.from_args(cfg).augment(images, hw, boxes, sample, pool, torch.Generator().manual_seed(0))
    want = store.images[idx].permute(0, 3, 1, 2).float() / 255
    assert torch.allclose(out["img"], want, atol=1e-6)
    i, n = store.boxes.select(idx)
    xyxy = store.boxes.xyxy[n] / 96
    assert torch.equal(out["batch_idx"], i)
    assert torch.allclose(out["bboxes"], torch.cat([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], 1),
                          atol=1e-5)


def test_a_batch_staged_from_host_memory_is_the_same_batch(shapes):
    """The host store's batches (gathered and staged ahead by a thread) hand over the batch's own images: the same
    pixels and boxes as the resident store gives for the same draws (partners drawn from the batch)."""
    ds, cfg = dataset(shapes, 96, mosaic=0.0)
    store = stores.build(ds, CPU, "gpu", threads=2)
    ds_host, _ = dataset(shapes, 96, mosaic=0.0)
    host = stores.build(ds_host, CPU, "host", threads=2)
    assert not host.resident and torch.equal(host.images, store.images)
    ld = IndexLoader(ds_host, host, batch_size=5, device=CPU, seed=2)
    aug = GpuAugment.from_args(cfg)
    seen = []
    for batch in ld:
        idx = batch["store_idx"]
        assert torch.equal(batch["store_images"], store.images[idx])
        local = torch.arange(idx.numel())
        a = aug.augment(store.images[idx], store.hw[idx], images.batch_boxes(store.boxes, idx), local, local,
                        torch.Generator().manual_seed(1))
        b = aug.augment(batch["store_images"], host.hw[idx], images.batch_boxes(host.boxes, idx), local, local,
                        torch.Generator().manual_seed(1))
        assert torch.equal(a["img"], b["img"]) and torch.allclose(a["bboxes"], b["bboxes"])
        seen += idx.tolist()
    assert sorted(seen) == list(range(len(store)))


JPEG_MEAN_LEVELS = 3.0  # re-encoding at quality 95: mean absolute change per pixel and channel of one image, in
# 0-255 levels (COCO128 at 640 px: 0.66 on average, 1.59 at most; the synthetic shapes, all sharp edges: up to 2.2;
# photos shrunk to 96 px are all edges too: about 6, so the photos are checked at 320 px)


@pytest.mark.parametrize("which,imgsz", [("shapes", 96), ("coco8", 320)])
def test_the_jpeg_store_decodes_to_what_ultralytics_loads(which, imgsz, request):
    """Each image re-encoded once at its loaded size and decoded (here by libjpeg-turbo, on a GPU by nvJPEG): the
    same size, at the top left of FILL, pixels within JPEG_MEAN_LEVELS on average; about a tenth of the bytes."""
    ds, _ = dataset(request.getfixturevalue(which), imgsz)
    js = stores.build(ds, CPU, "jpeg", threads=2)
    assert isinstance(js, jpeg.JpegStore) and len(js) == len(ds.im_files) and not js.resident
    assert js.nbytes < stores.decoded_bytes(len(js), imgsz) / 3
    ds2, _ = dataset(request.getfixturevalue(which), imgsz)
    idx = torch.arange(len(js))
    got = js.decode(idx, CPU)
    for i in range(len(js)):
        im, _, (h, w) = ds2.load_image(i)
        assert tuple(js.hw[i].tolist()) == (h, w)
        diff = np.abs(got[i, :h, :w].numpy().astype(int) - im[..., ::-1].astype(int))
        assert diff.mean() <= JPEG_MEAN_LEVELS, (i, diff.mean())
        assert (got[i, h:].numpy() == FILL).all() and (got[i, :, w:].numpy() == FILL).all()
    staged = [b for b in IndexLoader(ds2, js, batch_size=4, device=CPU, seed=0)]
    assert all(torch.equal(b["store_images"], got[b["store_idx"]]) for b in staged)


def test_the_store_lets_ultralytics_ram_cache_go(shapes):
    """The decoded images are kept once: Ultralytics' own RAM cache of them is emptied after the store is built."""
    from ultralytics.cfg import get_cfg
    from ultralytics.data.build import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    dd = check_det_dataset(str(shapes))
    ds = build_yolo_dataset(get_cfg(overrides={"imgsz": 96, "cache": "ram"}), dd["train"], 8, dd, mode="train")
    assert ds.ims[0] is not None
    store = stores.build(ds, CPU, "gpu", threads=2)
    assert all(im is None for im in ds.ims) and len(store) == len(ds.im_files)


def test_the_store_and_the_workers_batches_render_the_same_pixels(shapes):
    """The same draws from the store and from a collated batch of the same images give the same output."""
    ds, cfg = dataset(shapes, 96)
    store = stores.build(ds, CPU, "gpu", threads=2)
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
    store = stores.build(ds, CPU, "gpu", threads=2)
    idx = torch.tensor([2, 7, 11, 19])
    aug = GpuAugment.from_args(cfg)
    kw = dict(out_dtype=torch.float32, channels_last=True)
    e = aug.augment(*resident(store, idx), torch.Generator().manual_seed(2), **kw)
    c = aug.augment(*resident(store, idx), torch.Generator().manual_seed(2), compiled=True, **kw)
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
    c = stores.choose("auto", 100, 640, CPU)
    assert c.mode == "gpu" and "100 images" in c.why and "CPU" in c.why


GIB = 2**30
CUDA = torch.device("cuda")


@pytest.fixture
def machine(monkeypatch):
    """A GPU machine with the free GPU memory and available host memory a test sets (no GPU needed)."""
    state = {"gpu": 80 * GIB, "host": 500 * GIB, "nvjpeg": True}
    monkeypatch.setattr(stores, "gpu_free", lambda device: state["gpu"])
    monkeypatch.setattr(stores, "host_available", lambda: state["host"])
    monkeypatch.setattr(stores, "nvjpeg_works", lambda device: state["nvjpeg"])
    return state


def test_auto_takes_the_first_store_that_fits(machine):
    """6144 images at 640 px are 7.0 GiB decoded: the GPU while that is within 35% of its free memory, then pinned
    host memory, then JPEG, then Ultralytics' own loader; each choice says why."""
    n = 6144
    need = stores.decoded_bytes(n, 640)
    assert stores.choose("auto", n, 640, CUDA).mode == "gpu"
    machine["gpu"] = int(need / stores.GPU_SHARE) - 1  # a 16 GB card
    c = stores.choose("auto", n, 640, CUDA)
    assert c.mode == "host" and "35%" in c.why
    machine["host"] = int(need / stores.HOST_SHARE) - 1
    c = stores.choose("auto", n, 640, CUDA)
    assert c.mode == "jpeg" and "decoded on the GPU" in c.why
    machine["nvjpeg"] = False
    c = stores.choose("auto", n, 640, CUDA)
    assert c.mode == "off" and "Ultralytics' own loader" in c.why
    machine["host"] = 1 * GIB
    machine["nvjpeg"] = True
    assert stores.choose("auto", n, 640, CUDA).mode == "off"  # not even the JPEG bytes fit


def test_a_forced_store_runs_or_says_what_to_choose(machine):
    n = 6144
    machine["gpu"] = 10 * GIB  # 7 GiB fits, beyond the share: forced is obeyed
    assert stores.choose("gpu", n, 640, CUDA).mode == "gpu"
    machine["gpu"] = 4 * GIB
    with pytest.raises(stores.StoreError, match="choose 'auto', 'host' or 'jpeg'"):
        stores.choose("gpu", n, 640, CUDA)
    assert stores.choose("host", n, 640, CUDA).mode == "host"
    assert stores.choose("off", n, 640, CUDA).mode == "off"
    machine["nvjpeg"] = False
    with pytest.raises(stores.StoreError, match="nvJPEG"):
        stores.choose("jpeg", n, 640, CUDA)
    with pytest.raises(stores.StoreError, match="choose one of"):
        stores.choose("disk", n, 640, CUDA)


def test_ranks_on_one_host_share_its_memory(machine):
    """Each training process of a host builds its own store: with 4 of them a host store gets a quarter of the share."""
    n = 6144
    need = stores.decoded_bytes(n, 640)
    machine["gpu"] = 4 * GIB  # too small for the set: the host decides
    machine["host"] = int(need / stores.HOST_SHARE) + GIB  # room for one process's store, not four
    assert stores.choose("auto", n, 640, CUDA, sharers=1).mode == "host"
    assert stores.choose("auto", n, 640, CUDA, sharers=4).mode == "jpeg"
    machine["host"] = need + GIB
    with pytest.raises(stores.StoreError, match="for each of its 4 training processes"):
        stores.choose("host", n, 640, CUDA, sharers=4)


def test_a_card_size_can_be_pretended(monkeypatch):
    """CARD_GIB caps the free memory the choice sees at what a smaller card would have (the 16 GB case)."""
    monkeypatch.setattr(stores.torch.cuda, "mem_get_info", lambda device: (130 * GIB, 140 * GIB))
    assert stores.gpu_free(CUDA) == 130 * GIB
    monkeypatch.setattr(stores, "CARD_GIB", 16.0)
    assert stores.gpu_free(CUDA) == 6 * GIB  # 16 GiB less the 10 GiB this process already uses


def test_what_the_gpu_pipeline_would_ignore_sends_the_run_to_the_workers():
    base = dict(mixup=0.0, cutmix=0.0, perspective=0.0, multi_scale=0.0, rect=False, task="detect", copy_paste=0.0)
    assert "bgr=0.5" in gpu_augment.unsupported(SimpleNamespace(**base, bgr=0.5))
    gray = SimpleNamespace(labels=[], data={"channels": 1})
    assert "channels=1" in gpu_augment.unsupported(SimpleNamespace(**base, bgr=0.0), gray)


def test_the_shuffle_follows_the_epoch_the_trainer_names(shapes):
    """A resumed run (the trainer calls set_epoch) continues the order of its epoch instead of starting over."""
    ds, _ = dataset(shapes, 96)
    store = stores.build(ds, CPU, "gpu", threads=2)
    a = IndexLoader(ds, store, batch_size=6, device=CPU, seed=1)
    first, second = [torch.cat([x["store_idx"] for x in a]) for _ in range(2)]
    b = IndexLoader(ds, store, batch_size=6, device=CPU, seed=1)
    b.sampler.set_epoch(1)
    assert torch.equal(torch.cat([x["store_idx"] for x in b]), second)
    assert torch.equal(torch.cat([x["store_idx"] for x in b]), second)  # told: stays at the trainer's epoch
    b.close()
    assert b.store is None
