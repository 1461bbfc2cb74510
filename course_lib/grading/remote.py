"""The grader's end of the line: test cells run here, in the grader's own process.

Every grade cell's source is compiled and run by :func:`run_test_cell` in a fresh namespace,
with the grader's own, pristine NumPy, SciPy and torch. A name the test uses but does not
define itself is looked up in the student's kernel, once, at the start of the cell:

* data (numbers, strings, lists, dicts, arrays, tensors) arrives as a copy;
* a function or an object (a student's torch model) stays in the kernel and is represented
  here by a :class:`RemoteObject`: calling it sends the arguments, the kernel makes the call and
  sends the result back as data, or as another handle;
* a module the student imported is imported again here, from the grader's own installation.

So a test's verdict is reached here, from data only, and nothing the student's code does in its
own process (replacing ``np.isclose``, rewriting later cells, hooks, forged outputs) can change
how this process judges. The kernel sees the inputs of the calls it is asked to make and
nothing of the tests' source.
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import io
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from course_lib.grading import wire
from course_lib.grading.testing import GraderFault

# Modules a test may take over by name from the student's namespace (imported here afresh).
TRUSTED_MODULES = {"numpy", "math", "torch", "scipy", "random", "itertools", "functools",
                   "collections", "statistics", "fractions", "warnings", "time"}
TRUSTED_SUBMODULES = {"numpy.linalg", "numpy.random", "numpy.fft", "scipy.signal", "torch.nn",
                      "torch.nn.functional"}
MAX_CONTAINERS = 2_000_000  # JSON objects and arrays in one reply: more is a memory bomb
MAX_GRADER_OUTPUT = 20_000  # bytes a test cell itself may print into the graded notebook


class KernelGone(BaseException):
    """The student's kernel died or stopped answering: the submission fails, never a 0.

    A BaseException, so that a test cell's ``except Exception`` cannot swallow it."""


class RemoteError(Exception):
    """Student code raised ``ename`` in the kernel, with the message ``evalue``."""

    def __init__(self, ename: str, evalue: str):
        super().__init__(f"{ename}: {evalue}" if evalue else ename)
        self.ename, self.evalue = ename, evalue


class RemoteTimeout(Exception):
    """A call into the student's code ran past its deadline and was interrupted."""
    ename = "Timeout"

    @property
    def evalue(self) -> str:
        return str(self)


@dataclass
class KernelLine:
    """Requests to the kernel's :mod:`~course_lib.grading.bridge`, through ``send``.

    ``send(request, timeout)`` hands the JSON text of one request to the kernel's bridge
    (:func:`course_lib.grading.bridge.reply`) and returns the text of its reply (``None`` when
    none can come). The preprocessor supplies it, over the bridge's socket.
    """
    send: Callable[[str, float], str | None]
    timeout: float = 60.0
    printed: int = 0                  # characters student code printed during graded calls
    calls: int = 0
    _proxies: dict[int, Any] = field(default_factory=dict)

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        text = self.send(json.dumps(message), self.timeout)
        if text is None:
            raise RemoteError("NoAnswer", "your kernel did not answer the grader (did your code "
                              "replace IPython's display machinery or rewrite cells?)")
        if not isinstance(text, str):
            raise RemoteError("BadAnswer", "your kernel answered the grader with something else")
        if len(text) > wire.MAX_MESSAGE_BYTES or text.count("{") + text.count("[") > MAX_CONTAINERS:
            raise RemoteError("BadAnswer", "your kernel's answer to the grader was too large")
        try:
            reply = json.loads(text)
        except ValueError:  # not JSON: only a tampered bridge sends that
            reply = None
        if not isinstance(reply, dict) or reply.get("ok") not in (True, False):
            raise RemoteError("BadAnswer", "your kernel's answer to the grader was malformed")
        if reply["ok"] is False:
            ename, evalue = str(reply.get("ename", "Error"))[:100], str(reply.get("evalue", ""))[:500]
            if ename == "NotImplementedError":
                raise NotImplementedError(evalue)
            raise RemoteError(ename, evalue)
        self.printed += int(reply.get("printed", 0)) if type(reply.get("printed")) is int else 0
        return reply

    def value(self, data: Any) -> Any:
        # Never a torch module from the kernel: a reply of a few bytes could describe layers of
        # many gigabytes. Modules travel the other way only (a grader-built network as input).
        return wire.decode(data, self.proxy, modules=False)

    def proxy(self, handle: wire.Handle) -> Any:
        if handle.id not in self._proxies:
            self._proxies[handle.id] = RemoteObject(self, handle)
        return self._proxies[handle.id]

    def call(self, handle: wire.Handle, args: tuple, kwargs: dict) -> Any:
        reply = self.request({"op": "call", "target": handle.id,
                              "args": wire.encode(list(args), modules=True),
                              "kwargs": wire.encode(dict(kwargs), modules=True)})
        return self.value(reply["value"])

    def getattr(self, handle: wire.Handle, name: str) -> Any:
        return self.value(self.request({"op": "getattr", "target": handle.id, "name": name})["value"])


