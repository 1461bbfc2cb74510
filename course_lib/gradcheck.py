"""Gradient checking: test a hand-written backward pass against finite differences.

A backward pass computes dL/dx for a scalar loss L. If you nudge one entry of ``x`` by a small
``h`` and watch L change, you measure that same derivative without any calculus::

    dL/dx[i]  ~=  (L(x + h e_i) - L(x - h e_i)) / (2 h)        (central difference)

For a layer ``out = f(x)`` we use ``L = sum(f(x) * dout)``, whose gradient is exactly what a
backward pass ``backward(dout, x)`` returns. Compare the two with :func:`check_gradient`.

How to read the relative error (the largest over all entries, see :func:`relative_error`):

* below 1e-7: great, the backward pass is right;
* 1e-7 to 1e-4: usually fine where ``f`` has kinks (max, ReLU) and an input sits within ``h`` of
  one; otherwise look closer;
* 1e-4 to 1e-2: suspicious;
* above 1e-2: the backward pass is almost certainly wrong at the reported index.

Work in float64: in float32 the rounding error of ``L`` alone swamps the difference. The
defaults (``h=1e-5``, ``rtol=1e-6``) suit float64 inputs of order 1, where a correct backward pass
typically reaches 1e-8 or better. Each check calls ``f`` twice per entry of ``x``: keep it small.

The step is the one actually taken: ``x + h`` is rounded to ``x``'s dtype, so the difference is
divided by ``(x + h) - (x - h)`` as stored, not by ``2h``. A step too small to change ``x`` at all
(``x + h == x``, say ``h=1e-20`` at ``x=1``) would estimate 0 whatever the true gradient, so it is
refused, as is an ``x`` holding NaN or inf (there is no derivative to check there).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from course_lib._checks import (check_array, check_finite, check_finite_number, check_shape,
                                to_numeric_array)

__all__ = ["numerical_gradient", "relative_error", "GradCheckResult", "check_gradient",
           "check_layer_gradients"]

# Central differences cannot resolve an entry whose gradient is tiny next to the others (their
# error, about h**2 times a third derivative, does not shrink with it): below this fraction of
# the largest gradient, entries are judged on that absolute scale instead of relative to themselves.
_SMALL_FRACTION = 1e-3
_TINY = 1e-8


def _check_perturbable(x: Any, func: str) -> None:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{func}: argument 'x' must be a NumPy array (it is nudged in place so "
                        f"that f sees the change), got {type(x).__name__}. "
                        f"Use np.array(x, dtype=float).")
    check_array(x, "x", func)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{func}: argument 'x' must hold floats, got dtype {x.dtype}: a step of "
                        f"h cannot be added to it. Use x = x.astype(np.float64), and let f read "
                        f"that new array.")
    if not x.flags.writeable:
        raise ValueError(f"{func}: argument 'x' must be writeable (it is nudged in place and "
                         f"restored); pass a copy, e.g. x.copy().")
    check_finite(x, "x", func, "A gradient at NaN or inf cannot be checked: look at what made it.")
    if x.dtype != np.float64:
        warnings.warn(f"{func}: 'x' has dtype {x.dtype}; finite differences need float64 to be "
                      f"accurate. Expect large errors, or use x.astype(np.float64).", stacklevel=4)


def numerical_gradient(f: Callable[[np.ndarray], Any], x: np.ndarray, dout: Any = None,
                       h: float = 1e-5) -> np.ndarray:
    """Estimate the gradient of ``L = sum(f(x) * dout)`` with respect to ``x``: central differences.

    ``f`` takes ``x`` (any shape) and returns an array or a scalar; ``dout`` has ``f(x)``'s shape
    and defaults to ones (so a scalar ``f`` is its own loss). Each entry of ``x`` is nudged by
    ``+h`` and ``-h`` *in place* and then restored exactly, so ``f`` may also read ``x`` through a
    closure (as a layer reads its weights). Returns an array of ``x``'s shape (float64).

    The two outputs are subtracted *before* summing: outputs that the nudge did not touch then
    cancel exactly instead of adding rounding noise to a large total.

    >>> import numpy as np
    >>> x = np.array([1.0, -2.0, 3.0])
    >>> np.round(numerical_gradient(lambda x: np.sum(x ** 2), x), 6)   # exact answer: 2x
    array([ 2., -4.,  6.])
    """
    return _numerical_gradient(f, x, dout, h, "numerical_gradient")


def _check_step(x: np.ndarray, h: float, func: str) -> None:
    """``x + h`` and ``x - h`` must differ from ``x`` in its own dtype, at every entry."""
    with np.errstate(over="ignore"):
        stuck = (x + h == x) | (x - h == x)
    if stuck.any():
        where = tuple(int(i) for i in np.argwhere(stuck)[0])
        suggest = float(np.finfo(x.dtype).eps) ** (1 / 3) * max(1.0, float(np.abs(x).max()))
        raise ValueError(f"{func}: argument 'h' = {h:g} is too small to change x{list(where)} = "
                         f"{x[where]} in {x.dtype} (x + h == x there), so the estimate would be 0 "
                         f"whatever the gradient. Use a larger h, about {suggest:.0e} here"
                         f"{'' if x.dtype == np.float64 else ', and x in float64'}.")


def _numerical_gradient(f, x, dout, h, func: str) -> np.ndarray:
    _check_perturbable(x, func)
    h = check_finite_number(h, "h", func, strict=True)
    _check_step(x, h, func)
    out_shape = np.shape(f(x))
    if dout is None:
        dout = np.ones(out_shape)
    else:
        dout = to_numeric_array(dout, "dout", func)
        check_shape(dout, out_shape, "dout", func, why="the shape of f(x)")
    grad = np.zeros(x.shape, dtype=np.float64)
    for index in np.ndindex(x.shape):
        original = x[index]
        try:
            x[index] = original + h
            plus, out_plus = float(x[index]), np.asarray(f(x), dtype=np.float64)
            x[index] = original - h
            minus, out_minus = float(x[index]), np.asarray(f(x), dtype=np.float64)
        finally:
            x[index] = original
        # Divide by the step actually taken: x + h was rounded to x's dtype.
        grad[index] = np.sum((out_plus - out_minus) * dout) / (plus - minus)
    return grad


def _relative_errors(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)))
    floor = max(_TINY, _SMALL_FRACTION * scale)
    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)


def relative_error(a: Any, b: Any) -> float:
    """The largest entrywise relative error ``|a - b| / (|a| + |b|)`` of two same-shaped arrays.

    It lies between 0 (equal) and 1 (one is zero, or opposite signs). The denominator is floored
    at 1e-3 times the largest ``|a|`` or ``|b|`` (and at 1e-8), so that near-zero entries, which
    finite differences cannot resolve relative to themselves, are judged on the arrays' scale.

    >>> relative_error([1.0, 2.0], [1.0, 2.2])   # 0.2 / 4.2
    0.0476
    """
    a = to_numeric_array(a, "a", "relative_error").astype(np.float64)
    b = to_numeric_array(b, "b", "relative_error").astype(np.float64)
    check_shape(b, a.shape, "b", "relative_error", why="the shape of 'a'")
    return float(np.max(_relative_errors(a, b)))


@dataclass(frozen=True)
class GradCheckResult:
    """What :func:`check_gradient` found. ``bool(result)`` is ``result.passed``."""
    max_relative_error: float
    passed: bool
    worst_index: tuple[int, ...]
    analytic: float          # your gradient at worst_index
    numerical: float         # the finite-difference estimate there
    rtol: float
    name: str = "x"

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        where = f"max relative error {self.max_relative_error:.2g} at index {self.worst_index}"
        if self.passed:
            return f"gradient check passed for '{self.name}': {where}"
        return (f"gradient check FAILED for '{self.name}': {where} (tolerance {self.rtol:g}). "
                f"Your gradient there is {self.analytic:.6g}, the numerical estimate is "
                f"{self.numerical:.6g}. Look at how your backward pass computes that entry.")


def check_gradient(f: Callable[[np.ndarray], Any], x: np.ndarray, analytic_grad: Any,
                   dout: Any = None, h: float = 1e-5, rtol: float = 1e-6,
                   name: str = "x") -> GradCheckResult:
    """Compare your gradient of ``L = sum(f(x) * dout)`` with the numerical one.

    ``analytic_grad`` has ``x``'s shape (typically ``backward(dout, x)``); ``dout`` is the same one
    you gave your backward pass (default: ones). Passes when :func:`relative_error` is at most
    ``rtol``. Print the result for a readable verdict.

    >>> import numpy as np
    >>> x = np.array([[0.5, -1.0], [2.0, 0.1]])
    >>> print(check_gradient(lambda x: x ** 3, x, 3 * x ** 2))   # doctest: +ELLIPSIS
    gradient check passed for 'x': max relative error ... at index (...)
    >>> check_gradient(lambda x: x ** 3, x, 2 * x ** 2).passed  # a wrong derivative
    False
    """
    func = "check_gradient"
    analytic = to_numeric_array(analytic_grad, "analytic_grad", func).astype(np.float64)
    check_shape(analytic, np.shape(x), "analytic_grad", func, why="the shape of 'x'")
    rtol = check_finite_number(rtol, "rtol", func, strict=True)
    numerical = _numerical_gradient(f, x, dout, h, func)
    errors = _relative_errors(analytic, numerical)
    worst = np.unravel_index(np.argmax(errors), errors.shape)
    worst_error = float(errors[worst])
    return GradCheckResult(worst_error, worst_error <= rtol, tuple(int(i) for i in worst),
                           float(analytic[worst]), float(numerical[worst]), rtol, name)


def check_layer_gradients(f: Callable[..., Any], inputs: Mapping[str, np.ndarray],
                          analytic_grads: Mapping[str, Any], dout: Any = None, h: float = 1e-5,
                          rtol: float = 1e-6) -> dict[str, GradCheckResult]:
    """Check every gradient of a layer with several inputs (say ``x``, ``weight`` and ``bias``).

    ``f(*inputs.values())`` is the layer's output; ``analytic_grads`` maps the same names to your
    gradients. Each input in turn is nudged while the others stay fixed. Returns one
    :class:`GradCheckResult` per name, in order.

    >>> import numpy as np
    >>> x, w = np.array([[1.0, 2.0]]), np.array([[3.0], [4.0]])
    >>> dout = np.array([[1.5]])
    >>> results = check_layer_gradients(lambda x, w: x @ w, {"x": x, "weight": w},
    ...                                 {"x": dout @ w.T, "weight": x.T @ dout}, dout)
    >>> all(results.values())
    True
    """
    missing = [key for key in inputs if key not in analytic_grads]
    if missing:
        raise ValueError(f"check_layer_gradients: argument 'analytic_grads' must have a gradient "
                         f"for every input, missing {missing} (inputs: {list(inputs)}).")
    arrays = list(inputs.values())
    return {key: check_gradient(lambda _: f(*arrays), arrays[i], analytic_grads[key],
                                dout, h, rtol, name=key)
            for i, key in enumerate(inputs)}
