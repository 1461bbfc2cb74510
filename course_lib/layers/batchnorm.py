"""Batch normalisation in NumPy, forward and backward (Ioffe & Szegedy, 2015).

For each feature (a column of an (N, D) batch, or a channel of an (N, C, H, W) batch, where
the statistics are taken over N, H and W, "spatial" batch norm) the layer computes::

    mu      = mean(x)                      over the batch (and positions)
    var     = mean((x - mu) ** 2)          biased: divided by m, the number of values
    x_hat   = (x - mu) / sqrt(var + eps)   mean 0, variance 1 per feature
    out     = gamma * x_hat + beta         a learned scale and shift give the choice back

In evaluation (``training=False``) ``mu`` and ``var`` are the running averages collected during
training instead, so one example's output no longer depends on the rest of its batch. The
running averages follow torch's convention exactly: ``running = (1 - momentum) * running +
momentum * batch_value``, and the running variance takes the *unbiased* batch variance
(divided by m - 1), while the normalisation itself uses the biased one.

Backward, with ``g = dout * gamma`` and sums over the batch (and positions)::

    dbeta  = sum(dout)
    dgamma = sum(dout * x_hat)
    dx     = (m * g - sum(g) - x_hat * sum(g * x_hat)) / (m * sqrt(var + eps))

The two subtracted sums are what the mean and the variance contribute: every value moved the
statistics that normalised all the others. Check it with :mod:`course_lib.gradcheck`.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from course_lib._checks import (check_bool, check_finite_number, check_shape, check_size,
                                to_numeric_array)

__all__ = ["BatchNormCache", "batchnorm_forward", "batchnorm_backward"]


class BatchNormCache(NamedTuple):
    """What :func:`batchnorm_backward` needs from the forward pass."""
    x_hat: np.ndarray        # the normalised input, x's shape
    gamma: np.ndarray        # (C,)
    inv_std: np.ndarray      # (C,): 1 / sqrt(var + eps) of the statistics used
    training: bool           # batch statistics (True) or fixed running ones (False)


def _axes(ndim: int) -> tuple[int, ...]:
    """The axes statistics are taken over: the batch, and for images the positions too."""
    return (0,) if ndim == 2 else (0, 2, 3)


def _per_feature(v: np.ndarray, ndim: int) -> np.ndarray:
    """(C,) -> a shape that broadcasts against (N, C) or (N, C, H, W)."""
    return v if ndim == 2 else v.reshape(1, -1, 1, 1)


def _check_running(value, name: str, channels: int, func: str) -> np.ndarray:
    if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.floating):
        raise TypeError(f"{func}: argument '{name}' must be a float NumPy array of shape ({channels},), "
                        f"updated in place, got {type(value).__name__}"
                        f"{f' of dtype {value.dtype}' if isinstance(value, np.ndarray) else ''}.")
    check_shape(value, (channels,), name, func, why="one value per feature")
    if not value.flags.writeable:
        raise ValueError(f"{func}: argument '{name}' must be writeable: the running statistics are "
                         f"updated in place (pass a copy, e.g. {name}.copy()).")
    return value


def batchnorm_forward(x, gamma, beta, eps: float = 1e-5, momentum: float = 0.1,
                      running_mean: np.ndarray | None = None, running_var: np.ndarray | None = None,
                      training: bool = True) -> tuple[np.ndarray, BatchNormCache]:
    """Batch-normalise ``x``: ``out = gamma * (x - mu) / sqrt(var + eps) + beta``, per feature.

    Shapes: ``x`` is (N, D) or (N, C, H, W); ``gamma``, ``beta``, ``running_mean`` and
    ``running_var`` are (D,) or (C,); ``out`` has ``x``'s shape. For images the statistics of
    channel c are taken over all N·H·W values of that channel (spatial batch norm).

    ``training=True`` normalises with the batch's mean and biased variance and, if
    ``running_mean`` and ``running_var`` are given, updates them *in place* as torch does:
    ``running = (1 - momentum) * running + momentum * batch``, with the unbiased variance
    (m / (m - 1) times the biased one, m = values per feature). ``training=False`` normalises
    with the running statistics, which are then required. Returns ``(out, cache)``; the cache
    is for :func:`batchnorm_backward`.

    >>> x = np.array([[1.0, 10.0], [3.0, 30.0]])
    >>> out, _ = batchnorm_forward(x, np.ones(2), np.zeros(2), eps=0.0)
    >>> out
    array([[-1., -1.],
           [ 1.,  1.]])
    >>> mean, var = np.zeros(2), np.ones(2)
    >>> _ = batchnorm_forward(x, np.ones(2), np.zeros(2), running_mean=mean, running_var=var)
    >>> mean, var          # 0.9 * old + 0.1 * batch; the batch variances are 2 and 200 (unbiased)
    (array([0.2, 2. ]), array([ 1.1, 20.9]))
    """
    func = "batchnorm_forward"
    x = to_numeric_array(x, "x", func, ndim=(2, 4), what="(N, D) or (N, C, H, W) batch")
    x = x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)
    channels = x.shape[1]
    gamma, beta = (to_numeric_array(v, n, func, ndim=1, what=f"({channels},) vector").astype(x.dtype)
                   for v, n in ((gamma, "gamma"), (beta, "beta")))
    check_shape(gamma, (channels,), "gamma", func, why="one scale per feature, x.shape[1]")
    check_shape(beta, (channels,), "beta", func, why="one shift per feature, x.shape[1]")
    eps = check_finite_number(eps, "eps", func)
    momentum = check_finite_number(momentum, "momentum", func)
    if momentum > 1:
        raise ValueError(f"{func}: argument 'momentum' must be between 0 and 1, got {momentum:g}.")
    training = check_bool(training, "training", func)
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{func}: give both 'running_mean' and 'running_var', or neither.")
    if running_mean is not None:
        _check_running(running_mean, "running_mean", channels, func)
        _check_running(running_var, "running_var", channels, func)
    check_size(x.size, x.itemsize, "x", func, "the normalised copy of x")
    axes, m = _axes(x.ndim), x.size // channels

    if training:
        if m < 2:
            raise ValueError(f"{func}: training needs more than one value per feature to take a "
                             f"variance, got x of shape {x.shape}. Use a larger batch, or "
                             f"training=False with running statistics.")
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * m / (m - 1)
    else:
        if running_mean is None:
            raise ValueError(f"{func}: training=False normalises with 'running_mean' and "
                             f"'running_var', which must be given (collect them with training=True).")
        mean, var = running_mean.astype(x.dtype), running_var.astype(x.dtype)
    if eps == 0 and np.any(var == 0):
        raise ValueError(f"{func}: a feature of 'x' is constant (variance 0) and 'eps' is 0, so "
                         f"x_hat would divide by zero; use eps > 0 (torch's default is 1e-5).")
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - _per_feature(mean, x.ndim)) * _per_feature(inv_std, x.ndim)
    out = _per_feature(gamma, x.ndim) * x_hat + _per_feature(beta, x.ndim)
    return out, BatchNormCache(x_hat, gamma, inv_std, training)


def batchnorm_backward(dout, cache: BatchNormCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of the loss with respect to ``x``, ``gamma`` and ``beta``.

    Shapes: ``dout`` has the shape of the forward output; returns ``dx`` (that shape),
    ``dgamma`` and ``dbeta`` ((C,) each). See the module docstring for the formulas. After
    ``training=False`` the statistics were constants, and ``dx = dout * gamma * inv_std``.

    >>> x = np.array([[1.0], [2.0], [6.0]])
    >>> out, cache = batchnorm_forward(x, np.array([2.0]), np.array([0.5]))
    >>> dx, dgamma, dbeta = batchnorm_backward(np.ones_like(x), cache)
    >>> np.round(dx, 12).ravel().tolist(), dbeta.tolist()   # a shift of out moves no x
    ([0.0, 0.0, 0.0], [3.0])
    """
    func = "batchnorm_backward"
    if not isinstance(cache, BatchNormCache):
        raise TypeError(f"{func}: argument 'cache' must be the BatchNormCache that batchnorm_forward "
                        f"returned, got {type(cache).__name__}.")
    x_hat, gamma, inv_std, training = cache
    dout = to_numeric_array(dout, "dout", func, ndim=x_hat.ndim, what="gradient of the output")
    check_shape(dout, x_hat.shape, "dout", func, why="the shape of the forward output")
    axes, nd = _axes(x_hat.ndim), x_hat.ndim
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * x_hat).sum(axis=axes)
    g = dout * _per_feature(gamma, nd)
    if not training:
        return g * _per_feature(inv_std, nd), dgamma, dbeta
    m = x_hat.size // x_hat.shape[1]
    dx = (m * g - _per_feature(g.sum(axis=axes), nd)
          - x_hat * _per_feature((g * x_hat).sum(axis=axes), nd)) * _per_feature(inv_std / m, nd)
    return dx, dgamma, dbeta
