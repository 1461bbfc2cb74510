"""Stochastic pooling (Zeiler & Fergus, ICLR 2013): pick one activation per region at random,
in proportion to its size.

In a pooling region with non-negative activations ``a_i`` (they come after a ReLU), each
position gets the probability ``p_i = a_i / sum_k a_k``. In training, one position ``l`` is
drawn from these probabilities and the region outputs ``a_l``; strong activations win most of
the time, weak ones sometimes, so the next layer sees a slightly different network each step
(a regulariser, like dropout). At test time the region outputs the expectation instead,
``sum_i p_i a_i``: a weighted average that leans towards the large activations.

The worked example of the NIPS 2013 tutorial, a 3×3 region holding 1.6 and 2.4 and zeros:

>>> import numpy as np
>>> region = np.array([[1.6, 0, 0], [0, 0, 0], [0, 0, 2.4]])
>>> pooling_probabilities(region).round(2).tolist()
[[0.4, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.6]]
>>> out, _ = stochastic_pool_forward(region[None, None], 3, training=False)
>>> round(float(out[0, 0, 0, 0]), 2)    # 0.4 * 1.6 + 0.6 * 2.4
2.08
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from course_lib._checks import check_bool, check_int, check_rng, to_numeric_array

__all__ = ["pooling_probabilities", "stochastic_pool_forward", "stochastic_pool_backward"]



def pooling_probabilities(region: Any) -> np.ndarray:
    """``p_i = a_i / sum_k a_k`` over one pooling region (any shape; all zeros gives all zeros).

    >>> pooling_probabilities([1.0, 3.0]).tolist()
    [0.25, 0.75]
    """
    a = to_numeric_array(region, "region", "pooling_probabilities").astype(np.float64)
    if (a < 0).any():
        raise ValueError("pooling_probabilities: argument 'region' must be non-negative (activations "
                         "after a ReLU), got a minimum of {:g}.".format(float(a.min())))
    total = a.sum()
    return a / total if total > 0 else np.zeros_like(a)


def _windows(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """(N, C, H, W) -> (N, C, H_out, W_out, k*k): every pooling region, flattened."""
    w = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]
    return w.reshape(*w.shape[:4], k * k)


def stochastic_pool_forward(x: Any, kernel_size: int, stride: int | None = None, training: bool = True,
                            rng: Any = None) -> tuple[np.ndarray, tuple]:
    """Stochastic pooling over ``kernel_size`` × ``kernel_size`` regions (no padding).

    Shapes: (N, C, H, W) -> (N, C, H_out, W_out), ``H_out = (H - k) // stride + 1``; ``stride``
    defaults to ``kernel_size``. ``x`` must be non-negative. ``training=True``: each region
    outputs one of its values, position ``l`` drawn with probability ``a_l / sum a`` from ``rng``
    (a numpy Generator, an int seed, or None); ``training=False``: ``sum_i a_i^2 / sum_i a_i``,
    the expected value of that draw. An all-zero region outputs 0 either way.
    Returns ``(out, cache)`` for :func:`stochastic_pool_backward`.
    """
    func = "stochastic_pool_forward"
    x = to_numeric_array(x, "x", func, ndim=4, what="batch (N, C, H, W)").astype(np.float64)
    k = check_int(kernel_size, "kernel_size", func, 1)
    s = k if stride is None else check_int(stride, "stride", func, 1)
    training = check_bool(training, "training", func)
    if k > min(x.shape[2:]):
        raise ValueError(f"{func}: argument 'kernel_size' ({k}) must fit in the input {x.shape[2:]}.")
    if (x < 0).any():
        raise ValueError(f"{func}: argument 'x' must be non-negative (activations after a ReLU): the "
                         f"probabilities a_i / sum(a) need it. Got a minimum of {float(x.min()):g}.")
    a = _windows(x, k, s)
    total = a.sum(-1, keepdims=True)
    p = np.divide(a, total, out=np.zeros_like(a), where=total > 0)
    if training:
        # Inverse-CDF sampling: the first position whose cumulative probability passes u. u is
        # drawn below the last cumulative value (not 1), so rounding can never pick a zero.
        cumulative = np.cumsum(p, -1)
        u = check_rng(rng, func).random(a.shape[:-1] + (1,)) * cumulative[..., -1:]
        chosen = np.minimum((cumulative <= u).sum(-1), k * k - 1)
        weights = np.zeros_like(p)
        np.put_along_axis(weights, chosen[..., None], 1.0, -1)
        weights *= total > 0   # an all-zero region passes nothing on
    else:
        weights = p
    out = (weights * a).sum(-1)
    return out, (x.shape, k, s, training, a, weights, total)


def stochastic_pool_backward(dout: Any, cache: tuple) -> np.ndarray:
    """Gradient of :func:`stochastic_pool_forward` with respect to ``x``. Shape of ``x``.

    Training: the gradient goes to the sampled position only (as max pooling's goes to the
    maximum). Test time: ``d/da_j (sum a^2 / sum a) = (2 a_j S - Q) / S^2`` with ``S = sum a``
    and ``Q = sum a^2``. Overlapping regions add their contributions.
    """
    shape, k, s, training, a, weights, total = cache
    dout = to_numeric_array(dout, "dout", "stochastic_pool_backward", ndim=4).astype(np.float64)
    if dout.shape != a.shape[:4]:
        raise ValueError(f"stochastic_pool_backward: argument 'dout' must have shape {a.shape[:4]} "
                         f"(the output's), got {dout.shape}.")
    if training:
        local = weights
    else:
        squares = (a * a).sum(-1, keepdims=True)
        safe = np.where(total > 0, total, 1.0)
        local = np.where(total > 0, (2 * a * safe - squares) / safe ** 2, 0.0)
    grad = (local * dout[..., None]).reshape(*dout.shape, k, k)
    dx = np.zeros(shape)
    h_out, w_out = dout.shape[2:]
    for i in range(k):
        for j in range(k):
            dx[:, :, i:i + s * (h_out - 1) + 1:s, j:j + s * (w_out - 1) + 1:s] += grad[..., i, j]
    return dx
