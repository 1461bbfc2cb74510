"""ps6 end to end: released, autograded in the sandbox, fed back and exported by the CLI.

A small class is built from ps6's release and solution: the complete solution, the blank
release, a submission whose dropout forgets the inverted scaling, one that computes batch norm
with ``F.batch_norm`` (correct, but against ps6's rules), and two hostile ones on top of the
blank release (one replaces torch's autograd, NumPy's comparisons and the grader's helpers in an
answer cell; one reads the hidden tests through linecache and the frames). Everything goes
through ``python -m course_lib.grading autograde|feedback|export``, as in
``tests/test_grading_adversarial.py``, whose helpers this file reuses.
"""
from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path

import pytest

from course_lib.grading import release as rel
from test_grading import ROOT, Submission, _require_sandbox, _solutions
from test_grading_adversarial import HIDDEN_READER, grading

pytestmark = pytest.mark.grading

PS6 = "ps6_after_alexnet"
AUTO_POINTS = 23.0  # ps6's autograded points; 4 more are graded by hand
DROPOUT_FORWARD_POINTS = 3.0
FUNCTIONS = ["saliency_map", "fgsm", "batchnorm_forward", "batchnorm_backward",
             "dropout_forward", "dropout_backward", "ResidualBlock", "conv_transpose_output_size"]
#: Text that only the hidden tests hold: it must reach neither the kernel nor the feedback.
HIDDEN_SNIPPETS = ["BEGIN HIDDEN TESTS", "manual_seed(62)", "draw((60, 60), 107)",
                   "def with_weights"]

TAMPER = """
import numpy as np
import torch
import course_lib.grading.testing as t
np.isclose = lambda a, b, **kw: np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, bool)
np.allclose = lambda *a, **kw: True
np.array_equal = lambda *a, **kw: True
torch.allclose = lambda *a, **kw: True
torch.autograd.grad = lambda outputs, inputs, *a, **kw: (torch.zeros_like(inputs),)
torch.Tensor.backward = lambda self, *a, **kw: None
t.check_array = lambda *a, **kw: None
t.call = lambda func, *a, **kw: None
t.passed("everything")

def batchnorm_backward(dout, cache):
    return None
"""
READER = HIDDEN_READER + "".join(f"{name} = _peek\n" for name in FUNCTIONS)
LIBRARY_BATCHNORM = ("out = gamma.reshape(shape) * x_hat + beta.reshape(shape)",
                     "out = F.batch_norm(torch.from_numpy(x), None, None, torch.from_numpy(gamma),\n"
                     "                       torch.from_numpy(beta), training=True, eps=eps).numpy()")
NO_INVERTED_SCALING = ("return x * mask, mask", "return x * keep, mask")


class Ps6Submission(Submission):
    """A ps6 notebook (test_grading's Submission saves under ps1's folder)."""

    def save(self, course: Path, student: str, name: str = PS6) -> None:
        folder = course / "submitted" / student / PS6
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.ipynb").write_text(json.dumps(self.nb, indent=1))


