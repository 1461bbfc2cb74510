"""Wall time of every lecture notebook, executed headless one after another in one run.

Claim (issue 14): every lecture runs top to bottom in no more than 90 s on a 2-core machine,
and every cell that takes longer than 5 s shows a progress bar.

Each ``lectures/*.ipynb`` (a glob, so new lectures are picked up) is executed with
``course_lib.notebooks.execute``, exactly as ``tests/test_notebooks.py`` does, with no GPU
visible. The table gives each lecture's wall time (kernel start included), its slowest cell,
and the cells over ``--slow`` seconds, marked ``bar`` when the cell printed a tqdm bar.
The load average is printed too: timings on a busy machine are inflated.

Run: ``COURSE_DATA_DIR=/path/with/mnist .venv/bin/python benchmarks/lecture_times.py [--only 06 07]``
The last line reads ``lectures total_seconds=S slowest=NAME:S budget=90 ok=True|False``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_lib import notebooks  # noqa: E402

BUDGET_S = 90


def cell_seconds(cell) -> float | None:
    """Seconds a cell ran, from the timestamps nbclient records in its metadata."""
    stamps = cell.get("metadata", {}).get("execution", {})
    start, end = stamps.get("iopub.execute_input"), stamps.get("shell.execute_reply")
    if not (start and end):
        return None
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def shows_a_bar(cell) -> bool:
    """True when the cell's output holds a tqdm bar (a widget in Jupyter, text headless)."""
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        if "application/vnd.jupyter.widget-view+json" in data and "it/s" in str(data.get("text/plain", "")):
            return True
        text = out.get("text", "") + str(data.get("text/plain", ""))
        if "%|" in text or "it/s]" in text or "s/it]" in text:
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=[], metavar="NN",
                        help="lecture numbers or name prefixes, e.g. --only 06 07")
    parser.add_argument("--slow", type=float, default=5.0, help="list cells over this many seconds")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS for the kernels (torch's threads); default: torch's own choice. "
                             "On a machine shared with other work, 1 avoids threads spinning against each other")
    args = parser.parse_args(argv)

    paths = notebooks.lecture_paths()
    if args.only:
        paths = [p for p in paths if any(p.name.startswith(prefix) for prefix in args.only)]
        if not paths:
            parser.error(f"no lecture matches --only {' '.join(args.only)}")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # as tests/test_notebooks.py: the CPU path
    if args.threads:  # the kernels inherit the environment; torch reads it when it starts
        os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)

    print(f"{len(paths)} lecture(s); load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
          f"threads {args.threads or 'default'}; "
          f"COURSE_DATA_DIR={'set' if os.environ.get('COURSE_DATA_DIR') else 'not set'}")
    print(f"{'lecture':<34} {'seconds':>8}  {'slowest cell':>13}  cells over {args.slow:g} s")
    times: dict[str, float] = {}
    failed: list[str] = []
    for path in paths:
        start = time.perf_counter()
        try:
            nb = notebooks.execute(path, timeout=args.timeout)
        except Exception as err:  # noqa: BLE001 - report and go on with the next lecture
            times[path.stem] = time.perf_counter() - start
            failed.append(path.stem)
            print(f"{path.stem:<34} {times[path.stem]:8.1f}  FAILED: {str(err).splitlines()[0][:80]}", flush=True)
            continue
        times[path.stem] = time.perf_counter() - start
        code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
        timed = [(cell_seconds(c) or 0.0, i, c) for i, c in code]
        worst = max(timed, key=lambda t: t[0], default=(0.0, -1, None))
        slow = ", ".join(f"[{i}] {s:.1f} s{' bar' if shows_a_bar(c) else ' NO BAR'}"
                         for s, i, c in timed if s > args.slow)
        print(f"{path.stem:<34} {times[path.stem]:8.1f}  [{worst[1]:>2}] {worst[0]:6.1f} s  {slow}", flush=True)
    total = sum(times.values())
    slowest = max(times, key=times.get)
    print(f"{'total':<34} {total:8.1f}   load average now {os.getloadavg()[0]:.2f}")
    ok = not failed and max(times.values()) <= BUDGET_S
    print(f"lectures total_seconds={total:.1f} slowest={slowest}:{times[slowest]:.1f} budget={BUDGET_S} "
          f"ok={ok}" + (f" failed={','.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
