"""Generating the release from ``solutions/``, and the nbgrader steps around autograding.

``assignments/`` is nbgrader's release folder and is committed; :func:`generate` rebuilds it
with ``nbgrader generate_assignment`` (which also records the cells in ``gradebook.db``), and
:func:`release_differences` tells whether the committed release still matches a fresh one.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable

ROOT = Path(__file__).resolve().parents[2]


def nbgrader(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run one nbgrader command in the course folder (where nbgrader_config.py is)."""
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root,
                            capture_output=True, text=True, env=tool_env())
    if check and result.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed (exit {result.returncode}):\n"
                           f"{result.stdout[-4000:]}{result.stderr[-4000:]}")
    return result


def ensure_tool_path() -> None:
    """Put this interpreter's scripts on PATH: nbgrader's Gradebook runs ``alembic`` by name."""
    scripts = os.path.dirname(sys.executable)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")


def tool_env() -> dict[str, str]:
    """The environment with this interpreter's scripts first on PATH (nbgrader runs alembic)."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def source_assignments(root: Path) -> list[str]:
    """Assignments that have a folder with a notebook in ``solutions/``."""
    return sorted(p.name for p in (Path(root) / "solutions").iterdir()
                  if p.is_dir() and any(p.glob("*.ipynb")))


def generate(root: Path = ROOT, assignments: Iterable[str] | None = None) -> list[str]:
    """Regenerate ``assignments/<name>/`` from ``solutions/<name>/``; return the names."""
    root = Path(root)
    names = list(assignments) if assignments else source_assignments(root)
    for name in names:
        if not (root / "solutions" / name).is_dir():
            raise ValueError(f"generate: no folder solutions/{name}; have "
                             f"{source_assignments(root)}.")
        nbgrader(root, "generate_assignment", name, "--force")
        for nb_path in (root / "assignments" / name).glob("*.ipynb"):
            _normalise(nb_path)
    return names


def _normalise(path: Path) -> None:
    """Keep the committed release free of outputs, counts and volatile metadata."""
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cell.get("metadata", {}).pop("execution", None)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def notebook_signature(path: Path) -> list[dict[str, Any]]:
    """What matters in a released notebook: cell types, sources and nbgrader metadata."""
    nb = json.loads(Path(path).read_text())
    cells = []
    for cell in nb["cells"]:
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        cells.append({"type": cell["cell_type"], "source": source,
                      "nbgrader": cell.get("metadata", {}).get("nbgrader")})
    kernel = nb.get("metadata", {}).get("kernelspec", {}).get("name")
    return [{"kernel": kernel}] + cells


def release_differences(root: Path = ROOT, assignments: Iterable[str] | None = None,
                        fresh_course: Path | None = None) -> list[str]:
    """List how the committed release differs from a fresh ``generate_assignment``.

    The fresh release is generated in a scratch copy of the course, unless ``fresh_course``
    names a course folder where it was generated already.
    """
    root = Path(root)
    names = list(assignments) if assignments else source_assignments(root)
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(fresh_course) if fresh_course else Path(tmp)
        if fresh_course is None:
            shutil.copy(root / "nbgrader_config.py", course / "nbgrader_config.py")
            for name in names:
                shutil.copytree(root / "solutions" / name, course / "solutions" / name)
            generate(course, names)
        return [problem for name in names
                for problem in _compare_release(root / "assignments" / name,
                                                course / "assignments" / name, name)]


def _compare_release(committed: Path, fresh: Path, name: str) -> list[str]:
    def files(folder: Path) -> list[str]:
        return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                      if p.is_file()) if folder.is_dir() else []

    if files(fresh) != files(committed):
        return [f"{name}: files {files(committed)} != fresh {files(fresh)}"]
    problems = []
    for rel in files(fresh):
        if rel.endswith(".ipynb"):
            a, b = notebook_signature(committed / rel), notebook_signature(fresh / rel)
            if a != b:
                where = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y),
                             min(len(a), len(b)))
                problems.append(f"{name}/{rel}: differs from a fresh release at cell "
                                f"{where - 1} ({len(a) - 1} vs {len(b) - 1} cells)")
        elif (committed / rel).read_bytes() != (fresh / rel).read_bytes():
            problems.append(f"{name}/{rel}: differs from a fresh release")
    return problems


def release(root: Path, assignment: str, exchange: bool = False) -> Path:
    """Regenerate the release and, with ``exchange``, publish it to nbgrader's exchange."""
    generate(root, [assignment])
    if exchange:
        nbgrader(root, "release_assignment", assignment, "--force")
    return Path(root) / "assignments" / assignment


def course_config(root: Path):
    """The traitlets config of the course's ``nbgrader_config.py``."""
    from traitlets.config import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()


def feedback(root: Path, assignment: str) -> str:
    """Feedback HTML for every autograded submission (hidden tests left out)."""
    return nbgrader(root, "generate_feedback", assignment, "--force").stdout
