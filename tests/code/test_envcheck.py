import importlib

from helpers.workbook import envcheck


def test_bf16_and_flash_follow_compute_capability():
    t4 = envcheck.GPU(0, "Tesla T4", 15.0, (7, 5))
    a100 = envcheck.GPU(0, "A100", 80.0, (8, 0))
    h100 = envcheck.GPU(0, "H100", 80.0, (9, 0))
    assert not t4.bf16_tensor_cores and not t4.flash_attn_ok
    assert a100.bf16_tensor_cores and h100.bf16_tensor_cores and h100.flash_attn_ok


def test_collect_on_this_machine():
    env = envcheck.collect()
    assert env.torch and env.ultralytics.startswith("8.4")
    assert env.offline and env.cpu_cores >= 1 and env.ram_gib > 0
    assert len(env.gpus) == (len(env.gpus) if env.cuda_available else 0)
    md = env.facts().to_markdown()
    assert "Ultralytics" in md and "CPU cores" in md


def test_missing_and_broken_packages(monkeypatch):
    assert envcheck.probe_package("no_such_mod", "no-such-dist-xyz").version is None
    real = importlib.import_module

    def fake(name, *a, **k):
        if name == "yaml":
            raise OSError("libfoo.so: undefined symbol: _ZN3c10\nsecond line")
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", fake)
    p = envcheck.probe_package("yaml", "pyyaml")
    assert p.version and not p.usable
    assert p.error == "OSError: libfoo.so: undefined symbol: _ZN3c10"  # one line, no traceback


def fake_env(gpus, missing=()):
    env = envcheck.collect()
    env.gpus = gpus
    env.cuda_available = bool(gpus)
    for m in missing:
        env.packages[m] = envcheck.Package(m, None)
    return env


def test_verdicts_without_gpu_say_quick_and_how_to_fix():
    v = {x.notebook: x for x in envcheck.verdicts(fake_env([], missing=("onnxruntime", "tensorrt")), only_present=False)}
    assert v["02_train_b256"].runs == "quick (CPU)"
    assert "pip install -e '.[export]'" in v["06_export_tensorrt"].fix
    assert "onnxruntime" in v["06_export_tensorrt"].missing


def test_verdicts_on_small_and_large_gpus():
    small = {x.notebook: x for x in envcheck.verdicts(fake_env([envcheck.GPU(0, "T4", 15.0, (7, 5))]), only_present=False)}
    assert "accumulation" in small["02_train_b256"].missing
    big = {x.notebook: x for x in envcheck.verdicts(fake_env([envcheck.GPU(0, "H100", 79.0, (9, 0))]), only_present=False)}
    assert big["02_train_b256"].missing == "" and "gpu" in big["02_train_b256"].runs


def test_verdicts_list_only_notebooks_that_exist():
    names = [v.notebook for v in envcheck.verdicts(envcheck.collect())]
    assert names and all((envcheck.paths.NOTEBOOKS / f"{n}.ipynb").exists() for n in names)


def test_versions_say_when_the_installed_ones_differ_from_the_lock_and_the_records():
    locked = {"ultralytics": "8.4.190", "numpy": "2.4.6"}
    rows = {r[0]: r for r in envcheck.version_rows(
        installed={"ultralytics": "8.4.200", "torch": "2.11.0+cu130", "numpy": "2.4.6", "opencv-python": None,
                   "pillow": "13.0.0", "matplotlib": "3.11.2"}, locked=locked)}
    assert rows["ultralytics"][4].startswith("differs from the lock")
    assert rows["torch"][4] == "as recorded" and rows["numpy"][4] == "as recorded"
    assert rows["opencv-python"][4] == "missing"
    assert "the GPU results were recorded with 2.11.0+cu130" in envcheck.version_rows(
        installed={"torch": "2.14.1"}, locked={})[1][4]
    assert envcheck.locked_versions()["ultralytics"] == "8.4.190"  # the lock the set-up installs from


def test_the_chapter_that_reads_records_runs_anywhere_right_after_02():
    """02b trains nothing: it runs on any machine, GPU or not, and its row follows notebook 02's."""
    for gpus in ([], [envcheck.GPU(0, "T4", 15.0, (7, 5))], [envcheck.GPU(0, "H100", 79.0, (9, 0))]):
        rows = envcheck.verdicts(fake_env(gpus), only_present=False)
        names = [v.notebook for v in rows]
        row = rows[names.index("02b_when_b256_pays")]
        assert row.runs.startswith("yes") and row.missing == "" and row.fix == ""
        assert names.index("02b_when_b256_pays") == names.index("02_train_b256") + 1
    assert "02b_when_b256_pays" in [v.notebook for v in envcheck.verdicts(envcheck.collect())]  # the notebook exists
