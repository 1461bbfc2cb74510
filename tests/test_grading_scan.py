"""The grader's static scan of answer cells, and the preprocessors that make graded copies and
feedback small and inert (course_lib/grading/scan.py, course_lib/grading/sanitize.py)."""
from __future__ import annotations

import copy
import html
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_lib.grading import release as rel
from course_lib.grading.sanitize import (MIN_CAP, CapOutputBytes, DropActiveOutputs,
                                         EscapeAnswerHtml, cap_text, escape_markdown_html,
                                         utf8_size)
from course_lib.grading.scan import scan_cell, scan_notebook

ROOT = Path(__file__).resolve().parent.parent
PS1, PS2 = "ps1_convolution", "ps2_conv_layer_pooling"
ASSIGNMENTS = ["ps1_convolution", "ps2_conv_layer_pooling", "ps3_network_size", "ps4_lenet",
               "ps5_alexnet_gpu", "ps6_after_alexnet"]
XSS = "<script>alert(1)</script> <img src=x onerror=alert(1)>"


# --- helpers --------------------------------------------------------------------------------------

def _role(**role) -> dict:
    return {"nbgrader": {"schema_version": 3, "grade": False, "solution": False, "locked": False,
                         "task": False, **role}}


def answer(source: str, grade_id: str = "answer") -> dict:
    return new_code_cell(source, metadata=_role(solution=True, grade_id=grade_id))


def notebook(*cells) -> nbformat.NotebookNode:
    """A notebook whose first cell, read-only, imports numpy as np (as the problem sets do)."""
    setup = new_code_cell("import numpy as np", metadata=_role(locked=True, grade_id="setup"))
    return new_notebook(cells=[setup, *cells])


def notes_for(source: str, assignment: str = PS1) -> list[str]:
    return scan_notebook(notebook(answer(source)), assignment)


# --- the scan: forbidden calls --------------------------------------------------------------------

FORBIDDEN = [
    ("np.convolve(a, b)", "calls np.convolve,"),
    ("import numpy\nnumpy.convolve(a, b)", "calls numpy.convolve,"),
    ("np.correlate(a, b)", "calls np.correlate,"),
    ("import numpy as xp\nxp.convolve(a, b)", "calls xp.convolve (= numpy.convolve)"),
    ("from numpy import convolve\nconvolve(a, b)", "calls convolve (= numpy.convolve)"),
    ("from numpy import *\nconvolve(a, b)", "calls convolve (= numpy.convolve)"),
    ("f = getattr(np, 'convolve')", "uses np.convolve,"),
    ("import scipy.signal\nscipy.signal.convolve2d(a, b)", "calls scipy.signal.convolve2d,"),
    ("from scipy import signal\nsignal.convolve2d(a, b)",
     "calls signal.convolve2d (= scipy.signal.convolve2d)"),
    ("from scipy.signal import convolve2d as c\nc(a, b)", "calls c (= scipy.signal.convolve2d)"),
    ("import scipy.signal as ss\nss.fftconvolve(a, b)", "calls ss.fftconvolve (= scipy.signal"),
    ("from scipy import ndimage\nndimage.convolve(a, b)", "(= scipy.ndimage.convolve)"),
    ("import scipy.ndimage as ndi\nndi.correlate1d(a, b)", "(= scipy.ndimage.correlate1d)"),
    ("import torch.nn.functional as F\nF.conv2d(x, w)", "calls F.conv2d,"),
    ("import torch\ntorch.nn.functional.conv1d(x, w)", "calls torch.nn.functional.conv1d,"),
    ("from torch.nn import functional as fn\nfn.conv_transpose2d(x, w)",
     "(= torch.nn.functional.conv_transpose2d)"),
    ("import course_lib.conv\ncourse_lib.conv.conv2d(x, w)", "calls course_lib.conv.conv2d,"),
    ("from course_lib import pool\npool.max_pool(x)", "calls pool.max_pool (= course_lib.pool"),
    ("from course_lib.gpu import device\ndevice()", "calls device (= course_lib.gpu.device)"),
]


@pytest.mark.parametrize("source, expected", FORBIDDEN)
@pytest.mark.parametrize("assignment", [PS1, PS2])
def test_each_forbidden_call_is_found(source, expected, assignment):
    notes = notes_for(source, assignment)
    assert any(expected in note and f"which the rules of {assignment} forbid" in note
               for note in notes), notes


