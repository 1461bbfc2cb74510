"""A static scan of the students' cells, run by the grader, outside the student's kernel.

The scan reads the source of every answer cell (a code cell whose ``metadata.nbgrader.solution``
is true) and of every code cell a student added (no nbgrader role), and returns notes for a
human to review: calls that an assignment's rules forbid, and tampering primitives (hooks into
the shell, the interpreter or the grader's modules). A note never changes a score.

    >>> nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": "import numpy as xp\\n"
    ...                  "y = xp.convolve([1, 2], [3])  # not np.correlate"}]}
    >>> for note in scan_notebook(nb, "ps1_convolution"):
    ...     print(note)
    an added cell #1, line 2: calls xp.convolve (= numpy.convolve), which the rules of
    ps1_convolution forbid
    >>> scan_notebook(nb, "ps4_lenet")
    []

How a name is recognised: the source is parsed with :mod:`ast` (comments and strings are never
code), and each name is resolved through the imports of the notebook's cells that run in the
kernel (``import numpy as xp`` makes ``xp.convolve`` mean ``numpy.convolve``), plus the usual
``np`` and ``F``. A name that is neither imported nor a builtin is the student's own variable
and is not checked. A cell that does not parse (IPython magics, a syntax error) gets a note
saying so; its magic and shell lines are named, and the rest is scanned line by line: a line that
parses alone goes through :mod:`ast`, any other line through a regular expression, after
comments and string contents are blanked.

The rules are the constants :data:`FORBIDDEN_BY_ASSIGNMENT`, :data:`TAMPERING` and
:data:`TAMPERING_ATTRIBUTES` of :mod:`course_lib.grading.scan_rules`. A pattern is an :func:`fnmatch.fnmatchcase` pattern on the
fully qualified name, and also covers everything under that name (``scipy.signal`` covers
``scipy.signal.convolve2d``).
"""
from __future__ import annotations

import ast
import builtins
import functools
import keyword
import re
from collections.abc import Iterable, Iterator
from fnmatch import fnmatchcase
from typing import Any

# --- the rules -----------------------------------------------------------------------------

from course_lib.grading.scan_rules import (  # noqa: F401  (the rules, importable from here too)
    CONVOLUTION_FORBIDDEN, DEFAULT_ALIASES, FORBIDDEN_BY_ASSIGNMENT, TAMPERING, TAMPERING_ATTRIBUTES)

#: Names that exist in a kernel without an import.
_BUILTIN_NAMES = frozenset(dir(builtins)) | {"get_ipython", "display", "__builtins__"}

#: A bound name -> the qualified names it may mean; ``"*"`` -> the modules of star imports.
Aliases = dict[str, set[str]]


# --- which cells -----------------------------------------------------------------------------

def _source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _role(cell: Any) -> dict:
    return cell.get("metadata", {}).get("nbgrader") or {}


def is_student_code(cell: Any) -> bool:
    """An answer cell, or a code cell a student added (one with no nbgrader role)."""
    role = _role(cell)
    has_role = any(role.get(key) for key in ("solution", "grade", "locked", "task"))
    return cell.get("cell_type") == "code" and (bool(role.get("solution")) or not has_role)


def runs_in_kernel(cell: Any) -> bool:
    """Every code cell but the test cells, which the grader runs in its own process."""
    role = _role(cell)
    return cell.get("cell_type") == "code" and not (role.get("grade") and not role.get("solution"))


def trusted_roles(cells: list, known_ids: Iterable[str] | None = None) -> list:
    """The cells, where a role a student may have forged is dropped, so the cell counts as one
    the student added: a role with no ``grade_id`` (nbgrader gives every role one, and
    autograde takes it off a cell the gradebook does not know), one seen before, or one not in
    ``known_ids`` when given."""
    known = None if known_ids is None else set(known_ids)
    seen: set[str] = set()
    trusted = []
    for cell in cells:
        role = _role(cell)
        grade_id = role.get("grade_id")
        has_role = any(role.get(key) for key in ("solution", "grade", "locked", "task"))
        doubtful = not grade_id or grade_id in seen or (known is not None and grade_id not in known)
        forged = has_role and doubtful
        seen.add(grade_id)
        trusted.append({**cell, "metadata": {}} if forged else cell)
    return trusted


