"""Keep the lecture notebooks clean, run them headless, and export them to HTML.

    python -m course_lib.notebooks strip [PATHS]           drop outputs and widget state, fill language_info
    python -m course_lib.notebooks run [PATHS]             execute headless, print each one's time
    python -m course_lib.notebooks html [--out build/html] execute the lectures, write HTML pages

PATHS are notebooks or folders; without any, every ``lectures/*.ipynb`` is used, so a new
lecture is picked up without touching this file. Notebooks run with ``lectures/`` as the
working directory, exactly as a student opening them in JupyterLab would.

The HTML pages read fully offline: every formula is drawn at export time (matplotlib's
mathtext, as an SVG image whose alt text is the TeX), each live widget is replaced by the still
of its figure that its panel carries (see :mod:`course_lib.widgets.base`), and the page loads no
script from anywhere (no MathJax, require.js or widget manager).
"""
from __future__ import annotations

import argparse
import base64
import functools
import html
import io
import os
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Iterable

ROOT = Path(__file__).resolve().parent.parent
LECTURES = ROOT / "lectures"
# The kernel must draw with the inline backend even when the caller set MPLBACKEND=Agg.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
# Cell metadata that only records one particular run or one person's view of it.
VOLATILE_CELL_KEYS = ("execution", "ExecuteTime", "collapsed", "scrolled")


def lecture_paths(paths: Iterable[str | Path] = ()) -> list[Path]:
    """Expand notebooks and folders into a sorted list of ``.ipynb`` files.

    With no paths, every notebook in ``lectures/`` (checkpoints excluded).
    """
    chosen = [Path(p) for p in paths] or [LECTURES]
    found: list[Path] = []
    for path in chosen:
        if path.is_dir():
            found += sorted(p for p in path.glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        elif path.suffix == ".ipynb" and path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"course_lib.notebooks: {path} is neither a notebook nor a "
                                    "folder of notebooks.")
    return found


def strip_notebook(nb) -> bool:
    """Remove outputs, execution counts and widget state, and complete ``language_info``, in place.

    True if anything changed.
    """
    changed = False
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            if cell.get("outputs"):
                cell["outputs"] = []
                changed = True
            if cell.get("execution_count") is not None:
                cell["execution_count"] = None
                changed = True
        for key in VOLATILE_CELL_KEYS:
            if key in cell.get("metadata", {}):
                del cell["metadata"][key]
                changed = True
    # nbformat 4.5 requires a cell id; a cell added by hand or by a script may lack one.
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) >= (4, 5):
        for cell in nb.cells:
            if not cell.get("id"):
                cell["id"] = uuid.uuid4().hex[:8]
                changed = True
    # Widget state changes on every run.
    if "widgets" in nb.metadata:
        del nb.metadata["widgets"]
        changed = True
    # JupyterLab writes the kernel's full language_info into a notebook it opens: a shorter one
    # would make merely opening a lecture change it (a dirty tab, then an autosaved rewrite).
    info = nb.metadata.get("language_info", {})
    if info.get("name", "python") == "python" and any(k not in info for k in python_language_info()):
        nb.metadata["language_info"] = {**python_language_info(), **info}
        changed = True
    return changed


def python_language_info() -> dict:
    """The language_info the course's Python kernel (ipykernel) reports, as JupyterLab saves it.

    >>> sorted(python_language_info())[:3]
    ['codemirror_mode', 'file_extension', 'mimetype']
    """
    return {"codemirror_mode": {"name": "ipython", "version": sys.version_info[0]},
            "file_extension": ".py", "mimetype": "text/x-python", "name": "python",
            "nbconvert_exporter": "python", "pygments_lexer": f"ipython{sys.version_info[0]}",
            "version": ".".join(map(str, sys.version_info[:3]))}


def is_clean(nb) -> bool:
    """True when the notebook has no outputs, no execution counts, no widget state, and the full
    language_info that JupyterLab would otherwise add on opening it."""
    import copy

    return not strip_notebook(copy.deepcopy(nb))


def strip(paths: Iterable[str | Path] = ()) -> list[Path]:
    """Strip every notebook in ``paths``; return the ones that changed."""
    import nbformat

    changed = []
    for path in lecture_paths(paths):
        nb = nbformat.read(path, as_version=4)
        strip_notebook(nb)
        # Compare the text too: reading may already have repaired the notebook in memory (a
        # missing cell id), which only writing it back makes permanent.
        text = io.StringIO()
        nbformat.write(nb, text)
        if text.getvalue() != Path(path).read_text(encoding="utf-8"):
            Path(path).write_text(text.getvalue(), encoding="utf-8")
            changed.append(path)
    return changed