def test_the_note_names_the_cell_the_line_and_the_rule():
    source = "def conv1d_flip_filter(a, b, mode='full'):\n    a = np.asarray(a)\n\n" \
             "    return np.convolve(a, b, mode)\n"
    assert scan_notebook(notebook(answer(source, "conv1d_flip_filter")), PS1) == [
        ("answer cell 'conv1d_flip_filter', line 4: calls np.convolve, which the rules of "
         "ps1_convolution forbid")]


def test_forbidden_imports_are_noted_too():
    notes = notes_for("from scipy.signal import convolve2d as c\nimport course_lib.pool")
    assert any("line 1: imports scipy.signal.convolve2d" in n for n in notes)
    assert any("line 2: imports course_lib.pool" in n for n in notes)


@pytest.mark.parametrize("source, expected", FORBIDDEN)
def test_the_convolution_rules_apply_only_to_ps1_and_ps2(source, expected):
    assert notes_for(source, "ps4_lenet") == []


PS6 = "ps6_after_alexnet"
PS6_FORBIDDEN = [
    ("out = F.batch_norm(x, None, None, g, b, training=True)", "calls F.batch_norm,"),
    ("import torch\nout = torch.batch_norm(x, g, b, None, None, True, 0.1, 1e-5, False)",
     "calls torch.batch_norm,"),
    ("import torch\nlayer = torch.nn.BatchNorm1d(4)", "calls torch.nn.BatchNorm1d,"),
    ("from torch import nn\nlayer = nn.Dropout(0.5)", "calls nn.Dropout,"),
    ("from torch.nn import Dropout2d as D\nlayer = D(0.5)", "calls D (= torch.nn.Dropout2d)"),
    ("import torch.nn.functional as fn\ny = fn.dropout(x, 0.5)",
     "calls fn.dropout (= torch.nn.functional.dropout)"),
    ("import torch\ny = torch.dropout(x, 0.5, True)", "calls torch.dropout,"),
    ("from course_lib import visualize\nvisualize.saliency(m, x, 1)",
     "calls visualize.saliency (= course_lib.visualize.saliency)"),
    ("from course_lib.conv.transposed import conv_transpose_output_size as size",
     "imports course_lib.conv.transposed.conv_transpose_output_size"),
]


@pytest.mark.parametrize("source, expected", PS6_FORBIDDEN)
def test_ps6_forbids_library_batch_norm_dropout_and_the_course_answers(source, expected):
    notes = notes_for(source, PS6)
    assert any(expected in note and f"which the rules of {PS6} forbid" in note
               for note in notes), notes
    assert notes_for(source, "ps5_alexnet_gpu") == []  # ps6's rules are ps6's alone


def test_ps6_allows_what_its_answers_need():
    """The residual block is built from nn.BatchNorm2d; saliency and FGSM use autograd."""
    source = ("import torch\nfrom torch import nn\nbn = nn.BatchNorm2d(8)\n"
              "(g,) = torch.autograd.grad(y, x)\nloss = F.cross_entropy(z, t)\n"
              "mask = np.random.default_rng(0).random(x.shape) >= p")
    assert notes_for(source, PS6) == []


# --- the scan: tampering --------------------------------------------------------------------------

