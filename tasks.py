#!/usr/bin/env python3
"""The course's own commands. Needs nothing but Python 3.10+.

    python3 tasks.py lab            set up .venv and open JupyterLab on lectures/
    python3 tasks.py test [ARGS]    set up .venv (with test extras) and run every test
    python3 tasks.py html           execute the lectures and export them to build/html/
    python3 tasks.py assignments    regenerate assignments/ from solutions/ (nbgrader)

Every command creates the virtual environment `.venv/` on first use and reuses it after
that; it reinstalls only when pyproject.toml or constraints.txt changed. Extra arguments
after `lab` go to `jupyter lab`, after `test` to `pytest`.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
MIN_PYTHON = (3, 10)


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def venv_bin(name: str) -> Path:
    return VENV / ("Scripts" if os.name == "nt" else "bin") / name


def ensure_venv(extras: str = "") -> Path:
    """Create or reuse .venv and install the course into it (editable)."""
    if sys.version_info < MIN_PYTHON:
        sys.exit(f"This course needs Python {'.'.join(map(str, MIN_PYTHON))} or newer; "
                 f"this is {sys.version.split()[0]}.")
    if not venv_python().exists():
        print(f"Creating the virtual environment {VENV.relative_to(ROOT)}/ ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)

    pin = os.environ.get("COURSE_NO_PIN") != "1"
    # The stamp records what was installed, so a second run starts in a second.
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    digest.update(f"{extras}|{pin}".encode())
    stamp = VENV / f".course-installed{'-' + extras if extras else ''}"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        return venv_python()

    target = f".[{extras}]" if extras else "."
    cmd = [str(venv_python()), "-m", "pip", "install", "--disable-pip-version-check",
           "-q", "-e", target]
    if pin:
        # torch first and pinned: an unpinned torch would pull gigabytes of CUDA wheels.
        cmd += ["-c", str(ROOT / "constraints.txt")]
        run([str(venv_python()), "-m", "pip", "install", "--disable-pip-version-check", "-q",
             "-c", str(ROOT / "constraints.txt"), "torch"])
    print(f"Installing the course into .venv ({target}) ...", flush=True)
    run(cmd)
    stamp.write_text(digest.hexdigest())
    return venv_python()


def run(cmd: list[str], **kwargs) -> None:
    result = subprocess.run(cmd, cwd=kwargs.pop("cwd", ROOT), **kwargs)
    if result.returncode != 0:
        sys.exit(result.returncode)


def course_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(venv_bin("")) + os.pathsep + env.get("PATH", "")
    env.setdefault("MPLBACKEND", "Agg")
    return env


def cmd_lab(args: list[str]) -> None:
    ensure_venv()
    root_flag = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    env = course_env()
    env.pop("MPLBACKEND")  # let the notebooks pick the inline backend
    run([str(venv_bin("jupyter")), "lab", f"--ServerApp.root_dir={ROOT / 'lectures'}",
         *root_flag, *args], env=env)


def cmd_test(args: list[str]) -> None:
    python = ensure_venv("test")
    run([str(python), "-m", "pytest", *args], env=course_env())


def cmd_html(args: list[str]) -> None:
    python = ensure_venv("test")
    run([str(python), "-m", "course_lib.notebooks", "html", *args], env=course_env())


def cmd_assignments(args: list[str]) -> None:
    python = ensure_venv()
    run([str(python), "-m", "course_lib.grading", "generate", *args], env=course_env())


COMMANDS = {"lab": cmd_lab, "test": cmd_test, "html": cmd_html, "assignments": cmd_assignments}


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__)
        sys.exit(0 if argv and argv[0] in ("-h", "--help") else 2)
    COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