def execute(path: str | Path, timeout: int = 300, cwd: str | Path | None = None):
    """Execute one notebook headless with nbclient and return the executed copy.

    Each cell may take at most ``timeout`` seconds; any error raises
    ``nbclient.exceptions.CellExecutionError`` naming the cell. Widget callbacks run once for
    their initial value, so the demos never wait for a person.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd or path.parent)}})
    client.execute()
    return nb


def run(paths: Iterable[str | Path] = (), timeout: int = 300) -> dict[str, float]:
    """Execute notebooks one by one, print and return the seconds each took."""
    times = {}
    for path in lecture_paths(paths):
        start = time.perf_counter()
        execute(path, timeout=timeout)
        times[path.name] = time.perf_counter() - start
        print(f"{path.name:<40} {times[path.name]:6.1f} s", flush=True)
    print(f"{'total':<40} {sum(times.values()):6.1f} s")
    return times


# --- offline HTML -----------------------------------------------------------------------------

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
NO_STILL = "(A live widget: open the notebook in JupyterLab to use it.)"
# Code (fenced or inline) is left alone; then display math $$...$$, then inline math $...$.
MATH_OR_CODE = re.compile(r"(?P<code>```.*?```|`[^`\n]*`)"
                          r"|\$\$(?P<display>.+?)\$\$"
                          r"|(?<![\\$])\$(?P<inline>[^$\s](?:[^$]*?[^$\s\\])?)\$(?!\d)", re.S)
# TeX that mathtext spells differently (it has no \le, \lVert, \lvert, or \Big sizes).
MATHTEXT_SPELLING = [(re.compile(r"\\le(?![A-Za-z])"), r"\\leq"),
                     (re.compile(r"\\ge(?![A-Za-z])"), r"\\geq"),
                     (re.compile(r"\\[lr]Vert(?![A-Za-z])"), r"\\Vert"),
                     (re.compile(r"\\[lr]vert(?![A-Za-z])"), "|"),
                     (re.compile(r"\\[Bb]igg?[lr]?(?![A-Za-z])"), "")]
MATH_PT = 10.0  # the size formulas are drawn at; the page scales them in em, with its text
MATH_EM = 1.2  # Computer Modern looks smaller than the page's sans-serif at the same size

# No script from another host: the lab template's require.js, MathJax, mermaid and widget
# manager go; images carry their alt text, and a widget's still shows its description.
OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{% block html_head_js_requirejs %}{% endblock %}
{% block jupyter_widgets %}{% endblock %}
{% block html_head_js_mermaidjs %}{% endblock %}
{% block html_head_js_mathjax %}
<style>img.math { display: inline; margin: 0; }
span.math-display { display: block; text-align: center; margin: 0.6em 0; }
p.still-caption { font-family: var(--jp-content-font-family); font-style: italic; }</style>
{% endblock %}
{% macro still(output, mime, extra_class) %}
{%- set alt = output | get_metadata('alt', mime) -%}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
<img src="data:{{ mime }};base64,{{ output.data[mime] | escape_html }}" alt="{{ (alt or
 output.data.get('text/plain', 'a figure')) | escape_html }}">
{%- if alt %}<p class="still-caption">{{ alt | escape_html }}</p>{% endif %}
</div>
{% endmacro %}
{% block data_png scoped %}{{ still(output, 'image/png', extra_class) }}{% endblock %}
{% block data_jpg scoped %}{{ still(output, 'image/jpeg', extra_class) }}{% endblock %}
"""


@functools.lru_cache(maxsize=None)
def math_image(tex: str, display: bool = False) -> str:
    """One TeX formula as an ``<img>`` of an SVG drawn by matplotlib's mathtext (no MathJax).

    The image is sized in em, so it follows the text's size, and sits on the text's baseline;
    its alt text is the TeX. Raises ``ValueError`` for TeX that mathtext cannot draw.

    >>> math_image("x^2").startswith('<img class="math" alt="x^2" src="data:image/svg+xml;base64,')
    True
    """
    import matplotlib as mpl
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import MathTextParser

    spelled = " ".join(tex.split())
    for pattern, replacement in MATHTEXT_SPELLING:
        spelled = pattern.sub(replacement, spelled)
    with mpl.rc_context({"mathtext.fontset": "cm", "svg.fonttype": "path", "svg.hashsalt": "math"}):
        prop = FontProperties(size=MATH_PT * (1.2 if display else 1.0))
        try:
            width, height, depth, _, _ = MathTextParser("path").parse(f"${spelled}$", dpi=72, prop=prop)
        except ValueError as err:
            raise ValueError(f"mathtext cannot draw ${tex}$: {str(err).splitlines()[-1]}") from None
        fig = Figure(figsize=(width / 72, height / 72))
        fig.text(0, depth / max(height, 1e-9), f"${spelled}$", fontproperties=prop)
        svg = io.BytesIO()
        fig.savefig(svg, format="svg", metadata={"Date": None}, transparent=True)
    data = base64.b64encode(svg.getvalue()).decode("ascii")
    em = MATH_EM / MATH_PT
    style = f"height:{height * em:.3f}em;vertical-align:{-depth * em:.3f}em"
    img = (f'<img class="math" alt="{html.escape(tex, quote=True)}" '
           f'src="data:image/svg+xml;base64,{data}" style="{style}">')
    return f'<span class="math-display">{img}</span>' if display else img