TAMPERING = [
    ("ip = get_ipython()", "calls get_ipython"),
    ("from IPython import get_ipython", "imports IPython.get_ipython"),
    ("import sys\nsys.settrace(f)", "calls sys.settrace"),
    ("import sys\nsys.setprofile(f)", "calls sys.setprofile"),
    ("import builtins\nbuiltins.print = f", "assigns to builtins.print"),
    ("__builtins__.len = f", "assigns to __builtins__.len"),
    ("import linecache\nlinecache.cache.clear()", "imports linecache"),
    ("import ctypes", "imports ctypes"),
    ("import sys\nsys.displayhook = f", "assigns to sys.displayhook"),
    ("import sys\nsys.excepthook = f", "assigns to sys.excepthook"),
    ("m = __import__('numpy')", "calls __import__"),
    ("import importlib\nimportlib.reload(np)", "calls importlib.reload"),
    ("import sys\nsys.modules['numpy'] = fake", "uses sys.modules"),
    ("import gc\ngc.get_objects()", "calls gc.get_objects"),
    ("import inspect\ninspect.currentframe()", "calls inspect.currentframe"),
    ("get_ipython().input_transformers_cleanup.append(f)", "uses .input_transformers_cleanup"),
    ("ip.input_transformers_post.append(f)", "uses .input_transformers_post"),
    ("get_ipython().ast_transformers.append(t)", "uses .ast_transformers"),
    ("get_ipython().events.register('post_run_cell', f)", "uses .events.register"),
    ("exec(code)", "calls exec"),
    ("value = eval('1 + 1')", "calls eval"),
    ("c = compile(src, 'x', 'exec')", "calls compile"),
    ("import os\nos.system('ls')", "calls os.system"),
    ("import subprocess\nsubprocess.run(['ls'])", "calls subprocess.run"),
    ("from subprocess import run as go\ngo(['ls'])", "calls go (= subprocess.run)"),
    ("setattr(np, 'isclose', lambda *a, **k: True)",
     "calls setattr on np, changing an imported module"),
    ("np.isclose = lambda *a, **k: True", "assigns to np.isclose, changing an imported module"),
    ("import course_lib.grading.testing\ncourse_lib.grading.testing.check_array = f",
     "assigns to course_lib.grading.testing.check_array, changing an imported module"),
    ("from course_lib.grading import testing as t\nt.check_array = f",
     "assigns to t.check_array (= course_lib.grading.testing.check_array)"),
    ("def f():\n    return f.__globals__", "uses .__globals__"),
]


@pytest.mark.parametrize("source, expected", TAMPERING)
@pytest.mark.parametrize("assignment", [PS1, "ps3_network_size", "ps5_alexnet_gpu"])
def test_each_tampering_primitive_is_found_in_every_assignment(source, expected, assignment):
    notes = notes_for(source, assignment)
    assert any(expected in note for note in notes), notes


# --- the scan: honest code ------------------------------------------------------------------------

HONEST = '''
import re

def conv1d_translate_scale(a, b, mode="full"):
    """a * b by adding shifted copies of b; `mode` as in np.convolve (not np.correlate)."""
    # np.convolve would do this in one line, but the rules forbid it; so would signal.convolve2d
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    full = np.zeros(len(a) + len(b) - 1)
    for tau, a_tau in enumerate(a):
        full[tau:tau + len(b)] += a_tau * b
    note = "scipy.signal.convolve2d and get_ipython() and exec( are only words here"
    pattern = re.compile(r"np\\.convolve")
    F, _, KH, KW = (1, 2, 3, 4)
    gc = inspect = 0
    return full
'''


def test_honest_code_gets_no_note_even_when_it_names_forbidden_calls():
    assert notes_for(HONEST) == []
    assert notes_for("model.eval()\nout = torch.compile(model)\nx.conv2d = 1") == []


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
@pytest.mark.parametrize("folder", ["solutions", "assignments"])
def test_the_course_own_solutions_and_release_are_clean(folder, assignment):
    nb = nbformat.read(ROOT / folder / assignment / f"{assignment}.ipynb", as_version=4)
    assert scan_notebook(nb, assignment) == []


def test_test_cells_and_read_only_cells_are_not_scanned():
    test_cell = new_code_cell("from scipy.signal import convolve2d\nconvolve2d(a, b)",
                              metadata=_role(grade=True, locked=True, grade_id="t", points=1))
    read_only = new_code_cell("import gc", metadata=_role(locked=True, grade_id="ro"))
    assert scan_notebook(notebook(test_cell, read_only), PS1) == []


def test_a_test_cell_import_does_not_make_a_student_name_forbidden():
    """Test cells run in the grader, so their imports bind nothing in the kernel."""
    test_cell = new_code_cell("from scipy.signal import convolve2d",
                              metadata=_role(grade=True, locked=True, grade_id="t", points=1))
    mine = answer("def convolve2d(a, b):\n    return a\nconvolve2d(1, 2)")
    assert scan_notebook(notebook(test_cell, mine), PS1) == []


def test_added_cells_are_scanned_and_named_by_position():
    added = new_code_cell("np.convolve(a, b)")  # no nbgrader metadata: a student added it
    nb = notebook(answer("x = 1"), new_markdown_cell("np.convolve(a, b)"), added)
    assert scan_notebook(nb, PS1) == [
        "an added cell #4, line 1: calls np.convolve, which the rules of ps1_convolution forbid"]


