"""Dropout (Hinton et al. 2012) and DropConnect (Wan et al. 2013), forward and backward.

Dropout sets each activation to zero with probability ``p`` during training. The survivors are
multiplied by ``1 / (1 - p)`` ("inverted" dropout), so every activation keeps its expected value,
``E[out] = (1 - p) * x / (1 - p) = x``, and at test time the layer does nothing at all. Each
training step therefore trains one of exponentially many thinned networks that share their
weights; the test-time network approximates their average.

DropConnect drops *weights* instead of activations: every training example of a fully connected
layer sees its own random subset of the connections.

>>> import numpy as np
>>> x = np.ones((2, 4))
>>> out, cache = dropout_forward(x, 0.5, rng=0)
>>> out.tolist()            # survivors are doubled, the rest are zero
[[2.0, 0.0, 0.0, 0.0], [2.0, 2.0, 2.0, 2.0]]
>>> dropout_backward(np.ones((2, 4)), cache).tolist()
[[2.0, 0.0, 0.0, 0.0], [2.0, 2.0, 2.0, 2.0]]
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from course_lib._checks import check_bool, check_rng, to_numeric_array

__all__ = ["dropout_forward", "dropout_backward", "dropconnect_forward", "dropconnect_backward"]


def _probability(p: Any, func: str) -> float:
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real):
        raise TypeError(f"{func}: argument 'p' must be a number (the probability of dropping), "
                        f"got {type(p).__name__}.")
    if not 0.0 <= float(p) < 1.0:
        raise ValueError(f"{func}: argument 'p' must be in [0, 1) (the probability of dropping; "
                         f"1 would drop everything and divide by 0), got {p!r}.")
    return float(p)



def dropout_forward(x: Any, p: float, training: bool = True, rng: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Inverted dropout: ``out = x * mask / (1 - p)``, ``mask`` 0 with probability ``p``, else 1.

    Shapes: any -> the same. ``training=False`` (or ``p=0``) returns ``x`` unchanged. ``rng``: a
    numpy Generator, an int seed, or None. Returns ``(out, cache)``; the cache is the scaled mask
    ``mask / (1 - p)`` (None at test time).
    """
    func = "dropout_forward"
    x = to_numeric_array(x, "x", func).astype(np.float64)
    p = _probability(p, func)
    if not check_bool(training, "training", func) or p == 0.0:
        return x.copy(), None
    scaled_mask = (check_rng(rng, func).random(x.shape) >= p) / (1.0 - p)
    return x * scaled_mask, scaled_mask


def dropout_backward(dout: Any, cache: np.ndarray | None) -> np.ndarray:
    """Gradient of :func:`dropout_forward`: ``dx = dout * mask / (1 - p)`` (``dout`` at test time)."""
    dout = to_numeric_array(dout, "dout", "dropout_backward").astype(np.float64)
    if cache is None:
        return dout.copy()
    if dout.shape != cache.shape:
        raise ValueError(f"dropout_backward: argument 'dout' must have shape {cache.shape} (the output's), "
                         f"got {dout.shape}.")
    return dout * cache


def dropconnect_forward(x: Any, weight: Any, bias: Any, p: float, training: bool = True,
                        rng: Any = None) -> tuple[np.ndarray, tuple]:
    """A fully connected layer whose every weight is dropped with probability ``p``, for each
    example separately: ``out[n] = (weight * M[n] / (1 - p)) @ x[n] + bias``.

    Shapes (torch's ``F.linear``): ``x`` (N, D), ``weight`` (M, D), ``bias`` (M,) -> (N, M).
    At test time (``training=False``) the mean weights are used, ``x @ weight.T + bias``; Wan et
    al. use a finer, sampled approximation there. Returns ``(out, cache)``.
    """
    func = "dropconnect_forward"
    x = to_numeric_array(x, "x", func, ndim=2, what="batch (N, D)").astype(np.float64)
    weight = to_numeric_array(weight, "weight", func, ndim=2, what="matrix (M, D)").astype(np.float64)
    bias = to_numeric_array(bias, "bias", func, ndim=1, what="vector (M,)").astype(np.float64)
    if weight.shape[1] != x.shape[1] or bias.shape[0] != weight.shape[0]:
        raise ValueError(f"{func}: shapes must be x (N, D), weight (M, D), bias (M,); got x {x.shape}, "
                         f"weight {weight.shape}, bias {bias.shape}.")
    p = _probability(p, func)
    if not check_bool(training, "training", func) or p == 0.0:
        masks = np.ones((1, *weight.shape))
    else:
        masks = (check_rng(rng, func).random((len(x), *weight.shape)) >= p) / (1.0 - p)
    out = np.einsum("nmd,nd->nm", weight * masks, x) + bias
    return out, (x, weight, masks)


def dropconnect_backward(dout: Any, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients ``(dx, dweight, dbias)`` of :func:`dropconnect_forward` under its masks."""
    x, weight, masks = cache
    dout = to_numeric_array(dout, "dout", "dropconnect_backward", ndim=2).astype(np.float64)
    if dout.shape != (len(x), len(weight)):
        raise ValueError(f"dropconnect_backward: argument 'dout' must have shape {(len(x), len(weight))}, "
                         f"got {dout.shape}.")
    dx = np.einsum("nmd,nm->nd", weight * masks, dout)
    dweight = np.einsum("nmd,nm,nd->md", np.broadcast_to(masks, (len(x), *weight.shape)), dout, x)
    return dx, dweight, dout.sum(0)
