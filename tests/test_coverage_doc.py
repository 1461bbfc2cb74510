"""docs/coverage.md stays honest: every row has a status, and every reference in it resolves.

The coverage table maps each topic of the five seed decks to the lecture section, problem-set
question or library function that teaches it, and to the test that recomputes its numbers. These
tests read the table (no notebook is executed) and check that

* every row's status is ``full``, ``partial: <what is missing>`` or ``left out: <why>``, and no
  row calls a topic "absent";
* every lecture reference ``NN §S "heading"`` names an existing ``lectures/NN_*.ipynb`` whose
  markdown has that heading inside section S; problem-set references ``psN §Q "heading"`` the same
  for ``solutions/psN_*/``;
* every ``tests/<file>.py::test_name`` is a test defined in that file;
* every ``course_lib.a.b`` resolves to a module or an attribute;
* the deck figures that the table itself corrects (and that no other test computes) are right.
"""
from __future__ import annotations

import ast
import importlib
import json
import re
from functools import cache
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "coverage.md"
DECKS = ("000", "001", "002", "003", "004")

LECTURE_REF = re.compile(r'(?<![\w.])(\d\d) §(\d+) "([^"]+)"')
PS_REF = re.compile(r'(?<![\w.])ps(\d) §(\d+(?:\.\d+)?) "([^"]+)"')
TEST_REF = re.compile(r"(tests/[\w/]+\.py)::(\w+)")
LIB_REF = re.compile(r"(?<![\w.])(course_lib(?:\.\w+)+)")
STATUS = re.compile(r"^(full|partial: \S.*|left out: \S.*)$")
NUMBERED = re.compile(r"^(?:Part )?(\d+(?:\.\d+)?)\.? +(.*?)(?: \([^()]*points?[^()]*\))?$")


# ----------------------------------------------------------------------------- reading the doc

def lecture_text(number: str) -> str:
    """Every cell's source of lecture ``number`` (markdown and code), joined."""
    path = next((ROOT / "lectures").glob(f"{number}_*.ipynb"))
    return "\n".join("".join(cell["source"]) for cell in json.loads(path.read_text())["cells"])


def parse_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """{deck id: rows}, each row a dict from the table's header to the cell text.

    A deck's table follows its heading ``## Deck NNN ...``; a row is a line that starts with ``|``.
    """
    tables: dict[str, list[dict[str, str]]] = {}
    deck, header = None, None
    for line in text.splitlines():
        heading = re.match(r"^## Deck (\d{3})\b", line)
        if heading:
            deck, header = heading.group(1), None
            tables[deck] = []
            continue
        if line.startswith("## "):
            deck = None
            continue
        if deck is None or not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = [c.lower() for c in cells]
        elif set("".join(cells)) <= set("-: "):
            continue
        else:
            assert len(cells) == len(header), f"deck {deck}: row has {len(cells)} cells, not {len(header)}: {line}"
            tables[deck].append(dict(zip(header, cells)))
    return tables


@cache
def tables() -> dict[str, list[dict[str, str]]]:
    return parse_tables(DOC.read_text(encoding="utf-8"))


def all_rows() -> list[tuple[str, dict[str, str]]]:
    return [(deck, row) for deck, rows in tables().items() for row in rows]


def row_id(item: tuple[str, dict[str, str]]) -> str:
    return item[1].get("#", "?")


def column(row: dict[str, str], start: str) -> str:
    """The cell whose header starts with ``start`` (headers are long, the tests need not be)."""
    (key,) = [k for k in row if k.startswith(start)]
    return row[key]


# ----------------------------------------------------------------------------- reading notebooks

@cache
def sections(path: Path) -> set[tuple[str, str]]:
    """{(section number, heading text)} for every markdown heading of a notebook.

    ``## 3. Text`` gives ("3", "Text"); a heading without a number (``### Dropout``) takes the
    number of the numbered heading above it. ``### 2.1 Text (5 points)`` gives ("2.1", "Text")
    and also counts as inside "2".
    """
    found: set[tuple[str, str]] = set()
    current = ""
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for line in "".join(cell["source"]).splitlines():
            m = re.match(r"^(#{1,6}) +(.*?)\s*$", line)
            if not m or len(m.group(1)) == 1:
                continue
            numbered = NUMBERED.match(m.group(2))
            if numbered:
                number, title = numbered.groups()
                if len(m.group(1)) == 2:
                    current = number.split(".")[0]
                found.add((number, title))
                found.add((number.split(".")[0], title))
            elif len(m.group(1)) == 2:
                current = ""  # "Check yourself", "Summary": outside every numbered section
            else:
                found.add((current, m.group(2)))
    return found


def one_file(pattern: str) -> Path:
    matches = sorted(ROOT.glob(pattern))
    assert len(matches) == 1, f"{pattern}: expected one file, found {[str(m.relative_to(ROOT)) for m in matches]}"
    return matches[0]


