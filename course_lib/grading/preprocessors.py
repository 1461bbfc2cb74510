"""nbgrader preprocessors of the course: the sandboxed Execute, and small grading fixes.

``SandboxedExecute``
    nbgrader's ``Execute``, but the kernel is the sandbox wrapper
    (:mod:`course_lib.grading.kernel`), talks over Unix sockets (the sandbox has no network),
    gets the assignment's limits, and leaves a verdict: which cells hit a limit, or why the
    kernel died or hung. The verdict goes to the JSON-lines file named by
    ``$COURSE_GRADING_VERDICT`` (the parallel driver sets it) and to the log.

    Only the student's cells run in the kernel. Every test cell runs in this process
    (:func:`course_lib.grading.remote.run_test_cell`), which asks the kernel for data and calls
    through the bridge (:mod:`course_lib.grading.bridge`), one line of JSON each way on a Unix
    socket: its outputs are written here, from the grader's own verdict, so no student code can
    forge them.

``StderrIsNotFailure``
    nbgrader scores a test cell 0 as soon as anything reaches stderr, so a library warning
    would zero a correct answer. This relabels stderr in test cells as stdout; only an error
    (a failed assert) fails a test. The text stays visible in the feedback.

``DropEmptyNbgraderMetadata``
    Works around an nbgrader 0.9.6 crash on a duplicated cell (see the class).

``HideHiddenTestTracebacks``
    In feedback, a failing hidden test would show its own source lines in the traceback. This
    keeps only the last line (the error and its message) in cells that hold hidden tests.
"""
from __future__ import annotations

import json
import os
import queue
import select
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution
from traitlets import Dict, Int, Unicode

from course_lib.grading import wire
from course_lib.grading.limits import SandboxLimits
from course_lib.grading.sandbox import python_command
from course_lib.grading.remote import KernelGone, KernelLine, RemoteError, RemoteTimeout, run_test_cell
from course_lib.grading.testing import GraderFault

KERNEL_NAME = "course-sandbox"


def write_kernelspec(folder: Path) -> Path:
    """Write the ``course-sandbox`` kernelspec into ``folder/kernels/`` and return its folder."""
    spec_dir = folder / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    # Not `python -m`: that would put the submission's folder first on sys.path, and a shipped
    # course_lib/grading/kernel.py would run here, as the grader, before any sandbox exists.
    boot = python_command("from course_lib.grading.kernel import main; sys.exit(main())")
    spec = {"argv": [*boot, "-f", "{connection_file}"],
            "display_name": "Python 3 (course sandbox)", "language": "python",
            "interrupt_mode": "signal", "metadata": {"debugger": False}}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return spec_dir


def _append_verdict(event: dict[str, Any]) -> None:
    path = os.environ.get("COURSE_GRADING_VERDICT")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(event) + "\n")


def _last_exit(status_file: Path, wait: float = 3.0) -> str | None:
    """The wrapper's reason for the kernel's end; it may need a moment to write it."""
    deadline = time.monotonic() + wait
    while True:
        if status_file.exists():
            for line in reversed(status_file.read_text().splitlines()):
                event = json.loads(line)
                if event.get("event") in ("exit", "refused"):
                    return event["reason"]
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)


def _died(status_file: Path, wait: float = 3.0) -> str | None:
    """How the kernel died, if it did; not a normal end (the grader's own stop included)."""
    reason = _last_exit(status_file, wait)
    return reason if reason and "normally" not in reason else None


