"""The dependencies: one set for students, declared alike for pip and conda.

* pyproject.toml and environment.yml declare the same dependencies, with the same bounds, and
  constraints.txt pins versions inside them;
* everything the lectures and assignments import, and everything the course_lib modules they
  import import in turn, is a base dependency, not an extra: students install the base set only.
  Imports are read with ``ast`` from every code cell (IPython magics and shell lines skipped) and
  mapped to the distributions that provide them. (tests/test_student_install.py installs that set
  in a fresh venv and runs the assignments there.)
"""
from __future__ import annotations

import ast
import functools
import json
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name
PROJECT_PACKAGE = "course_lib"
#: Where an import name is not the distribution's name and the distribution is not installed here.
KNOWN_DISTRIBUTIONS = {"IPython": "ipython", "PIL": "pillow", "yaml": "pyyaml",
                       "sklearn": "scikit-learn", "cv2": "opencv-python", "skimage": "scikit-image"}


def student_notebooks() -> list[Path]:
    """What students open: the lectures and the released assignments."""
    return sorted(ROOT.glob("lectures/*.ipynb")) + sorted(ROOT.glob("assignments/*/*.ipynb"))


def code_cells(path: Path) -> list[tuple[int, str]]:
    """(index, source) of each code cell, with IPython's magics and shell lines blanked (the
    line numbers stay) so that ``ast`` can read the rest. A cell magic skips the whole cell."""
    cells = []
    for index, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if source.lstrip().startswith("%%"):
            continue
        lines = ["" if line.lstrip().startswith(("%", "!")) else line
                 for line in source.splitlines()]
        cells.append((index, "\n".join(lines)))
    return cells


