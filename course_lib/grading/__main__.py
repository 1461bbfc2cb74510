"""The instructor's commands: ``python -m course_lib.grading <command> ...``.

    generate [ASSIGNMENT...]          rebuild assignments/ from solutions/ (all by default)
    check-release [ASSIGNMENT...]     fail if the committed release differs from a fresh one
    release ASSIGNMENT [--exchange]   regenerate, and publish to nbgrader's exchange
    collect ASSIGNMENT                collect from the exchange into submitted/
    zip_collect ASSIGNMENT FILE...    collect an LMS download (zips or notebooks)
    autograde ASSIGNMENT [--jobs N] [--student ID...]   sandboxed, in parallel
    feedback ASSIGNMENT               HTML feedback into feedback/ (no hidden tests)
    export [-o grades.csv] [--assignment A...]          grades, with status and reason
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import autograde as _autograde
from . import worker as _worker

_worker.skip_iri_grammar()  # every command imports nbgrader: 2.6 s less for each (see there)
from . import collect as _collect
from . import zip_collect as _zip_collect
from . import release as _release
from . import report as _report


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_lib.grading",
                                     description="Generate, release, collect, autograde "
                                     "(sandboxed, in parallel), feedback and export.")
    parser.add_argument("--root", type=Path, default=_release.ROOT,
                        help="course folder holding nbgrader_config.py (default: the repository)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("generate", help="rebuild assignments/ from solutions/")
    p.add_argument("assignments", nargs="*")
    p = sub.add_parser("check-release", help="compare the committed release with a fresh one")
    p.add_argument("assignments", nargs="*")
    p = sub.add_parser("release", help="regenerate one assignment and optionally publish it")
    p.add_argument("assignment")
    p.add_argument("--exchange", action="store_true", help="also nbgrader release_assignment")
    p = sub.add_parser("collect", help="collect from nbgrader's exchange")
    p.add_argument("assignment")
    p = sub.add_parser("zip_collect", help="collect an LMS download")
    p.add_argument("assignment")
    p.add_argument("files", nargs="+", type=Path)
    p = sub.add_parser("autograde", help="autograde in the sandbox, in parallel")
    p.add_argument("assignment")
    p.add_argument("--jobs", "-j", type=int, default=None,
                   help="submissions graded at once (default: the number of CPUs plus one)")
    p.add_argument("--student", action="append", help="only these students (repeatable)")
    p = sub.add_parser("feedback", help="generate feedback HTML")
    p.add_argument("assignment")
    p = sub.add_parser("export", help="export grades as CSV, with status and reason")
    p.add_argument("-o", "--output", type=Path, default=Path("grades.csv"))
    p.add_argument("--assignment", action="append")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    root = args.root.resolve()
    if args.command == "generate":
        names = _release.generate(root, args.assignments or None)
        print(f"Generated {', '.join(names)} into {root / 'assignments'}")
    elif args.command == "check-release":
        problems = _release.release_differences(root, args.assignments or None)
        print("\n".join(problems) if problems else "The committed release is up to date.")
        return 1 if problems else 0
    elif args.command == "release":
        print(f"Released {_release.release(root, args.assignment, args.exchange)}")
    elif args.command in ("collect", "zip_collect"):
        report = _collect.collect(root, args.assignment) if args.command == "collect" \
            else _zip_collect.zip_collect(root, args.assignment, args.files)
        print(report)
        # Something refused needs the instructor's eyes: say so in the exit code too.
        return 1 if any(line.startswith("REFUSED") for line in report.splitlines()) else 0
    elif args.command == "autograde":
        results = _autograde.autograde(root, args.assignment, args.student, args.jobs)
        print(_report.summary(results))
        # A failed submission needs the instructor: say so in the exit code too.
        return 1 if any(r["status"] == _report.STATUS_FAILED for r in results) else 0
    elif args.command == "feedback":
        print(_release.feedback(root, args.assignment))
    elif args.command == "export":
        n = _report.export_csv(root, args.output, args.assignment)
        print(f"Wrote {n} rows to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
