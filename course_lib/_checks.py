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


def check_shape(x: Any, expected: Sequence[int], name: str, func: str, why: str = "") -> None:
    """Check that ``x`` has exactly the shape ``expected``; ``why`` says where that shape comes from."""
    if tuple(x.shape) != tuple(expected):
        because = f" ({why})" if why else ""
        raise ValueError(f"{func}: argument '{name}' must have shape {tuple(expected)}{because}, "
                         f"got shape {tuple(x.shape)}.")


def check_positive_number(value: Any, name: str, func: str) -> float:
    """A real number greater than zero (``float('inf')`` allowed; bools and NaN refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{func}: argument '{name}' must be a number, got {_describe(value)}.")
    value = float(value)
    if not value > 0:  # also catches NaN
        raise ValueError(f"{func}: argument '{name}' must be positive, got {value}.")
    return value


def check_pool_padding(padding: Sequence[int], kernel_size: Sequence[int], func: str) -> None:
    """torch's pooling rule: padding at most half the kernel, so no window lies wholly in the padding."""
    for p, k in zip(padding, kernel_size):
        if 2 * p > k:
            raise ValueError(f"{func}: argument 'padding' must be at most half of 'kernel_size' "
                             f"(a window must never lie wholly in the padding), got "
                             f"padding={tuple(padding)} with kernel_size={tuple(kernel_size)}.")


def check_kernel_fits(size: Sequence[int], kernel_size: Sequence[int], padding: Sequence[int],
                      func: str, name: str = "x", dilation: Sequence[int] | None = None) -> None:
    """The (dilated) kernel must fit inside the padded input at least once: ``n + 2p >= d(k-1)+1``."""
    dilation = tuple(dilation) if dilation is not None else (1,) * len(kernel_size)
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel_size, dilation))
    padded = tuple(n + 2 * p for n, p in zip(size, padding))
    if any(s > n for s, n in zip(span, padded)):
        raise ValueError(f"{func}: the kernel (spatial extent {span}) is larger than the padded input "
                         f"{padded} of argument '{name}' (spatial size {tuple(size)} with padding "
                         f"{tuple(padding)}). Use a smaller kernel_size or more padding.")


def check_bool(value: Any, name: str, func: str) -> bool:
    """``value`` itself if it is True or False; strings such as ``'no'`` are refused, not read as True."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{func}: argument '{name}' must be True or False, got {_describe(value)}.")
    return bool(value)


def check_choice(value: Any, choices: Sequence[str], name: str, func: str) -> str:
    """A string from a fixed set, e.g. ``padding`` in ``("valid", "same")``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{func}: argument '{name}' must be one of {', '.join(map(repr, choices))}, "
                         f"got {value!r}.")
    return value


def check_groups(groups: int, in_channels: int, out_channels: int, func: str) -> None:
    """torch's rule for grouped convolution: ``groups`` divides both channel counts."""
    for count, which in ((in_channels, "input channels x.shape[1]"),
                         (out_channels, "output channels weight.shape[0]")):
        if count % groups:
            raise ValueError(f"{func}: argument 'groups' must divide the {which} = {count}, "
                             f"got groups={groups}.")


def check_multiple(value: int, factor: int, name: str, func: str, what: str) -> None:
    """``value`` (``what``, a size read from argument ``name``) must be a multiple of ``factor``."""
    if value % factor:
        raise ValueError(f"{func}: argument '{name}' must have {what} a multiple of {factor}, "
                         f"got {value}.")


def check_valid_overlap(shape_a: Sequence[int], shape_b: Sequence[int], names: tuple[str, str],
                        func: str) -> None:
    """scipy's rule for 2-D mode 'valid': one input is at least as large as the other in every axis."""
    a_covers = all(m >= n for m, n in zip(shape_a, shape_b))
    b_covers = all(n >= m for m, n in zip(shape_a, shape_b))
    if not (a_covers or b_covers):
        raise ValueError(f"{func}: with mode='valid', one of arguments '{names[0]}' and '{names[1]}' "
                         f"must be at least as large as the other in every dimension (as in "
                         f"scipy.signal.convolve2d), got shapes {tuple(shape_a)} and {tuple(shape_b)}. "
                         f"Use mode='full' or 'same' instead.")


def check_tensor(x: Any, name: str, func: str, numpy_module: str) -> None:
    """``x`` must be a torch tensor (the ``gpu`` side). A NumPy array is pointed to its two roads:
    convert it with ``torch.as_tensor``, or call the same function in ``numpy_module``."""
    import torch

    if isinstance(x, torch.Tensor):
        return
    if isinstance(x, np.ndarray):
        raise TypeError(f"{func}: argument '{name}' must be a torch tensor, got a NumPy "
                        f"{_describe(x)}. Convert it with torch.as_tensor({name}) (add device=... "
                        f"to choose where it lives), or call {numpy_module}.{func}, which takes "
                        f"NumPy arrays.")
    raise TypeError(f"{func}: argument '{name}' must be a torch tensor, got {_describe(x)}. "
                    f"Make one with torch.as_tensor({name}).")
