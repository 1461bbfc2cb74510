"""`python3 tasks.py html`: pages that read fully without a network or a kernel.

Lecture 01 is executed and exported once (to a temporary folder) through
``course_lib.notebooks.export_html``, the function ``tasks.py html`` runs. The page must load
nothing from another host, show every formula drawn (an SVG image, no MathJax), and show each
widget as the still of its figure, described in words. The executed notebook is kept to count
the widgets the page must replace.
"""
from __future__ import annotations

import base64
import copy
import html
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT
from course_lib import notebooks

LECTURE = ROOT / "lectures" / "01_convolution_1d.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text outside <code>/<pre>/<style>/<script>."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("code", "pre", "style", "script"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("code", "pre", "style", "script"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Lecture 01 exported by export_html; returns (page HTML, parsed tags, executed notebook)."""
    executed = []
    real_execute = notebooks.execute

    def execute_and_keep(*args, **kwargs):
        nb = real_execute(*args, **kwargs)
        executed.append(copy.deepcopy(nb))
        return nb

    out = tmp_path_factory.mktemp("html")
    saved = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    notebooks.execute = execute_and_keep
    try:
        written = notebooks.export_html(out, [LECTURE], timeout=600)
    finally:
        notebooks.execute = real_execute
        if saved is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = saved
    assert written == [out / f"{LECTURE.stem}.html"] and (out / "index.html").exists()
    page = written[0].read_text(encoding="utf-8")
    tags = Tags()
    tags.feed(page)
    return page, tags, executed[0]


@pytest.mark.slow
@pytest.mark.notebooks
def test_page_loads_nothing_from_another_host(exported):
    page, tags, _ = exported
    for tag, attrs in tags.tags:
        for name in ("src", "href", "data", "srcset"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value.startswith(("http:", "https:", "//", "ftp:")), f"<{tag} {name}={value[:80]}>"
    scripts = [attrs["src"] for tag, attrs in tags.tags if tag == "script" and attrs.get("src")]
    assert not scripts, f"scripts loaded from files: {scripts}"
    assert not [a for t, a in tags.tags if t == "link" and a.get("rel") == "stylesheet"]
    # CSS and module scripts may load too: url(...), @import, import(...).
    assert not re.search(r"""(url\(|@import|import\()\s*["']?\s*(https?:)?//""", page, re.I)
    assert "mathjax" not in page.lower() and "require.js" not in page.lower()


@pytest.mark.slow
@pytest.mark.notebooks
def test_every_formula_is_drawn_as_an_svg(exported):
    page, tags, nb = exported
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    # An independent count: $...$ and $$...$$ outside `code`, read off the lecture's source.
    without_code = re.sub(r"`[^`\n]*`", "", markdown)
    expected = re.findall(r"\$\$(.+?)\$\$|\$([^$\n]+?)\$", without_code, re.S)
    maths = [a for t, a in tags.tags if t == "img" and a.get("class") == "math"]
    assert len(expected) > 10 and len(maths) == len(expected)
    alts = {" ".join(a["alt"].split()) for a in maths}
    for display, inline in expected:
        assert " ".join((display or inline).split()) in alts
    for attrs in maths:
        assert attrs["src"].startswith("data:image/svg+xml;base64,")
        svg = base64.b64decode(attrs["src"].split(",", 1)[1]).decode()
        assert "<svg" in svg and "<path" in svg, "the formula's glyphs must be drawn as paths"
    # No TeX is left for a script to typeset: no dollar sign in the page's prose.
    prose = "".join(tags.text)
    assert "$" not in prose, prose[prose.index("$") - 60:prose.index("$") + 60]


@pytest.mark.slow
@pytest.mark.notebooks
def test_each_widget_becomes_the_still_of_its_figure_with_a_description(exported):
    page, tags, nb = exported
    widgets = [o for c in nb.cells for o in c.get("outputs", []) if WIDGET_VIEW in o.get("data", {})]
    assert widgets, "lecture 01 shows a widget demo"
    assert WIDGET_VIEW not in page and "widget-state+json" not in page
    stills = [a for t, a in tags.tags if t == "img" and "Shown:" in (a.get("alt") or "")]
    assert len(stills) == len(widgets)
    for attrs, output in zip(stills, widgets):
        mime = next(m for m in output["data"] if m.startswith("image/"))
        assert attrs["src"] == f"data:{mime};base64,{output['data'][mime]}"
        # The description: what the demo is, and what its figure shows (the caption, as text).
        assert attrs["alt"] == output["metadata"][mime]["alt"] == output["data"]["text/plain"]
        assert "Flip-and-filter" in attrs["alt"] and "y[0]" in attrs["alt"]
    captions = [html.unescape(c) for c in re.findall(r'<p class="still-caption">(.*?)</p>', page, re.S)]
    assert captions == [attrs["alt"] for attrs in stills], "each still shows its description below it"


# --- the pieces, without executing a notebook ------------------------------------------------

def test_render_math_leaves_code_and_prices_alone():
    failed: list[str] = []
    out = notebooks.render_math("`$a$` and\n```\n$b$\n```\ncosts $5 and $6, but $x_1$ and $$y^2$$", failed)
    assert "`$a$`" in out and "\n$b$\n" in out and "$5 and $6" in out
    assert out.count('<img class="math"') == 2 and 'class="math-display"' in out
    assert 'alt="x_1"' in out and 'alt="y^2"' in out and not failed


def test_math_mathtext_cannot_draw_stays_tex_and_is_reported():
    failed: list[str] = []
    out = notebooks.render_math(r"see $\begin{pmatrix} 1 \end{pmatrix}$", failed)
    assert failed == [r"\begin{pmatrix} 1 \end{pmatrix}"]
    assert out == r"see <code>$\begin{pmatrix} 1 \end{pmatrix}$</code>"


def test_math_spellings_mathtext_lacks_are_translated():
    for tex in (r"k \le n", r"\lambda\lVert x\rVert^2", r"\lvert n - k\rvert", r"a \Big/ \Big(k + b\Big)"):
        assert notebooks.math_image(tex).startswith('<img class="math"')


def test_offline_notebook_keeps_the_still_or_says_where_the_widget_is():
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    view = {"version_major": 2, "version_minor": 0, "model_id": "abc"}
    with_still = new_output("display_data", {WIDGET_VIEW: view, "image/png": "iVBO", "text/plain": "a plot"},
                            metadata={"image/png": {"alt": "a plot"}})
    without = new_output("display_data", {WIDGET_VIEW: view, "text/plain": "VBox(...)"})
    nb = new_notebook(cells=[new_code_cell("demo.show()", outputs=[with_still, without])])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    notebooks.offline_notebook(nb)
    first, second = nb.cells[0].outputs
    assert first["data"] == {"image/png": "iVBO", "text/plain": "a plot"}
    assert second["data"] == {"text/plain": notebooks.NO_STILL}
    assert "widgets" not in nb.metadata
    body, _ = notebooks.offline_exporter().from_notebook_node(nb)
    tags = Tags()
    tags.feed(body)
    assert ("img", {"src": "data:image/png;base64,iVBO", "alt": "a plot"}) in tags.tags
    assert notebooks.NO_STILL in body


def test_a_demo_panel_offers_its_figure_as_a_still():
    """Displayed without a kernel, a demo shows the figure of its current state, described."""
    from IPython.core.formatters import DisplayFormatter

    from course_lib import widgets

    demo = widgets.FlipAndFilterDemo([2, -1, 1], [1, 1, 2])
    panel = demo.show()
    data, metadata = DisplayFormatter().format(panel)
    assert WIDGET_VIEW in data
    image = next(c for c in panel.children if hasattr(c, "format"))
    assert base64.b64decode(data["image/png"]) == bytes(image.value) == demo.render()
    assert metadata["image/png"]["alt"] == data["text/plain"]
    assert data["text/plain"].startswith("Flip-and-filter") and demo.alt in data["text/plain"]


def test_executed_copy_is_readable_by_nbformat(tmp_path: Path):
    """offline_notebook leaves a valid notebook (nbconvert validates before exporting)."""
    nb = nbformat.read(LECTURE, as_version=4)
    notebooks.offline_notebook(nb)
    nbformat.validate(nb)
    assert any('<img class="math"' in c.source for c in nb.cells if c.cell_type == "markdown")
