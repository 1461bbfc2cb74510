"""The course in a real browser: JupyterLab headless, Debian's Chromium driven by Playwright.

One JupyterLab serves the whole module. It is started with the command line of the students'
``python3 tasks.py lab`` (``tasks.lab_command``: the student configuration, nbgrader's tools
off) on a temporary copy of the course (lectures/, assignments/, jupyter_config/, and
checkpoints/ when there is one), on a free port with a fixed token. Then, one at a time:

* every ``lectures/*.ipynb`` (a new lecture joins by itself) is opened and left alone for
  5 seconds: its tab must not turn dirty and the file must not change, with autosave set to
  every 2 seconds (so a notebook whose metadata JupyterLab rewrites on opening is caught);
  then it runs all its cells (no error or stderr output may appear), and the first slider or
  dropdown of its widgets moves a step at a time (at most 5) until the widget's figure changes.
  The time from key press to new figure and each lecture's run-all time go to
  ``test-artifacts/browser_timings.json``; ``browser_<lecture>_lab.png`` (after Run All) and
  ``browser_<lecture>_widget.png`` (the moved widget) to ``test-artifacts/``;
* problem set 1 gets its first answer typed in (the solution's code), runs, and its visible
  test cell must say that the tests pass.

Screenshots go to ``test-artifacts/`` (git-ignored). Without Chromium or Playwright the tests
skip on a user's machine and fail in CI (``.ci/run`` installs Chromium). Playwright's own
browser download is never used: Chromium comes from the system package.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, skip_or_fail

pytestmark = pytest.mark.browser

TOKEN = "course-browser-test"
ARTIFACTS = ROOT / "test-artifacts"
LECTURES = sorted(p.name for p in (ROOT / "lectures").glob("*.ipynb"))
PS1 = "assignments/ps1_convolution/ps1_convolution.ipynb"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
# Generous: a loaded 2-core CI machine, and lecture 06 trains LeNet-5 on MNIST in its run.
SERVER_START_S = 180
KERNEL_START_S = 180
RUN_ALL_S = 1500
FIGURE_CHANGE_S = 60
LEFT_ALONE_S = 5


def _load_tasks():
    spec = importlib.util.spec_from_file_location("course_tasks", ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(base: str, path: str, method: str = "GET"):
    request = urllib.request.Request(f"{base}/api/{path}", method=method,
                                     headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
    return json.loads(body) if body else None


class Lab:
    """The running server: its URL, the course copy it serves, and the timings measured."""

    def __init__(self, base: str, root: Path, log: Path):
        self.base, self.root, self.log = base, root, log
        self.timings: dict[str, dict] = {}

    def url(self, path: str, workspace: str) -> str:
        """A fresh workspace per page, so no page reopens (and restarts kernels of) another's tabs."""
        return f"{self.base}/lab/workspaces/{workspace}/tree/{urllib.parse.quote(path)}?token={TOKEN}"

    def session(self, path: str) -> dict | None:
        return next((s for s in api(self.base, "sessions") if s.get("path") == path), None)

    def wait_for_idle_kernel(self, path: str, timeout: float = KERNEL_START_S) -> None:
        """Until the notebook's kernel has started and reports idle."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            session = self.session(path)
            if session and session.get("kernel", {}).get("execution_state") == "idle":
                return
            time.sleep(0.5)
        pytest.fail(f"the kernel of {path} was not idle within {timeout} s")

    def shut_down(self, path: str) -> None:
        """Stop the notebook's kernel, so that lectures run one at a time."""
        session = self.session(path)
        if session:
            api(self.base, f"sessions/{session['id']}", method="DELETE")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab as `tasks.py lab` starts it, on a copy of the course; stopped by its PID."""
    tmp = tmp_path_factory.mktemp("browser")
    root = tmp / "course"
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    for folder in ("lectures", "assignments", "jupyter_config", "checkpoints"):
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, root / folder, ignore=ignore)
    settings = tmp / "settings" / "@jupyterlab" / "docmanager-extension"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text(json.dumps({"autosaveInterval": 2}))

    cmd, env = _load_tasks().lab_command([], root)
    port = free_port()
    env.update(JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTER_DATA_DIR=str(tmp / "data"), CUDA_VISIBLE_DEVICES="")
    # The course's .venv (here: the interpreter running the tests) starts jupyter; the options
    # after the student's command line only pin the port, the token and where state is kept.
    cmd = [sys.executable, "-m", "jupyter", *cmd[1:], "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={TOKEN}", f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
           f"--LabApp.user_settings_dir={tmp / 'settings'}"]
    log = tmp / "jupyter.log"
    with open(log, "wb") as out:
        # A session of its own, so the kernels it starts can be stopped with it.
        proc = subprocess.Popen(cmd, cwd=root, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    server = Lab(f"http://127.0.0.1:{port}", root, log)
    start = time.monotonic()
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with code {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                api(server.base, "status")
                break
            except OSError:
                if time.monotonic() - start > SERVER_START_S:
                    pytest.fail(f"jupyter lab did not answer within {SERVER_START_S} s:\n"
                                f"{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        write_timings(server.timings, time.monotonic() - start)


def write_timings(timings: dict, total_s: float) -> None:
    if not timings:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    report = {"lectures": timings, "module_seconds": round(total_s, 1),
              "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
              "cpus": os.cpu_count()}
    (ARTIFACTS / "browser_timings.json").write_text(json.dumps(report, indent=1) + "\n")


@pytest.fixture(scope="module")
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


def open_notebook(browser, lab: Lab, path: str, workspace: str):
    """A new page showing the notebook at ``path`` (relative to the course root), kernel idle."""
    page = browser.new_page(viewport={"width": 1300, "height": 950})
    page.set_default_timeout(120_000)
    page.goto(lab.url(path, workspace))
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell")
    lab.wait_for_idle_kernel(path)
    news = page.get_by_role("button", name="No", exact=True)  # the "Jupyter news?" toast
    if news.count():
        news.first.click()
    return page


def is_dirty(page) -> bool:
    return page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.jp-mod-dirty").count() > 0


# The prompts' text ("[*]:" while queued or running, "[3]:" when done). textContent, not
# innerText: JupyterLab does not lay out cells out of view, and innerText would read "".
PROMPTS_JS = "() => [...document.querySelectorAll('.jp-InputArea-prompt')].map(p => p.textContent)"


def run_all_and_wait(page, lab: Lab, path: str) -> float:
    """Run > Run All Cells, wait until every cell is done; return the seconds it took."""
    before = page.evaluate(PROMPTS_JS)
    start = time.monotonic()
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-item[data-command='runmenu:run-all']")
    # Started: some prompt changed.
    page.wait_for_function(f"(before) => JSON.stringify(({PROMPTS_JS})()) !== JSON.stringify(before)",
                           arg=before, timeout=60_000)
    # Finished: no [*] left. (Not the kernel's status: while a cell runs, the widget messages of
    # a tqdm bar make ipykernel report "idle" between them.)
    page.wait_for_function(f"() => !({PROMPTS_JS})().some(p => p.includes('*'))",
                           timeout=RUN_ALL_S * 1000, polling=1000)
    lab.wait_for_idle_kernel(path, timeout=60)
    return time.monotonic() - start


def error_outputs(page) -> list[str]:
    """The text of every error or stderr output (JupyterLab renders both with this mime type)."""
    return page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
                        ).all_text_contents()


# The first slider handle or dropdown in an output, the widget panel around it, and its figure.
FIND_CONTROL_JS = """() => {
    const control = document.querySelector(
        '.jp-OutputArea-output .widget-slider .noUi-handle, .jp-OutputArea-output .widget-dropdown select');
    if (!control) return null;
    let panel = control.parentElement;
    while (panel && !panel.querySelector('img.widget-image, .jp-RenderedImage img'))
        panel = panel.parentElement;
    if (!panel) return null;
    document.querySelectorAll('[data-course-control], [data-course-panel]').forEach(e => {
        e.removeAttribute('data-course-control'); e.removeAttribute('data-course-panel'); });
    control.setAttribute('data-course-control', '1');
    panel.setAttribute('data-course-panel', '1');
    return control.tagName === 'SELECT' ? 'dropdown' : 'slider';
}"""
FIGURE_JS = """() => document.querySelector(
    '[data-course-panel] img.widget-image, [data-course-panel] .jp-RenderedImage img').src"""
CAPTION_JS = """() => [...document.querySelectorAll('[data-course-panel] .widget-html-content')]
    .map(e => e.textContent).join('|')"""
# Note the moment the figure (or the caption) changes, from inside the page: no polling delay.
WATCH_JS = """() => {
    window.__courseFigureAt = null;
    window.__courseCaptionAt = null;
    const panel = document.querySelector('[data-course-panel]');
    const figure = (""" + FIGURE_JS + """)(), caption = (""" + CAPTION_JS + """)();
    const seen = () => {
        const now = performance.now();
        if (window.__courseFigureAt === null && (""" + FIGURE_JS + """)() !== figure)
            window.__courseFigureAt = now;
        if (window.__courseCaptionAt === null && (""" + CAPTION_JS + """)() !== caption)
            window.__courseCaptionAt = now;
    };
    new MutationObserver(seen).observe(panel, {attributes: true, childList: true, subtree: true,
                                                characterData: true});
    return performance.now();
}"""
MAX_STEPS = 5


def move_first_control(page) -> tuple[str, float]:
    """Move the first slider (ArrowRight) or dropdown (next option) until its figure changes;
    return the kind of control and the milliseconds from that key press to the new figure.

    One step may leave the picture the same (a small change on a log axis): when the caption
    has changed but the figure not, the update has arrived, so the control moves one more step.
    """
    kind = page.evaluate(FIND_CONTROL_JS)
    assert kind, "no slider or dropdown with a figure in any output"
    control = page.locator("[data-course-control]")
    control.scroll_into_view_if_needed()
    if kind == "slider":
        control.click()  # focuses the handle; a click on the handle itself moves nothing
        page.wait_for_timeout(300)
    key = "ArrowRight"
    for _ in range(MAX_STEPS):
        started = page.evaluate(WATCH_JS)
        if kind == "slider":
            page.keyboard.press(key)
        else:
            count = control.locator("option").count()
            control.select_option(index=(control.evaluate("e => e.selectedIndex") + 1) % count)
        try:
            page.wait_for_function("() => window.__courseFigureAt !== null || window.__courseCaptionAt !== null",
                                   timeout=FIGURE_CHANGE_S * 1000)
        except Exception:  # nothing moved: a slider at its maximum? then go the other way
            if kind != "slider" or key == "ArrowLeft":
                raise
            key = "ArrowLeft"
            continue
        page.wait_for_timeout(500)  # the figure and the caption arrive in two messages
        changed_at = page.evaluate("() => window.__courseFigureAt")
        if changed_at is not None:
            return kind, changed_at - started
    pytest.fail(f"{MAX_STEPS} steps of the first {kind} did not change its figure")


@pytest.mark.slow
@pytest.mark.parametrize("lecture", LECTURES)
def test_lecture_opens_clean_runs_and_its_widget_moves_the_figure(lab: Lab, browser, lecture: str):
    path = f"lectures/{lecture}"
    stem = Path(lecture).stem
    on_disk = (lab.root / path).read_bytes()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"browser_{stem}_failure.png").unlink(missing_ok=True)
    page = open_notebook(browser, lab, path, workspace=f"w-{stem}")
    try:
        # Opening alone must change nothing: no dirty tab, no autosaved rewrite. Checked last, so
        # that a notebook failing this still shows whether it runs.
        page.wait_for_timeout(LEFT_ALONE_S * 1000)
        dirty = is_dirty(page)
        rewritten = (lab.root / path).read_bytes() != on_disk

        run_all_s = run_all_and_wait(page, lab, path)
        page.screenshot(path=str(ARTIFACTS / f"browser_{stem}_lab.png"))
        errors = error_outputs(page)
        assert not errors, f"{lecture}: error output after Run All:\n" + "\n---\n".join(errors)[-3000:]

        kind, latency_ms = move_first_control(page)
        page.locator("[data-course-panel]").screenshot(path=str(ARTIFACTS / f"browser_{stem}_widget.png"))
        lab.timings[lecture] = {"run_all_s": round(run_all_s, 1), "control": kind,
                                "figure_latency_ms": round(latency_ms, 1)}
        assert not error_outputs(page), f"{lecture}: moving the {kind} printed an error"

        assert not dirty and not rewritten, (
            f"{lecture}: merely opening it {'marked its tab as modified' if dirty else ''}"
            f"{' and ' if dirty and rewritten else ''}{'made autosave rewrite it' if rewritten else ''}"
            f": JupyterLab completes metadata the file lacks (run `python -m course_lib.notebooks "
            f"strip {path}` to commit the full kernelspec and language_info)")
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"browser_{stem}_failure.png"))
        raise
    finally:
        page.close()
        lab.shut_down(path)


def solution_of(grade_id: str) -> str:
    """The solution's code of one answer cell, without nbgrader's solution markers."""
    import nbformat

    nb = nbformat.read(ROOT / PS1.replace("assignments/", "solutions/"), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return "\n".join(line for line in cell.source.splitlines()
                     if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


@pytest.mark.slow
def test_ps1_first_answer_passes_its_visible_test(lab: Lab, browser):
    import nbformat

    released = nbformat.read(lab.root / PS1, as_version=4)
    graded = [c.metadata.get("nbgrader", {}) for c in released.cells]
    answer = next(i for i, m in enumerate(graded) if m.get("solution") and released.cells[i].cell_type == "code")
    test = next(i for i, m in enumerate(graded) if i > answer and m.get("grade") and not m.get("solution"))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "browser_ps1_failure.png").unlink(missing_ok=True)
    page = open_notebook(browser, lab, PS1, workspace="w-ps1")
    try:
        cell = page.locator(".jp-Notebook .jp-Cell").nth(answer)
        cell.scroll_into_view_if_needed()
        cell.locator(".cm-content").click()
        page.keyboard.press("Control+A")
        page.keyboard.press("Delete")
        # Inserted as one piece of text: typing key by key would get the editor's auto-indent.
        page.keyboard.insert_text(solution_of(graded[answer]["grade_id"]))
        page.keyboard.press("Escape")
        run_all_and_wait(page, lab, PS1)  # stops at the next answer, still unwritten
        test_cell = page.locator(".jp-Notebook .jp-Cell").nth(test)
        test_cell.scroll_into_view_if_needed()
        # textContent, not innerText: JupyterLab skips laying out cells out of view.
        text = "\n".join(test_cell.locator(".jp-OutputArea-output").all_text_contents())
        test_cell.screenshot(path=str(ARTIFACTS / "browser_ps1_passed.png"))
        assert re.search(r"visible tests pass", text), f"the visible test of {graded[answer]['grade_id']} says:\n{text}"
        assert len(text.strip().splitlines()) == 1, text
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "browser_ps1_failure.png"))
        raise
    finally:
        page.close()
        lab.shut_down(PS1)
