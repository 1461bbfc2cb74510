"""Grading v2 under attack: hostile ps1 submissions, graded through the instructor's commands.

Each tampering submission starts from the blank release (so it has earned nothing) and adds one
attack in an answer cell: replacing the grader's helpers or NumPy/SciPy, IPython input and AST
transformers, a post_run_cell hook, stubs that print a score before they raise, reading the
hidden tests, forged result objects, taking over or cutting the grader's line to the kernel,
modules shipped beside the notebook, HTML injection and a byte bomb. Honest submissions (complete, wrong, blank, renamed, unicode, extra files) keep their
exact scores. Everything runs through ``python -m course_lib.grading autograde|feedback|export``.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.grading import release as rel
from test_grading import AUTO_POINTS, NO_FLIP, PS1, ROOT, Submission, _require_sandbox, _solutions

pytestmark = pytest.mark.grading

FUNCTIONS = ["crop_to_mode", "conv1d_translate_scale", "conv1d_flip_filter", "toeplitz_matrix",
             "conv1d_matrix", "conv2d_translate_scale", "conv2d_flip_filter"]
ANSWER_CELLS = ["crop_to_mode", "conv1d_translate_scale", "conv1d_flip_filter", "conv1d_matrix",
                "conv2d_translate_scale", "conv2d_flip_filter"]
HIDDEN_SNIPPETS = ["BEGIN HIDDEN TESTS", "default_rng(11)", "default_rng(12)", "len(a)={n}"]

# --- the attacks (each one is the source of an extra cell after the setup cell) ---------------

PATCH_TESTING = """
import course_lib.grading.testing as t
t.check_array = lambda *args, **kwargs: None
t.call = lambda func, *args, **kwargs: None
t.check_choice = lambda answers, key, allowed: sorted(allowed)[0]
"""
PATCH_NUMPY = """
import numpy as np
np.convolve = lambda a, b, mode="full": np.zeros(1)
np.isclose = lambda a, b, **kw: np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, bool)
np.allclose = lambda *a, **kw: True
np.testing.assert_allclose = lambda *a, **kw: None
"""
PATCH_SCIPY = """
import scipy.signal
scipy.signal.convolve2d = lambda *a, **kw: 0
scipy.signal.correlate2d = lambda *a, **kw: 0
"""
INPUT_TRANSFORMER = """
get_ipython().input_transformers_cleanup.append(lambda lines: ["pass\\n"])
"""
AST_TRANSFORMER = """
import ast
class Empty(ast.NodeTransformer):
    def visit_Module(self, node):
        return ast.Module(body=[ast.Pass()], type_ignores=[])
get_ipython().ast_transformers.append(Empty())
"""
POST_RUN_CELL = """
def forgive(result):
    result.error_in_exec = None
    result.error_before_exec = None
get_ipython().events.register("post_run_cell", forgive)
"""
STUB = """
def {name}(*args, **kwargs):
    get_ipython().displayhook(1.0)
    from IPython.display import display
    display(13.0)
    print(1.0)
    raise ValueError("stub")
"""
HIDDEN_READER = """
import linecache, sys, inspect
MARKS = ["BEGIN " + "HIDDEN", "default" + "_rng(1"]  # built here, so this cell never matches itself
def _peek(*args, **kwargs):
    found = []
    for name, entry in list(linecache.cache.items()):
        text = "".join(entry[2]) if isinstance(entry, tuple) and len(entry) > 2 else ""
        if any(mark in text for mark in MARKS):
            found.append(text[:2000])
    frame = sys._getframe()
    while frame is not None:
        try:
            found.append(inspect.getsource(frame)[:2000])
        except Exception:
            pass
        frame = frame.f_back
    leak = " || ".join(t for t in found if any(mark in t for mark in MARKS))
    raise ValueError("LEAK:" + (leak or "nothing found"))
""" + "".join(f"{name} = _peek\n" for name in FUNCTIONS)
FORGED = """
import numpy as np
class Anything(np.ndarray):
    def __eq__(self, other): return np.ones(np.shape(other), bool)
    def __array_finalize__(self, obj): pass
class Liar:
    def __eq__(self, other): return True
    def __float__(self): return 0.0
    def __array__(self, dtype=None, copy=None): raise TypeError("no")
def _forge(*args, **kwargs):
    return np.zeros(3).view(Anything)
""" + "".join(f"{name} = _forge\n" for name in FUNCTIONS[:4]) + \
    "".join(f"{name} = lambda *a, **k: Liar()\n" for name in FUNCTIONS[4:])
# Connect to the grader's socket before the bridge does, and answer every request "yes".
BRIDGE_HIJACK = """
import json, os, socket, threading
from ipykernel.connect import get_connection_info
_path = os.path.join(os.path.dirname(json.loads(get_connection_info())["ip"]), "grader.sock")
_line = socket.socket(socket.AF_UNIX)
_line.connect(_path)
def _yes_to_everything():
    for _request in _line.makefile("rb"):
        _line.sendall(b'{"ok": true, "names": {}, "value": {"t": "v", "v": true}, "printed": 0}\\n')
