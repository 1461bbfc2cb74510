"""Pooling in NumPy: max, average and Lp pooling, forward and backward, in 2-D and 1-D.

A pooling layer summarises each small window of a feature map by one number. It has
hyperparameters (the window size F and the stride S) but no weights to learn.

Layouts follow ``torch.nn.functional``: a batch ``(N, C, H, W)`` or a single image ``(C, H, W)``
in 2-D; ``(N, C, L)`` or ``(C, L)`` in 1-D. Every channel is pooled on its own. ``kernel_size``,
``stride`` and ``padding`` are an int or one value per spatial dimension; ``stride`` defaults to
``kernel_size`` (windows side by side, no overlap). Along each spatial dimension of size n::

    out = floor((n + 2 * padding - kernel_size) / stride) + 1

How the code works: ``_windows`` gives a strided *view* of all windows at once,
``(N, C, OH, OW, kh, kw)``, without copying; the forward pass reduces its last two axes. Each
backward pass builds the gradient of every window entry in that same layout and ``_add_windows``
adds it back onto the input, one kernel offset at a time (kh * kw vectorised steps), so windows that
overlap (F=3, S=2) add up their contributions correctly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from course_lib._checks import (check_bool, check_int, check_kernel_fits, check_pool_padding,
                                check_positive_number, check_real, check_shape, check_size,
                                check_tuple, sum_dtype, to_numeric_array)

__all__ = ["max_pool2d", "avg_pool2d", "lp_pool2d", "max_pool1d", "avg_pool1d",
           "max_pool2d_backward", "avg_pool2d_backward", "lp_pool2d_backward",
           "max_pool1d_backward", "avg_pool1d_backward", "max_pool_channels"]

_LAYOUT = {2: ((3, 4), "(N, C, H, W) batch or (C, H, W) image"),
           1: ((2, 3), "(N, C, L) batch or (C, L) signal")}


@dataclass(frozen=True)
class _Pool:
    """A checked pooling geometry. Inside, all is 4-D: a 1-D signal is an image of height 1."""
    shape: tuple[int, ...]        # the caller's input shape, 1-D or 2-D, batched or not
    spatial: int                  # 1 or 2
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]

    @property
    def in_hw(self) -> tuple[int, int]:
        return tuple(self.shape[-2:]) if self.spatial == 2 else (1, self.shape[-1])

    @property
    def out_hw(self) -> tuple[int, int]:
        return tuple((n + 2 * p - k) // s + 1 for n, k, s, p
                     in zip(self.in_hw, self.kernel, self.stride, self.padding))

    @property
    def out_shape(self) -> tuple[int, ...]:
        """The forward output in the caller's layout."""
        return self.shape[:-self.spatial] + self.out_hw[2 - self.spatial:]

    def as_4d(self, a):
        """View an input (or an output) in the caller's layout as ``(N, C, H, W)``.

        Works on NumPy arrays and torch tensors alike: course_lib.gpu shares this geometry."""
        lead = tuple(a.shape[:a.ndim - self.spatial])
        hw = tuple(a.shape[a.ndim - self.spatial:])
        if len(lead) == 1:  # unbatched: a batch of one
            lead = (1,) + lead
        if self.spatial == 1:
            hw = (1,) + hw
        return a.reshape(lead + hw)

    def pad(self, x4: np.ndarray, value: float | int) -> np.ndarray:
        (ph, pw) = self.padding
        if ph == pw == 0:
            return x4
        return np.pad(x4, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)

    def unpad(self, a4: np.ndarray) -> np.ndarray:
        (ph, pw) = self.padding
        return a4[:, :, ph:a4.shape[2] - ph, pw:a4.shape[3] - pw]


def _geometry(x: np.ndarray, kernel_size, stride, padding, func: str, spatial: int) -> _Pool:
    kernel = check_tuple(kernel_size, "kernel_size", func, spatial, minimum=1)
    stride = kernel if stride is None else check_tuple(stride, "stride", func, spatial, minimum=1)
    padding = check_tuple(padding, "padding", func, spatial, minimum=0)
    check_pool_padding(padding, kernel, func)
    check_kernel_fits(tuple(x.shape[-spatial:]), kernel, padding, func)
    if spatial == 1:  # a signal of length L is an image of height 1
        kernel, stride, padding = (1,) + kernel, (1,) + stride, (0,) + padding
    return _Pool(tuple(x.shape), spatial, kernel, stride, padding)