def test_a_forged_role_does_not_hide_a_cell():
    """Students can edit metadata: a repeated grade_id, or one the release does not have, is
    not trusted, so such a cell is scanned as an added cell."""
    fake_test = new_code_cell("import ctypes", metadata=_role(grade=True, locked=True,
                                                              grade_id="t", points=1))
    fake_setup = new_code_cell("np.convolve(a, b)", metadata=_role(locked=True, grade_id="setup"))
    nb = notebook(fake_setup, fake_test)
    assert scan_notebook(nb, PS1) == [
        "an added cell #2, line 1: calls np.convolve, which the rules of ps1_convolution forbid"]
    assert scan_notebook(nb, PS1, known_ids={"setup"})[1:] == [
        "an added cell #3, line 1: imports ctypes, a tampering primitive (writes raw memory)"]
    no_id = new_code_cell("import gc", metadata={"nbgrader": {"locked": True}})
    assert scan_notebook(notebook(no_id), PS1) == [
        ("an added cell #2, line 1: imports gc, a tampering primitive (reaches any object "
         "through the garbage collector)")]


def test_imports_in_other_kernel_cells_are_followed():
    nb = notebook(new_code_cell("import scipy.signal as sg",
                                metadata=_role(locked=True, grade_id="setup2")),
                  answer("sg.convolve2d(a, b)", "conv2d"))
    assert scan_notebook(nb, PS1) == [
        ("answer cell 'conv2d', line 1: calls sg.convolve2d (= scipy.signal.convolve2d), which "
         "the rules of ps1_convolution forbid")]


def test_a_plain_dict_notebook_with_list_sources_is_scanned():
    nb = {"cells": [{"cell_type": "code", "metadata": {"nbgrader": {"solution": True,
                                                                    "grade_id": "g"}},
                     "source": ["import numpy as np\n", "np.correlate(a, b)\n"]}]}
    assert scan_notebook(nb, PS2) == [
        ("answer cell 'g', line 2: calls np.correlate, which the rules of "
         "ps2_conv_layer_pooling forbid")]


# --- the scan: cells that do not parse ------------------------------------------------------------

def test_a_cell_with_magics_is_still_scanned():
    source = "%timeit np.convolve(a, b)\n!pip install scipy\nfor i in range(2):\n" \
             "    !echo hi\n    y = np.correlate(a, b)  # np.convolve\n"
    notes = notes_for(source)
    assert any("does not parse as Python" in n and ", line" not in n.split(":")[0] for n in notes)
    assert any("line 1: calls np.convolve" in n for n in notes)
    assert any("line 1: runs the IPython magic %timeit" in n for n in notes)
    assert any("line 2: runs a shell command" in n for n in notes)
    assert any("line 4: runs a shell command" in n for n in notes)
    assert any("line 5: calls np.correlate" in n for n in notes)
    assert not any("line 5: calls np.convolve" in n for n in notes)


def test_a_cell_with_a_syntax_error_is_scanned_line_by_line():
    source = "def f(a, b:\n    return np.convolve(a, b)\ns = '''\nnp.correlate\n'''\n" \
             "x = (get_ipython(\n"
    notes = notes_for(source)
    assert "does not parse as Python (line " in notes[0]
    assert any("line 2: calls np.convolve" in n for n in notes)
    assert any("line 6: calls get_ipython" in n for n in notes)
    assert not any("np.correlate" in n for n in notes)  # it is inside a string


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_the_scan_never_fails_on_any_text(source):
    assert all(isinstance(note, str) for _, note in scan_cell(source, {}, PS1))


# --- CapOutputBytes -------------------------------------------------------------------------------

def _text_bytes(output) -> int:
    if output["output_type"] == "stream":
        return utf8_size(output["text"])
    if output["output_type"] == "error":
        return sum(utf8_size(output[k]) for k in ("ename", "evalue")) + \
            utf8_size("\n".join(output["traceback"]))
    return sum(utf8_size(v) for k, v in output["data"].items() if k.startswith("text/"))


def _capped(outputs, **limits) -> list:
    nb = new_notebook(cells=[new_code_cell("print(x)", outputs=outputs)])
    nb, _ = CapOutputBytes(**limits).preprocess(nb, {})
    return nb.cells[0].outputs


