"""The sandboxed kernel: the program a ``course-sandbox`` kernelspec runs instead of ipykernel.

    python -m course_lib.grading.kernel -f {connection_file} [extra kernel arguments]

It runs outside the sandbox, as the grader, and stays the parent of the sandbox:

1. makes a scratch folder holding ``work/`` (a copy of the notebook's folder without any
   notebook: the autograded notebook already holds the hidden tests), ``home/`` and a copy of
   the connection file the kernel can read;
2. applies the resource limits, then starts ``ipykernel_launcher`` under bubblewrap (or setpriv);
3. enforces the wall-clock limit, and records how the kernel ended (exit code, signal, which
   limit) in the status file the grader named, so a dead kernel is reported with its reason;
   SIGTERM (the grader is done with the kernel) kills the sandbox at once;
4. removes the scratch folder. With bubblewrap, the pid namespace ends with the kernel, so every
   process the student started is gone too; with setpriv, they are killed by uid.

Settings come as JSON in the environment variable ``COURSE_SANDBOX`` (see
:class:`course_lib.grading.preprocessors.SandboxedExecute`).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course_lib.grading.limits import SandboxLimits, apply_rlimits, count_user_tasks
from course_lib.grading.sandbox import (SANDBOX_ROOT, bwrap_command, choose_backend, kill_uid, python_command,
                                        python_paths, setpriv_prefix)

# What a submission's folder may bring into the sandbox besides the notebook: data, never code
# (a shipped numpy.py or course_lib/ must not shadow the installed ones).
DATA_SUFFIXES = {".npy", ".npz", ".csv", ".tsv", ".txt", ".json", ".png", ".jpg", ".jpeg",
                 ".gif", ".bmp", ".pt", ".md", ".gz"}

SIGNAL_REASONS = {
    signal.SIGXCPU: "it used up its CPU time limit ({cpu} s)",
    signal.SIGKILL: "it was killed (SIGKILL): out of memory, or stopped by the grader",
    signal.SIGSEGV: "it crashed with a segmentation fault",
    signal.SIGABRT: "it aborted (SIGABRT)",
    signal.SIGXFSZ: "it wrote a file larger than the limit ({fsize} MB)",
}


def describe_exit(returncode: int, limits: SandboxLimits, via_bwrap: bool) -> str:
    """Say in words why a kernel ended, from its exit status."""
    if returncode == 0:
        return "the kernel exited normally"
    signum = -returncode if returncode < 0 else (returncode - 128 if via_bwrap and returncode > 128
                                                   else 0)
    if signum:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        text = SIGNAL_REASONS.get(signum, "it was killed by {name}")
        return "the kernel died: " + text.format(cpu=limits.cpu_seconds, name=name,
                                                 fsize=limits.file_size_mb)
    return (f"the kernel exited with code {returncode} (student code called os._exit or "
            f"sys.exit, or the kernel crashed)")


def _parse(argv: list[str]) -> tuple[str, list[str]]:
    if "-f" not in argv or argv.index("-f") + 1 >= len(argv):
        raise SystemExit("course_lib.grading.kernel: expected '-f CONNECTION_FILE'.")
    i = argv.index("-f")
    return argv[i + 1], argv[:i] + argv[i + 2:]


def _copy_workdir(source: Path, dest: Path, max_bytes: int, max_total: int = 1 << 30) -> None:
    """Copy the data files of the notebook's folder (see DATA_SUFFIXES), leaving out notebooks,
    code, links, over-large files, and the scratch folder itself (when the notebook's folder
    contains it)."""
    dest.mkdir(parents=True, exist_ok=True)
    skip = os.path.realpath(dest.parent)
    total = 0
    for root, dirs, files in os.walk(source):
        rel = Path(root).relative_to(source)
        dirs[:] = [d for d in dirs if not (Path(root) / d).is_symlink()
                   and d != ".ipynb_checkpoints"
                   and not os.path.realpath(Path(root) / d).startswith(skip)]
        (dest / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            path = Path(root) / name
            if path.suffix.lower() not in DATA_SUFFIXES or path.is_symlink():
                continue
            size = path.stat().st_size
            if size > max_bytes or total + size > max_total:
                continue
            total += size
            shutil.copy2(path, dest / rel / name)


def _chown_tree(path: Path, uid: int) -> None:
    os.chown(path, uid, uid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, uid)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc; processes may come and go meanwhile)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    stat = fh.read().rsplit(b")", 1)[1].split()
                children.setdefault(int(stat[1]), []).append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _interrupt_sandbox(root_pid: int) -> None:
    """Pass an interrupt to the kernel and its children, but never to bubblewrap itself,
    which would die of it (and take the kernel with it)."""
    for pid in [root_pid, *_descendants(root_pid)]:
        try:
            with open(f"/proc/{pid}/comm") as fh:
                if fh.read().strip() == "bwrap":
                    continue
            os.kill(pid, signal.SIGINT)
        except OSError:
            continue


def _record(status_file: str | None, **event) -> None:
    if status_file:
        with open(status_file, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(event) + "\n")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    connection_file, extra = _parse(argv)
    cfg = json.loads(os.environ.get("COURSE_SANDBOX") or "{}")
    limits = SandboxLimits.from_mapping(cfg.get("limits"))
    backend = choose_backend(cfg.get("backend", "auto"))
    status_file = cfg.get("status_file")
    uid = int(cfg.get("uid_base", 61000)) + int(cfg.get("slot", 0)) if os.geteuid() == 0 else None

    connection = json.loads(Path(connection_file).read_text())
    if backend.startswith("bwrap") and connection.get("transport") != "ipc":
        _record(status_file, event="refused", reason="the sandbox has no network: the kernel "
                "must use the ipc transport (SandboxedExecute sets it)")
        return 2
    socket_dir = os.path.dirname(connection["ip"]) if connection.get("transport") == "ipc" else None

    scratch = Path(tempfile.mkdtemp(prefix="kernel-", dir=cfg.get("scratch_root")))
    _copy_workdir(Path.cwd(), scratch / "work", limits.file_size_mb << 20,
                  max_total=(limits.scratch_mb << 20) // 2)
    (scratch / "home").mkdir()
    shutil.copy(connection_file, scratch / "kernel.json")
    if uid is not None:
        _chown_tree(scratch, uid)
        if socket_dir:
            os.chown(socket_dir, uid, uid)

    inside = SANDBOX_ROOT if backend.startswith("bwrap") else str(scratch)
    env = {
        "HOME": f"{inside}/home", "IPYTHONDIR": f"{inside}/home/.ipython",
        "MPLCONFIGDIR": f"{inside}/home/.matplotlib", "MPLBACKEND": "Agg",
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8", "TMPDIR": "/tmp", "PYTHONNOUSERSITE": "1",
        # One thread per library: graders run kernels side by side, one per core.
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
    }
    env.update({name: os.environ[name] for name in limits.env if name in os.environ})
    start = "from ipykernel import kernelapp; kernelapp.launch_new_instance()"
    if backend.startswith("bwrap"):  # the data files, into the size-limited work folder
        # entry by entry: copying the folder itself would try to chmod work/, which root owns
        start = (f"import os, shutil; src, dst = {SANDBOX_ROOT + '/input'!r}, {SANDBOX_ROOT + '/work'!r}; "
                 "[(shutil.copytree if os.path.isdir(os.path.join(src, n)) else shutil.copy2)"
                 "(os.path.join(src, n), os.path.join(dst, n)) for n in os.listdir(src)]; " + start)
    program = [*python_command(start), "-f", f"{inside}/kernel.json",
               "--IPKernelApp.ignore_cwd=True", *extra]

    if backend.startswith("bwrap"):
        readonly = sorted({(p, p) for p in python_paths()} | set(limits.expanded_readonly_paths()))
        cmd = bwrap_command(program, str(scratch), readonly, [socket_dir] if socket_dir else [],
                            env, uid if backend == "bwrap-root" else None, limits.scratch_mb << 20)
        cwd = None
    else:
        cmd = setpriv_prefix(uid) + program
        cwd = str(scratch / "work")
    nproc_base = 0 if uid is not None else count_user_tasks(os.getuid())

    def limit_and_detach() -> None:
        apply_rlimits(limits, nproc_base)
        os.setpgid(0, 0)  # out of the group jupyter_client signals: we forward interrupts

    signal.signal(signal.SIGINT, lambda *_: None)  # until the forwarder below is in place
    # The kernel's own stdout/stderr (start-up banner, fatal errors) go to a log beside the
    # status file; what student code prints reaches the notebook through ipykernel anyway.
    log_path = os.path.join(os.path.dirname(status_file), "kernel-output.log") if status_file \
        else os.devnull
    with open(log_path, "ab") as log:
        child = subprocess.Popen(cmd, cwd=cwd, env=env if cwd else {"PATH": "/usr/bin:/bin"},
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 preexec_fn=limit_and_detach)
    # jupyter_client interrupts by signalling this process's group.
    signal.signal(signal.SIGINT, lambda *_: _interrupt_sandbox(child.pid))

    stopped = []

    def stop(signum, _frame):  # the grader is done with this kernel (or gives up on it)
        stopped.append(signum)
        child.kill()
    signal.signal(signal.SIGTERM, stop)

    started = time.monotonic()
    try:
        returncode = child.wait(timeout=limits.wall_seconds)
        reason = ("the kernel exited normally: the grader stopped it" if stopped else
                  describe_exit(returncode, limits, backend.startswith("bwrap")))
    except subprocess.TimeoutExpired:
        child.kill()
        returncode = child.wait()
        reason = (f"the kernel ran longer than its wall-clock limit ({limits.wall_seconds} s) "
                  f"and was killed")
    if backend == "setpriv" and uid is not None:
        kill_uid(uid)  # background processes would otherwise outlive grading
    _record(status_file, event="exit", returncode=returncode, reason=reason,
            seconds=round(time.monotonic() - started, 2), backend=backend)
    shutil.rmtree(scratch, ignore_errors=True)
    return returncode if returncode >= 0 else 128 - returncode


if __name__ == "__main__":
    sys.exit(main())