def _check_windows(pool: _Pool, func: str) -> None:
    """A backward pass builds a value for every cell of every window: refuse what cannot fit."""
    count = int(np.prod(pool.shape[:-pool.spatial])) * int(np.prod(pool.out_hw + pool.kernel))
    check_size(count, 8, "x", func, "the gradients of all the pooling windows",
               "Use a smaller input or kernel_size, or a larger stride.")


def _read_input(x, func: str, spatial: int) -> np.ndarray:
    ndim, what = _LAYOUT[spatial]
    x = to_numeric_array(x, "x", func, ndim=ndim, what=what)
    check_real(x, "x", func)
    return x


def _read_dout(dout, pool: _Pool, func: str) -> np.ndarray:
    dout = to_numeric_array(dout, "dout", func)
    check_shape(dout, pool.out_shape, "dout", func, why="the shape of the forward output")
    check_real(dout, "dout", func)
    _check_windows(pool, func)
    return dout



def _grad_dtype(*arrays: np.ndarray) -> np.dtype:
    """Gradients are floats: keep the inputs' float width, and use float64 for integer inputs."""
    dtype = np.result_type(*arrays)
    return dtype if np.issubdtype(dtype, np.inexact) else np.dtype(np.float64)


def _windows(xp: np.ndarray, pool: _Pool) -> np.ndarray:
    """A read-only view ``(N, C, OH, OW, kh, kw)`` of every pooling window of the padded input."""
    (sh, sw) = pool.stride
    return sliding_window_view(xp, pool.kernel, axis=(2, 3))[:, :, ::sh, ::sw]


def _add_windows(grad_windows: np.ndarray, pool: _Pool, dtype: np.dtype) -> np.ndarray:
    """Add each window's gradient ``(N, C, OH, OW, kh, kw)`` back onto the input it was read from.

    At one kernel offset (i, j) the windows touch distinct input cells, so a strided ``+=`` is
    safe; looping over the offsets accumulates the overlaps. Padding cells are dropped at the end.
    """
    n, c, oh, ow = grad_windows.shape[:4]
    (kh, kw), (sh, sw), (ph, pw) = pool.kernel, pool.stride, pool.padding
    h, w = pool.in_hw
    dxp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=sum_dtype(dtype))
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += grad_windows[..., i, j]
    return pool.unpad(dxp).reshape(pool.shape).astype(dtype, copy=False)


# ---------------------------------------------------------------- max pooling

def _max_pool(x, kernel_size, stride, padding, func: str, spatial: int) -> np.ndarray:
    x = _read_input(x, func, spatial)
    pool = _geometry(x, kernel_size, stride, padding, func, spatial)
    # Padding must never win a max: -inf for floats, the smallest value for integers.
    low = -np.inf if np.issubdtype(x.dtype, np.inexact) else np.iinfo(x.dtype).min
    out = _windows(pool.pad(pool.as_4d(x), low), pool).max(axis=(-2, -1))
    return out.reshape(pool.out_shape)


def _max_switches(x4: np.ndarray, pool: _Pool) -> np.ndarray:
    """One-hot ``(N, C, OH, OW, kh, kw)``: where each window's maximum sits (the "switch").

    Chosen exactly as torch chooses: the first maximum in row-major window order; but the last
    NaN, if the window holds one (NaN beats every number); and never a padding cell, so a window
    whose real cells are all -inf sends its gradient to its first real cell.
    """
    low = -np.inf if np.issubdtype(x4.dtype, np.inexact) else np.iinfo(x4.dtype).min
    windows = _windows(pool.pad(x4, low), pool)
    flat = windows.reshape(windows.shape[:4] + (-1,))
    switch = flat.argmax(axis=-1)   # the first maximum, or the first NaN
    # Rare windows need another look: those holding a NaN (torch takes the last one), and padded
    # ones whose maximum is the padding value itself (argmax may have picked a padding cell).
    nan = np.issubdtype(x4.dtype, np.inexact) and np.isnan(x4).any() and np.isnan(flat).any(axis=-1)
    if np.any(nan):
        switch[nan] = flat.shape[-1] - 1 - np.isnan(flat[nan])[..., ::-1].argmax(axis=-1)
    if pool.padding != (0, 0) and (x4 == low).any():
        real = _windows(pool.pad(np.ones((1, 1) + pool.in_hw, dtype=bool), False), pool)
        real = np.broadcast_to(real.reshape(real.shape[:4] + (-1,)), flat.shape)
        at_low = (flat.max(axis=-1) == low) & ~np.asarray(nan)
        switch[at_low] = ((flat[at_low] == low) & real[at_low]).argmax(axis=-1)
    return (np.arange(flat.shape[-1]) == switch[..., None]).reshape(windows.shape)


