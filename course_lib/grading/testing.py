"""Helpers for the test cells of the assignments.

A test cell computes its reference itself, from NumPy/SciPy or plain loops written in the cell,
never through a function the student was asked to write. It calls the student's code through
:func:`call`, which silences warnings and stderr (a harmless library warning must not zero a
correct answer) and turns a crash into a specific message, then compares with :func:`check_array`.

    >>> import numpy as np
    >>> check_array(np.array([1.0, 2.0]), np.array([1.0, 2.0]), "my_function(x)")
    >>> check_array(np.array([1.0, 2.5]), np.array([1.0, 2.0]), "my_function(x)")
    Traceback (most recent call last):
    ...
    AssertionError: my_function(x): wrong value at index (1,): expected 2, got 2.5 (1 of 2 entries differ).
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from typing import Any, Callable, Iterator

import numpy as np


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
        raise AssertionError(f"{label}: expected a function, got {type(func).__name__}. "
                             f"Did you run the cell that defines it?")
    try:
        with quiet():
            return func(*args, **kwargs)
    except NotImplementedError:
        raise AssertionError(f"{label}: not implemented yet (it still raises "
                             f"NotImplementedError).") from None
    except Exception as err:  # a student's crash becomes a readable test failure
        raise AssertionError(f"{label} raised {type(err).__name__}: {err}") from None


def _fmt(value: Any) -> str:
    return np.array2string(np.asarray(value), precision=6, threshold=20) \
        if np.ndim(value) else f"{float(value):.6g}"


def check_array(got: Any, expected: Any, what: str, rtol: float = 1e-6,
                atol: float = 1e-8) -> None:
    """Assert that ``got`` matches ``expected`` (shape, finiteness, values), saying where not."""
    if got is None:
        raise AssertionError(f"{what}: returned None. Did you forget `return`?")
    try:
        got_arr = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        raise AssertionError(f"{what}: expected an array of numbers, got "
                             f"{type(got).__name__}.") from None
    exp = np.asarray(expected, dtype=float)
    if got_arr.shape != exp.shape:
        raise AssertionError(f"{what}: expected shape {exp.shape}, got {got_arr.shape}. "
                             f"Check the output-size formula for this mode/stride/padding.")
    if not np.all(np.isfinite(got_arr)):
        raise AssertionError(f"{what}: the result holds NaN or inf.")
    bad = ~np.isclose(got_arr, exp, rtol=rtol, atol=atol)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(f"{what}: wrong value at index {where}: expected "
                             f"{_fmt(exp[where])}, got {_fmt(got_arr[where])} "
                             f"({int(bad.sum())} of {bad.size} entries differ).")


def check_choice(answers: Any, key: str, allowed: Any) -> str:
    """Return ``answers[key]`` normalised, after checking it is one of ``allowed``."""
    if not isinstance(answers, dict):
        raise AssertionError(f"expected a dict of answers, got {type(answers).__name__}.")
    if key not in answers:
        raise AssertionError(f"no answer for {key!r} yet.")
    value = str(answers[key]).strip().lower()
    if value not in allowed:
        raise AssertionError(f"answer for {key!r} is {answers[key]!r}; choose one of "
                             f"{sorted(allowed)}.")
    return value
