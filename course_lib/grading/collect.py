"""Collecting from nbgrader's exchange (JupyterHub), with the owner of every inbound folder checked.

nbgrader's own ``collect`` only warns ("cheating attempt?") on stderr when a folder in the
exchange claims one student and is owned by another. Here such a folder is refused before
nbgrader sees it, and nbgrader's warnings reach the instructor.
"""
from __future__ import annotations

import re
import shutil
import stat
import tempfile
from pathlib import Path


from course_lib.grading.release import course_config, nbgrader

# --- collect: nbgrader's exchange, with the owner of every inbound folder checked ------------

_CHEATING = re.compile(r"claims to be submitted by (\S+) but is owned by (.*?); cheating attempt\?")


def inbound_problem(folder: Path, assignment: str, check_owner: bool = True) -> str | None:
    """Why an inbound folder ``<student>+<assignment>+<timestamp>[+<random>]`` of nbgrader's
    exchange must not be collected, or None when it may be.

    The student is parsed as nbgrader parses it (``name.rsplit('+', 3)[0]``). Refused: a name
    that is not of that form or whose timestamp nbgrader cannot read (it would stop the whole
    collect), an unsafe student id, a symbolic link or anything but a folder, and (with
    ``check_owner``) a folder whose owner's user name (``pwd``) is not the student it claims.
    """
    import pwd

    from nbgrader.utils import parse_utc

    from .ids import check_student_id

    parts = folder.name.rsplit("+", 3)
    if len(parts) < 3 or parts[1] != assignment:
        return "not an nbgrader submission name (<student>+<assignment>+<timestamp>+<random>)"
    student = parts[0]
    try:
        check_student_id(student, "student id in the folder name")
    except ValueError as err:
        return str(err)
    try:
        parse_utc(parts[2])
    except (ValueError, OverflowError):
        return f"unreadable timestamp {parts[2]!r}"
    st = folder.lstat()
    if stat.S_ISLNK(st.st_mode):
        return "a symbolic link, not a folder"
    if not stat.S_ISDIR(st.st_mode):
        return "not a folder"
    if check_owner:
        try:
            owner = pwd.getpwuid(st.st_uid).pw_name
        except KeyError:
            owner = None
        if owner != student:
            who = f"user {owner!r}" if owner else f"uid {st.st_uid}, which is no user"
            return f"claims to be submitted by {student!r} but is owned by {who}"
    return None


def collect(root: Path, assignment: str) -> str:
    """Collect submissions from nbgrader's exchange into ``submitted/``; return the report.

    Every inbound folder of ``assignment`` (``<Exchange.root>/<course_id>/inbound/``) is
    checked first (:func:`inbound_problem`); a refused one is named, with the reason, and never
    collected: nbgrader collects from a private view of the inbound folder that holds only the
    accepted ones. nbgrader's own log (stderr: warnings such as "cheating attempt?") is part of
    the report. A submission nbgrader still calls a cheating attempt is removed again.
    """
    from nbgrader.exchange.abc.collect import ExchangeCollect
    from nbgrader.exchange.default.exchange import Exchange

    from .ids import check_assignment_id, is_safe_student_id

    root = Path(root)
    check_assignment_id(assignment)
    cfg = course_config(root)
    exchange_root = Path(cfg.Exchange.get("root", Exchange.root.default_value))
    course_id = cfg.CourseDirectory.get("course_id", "")
    check_owner = bool(cfg.ExchangeCollect.get("check_owner", cfg.CollectApp.get(
        "check_owner", ExchangeCollect.check_owner.default_value)))
    inbound = exchange_root / course_id / "inbound"
    if not course_id or not inbound.is_dir():  # nbgrader says what is wrong
        return nbgrader(root, "collect", assignment, "--update").stdout

    lines, accepted = [], []
    if not check_owner:
        lines.append("WARNING: ExchangeCollect.check_owner is False in nbgrader_config.py: the "
                     "owners of inbound folders are NOT checked against the student ids.")
    for folder in sorted(inbound.iterdir()):
        if f"+{assignment}+" not in folder.name:
            continue
        problem = inbound_problem(folder, assignment, check_owner)
        if problem:
            lines.append(f"REFUSED {folder}: {problem}; not collected.")
        else:
            accepted.append(folder)
    with tempfile.TemporaryDirectory(prefix="collect-view-") as view:
        view_inbound = Path(view) / course_id / "inbound"
        view_inbound.mkdir(parents=True)
        for folder in accepted:  # nbgrader follows the link; the owner it sees is the real one
            (view_inbound / folder.name).symlink_to(folder, target_is_directory=True)
        result = nbgrader(root, "collect", assignment, "--update", f"--Exchange.root={view}",
                          check=False)
    said = (result.stderr.strip() + "\n" + result.stdout.strip()).strip()
    if result.returncode != 0:
        failed = f"nbgrader collect failed (exit {result.returncode}):"
        raise RuntimeError("\n".join([*lines, failed, said[-8000:]]))
    for match in _CHEATING.finditer(said):  # the owner changed after the check: undo it
        student = match.group(1)
        dest = root / "submitted" / student / assignment
        if is_safe_student_id(student) and dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        lines.append(f"REFUSED {student}: nbgrader saw a folder owned by {match.group(2)}; "
                     f"removed {dest} again.")
    refused = sum(line.startswith("REFUSED") for line in lines)
    lines.append(f"{len(accepted)} inbound folder(s) of {assignment} passed the checks, "
                 f"{refused} refused.")
    if said:
        lines += ["nbgrader collect said:", said]
    return "\n".join(lines)
