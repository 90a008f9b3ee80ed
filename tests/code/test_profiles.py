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


def test_a_profile_reads_its_override_else_the_plans_default():
    import dataclasses

    from helpers.train.plan import TrainPlan

    q = profiles.get("quick")
    assert (q.batch, q.nbs) == (8, 16)  # overrides
    defaults = {f.name: f.default for f in dataclasses.fields(TrainPlan)}
    assert "attention" not in q.overrides and q.attention == defaults["attention"]
    assert q.lr_rule == defaults["lr_rule"] and q.seed == defaults["seed"]
    with pytest.raises(AttributeError, match="did you mean 'batch'"):
        q.bach


def test_an_override_of_no_plan_field_is_refused_with_the_closest_name():
    with pytest.raises(KeyError, match="'micro_batch' \\(did you mean 'batch'\\?\\)"):
        profiles.Profile("x", "a typo", overrides={"micro_batch": 4})
    with pytest.raises(KeyError, match="did you mean 'attention'"):
        profiles.get("quick").replace(attention_backend="stock")
    with pytest.raises(KeyError, match="own settings"):
        profiles.Profile("x", "a clash", overrides={"n_train": 4})
    for p in profiles.PROFILES.values():
        p.check()  # the workbook's own profiles name only plan fields


def test_full_is_gpu_with_exactly_its_written_differences():
    gpu, full = profiles.get("gpu"), profiles.get("full")
    own = {k for k in profiles.Profile.own() if getattr(gpu, k) != getattr(full, k)}
    assert own == {"name", "description", "n_train", "n_val", "notebook_timeout_s"}
    changed = {k for k in {*gpu.overrides, *full.overrides} if gpu.overrides.get(k) != full.overrides.get(k)}
    assert changed == {"epochs"} and full.epochs == 600


def test_the_plan_is_the_plans_defaults_with_the_profiles_overrides(tmp_path, monkeypatch):
    import dataclasses

    from helpers.train import planner
    from helpers.train.plan import TrainPlan

    monkeypatch.setattr("helpers.data.sources.choose", lambda source, profile: tmp_path / "data.yaml")
    monkeypatch.setattr("helpers.data.sources.count_images", lambda data, split: 2048)  # enough for the step floor
    gpu = profiles.get("gpu").replace(sync_bn=True)  # a trick's option overridden like any field
    plan = planner.from_profile(gpu)
    for f in dataclasses.fields(TrainPlan):
        if f.name in ("data", "train_images", "workers"):
            continue
        want = gpu.overrides.get(f.name, getattr(TrainPlan(), f.name))
        assert getattr(plan, f.name) == want, f.name
    assert plan.workers == planner.auto_workers(plan.device)  # workers=-1: sized from the cores
    assert planner.profile_values(gpu) == gpu.overrides


def test_the_profiles_command_shows_each_set_field(capsys):
    from helpers.__main__ import main

    assert main(["profiles"]) == 0
    out = capsys.readouterr().out
    assert "| nbs | 16 | 256 | 256 |" in out and "| effective_batch | 16 | 256 | 256 |" in out
    assert "| epochs | 3 | 30 | 600 |" in out
