"""The kernel's end of the line to the grader: it answers requests with data, never with code.

The grader (:mod:`course_lib.grading.remote`) runs every test cell in its own process. Before
the first request it executes :func:`install` once, which connects the kernel to a Unix socket
the grader listens on; from then on each request is one line of JSON on that socket, and the
reply is one line back. The kernel answers in its main thread, from its own event loop, while
no cell runs: requests skip IPython's cell machinery (input transformers, hooks, history) and
Jupyter's messages, which cost more than most answers and which student code can rewrite.
The kernel never sees a test's source, only the inputs of the calls it is asked to make. What
student code prints during a call is counted and dropped here: it never reaches the grader's
messages.

Requests (JSON objects, with values in :mod:`~course_lib.grading.wire` format):

* ``{"op": "describe", "names": [...]}``: for each name, ``missing``, ``module`` (its import
  name), ``data`` (a copy of the value) or ``handle`` (an object that stays here);
* ``{"op": "call", "target": H, "args": [...], "kwargs": {...}}``: call handle ``H``;
* ``{"op": "getattr", "target": H, "name": "..."}``: read an attribute of handle ``H``;
* ``{"op": "trace", ...}`` and ``{"op": "probe", ...}``: the questions of
  :mod:`~course_lib.grading.probes` about a network, asked of one that lives here.

Everything here runs in the student's process and could be replaced by student code. That is
fine: the grader trusts nothing that comes back beyond its type, so tampering can only change
the student's own answers, which the student could write anyway.
"""
from __future__ import annotations

import contextlib
import io
import json
import signal
import socket
import types
from typing import Any

from course_lib.grading import wire

MAX_PRINTED = 4096
_objects: dict[int, Any] = {}


class _Counter(io.TextIOBase):
    """A stdout that counts what student code prints and keeps none of it."""

    def __init__(self) -> None:
        self.count = 0

    def write(self, text: str) -> int:
        self.count += len(text)
        return len(text)


def _keep(obj: Any) -> int:
    """Keep ``obj`` here and return its handle id."""
    _objects[id(obj)] = obj
    return id(obj)


def _no_handles(obj: Any) -> int:
    raise wire.WireError("not data")


def _resolve(handle: wire.Handle) -> Any:
    try:
        return _objects[handle.id]
    except KeyError:
        raise wire.WireError(f"no object with handle {handle.id}") from None


def _namespace() -> dict[str, Any]:
    from IPython import get_ipython

    return get_ipython().user_ns


def _describe(name: str) -> dict[str, Any]:
    namespace = _namespace()
    if not isinstance(name, str) or name not in namespace:
        return {"kind": "missing"}
    value = namespace[name]
    if isinstance(value, types.ModuleType):
        return {"kind": "module", "name": value.__name__}
    try:
        return {"kind": "data", "value": wire.encode(value, _no_handles)}
    except wire.WireError:
        return {"kind": "handle", "value": wire.encode(value, _keep)}


def _call(target: Any, args: list, kwargs: dict) -> dict[str, Any]:
    printed = _Counter()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        result = target(*args, **kwargs)
    return {"value": wire.encode(result, _keep), "printed": printed.count}


def _answer(request: str) -> dict[str, Any]:
    message = json.loads(request)
    op = message.get("op")
    if op == "describe":
        return {"names": {name: _describe(name) for name in message["names"]}}
    target = _resolve(wire.Handle(int(message["target"]), "", True, False))
    if op == "call":
        args = wire.decode(message["args"], _resolve)
        kwargs = wire.decode(message["kwargs"], _resolve)
        return _call(target, list(args), dict(kwargs))
    if op == "getattr":
        return {"value": wire.encode(getattr(target, str(message["name"])), _keep)}
    if op in ("trace", "probe"):  # questions about a network, answered where it lives
        from course_lib.grading import probes

        args = list(wire.decode(message["args"], _resolve))
        if op == "trace":
            return {"value": wire.encode(probes.layer_trace(target, *args), _keep)}
        kwargs = dict(wire.decode(message["kwargs"], _resolve))
        printed = _Counter()
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            result, info = probes.probed_call(target, *args, layer=message.get("layer"), **kwargs)
        return {"value": wire.encode(result, _keep), "probe": wire.encode(info, _keep),
                "printed": printed.count}
    raise ValueError(f"unknown request {op!r}")


def reply(request: str) -> str:
    """The JSON text answering one request; a failure of student code is an answer too."""
    try:
        message = {"ok": True, **_answer(request)}
    except BaseException as err:  # noqa: BLE001  (a student's sys.exit or a grader's interrupt too)
        message = {"ok": False, "ename": type(err).__name__, "evalue": str(err)[:MAX_PRINTED]}
    return json.dumps(message, separators=(",", ":"))


def _serve(connection: socket.socket, loop) -> None:
    """Answer every complete request line waiting on ``connection``; called by the event loop."""
    buffer = bytearray()

    def readable() -> None:
        chunk = connection.recv(1 << 20)
        if not chunk:  # the grader closed the line: grading is over
            loop.remove_reader(connection.fileno())
            connection.close()
            return
        buffer.extend(chunk)
        while (end := buffer.find(b"\n")) >= 0:
            request = buffer[:end].decode("utf-8", errors="replace")
            del buffer[:end + 1]
            # The grader interrupts a call that runs past its deadline: let SIGINT raise here,
            # as ipykernel does while a cell runs, and nowhere else.
            previous = signal.signal(signal.SIGINT, signal.default_int_handler)
            try:
                text = reply(request)
            finally:
                signal.signal(signal.SIGINT, previous)
            connection.sendall(text.encode() + b"\n")

    loop.add_reader(connection.fileno(), readable)


def install(path: str) -> None:
    """Connect to the grader's socket at ``path`` and answer its requests from now on.

    Run once, as a cell of the grader's own, in the kernel: the answers come from the kernel's
    event loop, between cells, in its main thread (so an interrupt reaches a running call).
    """
    import asyncio

    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(path)
    _serve(connection, asyncio.get_running_loop())
