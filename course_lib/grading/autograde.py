"""Autograde a class in parallel without ever letting two processes write the gradebook.

nbgrader grades one submission after another, all writing ``gradebook.db``. Here:

1. The real gradebook is snapshotted once (SQLite backup API).
2. Each submission is graded by a worker process (:mod:`~course_lib.grading.worker`) in a
   private course folder (mode 700, outside the repository): a copy of ``nbgrader_config.py``,
   the snapshot as its gradebook,
   the assignment's source and this one submission (each worker empties and reuses its own
   folder). nbgrader's ``Autograde`` runs there, in-process, with the sandboxed kernel. The
   worker hands back the grades as plain data and the autograded notebook in
   ``results/<student>``. Workers share nothing, so they cannot corrupt anything; a crash
   loses one private copy.
3. The parent process alone merges each finished result into the real gradebook, one at a
   time (auto scores, comments, late penalty; manual scores are kept), copies the autograded
   notebook into ``autograded/``, and writes the submission's status (ok / limit / failed, with
   the reason) to ``grading_status/<assignment>/<student>.json``.

A failed submission (kernel died, hung, notebook missing) is never merged as an ordinary 0: its
grades are left empty and marked for manual grading, its notebook is flagged, and the status
file and the CSV export say why.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Iterable

from .report import STATUS_FAILED, read_status, write_status
from .worker import _init_worker, _started, grade_one

def snapshot_gradebook(db: Path, dest: Path) -> None:
    """A consistent copy of a SQLite database, even while someone else uses it."""
    with sqlite3.connect(db) as src, sqlite3.connect(dest) as out:
        src.backup(out)


def submissions(root: Path, assignment: str, students: Iterable[str] | None = None) -> list[str]:
    """Students who have ``submitted/<student>/<assignment>/``, sorted.

    A folder whose name is not a safe student id (``.status``, ``..``, a dotfile, ...; see
    :mod:`course_lib.grading.ids`) or that is a symbolic link is skipped, with a line on
    stderr saying why: it is never graded, so its name never becomes a path elsewhere.
    A requested ``students`` id that is not safe raises ``ValueError``.
    """
    import sys

    from .ids import check_assignment_id, check_student_id, is_safe_student_id

    check_assignment_id(assignment)
    wanted = {check_student_id(s, "--student") for s in students} if students else None
    found = []
    base = Path(root) / "submitted"
    for entry in sorted(base.iterdir()) if base.is_dir() else []:
        folder = entry / assignment
        if not (entry.is_dir() and folder.is_dir()):
            continue
        if not is_safe_student_id(entry.name):
            print(f"Skipping {folder}: {entry.name!r} is not a valid student id",
                  file=sys.stderr, flush=True)
        elif entry.is_symlink() or folder.is_symlink():
            print(f"Skipping {folder}: a symbolic link, not a submission folder",
                  file=sys.stderr, flush=True)
        else:
            found.append(entry.name)
    return [s for s in found if wanted is None or s in wanted]


def expected_notebooks(db: Path, assignment: str) -> list[str]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gb:
        return sorted(nb.name for nb in gb.find_assignment(assignment).notebooks)


def merge_result(root: Path, result: dict[str, Any], real) -> None:
    """Parent only: copy one result into the real gradebook (an open nbgrader ``Gradebook``),
    and its autograded notebook into ``autograded/``."""
    assignment, student = result["assignment"], result["student"]
    dest = root / "autograded" / student / assignment
    was_failed = (read_status(root, assignment, student) or {}).get("status") == STATUS_FAILED
    private = result.get("grades")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy chatter from nbgrader's own API
        real.update_or_create_student(student)
        real.update_or_create_submission(assignment, student,
                                         timestamp=private["timestamp"] if private else None)
        for nb in real.find_submission(assignment, student).notebooks:
            pnb = None
            if private is not None and result["status"] != STATUS_FAILED:
                pnb = private["notebooks"].get(nb.name)
            if pnb is None:
                nb.flagged = True   # formgrader shows it: it needs a human
            elif was_failed:
                nb.flagged = False  # our own flag from an earlier failed run
            nb.late_submission_penalty = pnb["late_penalty"] if pnb else None
            for grade in nb.grades:
                grade.auto_score = pnb["scores"].get(grade.name) if pnb else None
                grade.needs_manual_grade = grade.auto_score is None or grade.manual_score is not None
            for comment in nb.comments:
                comment.auto_comment = pnb["comments"].get(comment.name) if pnb else None
        real.db.commit()
    source = Path(result["autograded"]) if result.get("autograded") else None
    if dest.exists():
        shutil.rmtree(dest)
    if result["status"] != STATUS_FAILED and source is not None and source.is_dir():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, dest)
    write_status(root, result)


def ensure_in_gradebook(root: Path, assignment: str) -> None:
    """Autograde needs the assignment's cells in the gradebook: generate it if they are not."""
    from nbgrader.api import Gradebook, MissingEntry

    from .release import generate

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        try:
            if gb.find_assignment(assignment).notebooks:
                return
        except MissingEntry:
            pass
    generate(root, [assignment])


