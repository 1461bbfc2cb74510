"""Before grading: is this machine able to grade fairly? A problem here is never a student's 0.

:func:`preflight` starts the sandboxed kernel once, with the assignment's limits, and checks
from inside it that

* the kernel imports the grader's own ``course_lib`` (not another checkout, worktree or
  ``PYTHONPATH`` entry), so that the kernel's end of the line matches the grader's;
* every environment variable the assignment passes in (``COURSE_DATA_DIR``) is set on the
  grading machine and names a folder the kernel can read, symbolic links included.

It returns a reason naming the machine's problem, or ``None`` when all is well. The autograder
then ends every submission as ``failed`` with that reason instead of grading.
"""
from __future__ import annotations

import json
import os
from typing import Any

import nbformat

PROBE = """
import json, os, sys
report = {"env": {}}
try:
    import course_lib
    report["course_lib"] = os.path.realpath(os.path.dirname(course_lib.__file__))
except Exception as err:
    report["course_lib_error"] = f"{type(err).__name__}: {err}"
for name in NAMES:
    value = os.environ.get(name)
    report["env"][name] = None if value is None else [value, os.path.isdir(value) and os.access(value, os.R_OK)]
print("PREFLIGHT" + json.dumps(report))
"""


def preflight(config: Any, assignment: str) -> str | None:
    """Start the sandboxed kernel once; return what is wrong with this machine, or None."""
    import course_lib
    from course_lib.grading.preprocessors import SandboxedExecute

    executor = SandboxedExecute(config=config)
    limits = executor.limits_for(assignment)
    for name in limits.required_env:
        if not os.environ.get(name):
            return (f"the assignment needs ${name}, which is not set on the grading machine "
                    f"(see docs/instructor_guide.md)")
        if not os.path.isdir(os.environ[name]):
            return f"${name} is {os.environ[name]!r}, which is not a folder on the grading machine"
    nb = nbformat.v4.new_notebook()
    present = [name for name in limits.env if os.environ.get(name)]
    nb.cells = [nbformat.v4.new_code_cell(f"NAMES = {present!r}\n" + PROBE)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    try:
        executor.preprocess(nb, {"nbgrader": {"assignment": assignment, "notebook": "preflight"}})
    except Exception as err:  # the sandbox could not start: the machine's problem
        return f"the sandboxed kernel does not start on this machine: {type(err).__name__}: {err}"
    text = "".join(out.get("text", "") for out in nb.cells[0].get("outputs", [])
                   if out.get("output_type") == "stream")
    errors = [f"{o['ename']}: {o['evalue']}" for o in nb.cells[0].get("outputs", [])
              if o.get("output_type") == "error"]
    if "PREFLIGHT" not in text:
        return "the sandboxed kernel could not run the preflight check: " + "; ".join(errors)
    report = json.loads(text.split("PREFLIGHT", 1)[1].splitlines()[0])
    mine = os.path.realpath(os.path.dirname(course_lib.__file__))
    if "course_lib_error" in report:
        return f"the kernel cannot import course_lib: {report['course_lib_error']}"
    if report.get("course_lib") != mine:
        return (f"the kernel imports course_lib from {report.get('course_lib')}, but the grader "
                f"is {mine}: grade with the interpreter of the checkout you grade from")
    for name, seen in report["env"].items():
        if not seen or not seen[1]:
            return f"the kernel cannot read ${name} ({os.environ.get(name)}) inside the sandbox"
    return None
