"""Every lecture notebook runs headless on the CPU, is committed clean, and follows the house rules.

The notebooks are found with a glob, so a new ``lectures/NN_*.ipynb`` is tested without touching
this file. Structure rules (issue 4): learning goals, "check yourself" questions with folded
answers, a summary, code that imports course_lib instead of pasting helpers, and a live demo.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from course_lib import notebooks

ROOT = Path(__file__).resolve().parent.parent
LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))
CELL_TIMEOUT = 600  # seconds per cell: generous, since CI machines are small and shared

pytestmark = pytest.mark.notebooks
ids = [p.stem for p in LECTURES]


def read(path: Path):
    return nbformat.read(path, as_version=4)


def markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def code(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def test_lectures_exist():
    assert LECTURES, "lectures/ holds no notebooks"


@pytest.mark.slow
@pytest.mark.parametrize("path", LECTURES, ids=ids)
def test_runs_headless_on_cpu(path: Path, monkeypatch):
    """Top to bottom under nbclient, no GPU visible: any exception in any cell fails the test."""
    from nbclient.exceptions import CellExecutionError

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    try:
        nb = notebooks.execute(path, timeout=CELL_TIMEOUT)
    except CellExecutionError as err:
        plain = re.sub(r"\x1b\[[0-9;]*m", "", str(err))  # tracebacks arrive coloured
        pytest.fail(f"{path.name} failed while running headless:\n{plain}", pytrace=False)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: cells reported errors: {errors}"


@pytest.mark.parametrize("path", LECTURES, ids=ids)
def test_committed_without_outputs(path: Path):
    nb = read(path)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: code cells {dirty} have outputs or execution counts; "
                       f"run `python -m course_lib.notebooks strip {path.relative_to(ROOT)}`")
    assert notebooks.is_clean(nb), (f"{path.name} holds widget state or volatile metadata; "
                                    "run `python -m course_lib.notebooks strip`")


COMMITTED = [*LECTURES, *sorted((ROOT / "assignments").glob("*/*.ipynb")),
             *sorted((ROOT / "solutions").glob("*/*.ipynb"))]


@pytest.mark.parametrize("path", COMMITTED, ids=[str(p.relative_to(ROOT)) for p in COMMITTED])
def test_opening_it_in_jupyterlab_changes_nothing(path: Path):
    """JupyterLab fills in what a notebook lacks (a cell id, the kernel's language_info) the moment
    it opens one, and autosaves: the tab turns "modified" and the student's next git pull clashes.
    So the file on disk already holds all of it. Read as raw JSON: nbformat repairs ids in memory."""
    import json

    raw = json.loads(path.read_text(encoding="utf-8"))
    assert (raw["nbformat"], raw["nbformat_minor"]) >= (4, 5), path.name
    missing = [i for i, cell in enumerate(raw["cells"]) if not cell.get("id")]
    assert not missing, f"{path.name}: cells {missing} have no id; run `python -m course_lib.notebooks strip`"
    meta = raw["metadata"]
    assert meta["kernelspec"] == {"display_name": "Python 3 (ipykernel)", "language": "python",
                                  "name": "python3"}, path.name
    lacking = sorted(set(notebooks.python_language_info()) - set(meta.get("language_info", {})))
    assert not lacking, f"{path.name}: language_info lacks {lacking}"


@pytest.mark.parametrize("path", LECTURES, ids=ids)
def test_has_learning_goals_check_yourself_and_summary(path: Path):
    text = markdown(read(path))
    assert re.search(r"^#+ .*learning goals", text, re.I | re.M), f"{path.name}: no 'Learning goals' heading"
    assert re.search(r"^#+ .*check yourself", text, re.I | re.M), f"{path.name}: no 'Check yourself' heading"
    assert re.search(r"^#+ .*summary", text, re.I | re.M), f"{path.name}: no 'Summary' heading"
    after = text[re.search(r"check yourself", text, re.I).start():]
    assert re.search(r"<details>\s*<summary>.+?</summary>.+?</details>", after, re.S), \
        f"{path.name}: the check-yourself answers must be folded in <details><summary>…</summary>…</details>"


@pytest.mark.parametrize("path", LECTURES, ids=ids)
def test_imports_course_lib_and_pastes_no_helpers(path: Path):
    source = code(read(path))
    assert re.search(r"^\s*(from course_lib\b|import course_lib\b)", source, re.M), \
        f"{path.name}: no code cell imports course_lib"
    pasted = re.findall(r"^(?:def|class|async def) (\w+)", source, re.M)
    assert not pasted, (f"{path.name} defines {pasted}: helpers belong in course_lib "
                        "(course_lib.figures / course_lib.widgets or the topic's module), not in a notebook")


@pytest.mark.parametrize("path", LECTURES, ids=ids)
def test_has_a_live_widget_demo(path: Path):
    source = code(read(path))
    assert re.search(r"\bwidgets\.\w+\(|\bipywidgets\b|\binteract(ive)?(_output)?\(", source), \
        f"{path.name}: no ipywidgets demo (course_lib.widgets or ipywidgets)"


@pytest.mark.parametrize("path", LECTURES, ids=ids)
def test_random_sources_are_seeded(path: Path):
    source = code(read(path))
    assert "default_rng()" not in source, f"{path.name}: np.random.default_rng() needs a seed"
    if re.search(r"np\.random\.(rand|randn|normal|uniform|randint|choice|permutation)\(", source):
        assert "np.random.seed(" in source, f"{path.name}: uses np.random.* without np.random.seed"
    if re.search(r"torch\.(rand|randn|randint|randperm)\(", source):
        assert "manual_seed(" in source, f"{path.name}: uses torch random numbers without manual_seed"


def test_strip_removes_outputs(tmp_path: Path):
    """The strip command leaves a notebook that passes the clean check (and keeps the source)."""
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    nb = new_notebook(cells=[new_code_cell("1 + 1", execution_count=3,
                                           outputs=[new_output("execute_result", {"text/plain": "2"},
                                                               execution_count=3)])])
    nb.metadata["widgets"] = {"state": {}}
    path = tmp_path / "dirty.ipynb"
    nbformat.write(nb, path)
    assert not notebooks.is_clean(read(path))
    assert notebooks.strip([path]) == [path]
    cleaned = read(path)
    assert notebooks.is_clean(cleaned) and cleaned.cells[0].source == "1 + 1"
    assert notebooks.strip([path]) == []  # stripping twice changes nothing


ALL_NOTEBOOKS = LECTURES + sorted((ROOT / "assignments").glob("*/*.ipynb"))


def heading_levels(nb) -> list[tuple[int, str]]:
    """(level, text) of every markdown heading, outside fenced code blocks."""
    found, fenced = [], False
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.lstrip().startswith("```"):
                fenced = not fenced
            elif not fenced and (m := re.match(r"^(#{1,6})\s+(.*)", line)):
                found.append((len(m.group(1)), m.group(2).strip()))
    return found


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=[p.stem for p in ALL_NOTEBOOKS])
def test_headings_are_in_order(path: Path):
    """One title, then no skipped level: screen readers navigate by headings (issue 11)."""
    levels = heading_levels(read(path))
    assert levels and levels[0][0] == 1, f"{path.name}: the first heading must be the title (#)"
    titles = [text for level, text in levels if level == 1]
    assert len(titles) == 1, f"{path.name}: one title (#) expected, found {titles}"
    skips = [(a, b) for a, b in zip(levels, levels[1:]) if b[0] > a[0] + 1]
    assert not skips, f"{path.name}: a heading skips a level: {skips[:3]}"


def test_heading_check_sees_a_skip():
    from nbformat.v4 import new_markdown_cell, new_notebook

    nb = new_notebook(cells=[new_markdown_cell("# Title\n### Too deep\n```\n# not a heading\n```")])
    assert heading_levels(nb) == [(1, "Title"), (3, "Too deep")]