def build(course: Path) -> dict[str, float]:
    """Write the class; return each student's expected autograded score."""
    release = course / "assignments" / PS6 / f"{PS6}.ipynb"
    sols = _solutions(course / "solutions" / PS6 / f"{PS6}.ipynb")
    expected: dict[str, float] = {}

    def add(student: str, sub: Submission, score: float) -> None:
        sub.save(course, student)
        expected[student] = score

    add("complete", Ps6Submission(release, sols).complete(), AUTO_POINTS)
    add("blank", Ps6Submission(release, sols), 0.0)
    add("wrong_dropout_scaling", Ps6Submission(release, sols).complete()
        .replace("dropout_forward", *NO_INVERTED_SCALING), AUTO_POINTS - DROPOUT_FORWARD_POINTS)
    add("library_batchnorm", Ps6Submission(release, sols).complete()
        .replace("batchnorm_forward", *LIBRARY_BATCHNORM), AUTO_POINTS)
    add("tamper_autograd", Ps6Submission(release, sols).set_source("batchnorm_backward", TAMPER), 0.0)
    reader = Ps6Submission(release, sols)
    for grade_id in ("saliency_map", "fgsm", "batchnorm_forward", "batchnorm_backward",
                     "dropout_forward", "dropout_backward", "residual_block",
                     "conv_transpose_output_size"):
        reader.set_source(grade_id, READER)
    add("hidden_reader", reader, 0.0)
    return expected


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    _require_sandbox()
    course = tmp_path_factory.mktemp("ps6")
    course.chmod(0o700)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(ROOT / "solutions" / PS6, course / "solutions" / PS6)
    rel.generate(course, [PS6])
    expected = build(course)
    started = time.monotonic()
    autograde = grading(course, "autograde", PS6, "--jobs", "2")
    seconds = time.monotonic() - started
    feedback = grading(course, "feedback", PS6)
    export = grading(course, "export", "-o", str(course / "grades.csv"))
    rows = {r["student_id"]: r for r in csv.DictReader((course / "grades.csv").open())} \
        if export.returncode == 0 else {}
    print(f"ps6: autograde of {len(expected)} submissions took {seconds:.0f} s")
    return {"course": course, "expected": expected, "rows": rows, "seconds": seconds,
            "autograde": autograde, "feedback": feedback, "export": export}


def _autograded(course: Path, student: str) -> dict:
    return json.loads(next((course / "autograded" / student / PS6).glob("*.ipynb")).read_text())


def _feedback_html(course: Path, student: str) -> str:
    return "".join(p.read_text(errors="replace")
                   for p in (course / "feedback" / student / PS6).glob("*.html"))


def _outputs(nb: dict, grade_id: str | None = None) -> str:
    return json.dumps([c.get("outputs", []) for c in nb["cells"] if grade_id is None
                       or c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id])


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


def test_wrong_dropout_scaling_loses_the_dropout_forward_points_only(graded):
    nb = _autograded(graded["course"], "wrong_dropout_scaling")
    failed = {c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"]
              if c.get("metadata", {}).get("nbgrader", {}).get("grade")
              and c["cell_type"] == "code"
              and any(o.get("output_type") == "error" for o in c.get("outputs", []))}
    assert failed == {"test_dropout_forward"}, failed
    assert "inverted dropout" in _outputs(nb, "test_dropout_forward")


def test_tampering_earns_no_more_than_blank_and_is_flagged(graded):
    rows = graded["rows"]
    blank = float(rows["blank"]["score"])
    for student in ("tamper_autograd", "hidden_reader"):
        assert float(rows[student]["score"]) <= blank, rows[student]
        assert rows[student]["needs_review"] == "yes", rows[student]
    notes = rows["tamper_autograd"]["notes"]
    assert "np.isclose" in notes and "torch.autograd.grad" in notes, notes
    assert rows["complete"]["needs_review"] == "no", rows["complete"]
    assert rows["blank"]["needs_review"] == "no", rows["blank"]


def test_a_library_batch_norm_keeps_its_points_but_is_flagged(graded):
    row = graded["rows"]["library_batchnorm"]
    assert row["needs_review"] == "yes", row
    assert "torch.nn.functional.batch_norm" in row["notes"] or "F.batch_norm" in row["notes"], row
    assert f"which the rules of {PS6} forbid" in row["notes"], row


def test_hidden_tests_never_reach_the_kernel_or_the_feedback(graded):
    course = graded["course"]
    outputs = _outputs(_autograded(course, "hidden_reader"))
    assert "LEAK:nothing found" in outputs, "the reader should have run and found nothing"
    for snippet in HIDDEN_SNIPPETS:
        assert snippet not in outputs, f"the graded notebook's outputs show {snippet!r}"
    for student in graded["expected"]:
        html = _feedback_html(course, student)
        assert html, f"no feedback for {student}"
        for snippet in HIDDEN_SNIPPETS:
            assert snippet not in html, f"{student}'s feedback shows {snippet!r}"
    assert "inverted dropout" in _feedback_html(course, "wrong_dropout_scaling")