def machine_problem(root: Path, assignment: str, config_overrides: dict | None) -> str | None:
    """What keeps this machine from grading fairly (no sandbox, wrong course_lib, no data)."""
    from traitlets.config import Config, PyFileConfigLoader

    from course_lib.grading.preflight import preflight
    from course_lib.grading.sandbox import choose_backend, interpreter_is_world_readable

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    cfg.merge(Config(config_overrides or {}))
    try:
        backend = choose_backend(cfg.SandboxedExecute.get("backend", "auto"))
    except RuntimeError as err:
        return str(err)
    if backend == "setpriv" and root.stat().st_mode & 0o007:
        return (f"the setpriv fallback isolates by file permissions, but {root} is open to "
                f"other users: `chmod 700 {root}`, or install bubblewrap")
    if backend == "setpriv" and not interpreter_is_world_readable():
        return ("the setpriv fallback runs the kernel as a uid with no rights, which cannot read "
                "this Python installation: install bubblewrap, or Python every user can read")
    return preflight(cfg, assignment)


def default_jobs() -> int:
    """One worker per CPU, plus one: each worker waits while its kernel starts, and the extra
    worker uses those gaps (40 ps1 submissions on 2 cores: 26.5 s with 3 workers, 34.0 s with
    2 before the kernels were stopped at once; benchmarks/autograde_throughput.py)."""
    return (os.cpu_count() or 1) + 1


def _worker_context():
    """How worker processes start. On Linux they are forked from this process, after it has
    imported what grading needs and before it starts a kernel (the preflight) or opens the
    gradebook, so every worker starts ready: a spawned worker spent about 3 s of CPU importing
    nbgrader and warming up, once per worker per run. Elsewhere (no sandbox there anyway), spawn."""
    if not sys.platform.startswith("linux"):
        return get_context("spawn")
    import jupyter_client.manager  # noqa: F401
    import nbclient  # noqa: F401
    import nbconvert.preprocessors  # noqa: F401
    import nbgrader.converters  # noqa: F401
    import nbgrader.preprocessors  # noqa: F401

    from . import preprocessors, remote, sanitize, scan, wire  # noqa: F401
    return get_context("fork")


@contextlib.contextmanager
def _stop_workers_on_interrupt(pool: ProcessPoolExecutor):
    """On Ctrl-C (or any error), cancel what has not started and interrupt the workers, which
    run in sessions of their own and so do not get the terminal's Ctrl-C: each one stops its
    kernel and ends."""
    try:
        yield
    except BaseException:
        workers = list((getattr(pool, "_processes", None) or {}).values())  # shutdown forgets them
        pool.shutdown(wait=False, cancel_futures=True)
        for process in workers:
            with contextlib.suppress(OSError):
                os.kill(process.pid, signal.SIGINT)
        raise


def autograde(root: Path, assignment: str, students: Iterable[str] | None = None,
              jobs: int | None = None, config_overrides: dict | None = None,
              progress: bool = True) -> list[dict[str, Any]]:
    """Autograde every (or some) submission of ``assignment``; return one result per student."""
    from nbgrader.api import Gradebook

    from .release import ensure_tool_path

    ensure_tool_path()
    root = Path(root).resolve()
    ensure_in_gradebook(root, assignment)
    who = submissions(root, assignment, students)
    if not who:
        return []
    db_url = f"sqlite:///{root / 'gradebook.db'}"
    jobs = max(1, min(jobs or default_jobs(), len(who)))
    workspace = Path(tempfile.mkdtemp(prefix=f"autograde-{assignment}-"))  # mode 700
    ctx = _worker_context()
    slots = ctx.Queue()
    for slot in range(jobs):
        slots.put(slot)
    try:
        with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker,
                                 initargs=(slots,)) as pool:
            pool.submit(_started).result()  # the workers exist from here on
            problem = machine_problem(root, assignment, config_overrides)
            if problem:  # never a student's 0: every submission waits, failed, with the reason
                results = [{"student": s, "assignment": assignment, "status": STATUS_FAILED,
                            "notes": [], "autograded": "", "reason": f"not graded: {problem}",
                            "log": ""} for s in who]
                with Gradebook(db_url) as real:
                    for result in results:
                        merge_result(root, result, real)
                if progress:
                    print(f"Not grading {assignment}: {problem}", flush=True)
                return results
            if progress:  # say what the sandbox does not cap, once, before the first result
                print("note: memory and CPU are capped per process (RLIMIT), not per submission: "
                      "this course sets up no cgroup (docs/instructor_guide.md).", flush=True)
            template = workspace / "template.db"
            snapshot_gradebook(root / "gradebook.db", template)
            base = {"root": str(root), "assignment": assignment, "workspace": str(workspace),
                    "template_db": str(template), "notebooks": expected_notebooks(template, assignment),
                    "config_overrides": config_overrides or {}}
            results = []
            futures = {pool.submit(grade_one, {**base, "student": s}): s for s in who}
            # One gradebook connection for the whole run: SQLAlchemy compiles each query once.
            with _stop_workers_on_interrupt(pool), Gradebook(db_url) as real:
                for future in as_completed(futures):
                    student = futures[future]
                    try:
                        result = future.result()
                    except KeyboardInterrupt:
                        raise
                    except BaseException as err:  # noqa: BLE001  the worker broke: never guess a score
                        result = {"student": student, "assignment": assignment,
                                  "status": STATUS_FAILED, "notes": [], "autograded": "",
                                  "reason": f"grader error: {type(err).__name__}: {err}", "log": ""}
                    merge_result(root, result, real)  # serial: only this process writes the db
                    results.append(result)
                    if progress:
                        print(f"[{len(results)}/{len(who)}] {student}: {result['status']}"
                              + (f" ({result['reason']})" if result["reason"] else ""), flush=True)
        return sorted(results, key=lambda r: r["student"])
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
