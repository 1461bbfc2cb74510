"""Keep the lecture notebooks clean, run them headless, and export them to HTML.

    python -m course_lib.notebooks strip [PATHS]           drop outputs, counts, volatile metadata
    python -m course_lib.notebooks run [PATHS]             execute headless, print each one's time
    python -m course_lib.notebooks html [--out build/html] execute the lectures, write HTML pages

PATHS are notebooks or folders; without any, every ``lectures/*.ipynb`` is used, so a new
lecture is picked up without touching this file. Notebooks run with ``lectures/`` as the
working directory, exactly as a student opening them in JupyterLab would.
"""
from __future__ import annotations

import argparse
import html
import os
import sys
import time
from pathlib import Path
from typing import Iterable

ROOT = Path(__file__).resolve().parent.parent
LECTURES = ROOT / "lectures"
# The kernel must draw with the inline backend even when the caller set MPLBACKEND=Agg.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
# Cell metadata that only records one particular run or one person's view of it.
VOLATILE_CELL_KEYS = ("execution", "ExecuteTime", "collapsed", "scrolled")


def lecture_paths(paths: Iterable[str | Path] = ()) -> list[Path]:
    """Expand notebooks and folders into a sorted list of ``.ipynb`` files.

    With no paths, every notebook in ``lectures/`` (checkpoints excluded).
    """
    chosen = [Path(p) for p in paths] or [LECTURES]
    found: list[Path] = []
    for path in chosen:
        if path.is_dir():
            found += sorted(p for p in path.glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        elif path.suffix == ".ipynb" and path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"course_lib.notebooks: {path} is neither a notebook nor a "
                                    "folder of notebooks.")
    return found


def strip_notebook(nb) -> bool:
    """Remove outputs, execution counts and volatile metadata in place; True if anything changed."""
    changed = False
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            if cell.get("outputs"):
                cell["outputs"] = []
                changed = True
            if cell.get("execution_count") is not None:
                cell["execution_count"] = None
                changed = True
        for key in VOLATILE_CELL_KEYS:
            if key in cell.get("metadata", {}):
                del cell["metadata"][key]
                changed = True
    # Widget state and the exact Python version change on every run.
    if "widgets" in nb.metadata:
        del nb.metadata["widgets"]
        changed = True
    info = nb.metadata.get("language_info")
    if info and set(info) != {"name"}:
        nb.metadata["language_info"] = {"name": info.get("name", "python")}
        changed = True
    return changed


def is_clean(nb) -> bool:
    """True when the notebook has no outputs, no execution counts and no widget state."""
    import copy

    return not strip_notebook(copy.deepcopy(nb))


def strip(paths: Iterable[str | Path] = ()) -> list[Path]:
    """Strip every notebook in ``paths``; return the ones that changed."""
    import nbformat

    changed = []
    for path in lecture_paths(paths):
        nb = nbformat.read(path, as_version=4)
        if strip_notebook(nb):
            nbformat.write(nb, path)
            changed.append(path)
    return changed


def execute(path: str | Path, timeout: int = 300, cwd: str | Path | None = None):
    """Execute one notebook headless with nbclient and return the executed copy.

    Each cell may take at most ``timeout`` seconds; any error raises
    ``nbclient.exceptions.CellExecutionError`` naming the cell. Widget callbacks run once for
    their initial value, so the demos never wait for a person.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd or path.parent)}})
    client.execute()
    return nb


def run(paths: Iterable[str | Path] = (), timeout: int = 300) -> dict[str, float]:
    """Execute notebooks one by one, print and return the seconds each took."""
    times = {}
    for path in lecture_paths(paths):
        start = time.perf_counter()
        execute(path, timeout=timeout)
        times[path.name] = time.perf_counter() - start
        print(f"{path.name:<40} {times[path.name]:6.1f} s", flush=True)
    print(f"{'total':<40} {sum(times.values()):6.1f} s")
    return times


def export_html(out: str | Path = ROOT / "build" / "html", paths: Iterable[str | Path] = (),
                timeout: int = 600) -> list[Path]:
    """Execute the lectures and write one HTML page per notebook plus an index.html.

    The pages keep every figure. Live widgets need the notebook itself (or an internet
    connection for the widget scripts); every idea a widget shows also has a static figure.
    """
    from nbconvert import HTMLExporter

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(template_name="lab")
    written = []
    for path in lecture_paths(paths):
        start = time.perf_counter()
        nb = execute(path, timeout=timeout)
        body, _ = exporter.from_notebook_node(nb)
        target = out / f"{path.stem}.html"
        tmp = target.with_suffix(".html.tmp")
        tmp.write_text(body, encoding="utf-8")
        os.replace(tmp, target)
        written.append(target)
        print(f"{path.name:<40} {time.perf_counter() - start:6.1f} s  -> {target}", flush=True)
    links = "\n".join(f'<li><a href="{html.escape(p.name)}">{html.escape(p.stem)}</a></li>'
                      for p in written)
    (out / "index.html").write_text(
        f"<!doctype html><meta charset='utf-8'><title>Lectures</title>"
        f"<h1>Convolutional networks: lectures</h1><ol>{links}</ol>\n", encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.notebooks",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_strip = sub.add_parser("strip", help="remove outputs and execution counts")
    p_strip.add_argument("paths", nargs="*")
    p_run = sub.add_parser("run", help="execute headless and print each notebook's time")
    p_run.add_argument("paths", nargs="*")
    p_run.add_argument("--timeout", type=int, default=300, help="seconds per cell")
    p_html = sub.add_parser("html", help="execute the lectures and export HTML")
    p_html.add_argument("paths", nargs="*")
    p_html.add_argument("--out", default=str(ROOT / "build" / "html"))
    args = parser.parse_args(argv)

    if args.command == "strip":
        for path in strip(args.paths):
            print(f"stripped {path}")
    elif args.command == "run":
        run(args.paths, timeout=args.timeout)
    else:
        export_html(args.out, args.paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