threading.Thread(target=_yes_to_everything, daemon=True).start()
"""
# An honest answer that cuts the grader's line the first time it is called.
BRIDGE_CUTTER = """
import gc as _gc, socket as _socket
_honest = conv1d_flip_filter
def conv1d_flip_filter(*args, **kwargs):
    for _s in _gc.get_objects():
        if isinstance(_s, _socket.socket) and _s.family == _socket.AF_UNIX:
            _s.close()
    return _honest(*args, **kwargs)
"""
SHIPPED = {
    "course_lib/__init__.py": "import pathlib; pathlib.Path({marker!r}).write_text('shipped course_lib ran')\n",
    "course_lib/grading/__init__.py": "",
    "course_lib/grading/kernel.py": "import pathlib; pathlib.Path({marker!r}).write_text('ran as the grader')\n",
    "numpy.py": "import pathlib; pathlib.Path({marker!r}).write_text('shipped numpy ran')\n",
    "scipy/__init__.py": "raise ImportError('shipped scipy')\n",
}
XSS_MARKDOWN = "<script>alert('xss-md')</script> <img src=x onerror=alert('xss-img')> My answer."
XSS_OUTPUT = """
from IPython.display import HTML, Javascript, display
display(HTML("<script>alert('xss-out')</script><b onmouseover=alert(2)>hi</b>"))
display(Javascript("alert('xss-js')"))
"""
BYTE_BOMB = 'print("x" * 10_000_000)\n'
DISK_FILLER = """
written, error = 0, None
try:
    for i in range(200):
        with open(f"fill{i}.bin", "wb") as fh:
            fh.write(bytes(8 << 20))
        written += 8
except OSError as err:
    error = err
print("FILLED", written, "MB", getattr(error, "errno", None))
"""
UNICODE = ("flipped = b[::-1]", "ƒlïppé = b[::-1]  # ünïcödé ✓ 卷积\n    flipped = ƒlïppé")


def build(course: Path, marker_dir: Path) -> dict[str, float]:
    """Write the class; return each student's expected autograded score."""
    release = course / "assignments" / PS1 / f"{PS1}.ipynb"
    sols = _solutions(course / "solutions" / PS1 / f"{PS1}.ipynb")
    expected: dict[str, float] = {}

    def add(student: str, sub: Submission, score: float, name: str = PS1,
            files: dict[str, str | bytes] | None = None) -> None:
        sub.save(course, student, name)
        for rel_path, content in (files or {}).items():
            path = course / "submitted" / student / PS1 / rel_path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        expected[student] = score

    def blank() -> Submission:
        return Submission(release, sols)

    def complete() -> Submission:
        return Submission(release, sols).complete()

    # honest work keeps its exact score
    add("honest_complete", complete(), AUTO_POINTS)
    add("honest_wrong", complete().replace("conv1d_flip_filter", *NO_FLIP), AUTO_POINTS - 2)
    add("honest_blank", blank(), 0.0)
    add("honest_renamed", complete(), AUTO_POINTS, name=f"{PS1} (2)")
    add("honest_unicode", complete().replace("conv1d_flip_filter", *UNICODE), AUTO_POINTS)
    add("honest_extra_files", complete(), AUTO_POINTS,
        files={"notes.txt": "my notes ✓", "kernel.npy": b"\x93NUMPY not really"})
    add("honest_shadowed", complete(), AUTO_POINTS,
        files={"numpy.py": "raise ImportError('a shipped numpy.py must not shadow NumPy')\n"})
    # tampering on top of a blank notebook earns nothing
    for student, attack in [("patch_testing", PATCH_TESTING), ("patch_numpy", PATCH_NUMPY),
                            ("patch_scipy", PATCH_SCIPY), ("input_transformer", INPUT_TRANSFORMER),
                            ("ast_transformer", AST_TRANSFORMER), ("post_run_cell", POST_RUN_CELL)]:
        add(student, blank().insert_after("setup", attack), 0.0)
    # attacks that define the answers themselves go into every function's answer cell
    for student, attack in [("hidden_reader", HIDDEN_READER), ("forged", FORGED),
                            ("stubs", "".join(STUB.format(name=n) for n in FUNCTIONS))]:
        sub = blank()
        for grade_id in ANSWER_CELLS:
            sub.set_source(grade_id, attack)
        add(student, sub, 0.0)
    add("bridge_hijack", blank().insert_after("setup", BRIDGE_HIJACK), 0.0)
    # crop_to_mode (1) and conv1d_translate_scale (2) were judged before the line was cut
    add("bridge_cutter", complete().insert_after("conv1d_flip_filter", BRIDGE_CUTTER), 3.0)
    add("shipped_modules", blank(), 0.0,
        files={k: v.format(marker=str(marker_dir / k.replace("/", "_"))) for k, v in SHIPPED.items()})
    add("html_injection", complete().set_source("explain_filters", XSS_MARKDOWN)
        .insert_after("setup", XSS_OUTPUT), AUTO_POINTS)
    add("byte_bomb", complete().insert_after("setup", BYTE_BOMB), AUTO_POINTS)
    add("disk_filler", complete().insert_after("setup", DISK_FILLER), AUTO_POINTS)
    return expected


