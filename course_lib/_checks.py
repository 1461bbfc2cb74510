"""Argument checks shared by the NumPy (conv, pool) and torch (gpu) sides.

Every public function validates its arguments with these helpers, so a student who passes
the wrong thing gets the same kind, specific message everywhere: which function, which
argument, what was expected, what was got. The helpers work on NumPy arrays and on torch
tensors alike (they only look at ``.ndim``, ``.shape`` and ``.dtype``).
"""
from __future__ import annotations

import numbers
from typing import Any, Sequence

import numpy as np

MODES = ("full", "valid", "same")


def _describe(x: Any) -> str:
    shape = getattr(x, "shape", None)
    if shape is not None:
        return f"{type(x).__name__} with shape {tuple(shape)} and dtype {getattr(x, 'dtype', '?')}"
    return f"{type(x).__name__} {x!r}"


def _is_numeric_dtype(dtype: Any) -> bool:
    """True for integer, float and complex dtypes of NumPy or torch; False for bool, str, object."""
    try:  # torch dtypes
        import torch

        if isinstance(dtype, torch.dtype):
            return dtype != torch.bool
    except ImportError:  # pragma: no cover - torch is a dependency, but conv needs only NumPy
        pass
    return np.issubdtype(dtype, np.number)


def check_array(x: Any, name: str, func: str, ndim: int | Sequence[int] | None = None,
                what: str = "array") -> None:
    """Check that ``x`` is a non-empty numeric array (or tensor) with the expected rank.

    ``ndim`` is an int or a tuple of allowed ranks; ``what`` describes the layout for the
    message (for example ``"(N, C, H, W) batch"``).
    """
    if not hasattr(x, "ndim") or not hasattr(x, "dtype"):
        raise TypeError(f"{func}: argument '{name}' must be an array, got {_describe(x)}.")
    if not _is_numeric_dtype(x.dtype):
        raise TypeError(f"{func}: argument '{name}' must hold numbers (int or float), "
                        f"got dtype {x.dtype}. Convert it first, e.g. with .astype(float).")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{func}: argument '{name}' must be a {want} {what}, "
                             f"got a {x.ndim}-D array with shape {tuple(x.shape)}.")
    if any(s == 0 for s in x.shape):
        raise ValueError(f"{func}: argument '{name}' must not be empty, "
                         f"got shape {tuple(x.shape)}.")


def to_numeric_array(x: Any, name: str, func: str, ndim: int | Sequence[int] | None = None,
                     what: str = "array") -> np.ndarray:
    """``np.asarray(x)`` followed by :func:`check_array`; lists and tuples are welcome."""
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{func}: argument '{name}' must be an array of numbers, got {_describe(x)}.")
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as err:  # ragged lists and the like
        raise TypeError(f"{func}: argument '{name}' could not be read as an array ({err}).") from None
    check_array(arr, name, func, ndim, what)
    return arr


def check_mode(mode: Any, func: str) -> str:
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"{func}: argument 'mode' must be one of {', '.join(map(repr, MODES))}, "
                         f"got {mode!r}.")
    return mode


def check_int(value: Any, name: str, func: str, minimum: int) -> int:
    """A plain int that is at least ``minimum`` (bools are refused: ``True`` is not a stride)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{func}: argument '{name}' must be an int, got {_describe(value)}.")
    value = int(value)
    if value < minimum:
        bound = "positive" if minimum == 1 else ("non-negative" if minimum == 0 else f">= {minimum}")
        raise ValueError(f"{func}: argument '{name}' must be {bound}, got {value}.")
    return value


def check_tuple(value: Any, name: str, func: str, n: int, minimum: int) -> tuple[int, ...]:
    """Accept an int or a length-``n`` sequence of ints (torch's convention); return a tuple."""
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ValueError(f"{func}: argument '{name}' must be an int or a sequence of {n} ints, "
                             f"got {value!r} (length {len(value)}).")
        return tuple(check_int(v, name, func, minimum) for v in value)
    return (check_int(value, name, func, minimum),) * n


def result_dtype(*arrays: np.ndarray) -> np.dtype:
    """The dtype NumPy's own convolution would return: ints stay exact, floats keep their width."""
    return np.result_type(*arrays)
