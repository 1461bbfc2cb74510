"""Helpers for the test cells of the assignments: one test source, two places it runs.

In the released notebook, a test cell runs in the student's own kernel and gives immediate
feedback. When grading, the same source runs in the grader's process
(:mod:`course_lib.grading.remote`), where the student's functions are proxies to the kernel. So
these helpers never assume more than that: a function is something to call, and what it returns
is data.

A test cell computes its reference itself, from NumPy/SciPy or plain loops written in the cell,
never through a function the student was asked to write. It calls the student's code through
:func:`call`, which silences warnings and stderr (a harmless library warning must not zero a
correct answer) and turns a crash into a specific message, then compares with :func:`check_array`.
A failure is a :class:`TestFailure`, which shows as its message alone, without a traceback into
this module; a passing test says so with :func:`passed`.

    >>> import numpy as np
    >>> check_array(np.array([1.0, 2.0]), np.array([1.0, 2.0]), "my_function(x)")
    >>> check_array(np.array([1.0, 2.5]), np.array([1.0, 2.0]), "my_function(x)")
    Traceback (most recent call last):
    ...
    course_lib.grading.testing.TestFailure: my_function(x): wrong value at index (1,): expected 2, got 2.5 (1 of 2 entries differ).
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from typing import Any, Callable, Iterator

import numpy as np


class TestFailure(AssertionError):
    """A failed check, with a message meant for the student. IPython shows only the message."""
    __test__ = False  # not a pytest test class

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31mTest failed:\x1b[0m {self}"]


class GraderFault(Exception):
    """The grading machine has a problem (a data set is missing, say): never the student's 0.

    The grader ends the submission as ``failed`` with this message as the reason."""


def passed(what: str) -> None:
    """Say in one line that the visible tests of ``what`` passed."""
    print(f"\u2714 {what}: the visible tests pass. The grader also runs hidden tests.")


def _remote(obj: Any):
    """The (line, handle) of a grader-side proxy of a kernel object, else None."""
    if getattr(type(obj), "_remote_proxy", False):
        return object.__getattribute__(obj, "_line"), object.__getattribute__(obj, "_handle")
    return None


def _ask(obj: Any, message: dict[str, Any], what: str) -> dict[str, Any]:
    from course_lib.grading import wire

    line, handle = _remote(obj)
    message = {**message, "target": handle.id}
    for key in ("args", "kwargs"):
        if key in message:
            message[key] = wire.encode(message[key], modules=True)
    return call(line.request, message, what=what)


def layer_trace(model: Any, x: Any, what: str = "your network") -> list[tuple]:
    """(type, output shape, groups or p) of each conv, pool, linear and dropout layer called
    when ``model`` runs on ``x``, in eval mode: see :mod:`course_lib.grading.probes`."""
    from course_lib.grading import probes

    if _remote(model):
        reply = _ask(model, {"op": "trace", "args": [x]}, what)
        return [tuple(row) for row in object.__getattribute__(model, "_line").value(reply["value"])]
    return call(probes.layer_trace, model, x, what=what)


def call_probed(func: Callable[..., Any], model: Any, *args: Any, layer: int | None = None,
                what: str | None = None, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
    """``call(func, model, ...)``, plus what happened to ``model`` (see probes.probed_call)."""
    from course_lib.grading import probes

    label = what or f"{getattr(func, '__name__', 'your function')}(...)"
    if _remote(func):
        reply = _ask(func, {"op": "probe", "args": [model, *args], "kwargs": kwargs,
                            "layer": layer}, label)
        line = object.__getattribute__(func, "_line")
        return line.value(reply["value"]), line.value(reply["probe"])
    return call(probes.probed_call, func, model, *args, layer=layer, what=label, **kwargs)


def is_module(obj: Any) -> bool:
    """True for a torch ``nn.Module``, here or (when grading) in the student's kernel."""
    handle = getattr(type(obj), "_remote_proxy", False) and object.__getattribute__(obj, "_handle")
    if handle:
        return handle.is_module
    try:
        from torch import nn
    except ImportError:
        return False
    return isinstance(obj, nn.Module)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Ignore warnings and discard stderr, from Python and from C libraries (fd 2)."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        saved = None
        try:
            sys.__stderr__.flush()
            saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        except (OSError, AttributeError, ValueError):
            saved = None  # no real fd 2 (some test runners): Python-level silence is enough
        try:
            yield
        finally:
            if saved is not None:
                os.dup2(saved, 2)
                os.close(saved)


def call(func: Callable[..., Any], *args: Any, what: str | None = None, **kwargs: Any) -> Any:
    """Run student code quietly; explain NotImplementedError and crashes in one line."""
    label = what or f"{getattr(func, '__name__', 'your function')}(...)"
    if not callable(func):
        raise TestFailure(f"{label}: expected a function, got {type(func).__name__}. "
                          f"Did you run the cell that defines it?")
    try:
        with quiet():
            return func(*args, **kwargs)
    except NotImplementedError:
        raise TestFailure(f"{label}: not implemented yet (it still raises "
                          f"NotImplementedError).") from None
    except Exception as err:  # a student's crash becomes a readable test failure
        # when grading, the error happened in the kernel: RemoteError carries its name
        name, text = getattr(err, "ename", type(err).__name__), getattr(err, "evalue", err)
        raise TestFailure(f"{label} raised {name}: {text}") from None


def _fmt(value: Any) -> str:
    return np.array2string(np.asarray(value), precision=6, threshold=20) \
        if np.ndim(value) else f"{float(value):.6g}"


def check_array(got: Any, expected: Any, what: str, rtol: float = 1e-6,
                atol: float = 1e-8) -> None:
    """Assert that ``got`` matches ``expected`` (shape, finiteness, values), saying where not."""
    if got is None:
        raise TestFailure(f"{what}: returned None. Did you forget `return`?")
    try:
        got_arr = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        raise TestFailure(f"{what}: expected an array of numbers, got "
                             f"{type(got).__name__}.") from None
    exp = np.asarray(expected, dtype=float)
    if got_arr.shape != exp.shape:
        raise TestFailure(f"{what}: expected shape {exp.shape}, got {got_arr.shape}. "
                             f"Check the output-size formula for this mode/stride/padding.")
    if not np.all(np.isfinite(got_arr)):
        raise TestFailure(f"{what}: the result holds NaN or inf.")
    bad = ~np.isclose(got_arr, exp, rtol=rtol, atol=atol)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise TestFailure(f"{what}: wrong value at index {where}: expected "
                             f"{_fmt(exp[where])}, got {_fmt(got_arr[where])} "
                             f"({int(bad.sum())} of {bad.size} entries differ).")


def check_choice(answers: Any, key: str, allowed: Any) -> str:
    """Return ``answers[key]`` normalised, after checking it is one of ``allowed``."""
    if not isinstance(answers, dict):
        raise TestFailure(f"expected a dict of answers, got {type(answers).__name__}.")
    if key not in answers:
        raise TestFailure(f"no answer for {key!r} yet.")
    value = str(answers[key]).strip().lower()
    if value not in allowed:
        raise TestFailure(f"answer for {key!r} is {answers[key]!r}; choose one of "
                             f"{sorted(allowed)}.")
    return value
