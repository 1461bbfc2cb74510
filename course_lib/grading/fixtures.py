"""Build student submissions from a release and its solution notebook (tests, benchmarks).

    >>> import json, pathlib, tempfile
    >>> cell = lambda gid, src: {"cell_type": "code", "source": src, "metadata": {"nbgrader":
    ...     {"grade_id": gid, "solution": True}}, "outputs": [], "execution_count": None}
    >>> release = {"cells": [cell("f", "# YOUR CODE HERE\\nraise NotImplementedError()")]}
    >>> solution = {"cells": [cell("f", "### BEGIN SOLUTION\\nx = 1\\n### END SOLUTION")]}
    >>> filled_submission(release, solution)["cells"][0]["source"]
    'x = 1'
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

_MARKER = re.compile(r"\s*### (BEGIN|END) SOLUTION")


def _source(cell: dict[str, Any]) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def solution_sources(solution_nb: dict[str, Any]) -> dict[str, str]:
    """grade_id -> source of each solution cell, without nbgrader's solution markers."""
    out = {}
    for cell in solution_nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            lines = [ln for ln in _source(cell).splitlines() if not _MARKER.match(ln)]
            out[meta["grade_id"]] = "\n".join(lines)
    return out


def filled_submission(release_nb: dict[str, Any], solution_nb: dict[str, Any]) -> dict[str, Any]:
    """The release notebook with every answer cell replaced by the solution's answer."""
    answers = solution_sources(solution_nb)
    nb = copy.deepcopy(release_nb)
    for cell in nb["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
    return nb


def load(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())