def test_a_10_mb_single_line_is_capped_in_bytes():
    line = "x" * 10_000_000  # one line: nbgrader's LimitOutput would keep it all
    [out] = _capped([new_output("stream", name="stdout", text=line)])
    assert utf8_size(out.text) <= 10_000
    assert out.text.startswith("xxx")
    assert out.text.endswith(f"... [{10_000_000 - out.text.index(chr(10))} bytes cut by the "
                             "grader]\n")


def test_results_and_errors_are_capped_too():
    big = "é" * 100_000
    outputs = [new_output("execute_result", data={"text/plain": big}, execution_count=1),
               new_output("error", ename="ValueError", evalue=big, traceback=[big, big])]
    result, error, *_ = _capped(outputs)
    assert _text_bytes(result) <= 10_000 and "bytes cut by the grader" in result.data["text/plain"]
    assert _text_bytes(error) <= 10_000 and error.ename == "ValueError"
    assert error.output_type == "error"  # an error stays an error
    assert error.traceback[0].startswith("éé")
    assert "bytes cut by the grader" in error.traceback[-1]


def test_a_cell_is_capped_as_a_whole():
    outputs = [new_output("stream", name=("stdout", "stderr")[i % 2], text="y" * 9_000)
               for i in range(40)]
    capped = _capped(outputs)
    assert sum(map(_text_bytes, capped)) <= 50_000
    assert capped[-1].text.startswith("... [") and "bytes cut by the grader" in capped[-1].text
    assert len(capped) < 10


def test_a_display_whose_text_is_all_cut_keeps_its_image():
    outputs = [new_output("stream", name="stdout", text="z" * 9_000),
               new_output("display_data", data={"text/plain": "p" * 2_000, "image/png": "iVBO"})]
    _, display, note = _capped(outputs, max_bytes_per_output=9_000, max_bytes_per_cell=9_100)
    assert dict(display.data) == {"image/png": "iVBO"}
    assert note.text == "... [2000 bytes cut by the grader]\n"


@given(st.lists(st.text(max_size=3_000), max_size=12),
       st.integers(MIN_CAP, 4_000), st.integers(MIN_CAP, 12_000))
def test_random_outputs_never_grow_past_the_caps(texts, per_output, per_cell):
    outputs = [new_output("stream", name="stdout", text=t) for t in texts]
    capped = _capped(copy.deepcopy(outputs), max_bytes_per_output=per_output,
                     max_bytes_per_cell=per_cell)
    assert all(_text_bytes(o) <= per_output or o is capped[-1] for o in capped)
    assert sum(map(_text_bytes, capped)) <= per_cell
    again = _capped(copy.deepcopy(capped), max_bytes_per_output=per_output,
                    max_bytes_per_cell=per_cell)
    assert again == capped  # a second pass (autograde, then feedback) changes nothing


@given(st.text(), st.integers(0, 500))
def test_random_text_never_grows_past_the_cap(text, limit):
    capped, cut = cap_text(text, limit)
    assert utf8_size(capped) <= max(limit, MIN_CAP)
    if cut:
        assert capped.endswith(f"[{cut} bytes cut by the grader]\n")
        assert utf8_size(capped) < utf8_size(text)
    else:
        assert capped == text
    assert cap_text(capped, limit) == (capped, 0)


# --- DropActiveOutputs ----------------------------------------------------------------------------

ACTIVE = {"text/html": XSS, "application/javascript": "alert(1)", "text/javascript": "alert(1)",
          "image/svg+xml": "<svg onload=alert(1)/>", "text/markdown": XSS,
          "text/latex": "$x$", "application/vnd.jupyter.widget-view+json": {"model_id": "m"},
          "application/vnd.course-grader.reply+json": "{}"}


def test_active_outputs_are_dropped_and_inert_ones_kept():
    png = "iVBORw0KGgo="
    outputs = [
        new_output("display_data", data={**ACTIVE, "text/plain": "<Figure>", "image/png": png},
                   metadata={"text/html": {"isolated": True}, "image/png": {"width": 10}}),
        new_output("execute_result", data={"text/html": XSS}, execution_count=1),
        new_output("display_data", data={"application/javascript": "alert(1)"}),
        new_output("stream", name="stdout", text=XSS),
    ]
    nb = new_notebook(cells=[new_code_cell("plot()", outputs=outputs)])
    nb, _ = DropActiveOutputs().preprocess(nb, {})
    kept = nb.cells[0].outputs
    assert [o.output_type for o in kept] == ["display_data", "stream"]
    assert dict(kept[0].data) == {"text/plain": "<Figure>", "image/png": png}
    assert dict(kept[0].metadata) == {"image/png": {"width": 10}}
    assert kept[1].text == XSS  # a stream is text: the template escapes it