def grading(course: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course_lib.grading", "--root", str(course), *args],
                          capture_output=True, text=True, timeout=1500)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    _require_sandbox()
    course = tmp_path_factory.mktemp("adversarial")
    config = (ROOT / "nbgrader_config.py").read_text() + (
        "\nc.SandboxedExecute.default_limits = {'memory_mb': 1536, 'cpu_seconds': 120, "
        "'max_processes': 64, 'file_size_mb': 64, 'cell_timeout': 20, 'wall_seconds': 300}\n")
    (course / "nbgrader_config.py").write_text(config)
    shutil.copytree(ROOT / "solutions" / PS1, course / "solutions" / PS1)
    rel.generate(course, [PS1])
    markers = tmp_path_factory.mktemp("markers")
    expected = build(course, markers)
    autograde = grading(course, "autograde", PS1, "--jobs", "2")
    feedback = grading(course, "feedback", PS1)
    export = grading(course, "export", "-o", str(course / "grades.csv"))
    rows = {r["student_id"]: r for r in csv.DictReader((course / "grades.csv").open())} \
        if export.returncode == 0 else {}
    return {"course": course, "expected": expected, "markers": markers, "rows": rows,
            "autograde": autograde, "feedback": feedback, "export": export}


def _autograded(course: Path, student: str) -> Path:
    return next((course / "autograded" / student / PS1).glob("*.ipynb"))


def _feedback_html(course: Path, student: str) -> str:
    return "".join(p.read_text(errors="replace")
                   for p in (course / "feedback" / student / PS1).glob("*.html"))


def test_the_commands_ran(graded):
    for step in ("autograde", "feedback", "export"):
        result = graded[step]
        assert result.returncode == 0, f"{step}: {result.stdout[-3000:]}{result.stderr[-3000:]}"


def test_every_score_is_exactly_what_was_earned(graded):
    rows, wrong = graded["rows"], []
    for student, score in sorted(graded["expected"].items()):
        row = rows.get(student)
        if row is None or row["status"] != "ok" or float(row["score"] or -1) != score:
            wrong.append(f"{student}: expected {score} (ok), got "
                         f"{row and (row['score'], row['status'], row['reason'])}")
    assert not wrong, "\n".join(wrong)


def test_no_tampered_submission_beats_a_blank_one(graded):
    rows = graded["rows"]
    blank = float(rows["honest_blank"]["score"])
    for student, score in graded["expected"].items():
        if not student.startswith("honest") and score == 0.0:
            assert float(rows[student]["score"]) <= blank, student


def test_hidden_tests_never_reach_the_kernel_or_the_feedback(graded):
    course = graded["course"]
    graded_nb = _autograded(course, "hidden_reader").read_text()
    outputs = json.dumps([c.get("outputs", []) for c in json.loads(graded_nb)["cells"]])
    assert "LEAK:nothing found" in outputs, "the reader should have run and found nothing"
    for student in graded["expected"]:
        html = _feedback_html(course, student)
        for snippet in HIDDEN_SNIPPETS:
            assert snippet not in html, f"{student}'s feedback shows {snippet!r}"
    for snippet in HIDDEN_SNIPPETS:
        assert snippet not in outputs, f"the graded notebook's outputs show {snippet!r}"


def _test_errors(course: Path, student: str) -> dict[str, str]:
    """grade_id -> the error a test cell of the autograded notebook shows ('' when it passed)."""
    nb = json.loads(_autograded(course, student).read_text())
    errors = {}
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution") and cell["cell_type"] == "code":
            errors[meta["grade_id"]] = " ".join(f"{o.get('ename')}: {o.get('evalue')}"
                                                for o in cell.get("outputs", [])
                                                if o.get("output_type") == "error")
    return errors


def test_a_taken_over_or_cut_line_only_answers_for_the_student(graded):
    course = graded["course"]
    hijacked = _test_errors(course, "bridge_hijack")
    # the hijacker answered every request (names it does not know are missing): nothing passed
    assert hijacked and all("NameError" in e for e in hijacked.values()), hijacked
    cut = _test_errors(course, "bridge_cutter")
    order = ["test_crop_to_mode", "test_conv1d_translate_scale", "test_conv1d_flip_filter",
             "test_conv1d_matrix", "test_conv2d_translate_scale", "test_conv2d_flip_filter",
             "test_filter_names"]
    assert [cut[t] for t in order[:2]] == ["", ""], cut
    assert all("did not answer" in cut[t] for t in order[2:]), cut


