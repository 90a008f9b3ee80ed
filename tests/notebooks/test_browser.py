"""The JupyterLab walkthrough in a real browser: start JupyterLab on localhost, open notebook 05 in headless
Chromium (Playwright), run all cells, check that the widget panel renders and that changing a value reaches the
kernel, and save a screenshot (runs/browser/). `make setup` installs the distribution's Chromium where it can; with
CI=true a missing browser fails the run instead of skipping it."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from helpers.core import paths

pytestmark = pytest.mark.slow
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", shutil.which("chromium") or "",
                             shutil.which("chromium-browser") or "", shutil.which("google-chrome") or "") if p and os.path.exists(p)), None)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """JupyterLab serving a copy of notebook 05 (autosave must never touch the repo's notebooks)."""
    root = tmp_path / "lab"
    root.mkdir()
    import nbformat

    from helpers.workbook.runner import kernel_name

    nb = nbformat.read(paths.NOTEBOOKS / "05_monitoring.ipynb", as_version=4)
    nb.metadata["kernelspec"] = {"name": kernel_name(), "display_name": kernel_name(), "language": "python"}
    nbformat.write(nb, root / "05_monitoring.ipynb")  # the workbook's kernel, as `make lab` users get it
    port, token = _port(), "workbook-test"
    env = {k: v for k, v in os.environ.items() if k != "WORKBOOK_HEADLESS"}
    env.update(WORKBOOK_PROFILE="quick", WORKBOOK_RUNS=str(tmp_path / "runs"), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"))
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                             f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--allow-root",
                             "--LabApp.news_url=", "--LabServerApp.announcements_url="],
                            stdout=open(tmp_path / "lab.log", "w"), stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("JupyterLab exited:\n" + (tmp_path / "lab.log").read_text()[-2000:])
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text()[-2000:])
    yield f"{url}/lab/tree/05_monitoring.ipynb?token={token}"
    os.killpg(proc.pid, 15)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)


def need_chromium() -> str:
    """The browser's path; a skip without one, but a failure in CI, where set-up must have installed it."""
    if CHROMIUM is None:
        why = "no Chromium here: `make setup` installs it as root (apt-get install chromium)"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(why + " — CI=true: the browser test must run, not skip")
        pytest.skip(why)
    return CHROMIUM


def test_notebook_05_runs_in_jupyterlab_and_the_panel_reacts(lab):
    from playwright.sync_api import expect, sync_playwright

    chromium = need_chromium()

    shots = paths.runs_dir() / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(lab)
            page.locator(".jp-NotebookPanel").first.wait_for(timeout=90_000)
            select = page.get_by_role("button", name="Select", exact=True)
            try:  # JupyterLab asks when it cannot match the notebook's kernel by itself
                select.wait_for(timeout=5_000)
                select.click()
            except Exception:
                pass
            expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(1, timeout=90_000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_text("Run All Cells", exact=True).click()
            # the last cell records the number of samples: the whole notebook ran (the recorded GPU run's tables,
            # rendered as Markdown above, quote the same line)
            last = page.locator(".jp-OutputArea-output[data-mime-type='text/plain']", has_text="[recorded] samples:")
            expect(last).to_be_visible(timeout=300_000)
            assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                has_text="Traceback").count() == 0
            derived = page.locator("code.workbook-derived")
            expect(derived).to_contain_text("nbs=16; batch chosen by the memory planner")  # quick: micro-batch 0
            page.locator(".widget-dropdown", has_text="micro-batch").locator("select").select_option(label="8")
            page.locator(".widget-dropdown", has_text="effective batch").locator("select").select_option(label="64")
            expect(derived).to_contain_text("batch=8, nbs=64 -> 8 x 8 = 64 images per step", timeout=30_000)
            expect(page.locator("b", has_text="What limits this run")).to_be_visible()  # the live verdict table
            # the Train button runs in a thread (the kernel stays free), Stop ends it after the current epoch
            panel = page.locator(".jupyter-widgets", has_text="monitored run").first
            panel.get_by_role("button", name="Train").click()
            panel.get_by_role("button", name="Stop").click()
            done = panel.get_by_text(re.compile(r"finished: [12] epoch\(s\), stopped by the Stop button"))
            expect(done).to_be_visible(timeout=180_000)
            # the panel shows that run's own figures: its plan (the changed values), losses, mAP and curves
            expect(panel.get_by_text(re.compile(r"batch=8, nbs=64 -> 8 x 8 = 64 per step"))).to_be_visible(timeout=60_000)
            expect(panel.get_by_text(re.compile(r"last epoch: train loss box_loss"))).to_be_visible(timeout=60_000)
            expect(panel.locator("img")).to_have_count(1, timeout=60_000)
            page.locator(".jupyter-widgets", has_text="monitored run").first.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "05_monitoring_panel.png"))
        except Exception:
            page.screenshot(path=str(shots / "05_monitoring_failure.png"))
            raise
        finally:
            browser.close()
