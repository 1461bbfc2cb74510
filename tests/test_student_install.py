"""The course as a student installs it: the base dependencies only, in a fresh venv.

A student runs `python3 tasks.py lab`, which installs the course without the [test] extra. This
test runs that same setup (``tasks.ensure_venv("")``: `pip install -c constraints.txt -e .`, so
torch is the pinned local build) for a copy of what a clone holds (pyproject.toml,
constraints.txt, README.md, tasks.py, course_lib/) in a temporary folder. Then, with nbclient from
the test's own environment and a kernelspec that points at the fresh venv's python:

* ps1, ps2, ps3 and ps6: the released notebook, with the solutions filled in as
  :func:`course_lib.grading.fixtures.filled_submission` does, runs headless from top to bottom;
  no cell raises ImportError or ModuleNotFoundError, and every visible test cell runs and passes;
* ps4 (full MNIST), ps5 (training AlexNet) and the lectures: every import statement of their
  cells runs in the fresh venv.

In both, ``course_lib`` must come from the copy, not from this checkout. The install takes one
to two minutes (the wheels are local), the rest about a minute; the venv (1.5 GB) is deleted after.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from course_lib.grading import fixtures
from test_environment import code_cells, import_nodes

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CLONE_FILES = ("pyproject.toml", "constraints.txt", "README.md", "tasks.py")
RUN_THROUGH = ("ps1_convolution", "ps2_conv_layer_pooling", "ps3_network_size", "ps6_after_alexnet")
#: Run only as far as their imports: ps4 reads full MNIST, ps5 trains AlexNet.
IMPORT_ONLY = ("ps4_lenet", "ps5_alexnet_gpu")
KERNEL = "course-student-install"
IMPORT_ERRORS = ("ImportError", "ModuleNotFoundError")


def _load_tasks():
    spec = importlib.util.spec_from_file_location("course_tasks_student", ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """A fresh copy of the course with the student's .venv, and a kernelspec for that venv."""
    base = tmp_path_factory.mktemp("student-install")
    clone = base / "course"
    clone.mkdir()
    for name in CLONE_FILES:
        shutil.copy2(ROOT / name, clone / name)
    shutil.copytree(ROOT / "course_lib", clone / "course_lib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("COURSE_NO_PIN", raising=False)  # the student's install is pinned
        python = _load_tasks().ensure_venv("", clone)

    kernel_dir = base / "kernels" / KERNEL
    kernel_dir.mkdir(parents=True)
    (kernel_dir / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (the student's install)", "language": "python"}))

    # The kernel sees the student's venv, not this one: nothing of ours on its paths.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(
        [str(python.parent)] + [p for p in env.get("PATH", "").split(os.pathsep)
                                if p and not p.startswith(str(ROOT))])
    env["MPLBACKEND"] = "Agg"
    yield SimpleNamespace(base=base, clone=clone, python=python, env=env,
                          kernels=base / "kernels")
    shutil.rmtree(base, ignore_errors=True)


def test_the_student_install_has_the_base_set_only(student):
    """No [test] extra: what the notebooks need must come from the base dependencies."""
    check = ("import importlib.util as u; "
             "print([m for m in ('pytest', 'hypothesis', 'playwright') if u.find_spec(m)])")
    result = subprocess.run([str(student.python), "-c", check], capture_output=True, text=True,
                            env=student.env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _notebook(folder: str, name: str) -> Path:
    return ROOT / folder / name / f"{name}.ipynb"


@pytest.mark.parametrize("name", RUN_THROUGH)
def test_released_assignment_runs_in_the_student_install(student, name: str):
    release, solution = fixtures.load(_notebook("assignments", name)), fixtures.load(
        _notebook("solutions", name))
    nb = nbformat.reads(json.dumps(fixtures.filled_submission(release, solution)),
                        as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import course_lib\nprint(course_lib.__file__)"))
    work = student.base / "work" / name  # where the student's copy of the notebook lives
    work.mkdir(parents=True)

    specs = KernelSpecManager(kernel_dirs=[str(student.kernels)])
    km = AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)
    NotebookClient(nb, km=km, timeout=600, allow_errors=True,
                   resources={"metadata": {"path": str(work)}}).execute(env=student.env)

    import_errors, failed, not_run = [], [], []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        import_errors += [f"cell {index}: {o.ename}: {o.evalue}" for o in errors
                          if o.ename in IMPORT_ERRORS]
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):  # a visible test cell
            if cell.execution_count is None:
                not_run.append(meta["grade_id"])
            failed += [f"{meta['grade_id']}: {o.ename}: {o.evalue}" for o in errors]
    assert not import_errors, f"{name} in the student's install:\n" + "\n".join(import_errors)
    assert not not_run, f"visible tests that did not run: {not_run}"
    assert not failed, "visible tests that fail with the solutions filled in:\n" + "\n".join(failed)

    where = "".join(o.get("text", "") for o in nb.cells[-1].outputs).strip()
    assert Path(where).is_relative_to(student.clone), f"course_lib came from {where}"


def _import_statements(paths: list[Path]) -> list[str]:
    statements = set()
    for path in paths:
        for _, source in code_cells(path):
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue  # test_environment.py::test_every_code_cell_parses names the cell
            statements.update(ast.unparse(node) for node in import_nodes(tree)
                              if not (isinstance(node, ast.ImportFrom)
                                      and node.module == "__future__"))
    return sorted(statements)


@pytest.mark.parametrize("group", [*IMPORT_ONLY, "lectures"])
def test_every_import_of_the_notebooks_works_in_the_student_install(student, group: str):
    if group == "lectures":
        paths = sorted((ROOT / "lectures").glob("*.ipynb"))
    else:
        paths = [_notebook("assignments", group)]
    statements = _import_statements(paths)
    assert any("course_lib" in s for s in statements) and any("torch" in s for s in statements)
    script = "\n".join(statements + ["import course_lib", "print(course_lib.__file__)"])
    result = subprocess.run([str(student.python), "-c", script], cwd=student.base,
                            env=student.env, capture_output=True, text=True, timeout=600,
                            check=False)
    assert result.returncode == 0, (f"{group}: an import fails in the student's install:\n"
                                    f"{result.stderr[-3000:]}")
    where = result.stdout.strip().splitlines()[-1]
    assert Path(where).is_relative_to(student.clone), f"course_lib came from {where}"
