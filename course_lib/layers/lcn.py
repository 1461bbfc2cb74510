"""Local contrast normalisation (Jarrett, Kavukcuoglu, Ranzato & LeCun, ICCV 2009).

Two steps, each over a small Gaussian neighbourhood ``w`` (7×7 in the NIPS 2013 tutorial) that
spans all feature maps (``sum_{c,p,q} w = 1``):

1. subtractive: ``v = x - sum_{c,p,q} w_pq x[c, i+p, j+q]``, so the local mean becomes 0;
2. divisive: ``y = v / max(t, sigma)`` with ``sigma[i, j] = sqrt(sum_{c,p,q} w_pq v[c, i+p, j+q]^2)``,
   the local standard deviation; where the image has contrast (``sigma > t``) it becomes 1.

The threshold ``t`` (by default the mean of ``sigma`` over the image, as Jarrett et al. did)
keeps nearly flat regions flat instead of blowing their noise up. The result: a shadowed, dim
part of an image and a bright part look alike, so later layers see every region on the same
scale, and strong features in one map damp the others nearby (local competition).

At the image border the window is cut off and its remaining weights rescaled to sum to 1, so a
constant image is normalised to exactly 0 everywhere.

This is a fixed transform with no parameters, used here to look at; it has no backward pass.

>>> import numpy as np
>>> gaussian_window(3, 1.0).round(3)
array([[0.075, 0.124, 0.075],
       [0.124, 0.204, 0.124],
       [0.075, 0.124, 0.075]])
>>> bool(np.abs(local_contrast_normalize(np.full((5, 5), 7.0))).max() < 1e-6)   # no contrast: 0
True
"""
from __future__ import annotations

from typing import Any

import numpy as np

from course_lib._checks import check_finite, check_finite_number, check_int, to_numeric_array

_FLAT = 1e-6

__all__ = ["gaussian_window", "local_mean", "subtractive_normalize", "divisive_normalize",
           "local_contrast_normalize"]


def _gaussian_1d(size: int, sigma: float) -> np.ndarray:
    t = np.arange(size) - (size - 1) / 2
    g = np.exp(-t ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def _check(size: Any, sigma: Any, func: str) -> tuple[int, float]:
    size = check_int(size, "size", func, 1)
    if size % 2 == 0:
        raise ValueError(f"{func}: argument 'size' must be odd (the window is centred on a pixel), got {size}.")
    sigma = size / 4 if sigma is None else check_finite_number(sigma, "sigma", func, strict=True)
    return size, sigma


def gaussian_window(size: int = 7, sigma: float | None = None) -> np.ndarray:
    """A ``size`` × ``size`` Gaussian window summing to 1; ``sigma`` defaults to ``size / 4``."""
    size, sigma = _check(size, sigma, "gaussian_window")
    g = _gaussian_1d(size, sigma)
    return np.outer(g, g)


def _blur(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Correlate the last two axes with the separable window ``outer(g, g)``, zero padding."""
    r = len(g) // 2
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(r, r), (r, r)])
    h, w = x.shape[-2:]
    rows = sum(g[t] * padded[..., t:t + h, :] for t in range(len(g)))
    return sum(g[t] * rows[..., :, t:t + w] for t in range(len(g)))


def _as_maps(x: Any, func: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """(H, W), (C, H, W) or (N, C, H, W) -> float64 (N, C, H, W), and the original shape."""
    x = to_numeric_array(x, "x", func, ndim=(2, 3, 4), what="image (H, W), (C, H, W) or (N, C, H, W)")
    check_finite(x, "x", func)
    maps = x.astype(np.float64)
    return maps.reshape((1,) * (4 - x.ndim) + x.shape), x.shape


def local_mean(x: Any, size: int = 7, sigma: float | None = None) -> np.ndarray:
    """``sum_{c,p,q} w_pq x[c, i+p, j+q]``: the Gaussian-weighted mean over the window and over all
    channels. Shapes: (H, W) -> (H, W); (C, H, W) -> (H, W); (N, C, H, W) -> (N, H, W)."""
    func = "local_mean"
    size, sigma = _check(size, sigma, func)
    maps, shape = _as_maps(x, func)
    g = _gaussian_1d(size, sigma)
    # Divide by the window's weight inside the image: the border mean is a mean, not a fade to 0.
    inside = _blur(np.ones(maps.shape[-2:]), g)
    mean = _blur(maps, g).mean(1) / inside
    return mean if len(shape) == 4 else mean[0]


def subtractive_normalize(x: Any, size: int = 7, sigma: float | None = None) -> np.ndarray:
    """``v = x - local_mean(x)`` (each channel minus the shared local mean). Shape of ``x``."""
    maps, shape = _as_maps(x, "subtractive_normalize")
    mean = local_mean(maps, size, sigma)
    return (maps - mean[:, None]).reshape(shape)


def divisive_normalize(v: Any, size: int = 7, sigma: float | None = None,
                       threshold: float | None = None) -> np.ndarray:
    """``y = v / max(t, sigma)``, ``sigma = sqrt(local_mean(v^2))``; ``t`` defaults to the mean of
    ``sigma`` over each image (at least 1e-6). Apply it to zero-mean maps (:func:`subtractive_normalize`'s output).
    Shape of ``v``."""
    func = "divisive_normalize"
    maps, shape = _as_maps(v, func)
    sigma_map = np.sqrt(local_mean(maps ** 2, size, sigma))   # (N, H, W)
    if threshold is None:
        # At least _FLAT: the rounding noise of a flat image is not contrast to magnify.
        t = np.maximum(sigma_map.mean((1, 2), keepdims=True), _FLAT)
    else:
        t = check_finite_number(threshold, "threshold", func)
    floor = np.maximum(t, sigma_map)
    # An image with no contrast at all has sigma = t = 0 everywhere: it stays 0.
    safe = np.where(floor > 0, floor, 1.0)
    return (maps / safe[:, None]).reshape(shape)


def local_contrast_normalize(x: Any, size: int = 7, sigma: float | None = None,
                             threshold: float | None = None) -> np.ndarray:
    """Subtractive, then divisive normalisation (see the module docstring). Shape of ``x``.

    ``x``: one map (H, W), maps (C, H, W) normalised together, or a batch (N, C, H, W) of them.
    """
    return divisive_normalize(subtractive_normalize(x, size, sigma), size, sigma, threshold)
