"""The worker's side of the parallel autograde: one submission, graded in a private folder.

:func:`grade_one` runs in a worker process started by :func:`course_lib.grading.autograde.autograde`;
it touches nothing shared and hands back plain data (the status, the grades, the notes) and the
autograded notebook in ``results/<student>``. :func:`_init_worker` prepares each worker once.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
import warnings
from io import StringIO
from pathlib import Path
from typing import Any

from .report import STATUS_FAILED, STATUS_LIMIT, STATUS_OK

_SLOT = 0  # this worker's slot: kernels of concurrent workers get different uids


def skip_iri_grammar() -> None:
    """Keep jsonschema from building its IRI grammar in this process.

    When the optional package rfc3987-syntax is installed (JupyterLab's jupyter-events pulls it
    in), importing jsonschema compiles a grammar for the "iri" format: 2.6 s of CPU in every
    process that imports nbgrader, more than grading a ps1 submission takes. No schema nbformat
    or nbgrader checks uses that format, so the grading processes go without it (jsonschema
    treats the package as absent). Call it before anything imports jsonschema.
    """
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # None: "import rfc3987_syntax" fails


def _init_worker(slots) -> None:
    global _SLOT
    skip_iri_grammar()
    _SLOT = slots.get()
    # A session of its own, as each kernel has (jupyter_client starts them so). Linux shares
    # the CPU fairly between sessions ("autogroup", on by default), so workers left in the
    # parent's session got a quarter of the CPU between the three of them while their kernels
    # got three quarters, and waited on each other: 100 ps1 submissions took 72-79 s, and
    # 69.5 s in sessions of their own. The parent passes Ctrl-C on to the workers (autograde).
    if hasattr(os, "setsid"):  # POSIX; elsewhere there is no sandbox to grade with anyway
        os.setsid()
    if sys.platform.startswith("linux"):  # parent killed outright: stop, as on Ctrl-C
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, int(signal.SIGINT))  # PR_SET_PDEATHSIG
    # nbgrader's own API makes SQLAlchemy warn about session handling; it is harmless noise.
    warnings.filterwarnings("ignore", message=".*not in session.*")
    _validate_cell_metadata_once_per_schema()
    _one_engine_per_gradebook_file()


_ENGINES: dict[str, Any] = {}


def _one_engine_per_gradebook_file() -> None:
    """nbgrader opens a new SQLAlchemy engine each time it opens the gradebook, about ten times
    per submission, and an engine compiles every query afresh: a fifth of a worker's own CPU.
    A worker grades every submission in the same private folder (see :func:`grade_one`), so
    one engine per file path serves them all with its compiled queries. Each ``Gradebook.close``
    disposes the engine's connections, and :func:`grade_one` disposes them all again before it
    replaces the file, so no connection ever reads a previous submission's gradebook."""
    import nbgrader.api
    from sqlalchemy import create_engine

    def engine_for(url, **kwargs):
        key = repr((str(url), sorted(kwargs.items())))
        if key not in _ENGINES:
            _ENGINES[key] = create_engine(url, **kwargs)
        return _ENGINES[key]

    nbgrader.api.create_engine = engine_for


def _validate_cell_metadata_once_per_schema() -> None:
    """nbgrader checks every cell's metadata with ``jsonschema.validate``, which first checks
    the schema itself, for every cell of every notebook: about a tenth of a worker's time. The
    schema is nbgrader's own and fixed, so build its validator once; each cell is still
    validated, and a bad cell raises the same ``ValidationError``."""
    import types

    import jsonschema
    from nbgrader.nbgraderformat import common

    validators: dict[int, Any] = {}

    def validate(instance: Any, schema: dict) -> None:
        key = id(schema)
        if key not in validators:
            jsonschema.validators.validator_for(schema).check_schema(schema)
            validators[key] = jsonschema.validators.validator_for(schema)(schema)
        validators[key].validate(instance)

    common.jsonschema = types.SimpleNamespace(validate=validate)


def normalise_names(folder: Path, expected: list[str]) -> tuple[list[str], list[str]]:
    """Rename a lone renamed notebook back (``ps1 (1).ipynb``); return notes and missing names."""
    present = {p.stem for p in folder.glob("*.ipynb")}
    missing = [n for n in expected if n not in present]
    unknown = sorted(present - set(expected))
    notes = []
    if len(missing) == 1 and len(unknown) == 1:
        (folder / f"{unknown[0]}.ipynb").rename(folder / f"{missing[0]}.ipynb")
        notes.append(f"renamed notebook '{unknown[0]}.ipynb' to '{missing[0]}.ipynb'")
        missing, unknown = [], []
    for name in unknown:
        notes.append(f"ignored unknown notebook '{name}.ipynb'")
    return notes, missing


