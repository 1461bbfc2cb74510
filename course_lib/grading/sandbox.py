"""The command line that runs student code in a sandbox: bubblewrap, or setpriv as a fallback.

Three layouts, chosen by :func:`choose_backend`:

``bwrap-root``  (the instructor is root)
    bubblewrap mounts, as root, a new root file system that shows only the system's ``/usr``,
    the Python installation, the virtual environment and ``course_lib`` (all read-only), a
    private ``/tmp``, and the submission's scratch folder (read-write). It unshares the pid,
    network, IPC and UTS namespaces. Inside, ``setpriv`` then drops to a throwaway uid that owns
    nothing on the host (``uid_base + slot``), with no capabilities and ``no_new_privs``, so
    ``RLIMIT_NPROC`` counts only this sandbox's tasks.

``bwrap-user``  (the instructor is not root)
    The same mounts, made by an unprivileged bubblewrap inside a new user namespace. The kernel
    keeps the instructor's uid, but sees nothing of theirs outside the read-only binds.

``setpriv``  (no bubblewrap; root only)
    ``setpriv`` drops to the throwaway uid. Isolation then rests on file permissions: the
    grading workspace is mode 700, so the kernel reaches only its scratch folder, plus whatever
    is world-readable on the host (the Python installation must be). Processes it leaves behind
    are killed by uid afterwards.

In every layout the wrapper applies :mod:`~course_lib.grading.limits` with ``setrlimit``.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Sequence

SANDBOX_ROOT = "/sandbox"        # where the scratch folder appears inside bubblewrap
TMP_SIZE = 256 * (1 << 20)       # bytes of RAM the private /tmp may hold


def is_root() -> bool:
    return os.geteuid() == 0


def choose_backend(requested: str = "auto") -> str:
    """``bwrap-root``, ``bwrap-user`` or ``setpriv``; raise if nothing safe is available."""
    if requested not in ("auto", "bwrap", "setpriv"):
        raise ValueError(f"choose_backend: argument 'requested' must be 'auto', 'bwrap' or "
                         f"'setpriv', got {requested!r}.")
    have_bwrap = shutil.which("bwrap") is not None
    if requested in ("auto", "bwrap") and have_bwrap:
        return "bwrap-root" if is_root() else "bwrap-user"
    if requested == "bwrap":
        raise RuntimeError("The sandbox needs bubblewrap: install it with "
                           "`apt-get install -y bubblewrap` (Debian/Ubuntu).")
    if is_root() and shutil.which("setpriv"):
        return "setpriv"
    raise RuntimeError("No sandbox is available: install bubblewrap (`apt-get install -y "
                       "bubblewrap`); the setpriv fallback needs the grader to run as root.")


def python_paths() -> list[str]:
    """Folders the kernel's interpreter needs: the base installation, the venv, course_lib."""
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix),
             os.path.join(course_lib_parent(), "course_lib")}
    return sorted(paths)


def course_lib_parent() -> str:
    """The folder holding the grader's own ``course_lib``: the kernel must import that one."""
    import course_lib

    return os.path.dirname(os.path.realpath(Path(course_lib.__file__).parent))


def python_command(bootstrap: str) -> list[str]:
    """Run ``bootstrap`` in isolated mode (``-I``): neither the working folder nor PYTHONPATH
    is on ``sys.path``, so a ``numpy.py`` or ``course_lib/`` in a submission shadows nothing.
    The grader's own ``course_lib`` is put first, explicitly."""
    return [sys.executable, "-I", "-c",
            f"import sys; sys.path.insert(0, {course_lib_parent()!r}); {bootstrap}"]