def _max_pool_backward(dout, x, kernel_size, stride, padding, func: str, spatial: int):
    x = _read_input(x, func, spatial)
    pool = _geometry(x, kernel_size, stride, padding, func, spatial)
    dout = _read_dout(dout, pool, func)
    switches = _max_switches(pool.as_4d(x), pool)
    dout4 = pool.as_4d(dout)[..., None, None]
    # A product would be 0 * NaN = NaN on every cell of a window whose dout is NaN: not there.
    grad_windows = switches * dout4 if np.isfinite(dout).all() else np.where(switches, dout4, 0)
    return _add_windows(grad_windows, pool, _grad_dtype(dout, x))


def max_pool2d(x, kernel_size, stride=None, padding: int | tuple[int, int] = 0) -> np.ndarray:
    """Max pooling over the last two axes of ``x``, as ``torch.nn.functional.max_pool2d``.

    ``x``: ``(N, C, H, W)`` or ``(C, H, W)``; returns ``(N, C, OH, OW)`` or ``(C, OH, OW)`` with
    ``OH = floor((H + 2*padding - kh) / stride) + 1`` (the same for OW). Each output is the largest
    value of its ``kh x kw`` window. Padding is never chosen, and must be at most half the kernel.
    Integer inputs give integer outputs.

    The lecture's example: a 4x4 map pooled with F=2, S=2 keeps the largest of each 2x2 block.

    >>> import numpy as np
    >>> x = np.array([[1, 3, 2, 1],
    ...               [2, 9, 1, 1],
    ...               [1, 3, 2, 3],
    ...               [5, 6, 1, 2]]).reshape(1, 1, 4, 4)
    >>> max_pool2d(x, kernel_size=2, stride=2)[0, 0]
    array([[9, 2],
           [6, 3]])
    """
    return _max_pool(x, kernel_size, stride, padding, "max_pool2d", spatial=2)


def max_pool2d_backward(dout, x, kernel_size, stride=None,
                        padding: int | tuple[int, int] = 0) -> np.ndarray:
    """Gradient of :func:`max_pool2d` with respect to ``x``; ``dout`` is shaped like its output.

    Only the maximum of each window (its "switch") influenced the output, so
    ``dx[a] = sum of dout[o] over the windows o whose first maximum is a``. Overlapping windows
    (F=3, S=2) can share a switch, and then their gradients add up. Returns ``x``'s shape.
    NaN and -inf go where torch sends them: to the window's last NaN; and a window of -inf (and
    padding) sends its gradient to its first real cell.

    >>> import numpy as np
    >>> x = np.array([[1., 3.], [4., 2.]]).reshape(1, 1, 2, 2)
    >>> max_pool2d_backward(np.array([[[[10.]]]]), x, kernel_size=2)[0, 0]
    array([[ 0.,  0.],
           [10.,  0.]])
    """
    return _max_pool_backward(dout, x, kernel_size, stride, padding, "max_pool2d_backward", 2)


def max_pool1d(x, kernel_size, stride=None, padding: int = 0) -> np.ndarray:
    """Max pooling of ``(N, C, L)`` or ``(C, L)`` along L, as ``torch.nn.functional.max_pool1d``.

    ``OL = floor((L + 2*padding - kernel_size) / stride) + 1``.

    >>> import numpy as np
    >>> max_pool1d(np.array([[1, 5, 2, 0, 3, 4]]), kernel_size=2)
    array([[5, 2, 4]])
    """
    return _max_pool(x, kernel_size, stride, padding, "max_pool1d", spatial=1)


def max_pool1d_backward(dout, x, kernel_size, stride=None, padding: int = 0) -> np.ndarray:
    """Gradient of :func:`max_pool1d` with respect to ``x`` (routed to each window's maximum)."""
    return _max_pool_backward(dout, x, kernel_size, stride, padding, "max_pool1d_backward", 1)


# ---------------------------------------------------------------- average pooling

