"""Statuses of autograded submissions, and the grade export that never hides a failure.

Each autograded submission has a status file ``grading_status/<assignment>/<student>.json`` in
the course folder (outside ``autograded/``, so no student id can ever name that folder; the
student id and the assignment name are checked by :mod:`course_lib.grading.ids` first):

``ok``      graded normally;
``limit``   graded, but a cell hit a limit (interrupted after the cell timeout, or MemoryError);
            the score counts what still passed, the reason names the cells;
``failed``  the kernel died or hung, or a notebook is missing: there is no trustworthy score.
            The grades stay empty (marked for manual grading) and the export leaves the
            score blank, with the reason, instead of writing 0.
"""
from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

from .ids import check_assignment_id, check_student_id, is_safe_student_id

STATUS_OK, STATUS_LIMIT, STATUS_FAILED = "ok", "limit", "failed"
STATUS_MISSING, STATUS_UNKNOWN = "missing", "unknown"
CSV_COLUMNS = ["assignment", "student_id", "status", "reason", "score", "max_score",
               "needs_manual_grade", "needs_review", "timestamp", "notes"]
STATUS_DIR = "grading_status"  # <root>/grading_status/<assignment>/<student>.json


def status_path(root: Path, assignment: str, student: str) -> Path:
    """``<root>/grading_status/<assignment>/<student>.json``; ValueError for an unsafe id."""
    return (Path(root) / STATUS_DIR / check_assignment_id(assignment)
            / f"{check_student_id(student)}.json")


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def write_status(root: Path, result: dict[str, Any]) -> None:
    """Record one submission's status (the log tail goes alongside, for the instructor)."""
    path = status_path(root, result["assignment"], result["student"])
    keep = {k: result.get(k) for k in ("assignment", "student", "status", "reason", "notes",
                                       "review", "seconds")}
    _write_atomic(path, json.dumps(keep, indent=1) + "\n")
    if result.get("log"):
        _write_atomic(path.with_suffix(".log"), result["log"])


def read_status(root: Path, assignment: str, student: str) -> dict[str, Any] | None:
    path = status_path(root, assignment, student)
    return json.loads(path.read_text()) if path.exists() else None


def rows(root: Path, assignments: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """One row per (assignment, student) in the gradebook, with status and reason."""
    from nbgrader.api import Gradebook, MissingEntry

    from .release import ensure_tool_path

    ensure_tool_path()
    out = []
    with Gradebook(f"sqlite:///{Path(root) / 'gradebook.db'}") as gb:
        names = list(assignments) if assignments else [a.name for a in gb.assignments]
        for name in names:
            assignment = gb.find_assignment(name)
            for student in gb.students:
                row = {"assignment": name, "student_id": student.id,
                       "max_score": assignment.max_score, "notes": "", "needs_review": "no"}
                if not is_safe_student_id(student.id):
                    # never hidden, never scored, never used as a path: a human decides
                    row.update(student_id=_cell_safe(student.id), status=STATUS_FAILED,
                               reason=f"unsafe student id {student.id!r} in the gradebook "
                               "(not graded; check who this is)", score="",
                               needs_manual_grade=True, timestamp="")
                    out.append(row)
                    continue
                status = read_status(root, name, student.id)
                try:
                    sub = gb.find_submission(name, student.id)
                except MissingEntry:
                    sub = None
                if sub is None:
                    row.update(status=STATUS_MISSING, reason="no submission", score=0,
                               needs_manual_grade=False, timestamp="")
                else:
                    row.update(status=status["status"] if status else STATUS_UNKNOWN,
                               reason=(status or {}).get("reason") or "",
                               score=round(sub.score, 4),
                               needs_manual_grade=sub.needs_manual_grade,
                               timestamp=sub.timestamp.isoformat() if sub.timestamp else "")
                    row["notes"] = "; ".join((status or {}).get("notes") or [])
                    review = (status or {}).get("review") or []
                    if review:  # the static scan found something: a person should look
                        row["needs_review"] = "yes"
                        row["notes"] = "; ".join([row["notes"], *review]).strip("; ")
                    if status is None and any(nb.flagged for nb in sub.notebooks):
                        # the autograder flags what it could not grade; keep saying so
                        row.update(status=STATUS_FAILED, reason="flagged by the autograder "
                                   "(its status file is missing: autograde it again)")
                    if row["status"] == STATUS_FAILED:
                        row["score"] = ""  # no trustworthy score: never an ordinary 0
                out.append(row)
    return out


def _cell_safe(text: str) -> str:
    """Keep a spreadsheet from reading a cell as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_csv(root: Path, dest: Path, assignments: Iterable[str] | None = None) -> int:
    """Write the grades as CSV (see CSV_COLUMNS); return the number of rows."""
    table = rows(root, assignments)
    lines = []

    class _Sink:
        def write(self, text: str) -> None:
            lines.append(text)

    writer = csv.DictWriter(_Sink(), fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(table)
    _write_atomic(Path(dest), "".join(lines))
    return len(table)


def summary(results: list[dict[str, Any]]) -> str:
    """A short table for the terminal: how many of each status, then every problem."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    lines = [", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing graded"]
    for r in results:
        if r["status"] != STATUS_OK or r.get("notes"):
            extra = "; ".join([r.get("reason") or "", *r.get("notes", [])]).strip("; ")
            lines.append(f"  {r['student']:<20} {r['status']:<7} {extra}")
    return "\n".join(lines)