def render_math(markdown: str, failed: list[str] | None = None) -> str:
    """Markdown with every ``$...$`` and ``$$...$$`` outside code replaced by :func:`math_image`.

    A formula mathtext cannot draw stays as TeX in a ``<code>`` and is added to ``failed``.

    >>> render_math("cost `$5` and $x$").startswith('cost `$5` and <img class="math" alt="x"')
    True
    """
    def replace(match: re.Match) -> str:
        if match["code"] is not None:
            return match["code"]
        tex = match["display"] if match["display"] is not None else match["inline"]
        try:
            return math_image(tex.strip(), display=match["display"] is not None)
        except ValueError:
            if failed is not None:
                failed.append(tex)
            return f"<code>{html.escape(match.group(0))}</code>"

    return MATH_OR_CODE.sub(replace, markdown)


def offline_notebook(nb, failed: list[str] | None = None):
    """Make an executed notebook readable without a kernel or network, in place; return it.

    Formulas in markdown cells and markdown outputs become images (:func:`render_math`); a
    widget output keeps only the still of its figure (or, without one, a line saying where the
    live widget is); the saved widget state goes, since no page script would read it.
    """
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = render_math(cell.source, failed)
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/markdown" in data:
                data["text/markdown"] = render_math(data["text/markdown"], failed)
            if WIDGET_VIEW in data:
                del data[WIDGET_VIEW]
                if not any(mime.startswith("image/") for mime in data):
                    data.clear()
                    data["text/plain"] = NO_STILL
    nb.metadata.pop("widgets", None)
    return nb


def offline_exporter():
    """nbconvert's JupyterLab-style HTML exporter with :data:`OFFLINE_TEMPLATE`."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", template_file="course_offline.html.j2",
                        extra_loaders=[DictLoader({"course_offline.html.j2": OFFLINE_TEMPLATE})])


def export_html(out: str | Path = ROOT / "build" / "html", paths: Iterable[str | Path] = (),
                timeout: int = 600) -> list[Path]:
    """Execute the lectures and write one offline HTML page per notebook plus an index.html.

    The pages need no network and no kernel (see the module docstring): formulas are drawn, and
    each widget shows the figure of its starting state with a description.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    exporter = offline_exporter()
    written = []
    for path in lecture_paths(paths):
        start = time.perf_counter()
        failed: list[str] = []
        nb = offline_notebook(execute(path, timeout=timeout), failed)
        for tex in failed:
            print(f"{path.name}: mathtext cannot draw ${tex}$; the page shows its TeX", flush=True)
        body, _ = exporter.from_notebook_node(nb)
        target = out / f"{path.stem}.html"
        tmp = target.with_suffix(".html.tmp")
        tmp.write_text(body, encoding="utf-8")
        os.replace(tmp, target)
        written.append(target)
        print(f"{path.name:<40} {time.perf_counter() - start:6.1f} s  -> {target}", flush=True)
    links = "\n".join(f'<li><a href="{html.escape(p.name)}">{html.escape(p.stem)}</a></li>'
                      for p in written)
    (out / "index.html").write_text(
        f"<!doctype html><meta charset='utf-8'><title>Lectures</title>"
        f"<h1>Convolutional networks: lectures</h1><ol>{links}</ol>\n", encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.notebooks",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_strip = sub.add_parser("strip", help="remove outputs and execution counts")
    p_strip.add_argument("paths", nargs="*")
    p_run = sub.add_parser("run", help="execute headless and print each notebook's time")
    p_run.add_argument("paths", nargs="*")
    p_run.add_argument("--timeout", type=int, default=300, help="seconds per cell")
    p_html = sub.add_parser("html", help="execute the lectures and export HTML")
    p_html.add_argument("paths", nargs="*")
    p_html.add_argument("--out", default=str(ROOT / "build" / "html"))
    args = parser.parse_args(argv)

    if args.command == "strip":
        for path in strip(args.paths):
            print(f"stripped {path}")
    elif args.command == "run":
        run(args.paths, timeout=args.timeout)
    else:
        export_html(args.out, args.paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
