"""Autograding end to end: the sandbox, the parallel driver, statuses, feedback and export.

The fixture submissions are built here from the solution notebook of ps1 (complete, wrong,
blank, and every kind of misbehaviour the issue lists). They are graded in one parallel run
(2 workers) in a scratch course folder, and each must get the right score and status while the
gradebook, other students' grades and files outside the sandbox stay untouched.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from course_lib.grading import release as rel
from course_lib.grading.fixtures import load, solution_sources
from course_lib.grading.kernel import describe_exit
from course_lib.grading.limits import SandboxLimits
from course_lib.grading.report import (STATUS_FAILED, STATUS_LIMIT, STATUS_OK, export_csv,
                                       read_status)
from course_lib.grading.sandbox import bwrap_command, choose_backend
from course_lib.grading.zip_collect import zip_collect

from conftest import skip_or_fail

ROOT = Path(__file__).resolve().parent.parent

PS1 = "ps1_convolution"
PS2 = "ps2_conv_layer_pooling"
AUTO_POINTS = 13.0   # ps1's autograded points; 3 more are graded by hand
MARKER = "escape-marker-5c1f"  # in the command line of the process the escape tries to leave
LIMITS = {"memory_mb": 1536, "cpu_seconds": 120, "max_processes": 64, "file_size_mb": 64,
          "cell_timeout": 10, "wall_seconds": 180}
OVERRIDES = {"SandboxedExecute": {"default_limits": LIMITS}}


def _require_sandbox() -> None:
    try:
        choose_backend("bwrap")
    except RuntimeError as err:
        skip_or_fail(str(err))


# --- building submissions -----------------------------------------------------------------

def _source(cell) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def _solutions(path: Path) -> dict[str, str]:
    return solution_sources(load(path))


def _code(text: str) -> dict:
    return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
            "source": text, "id": f"extra-{abs(hash(text)) % 10**8}"}


class Submission:
    """A student's notebook: the release, with solution cells filled in and then altered."""

    def __init__(self, release: Path, solutions: dict[str, str]):
        self.nb = json.loads(release.read_text())
        self.solutions = solutions

    def index(self, grade_id: str) -> int:
        return next(i for i, c in enumerate(self.nb["cells"])
                    if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)

    def complete(self) -> "Submission":
        for cell in self.nb["cells"]:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid in self.solutions:
                cell["source"] = self.solutions[gid]
        return self

    def replace(self, grade_id: str, old: str, new: str) -> "Submission":
        cell = self.nb["cells"][self.index(grade_id)]
        assert old in _source(cell), (grade_id, old)
        cell["source"] = _source(cell).replace(old, new)
        return self

    def set_source(self, grade_id: str, text: str) -> "Submission":
        self.nb["cells"][self.index(grade_id)]["source"] = text
        return self

    def insert_after(self, grade_id: str, text: str) -> "Submission":
        self.nb["cells"].insert(self.index(grade_id) + 1, _code(text))
        return self

    def delete(self, grade_id: str) -> "Submission":
        del self.nb["cells"][self.index(grade_id)]
        return self

    def duplicate(self, grade_id: str, new_source: str) -> "Submission":
        i = self.index(grade_id)
        copy = json.loads(json.dumps(self.nb["cells"][i]))
        copy["source"], copy["id"] = new_source, "dup-" + copy["id"]
        self.nb["cells"].insert(i + 1, copy)
        return self

    def save(self, course: Path, student: str, name: str = PS1) -> None:
        folder = course / "submitted" / student / PS1
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.ipynb").write_text(json.dumps(self.nb, indent=1))


NO_FLIP = ("flipped = b[::-1]", "flipped = b")
ESCAPE = r'''
import os, sqlite3, subprocess, sys
report = {{}}
for label, path in [("gradebook", {gradebook!r}), ("solutions", {solution!r}),
                    ("other student", {other!r}), ("repo solutions", {repo_solution!r})]:
    try:
        with open(path, "rb") as fh:
            fh.read(16)
        report[label] = "READ"
    except Exception as err:
        report[label] = type(err).__name__
try:
    con = sqlite3.connect({gradebook!r})
    con.execute("UPDATE grade SET auto_score = 99")
    con.commit()
    report["rewrite grades"] = "WROTE"
except Exception as err:
    report["rewrite grades"] = type(err).__name__
try:
    os.remove({outside!r})
    report["delete outside"] = "DELETED"
except Exception as err:
    report["delete outside"] = type(err).__name__
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", {marker!r}],
                 start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("ESCAPE-REPORT", report)
'''
WARNINGS = '''
import sys, os, warnings
warnings.warn("this library is deprecated", DeprecationWarning)
warnings.warn("a user warning")
print("a message on stderr", file=sys.stderr)
os.write(2, b"C-level stderr\\n")
'''


