"""nbgrader preprocessors that make graded copies and feedback small and inert.

A submission's outputs and markdown are written by the student (or by the student's code), and
formgrader and the feedback show them as HTML in a browser: the instructor's, logged in to the
course's Jupyter server. These preprocessors run in the grader, after the verdict is reached
(``nbgrader_config.py`` puts them after ``SaveAutoGrades``), so they never change a score.

``CapOutputBytes``
    Caps every text output in bytes (nbgrader's ``LimitOutput`` counts lines, and a single
    line may be 10 MB), and the text outputs of a cell together; the rest is replaced by one
    line, ``... [N bytes cut by the grader]``.

``DropActiveOutputs``
    Keeps only inert output data (``text/plain``, ``image/png``, ``image/jpeg``): no HTML,
    JavaScript, SVG, markdown, LaTeX or widget that could run or render markup.

``EscapeAnswerHtml``
    Escapes raw HTML in the markdown a student could have written, so it shows as text.
    Markdown formatting and LaTeX still render.

The cutting and escaping are plain functions (:func:`cap_text`, :func:`escape_markdown_html`),
tested on their own.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Integer, List, Unicode

# --- capping ------------------------------------------------------------------------------------

NOTE = "... [{} bytes cut by the grader]"
#: The smallest cap that still holds the note (``\n`` + note + ``\n``, up to 20 digits).
MIN_CAP = len(NOTE.format(10 ** 20)) + 2


def utf8_size(text: str) -> int:
    """Bytes of ``text`` in UTF-8 (a lone surrogate counts as its 3 bytes)."""
    return len(text.encode("utf-8", "surrogatepass"))


def cap_text(text: str, limit: int) -> tuple[str, int]:
    """``text`` cut to at most ``max(limit, MIN_CAP)`` bytes of UTF-8, the note included;
    also returns how many bytes were cut (0 when it fit).

    >>> cap_text("short", 100)
    ('short', 0)
    >>> text, cut = cap_text("x" * 1000, 100)
    >>> len(text), text.splitlines()[-1]
    (99, '... [936 bytes cut by the grader]')
    """
    limit = max(limit, MIN_CAP)
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text, 0
    room = len(NOTE.format(len(data))) + 2  # the note's size: what is cut has no more digits
    kept = data[:limit - room].decode("utf-8", "ignore")  # never half a character
    cut = len(data) - utf8_size(kept)
    newline = "" if not kept or kept.endswith("\n") else "\n"
    return f"{kept}{newline}{NOTE.format(cut)}\n", cut


def _text_fields(output: Any) -> Iterator[tuple[Callable[[], str], Callable[[str], None]]]:
    """Getters and setters of the text of one output: a stream's text, the ``text/*`` data of
    a result or display, an error's name, traceback (as one text) and value."""
    kind = output.get("output_type")
    if kind == "stream":
        yield (lambda: _joined(output.get("text", ""))), (lambda v: output.__setitem__("text", v))
    elif kind in ("execute_result", "display_data"):
        data = output.get("data", {})
        for mime in [m for m in data if m.startswith("text/")]:
            yield (lambda m=mime: _joined(data[m])), _put_data(data, mime)
    elif kind == "error":
        yield (lambda: output.get("ename", "")), (lambda v: output.__setitem__("ename", v))
        yield (lambda: "\n".join(output.get("traceback", []))), _put_traceback(output)
        yield (lambda: output.get("evalue", "")), (lambda v: output.__setitem__("evalue", v))


def _put_data(data: Any, mime: str) -> Callable[[str], None]:
    """A setter of one ``text/*`` entry of a result or display; empty text removes it."""
    def put(text: str) -> None:
        if text:
            data[mime] = text
        else:
            del data[mime]
    return put


def _put_traceback(output: Any) -> Callable[[str], None]:
    """A setter of an error's traceback from one text (the traceback is what the page shows)."""
    def put(text: str) -> None:
        output["traceback"] = text.removesuffix("\n").split("\n") if text else []
    return put