def test_shipped_modules_never_run(graded):
    assert not any(graded["markers"].iterdir()), \
        f"shipped code ran: {[p.read_text() for p in graded['markers'].iterdir()]}"


def test_student_html_is_never_live(graded):
    course = graded["course"]
    html = _feedback_html(course, "html_injection")
    assert html, "no feedback was generated"
    for live in (r"<script[^>]*>[^<]*xss", r"<img[^>]*onerror", r"<b[^>]*onmouseover"):
        assert not re.search(live, html), f"{live!r} is live in the feedback"
    assert "&lt;img src=x onerror=alert('xss-img')&gt;" in html, "the answer should show as text"
    nb = json.loads(_autograded(course, "html_injection").read_text())
    mimes = {m for c in nb["cells"] for o in c.get("outputs", []) for m in o.get("data", {})}
    assert not mimes & {"text/html", "application/javascript"}, mimes


def test_a_byte_bomb_is_capped_in_bytes(graded):
    course = graded["course"]
    assert _autograded(course, "byte_bomb").stat().st_size < 1_000_000
    assert len(_feedback_html(course, "byte_bomb")) < 2_000_000


def test_the_scratch_folder_is_size_limited(graded):
    nb = json.loads(_autograded(graded["course"], "disk_filler").read_text())
    printed = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", [])
                      if o.get("output_type") == "stream")
    line = next(line for line in printed.splitlines() if line.startswith("FILLED"))
    _, megabytes, _, errno = line.split()
    assert int(megabytes) <= 512 and errno == "28", line  # ENOSPC: the RAM-backed work/ is full


def test_tampering_is_flagged_for_review(graded):
    rows = graded["rows"]
    for student in ("patch_testing", "patch_numpy", "input_transformer", "ast_transformer",
                    "post_run_cell", "hidden_reader"):
        assert rows[student].get("needs_review") in ("yes", "True", "true", "1"), \
            f"{student}: {rows[student]}"
    assert rows["honest_complete"].get("needs_review") in ("no", "False", "false", "0", "")


# --- faults of the grading machine are never a student's 0 ------------------------------------

def _fault_course(tmp_path: Path, name: str, extra_config: str = "") -> Path:
    course = tmp_path / "fault"
    course.mkdir()
    (course / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text() + extra_config)
    shutil.copytree(ROOT / "solutions" / name, course / "solutions" / name)
    rel.generate(course, [name])
    folder = course / "submitted" / "someone" / name
    folder.mkdir(parents=True)
    shutil.copy(course / "assignments" / name / f"{name}.ipynb", folder)
    return course


def _status(course: Path, name: str, student: str = "someone") -> dict:
    found = list(course.rglob(f"{name}/{student}.json"))
    assert found, f"no status file for {student}"
    return json.loads(found[0].read_text())


def test_missing_data_set_ends_failed_with_the_reason(tmp_path, monkeypatch):
    _require_sandbox()
    course = _fault_course(tmp_path, "ps4_lenet")
    env = {k: v for k, v in os.environ.items() if k != "COURSE_DATA_DIR"}
    result = subprocess.run([sys.executable, "-m", "course_lib.grading", "--root", str(course),
                             "autograde", "ps4_lenet"], capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    status = _status(course, "ps4_lenet")
    assert status["status"] == "failed" and "COURSE_DATA_DIR" in status["reason"], status


def test_missing_sandbox_tool_ends_failed_with_the_reason(tmp_path):
    _require_sandbox()
    course = _fault_course(tmp_path, PS1, "\nc.SandboxedExecute.backend = 'bwrap'\n")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable))  # no bwrap on this PATH
    result = subprocess.run([sys.executable, "-m", "course_lib.grading", "--root", str(course),
                             "autograde", PS1], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    status = _status(course, PS1)
    assert status["status"] == "failed" and "bubblewrap" in status["reason"], status


def test_a_data_folder_reached_through_a_symlink_passes_the_preflight(tmp_path, monkeypatch):
    _require_sandbox()
    from traitlets.config import PyFileConfigLoader

    from course_lib.grading.preflight import preflight

    real = tmp_path / "real-data"
    (real / "mnist").mkdir(parents=True)
    link = tmp_path / "link-data"
    link.symlink_to(real)
    monkeypatch.setenv("COURSE_DATA_DIR", str(link))
    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert preflight(cfg, "ps4_lenet") is None
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "nowhere"))
    assert "COURSE_DATA_DIR" in (preflight(cfg, "ps4_lenet") or "")
