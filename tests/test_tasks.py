"""tasks.py: a .venv that survives interruption, a changed Python and a second run; and `lab`,
which opens the whole course for students without nbgrader's instructor tools.

The setup tests run tasks.py (its functions, or the script itself) on a temporary project, never
on the course's own .venv: a pyproject.toml without dependencies whose in-tree build backend
needs no download and can be told to wait (so that a test can press Ctrl-C or start a second run
in the middle of an install) or to fail. Its `course_lib.grading` is a stub, so that
`tasks.py assignments` runs end to end there. Each build takes a few seconds (venv + ensurepip),
so those tests are marked slow.
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
import urllib.error
import urllib.request
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_tasks():
    spec = importlib.util.spec_from_file_location("course_tasks", ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tasks = _load_tasks()

BACKEND = '''\
"""An in-tree PEP 517/660 backend: builds without downloads; FAKE_BUILD_* steer it."""
import base64, hashlib, os, time, zipfile
from pathlib import Path

NAME, VERSION = "fake_course", "0.1"


def _steer():
    if os.environ.get("FAKE_BUILD_STARTED"):
        Path(os.environ["FAKE_BUILD_STARTED"]).write_text(str(os.getpid()))
    if os.environ.get("FAKE_BUILD_GATE"):
        deadline = time.monotonic() + 120
        while not Path(os.environ["FAKE_BUILD_GATE"]).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    if os.environ.get("FAKE_BUILD_FAIL"):
        raise RuntimeError("FAKE_BUILD_FAIL is set")


def _wheel(directory, files):
    dist = f"{NAME}-{VERSION}.dist-info"
    files = dict(files)
    files[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\\nName: {NAME}\\nVersion: {VERSION}\\n"
    files[f"{dist}/WHEEL"] = ("Wheel-Version: 1.0\\nGenerator: fake\\nRoot-Is-Purelib: true\\n"
                              "Tag: py3-none-any\\n")
    record = []
    for path, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{dist}/RECORD"] = "\\n".join(record + [f"{dist}/RECORD,,"]) + "\\n"
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(Path(directory) / name, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return name


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _steer()
    return _wheel(wheel_directory, {"fake_course.py": "X = 1\\n"})


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    _steer()
    return _wheel(wheel_directory, {"fake_course.pth": str(Path.cwd()) + "\\n"})
'''

PYPROJECT = """\
[build-system]
requires = []
build-backend = "backend"
backend-path = ["."]

[project]
name = "fake-course"
version = "0.1"
dependencies = []
"""

INTERRUPTED = ("error: interrupted while setting up .venv: run the same tasks.py command again "
               "to finish it.")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A course folder with tasks.py, a dependency-free pyproject.toml and a stub grader."""
    root = tmp_path / "course"
    (root / "course_lib" / "grading").mkdir(parents=True)
    (root / "backend.py").write_text(BACKEND)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "constraints.txt").write_text("# nothing pinned here\n")
    (root / "course_lib" / "__init__.py").write_text("")
    (root / "course_lib" / "grading" / "__init__.py").write_text("")
    (root / "course_lib" / "grading" / "__main__.py").write_text('print("fake generate: ok")\n')
    shutil.copy2(ROOT / "tasks.py", root / "tasks.py")
    return root


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FAKE_BUILD_") and k not in ("COURSE_NO_PIN", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def start(root: Path, out: Path, **extra: str) -> subprocess.Popen:
    """`python3 tasks.py assignments` in its own process group (what a terminal's Ctrl-C hits)."""
    with out.open("w") as handle:
        return subprocess.Popen([sys.executable, str(root / "tasks.py"), "assignments"],
                                cwd=root, env=_env(**extra), stdout=handle,
                                stderr=subprocess.STDOUT, start_new_session=True)


def run_script(root: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(root / "tasks.py"), "assignments"], cwd=root,
                          env=_env(**extra), capture_output=True, text=True, timeout=300,
                          check=False)


