import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.core import offline


def test_import_sets_yolo_offline():
    assert os.environ.get("YOLO_OFFLINE") == "1"
    from ultralytics.utils import ONLINE

    assert ONLINE is False


def test_online_opt_in_in_a_fresh_process():
    code = "import os, helpers; print(helpers.OFFLINE, os.environ.get('YOLO_OFFLINE'))"
    env = {k: v for k, v in os.environ.items() if k != "YOLO_OFFLINE"}
    out = subprocess.run([sys.executable, "-c", code], env=dict(env, WORKBOOK_ONLINE="1"),
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "None"]


def test_missing_weights_is_a_clear_error(tmp_path):
    with pytest.raises(offline.OfflineError, match=r"yolo12n\.yaml"):
        offline.require_local("yolo12n.pt")
    f = tmp_path / "w.pt"
    f.write_bytes(b"x")
    assert offline.require_local(f) == f


def test_fonts_are_local_so_nothing_is_fetched(monkeypatch, tmp_path):
    """On a fresh machine (an empty Ultralytics config dir) a font asked for before install_fonts() ran (another
    test, another module) must not stay missing: check_font caches its answers, install_fonts forgets them."""
    import requests
    from matplotlib import font_manager
    from ultralytics.utils import checks
    from ultralytics.utils.checks import check_font

    monkeypatch.setattr(checks, "USER_CONFIG_DIR", tmp_path / "Ultralytics")  # as on a fresh machine
    monkeypatch.setattr(font_manager.fontManager, "ttflist", [])  # no system Arial to fall back on
    unwrapped = getattr(check_font, "__wrapped__", check_font)
    unwrapped.cache_clear()
    reached = []

    def no_network(*a, **k):
        reached.append(a)
        raise ConnectionError("offline")

    monkeypatch.setattr(requests, "head", no_network)
    monkeypatch.setattr(requests, "get", no_network)
    assert check_font("Arial.ttf") is None  # asked too early: nothing local, nothing fetched, and cached
    reached.clear()
    placed = offline.install_fonts()
    assert [p.parent for p in placed] == [tmp_path / "Ultralytics"] * 2
    assert check_font("Arial.ttf") == tmp_path / "Ultralytics" / "Arial.ttf"
    assert check_font("Arial.Unicode.ttf").exists()
    assert reached == []
    unwrapped.cache_clear()  # later tests see the real config dir again


def test_downloads_are_refused_before_any_network_call(monkeypatch):
    import requests
    import ultralytics.utils.downloads as downloads
    from ultralytics.data.utils import check_det_dataset

    def no_network(*a, **k):
        raise AssertionError("tried to reach the network")

    monkeypatch.setattr(requests, "head", no_network)
    monkeypatch.setattr(requests, "get", no_network)
    monkeypatch.setattr(downloads, "safe_download", downloads.safe_download)  # restored after the test
    import ultralytics.data.utils as data_utils

    monkeypatch.setattr(data_utils, "safe_download", data_utils.safe_download)
    assert offline.block_downloads()
    with pytest.raises(offline.OfflineError, match="offline"):
        downloads.attempt_download_asset("yolo12n.pt")
    with pytest.raises(offline.OfflineError, match="Not downloading .*coco8.zip"):
        check_det_dataset("coco8.yaml")  # a built-in dataset name Ultralytics would fetch


def test_ultralytics_settings_and_fonts_stay_in_the_workbooks_cache(tmp_path):
    """A fresh process on a home with nothing set: Ultralytics' config folder (its settings.json, which can hold an
    API key, and the fonts) is the runs folder's cache; no Ultralytics folder appears in the home."""
    home, runs = tmp_path / "home", tmp_path / "runs"
    home.mkdir()
    code = ("import helpers; from helpers.core import offline; "
            "from ultralytics.utils import USER_CONFIG_DIR, SETTINGS; offline.install_fonts(); "
            "print(USER_CONFIG_DIR, SETTINGS.file_path)")
    env = {k: v for k, v in os.environ.items() if k not in ("YOLO_CONFIG_DIR", "HOME", "XDG_CONFIG_HOME")}
    out = subprocess.run([sys.executable, "-c", code], env=dict(env, HOME=str(home), WORKBOOK_RUNS=str(runs)),
                         capture_output=True, text=True, check=True).stdout.splitlines()[-1].split()
    config, settings = map(Path, out)
    assert config.is_relative_to(runs / "cache") and settings.parent == config, out
    assert not [p for p in home.rglob("*") if "ultralytics" in p.name.lower()] and (config / "Arial.ttf").exists()
