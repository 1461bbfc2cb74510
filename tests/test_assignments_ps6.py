"""Problem set 6 (lectures 08-10): the solution runs, the release is right, the tests discriminate.

* the solution notebook executes headless on the CPU without an error; it holds the hidden tests,
  so every autograded test passes on it;
* the committed release is what ``generate`` makes, and differs from the solution only where it
  should (answer cells stubbed, written answers blanked, hidden tests stripped);
* each test cell, hidden tests included, passes on the solution's answers, fails on the blank
  stubs, and fails on a specific wrong answer: a saliency map of the softmax, an FGSM step that
  is not clipped, batch norm with the unbiased variance, dropout without inverted scaling, a
  ReLU before the shortcut's addition, ... Those run here, in this process, with the answer and
  test cells executed as plain Python (the grader runs the same sources; through the sandbox,
  in ``tests/test_grading_ps6.py``).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course_lib.grading import release as rel
from course_lib.grading.fixtures import load, solution_sources

from test_assignments_ps345 import _expected_release_source, _normal, _source

ROOT = Path(__file__).resolve().parent.parent
PS6 = "ps6_after_alexnet"
#: (autograded points, points graded by hand)
POINTS = (23, 4)
#: test cell -> points
TESTS = {"test_saliency_map": 3, "test_fgsm": 3, "test_batchnorm_forward": 2,
         "test_batchnorm_backward": 4, "test_dropout_forward": 3, "test_dropout_backward": 2,
         "test_residual_block": 4, "test_conv_transpose_output_size": 2}


def _notebook(folder: str) -> Path:
    return ROOT / folder / PS6 / f"{PS6}.ipynb"


def _cells(folder: str) -> list[dict]:
    return load(_notebook(folder))["cells"]


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


# --- the notebook, headless ------------------------------------------------------------------

@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> nbformat.NotebookNode:
    nb = nbformat.read(_notebook("solutions"), as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={
        "metadata": {"path": str(tmp_path_factory.mktemp(PS6))}})
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"  # as in the grading sandbox
    try:
        client.execute()
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS")
        else:
            os.environ["OMP_NUM_THREADS"] = saved
    return nb


@pytest.mark.grading
def test_solution_runs_headless_and_passes_every_test(executed):
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors, f"{errors[0]['ename']}: {errors[0]['evalue']}" if errors else ""
    tests = {_grade_id(c): c for c in executed.cells
             if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}
    assert set(tests) == set(TESTS)
    for grade_id, cell in tests.items():
        assert "### BEGIN HIDDEN TESTS" in cell.source, grade_id
        printed = "".join(o.get("text", "") for o in cell.outputs)
        assert "the visible tests pass" in printed, (grade_id, printed)


@pytest.mark.grading
def test_the_demos_print_what_the_text_promises(executed):
    text = {_grade_id(c): "".join(o.get("text", "") for o in c.outputs)
            for c in executed.cells if c.cell_type == "code"}
    assert "test accuracy 1.000" in text["bars_model"], text["bars_model"]
    accuracy = [float(line.rsplit(" ", 1)[1]) for line in text["fgsm_demo"].splitlines()]
    assert len(accuracy) == 5 and accuracy[0] > 0.95 and accuracy[-1] < 0.3, text["fgsm_demo"]
    assert "saliency on the bar" in text["saliency_demo"], text["saliency_demo"]


# --- the release -----------------------------------------------------------------------------

def test_release_differs_from_the_solution_only_where_it_should():
    solution, release = _cells("solutions"), _cells("assignments")
    assert len(release) == len(solution)
    auto = manual = 0
    for i, (s, r) in enumerate(zip(solution, release)):
        smeta = s.get("metadata", {}).get("nbgrader", {})
        rmeta = r.get("metadata", {}).get("nbgrader", {})
        keys = ("grade_id", "grade", "solution", "locked", "points")
        assert {k: smeta.get(k) for k in keys} == {k: rmeta.get(k) for k in keys}, f"cell {i}"
        assert r["cell_type"] == s["cell_type"], f"cell {i}"
        assert _normal(_source(r)) == _normal(_expected_release_source(s)), \
            f"cell {i} ({smeta.get('grade_id')})"
        for marker in ("BEGIN SOLUTION", "HIDDEN TESTS"):
            assert marker not in _source(r), f"cell {i} still holds {marker}"
        if smeta.get("grade"):
            if s["cell_type"] == "code":
                auto += smeta["points"]
                assert TESTS[smeta["grade_id"]] == smeta["points"], smeta["grade_id"]
            else:
                manual += smeta["points"]
    assert (auto, manual) == POINTS


def test_the_notebook_metadata_is_complete():
    for folder in ("solutions", "assignments"):
        meta = load(_notebook(folder))["metadata"]
        assert meta["kernelspec"] == {"display_name": "Python 3 (ipykernel)",
                                      "language": "python", "name": "python3"}, folder
        assert meta["language_info"]["name"] == "python", folder


@pytest.mark.grading
def test_committed_release_matches_a_fresh_generate():
    problems = rel.release_differences(ROOT, [PS6])
    assert not problems, ("Run `python3 tasks.py assignments ps6_after_alexnet`:\n"
                          + "\n".join(problems))


# --- the tests, here, on right, blank and wrong answers ----------------------------------------

def _run(sources: list[str]) -> dict:
    namespace: dict = {"__name__": "__ps6__"}
    with contextlib.redirect_stdout(io.StringIO()):
        for source in sources:
            exec(compile(source, "<ps6 cell>", "exec"), namespace)  # noqa: S102 (our own cells)
    return namespace


def _answers(overrides: dict[str, str] | None = None) -> list[str]:
    """The setup cell, then every answer cell (the solution's, or ``overrides``)."""
    answers = {**solution_sources(load(_notebook("solutions"))), **(overrides or {})}
    setup = next(_source(c) for c in _cells("solutions") if _grade_id(c) == "setup")
    return [setup] + [answers[_grade_id(c)] for c in _cells("solutions")
                      if c.get("metadata", {}).get("nbgrader", {}).get("solution")
                      and c["cell_type"] == "code"]


def _test_source(grade_id: str) -> str:
    """The whole test cell of the solution notebook: hidden tests included."""
    return next(_source(c) for c in _cells("solutions") if _grade_id(c) == grade_id)


def _verdicts(answer_sources: list[str]) -> dict[str, str]:
    """test cell -> "" when it passes on these answers, else the failure's message."""
    verdicts = {}
    for grade_id in TESTS:
        try:
            _run(answer_sources + [_test_source(grade_id)])
            verdicts[grade_id] = ""
        except AssertionError as err:
            verdicts[grade_id] = str(err) or "AssertionError"
    return verdicts


def test_every_test_passes_on_the_solution_hidden_tests_included():
    assert _verdicts(_answers()) == {grade_id: "" for grade_id in TESTS}


def test_every_test_fails_on_the_blank_release():
    blank = {_grade_id(c): _source(c) for c in _cells("assignments")
             if c.get("metadata", {}).get("nbgrader", {}).get("solution")
             and c["cell_type"] == "code"}
    verdicts = _verdicts(_answers(blank))
    for grade_id, message in verdicts.items():
        assert "not implemented yet" in message, (grade_id, message)


def _mutate(grade_id: str, old: str, new: str) -> dict[str, str]:
    source = solution_sources(load(_notebook("solutions")))[grade_id]
    assert old in source, (grade_id, old)
    return {grade_id: source.replace(old, new)}


#: (answer cell, text, replacement, the tests that must fail, a phrase of its own test's failure)
WRONG = [
    ("saliency_map", "score = model(x)[0, label]", "score = model(x).softmax(1)[0, label]",
     {"test_saliency_map"}, "logit"),
    ("saliency_map", "    model.eval()\n", "", {"test_saliency_map"}, "model.eval()"),
    ("saliency_map", "grad[0].abs().amax(dim=0)", "grad[0].abs().sum(dim=0)",
     {"test_saliency_map"}, "wrong value"),
    ("fgsm", ".clamp(0.0, 1.0)", "", {"test_fgsm"}, "[0, 1]"),
    ("fgsm", "x + eps * grad.sign()", "x - eps * grad.sign()", {"test_fgsm"}, "pixels differ"),
    ("fgsm", "x + eps * grad.sign()", "x + eps * grad", {"test_fgsm"}, "differ"),
    ("batchnorm_forward", "x.var(axis=axes, keepdims=True)",
     "x.var(axis=axes, keepdims=True, ddof=1)",
     {"test_batchnorm_forward", "test_batchnorm_backward"}, "wrong value"),
    ("batchnorm_forward", "axes = (0,) if x.ndim == 2 else (0, 2, 3)", "axes = (0,)",
     {"test_batchnorm_forward", "test_batchnorm_backward"}, "per channel"),
    ("batchnorm_forward", "np.sqrt(var + eps)", "np.sqrt(var)",
     {"test_batchnorm_forward", "test_batchnorm_backward"}, "wrong value"),
    ("batchnorm_backward", "dx = inv_std * (g - g.mean(axis=axes, keepdims=True)\n"
     "                    - x_hat * (g * x_hat).mean(axis=axes, keepdims=True))",
     "dx = inv_std * g", {"test_batchnorm_backward"}, "dx"),
    ("batchnorm_backward", "dgamma = (dout * x_hat).sum(axis=axes)",
     "dgamma = dout.sum(axis=axes)", {"test_batchnorm_backward"}, "dgamma"),
    ("dropout_forward", "return x * mask, mask", "return x * keep, mask",
     {"test_dropout_forward"}, "inverted dropout"),
    ("dropout_forward", "mask = keep / (1 - p)", "mask = keep * (1 - p)",
     {"test_dropout_forward", "test_dropout_backward"}, "inverted dropout"),
    ("dropout_forward", ">= p", "< p", {"test_dropout_forward"}, "dropped"),
    ("dropout_forward", "np.random.default_rng(seed)", "np.random.default_rng()",
     {"test_dropout_forward"}, "same seed"),
    ("dropout_forward", "if not 0 <= p < 1:", "if p < 0:", {"test_dropout_forward"},
     "ValueError"),
    ("dropout_forward", "if not train:\n        return x, None",
     "if not train:\n        return x * 0, None", {"test_dropout_forward"}, "unchanged"),
    ("dropout_backward", "dout * mask", "dout * (mask != 0)", {"test_dropout_backward"},
     "dout / (1 - p)"),
    ("residual_block", "return F.relu(residual + self.shortcut(x))",
     "return F.relu(residual) + self.shortcut(x)", {"test_residual_block"}, "after the addition"),
    ("residual_block", "return F.relu(residual + self.shortcut(x))", "return F.relu(residual)",
     {"test_residual_block"}, "add the shortcut"),
    ("residual_block", "3, stride=stride, padding=1, bias=False)",
     "3, stride=stride, padding=1)", {"test_residual_block"}, "without bias"),
    ("residual_block", "nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)",
     "nn.Conv2d(out_channels, out_channels, 3, padding=2, dilation=2, bias=False)",
     {"test_residual_block"}, "random weights"),
    ("residual_block", "if stride != 1 or in_channels != out_channels:", "if stride != 1:",
     {"test_residual_block"}, "ResidualBlock(6, 5"),
    ("conv_transpose_output_size", "dilation * (k - 1)", "(k - 1)",
     {"test_conv_transpose_output_size"}, "dilation="),
    ("conv_transpose_output_size", " + output_padding", "",
     {"test_conv_transpose_output_size"}, "doubles the size"),
]


@pytest.mark.parametrize("grade_id, old, new, failing, phrase", WRONG,
                         ids=[f"{w[0]}-{i}" for i, w in enumerate(WRONG)])
def test_a_wrong_answer_fails_its_own_tests_and_no_other(grade_id, old, new, failing, phrase):
    verdicts = _verdicts(_answers(_mutate(grade_id, old, new)))
    failed = {t for t, message in verdicts.items() if message}
    assert failed == failing, json.dumps(verdicts, indent=1)
    own = f"test_{grade_id}"  # the test of the answer cell that was changed says what is wrong
    assert phrase in verdicts[own], verdicts[own]
