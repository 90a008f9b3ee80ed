import pytest

from helpers.core import profiles


def test_quick_is_default_without_cuda(monkeypatch):
    monkeypatch.delenv(profiles.ENV_VAR, raising=False)
    monkeypatch.setattr(profiles, "cuda_available", lambda: False)
    assert profiles.default_name() == "quick"
    monkeypatch.setattr(profiles, "cuda_available", lambda: True)
    assert profiles.default_name() == "gpu"


def test_env_var_chooses_profile(monkeypatch):
    monkeypatch.setenv(profiles.ENV_VAR, "full")
    assert profiles.active().name == "full"


def test_unknown_profile_is_a_clear_error():
    with pytest.raises(KeyError, match="choose one of"):
        profiles.get("fast")


def test_quick_profile_is_small():
    q = profiles.get("quick")
    assert q.imgsz <= 160 and q.epochs <= 3 and q.n_train <= 64 and q.device == "cpu"


def test_resolve_takes_only_real_overrides():
    base = profiles.get("quick")
    # Papermill injected profile="gpu" but left the other values as the quick defaults: they come from gpu.
    p = profiles.resolve("gpu", base=base, imgsz=base.imgsz, epochs=base.epochs)
    assert p == profiles.get("gpu")
    # An explicitly changed value wins.
    p = profiles.resolve("gpu", base=base, imgsz=320)
    assert p.imgsz == 320 and p.batch == 256


def test_replace_rejects_unknown_fields_and_coerces_strings():
    p = profiles.get("quick")
    with pytest.raises(KeyError, match="accumulate"):
        p.replace(accumulate=4)
    assert p.replace(imgsz="96").imgsz == 96
    assert p.replace(cache="false").cache is False


def test_parse_assignments():
    assert profiles.parse_assignments(["imgsz=96", "cache=false", "device=0,1"]) == {
        "imgsz": 96, "cache": False, "device": "0,1"}
    with pytest.raises(ValueError, match="NAME=VALUE"):
        profiles.parse_assignments(["imgsz"])