def import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth (an import inside a function runs when it is called)."""
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def imported_modules(nodes, package: str = "") -> set[str]:
    """Absolute names of the modules the statements import (``from a import b`` gives ``a`` and
    ``a.b``, which may be a submodule). ``package`` resolves relative imports."""
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            parts = package.split(".")[:len(package.split(".")) - (node.level - 1)]
            base = ".".join(parts + ([node.module] if node.module else []))
        out.add(base)
        out.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return out


def notebook_imports() -> dict[str, set[str]]:
    """module -> the notebook cells that import it, from every cell that parses."""
    found: dict[str, set[str]] = {}
    for path in student_notebooks():
        for index, source in code_cells(path):
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue  # test_every_code_cell_parses names it
            for module in imported_modules(import_nodes(tree)):
                found.setdefault(module, set()).add(f"{path.relative_to(ROOT)} cell {index}")
    return found


def _module_file(module: str) -> tuple[Path, bool] | None:
    base = ROOT / Path(*module.split("."))
    if (base / "__init__.py").exists():
        return base / "__init__.py", True
    if base.with_suffix(".py").exists():
        return base.with_suffix(".py"), False
    return None  # a name imported from a module, not a module


def course_lib_imports(modules: set[str]) -> dict[str, set[str]]:
    """Third-party module -> the course_lib modules that import it, over every course_lib module
    that the given modules reach (their packages included)."""
    found: dict[str, set[str]] = {}
    todo, seen = sorted(m for m in modules if m.split(".")[0] == PROJECT_PACKAGE), set()
    while todo:
        parts = todo.pop().split(".")
        for depth in range(1, len(parts) + 1):
            name = ".".join(parts[:depth])
            where = _module_file(name)
            if name in seen or where is None:
                continue
            seen.add(name)
            path, is_package = where
            package = name if is_package else name.rpartition(".")[0]
            for module in imported_modules(import_nodes(ast.parse(path.read_text())), package):
                if module.split(".")[0] == PROJECT_PACKAGE:
                    todo.append(module)
                else:
                    found.setdefault(module, set()).add(name)
    return found


@functools.lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    return packages_distributions()


def distribution_of(module: str) -> str | None:
    """The distribution a top-level module comes from; None for the standard library."""
    top = module.split(".")[0]
    if top in sys.stdlib_module_names or top == "__future__":
        return None
    installed = _packages_distributions().get(top)
    if installed:
        return canonicalize_name(installed[0])
    if top in KNOWN_DISTRIBUTIONS:
        return canonicalize_name(KNOWN_DISTRIBUTIONS[top])
    raise AssertionError(f"no installed distribution provides the module {top!r}: install it "
                         f"here, or add it to KNOWN_DISTRIBUTIONS in {Path(__file__).name}")


def base_requirements() -> set[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {canonicalize_name(Requirement(r).name) for r in meta["dependencies"]}


def pyproject_requirements() -> dict[str, SpecifierSet]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"])
    for extra in meta.get("optional-dependencies", {}).values():
        reqs += extra
    return {Requirement(r).name.lower(): Requirement(r).specifier for r in reqs}


def conda_requirements() -> dict[str, SpecifierSet]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        if not isinstance(dep, str):
            continue  # a nested pip: section
        match = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", dep)
        name, spec = match.group(1).lower(), match.group(2).replace(" ", "")
        if name in ("python", "pip"):
            continue
        out[CONDA_NAMES.get(name, name)] = SpecifierSet(spec)
    return out


def test_same_packages_and_bounds():
    pip, conda = pyproject_requirements(), conda_requirements()
    assert sorted(pip) == sorted(conda), (
        f"only in pyproject.toml: {sorted(set(pip) - set(conda))}; "
        f"only in environment.yml: {sorted(set(conda) - set(pip))}")
    for name in pip:
        assert pip[name] == conda[name], f"{name}: pyproject says {pip[name]}, conda says {conda[name]}"


def test_python_floor_agrees():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert SpecifierSet(meta["requires-python"]) == SpecifierSet(conda_python[len("python"):])


def test_pins_are_inside_the_ranges():
    """constraints.txt pins versions that pyproject.toml admits (else the setup cannot resolve)."""
    pip = pyproject_requirements()
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            pinned = next(iter(req.specifier)).version
            assert pip[req.name.lower()].contains(pinned), f"{line} is outside {pip[req.name]}"


@pytest.mark.parametrize("path", student_notebooks(), ids=lambda p: p.name)
def test_every_code_cell_parses(path: Path):
    """A cell that is not Python (less its magics) fails for students, and hides its imports."""
    broken = []
    for index, source in code_cells(path):
        try:
            ast.parse(source)
        except SyntaxError as err:
            broken.append(f"{path.relative_to(ROOT)} cell {index}, line {err.lineno}: {err.msg}: "
                          f"{(err.text or '').strip()!r}")
    assert not broken, "\n".join(broken)


def _undeclared(found: dict[str, set[str]]) -> list[str]:
    base = base_requirements()
    missing = []
    for module, where in sorted(found.items()):
        if module.split(".")[0] == PROJECT_PACKAGE:
            continue
        dist = distribution_of(module)
        if dist is not None and dist not in base:
            where_text = ", ".join(sorted(where)[:3])
            missing.append(f"{module} (distribution {dist}), imported by {where_text}")
    return missing


def test_notebooks_import_only_base_dependencies():
    """Students install the base set (`pip install .`, `tasks.py lab`): an import served only by an
    extra (scipy once was, in [test]) crashes a lecture or a visible test for every student."""
    found = notebook_imports()
    assert {"numpy", "torch", "scipy.signal", "course_lib.grading.testing"} <= set(found)
    missing = _undeclared(found)
    assert not missing, "not in [project] dependencies of pyproject.toml:\n" + "\n".join(missing)


def test_course_lib_used_by_notebooks_imports_only_base_dependencies():
    """The same for what the notebooks reach inside course_lib (a widget's PIL, the data's tqdm)."""
    found = course_lib_imports(set(notebook_imports()))
    assert {"numpy", "torch"} <= {m.split(".")[0] for m in found}
    missing = _undeclared(found)
    assert not missing, "not in [project] dependencies of pyproject.toml:\n" + "\n".join(missing)


def test_import_reader_skips_magics_and_resolves_relative_imports():
    cell = "%matplotlib inline\n!pip list\nimport numpy as np\nfrom scipy.signal import convolve2d"
    lines = ["" if ln.lstrip().startswith(("%", "!")) else ln for ln in cell.splitlines()]
    tree = ast.parse("\n".join(lines))
    assert imported_modules(import_nodes(tree)) == {"numpy", "scipy.signal",
                                                    "scipy.signal.convolve2d"}
    rel = ast.parse("from . import signal\nfrom ..gpu import conv")
    assert imported_modules(import_nodes(rel), "course_lib.conv") == {
        "course_lib.conv", "course_lib.conv.signal", "course_lib.gpu", "course_lib.gpu.conv"}
    assert distribution_of("os.path") is None
    assert distribution_of("IPython.display") == "ipython"
