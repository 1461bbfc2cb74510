"""Student ids (and assignment names) that are safe to put in a path.

Every id that comes from outside (a file name in an LMS download, a folder name in nbgrader's
exchange or in ``submitted/``, a command-line argument, a gradebook row) becomes part of a path
such as ``submitted/<student>/<assignment>/``. An id like ``..``, ``.status`` or ``a/b`` would
point somewhere else: into another student's folder, or into the course's own bookkeeping.
So ids are checked against one strict pattern before they are used:

* 1 to 64 characters: ASCII letters, digits and ``_ . @ + -``;
* the first one a letter or a digit (so never ``.``, ``..``, a dotfile, or something a
  spreadsheet would read as a formula);
* no path separator, no space, nothing outside ASCII.
"""
from __future__ import annotations

import re

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}")
EXPECTED = ("1 to 64 ASCII letters, digits or '_.@+-', starting with a letter or a digit "
            "(no '/', no leading '.', never '.' or '..')")


def _check(value: object, argument: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{argument}: expected a string of {EXPECTED}; got {type(value).__name__} "
                         f"{value!r}")
    if not ID_PATTERN.fullmatch(value):
        raise ValueError(f"{argument}: expected {EXPECTED}; got {value!r}")
    return value


def check_student_id(value: object, argument: str = "student_id") -> str:
    """Return ``value`` when it is a safe student id; raise ``ValueError`` naming ``argument``."""
    return _check(value, argument)


def check_assignment_id(value: object, argument: str = "assignment") -> str:
    """An assignment name chosen by the instructor: one plain path component.

    Looser than a student id (the instructor picks it), but never ``.``/``..``, a dotfile,
    or anything with a path separator.
    """
    if (not isinstance(value, str) or not value or len(value) > 255 or value.startswith(".")
            or any(c in value for c in "/\\\0") or value.strip() != value):
        raise ValueError(f"{argument}: expected a folder name (no '/' or '\\', not starting "
                         f"with '.', no surrounding spaces); got {value!r}")
    return value


def is_safe_student_id(value: object) -> bool:
    try:
        check_student_id(value)
    except ValueError:
        return False
    return True