# --- EscapeAnswerHtml -----------------------------------------------------------------------------

class _LiveMarkup(HTMLParser):
    """Collects what in an HTML page could run: script-like tags, on* handlers, script URLs."""

    DANGEROUS_TAGS = frozenset({"script", "iframe", "img", "svg", "object", "embed", "style",
                                "link", "meta", "form", "input", "base", "math", "video",
                                "audio", "frame"})

    def __init__(self, allowed_tags=()):
        super().__init__()
        self.allowed = set(allowed_tags)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.DANGEROUS_TAGS - self.allowed:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            value = "".join((value or "").split()).lower()
            if name.startswith("on"):
                self.found.append(f"{tag} {name}=")
            if name in ("href", "src", "action", "formaction") and \
                    value.startswith(("javascript:", "vbscript:", "data:text/html")):
                self.found.append(f"{tag} {name}={value[:30]}")


def live_markup(page: str, allowed_tags=()) -> list[str]:
    parser = _LiveMarkup(allowed_tags)
    parser.feed(page)
    return parser.found


def _escaped(cell) -> str:
    nb = new_notebook(cells=[cell])
    nb, _ = EscapeAnswerHtml().preprocess(nb, {})
    return nb.cells[0].source


def test_raw_html_in_an_answer_cell_is_escaped():
    cell = new_markdown_cell(f"My answer: {XSS}\n\n<iframe src=x></iframe>",
                             metadata=_role(solution=True, grade=True, grade_id="explain",
                                            points=3))
    source = _escaped(cell)
    assert "<" not in source and "onerror=alert(1)" in source
    page = markdown2html_mistune(source)
    assert live_markup(page) == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, as text


def test_markdown_and_latex_still_render():
    source = _escaped(new_markdown_cell(
        "*Flip* the **kernel**:\n\n- one\n- two\n\n$$a_{i} < b$$ and $x<y$ but 1 < 2 & "
        "`k<n` and [link](https://example.org)", metadata=_role(solution=True, grade_id="e")))
    page = markdown2html_mistune(source)
    assert "<em>Flip</em>" in page and "<strong>kernel</strong>" in page and "<li>one</li>" in page
    assert "$$a_{i} \\lt  b$$" in page and "$x\\lt y$" in page
    assert "1 &lt; 2 &amp;" in page and 'href="https://example.org"' in page


def test_script_links_are_defused():
    source = _escaped(new_markdown_cell(
        "[a](javascript:alert(1)) [b](&#106;avascript:alert(1)) [c](JaVaScRiPt:alert(1))",
        metadata=_role(solution=True, grade_id="e")))
    assert live_markup(markdown2html_mistune(source)) == []


def test_unlocked_cells_are_escaped_and_locked_ones_kept():
    instructions = new_markdown_cell("Edited by a student: <script>alert(1)</script>")
    locked = new_markdown_cell("<b>Read me</b>", metadata=_role(locked=True, grade_id="ro"))
    assert "<" not in _escaped(instructions)
    assert _escaped(locked) == "<b>Read me</b>"
    forged = new_markdown_cell("<script>alert(1)</script>", metadata={"nbgrader": {"locked": True}})
    assert "<" not in _escaped(forged)  # locked, but no grade_id: OverwriteCells did not vouch
    narrow = new_notebook(cells=[instructions])
    narrow, _ = EscapeAnswerHtml(escape_unlocked_cells=False).preprocess(narrow, {})
    assert narrow.cells[0].source == instructions.source


def test_escaping_hostile_markdown_takes_linear_time():
    """Math openers without closers once made the escaping quadratic (40 KB took 9 s)."""
    for text in ["\\[" * 100_000, "\\begin{x}" * 25_000, "\\(" * 100_000, "$\n" * 100_000]:
        started = time.monotonic()
        assert "<" not in escape_markdown_html(text + "<script>")
        assert time.monotonic() - started < 10  # quadratic would take minutes


