"""Problem sets 3, 4 and 5: the solutions run, the releases are right, and the grader agrees.

For each assignment:

* the solution notebook executes headless on the CPU without an error. It holds the hidden tests,
  so every autograded test passes on it;
* the committed release is what ``generate`` makes, and differs from the solution only where it
  should: answer cells stubbed, written answers blanked, hidden tests stripped, nothing else;
* the course's sandboxed autograde gives the release filled in with the solution's answers every
  automatic point, and the blank release 0 automatic points, both with status "ok" (no crash,
  no failure).

ps4 trains LeNet-5 on full MNIST (about a minute on one core), so it needs ``$COURSE_DATA_DIR``:
its tests skip without it, and fail in CI, where it must exist. Each notebook is executed once per
module and shared between the tests.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course_lib.grading import fixtures
from course_lib.grading import release as rel
from course_lib.grading.report import STATUS_OK

from conftest import skip_or_fail

ROOT = Path(__file__).resolve().parent.parent
PS3, PS4, PS5 = "ps3_network_size", "ps4_lenet", "ps5_alexnet_gpu"
ASSIGNMENTS = (PS3, PS4, PS5)
#: Points per assignment: (autograded, graded by hand).
POINTS = {PS3: (16, 4), PS4: (15, 3), PS5: (13, 4)}

pytestmark = pytest.mark.grading


def _need_mnist(name: str) -> None:
    """ps4 reads full MNIST: same rule as the ``mnist_dir`` fixture (skip here, fail in CI)."""
    base = os.environ.get("COURSE_DATA_DIR")
    if name == PS4 and not (base and (Path(base) / "mnist").is_dir()):
        skip_or_fail("full MNIST not available: set COURSE_DATA_DIR to a folder holding mnist/")


def _notebook(folder: str, name: str) -> Path:
    return ROOT / folder / name / f"{name}.ipynb"


def _source(cell) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


# --- what the release should be --------------------------------------------------------------

def _strip_block(text: str, begin: str, end: str, stub: str | None) -> str:
    """Remove every ``begin`` ... ``end`` block (marker lines included); put ``stub`` in its
    place, indented like the ``begin`` line (what nbgrader's ClearSolutions does)."""
    out, inside = [], False
    for line in text.split("\n"):
        if line.strip() == begin:
            inside = True
            if stub is not None:
                indent = line[:len(line) - len(line.lstrip())]
                out.extend(indent + s for s in stub.split("\n"))
        elif line.strip() == end:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def _expected_release_source(cell) -> str:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    text = _source(cell)
    if meta.get("solution") and cell["cell_type"] == "markdown":
        return "YOUR ANSWER HERE"
    if meta.get("solution"):
        return _strip_block(text, "### BEGIN SOLUTION", "### END SOLUTION",
                            "# YOUR CODE HERE\nraise NotImplementedError()")
    if meta.get("grade"):
        return _strip_block(text, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS", None)
    return text


def _normal(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().split("\n"))


# --- shared, expensive steps -------------------------------------------------------------------

@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """name -> the solution notebook executed headless with nbclient (once per module), in a
    scratch folder."""
    done: dict[str, nbformat.NotebookNode] = {}

    def run(name: str) -> nbformat.NotebookNode:
        _need_mnist(name)
        if name not in done:
            nb = nbformat.read(_notebook("solutions", name), as_version=4)
            client = NotebookClient(nb, timeout=1200, kernel_name="python3", resources={
                "metadata": {"path": str(tmp_path_factory.mktemp(name))}})
            # One thread, as in the grading sandbox: on a busy 2-core machine, two torch
            # threads per kernel spend more time waiting for each other than computing.
            saved = os.environ.get("OMP_NUM_THREADS")
            os.environ["OMP_NUM_THREADS"] = "1"
            try:
                client.execute()
            finally:
                if saved is None:
                    os.environ.pop("OMP_NUM_THREADS")
                else:
                    os.environ["OMP_NUM_THREADS"] = saved
            done[name] = nb
        return done[name]
    return run


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A scratch course with a fresh release of ps3, ps4 and ps5 (and their gradebook entries)."""
    course = tmp_path_factory.mktemp("course")
    course.chmod(0o700)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    for name in ASSIGNMENTS:
        shutil.copytree(ROOT / "solutions" / name, course / "solutions" / name)
    rel.generate(course, list(ASSIGNMENTS))
    return course


def _submit(course: Path, name: str, student: str, complete: bool) -> None:
    """Hand in the release: as it is (blank), or with the solution's answers filled in."""
    release = fixtures.load(course / "assignments" / name / f"{name}.ipynb")
    if complete:
        release = fixtures.filled_submission(
            release, fixtures.load(course / "solutions" / name / f"{name}.ipynb"))
    folder = course / "submitted" / student / name
    folder.mkdir(parents=True)
    (folder / f"{name}.ipynb").write_text(json.dumps(release, indent=1))


def _auto_scores(course: Path, name: str, student: str) -> tuple[float, float]:
    """(automatic score, automatic maximum) of one submission in the course's gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        sub = gb.find_submission(name, student)
        grades = [g for nb in sub.notebooks for g in nb.grades if g.cell.cell_type == "code"]
        return sum(g.auto_score or 0 for g in grades), sum(g.max_score for g in grades)


def _config():
    from traitlets.config import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()


def _autograde(course: Path, name: str, students: list[str]) -> dict[str, dict]:
    from course_lib.grading.autograde import autograde
    from course_lib.grading.sandbox import choose_backend

    try:
        choose_backend("auto")
    except RuntimeError as err:
        skip_or_fail(str(err))
    results = autograde(course, name, students, jobs=2, progress=False)
    return {r["student"]: r for r in results}


# --- the tests ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_solution_runs_headless_without_errors(name, executed):
    nb = executed(name)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors, f"{name}: {errors[0]['ename']}: {errors[0]['evalue']}" if errors else ""
    test_cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
                  and c.cell_type == "code"]
    assert test_cells and all("BEGIN HIDDEN TESTS" in c.source for c in test_cells
                              if c.metadata["nbgrader"]["grade_id"] != "test_pick_device")


def test_ps4_solution_reaches_the_accuracy_target(executed):
    nb = executed(PS4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                == "test_trained_model")
    text = "".join(o.get("text", "") for o in cell.outputs)
    measured = float(re.search(r"test accuracy of ([0-9.]+)", text).group(1))
    assert measured >= 0.989, text


def test_ps5_long_run_says_it_is_tiny_on_a_cpu(executed):
    nb = executed(PS5)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "real_run")
    text = "".join(o.get("text", "") for o in cell.outputs)
    import torch

    if not torch.cuda.is_available():
        assert "No GPU here" in text and "TINY" in text, text
    assert "images/s" in text, text


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_differs_from_the_solution_only_where_it_should(name):
    solution = json.loads(_notebook("solutions", name).read_text())
    release = json.loads(_notebook("assignments", name).read_text())
    assert len(release["cells"]) == len(solution["cells"])
    auto = manual = 0
    for i, (s, r) in enumerate(zip(solution["cells"], release["cells"])):
        smeta = s.get("metadata", {}).get("nbgrader", {})
        rmeta = r.get("metadata", {}).get("nbgrader", {})
        keys = ("grade_id", "grade", "solution", "locked", "points")
        assert {k: smeta.get(k) for k in keys} == {k: rmeta.get(k) for k in keys}, f"cell {i}"
        assert r["cell_type"] == s["cell_type"], f"cell {i}"
        assert _normal(_source(r)) == _normal(_expected_release_source(s)), \
            f"{name} cell {i} ({smeta.get('grade_id')})"
        for marker in ("BEGIN SOLUTION", "HIDDEN TESTS"):
            assert marker not in _source(r), f"{name} cell {i} still holds {marker}"
        if smeta.get("grade"):
            if s["cell_type"] == "code":
                auto += smeta["points"]
            else:
                manual += smeta["points"]
    assert (auto, manual) == POINTS[name]


def test_committed_releases_match_a_fresh_generate(course):
    problems = rel.release_differences(ROOT, list(ASSIGNMENTS), fresh_course=course)
    assert not problems, ("Run `python -m course_lib.grading generate` for ps3-ps5:\n"
                          + "\n".join(problems))


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_autograde_gives_the_solution_every_point_and_the_blank_zero(course, name):
    _need_mnist(name)
    _submit(course, name, "solution", complete=True)
    _submit(course, name, "blank", complete=False)
    results = _autograde(course, name, ["blank", "solution"])
    for student in ("blank", "solution"):
        result = results[student]
        assert result["status"] == STATUS_OK, f"{student}: {result['reason']}\n{result['log'][-3000:]}"
    assert _auto_scores(course, name, "solution") == (POINTS[name][0], POINTS[name][0])
    assert _auto_scores(course, name, "blank") == (0, POINTS[name][0])