def _joined(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


_CELL_NOTE = re.compile(re.escape(NOTE).replace(r"\{\}", r"\d+") + "\n")


def _is_cell_note(output: Any) -> bool:
    """The note :class:`CapOutputBytes` adds at the end of a cell."""
    return (output.get("output_type") == "stream"
            and bool(_CELL_NOTE.fullmatch(str(output.get("text")))))


def _is_empty(output: Any) -> bool:
    """A stream with no text, or a result or display with no data left."""
    kind = output.get("output_type")
    if kind == "stream":
        return not output.get("text")
    if kind in ("execute_result", "display_data"):
        return not output.get("data")
    return False


class CapOutputBytes(NbGraderPreprocessor):
    """Cap the text outputs of every code cell in bytes: each output, and a cell's together."""

    max_bytes_per_output = Integer(
        10_000, help="Bytes of UTF-8 text one output keeps, the note included."
    ).tag(config=True)
    max_bytes_per_cell = Integer(
        50_000, help="Bytes of UTF-8 text the outputs of one cell keep together."
    ).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.get("cell_type") == "code" and cell.get("outputs"):
            cell["outputs"] = self.capped_outputs(cell["outputs"])
        return cell, resources

    def capped_outputs(self, outputs: list) -> list:
        """The outputs with their text capped. Text past the cell's budget is emptied, the
        outputs left empty are removed, and one final note counts what they held."""
        budget = max(self.max_bytes_per_cell, MIN_CAP) - MIN_CAP  # room kept for that note
        silently_cut = 0
        for output in outputs:
            if _is_cell_note(output):  # from an earlier pass: keep it, so a second pass is a no-op
                continue
            allowance = min(self.max_bytes_per_output, budget)
            for get, put in _text_fields(output):
                text = get()
                size = utf8_size(text)
                if size <= allowance:
                    new, cut = text, 0
                elif allowance >= MIN_CAP:
                    new, cut = cap_text(text, allowance)
                else:  # no room for a note here: the cell's final note counts it
                    new, cut, silently_cut = "", size, silently_cut + size
                if cut:
                    put(new)
                allowance -= utf8_size(new)
                budget -= utf8_size(new)
        kept = [output for output in outputs if not _is_empty(output)]
        if silently_cut:
            kept.append(new_output("stream", name="stdout", text=NOTE.format(silently_cut) + "\n"))
        return kept


# --- dropping active outputs -------------------------------------------------------------------

class DropActiveOutputs(NbGraderPreprocessor):
    """Keep only inert data in results and displays; remove those left with none.

    Everything but ``keep_mimetypes`` goes: ``text/html``, ``application/javascript``,
    ``text/javascript``, ``image/svg+xml``, ``text/markdown``, ``text/latex``, every
    ``application/vnd.*`` (widgets, the grader's bridge) and any type not known to be inert.
    """

    keep_mimetypes = List(
        Unicode(), ["text/plain", "image/png", "image/jpeg"],
        help="The only output data kept; they render as escaped text or as an <img>.",
    ).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.get("cell_type") == "code" and cell.get("outputs"):
            cell["outputs"] = [out for out in map(self.inert, cell["outputs"]) if out is not None]
        return cell, resources

    def inert(self, output: Any) -> Any | None:
        """``output`` without active data; None when nothing is left of it."""
        if output.get("output_type") not in ("execute_result", "display_data"):
            return output
        data, meta = output.get("data", {}), output.get("metadata", {})
        for mime in [m for m in data if m not in self.keep_mimetypes]:
            del data[mime]
            meta.pop(mime, None)
        return output if data else None


# --- escaping markdown --------------------------------------------------------------------------

# Where math starts, and the text that ends it: $$...$$, $...$, \[...\], \(...\), \begin...\end{}.
# (\\[ and \\( too: in markdown source, that is how a backslash reaches MathJax.)
_MATH_OPEN = re.compile(r"(?<!\\)(?:\$\$|\$|\\{1,2}\[|\\{1,2}\(|\\begin\{)")
_MATH_CLOSE = {"$$": "$$", "$": "$", "\\begin{": "\\end{",
               **{b + o: b + c for b in ("\\", "\\\\") for o, c in ("[]", "()")}}
# A character reference, but not the three this escaping writes itself (&lt; &gt; &amp;).
_ENTITY = re.compile(r"&(?!(?:lt|gt|amp);)(?=#?\w+;)")
# A URL scheme that runs script: javascript:, vbscript:, ...
_SCRIPT_SCHEME = re.compile(r"(?i)(script)(?=:)")


def math_spans(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each math span in markdown, near enough to what Jupyter renders as
    math: a span missed or added changes how a ``<`` is escaped, never whether it is.

    Linear time, whatever the text: a closer once missing is never searched for again.

    >>> [text[a:b] for text in [r"a $x<y$ b $$z$$ \\(w\\) $ no"] for a, b in math_spans(text)]
    ['$x<y$', '$$z$$', '\\\\(w\\\\)']
    """
    pos, missing = 0, set()
    while match := _MATH_OPEN.search(text, pos):
        closer = _MATH_CLOSE[match.group()]
        end = -1 if closer in missing else text.find(closer, match.end())
        if end < 0:
            missing.add(closer)
        elif closer == "$" and "\n" in text[match.end():end]:
            end = -1  # inline math stays on its line
        if end < 0:
            pos = match.end()
            continue
        end += len(closer)
        if closer == "\\end{":
            end = text.find("}", end) + 1 or len(text)
        yield match.start(), end
        pos = end


def escape_markdown_html(text: str) -> str:
    """Markdown with its raw HTML made inert, shown as text; formatting and math still work.

    Outside math, ``<`` becomes ``&lt;``; inside math (where Jupyter escapes by itself) it
    becomes ``\\lt``. Character references are escaped too (they could spell a ``javascript:``
    link), and a space splits every ``...script:`` scheme. A second pass changes nothing.

    >>> escape_markdown_html('*a* <script>alert(1)</script> $x<y$')
    '*a* &lt;script>alert(1)&lt;/script> $x\\\\lt y$'
    >>> escape_markdown_html('[x](&#106;avascript:go) [y](javascript:go)')
    '[x](&amp;#106;avascript :go) [y](javascript :go)'
    """
    pieces, last = [], 0
    for start, end in math_spans(text):
        pieces.append(text[last:start].replace("<", "&lt;"))
        pieces.append(text[start:end].replace("<", "\\lt "))
        last = end
    pieces.append(text[last:].replace("<", "&lt;"))
    return _SCRIPT_SCHEME.sub(r"\1 ", _ENTITY.sub("&amp;", "".join(pieces)))


class EscapeAnswerHtml(NbGraderPreprocessor):
    """Escape raw HTML in the markdown cells a student could have written.

    Those are the answer cells (``solution`` true) and, with ``escape_unlocked_cells``, every
    other markdown cell but the read-only ones: a student can edit an unlocked instructions
    cell or add one. Read-only means locked *with* a ``grade_id``: autograde's OverwriteCells
    (which runs before this) restores such a cell from the gradebook, and takes the
    ``grade_id`` off any cell the gradebook does not know, so a student's own ``locked`` flag
    is not enough. nbgrader's formgrade and feedback templates render markdown cells without
    ``sanitize_html``: this is what keeps their HTML inert.
    """

    escape_unlocked_cells = Bool(
        True, help="Escape every unlocked markdown cell too, not only the answer cells."
    ).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.get("cell_type") == "markdown" and self.student_written(cell):
            cell["source"] = escape_markdown_html(_joined(cell.get("source", "")))
        return cell, resources

    def student_written(self, cell: Any) -> bool:
        """An answer cell, or (with ``escape_unlocked_cells``) any cell but a read-only one."""
        role = cell.get("metadata", {}).get("nbgrader") or {}
        if role.get("solution"):
            return True
        read_only = bool(role.get("locked") and role.get("grade_id"))
        return self.escape_unlocked_cells and not read_only