def cell_label(cell: Any, index: int) -> str:
    """``answer cell 'grade_id'``, or ``an added cell #N`` (N: the cell's place, from 1)."""
    grade_id = _role(cell).get("grade_id")
    if _role(cell).get("solution"):
        return f"answer cell {grade_id!r}" if grade_id else f"answer cell #{index + 1}"
    return f"an added cell #{index + 1}"


# --- reading a cell's source -----------------------------------------------------------------

_MAGIC = re.compile(r"^(\s*)([%!].*)$")
_STRING_OR_COMMENT = re.compile(
    r"#[^\n]*"
    r"|[rRbBfFuU]{0,2}(?:'''[\s\S]*?'''|\"\"\"[\s\S]*?\"\"\"|'(?:\\.|[^'\\\n])*'"
    r"|\"(?:\\.|[^\"\\\n])*\")")


def strip_magics(source: str) -> tuple[str, list[tuple[int, str]]]:
    """Replace IPython magic and shell lines (``%...``, ``!...``) by ``pass`` at the same
    indentation, so the rest may parse; return the new source and ``(line, magic)`` pairs."""
    lines, magics = [], []
    for number, line in enumerate(source.splitlines(), start=1):
        match = _MAGIC.match(line)
        if match:
            magics.append((number, match.group(2)))
            line = match.group(1) + "pass"
        lines.append(line)
    return "\n".join(lines), magics


def blank_strings_and_comments(source: str) -> str:
    """Comments removed and strings emptied, keeping every line on its line."""
    def blank(match: re.Match) -> str:
        text = match.group()
        return ("" if text.startswith("#") else '""') + "\n" * text.count("\n")
    return _STRING_OR_COMMENT.sub(blank, source)


def parse_pieces(source: str) -> tuple[list[tuple[ast.AST, int]], list[tuple[int, str]]]:
    """The parts of a cell that parse, as ``(tree, line offset)``, and the lines that do not,
    as ``(line, text)``. A source that parses is one piece; otherwise each line is tried alone."""
    try:
        return [(ast.parse(source), 0)], []
    except (SyntaxError, ValueError, RecursionError):
        pass
    trees, leftovers = [], []
    for number, line in enumerate(blank_strings_and_comments(source).splitlines(), start=1):
        try:
            trees.append((ast.parse(line.strip()), number - 1))
        except (SyntaxError, ValueError, RecursionError):
            leftovers.append((number, line))
    return trees, leftovers


def parse_error(source: str) -> str | None:
    """Why the source does not parse as Python, or None when it does."""
    try:
        ast.parse(source)
    except SyntaxError as err:
        return f"line {err.lineno}: {err.msg}"
    except (ValueError, RecursionError) as err:  # a null byte; nesting too deep
        return str(err) or type(err).__name__
    return None


# --- names ------------------------------------------------------------------------------------

def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of attributes on a name, None for anything else."""
    attributes = []
    while isinstance(node, ast.Attribute):  # a loop, not recursion: a chain may be very long
        attributes.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(attributes)]) if isinstance(node, ast.Name) else None


def add_imports(tree: ast.AST, aliases: Aliases) -> None:
    """Add what the imports in ``tree`` bind to ``aliases``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases.setdefault(alias.asname, set()).add(alias.name)
                else:  # `import a.b` binds `a`
                    head = alias.name.split(".")[0]
                    aliases.setdefault(head, set()).add(head)
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            for alias in node.names:
                key = "*" if alias.name == "*" else alias.asname or alias.name
                target = module if alias.name == "*" else f"{module}.{alias.name}"
                aliases.setdefault(key, set()).add(target)


def notebook_aliases(cells: list) -> Aliases:
    """The names bound by the imports of every cell that runs in the kernel, plus the
    conventional :data:`DEFAULT_ALIASES` where no import binds those names."""
    aliases: Aliases = {}
    for cell in cells:
        if runs_in_kernel(cell):
            for tree, _ in parse_pieces(strip_magics(_source(cell))[0])[0]:
                add_imports(tree, aliases)
    for name, target in DEFAULT_ALIASES.items():
        aliases.setdefault(name, {target})
    return aliases


def resolve(written: str, aliases: Aliases) -> set[str]:
    """The qualified names ``a.b.c`` may mean: through an import of ``a``, through a star
    import, or as a builtin. Empty for a variable of the student's own."""
    head, _, rest = written.partition(".")
    tail = f".{rest}" if rest else ""
    if head in aliases:
        return {base + tail for base in aliases[head]}
    found = {f"{module}.{written}" for module in aliases.get("*", ())}
    return found | {written} if head in _BUILTIN_NAMES else found


