"""What a sandboxed kernel may use: memory, CPU time, processes, file sizes, wall-clock time.

The defaults fit the NumPy assignments (ps1, ps2). Later assignments that train networks raise
them per assignment in ``nbgrader_config.py``::

    c.SandboxedExecute.assignment_limits = {
        "ps4_lenet": {"memory_mb": 6000, "cpu_seconds": 3600, "cell_timeout": 900,
                      "readonly_paths": ["$COURSE_DATA_DIR"], "env": ["COURSE_DATA_DIR"]},
    }

The limits travel to the kernel wrapper (:mod:`course_lib.grading.kernel`) as JSON in the
environment variable ``COURSE_SANDBOX``; the wrapper applies them with ``setrlimit`` (what
``prlimit`` does) before it starts the sandbox.
"""
from __future__ import annotations

import dataclasses
import os
import resource
from dataclasses import dataclass
from typing import Any, Mapping

MiB = 1 << 20


@dataclass(frozen=True)
class SandboxLimits:
    """Resource caps for one kernel, and what it may see besides its scratch folder."""

    memory_mb: int = 3072          # address space (RLIMIT_AS); torch alone maps about 1.5 GB
    cpu_seconds: int = 600         # CPU time of the kernel (RLIMIT_CPU), summed over its threads
    max_processes: int = 64        # processes and threads of the sandbox user (RLIMIT_NPROC)
    file_size_mb: int = 256        # largest file it may write (RLIMIT_FSIZE)
    open_files: int = 256          # file descriptors (RLIMIT_NOFILE)
    cell_timeout: int = 60         # seconds per cell before nbclient interrupts it
    wall_seconds: int = 900        # whole kernel lifetime; the wrapper kills it after that
    scratch_mb: int = 512          # RAM-backed work/ and home/ folders, each (bubblewrap only)
    readonly_paths: tuple[str, ...] = ()   # extra folders to show read-only (e.g. a data set)
    env: tuple[str, ...] = ()      # names of environment variables passed into the sandbox
    required_env: tuple[str, ...] = ()  # of those, the ones grading cannot do without (data)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> "SandboxLimits":
        """Build limits from a dict, refusing unknown keys (a typo must not relax a limit)."""
        values = dict(values or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"SandboxLimits: unknown limit(s) {unknown}; expected some of "
                             f"{sorted(names)}.")
        for key in ("readonly_paths", "env", "required_env"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)

    def merged(self, overrides: Mapping[str, Any] | None) -> "SandboxLimits":
        """These limits with some fields replaced (per-assignment settings)."""
        base = dataclasses.asdict(self)
        base.update(dict(overrides or {}))
        return SandboxLimits.from_mapping(base)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def expanded_readonly_paths(self) -> list[tuple[str, str]]:
        """``readonly_paths`` with ``$VARS`` and ``~`` expanded, as (real path, shown path).

        A path reached through a symbolic link is shown at both its own and its real path, so
        ``$COURSE_DATA_DIR`` works inside the sandbox whichever of the two the kernel uses.
        Unset variables and missing folders are dropped (the preflight reports them).
        """
        pairs = []
        for raw in self.readonly_paths:
            path = os.path.expanduser(os.path.expandvars(raw))
            if "$" not in path and os.path.exists(path):
                real, shown = os.path.realpath(path), os.path.abspath(path)
                pairs += [(real, real)] + ([(real, shown)] if shown != real else [])
        return pairs


def count_user_tasks(uid: int) -> int:
    """Number of processes and threads that ``uid`` runs now (RLIMIT_NPROC counts threads)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid == uid:
                total += len(os.listdir(f"/proc/{entry.name}/task"))
        except OSError:
            continue  # it exited while we looked
    return total


def apply_rlimits(limits: SandboxLimits, nproc_base: int = 0) -> None:
    """Apply the limits to this process (inherited by everything it execs or forks).

    ``nproc_base`` is added to ``max_processes``: RLIMIT_NPROC counts every task of the real
    user, so when the sandbox cannot switch to its own uid (an instructor who is not root) the
    cap must leave room for what that user already runs.
    """
    def cap(which: int, value: int) -> None:
        resource.setrlimit(which, (value, value))

    cap(resource.RLIMIT_AS, limits.memory_mb * MiB)
    # The soft limit sends SIGXCPU (reported as "CPU time limit"); the hard one kills for sure.
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
    cap(resource.RLIMIT_NPROC, nproc_base + limits.max_processes)
    cap(resource.RLIMIT_FSIZE, limits.file_size_mb * MiB)
    cap(resource.RLIMIT_NOFILE, limits.open_files)
    cap(resource.RLIMIT_CORE, 0)


DEFAULT_LIMITS = SandboxLimits()
__all__ = ["SandboxLimits", "DEFAULT_LIMITS", "apply_rlimits", "count_user_tasks"]