def _divisor(pool: _Pool, count_include_pad: bool) -> np.ndarray | int:
    """How many cells each window averages: the whole window, or only its real (unpadded) cells."""
    (kh, kw) = pool.kernel
    if count_include_pad or pool.padding == (0, 0):
        return kh * kw
    real = pool.pad(np.ones((1, 1) + pool.in_hw), 0)
    return _windows(real, pool).sum(axis=(-2, -1))


def _avg_pool(x, kernel_size, stride, padding, count_include_pad, func, spatial) -> np.ndarray:
    x = _read_input(x, func, spatial)
    pool = _geometry(x, kernel_size, stride, padding, func, spatial)
    count_include_pad = check_bool(count_include_pad, "count_include_pad", func)
    x4 = pool.as_4d(x if np.issubdtype(x.dtype, np.inexact) else x.astype(np.float64))
    sums = _windows(pool.pad(x4, 0), pool).sum(axis=(-2, -1), dtype=sum_dtype(x4.dtype))
    return (sums / _divisor(pool, count_include_pad)).astype(x4.dtype).reshape(pool.out_shape)


def _avg_pool_backward(dout, x, kernel_size, stride, padding, count_include_pad, func, spatial):
    x = _read_input(x, func, spatial)
    pool = _geometry(x, kernel_size, stride, padding, func, spatial)
    count_include_pad = check_bool(count_include_pad, "count_include_pad", func)
    dout = _read_dout(dout, pool, func)
    dtype = _grad_dtype(dout, x)
    # Every cell of a window gets the same share of that window's gradient.
    share = pool.as_4d(dout).astype(dtype) / _divisor(pool, count_include_pad)
    grad_windows = np.broadcast_to(share[..., None, None], share.shape + pool.kernel)
    return _add_windows(grad_windows, pool, dtype)


def avg_pool2d(x, kernel_size, stride=None, padding: int | tuple[int, int] = 0,
               count_include_pad: bool = True) -> np.ndarray:
    """Average pooling over the last two axes, as ``torch.nn.functional.avg_pool2d``.

    Shapes and output size as in :func:`max_pool2d`. Each output is the mean of its window;
    padding counts as zeros. With ``count_include_pad=True`` (torch's default) every window is
    divided by ``kh * kw``; with ``False`` only by its number of real cells. Unlike torch, integer
    inputs give float64 means instead of rounding them.

    >>> import numpy as np
    >>> x = np.array([[1, 3, 2, 1],
    ...               [2, 9, 1, 1],
    ...               [1, 3, 2, 3],
    ...               [5, 6, 1, 2]]).reshape(1, 4, 4)
    >>> avg_pool2d(x, kernel_size=2)[0]
    array([[3.75, 1.25],
           [3.75, 2.  ]])
    """
    return _avg_pool(x, kernel_size, stride, padding, count_include_pad, "avg_pool2d", 2)


def avg_pool2d_backward(dout, x, kernel_size, stride=None, padding: int | tuple[int, int] = 0,
                        count_include_pad: bool = True) -> np.ndarray:
    """Gradient of :func:`avg_pool2d` with respect to ``x``.

    Each window hands ``dout / divisor`` to every one of its cells; overlapping windows add up.
    """
    return _avg_pool_backward(dout, x, kernel_size, stride, padding, count_include_pad,
                              "avg_pool2d_backward", 2)


def avg_pool1d(x, kernel_size, stride=None, padding: int = 0,
               count_include_pad: bool = True) -> np.ndarray:
    """Average pooling of ``(N, C, L)`` or ``(C, L)`` along L, as ``F.avg_pool1d`` in torch.

    >>> import numpy as np
    >>> avg_pool1d(np.array([[1., 5., 2., 0.]]), kernel_size=2)
    array([[3., 1.]])
    """
    return _avg_pool(x, kernel_size, stride, padding, count_include_pad, "avg_pool1d", 1)


def avg_pool1d_backward(dout, x, kernel_size, stride=None, padding: int = 0,
                        count_include_pad: bool = True) -> np.ndarray:
    """Gradient of :func:`avg_pool1d` with respect to ``x``."""
    return _avg_pool_backward(dout, x, kernel_size, stride, padding, count_include_pad,
                              "avg_pool1d_backward", 1)


# ---------------------------------------------------------------- Lp pooling

def _float_input(x, func: str) -> tuple[np.ndarray, np.dtype]:
    """Floats as they are (float16 as float32: x**p overflows it), integers as float64; and the
    dtype of the result."""
    x = _read_input(x, func, 2)
    return x.astype(sum_dtype(_grad_dtype(x))), _grad_dtype(x)