def build_class(course: Path, repo_solution: Path, outside: Path) -> dict[str, dict]:
    """Write every fixture submission; return student -> expected (score, status, reason)."""
    release = course / "assignments" / PS1 / f"{PS1}.ipynb"
    sols = _solutions(course / "solutions" / PS1 / f"{PS1}.ipynb")

    def new() -> Submission:
        return Submission(release, sols)

    expected = {}

    def add(student, sub, score, status, reason=None, name=PS1):
        sub.save(course, student, name)
        expected[student] = {"score": score, "status": status, "reason": reason}

    add("complete2", new().complete(), AUTO_POINTS, STATUS_OK)
    add("wrong", new().complete().replace("conv1d_flip_filter", *NO_FLIP)
        .replace("filter_names", '"F4": "vertical_edges"', '"F4": "horizontal_edges"'),
        AUTO_POINTS - 4, STATUS_OK)
    add("blank", new(), 0.0, STATUS_OK)
    add("infinite_loop", new().complete().replace(
        "conv1d_matrix", "def toeplitz_matrix", "while True:\n    pass\n\ndef toeplitz_matrix"),
        AUTO_POINTS - 2, STATUS_LIMIT, "conv1d_matrix: interrupted")
    add("import_error", new().complete().replace(
        "crop_to_mode", "def crop_to_mode", "import numpy_sorcery\n\ndef crop_to_mode"),
        2.0, STATUS_OK)  # only the filter names survive: everything else needs crop_to_mode
    add("tampered_test", new().complete().replace("conv1d_flip_filter", *NO_FLIP)
        .set_source("test_conv1d_flip_filter", "print('all good!')"), AUTO_POINTS - 2, STATUS_OK)
    add("deleted_hidden_test", new().complete().replace("conv1d_flip_filter", *NO_FLIP)
        .delete("test_conv1d_flip_filter"), AUTO_POINTS - 2, STATUS_OK)
    add("duplicated_cell", new().complete().duplicate("test_crop_to_mode", "pass"),
        AUTO_POINTS, STATUS_OK)
    add("renamed_notebook", new().complete(), AUTO_POINTS, STATUS_OK, name=f"{PS1} (1)")
    # After the last test, so what the bomb leaves of the memory cannot change the score.
    # np.empty reserves address space without touching it, so the cap (RLIMIT_AS) is reached in
    # well under a second even on a loaded machine; np.ones took >10 s there and hit the clock.
    add("memory_bomb", new().complete().insert_after(
        "test_filter_names", "chunks = []\nwhile True:\n    chunks.append(np.empty(2**24))"),
        AUTO_POINTS, STATUS_LIMIT, "MemoryError")
    add("crash", new().complete().insert_after("conv1d_matrix", "import os\nos._exit(3)"),
        None, STATUS_FAILED, "exited with code 3")
    add("hang", new().complete().insert_after(
        "conv1d_matrix", "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "while True:\n    time.sleep(0.1)"), None, STATUS_FAILED, "did not respond")
    add("escape", new().complete().insert_after("setup", ESCAPE.format(
        gradebook=str(course / "gradebook.db"),
        solution=str(course / "solutions" / PS1 / f"{PS1}.ipynb"),
        other=str(course / "submitted" / "complete" / PS1 / f"{PS1}.ipynb"),
        repo_solution=str(repo_solution), outside=str(outside), marker=MARKER)),
        AUTO_POINTS, STATUS_OK)
    add("noisy_stderr", new().complete().replace(
        "conv1d_translate_scale", "full = np.zeros(", WARNINGS.replace("\n", "\n    ") +
        "full = np.zeros("), AUTO_POINTS, STATUS_OK)
    return expected


# --- the graded class -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A scratch course with a fresh release of ps1 and ps2 (and their gradebook entries)."""
    _require_sandbox()
    course = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    for name in (PS1, PS2):
        shutil.copytree(ROOT / "solutions" / name, course / "solutions" / name)
    rel.generate(course, [PS1, PS2])
    return course


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    """Grade 'complete' alone, then the whole misbehaving class in parallel."""
    from course_lib.grading.autograde import autograde

    outside = tmp_path_factory.mktemp("outside") / "precious.txt"
    outside.write_text("do not delete")
    expected = build_class(course, ROOT / "solutions" / PS1 / f"{PS1}.ipynb", outside)
    Submission(course / "assignments" / PS1 / f"{PS1}.ipynb",
               _solutions(course / "solutions" / PS1 / f"{PS1}.ipynb")).complete() \
        .save(course, "complete")
    first = autograde(course, PS1, ["complete"], jobs=1, config_overrides=OVERRIDES,
                      progress=False)
    before = _grades(course, "complete")
    started = time.monotonic()
    results = autograde(course, PS1, sorted(expected), jobs=2, config_overrides=OVERRIDES,
                        progress=False)
    return {"expected": expected, "results": {r["student"]: r for r in results},
            "first": first[0], "before": before, "outside": outside,
            "seconds": time.monotonic() - started}


def _grades(course: Path, student: str) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        sub = gb.find_submission(PS1, student)
        return {g.name: (g.auto_score, g.manual_score) for nb in sub.notebooks for g in nb.grades}


def _score(course: Path, student: str) -> float:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return gb.find_submission(PS1, student).score


pytestmark = pytest.mark.grading


def test_complete_submission_gets_every_autograded_point(course, graded):
    assert graded["first"]["status"] == STATUS_OK, graded["first"]
    assert _score(course, "complete") == AUTO_POINTS


@pytest.mark.parametrize("student", [
    "complete2", "wrong", "blank", "infinite_loop", "import_error", "tampered_test",
    "deleted_hidden_test", "duplicated_cell", "renamed_notebook", "memory_bomb", "crash",
    "hang", "escape", "noisy_stderr"])
def test_each_submission_gets_its_score_and_status(course, graded, student):
    want, got = graded["expected"][student], graded["results"][student]
    detail = f"{student}: {got['status']} ({got['reason']})\n{got.get('log', '')[-3000:]}"
    assert got["status"] == want["status"], detail
    if want["reason"]:
        assert want["reason"] in got["reason"], detail
    status = read_status(course, PS1, student)
    assert status["status"] == want["status"]
    if want["score"] is not None:
        assert _score(course, student) == pytest.approx(want["score"]), detail
    else:  # failed: nothing is scored automatically; the grades wait for a human
        grades = _grades(course, student)
        assert all(auto is None for auto, _ in grades.values()), grades


def test_renamed_notebook_is_noted(graded):
    assert any("renamed" in n for n in graded["results"]["renamed_notebook"]["notes"])


def test_escape_attempt_was_contained(course, graded):
    assert graded["outside"].read_text() == "do not delete"
    assert _grades(course, "complete") == graded["before"]  # other grades untouched
    assert _score(course, "escape") == AUTO_POINTS           # not 99 per cell
    nb = json.loads((course / "autograded" / "escape" / PS1 / f"{PS1}.ipynb").read_text())
    text = "".join(_source({"source": o.get("text", "")}) for c in nb["cells"]
                   for o in c.get("outputs", []))
    report = text[text.index("ESCAPE-REPORT"):].splitlines()[0]
    assert "READ" not in report and "WROTE" not in report and "DELETED" not in report, report
    leftovers = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and MARKER.encode() in (proc / "cmdline").read_bytes():
                leftovers.append(proc.name)
        except OSError:
            continue
    assert not leftovers, f"background processes survived grading: {leftovers}"


def test_hidden_tests_never_reach_the_sandbox_or_the_feedback(course, graded):
    rel.feedback(course, PS1)
    html = (course / "feedback" / "wrong" / PS1 / f"{PS1}.html").read_text()
    assert "BEGIN HIDDEN TESTS" not in html and "default_rng(13)" not in html
    assert "conv1d_flip_filter" in html


def test_export_marks_failures_instead_of_zero(course, graded, tmp_path):
    out = tmp_path / "grades.csv"
    count = export_csv(course, out, [PS1])
    rows = {r["student_id"]: r for r in csv.DictReader(out.open())}
    assert count == len(rows)
    assert rows["crash"]["status"] == STATUS_FAILED and rows["crash"]["score"] == ""
    assert "exited with code 3" in rows["crash"]["reason"]
    assert float(rows["complete"]["score"]) == AUTO_POINTS
    assert rows["blank"]["score"] in ("0", "0.0") and rows["blank"]["status"] == STATUS_OK


def test_ps2_solution_gets_every_autograded_point(course):
    from course_lib.grading.autograde import autograde

    solution = course / "solutions" / PS2 / f"{PS2}.ipynb"
    folder = course / "submitted" / "ps2_student" / PS2
    folder.mkdir(parents=True)
    shutil.copy(solution, folder / f"{PS2}.ipynb")
    [result] = autograde(course, PS2, ["ps2_student"], jobs=1, config_overrides=OVERRIDES,
                         progress=False)
    assert result["status"] == STATUS_OK, result["reason"] + result["log"][-3000:]
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        sub = gb.find_submission(PS2, "ps2_student")
        auto_max = sum(g.max_score for nb in sub.notebooks for g in nb.grades
                       if g.auto_score is not None or not g.needs_manual_grade)
        assert sub.score == pytest.approx(auto_max) and sub.score > 0


def test_zip_collect_maps_lms_file_names_to_students(course, tmp_path):
    import zipfile

    notebook = course / "assignments" / PS1 / f"{PS1}.ipynb"
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w") as zf:  # Canvas-style names, one late and renamed
        zf.write(notebook, f"zipalice_12345_67890_{PS1}.ipynb")
        zf.write(notebook, f"zipbob_LATE_222_333_{PS1}-1.ipynb")
    zip_collect(course, PS1, [archive])
    assert (course / "submitted" / "zipalice" / PS1 / f"{PS1}.ipynb").is_file()
    assert (course / "submitted" / "zipbob" / PS1 / f"{PS1}-1.ipynb").is_file()


def test_setpriv_fallback_refuses_a_course_folder_open_to_others(tmp_path):
    from course_lib.grading.autograde import machine_problem

    shutil.copy(ROOT / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    tmp_path.chmod(0o755)
    # As root: refused for the open folder. Otherwise: refused, setpriv needs root. Either way
    # it is the machine's problem: autograde ends every submission `failed` with this reason.
    problem = machine_problem(tmp_path, PS1, {"SandboxedExecute": {"backend": "setpriv"}})
    assert problem and ("chmod 700" if os.geteuid() == 0 else "root") in problem


def test_committed_release_matches_a_fresh_generate(course):
    problems = rel.release_differences(ROOT, [PS1, PS2], fresh_course=course)
    others = [name for name in rel.source_assignments(ROOT) if name not in (PS1, PS2)]
    if others:  # the later assignments: generated afresh in a scratch course
        problems += rel.release_differences(ROOT, others)
    assert not problems, "Run `python3 tasks.py assignments` and commit:\n" + "\n".join(problems)


# --- the sandbox on its own -----------------------------------------------------------------

def test_bwrap_sandbox_works_for_an_unprivileged_instructor():
    """The layout used when the instructor is not root, run here as a throwaway uid."""
    _require_sandbox()
    uid = os.geteuid() if os.geteuid() != 0 else 61999
    prefix = [] if os.geteuid() != 0 else ["setpriv", f"--reuid={uid}", f"--regid={uid}",
                                            "--clear-groups", "--"]
    scratch = Path(tempfile.mkdtemp(prefix="sandbox-test-"))
    try:
        scratch.chmod(0o755)
        (scratch / "work").mkdir()
        for path in (scratch, scratch / "work"):
            os.chown(path, uid, uid)
        script = (f"id -u; echo hi > /sandbox/work/out; ls / | tr '\\n' ' '; echo; "
                  f"test -e {ROOT}/solutions && echo SEES-SOLUTIONS; "
                  f"tr '\\0' ' ' < /proc/1/cmdline; echo")
        cmd = prefix + bwrap_command(["/bin/sh", "-c", script], str(scratch), [], [],
                                     {"PATH": "/usr/bin:/bin"}, drop_to_uid=None)
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert lines[0] == str(uid)
        assert (scratch / "work" / "out").read_text() == "hi\n"
        allowed = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "proc", "dev",
                   "tmp", "sandbox"}
        assert set(lines[1].split()) <= allowed, lines[1]
        assert "SEES-SOLUTIONS" not in lines
        assert "bwrap" in lines[-1]  # pid 1 is the sandbox's own init: a private pid namespace
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_describe_exit_names_the_cause():
    limits = SandboxLimits(cpu_seconds=7)
    assert "code 3" in describe_exit(3, limits, via_bwrap=True)
    assert "CPU time limit (7 s)" in describe_exit(128 + 24, limits, via_bwrap=True)
    assert "SIGKILL" in describe_exit(-9, limits, via_bwrap=False)
    assert "normally" in describe_exit(0, limits, via_bwrap=True)


def test_a_misspelt_limit_is_refused():
    with pytest.raises(ValueError, match="memroy_mb"):
        SandboxLimits.from_mapping({"memroy_mb": 10})


def test_stderr_in_a_test_cell_is_not_a_failure():
    import nbformat
    from nbgrader.utils import determine_grade

    from course_lib.grading.preprocessors import StderrIsNotFailure

    cell = nbformat.v4.new_code_cell("pass")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "points": 2,
                                 "grade_id": "t", "locked": True, "schema_version": 3}
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text="UserWarning: x\n")]
    assert determine_grade(cell)[0] == 0  # what nbgrader alone would do
    StderrIsNotFailure().preprocess_cell(cell, {}, 0)
    assert determine_grade(cell)[0] == 2


