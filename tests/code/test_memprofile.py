"""The saved-for-backward profiler: every byte is attributed once, checkpointing removes a layer's saved
activations, and the figures grow linearly with the batch."""

import torch

from helpers.measure import memprofile
from helpers.train import probe


def _model(checkpoint=""):
    torch.manual_seed(0)
    return probe.training_model("yolo12n.yaml", torch.device("cpu"), checkpoint, nc=5)


def _batch(n):
    b = probe.fake_batch(n, 96, 3, 5, torch.device("cpu"), torch.Generator().manual_seed(0))
    return dict(b, img=b["img"].float() / 255)


def test_bytes_are_attributed_to_layers_and_scale_with_batch():
    rows = {n: memprofile.saved_by_layer(_model(), _batch(n)) for n in (1, 2, 3)}
    assert {"Conv", "C3k2", "A2C2f", "Detect"} <= {r.kind for r in rows[1]}
    t1, t2, t3 = (sum(r.saved_gib for r in rows[n]) for n in (1, 2, 3))
    # saved = weights (constant: convolutions keep their weight for the input gradient) + activations x batch
    assert t2 > t1 and abs((t3 - t2) / (t2 - t1) - 1) < 0.05
    rows2 = rows[2]
    a2c2f = memprofile.by_kind(rows2)["A2C2f"]
    assert a2c2f > 0 and abs(sum(memprofile.by_kind(rows2).values()) - t2) < 1e-9


def test_checkpointing_removes_saved_activations():
    full = memprofile.by_kind(memprofile.saved_by_layer(_model(), _batch(2)))
    lean = memprofile.by_kind(memprofile.saved_by_layer(_model("attention"), _batch(2)))
    assert lean.get("A2C2f", 0) < 0.25 * full["A2C2f"]  # only what the recomputation needs stays
    assert abs(lean["C3k2"] - full["C3k2"]) < 1e-9  # layers left alone are unchanged
    assert "layer" in memprofile.table(memprofile.saved_by_layer(_model(), _batch(1)), top=3).to_markdown()