def scan_submission(folder: Path, assignment: str) -> list[str]:
    """The static scan's notes on a submission's answer cells, read here, outside the kernel."""
    from .scan import scan_notebook

    notes = []
    for path in sorted(folder.glob("*.ipynb")):
        try:
            notes += scan_notebook(json.loads(path.read_text(errors="replace")), assignment)
        except Exception as err:  # an unreadable notebook is the grader's to report, not to crash on
            notes.append(f"{path.name}: the static scan could not read it ({type(err).__name__})")
    return notes


def grade_one(job: dict[str, Any]) -> dict[str, Any]:
    """Worker: autograde one submission in a private course folder; touch nothing shared.

    On Ctrl-C (passed on by the parent) the kernel is stopped on the way out and the worker
    ends at once: otherwise the pool would hand it the next queued submission."""
    try:
        return _grade_one(job)
    except KeyboardInterrupt:
        os._exit(130)


def _grade_one(job: dict[str, Any]) -> dict[str, Any]:
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config, PyFileConfigLoader

    from .release import ensure_tool_path

    ensure_tool_path()
    started = time.monotonic()
    root, assignment, student = Path(job["root"]), job["assignment"], job["student"]
    # The same private folder for every submission this worker grades (emptied first); what
    # the parent needs afterwards is moved out to results/<student>.
    private = Path(job["workspace"]) / f"worker{_SLOT}"
    for engine in _ENGINES.values():
        engine.dispose()
    shutil.rmtree(private, ignore_errors=True)
    course = private / "course"
    (course / "submitted" / student).mkdir(parents=True)
    shutil.copy(root / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copy(job["template_db"], course / "gradebook.db")
    shutil.copytree(root / "solutions" / assignment, course / "solutions" / assignment,
                    symlinks=True)
    shutil.copytree(root / "submitted" / student / assignment,
                    course / "submitted" / student / assignment, symlinks=True)
    notes, missing = normalise_names(course / "submitted" / student / assignment,
                                     job["notebooks"])
    review = scan_submission(course / "submitted" / student / assignment, assignment)

    verdict_file = private / "verdict.jsonl"
    os.environ["COURSE_GRADING_VERDICT"] = str(verdict_file)
    os.environ["COURSE_GRADING_SLOT"] = str(_SLOT)
    log = StringIO()
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    logger = logging.getLogger("traitlets")  # nbgrader logs there when no app is running
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    ok = False
    try:
        cfg = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
        cfg.merge(Config(job.get("config_overrides") or {}))
        cfg.CourseDirectory.root = str(course)
        cfg.CourseDirectory.assignment_id = assignment
        cfg.CourseDirectory.student_id = student
        cfg.CourseDirectory.db_url = f"sqlite:///{course / 'gradebook.db'}"
        converter = Autograde(coursedir=CourseDirectory(config=cfg), config=cfg)
        converter.start()
        ok = True
    except Exception as err:  # NbGraderException, or anything nbgrader did not expect
        log.write(f"[ERROR] {type(err).__name__}: {err}\n")
    finally:
        logger.removeHandler(handler)

    verdicts = [json.loads(line) for line in verdict_file.read_text().splitlines()] \
        if verdict_file.exists() else []
    failures = [v["failure"] for v in verdicts if v.get("failure")]
    hits = [h for v in verdicts for h in v.get("limits_hit", [])]
    if missing:
        failures.append("notebook(s) not submitted: " + ", ".join(f"{m}.ipynb" for m in missing))
    if not ok and not failures:
        errors = [line for line in log.getvalue().splitlines() if line.startswith("[ERROR]")]
        failures.append("nbgrader failed: " + (errors[0][8:] if errors else "see the log"))
    status = STATUS_FAILED if failures else (STATUS_LIMIT if hits else STATUS_OK)
    graded = course / "autograded" / student / assignment
    kept = Path(job["workspace"]) / "results" / student
    if graded.is_dir():
        kept.parent.mkdir(exist_ok=True)
        graded.rename(kept)
    return {"student": student, "assignment": assignment, "status": status,
            "reason": "; ".join(failures or hits), "notes": notes, "review": review,
            "autograded": str(kept) if kept.is_dir() else "",
            "seconds": round(time.monotonic() - started, 2), "log": log.getvalue()[-20000:],
            "grades": private_grades(course, assignment, student) if ok else None}


def private_grades(course: Path, assignment: str, student: str) -> dict[str, Any] | None:
    """What nbgrader wrote into a private gradebook, as plain data for the parent to merge:
    ``{"timestamp", "notebooks": {name: {"late_penalty", "scores": {grade: auto_score},
    "comments": {comment: auto_comment}}}}``; None when the submission is not there."""
    from nbgrader.api import Gradebook, MissingEntry

    with warnings.catch_warnings(), Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        warnings.simplefilter("ignore")  # SQLAlchemy chatter from nbgrader's own API
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            return None
        return {"timestamp": submission.timestamp, "notebooks": {
            nb.name: {"late_penalty": nb.late_submission_penalty,
                      "scores": {g.name: g.auto_score for g in nb.grades},
                      "comments": {c.name: c.auto_comment for c in nb.comments}}
            for nb in submission.notebooks}}


def _started() -> bool:
    return True