def matches(name: str, pattern: str) -> bool:
    """Whether ``name`` is ``pattern`` or something under it (``pattern.anything``)."""
    return fnmatchcase(name, pattern) or fnmatchcase(name, pattern + ".*")


# --- what a parsed piece holds ----------------------------------------------------------------

def imports(nodes: list[ast.AST]) -> Iterator[tuple[int, str]]:
    """``(line, qualified name)`` of each imported module or name among ``nodes``."""
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def references(nodes: list[ast.AST]) -> Iterator[tuple[int, str, str]]:
    """``(line, verb, written name)`` of each name or attribute chain among ``nodes`` (all
    the nodes of a tree), taken whole (``a.b.c``, not also ``a.b``). The verb is ``calls``,
    ``assigns to``, ``deletes`` or ``uses``; ``getattr(a, "b")`` counts as a use of ``a.b``."""
    inner = {id(n.value) for n in nodes if isinstance(n, ast.Attribute)}
    called = {id(n.func) for n in nodes if isinstance(n, ast.Call)}
    for node in nodes:
        written = dotted(node) if id(node) not in inner else None
        if written and isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            continue  # rebinding a name of one's own uses nothing
        if written:
            stored = isinstance(getattr(node, "ctx", None), (ast.Store, ast.Del))
            verb = ("calls" if id(node) in called else "deletes" if isinstance(node.ctx, ast.Del)
                    else "assigns to" if stored else "uses")
            yield node.lineno, verb, written
        elif isinstance(node, ast.Call) and dotted(node.func) == "getattr" and len(node.args) >= 2:
            base, attr = dotted(node.args[0]), node.args[1]
            if base and isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                yield node.lineno, "uses", f"{base}.{attr.value}"


def module_writes(nodes: list[ast.AST]) -> Iterator[tuple[int, str, str]]:
    """``(line, how, written name)`` of writes into objects among ``nodes``: an assignment
    (or del) to an attribute or an item of one, and ``setattr``/``delattr`` on one."""
    for node in nodes:
        writes = isinstance(getattr(node, "ctx", None), (ast.Store, ast.Del))
        if writes and isinstance(node, (ast.Attribute, ast.Subscript)):
            written = dotted(node) if isinstance(node, ast.Attribute) else dotted(node.value)
            if written and isinstance(node, ast.Subscript):
                written += "[...]"
            if written:
                how = "deletes" if isinstance(node.ctx, ast.Del) else "assigns to"
                yield node.lineno, how, written
        elif (isinstance(node, ast.Call) and dotted(node.func) in ("setattr", "delattr")
              and node.args):
            target = dotted(node.args[0])
            if target:
                yield node.lineno, f"calls {node.func.id} on", target


def attribute_hits(nodes: list[ast.AST]) -> Iterator[tuple[int, str, str]]:
    """``(line, attribute, why)`` for each attribute named in :data:`TAMPERING_ATTRIBUTES`."""
    for node in nodes:
        if isinstance(node, ast.Attribute):
            parent = node.value
            last_two = f"{parent.attr}.{node.attr}" if isinstance(parent, ast.Attribute) else ""
            for pattern, why in TAMPERING_ATTRIBUTES.items():
                name = last_two if "." in pattern else node.attr
                if fnmatchcase(name, pattern):
                    yield node.lineno, name, why