def lp_pool2d(x, p: float, kernel_size, stride=None) -> np.ndarray:
    """Power-average pooling, as ``torch.nn.functional.lp_pool2d``: ``(sum of x**p) ** (1/p)``.

    ``p=2`` is the lecture's L2 pooling (the Euclidean norm of each window), ``p=1`` sums the
    window, and ``p=inf`` takes the largest ``|x|``. There is no padding. The formula is applied
    literally, as torch does: no absolute value is taken, so negative inputs give NaN wherever a
    real power is undefined (``x**2.5`` for ``x < 0``, or a negative sum with ``p=3``), and with
    ``p=1`` a window may sum to a negative number. Shapes as in :func:`max_pool2d`.

    >>> import numpy as np
    >>> lp_pool2d(np.array([[[3., 0.], [0., 4.]]]), p=2, kernel_size=2)
    array([[[5.]]])
    """
    func = "lp_pool2d"
    x, dtype = _float_input(x, func)
    p = check_positive_number(p, "p", func)
    pool = _geometry(x, kernel_size, stride, 0, func, spatial=2)
    if p == np.inf:
        return _max_pool(np.abs(x), kernel_size, stride, 0, func, 2).astype(dtype)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN where x**p is undefined, as in torch
        sums = _windows(pool.as_4d(x) ** p, pool).sum(axis=(-2, -1))
        return (sums ** (1 / p)).astype(dtype).reshape(pool.out_shape)


def lp_pool2d_backward(dout, x, p: float, kernel_size, stride=None) -> np.ndarray:
    """Gradient of :func:`lp_pool2d` with respect to ``x``.

    With ``S`` the window's sum of ``x**p``, each of its cells gets
    ``dout * S**(1/p - 1) * x**(p - 1)``; a window with ``S == 0`` passes no gradient (torch's
    rule), one with ``S`` NaN passes NaN. For ``p=inf`` the gradient goes to the largest ``|x|``
    with the sign of that ``x``.
    """
    func = "lp_pool2d_backward"
    x, dtype = _float_input(x, func)
    p = check_positive_number(p, "p", func)
    pool = _geometry(x, kernel_size, stride, 0, func, spatial=2)
    dout = _read_dout(dout, pool, func)
    dtype = _grad_dtype(dout, np.empty(0, dtype))
    if p == np.inf:
        grad = np.sign(x) * _max_pool_backward(dout, np.abs(x), kernel_size, stride, 0, func, 2)
        return grad.astype(dtype)
    x4 = pool.as_4d(x).astype(sum_dtype(dtype))  # in the gradient's precision (float64 dout)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        sums = _windows(x4 ** p, pool).sum(axis=(-2, -1))
        scale = np.where(sums == 0, 0.0, pool.as_4d(dout) * sums ** (1 / p - 1))
        scale = np.where(np.isnan(sums), np.nan, scale)  # NaN ** 0 is 1: keep a NaN window NaN
        grad_windows = scale[..., None, None] * _windows(x4, pool) ** (p - 1)
    return _add_windows(grad_windows, pool, dtype)


# ---------------------------------------------------------------- pooling across channels

def max_pool_channels(x, group_size: int) -> np.ndarray:
    """Max over groups of ``g = group_size`` adjacent channels: ``(N, C, ...) -> (N, C/g, ...)``.

    The lecture's "pooling across channels": if several filters detect the same pattern in
    different poses, the max over them responds whichever pose appears. Output channel ``k`` is
    the max of input channels ``k*g ... k*g + g - 1`` at each position. ``C`` must divide by ``g``.

    >>> import numpy as np
    >>> max_pool_channels(np.array([[1, 7, 4, 2]]), group_size=2)  # (N=1, C=4) -> (1, 2)
    array([[7, 4]])
    """
    func = "max_pool_channels"
    x = to_numeric_array(x, "x", func, ndim=range(2, 6), what="(N, C, ...) batch")
    check_real(x, "x", func)
    g = check_int(group_size, "group_size", func, minimum=1)
    n, c = x.shape[:2]
    if c % g:
        raise ValueError(f"{func}: argument 'group_size' must divide the {c} channels of 'x' "
                         f"(shape {tuple(x.shape)}), got group_size={g}.")
    return x.reshape((n, c // g, g) + x.shape[2:]).max(axis=2)