def _ancestors(path: str) -> list[str]:
    parts = Path(path).parts[1:-1]
    return ["/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _system_binds() -> list[str]:
    """/usr read-only, and the /lib, /bin ... links or folders exactly as the host has them."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    for name in ("/etc/ld.so.cache", "/etc/localtime"):
        if os.path.exists(name):
            args += ["--ro-bind", name, name]
    return args


def bwrap_command(program: Sequence[str], scratch: str, readonly: Sequence[str | tuple[str, str]],
                  writable_same_path: Sequence[str], env: dict[str, str],
                  drop_to_uid: int | None, scratch_bytes: int | None = None) -> list[str]:
    """A bubblewrap command line that runs ``program`` with only the given folders visible.

    With ``scratch_bytes``, ``work/`` and ``home/`` are RAM-backed folders of that size (the
    data files of ``scratch/work`` appear read-only at ``input/``); otherwise ``scratch`` itself
    is writable. ``scratch`` appears as :data:`SANDBOX_ROOT`; ``readonly`` (paths, or pairs of
    host path and the path the sandbox shows it at) and
    ``writable_same_path`` keep their host paths (the kernel's IPC sockets must have the same
    path on both sides). With ``drop_to_uid``, bubblewrap runs privileged and ``setpriv`` drops
    to that uid inside; without it, bubblewrap makes a user namespace itself.
    """
    args = ["bwrap", "--die-with-parent", "--unshare-pid", "--unshare-net", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox", "--clearenv"]
    if drop_to_uid is None:
        args += ["--unshare-user"]
    else:
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    args += _system_binds()
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(TMP_SIZE), "--tmpfs", "/tmp"]
    # bubblewrap creates missing parents as 0700 root folders; the dropped uid must traverse them.
    readonly = [(p, p) if isinstance(p, str) else tuple(p) for p in readonly]
    wanted = [shown for _, shown in readonly] + list(writable_same_path) + [SANDBOX_ROOT + "/x"]
    made: set[str] = set()
    for path in wanted:
        for parent in _ancestors(path):
            if parent not in made and parent not in ("/usr", "/tmp", "/proc", "/dev"):
                made.add(parent)
                args += ["--perms", "0755", "--dir", parent]
    for host, shown in readonly:
        args += ["--ro-bind", host, shown]
    for path in writable_same_path:
        args += ["--bind", path, path]
    args += ["--bind", scratch, SANDBOX_ROOT]
    if scratch_bytes:
        # The kernel writes only to RAM-backed folders of a fixed size, never to the host's disk:
        # the copied data files are shown read-only at input/ and copied into work/ at start.
        for folder in ("work", "home"):
            args += ["--perms", "0777", "--size", str(scratch_bytes),
                     "--tmpfs", f"{SANDBOX_ROOT}/{folder}"]
        args += ["--ro-bind", f"{scratch}/work", f"{SANDBOX_ROOT}/input"]
    args += ["--chdir", f"{SANDBOX_ROOT}/work"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    if drop_to_uid is not None:
        args += ["--", *setpriv_prefix(drop_to_uid)]
    else:
        args += ["--"]
    return args + list(program)


def setpriv_prefix(uid: int) -> list[str]:
    """Drop to ``uid`` (and gid), no supplementary groups, no capabilities, no new privileges."""
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
            "--inh-caps=-all", "--bounding-set=-all", "--"]


def kill_uid(uid: int) -> int:
    """SIGKILL every process of ``uid`` (the setpriv fallback's clean-up); return how many."""
    import signal

    killed = 0
    for _ in range(5):  # a fork loop may create new ones while we kill
        found = 0
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    if entry.stat().st_uid == uid:
                        os.kill(int(entry.name), signal.SIGKILL)
                        found += 1
                except (OSError, ProcessLookupError):
                    continue
        killed += found
        if not found:
            break
    return killed


def interpreter_is_world_readable() -> bool:
    """True when a uid with no rights can run this interpreter (the setpriv fallback needs it)."""
    for path in python_paths():
        for parent in [*_ancestors(path + "/x")]:
            mode = os.stat(parent).st_mode
            if not mode & 0o001:
                return False
    return True