_DOTTED_TEXT = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)*(\s*\()?")


def text_references(number: int, text: str) -> Iterator[tuple[int, str, str]]:
    """``(line, verb, written name)`` of the dotted names in a line that does not parse."""
    for match in _DOTTED_TEXT.finditer(text):
        written = re.sub(r"\s+", "", match.group()).rstrip("(")
        if not keyword.iskeyword(written.split(".")[0]):
            yield number, "calls" if match.group(1) else "uses", written


# --- the notes --------------------------------------------------------------------------------

def _named(written: str, qualified: str) -> str:
    """``written``, and what it means unless that is plain: ``xp.convolve (= numpy.convolve)``."""
    head, dot, rest = written.partition(".")
    conventional = DEFAULT_ALIASES.get(head, head) + dot + rest
    return written if qualified in (written, conventional) else f"{written} (= {qualified})"


@functools.lru_cache(maxsize=4096)
def rule_for(name: str, assignment: str) -> str | None:
    """Why the rules care about the qualified ``name`` in ``assignment``, or None."""
    for pattern in FORBIDDEN_BY_ASSIGNMENT.get(assignment, ()):
        if matches(name, pattern):
            return f"which the rules of {assignment} forbid"
    for pattern, why in TAMPERING.items():
        if matches(name, pattern):
            return f"a tampering primitive ({why})"
    return None


def judge(verb: str, written: str, qualified: set[str], assignment: str) -> str | None:
    """A finding for a name the rules care about, else None. ``qualified`` holds what
    ``written`` may mean (see :func:`resolve`)."""
    for name in sorted(qualified):
        why = rule_for(name, assignment)
        if why:
            return f"{verb} {_named(written, name)}, {why}"
    return None


def judge_write(how: str, written: str, aliases: Aliases) -> str | None:
    """A note for a write into an imported module or object, None for the student's own."""
    qualified = sorted(base + written[len(written.split(".")[0]):]
                       for base in aliases.get(written.split(".")[0], ()))
    if not qualified:
        return None
    return f"{how} {_named(written, qualified[0])}, changing an imported module or object"


def scan_piece(tree: ast.AST, aliases: Aliases, assignment: str) -> Iterator[tuple[int, str]]:
    """``(line, finding)`` for everything the rules care about in one parsed piece."""
    nodes = list(ast.walk(tree))
    for line, qualified in imports(nodes):
        found = judge("imports", qualified, {qualified}, assignment)
        if found:
            yield line, found
    judged = set()  # (line, name) already named by a rule: a write to it needs no second note
    for line, verb, written in references(nodes):
        found = judge(verb, written, resolve(written, aliases), assignment)
        if found:
            judged.add((line, written))
            yield line, found
    for line, how, written in module_writes(nodes):
        found = judge_write(how, written, aliases)
        if found and (line, written.removesuffix("[...]")) not in judged:
            yield line, found
    for line, name, why in attribute_hits(nodes):
        yield line, f"uses .{name}, a tampering primitive ({why})"


def scan_cell(source: str, aliases: Aliases, assignment: str) -> list[tuple[int | None, str]]:
    """``(line or None, finding)`` for one cell, in line order."""
    findings: list[tuple[int | None, str]] = []
    problem = parse_error(source)
    if problem:
        findings.append((None, f"does not parse as Python ({problem}); scanned line by line"))
    python, magics = strip_magics(source) if problem else (source, [])
    for line, magic in magics:
        name = re.match(r"%*\w{0,40}", magic).group()  # its name alone: no student text
        kind = "a shell command (!)" if magic.startswith("!") else f"the IPython magic {name}"
        findings.append((line, f"runs {kind}, a tampering primitive (reaches the IPython shell)"))
        findings.extend(_text_findings(line, magic.lstrip("%!"), aliases, assignment))
    trees, leftovers = parse_pieces(python)
    for tree, offset in trees:
        findings.extend((line + offset, found)
                        for line, found in scan_piece(tree, aliases, assignment))
    for line, text in leftovers:
        findings.extend(_text_findings(line, text, aliases, assignment))
    return sorted(set(findings), key=lambda item: (item[0] or 0, item[1]))


def _text_findings(line: int, text: str, aliases: Aliases,
                   assignment: str) -> Iterator[tuple[int, str]]:
    """``(line, finding)`` for the names in a line that does not parse."""
    for number, verb, written in text_references(line, blank_strings_and_comments(text)):
        found = judge(verb, written, resolve(written, aliases), assignment)
        if found:
            yield number, found


def scan_notebook(nb: Any, assignment: str, known_ids: Iterable[str] | None = None) -> list[str]:
    """Notes for a human on the answer cells and added code cells of ``nb`` (an nbformat
    NotebookNode or the plain dict of a notebook), under the rules of ``assignment``.

    Each note names the cell and the line, e.g. ``answer cell 'conv1d_flip_filter', line 4:
    calls np.convolve, which the rules of ps1_convolution forbid``. Empty when clean.

    A student can edit cell metadata, so a cell that repeats an earlier cell's ``grade_id``
    counts as added; with ``known_ids`` (the grade_ids of the release's cells), so does a cell
    whose ``grade_id`` is not among them."""
    cells = trusted_roles(nb.get("cells", []), known_ids)
    aliases = notebook_aliases(cells)
    notes = []
    for index, cell in enumerate(cells):
        if is_student_code(cell):
            for line, found in scan_cell(_source(cell), aliases, assignment):
                where = cell_label(cell, index) + (f", line {line}" if line else "")
                notes.append(f"{where}: {found}")
    return notes