class RemoteObject:
    """A student's function or object, which stays in the kernel."""
    _remote_proxy = True

    def __init__(self, line: KernelLine, handle: wire.Handle):
        object.__setattr__(self, "_line", line)
        object.__setattr__(self, "_handle", handle)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._line.call(self._handle, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._line.getattr(self._handle, name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("the grader does not change objects in your kernel")

    def __repr__(self) -> str:
        return f"<{self._handle.type or 'object'} in your kernel>"


def free_names(tree: ast.AST) -> set[str]:
    """Names the cell reads but never binds anywhere, and that are not builtins."""
    loaded, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return loaded - bound - set(dir(builtins))


def student_namespace(line: KernelLine, names: set[str]) -> dict[str, Any]:
    """Bind each free name of a test to what the student's kernel holds under it."""
    if not names:
        return {}
    described = line.request({"op": "describe", "names": sorted(names)}).get("names")
    if not isinstance(described, dict):
        raise RemoteError("BadAnswer", "your kernel's answer to the grader was malformed")
    namespace: dict[str, Any] = {}
    for name in sorted(names):
        entry = described.get(name)
        kind = entry.get("kind") if isinstance(entry, dict) else None
        if kind == "module":
            module = str(entry.get("name", ""))
            # The exact name only: importing a submodule can run code (``numpy.f2py.__main__``
            # calls sys.exit), and the kernel chooses the name.
            if module in TRUSTED_MODULES or module in TRUSTED_SUBMODULES:
                namespace[name] = importlib.import_module(module)
        elif kind in ("data", "handle"):
            namespace[name] = line.value(entry["value"])
    return namespace


class _CappedText(io.StringIO):
    def write(self, text: str) -> int:
        room = MAX_GRADER_OUTPUT - self.tell()
        if room > 0:
            super().write(text[:room])
        return len(text)


@dataclass
class Verdict:
    """What running one test cell in the grader gave."""
    passed: bool
    ename: str = ""
    message: str = ""
    printed: str = ""


def run_test_cell(source: str, line: KernelLine, label: str = "test") -> Verdict:
    """Run a test cell's source here; it passes when it raises nothing.

    A :class:`~course_lib.grading.testing.GraderFault` (the grading machine's problem) and
    :class:`KernelGone` propagate: neither is the student's 0.
    """
    printed = _CappedText()
    try:
        tree = ast.parse(source, filename=f"<{label}>")
        namespace = {"__name__": "__grader__", "__builtins__": builtins,
                     **student_namespace(line, free_names(tree))}
        with contextlib.redirect_stdout(printed):
            exec(compile(tree, f"<{label}>", "exec"), namespace)  # noqa: S102  (the instructor's test)
    except (GraderFault, KernelGone):
        raise
    except AssertionError as err:
        return Verdict(False, "AssertionError", str(err), printed.getvalue())
    except NameError as err:
        return Verdict(False, "NameError", f"{err}: did you run the cell that defines it, and keep "
                       f"its name?", printed.getvalue())
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # noqa: BLE001  (SystemExit too: a failed test, said plainly)
        return Verdict(False, type(err).__name__, str(err), printed.getvalue())
    return Verdict(True, printed=printed.getvalue())