def wait_for(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def stamp(root: Path) -> dict:
    return json.loads((root / ".venv" / tasks.STAMP).read_text())


def runs(python: Path, code: str = "import pip") -> bool:
    try:
        return subprocess.run([str(python), "-c", code], capture_output=True, timeout=120,
                              check=False).returncode == 0
    except OSError:
        return False


def assert_complete(root: Path) -> None:
    python = tasks.venv_python(root)
    assert runs(python), "the venv's python does not run or has no pip"
    got = stamp(root)
    assert got["complete"] is True
    assert got["installed"][""] == tasks.install_digest("", True, root)
    assert got["interpreter"] == tasks.probe_interpreter(python)


def only_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{text}"
    return lines[0]


# --- a first run, a second run, a changed pyproject.toml ----------------------------------------

@pytest.mark.slow
def test_first_run_builds_and_later_runs_reuse_or_reinstall(project: Path):
    first = run_script(project)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Creating the virtual environment .venv/" in first.stdout
    assert "fake generate: ok" in first.stdout
    assert_complete(project)
    recorded = stamp(project)["interpreter"]
    assert recorded["path"] == os.path.realpath(tasks.venv_python(project))
    assert recorded["version"].startswith(".".join(map(str, sys.version_info[:2])))

    again = run_script(project)
    assert again.returncode == 0
    assert again.stdout == "fake generate: ok\n" and again.stderr == ""

    with (project / "pyproject.toml").open("a") as f:
        f.write("# changed\n")
    changed = run_script(project)
    assert changed.returncode == 0
    assert "Installing the course" in changed.stdout and "Creating" not in changed.stdout
    assert_complete(project)


# --- Ctrl-C --------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("moment", ["creating the venv", "installing the course"])
def test_ctrl_c_during_the_first_run_is_repaired_by_the_next(project: Path, tmp_path: Path,
                                                             moment: str):
    """Ctrl-C used to leave a .venv without pip that every later run tripped over."""
    started, gate = tmp_path / "build-started", tmp_path / "never"
    proc = start(project, tmp_path / "first.out", FAKE_BUILD_STARTED=str(started),
                 FAKE_BUILD_GATE=str(gate))
    if moment == "creating the venv":  # ensurepip runs for seconds after pyvenv.cfg appears
        wait_for(lambda: (project / ".venv" / "pyvenv.cfg").exists(), "pyvenv.cfg")
    else:
        wait_for(started.exists, "the build to start")
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    output = (tmp_path / "first.out").read_text()
    assert output.splitlines()[-1] == INTERRUPTED, output
    assert stamp(project)["complete"] is False
    if moment == "creating the venv":
        assert not runs(tasks.venv_python(project)), "pip was installed before the Ctrl-C"

    second = run_script(project)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "The last setup of .venv did not finish; rebuilding it." in second.stdout
    assert "fake generate: ok" in second.stdout
    assert_complete(project)


# --- two runs at once ----------------------------------------------------------------------------

@pytest.mark.slow
def test_a_second_run_waits_for_the_first_and_reuses_its_venv(project: Path, tmp_path: Path):
    started, gate = tmp_path / "build-started", tmp_path / "gate"
    first = start(project, tmp_path / "first.out", FAKE_BUILD_STARTED=str(started),
                  FAKE_BUILD_GATE=str(gate))
    wait_for(started.exists, "the first run's build to start")
    second = start(project, tmp_path / "second.out")
    wait_for(lambda: "waiting" in (tmp_path / "second.out").read_text(), "the second to wait")
    time.sleep(0.5)
    assert second.poll() is None, "the second run did not wait"
    gate.write_text("go")
    assert first.wait(timeout=120) == 0, (tmp_path / "first.out").read_text()
    assert second.wait(timeout=120) == 0, (tmp_path / "second.out").read_text()
    out = (tmp_path / "second.out").read_text().splitlines()
    assert out[0] == (f"Another tasks.py (pid {first.pid}) is setting up .venv; waiting for it "
                      f"to finish ...")
    assert out[1:] == ["fake generate: ok"], out
    assert_complete(project)


# --- a stale or changed Python -------------------------------------------------------------------

def _break_python(root: Path, tmp_path: Path, how: str) -> None:
    """What removing or upgrading the Python the venv was made with leaves behind: links to
    nowhere (a venv of symlinks), or a copied binary whose shared library is gone (exit 127)."""
    nowhere = tmp_path / "removed-python" / "bin" / "python3"
    for link in (root / ".venv" / "bin").glob("python*"):
        link.unlink()
        if how == "dangling link":
            link.symlink_to(nowhere)
        else:
            link.write_text("#!/bin/sh\necho 'python: error while loading shared libraries: "
                            "libpython3.so.1.0: cannot open shared object file' >&2\nexit 127\n")
            link.chmod(0o755)
    assert not runs(tasks.venv_python(root), "pass")


@pytest.mark.slow
@pytest.mark.parametrize(("how", "stamp_kind"), [("dangling link", "current"),
                                                 ("dangling link", "legacy"),
                                                 ("loader error", "legacy")])
def test_a_venv_whose_python_no_longer_runs_is_rebuilt(project: Path, tmp_path: Path, capfd,
                                                       how: str, stamp_kind: str):
    """Its runs used to exit 127 for ever, since the old stamp did not record the interpreter."""
    tasks.ensure_venv("", project)
    if stamp_kind == "legacy":  # what tasks.py wrote before: a bare digest per extras
        (project / ".venv" / tasks.STAMP).unlink()
        (project / ".venv" / tasks.LEGACY_STAMP).write_text(tasks.install_digest("", True, project))
    _break_python(project, tmp_path, how)
    capfd.readouterr()
    python = tasks.ensure_venv("", project)
    out = capfd.readouterr().out
    assert "no longer runs; rebuilding .venv." in out
    assert "Creating the virtual environment" in out
    assert python == tasks.venv_python(project)
    assert_complete(project)


@pytest.mark.slow
def test_a_venv_whose_python_changed_is_rebuilt(project: Path, capfd):
    tasks.ensure_venv("", project)
    old = stamp(project)
    old["interpreter"]["version"] = "3.10.0 (an older build)"
    tasks.write_stamp(project / ".venv", old)
    capfd.readouterr()
    tasks.ensure_venv("", project)
    out = capfd.readouterr().out
    assert "The Python of .venv changed (was 3.10.0 (an older build)" in out
    assert "rebuilding .venv." in out
    assert_complete(project)


@pytest.mark.slow
def test_a_venv_that_moved_with_its_folder_is_rebuilt(project: Path, tmp_path: Path, capfd):
    """Its scripts (jupyter, pip) start with the old path to python, so they cannot run."""
    tasks.ensure_venv("", project)
    moved = tmp_path / "moved"
    project.rename(moved)
    capfd.readouterr()
    tasks.ensure_venv("", moved)
    out = capfd.readouterr().out
    assert f".venv was made in {project / '.venv'} and has moved since; rebuilding it." in out
    assert_complete(moved)
    assert stamp(moved)["venv"] == str(moved / ".venv")


@pytest.mark.slow
def test_a_working_venv_with_a_legacy_stamp_is_taken_over_without_reinstalling(
        project: Path, tmp_path: Path, monkeypatch, capfd):
    """The .venv an older tasks.py made keeps working: no rebuild, no reinstall."""
    tasks.ensure_venv("", project)
    (project / ".venv" / tasks.STAMP).unlink()
    (project / ".venv" / tasks.LEGACY_STAMP).write_text(tasks.install_digest("", True, project))
    (project / ".venv" / "sentinel").write_text("kept")
    started = tmp_path / "build-started"
    monkeypatch.setenv("FAKE_BUILD_STARTED", str(started))
    capfd.readouterr()
    tasks.ensure_venv("", project)
    assert capfd.readouterr().out == ""
    assert not started.exists(), "it reinstalled"
    assert (project / ".venv" / "sentinel").read_text() == "kept"
    assert_complete(project)


# --- failures say what to do ---------------------------------------------------------------------

def test_a_venv_not_made_by_tasks_py_and_without_pip_is_left_alone(project: Path):
    venv.EnvBuilder(with_pip=False).create(project / ".venv")
    result = run_script(project)
    assert result.returncode == 1
    assert result.stdout == ""
    line = only_line(result.stderr)
    assert line.startswith("error: ") and "has no pip" in line and "rm -rf" in line, line
    assert (project / ".venv" / "pyvenv.cfg").exists()


@pytest.mark.slow
def test_a_failed_install_says_what_to_do_and_the_next_run_recovers(project: Path):
    failed = run_script(project, FAKE_BUILD_FAIL="1")
    assert failed.returncode == 1
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("error: installing the course into .venv (.) failed (exit 1; the "
                           "reason is above)"), failed.stderr
    assert "run the same tasks.py command again" in last
    assert stamp(project)["complete"] is False

    again = run_script(project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "did not finish; rebuilding it" in again.stdout
    assert_complete(project)


def test_too_old_a_python_says_what_to_do(monkeypatch):
    monkeypatch.setattr(tasks, "MIN_PYTHON", (sys.version_info[0], sys.version_info[1] + 1))
    with pytest.raises(tasks.SetupError, match=r"needs Python .* run tasks.py with a newer"):
        tasks.check_python()


# --- lab: the whole course, without the instructor's tools --------------------------------------

def _nbgrader_extensions() -> tuple[set[str], set[str]]:
    """(lab extensions, server extensions) that the installed nbgrader brings."""
    import nbgrader

    lab = {p["dest"] for p in nbgrader._jupyter_labextension_paths()}
    server = {p["module"] for p in nbgrader._jupyter_server_extension_points()}
    enabled_by_install = Path(sys.prefix) / "etc/jupyter/jupyter_server_config.d/nbgrader.json"
    if enabled_by_install.exists():
        enabled = json.loads(enabled_by_install.read_text())["ServerApp"]["jpserver_extensions"]
        server |= set(enabled)
    return lab, server


def test_student_lab_opens_the_course_root_at_lecture_01_without_nbgrader():
    cmd, env = tasks.lab_command([], ROOT)
    assert cmd[:2] == [str(tasks.venv_bin("jupyter", ROOT)), "lab"]
    assert f"--ServerApp.root_dir={ROOT}" in cmd
    assert cmd[-1] == str(ROOT / "lectures" / "01_convolution_1d.ipynb")
    assert Path(cmd[-1]).exists()
    assert "MPLBACKEND" not in env

    config = Path(env["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0])
    assert config == ROOT / "jupyter_config" / "student"
    lab, server = _nbgrader_extensions()
    assert lab == {"@jupyter/nbgrader"}
    page = json.loads((config / "labconfig" / "page_config.json").read_text())
    assert all(page["disabledExtensions"].get(name) is True for name in lab), page
    serverapp = json.loads((config / "jupyter_server_config.json").read_text())["ServerApp"]
    assert {"nbgrader.server_extensions.formgrader", "nbgrader"} <= server
    assert all(serverapp["jpserver_extensions"].get(name) is False for name in server), serverapp


def test_student_config_goes_before_one_already_set(monkeypatch):
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", "/somewhere/else")
    _, env = tasks.lab_command([], ROOT)
    assert env["JUPYTER_CONFIG_PATH"].split(os.pathsep) == [
        str(ROOT / "jupyter_config" / "student"), "/somewhere/else"]


def test_instructor_lab_keeps_nbgrader(monkeypatch):
    monkeypatch.delenv("JUPYTER_CONFIG_PATH", raising=False)
    cmd, env = tasks.lab_command(["--instructor"], ROOT)
    assert "JUPYTER_CONFIG_PATH" not in env
    assert "--instructor" not in cmd
    assert f"--ServerApp.root_dir={ROOT}" in cmd


def test_lab_opens_the_notebook_it_is_given(monkeypatch):
    monkeypatch.chdir(ROOT / "assignments")
    cmd, _ = tasks.lab_command(["ps1_convolution/ps1_convolution.ipynb", "--no-browser"], ROOT)
    assert cmd[-1] == str(ROOT / "assignments" / "ps1_convolution" / "ps1_convolution.ipynb")
    assert "--no-browser" in cmd
    assert not any("01_convolution_1d" in arg for arg in cmd)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


def _serve_and_look(args: list[str], tmp_path: Path) -> dict:
    """Start JupyterLab as `tasks.py lab ARGS` would (on a free local port, no browser) and
    return what a browser would get: the page config, the formgrader's status, the root folder."""
    cmd, env = tasks.lab_command(args, ROOT)
    port, token = _free_port(), "course-test-token"
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    with (tmp_path / "server.log").open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyter", *cmd[1:], "--no-browser",
             f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
             f"--IdentityProvider.token={token}"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    base, query = f"http://127.0.0.1:{port}", f"?token={token}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if _get(f"{base}/api/status{query}")[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("JupyterLab did not start:\n" + (tmp_path / "server.log").read_text())
            time.sleep(0.2)
        status, page = _get(f"{base}/lab{query}")
        assert status == 200
        config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">'
                                      r"(.*?)</script>", page, re.DOTALL).group(1))
        _, listing = _get(f"{base}/api/contents{query}")
        return {"disabled": config.get("disabledExtensions", []),
                "formgrader": _get(f"{base}/formgrader{query}")[0],
                "root": {item["name"] for item in json.loads(listing)["content"]}}
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.slow
def test_jupyterlab_started_for_students_hides_nbgrader_and_for_instructors_keeps_it(tmp_path):
    student = _serve_and_look([], tmp_path)
    assert "@jupyter/nbgrader" in student["disabled"]
    assert student["formgrader"] == 404
    assert {"lectures", "assignments"} <= student["root"]

    instructor = _serve_and_look(["--instructor"], tmp_path)
    assert "@jupyter/nbgrader" not in instructor["disabled"]
    assert instructor["formgrader"] != 404
