"""A lecture in a real browser: JupyterLab headless, Debian's Chromium driven by Playwright.

The test copies ``lectures/`` to a temporary folder, starts JupyterLab on a free port with a
fixed token, opens lecture 1, runs all its cells, moves the flip-and-filter slider one step with
the keyboard, and checks that the displayed figure and caption change. A screenshot is kept in
``test-artifacts/`` (git-ignored). Without Chromium or Playwright the test skips on a user's
machine and fails in CI (``.ci/run`` installs Chromium).

Playwright's own browser download is never used: Chromium comes from the system package.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, skip_or_fail

pytestmark = pytest.mark.browser

TOKEN = "course-browser-test"
LECTURE = "01_convolution_1d.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SERVER_START_S = 90
RUN_ALL_S = 240


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with code {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer within {SERVER_START_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def lab(tmp_path: Path):
    """A headless JupyterLab serving a copy of lectures/; yields its base URL, stops it by PID."""
    root = tmp_path / "lectures"
    shutil.copytree(ROOT / "lectures", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    port = free_port()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), CUDA_VISIBLE_DEVICES="")
    env.pop("MPLBACKEND", None)  # the kernel must draw with the inline backend
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip", "127.0.0.1",
           f"--port={port}", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
           f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
           f"--LabApp.user_settings_dir={tmp_path / 'settings'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = tmp_path / "jupyter.log"
    with open(log, "wb") as out:
        # A session of its own, so the kernels it starts can be stopped with it.
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(f"{base}/api/status?token={TOKEN}", proc, log)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed (pip install -e '.[test]')")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        skip_or_fail("Debian's chromium is not installed (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def wait_for_kernel(base: str) -> None:
    """Until the server reports the notebook's kernel as idle (started and connected)."""
    import json

    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base}/api/sessions?token={TOKEN}", timeout=5) as response:
            sessions = json.load(response)
        if any(s.get("kernel", {}).get("execution_state") == "idle" for s in sessions):
            return
        time.sleep(0.5)
    pytest.fail(f"the kernel of {LECTURE} did not start within {SERVER_START_S} s")


# The demo's caption (an HTML widget whose text starts "y[t] = ...") and its figure's image source.
SHOWN_JS = """(old) => {
    const caption = [...document.querySelectorAll('.widget-html-content')]
        .find(e => e.textContent.includes('y['));
    const image = document.querySelector('img.widget-image');
    if (!caption || !image || !image.src || caption.textContent === old) return null;
    return [caption.textContent, image.src];
}"""


def shown(page, changed_from: str | None) -> tuple[str, str]:
    """Wait until the demo shows a caption (different from ``changed_from``); return it and the src."""
    return page.wait_for_function(SHOWN_JS, arg=changed_from, timeout=30_000).json_value()


def run_all_cells(page) -> None:
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-item[data-command='runmenu:run-all']")


def test_lecture_slider_changes_the_figure(lab: str, browser):
    page = browser.new_page(viewport={"width": 1300, "height": 950})
    page.set_default_timeout(60_000)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "browser_failure.png").unlink(missing_ok=True)
    try:
        check_slider(page, lab)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "browser_failure.png"))
        raise


def check_slider(page, lab: str) -> None:
    page.goto(f"{lab}/lab/tree/{LECTURE}?token={TOKEN}")
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    wait_for_kernel(lab)  # so no cell is sent to a kernel that is still starting
    news = page.get_by_role("button", name="No", exact=True)  # the "Jupyter news?" toast
    if news.count():
        news.first.click()
    run_all_cells(page)

    page.wait_for_selector(".widget-slider .noUi-handle", timeout=RUN_ALL_S * 1000)
    # Let "Run All" finish first: while it runs, JupyterLab moves the focus from cell to cell.
    page.wait_for_function("() => ![...document.querySelectorAll('.jp-InputArea-prompt')]"
                           ".some(p => p.innerText.includes('*'))", timeout=RUN_ALL_S * 1000)
    before_text, before_src = shown(page, changed_from=None)
    assert "y[0]" in before_text, before_text

    handle = page.locator(".widget-slider .noUi-handle").first
    handle.click()  # scrolls it into view and focuses it; a click on the handle itself moves nothing
    assert "y[0]" in shown(page, changed_from=None)[0], "clicking the handle moved the slider"
    page.keyboard.press("ArrowRight")
    after_text, after_src = shown(page, changed_from=before_text)

    page.locator(".widget-vbox").first.screenshot(path=str(ARTIFACTS / "browser_01_flip_and_filter.png"))
    page.screenshot(path=str(ARTIFACTS / "browser_01_lab.png"))

    assert "y[1]" in after_text and after_text != before_text
    assert after_src and after_src != before_src, "the figure did not change when the slider moved"
    # No cell may have printed an error.
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert errors.count() == 0, errors.first.inner_text()
