"""Autograde throughput, in submissions per minute, for a class of generated ps1 submissions.

    .venv/bin/python benchmarks/autograde_throughput.py [--students 100] [--jobs N]

Both runs use the same sandboxed kernel and configuration, on the same generated class
(two thirds complete, one third with two wrong answers), in scratch course folders:

    reference   nbgrader's own ``nbgrader autograde`` (one submission after another)
    parallel    ``course_lib.grading.autograde`` with N workers (default: one per core, plus one)

The machine's load average is printed before and after: on a shared machine it explains
more of the numbers than anything else.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_lib.grading import release as rel  # noqa: E402
from course_lib.grading.autograde import autograde, default_jobs  # noqa: E402
from course_lib.grading.fixtures import filled_submission, load  # noqa: E402
from course_lib.grading.report import STATUS_OK  # noqa: E402

PS1 = "ps1_convolution"


def make_course(dest: Path, students: int) -> None:
    """A scratch course with ps1 generated and ``students`` submissions."""
    dest.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    shutil.copytree(ROOT / "solutions" / PS1, dest / "solutions" / PS1)
    rel.generate(dest, [PS1])
    complete = filled_submission(load(dest / "assignments" / PS1 / f"{PS1}.ipynb"),
                                 load(dest / "solutions" / PS1 / f"{PS1}.ipynb"))
    wrong = json.loads(json.dumps(complete).replace("flipped = b[::-1]", "flipped = b"))
    for i in range(students):
        folder = dest / "submitted" / f"student{i:03d}" / PS1
        folder.mkdir(parents=True)
        nb = wrong if i % 3 == 2 else complete
        (folder / f"{PS1}.ipynb").write_text(json.dumps(nb))


def run_reference(course: Path) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "nbgrader", "autograde", PS1], cwd=course,
                   env=rel.tool_env(), check=False, capture_output=True)
    return time.monotonic() - started


def run_parallel(course: Path, jobs: int) -> tuple[float, int]:
    started = time.monotonic()
    results = autograde(course, PS1, jobs=jobs, progress=False)
    return time.monotonic() - started, sum(r["status"] == STATUS_OK for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=default_jobs())
    args = parser.parse_args()
    print(f"{args.students} ps1 submissions, {os.cpu_count()} CPUs, "
          f"load average before: {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        make_course(base, args.students)
        serial_course, parallel_course = Path(tmp) / "serial", Path(tmp) / "parallel"
        shutil.copytree(base, serial_course)
        shutil.copytree(base, parallel_course)

        seconds = run_reference(serial_course)
        graded = len(list((serial_course / "autograded").glob(f"*/{PS1}")))
        print(f"{'reference: nbgrader autograde (serial)':<44} {seconds:8.1f} s "
              f"{60 * args.students / seconds:8.1f} submissions/min  ({graded} graded)",
              flush=True)
        seconds, ok = run_parallel(parallel_course, args.jobs)
        print(f"{f'course_lib.grading autograde --jobs {args.jobs}':<44} {seconds:8.1f} s "
              f"{60 * args.students / seconds:8.1f} submissions/min  ({ok} ok)", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