def _grading_processes(marker: str) -> list[int]:
    """Processes whose command line or environment mentions ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                text = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
            except OSError:
                continue
            if marker.encode() in text:
                found.append(int(entry.name))
    return found


def test_ctrl_c_stops_the_workers_and_their_kernels(tmp_path):
    """Workers run in sessions of their own (for a fair share of the CPU), so the terminal's
    Ctrl-C no longer reaches them directly: the parent must pass it on, and nothing may be
    left running."""
    import signal
    import sys

    _require_sandbox()
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(ROOT / "solutions" / PS1, course / "solutions" / PS1)
    rel.generate(course, [PS1])
    release, sols = course / "assignments" / PS1 / f"{PS1}.ipynb", \
        _solutions(course / "solutions" / PS1 / f"{PS1}.ipynb")
    for i in range(6):  # each would run for a minute: only a passed-on Ctrl-C stops them
        Submission(release, sols).complete().insert_after("setup", "import time\ntime.sleep(50)") \
            .save(course, f"s{i:02d}")
    log = tmp_path / "autograde.log"
    env = dict(os.environ, CTRL_C_TEST_MARKER=str(tmp_path))  # inherited by workers and kernels
    with log.open("w") as out:
        grader = subprocess.Popen(
            [sys.executable, "-m", "course_lib.grading", "--root", str(course), "autograde", PS1],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        def kernels() -> int:  # the workers' kernel wrappers (the preflight's is one, alone)
            return sum(b"grading.kernel" in Path(f"/proc/{pid}/cmdline").read_bytes()
                       for pid in _grading_processes(str(tmp_path)) if Path(f"/proc/{pid}").exists())
        while kernels() < 3 and time.monotonic() < deadline:
            assert grader.poll() is None, log.read_text()
            time.sleep(0.2)
        time.sleep(3)  # the kernels are in their sleeping cells now
        os.killpg(grader.pid, signal.SIGINT)  # what the terminal sends: the foreground group
        stopped = time.monotonic()
        assert grader.wait(timeout=30) != 0
        while _grading_processes(str(tmp_path)) and time.monotonic() < stopped + 20:
            time.sleep(0.5)
        left = {pid: Path(f"/proc/{pid}/cmdline").read_bytes()[:200]
                for pid in _grading_processes(str(tmp_path)) if Path(f"/proc/{pid}").exists()}
        assert not left, f"workers or kernels outlived Ctrl-C: {left}\n{log.read_text()[-2000:]}"
        assert "[1/6]" not in log.read_text(), "Ctrl-C did not stop the grading"
    finally:
        for pid in _grading_processes(str(tmp_path)):
            with __import__("contextlib").suppress(OSError):
                os.kill(pid, signal.SIGKILL)