@cache
def defined_tests(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def resolves(dotted: str) -> bool:
    """True if ``dotted`` is a module, or an attribute reachable from the longest importable prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False


# ----------------------------------------------------------------------------- the table itself

def test_every_deck_has_a_table_with_the_four_columns():
    assert sorted(tables()) == list(DECKS)
    for deck, rows in tables().items():
        assert rows, f"deck {deck} has no rows"
        for start in ("#", "topic", "where", "numbers", "deck error", "status"):
            assert all(any(k.startswith(start) for k in row) for row in rows), (deck, start)


def test_row_ids_are_unique_and_name_their_deck():
    ids = [row_id(item) for item in all_rows()]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for deck, row in all_rows():
        assert row_id((deck, row)).startswith(deck + "."), row_id((deck, row))


@pytest.mark.parametrize("item", all_rows(), ids=row_id)
def test_status_is_full_partial_or_left_out(item):
    _, row = item
    status = column(row, "status")
    assert STATUS.match(status), f"{row_id(item)}: status {status!r}"
    assert "absent" not in " ".join(row.values()).lower(), f"{row_id(item)} says 'absent'"


@pytest.mark.parametrize("item", all_rows(), ids=row_id)
def test_taught_rows_say_where(item):
    _, row = item
    where = column(row, "where")
    if column(row, "status").startswith("left out"):
        return
    refs = LECTURE_REF.findall(where) + PS_REF.findall(where) + LIB_REF.findall(where)
    assert refs, f"{row_id(item)} is {column(row, 'status')!r} but names no lecture, problem or function"


# ----------------------------------------------------------------------------- the references

@pytest.mark.parametrize("item", all_rows(), ids=row_id)
def test_lecture_references_point_at_existing_headings(item):
    _, row = item
    for number, section, heading in LECTURE_REF.findall(" ".join(row.values())):
        notebook = one_file(f"lectures/{number}_*.ipynb")
        assert (section, heading) in sections(notebook), \
            f'{row_id(item)}: {notebook.name} has no heading "{heading}" in section {section}'


@pytest.mark.parametrize("item", all_rows(), ids=row_id)
def test_problem_set_references_point_at_existing_questions(item):
    _, row = item
    for number, question, heading in PS_REF.findall(" ".join(row.values())):
        notebook = one_file(f"solutions/ps{number}_*/ps{number}_*.ipynb")
        assert (question, heading) in sections(notebook), \
            f'{row_id(item)}: {notebook.name} has no question {question} "{heading}"'


@pytest.mark.parametrize("item", all_rows(), ids=row_id)
def test_test_references_are_defined(item):
    _, row = item
    for path, name in TEST_REF.findall(" ".join(row.values())):
        assert (ROOT / path).is_file(), f"{row_id(item)}: no file {path}"
        assert name in defined_tests(path), f"{row_id(item)}: {path} defines no {name}"


@pytest.mark.parametrize("item", all_rows(), ids=row_id)
def test_library_references_resolve(item):
    _, row = item
    for dotted in LIB_REF.findall(" ".join(row.values())):
        assert resolves(dotted), f"{row_id(item)}: {dotted} does not resolve"


def test_the_parser_sees_a_missing_heading_and_a_bad_status():
    text = ("## Deck 000 x\n\n| # | topic | where it's taught | numbers | deck error | status |\n|---|---|---|---|---|---|\n"
            '| 000.1 | t | `01 §9 "No such heading"` | none | none | absent |\n')
    (row,) = parse_tables(text)["000"]
    assert not STATUS.match(column(row, "status"))
    ((number, section, heading),) = LECTURE_REF.findall(column(row, "where"))
    assert (section, heading) not in sections(one_file(f"lectures/{number}_*.ipynb"))
    assert ("1", "The definition") in sections(one_file("lectures/01_*.ipynb"))


# ----------------------------------------------------------------------------- figures the doc corrects

def test_deck_001_stride_example_gives_88_not_83():
    image = np.array([[2, 3, 7, 4, 6, 2, 9], [6, 6, 9, 8, 7, 4, 3], [3, 4, 8, 3, 8, 9, 7], [7, 8, 3, 6, 6, 3, 4],
                      [4, 2, 1, 8, 3, 4, 6], [3, 2, 4, 1, 9, 8, 3], [0, 1, 3, 9, 2, 1, 4]])
    kernel = np.array([[3, 4, 4], [1, 0, 2], [-1, 0, 3]])
    windows = np.lib.stride_tricks.sliding_window_view(image, (3, 3))[::2, ::2]
    out = np.einsum("ijkl,kl->ij", windows, kernel)  # cross-correlation at stride 2, as conv nets compute
    assert out.shape == (3, 3)
    assert out[0].tolist() == [91, 100, 88] and out[1, 0] == 69
    # Lecture 03 works the example with the same image and kernel, and names the slide's 83.
    lecture = lecture_text("03")
    assert "[[2, 3, 7, 4, 6, 2, 9], [6, 6, 9, 8, 7, 4, 3]" in lecture
    assert "kernel = np.array([[3, 4, 4], [1, 0, 2], [-1, 0, 3]])" in lecture
    assert "print 83" in lecture and "= 88$" in lecture


def test_deck_001_first_layer_of_a_200x200_rgb_image():
    image = np.zeros((200, 200, 3))
    assert image.size == 120_000  # weights per hidden unit of a fully connected first layer (the deck: 12,000)
    lecture = lecture_text("03")
    assert "200 \\times 200 \\times 3 = 120{,}000" in lecture and "12,000" in lecture
    assert "200 * 200 * 3" in lecture  # the cell prints it


def test_deck_001_lenet_table_fc_rows():
    from torch import nn

    rows = {"CONV1": nn.Conv2d(1, 6, 5), "CONV2": nn.Conv2d(6, 16, 5), "FC3": nn.Linear(400, 120),
            "FC4": nn.Linear(120, 84), "softmax": nn.Linear(84, 10)}
    deck = {"CONV1": 156, "CONV2": 416, "FC3": 48_001, "FC4": 10_081, "softmax": 841}
    ours = {name: sum(p.numel() for p in layer.parameters()) for name, layer in rows.items()}
    assert ours == {"CONV1": 156, "CONV2": 2_416, "FC3": 48_120, "FC4": 10_164, "softmax": 850}
    assert [name for name in rows if ours[name] != deck[name]] == ["CONV2", "FC3", "FC4", "softmax"]


def test_deck_001_two_weights_against_eight_billion_and_vgg_stack():
    assert 320 * 280 * 319 * 280 > 8e9
    assert 3 * (3 * 3) < 7 * 7  # per channel pair: 27 against 49
    assert 192 * 16 + 16 == 3_088  # the 1×1 bottleneck 28×28×192 → 28×28×16


def test_deck_002_stochastic_pooling_example():
    activations = np.array([1.6, 0, 0, 0, 0, 0, 0, 0, 2.4])
    p = activations / activations.sum()
    assert np.allclose(p[[0, 8]], [0.4, 0.6]) and np.isclose(p @ activations, 2.08)


def test_deck_002_alexnet_ablation_parameter_counts():
    fc7 = 4096 * 4096 + 4096
    fc6 = 256 * 6 * 6 * 4096 + 4096
    assert round(fc7 / 1e6) == 17  # "drop 16 million": 16.8 million
    assert round((fc6 + fc7) / 1e6) == 55  # "drop ~50 million"
    conv3, conv4 = 3 * 3 * 256 * 384 + 384, 3 * 3 * 192 * 384 + 384  # conv4 in two groups
    assert round((conv3 + conv4) / 1e6, 1) == 1.5  # "drop ~1 million"


def test_deck_004_locally_connected_layer():
    assert 200 * 200 * 10 * 10 == 4_000_000 and 40_000 * 40_000 == 1_600_000_000


def test_deck_001_width_six_filter_allows_three_layers():
    from course_lib.conv import conv_output_size

    widths = [16]
    while widths[-1] >= 6:
        widths.append(conv_output_size(widths[-1], 6))
    assert widths == [16, 11, 6, 1]  # three layers, then the filter no longer fits
    assert 16 + 5 - 6 + 1 == 16  # five zeros per layer keep the width


def test_googlenet_is_22_weight_layers_deep():
    stem = ["conv 7×7", "conv 1×1 reduce", "conv 3×3"]
    inception_modules = ["3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"]  # Szegedy et al. 2015, table 1
    deepest_branch = ["1×1 reduce", "3×3 or 5×5 conv"]
    classifier = ["fc 1024 → 1000"]
    assert len(stem) + len(inception_modules) * len(deepest_branch) + len(classifier) == 22


def test_deck_003_mnist_size_on_disk():
    pixels, labels, headers = 70_000 * 28 * 28, 70_000, 2 * 16 + 2 * 8  # the four IDX files, uncompressed
    assert round((pixels + labels + headers) / 1e6) == 55  # "60 MB"


def test_deck_003_alexnet_augmentation_factor():
    assert (256 - 224) ** 2 * 2 == 2_048  # crop offsets × mirror, as the AlexNet paper counts them
    assert np.zeros((224, 224, 3)).size == 150_528  # the input size in the paper's figure-2 caption
    assert (224 - 11) // 4 + 1 == 54 and (227 - 11) // 4 + 1 == 55  # only 227 gives conv1's 55×55


def status_counts() -> dict[str, tuple[int, int, int, int]]:
    """{deck: (topics, full, partial, left out)} counted from the rows."""
    counts = {}
    for deck, rows in tables().items():
        kinds = [column(row, "status").split(":")[0] for row in rows]
        counts[deck] = (len(rows), kinds.count("full"), kinds.count("partial"), kinds.count("left out"))
    return counts


def test_the_summary_table_matches_the_rows():
    text = DOC.read_text(encoding="utf-8")
    summary = text.split("## Summary by deck", 1)[1].split("\n## ", 1)[0]
    stated = {cells[0]: tuple(int(c.replace(",", "")) for c in cells[1:5])
              for cells in ([c.strip() for c in line.strip().strip("|").split("|")]
                            for line in summary.splitlines() if line.startswith("|"))
              if cells[0] in DECKS or cells[0] == "all"}
    counts = status_counts()
    assert {d: stated[d] for d in DECKS} == counts
    assert stated["all"] == tuple(map(sum, zip(*counts.values())))
