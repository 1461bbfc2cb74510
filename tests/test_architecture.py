"""The house plan of course_lib: no import cycles, small modules, a short top level.

The imports are read from the source (``ast``), not from ``sys.modules``, so an import inside a
function counts too: a cycle that only bites at call time is still a cycle.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "course_lib"
MAX_LINES = 420          # "about 400": a module past this usually holds two topics
MAX_TOP_LEVEL = 17       # entries directly in course_lib/ (modules and packages)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """The course_lib modules that ``name`` imports, anywhere in its source."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            # `from pkg import sub` imports the submodule pkg.sub when there is one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:  # `import course_lib.x.y` -> the deepest module we have
                target = target.rpartition(".")[0]
            if target.startswith("course_lib") and target != name:
                found.add(target)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node], _ = 1, path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node], _ = 2, path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_import_reader_sees_package_absolute_and_sibling_imports():
    graph = {name: imports_of(name) for name in MODULES}
    # spot checks against imports we know are there, of each kind
    assert "course_lib.conv.layer" in graph["course_lib.conv"]          # package re-export
    assert "course_lib.gpu.device" in graph["course_lib.train"]          # absolute
    assert "course_lib.size.table" in graph["course_lib.size.layers"]    # absolute, sibling
    assert "course_lib.conv" in graph["course_lib.figures.convolution"]  # `from course_lib import conv`


def test_course_lib_has_no_import_cycle():
    graph = {name: imports_of(name) for name in MODULES}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_holds_two_topics(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, (f"{MODULES[name].relative_to(PACKAGE.parent)} has {lines} lines: split it "
                                f"along a topic line into a package (see docs/contributing.md)")


def test_the_top_level_stays_short():
    entries = sorted(p.name for p in PACKAGE.iterdir() if p.name != "__pycache__")
    assert len(entries) <= MAX_TOP_LEVEL, f"{len(entries)} entries at the top of course_lib: {entries}"


def test_the_package_docstring_names_every_room():
    doc = (PACKAGE / "__init__.py").read_text()
    rooms = [p.stem if p.suffix else p.name for p in PACKAGE.iterdir()
             if p.name not in ("__pycache__", "__init__.py") and not p.name.startswith("_")]
    missing = [room for room in rooms if room not in doc]
    assert not missing, f"course_lib/__init__.py does not list the rooms {missing}"