MARKUP_ALPHABET = st.sampled_from(list("<>/&#;:=\"' \n`$[]()!*\\abcijlnoprstvxy0123456789")
                                  + ["script", "img", "onerror", "javascript", "&#106;", "iframe",
                                     "svg", "<a href=", "src", "$$", "\\begin{x}", "\\end{x}"])


@given(st.lists(MARKUP_ALPHABET, max_size=60).map("".join))
def test_escaped_markdown_never_renders_live_markup(text):
    once = escape_markdown_html(text)
    assert "<" not in once
    assert escape_markdown_html(once) == once  # the feedback escapes the autograded copy again
    assert live_markup(markdown2html_mistune(once)) == []


# --- the wiring in nbgrader_config.py -------------------------------------------------------------

def test_the_course_config_runs_them_after_the_verdict_and_in_the_feedback():
    from nbconvert.exporters import HTMLExporter
    from traitlets.utils.importstring import import_item

    cfg = rel.course_config(ROOT)
    mine = ["course_lib.grading.sanitize.CapOutputBytes",
            "course_lib.grading.sanitize.DropActiveOutputs",
            "course_lib.grading.sanitize.EscapeAnswerHtml"]
    autograde = list(cfg.Autograde.autograde_preprocessors)
    after_verdict = autograde[autograde.index("nbgrader.preprocessors.SaveAutoGrades") + 1:]
    assert after_verdict[:3] == mine
    assert autograde.index("course_lib.grading.preprocessors.SandboxedExecute") == 0
    feedback = list(cfg.GenerateFeedback.preprocessors)
    assert all(name in feedback for name in mine)
    assert feedback.index(mine[-1]) < feedback.index(
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor")
    for name in autograde + feedback:
        import_item(name)
    assert HTMLExporter(config=cfg).sanitize_html is True
    cap = CapOutputBytes(config=cfg)
    assert (cap.max_bytes_per_output, cap.max_bytes_per_cell) == (10_000, 50_000)


# --- end to end: the feedback of a hostile submission ---------------------------------------------

def _source_notebook() -> nbformat.NotebookNode:
    return new_notebook(cells=[
        new_markdown_cell("# A small assignment"),
        new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION",
                      metadata=_role(solution=True, grade_id="code_answer")),
        new_markdown_cell("An answer.", metadata=_role(solution=True, grade=True,
                                                       grade_id="explain", points=2)),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}})


def _hostile_copy(release: Path) -> nbformat.NotebookNode:
    """The released notebook as a student might hand it in, XSS in an answer and in outputs.
    It goes straight to autograded/: the feedback alone must make it safe."""
    nb = nbformat.read(release, as_version=4)
    code, explain = nb.cells[1], nb.cells[2]
    explain.source = f"My explanation. {XSS}"
    code.source = "x = 1"
    code.outputs = [
        new_output("stream", name="stdout", text=XSS),
        new_output("display_data", data={"text/html": XSS, "text/plain": XSS,
                                         "application/javascript": "alert(1)"}),
        new_output("execute_result", data={"text/markdown": XSS, "text/plain": "1"},
                   execution_count=1),
    ]
    nb.cells[0].source += f"\n\n{XSS}"  # an instructions cell a student edited
    return nb


@pytest.mark.grading
@pytest.mark.filterwarnings("ignore:Object of type .* not in session")  # nbgrader's add_submission
def test_feedback_shows_hostile_html_as_text(tmp_path):
    from nbgrader.api import Gradebook

    course, name = tmp_path / "course", "ps_xss"
    (course / "solutions" / name).mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    nbformat.write(_source_notebook(), course / "solutions" / name / "xss.ipynb")
    rel.generate(course, [name])
    rel.ensure_tool_path()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.update_or_create_student("alice")
        gb.add_submission(name, "alice")
    graded = course / "autograded" / "alice" / name
    graded.mkdir(parents=True)
    nbformat.write(_hostile_copy(course / "assignments" / name / "xss.ipynb"),
                   graded / "xss.ipynb")

    rel.feedback(course, name)

    page = (course / "feedback" / "alice" / name / "xss.html").read_text()
    # The template's own <script> tags (MathJax, ...) are allowed; none may hold the payload.
    assert "alert(1)</script>" not in page.lower()
    assert live_markup(page, allowed_tags={"script", "style", "link", "meta"}) == []
    assert "<img" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the answer shows, as text
    assert "onerror=alert(1)" in html.unescape(page)
