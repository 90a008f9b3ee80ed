"""Each patch or copy of Ultralytics code was written against one upstream body: fail when that body changes."""

import importlib
import warnings

import pytest

from helpers.tricks import upstream

MODULES = ("helpers.tricks.attention", "helpers.tricks.checkpointing", "helpers.tricks.cpu_ddp", "helpers.train.distributed",
           "helpers.train.trainer", "helpers.data.label_cache")


@pytest.fixture(autouse=True)
def stock_classes():
    """Ultralytics' own forwards in place while hashing (another test may have left a patch installed)."""
    from helpers.tricks import attention, checkpointing

    saved, wrapped = attention.state(), list(checkpointing._ORIGINAL)
    attention.unpatch()
    checkpointing.uninstall()
    yield
    attention.restore(saved)
    checkpointing._install(wrapped)


@pytest.mark.parametrize("module", MODULES)
def test_the_patched_upstream_functions_are_the_ones_the_patches_were_written_for(module):
    m = importlib.import_module(module)
    assert m.UPSTREAM and m.WRITTEN_FOR
    for name in upstream.changed(m.UPSTREAM):
        got = upstream.source_hash(upstream.resolve(name))
        pytest.fail(f"{name} changed upstream (sha256 {got}): re-check the patch in {module} against the new "
                    "upstream body, then update the hash in its UPSTREAM table")


@pytest.mark.parametrize("module", MODULES)
def test_written_for_the_installed_minor(module):
    import ultralytics

    assert importlib.import_module(module).WRITTEN_FOR == upstream.major_minor(ultralytics.__version__), (
        f"{module} was written for another Ultralytics: re-check its patches, then update WRITTEN_FOR")


def test_another_minor_warns_once_naming_the_patch(monkeypatch):
    import ultralytics

    monkeypatch.setattr(ultralytics, "__version__", "9.0.1")
    monkeypatch.setattr(upstream, "_WARNED", set())
    with pytest.warns(RuntimeWarning, match="some.patch was written for Ultralytics 8.4.x, this is 9.0.1"):
        assert not upstream.check_version("8.4", "some.patch")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not upstream.check_version("8.4", "some.patch")  # once per patch
    monkeypatch.setattr(ultralytics, "__version__", "8.4.7")
    assert upstream.check_version("8.4", "other.patch")


def test_a_changed_body_is_reported(monkeypatch):
    table = {"helpers.tricks.upstream.major_minor": "0" * 64}
    assert upstream.changed(table) == ["helpers.tricks.upstream.major_minor"]
    table = {"helpers.tricks.upstream.major_minor": upstream.source_hash(upstream.major_minor)}
    assert upstream.changed(table) == []


def test_a_workbook_wrapper_in_place_hashes_as_the_function_it_wraps(tmp_path, monkeypatch):
    from ultralytics.data import dataset as ds

    from helpers.data import label_cache

    monkeypatch.setenv("WORKBOOK_RUNS", str(tmp_path))
    assert label_cache.install()
    assert ds.load_dataset_cache_file.__name__ == "load_elsewhere"
    assert upstream.resolve("ultralytics.data.dataset.load_dataset_cache_file") is \
        upstream.resolve("ultralytics.data.utils.load_dataset_cache_file")