class SandboxedExecute(Execute):
    """Execute each notebook in the sandboxed kernel with the assignment's limits."""

    backend = Unicode("auto", help="'auto' (bubblewrap when installed, else setpriv), "
                      "'bwrap' or 'setpriv'.").tag(config=True)
    uid_base = Int(61000, help="When grading as root, kernels run as uid_base + slot, a uid "
                   "that owns nothing.").tag(config=True)
    default_limits = Dict({}, help="Overrides of course_lib.grading.limits.SandboxLimits for "
                          "every assignment.").tag(config=True)
    assignment_limits = Dict({}, help="Per assignment: {assignment_id: {limit: value}}, on top "
                             "of default_limits.").tag(config=True)

    def limits_for(self, assignment: str | None) -> SandboxLimits:
        base = SandboxLimits().merged(self.default_limits)
        return base.merged(self.assignment_limits.get(assignment or "", {}))

    def create_kernel_manager(self):
        from jupyter_client.kernelspec import KernelSpecManager

        write_kernelspec(self._tmp)
        ksm = KernelSpecManager(kernel_dirs=[str(self._tmp / "kernels")])
        self.km = self.kernel_manager_class(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm,
                                            config=self.config)
        self.km.transport = "ipc"
        self.km.ip = str(self._sockets / "kernel")
        return self.km

    async def async_start_new_kernel(self, **kwargs: Any) -> None:
        settings = {"limits": self._limits.as_dict(), "backend": self.backend,
                    "uid_base": self.uid_base, "slot": int(os.environ.get("COURSE_GRADING_SLOT", 0)),
                    "status_file": str(self._status), "scratch_root": str(self._tmp)}
        kwargs["env"] = {**os.environ, "COURSE_SANDBOX": json.dumps(settings)}
        await super().async_start_new_kernel(**kwargs)

    # nbclient binds the synchronous version to its own coroutine; rebind it to ours.
    start_new_kernel = run_sync(async_start_new_kernel)

    async def _async_cleanup_kernel(self) -> None:
        """Stop the kernel at once: the grader has every output it needs, and student code gets
        no say in how its kernel ends. SIGTERM asks the wrapper to kill the sandbox, clean up
        and exit; a polite shutdown request cost about a third of a second per submission,
        mostly waiting. nbclient's own clean-up (sockets, connection file) then runs as usual."""
        self._stop_wrapper(wait=10)
        await super()._async_cleanup_kernel()

    _cleanup_kernel = run_sync(_async_cleanup_kernel)

    def _stop_wrapper(self, wait: float) -> None:
        """SIGTERM to the kernel's wrapper (which kills the sandbox), then up to ``wait`` s for it."""
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=wait)
            except Exception:  # subprocess.TimeoutExpired: nbclient's shutdown kills it
                pass

    async def _async_handle_timeout(self, timeout: int, cell=None):
        self._timed_out.append(self._cell_label(cell))
        return await super()._async_handle_timeout(timeout, cell)

    @staticmethod
    def _cell_label(cell) -> str:
        if cell is None:
            return "?"
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        return grade_id or f"cell {cell.get('id', '?')}"

    def preprocess(self, nb, resources=None, km=None):
        info = (resources or {}).get("nbgrader", {})
        notebook, student = info.get("notebook"), info.get("student")
        assignment = info.get("assignment") or ""
        if not hasattr(self, "_configured_timeout"):
            self._configured_timeout = self.timeout  # Execute.timeout from nbgrader_config.py
        explicit = {**self.default_limits, **self.assignment_limits.get(assignment, {})}
        self._cell_timeout = explicit.get("cell_timeout", self._configured_timeout)
        self.timeout = self._cell_timeout
        self._limits = self.limits_for(assignment).merged({"cell_timeout": self._cell_timeout})
        if not any(a.startswith("--HistoryManager.hist_file") for a in self.extra_arguments):
            self.extra_arguments = [*self.extra_arguments, "--HistoryManager.hist_file=:memory:"]
        # Private, root-only folders; the wrapper hands the socket folder to the sandbox uid.
        self._tmp = Path(tempfile.mkdtemp(prefix="course-grading-"))
        self._tmp.chmod(0o711)  # traversable, not listable: the setpriv fallback needs it
        self._sockets = Path(tempfile.mkdtemp(prefix="course-kernel-"))
        self._status = self._tmp / "kernel-status.jsonl"
        self._timed_out: list[str] = []
        self._faults: list[str] = []
        self._line = KernelLine(self._ask_kernel, timeout=self._cell_timeout)
        self._listener = self._listen(self._sockets / "grader.sock")
        self._bridge: socket.socket | None = None  # connected at the first request
        self._bridge_broken = False
        self._unread = bytearray()
        verdict = {"notebook": notebook, "student": student, "failure": None}
        try:
            nb, resources = super().preprocess(nb, resources, km)
            if self._faults:
                verdict["failure"] = "the grading machine: " + "; ".join(self._faults)
        except KernelGone as gone:
            verdict["failure"] = _died(self._status) or str(gone)
            raise DeadKernelError(verdict["failure"]) from None
        except DeadKernelError:
            verdict["failure"] = _died(self._status) or "the kernel died"
            raise
        except CellTimeoutError:
            where = self._timed_out[-1] if self._timed_out else "a cell"
            verdict["failure"] = (f"the kernel hung: {where} ran past {self.timeout} s and "
                                  f"did not respond to the interrupt")
            raise
        except KeyboardInterrupt:  # Ctrl-C: never leave the kernel (in a session of its own) behind
            self._stop_wrapper(wait=0)
            raise
        except Exception as err:
            verdict["failure"] = _died(self._status, wait=0.5) or f"{type(err).__name__}: {err}"
            raise
        else:
            verdict["limits_hit"] = self._limits_hit(nb)
            verdict["student_printed"] = self._line.printed
        finally:
            for end in (self._bridge, self._listener):
                if end is not None:
                    end.close()
            _append_verdict(verdict)
            if verdict["failure"]:
                self.log.error("Sandboxed kernel failed: %s", verdict["failure"])
            shutil.rmtree(self._tmp, ignore_errors=True)
            shutil.rmtree(self._sockets, ignore_errors=True)
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        # Execute.preprocess re-runs NotebookClient.__init__, which puts back the configured
        # Execute.timeout; the assignment's own cell timeout must win, so set it per cell.
        self.timeout = self._cell_timeout
        if cell.cell_type == "code" and is_grade(cell) and not is_solution(cell):
            return self._judge(cell), resources
        return super().preprocess_cell(cell, resources, index)

    # ------------------------------------------------------------------ test cells, judged here

    def _judge(self, cell):
        """Run a test cell in this process; its outputs are the grader's verdict, nothing else."""
        label = self._cell_label(cell)
        try:
            verdict = run_test_cell(cell.source, self._line, label)
        except GraderFault as fault:
            self._faults.append(f"{label}: {fault}")
            verdict = None
        cell.outputs = []
        cell.execution_count = None
        if verdict is not None and verdict.printed:
            cell.outputs.append(new_output("stream", name="stdout", text=verdict.printed))
        if verdict is None:
            cell.outputs.append(new_output("error", ename="GraderFault", evalue="not graded: "
                                           "the grading machine has a problem (see the status)",
                                           traceback=["GraderFault: not graded"]))
        elif not verdict.passed:
            message = verdict.message[:4000]
            cell.outputs.append(new_output("error", ename=verdict.ename, evalue=message,
                                           traceback=[f"{verdict.ename}: {message}"]))
        return cell

    @staticmethod
    def _listen(path: Path) -> socket.socket:
        """The socket the kernel's bridge connects to, in the folder of the kernel's own sockets
        (the sandbox sees it at the same path; the kernel's uid may connect)."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        path.chmod(0o777)
        listener.listen(1)
        return listener

    def _connect_bridge(self, timeout: float) -> socket.socket | None:
        """Run :func:`~course_lib.grading.bridge.install` in the kernel and take its connection."""
        path = str(self._sockets / "grader.sock")
        run_sync(self._async_wait_for)(self.kc.execute(
            f"__import__('course_lib.grading.bridge', fromlist=['install']).install({path!r})",
            silent=True, store_history=False, allow_stdin=False, stop_on_error=False),
            timeout)
        self._listener.settimeout(5)  # install connects before its cell ends: never a long wait
        try:
            connection, _ = self._listener.accept()
        except OSError:
            return None
        finally:
            self._listener.close()
            self._listener = None
        connection.setblocking(True)
        return connection

    def _ask_kernel(self, request: str, timeout: float) -> str | None:
        """Send one request line to the bridge; return its reply line (None when none can come).

        Past ``timeout`` the kernel is interrupted; if it stays silent 10 s more, it is hung.
        """
        if self._bridge is None and not self._bridge_broken:
            self._bridge = self._connect_bridge(timeout)
            self._bridge_broken = self._bridge is None
        if self._bridge_broken:
            return None
        connection = self._bridge
        try:
            connection.settimeout(timeout)
            connection.sendall(request.encode() + b"\n")
        except OSError:  # the bridge stopped reading or closed: no more answers from it
            return self._lost_bridge()
        deadline, interrupted = time.monotonic() + timeout, False
        while (end := self._unread.find(b"\n")) < 0:
            if len(self._unread) > wire.MAX_MESSAGE_BYTES:
                self._bridge_broken = True
                raise RemoteError("BadAnswer", f"your kernel's answer to the grader was larger "
                                  f"than {wire.MAX_MESSAGE_BYTES >> 20} MB")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if interrupted:  # it ignored the interrupt too: the kernel is hung
                    raise KernelGone(f"the kernel hung: a graded call ran past {timeout:g} s "
                                     f"and did not respond to the interrupt")
                run_sync(ensure_async)(self.km.interrupt_kernel())
                deadline, interrupted = time.monotonic() + 10, True
                continue
            if not select.select([connection], [], [], min(remaining, 1.0))[0]:
                if not run_sync(ensure_async)(self.km.is_alive()):
                    raise KernelGone("the kernel died during a graded call")
                continue
            try:
                chunk = connection.recv(1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                return self._lost_bridge()
            self._unread.extend(chunk)
        text = self._unread[:end].decode("utf-8", errors="replace")
        del self._unread[:end + 1]
        if interrupted:
            raise RemoteTimeout(f"your code ran longer than {timeout:g} s and was stopped")
        return text

    def _lost_bridge(self) -> None:
        """The line closed: the kernel died (the submission fails) or student code closed it."""
        self._bridge_broken = True
        if not run_sync(ensure_async)(self.km.is_alive()):
            raise KernelGone("the kernel died during a graded call")
        return None

    async def _async_wait_for(self, msg_id: str, timeout: float) -> None:
        """Read iopub until the kernel is idle after ``msg_id`` (and take its shell reply).

        Past ``timeout`` the kernel is interrupted; if it stays busy 10 s more, it is hung.
        """
        deadline, interrupted = time.monotonic() + timeout, False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if interrupted:  # it ignored the interrupt too: the kernel is hung
                    raise KernelGone(f"the kernel hung: the grader's own cell ran past "
                                     f"{timeout:g} s and did not respond to the interrupt")
                await ensure_async(self.km.interrupt_kernel())
                deadline, interrupted = time.monotonic() + 10, True
                continue
            try:
                msg = await self.kc.get_iopub_msg(timeout=min(remaining, 1.0))
            except queue.Empty:
                if not await ensure_async(self.km.is_alive()):
                    raise KernelGone("the kernel died during a graded call") from None
                continue
            if (msg.get("parent_header", {}).get("msg_id") == msg_id and msg["msg_type"] == "status"
                    and msg.get("content", {}).get("execution_state") == "idle"):
                break
        while True:  # the execute's shell reply, so that it cannot pass for the next cell's
            try:
                msg = await self.kc.get_shell_msg(timeout=5)
            except queue.Empty:
                break
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                break

    def _limits_hit(self, nb) -> list[str]:
        """Cells stopped by the time limit or by the memory limit (the kernel survived)."""
        hits = [f"{label}: interrupted after {self.timeout} s" for label in self._timed_out]
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error" and out.get("ename") == "MemoryError":
                    hits.append(f"{self._cell_label(cell)}: MemoryError (limit "
                                f"{self._limits.memory_mb} MB)")
                    break
        return hits


class DropEmptyNbgraderMetadata(NbGraderPreprocessor):
    """Remove the empty ``nbgrader`` metadata that DeduplicateIds leaves on a duplicated cell.

    nbgrader 0.9.6's OverwriteCells reads ``grade_id`` from every cell that has the key, so a
    student who duplicated a cell would otherwise crash the whole autograde (KeyError).
    """

    def preprocess_cell(self, cell, resources, index):
        if "nbgrader" in cell.metadata and not cell.metadata["nbgrader"]:
            del cell.metadata["nbgrader"]
        return cell, resources


class StderrIsNotFailure(NbGraderPreprocessor):
    """Relabel stderr in test cells as stdout, so only a raised error fails a test."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and is_grade(cell) and not is_solution(cell):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream" and out.get("name") == "stderr":
                    out["name"] = "stdout"
        return cell, resources


class HideHiddenTestTracebacks(NbGraderPreprocessor):
    """Keep only the final error line in cells whose source holds hidden tests."""

    marker = Unicode("BEGIN HIDDEN TESTS").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and self.marker in cell.source:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename')}: {out.get('evalue')}"]
        return cell, resources
