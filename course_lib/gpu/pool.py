"""Pooling in torch: the functions of :mod:`course_lib.pool`, on tensors, on any device.

Same names, same arguments, same checks and messages as the NumPy side; tensors stay on the
device they came from, and autograd flows through every forward pass. Import them from
:mod:`course_lib.gpu`.

How the code works, in the lecture's words:

- ``Tensor.unfold`` (twice) gives a *view* of every pooling window at once,
  ``(N, C, OH, OW, kh, kw)``, without copying: the same picture as NumPy's sliding windows.
- The forward pass reduces each window: its first maximum, its mean, or its power sum.
- A backward pass writes the gradient of every window entry in that same layout and hands it to
  ``col2im`` (``F.fold``), which adds each window back onto the cells it was read from; windows
  that overlap (F=3, S=2) add up there.

Along each spatial dimension of size n::

    out = floor((n + 2 * padding - kernel_size) / stride) + 1
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from course_lib._checks import (check_bool, check_int, check_positive_number, check_real, check_shape,
                                sum_dtype)
from course_lib.gpu.conv_layer import _col2im, _float_dtype, _same_device
from course_lib.gpu.conv_layer import _read_tensor as _read_any_tensor
from course_lib.pool import _LAYOUT, _Pool, _check_windows, _geometry

__all__ = ["max_pool2d", "avg_pool2d", "lp_pool2d", "max_pool1d", "avg_pool1d",
           "max_pool2d_backward", "avg_pool2d_backward", "lp_pool2d_backward",
           "max_pool1d_backward", "avg_pool1d_backward", "max_pool_channels"]

# The pooling geometry (kernel, stride, padding, output shape) is the NumPy side's own: one
# source of truth for the shape rules and their checks. Only how windows are read and written
# back differs on tensors.
def _windows(pool: _Pool, x4: torch.Tensor, pad_value: float | int = 0) -> torch.Tensor:
    """Every window of the padded input as a view ``(N, C, OH, OW, kh, kw)``."""
    (ph, pw), (kh, kw), (sh, sw) = pool.padding, pool.kernel, pool.stride
    if ph or pw:
        x4 = F.pad(x4, (pw, pw, ph, ph), value=pad_value)
    return x4.unfold(2, kh, sh).unfold(3, kw, sw)


def _add_windows(pool: _Pool, grad_windows: torch.Tensor) -> torch.Tensor:
    """Add each window's gradient ``(N, C, OH, OW, kh, kw)`` back onto the cells it was read
    from, and drop the padding: that is ``col2im`` on the window layout."""
    n, c, oh, ow, kh, kw = grad_windows.shape
    cols = grad_windows.permute(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, oh * ow)
    pads = tuple((p, p) for p in pool.padding)
    dx4 = _col2im(cols.to(sum_dtype(cols.dtype)), pool.in_hw, pool.kernel, pool.stride, pads, (1, 1))
    return dx4.reshape(pool.shape).to(grad_windows.dtype)


def _read_tensor(t, name: str, func: str, ndim=None, what: str = "array") -> torch.Tensor:
    return _read_any_tensor(t, name, func, "course_lib.pool", ndim=ndim, what=what)


def _read_input(x, func: str, spatial: int) -> torch.Tensor:
    ndim, what = _LAYOUT[spatial]
    x = _read_tensor(x, "x", func, ndim=ndim, what=what)
    check_real(x, "x", func)
    return x


def _read_dout(dout, x: torch.Tensor, pool: _Pool, func: str) -> torch.Tensor:
    dout = _read_tensor(dout, "dout", func)
    check_shape(dout, pool.out_shape, "dout", func, why="the shape of the forward output")
    _same_device(func, dout=dout, x=x)
    check_real(dout, "dout", func)
    _check_windows(pool, func)
    return dout



def _grad_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """Gradients are floats: keep the inputs' float width; integer inputs get float64."""
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype if dtype.is_floating_point else _float_dtype(tensors[0].device)


def _as_float(x: torch.Tensor) -> torch.Tensor:
    return x if x.is_floating_point() else x.to(_float_dtype(x.device))


# ---------------------------------------------------------------- max pooling

def _lowest(dtype: torch.dtype) -> float | int:
    """Padding must never win a max: -inf for floats, the smallest value for integers."""
    return -math.inf if dtype.is_floating_point else torch.iinfo(dtype).min


def _first(mask: torch.Tensor) -> torch.Tensor:
    """Index of the first True along the last axis (``argmax`` returns the first maximum)."""
    return mask.to(torch.uint8).argmax(dim=-1, keepdim=True)


def _first_max(pool: _Pool, windows: torch.Tensor, func: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The maximum of each window and where it sits (its "switch"), ``(N, C, OH, OW, 1)``.

    Chosen as ``F.max_pool2d`` chooses: the first maximum in row-major window order; but the last
    NaN, if the window holds one; and never a padding cell, so a window whose real cells are all
    -inf sends its gradient to its first real cell. Picking the value with ``gather`` (rather than
    ``amax``, which shares the gradient among ties) makes autograd route the whole gradient to
    that switch, exactly as ``F.max_pool2d`` does.
    """
    _check_windows(pool, func)  # the reshape below copies every window
    flat = windows.reshape(windows.shape[:4] + (-1,))
    data = flat.detach()
    switch = data.argmax(dim=-1, keepdim=True)  # the first maximum, or the first NaN
    chosen = data.gather(-1, switch)
    cpu = data.device.type == "cpu"  # there, skipping the rare cases costs no device sync
    if data.is_floating_point() and (not cpu or bool(chosen.isnan().any())):
        nan = data.isnan()
        switch = torch.where(chosen.isnan(), nan.shape[-1] - 1 - _first(nan.flip(-1)), switch)
    low = _lowest(data.dtype)
    if pool.padding != (0, 0) and (not cpu or bool((chosen == low).any())):
        real = _windows(pool, torch.ones((1, 1) + pool.in_hw, dtype=torch.uint8, device=data.device), 0)
        real = real.reshape(real.shape[:4] + (-1,)).bool()
        switch = torch.where(chosen == low, _first((data == low) & real), switch)
    return flat.gather(-1, switch), switch


def _max_pool(x, kernel_size, stride, padding, func: str, spatial: int) -> torch.Tensor:
    x = _read_input(x, func, spatial)
    pool = _geometry(x, kernel_size, stride, padding, func, spatial)
    best, _ = _first_max(pool, _windows(pool, pool.as_4d(x), _lowest(x.dtype)), func)
    return best.reshape(pool.out_shape)


def _max_pool_backward(dout, x, kernel_size, stride, padding, func: str, spatial: int):
    x = _read_input(x, func, spatial)
    pool = _geometry(x, kernel_size, stride, padding, func, spatial)
    dout = _read_dout(dout, x, pool, func)
    windows = _windows(pool, pool.as_4d(x), _lowest(x.dtype))
    _, switch = _first_max(pool, windows, func)
    # Each window's gradient goes, whole, to its switch; every other cell of the window gets 0.
    grad_flat = torch.zeros(windows.shape[:4] + (windows.shape[4] * windows.shape[5],),
                            dtype=_grad_dtype(dout, x), device=x.device)
    grad_flat.scatter_(-1, switch, pool.as_4d(dout).unsqueeze(-1).to(grad_flat.dtype))
    return _add_windows(pool, grad_flat.reshape(windows.shape))


def max_pool2d(x: torch.Tensor, kernel_size, stride=None,
               padding: int | tuple[int, int] = 0) -> torch.Tensor:
    """Max pooling over the last two axes of ``x``, as ``torch.nn.functional.max_pool2d``.

    ``x``: ``(N, C, H, W)`` or ``(C, H, W)``; returns ``(N, C, OH, OW)`` or ``(C, OH, OW)`` with
    ``OH = floor((H + 2*padding - kh) / stride) + 1`` (the same for OW). Each output is the largest
    value of its ``kh x kw`` window. Padding is never chosen, and must be at most half the kernel.
    Integer tensors give integer outputs.

    The lecture's example: a 4x4 map pooled with F=2, S=2 keeps the largest of each 2x2 block.

    >>> import torch
    >>> x = torch.tensor([[1, 3, 2, 1],
    ...                   [2, 9, 1, 1],
    ...                   [1, 3, 2, 3],
    ...                   [5, 6, 1, 2]]).reshape(1, 1, 4, 4)
    >>> max_pool2d(x, kernel_size=2, stride=2)[0, 0]
    tensor([[9, 2],
            [6, 3]])
    """
    return _max_pool(x, kernel_size, stride, padding, "max_pool2d", spatial=2)


def max_pool2d_backward(dout: torch.Tensor, x: torch.Tensor, kernel_size, stride=None,
                        padding: int | tuple[int, int] = 0) -> torch.Tensor:
    """Gradient of :func:`max_pool2d` with respect to ``x``; ``dout`` is shaped like its output.

    Only the maximum of each window (its "switch") influenced the output, so
    ``dx[a] = sum of dout[o] over the windows o whose first maximum is a``. Overlapping windows
    (F=3, S=2) can share a switch, and then their gradients add up. Returns ``x``'s shape.

    >>> import torch
    >>> x = torch.tensor([[1., 3.], [4., 2.]]).reshape(1, 1, 2, 2)
    >>> max_pool2d_backward(torch.tensor([[[[10.]]]]), x, kernel_size=2)[0, 0]
    tensor([[ 0.,  0.],
            [10.,  0.]])
    """
    return _max_pool_backward(dout, x, kernel_size, stride, padding, "max_pool2d_backward", 2)


def max_pool1d(x: torch.Tensor, kernel_size, stride=None, padding: int = 0) -> torch.Tensor:
    """Max pooling of ``(N, C, L)`` or ``(C, L)`` along L, as ``torch.nn.functional.max_pool1d``.

    ``OL = floor((L + 2*padding - kernel_size) / stride) + 1``.

    >>> import torch
    >>> max_pool1d(torch.tensor([[1, 5, 2, 0, 3, 4]]), kernel_size=2)
    tensor([[5, 2, 4]])
    """
    return _max_pool(x, kernel_size, stride, padding, "max_pool1d", spatial=1)


def max_pool1d_backward(dout: torch.Tensor, x: torch.Tensor, kernel_size, stride=None,
                        padding: int = 0) -> torch.Tensor:
    """Gradient of :func:`max_pool1d` with respect to ``x`` (routed to each window's maximum)."""
    return _max_pool_backward(dout, x, kernel_size, stride, padding, "max_pool1d_backward", 1)


# ---------------------------------------------------------------- average pooling

def _divisor(pool: _Pool, count_include_pad: bool, like: torch.Tensor) -> torch.Tensor | int:
    """How many cells each window averages: the whole window, or only its real (unpadded) cells."""
    (kh, kw) = pool.kernel
    if count_include_pad or pool.padding == (0, 0):
        return kh * kw
    real = torch.ones((1, 1) + pool.in_hw, dtype=like.dtype, device=like.device)
    return _windows(pool, real, 0).sum(dim=(-2, -1))


def _avg_pool(x, kernel_size, stride, padding, count_include_pad, func, spatial) -> torch.Tensor:
    x = _read_input(x, func, spatial)
    pool = _geometry(x, kernel_size, stride, padding, func, spatial)
    count_include_pad = check_bool(count_include_pad, "count_include_pad", func)
    x4 = pool.as_4d(_as_float(x))
    sums = _windows(pool, x4.to(sum_dtype(x4.dtype)), 0).sum(dim=(-2, -1))
    return (sums / _divisor(pool, count_include_pad, sums)).to(x4.dtype).reshape(pool.out_shape)


def _avg_pool_backward(dout, x, kernel_size, stride, padding, count_include_pad, func, spatial):
    x = _read_input(x, func, spatial)
    pool = _geometry(x, kernel_size, stride, padding, func, spatial)
    count_include_pad = check_bool(count_include_pad, "count_include_pad", func)
    dout = _read_dout(dout, x, pool, func)
    dout4 = pool.as_4d(dout.to(_grad_dtype(dout, x)))
    # Every cell of a window gets the same share of that window's gradient.
    share = dout4 / _divisor(pool, count_include_pad, dout4)
    return _add_windows(pool, share[..., None, None].expand(share.shape + pool.kernel))


def avg_pool2d(x: torch.Tensor, kernel_size, stride=None, padding: int | tuple[int, int] = 0,
               count_include_pad: bool = True) -> torch.Tensor:
    """Average pooling over the last two axes, as ``torch.nn.functional.avg_pool2d``.

    Shapes and output size as in :func:`max_pool2d`. Each output is the mean of its window;
    padding counts as zeros. With ``count_include_pad=True`` (torch's default) every window is
    divided by ``kh * kw``; with ``False`` only by its number of real cells. Unlike torch, integer
    tensors give float64 means (float32 on MPS, which has no float64) instead of rounding them.

    >>> import torch
    >>> x = torch.tensor([[1, 3, 2, 1],
    ...                   [2, 9, 1, 1],
    ...                   [1, 3, 2, 3],
    ...                   [5, 6, 1, 2]]).reshape(1, 4, 4)
    >>> avg_pool2d(x, kernel_size=2)[0]
    tensor([[3.7500, 1.2500],
            [3.7500, 2.0000]], dtype=torch.float64)
    """
    return _avg_pool(x, kernel_size, stride, padding, count_include_pad, "avg_pool2d", 2)


def avg_pool2d_backward(dout: torch.Tensor, x: torch.Tensor, kernel_size, stride=None,
                        padding: int | tuple[int, int] = 0,
                        count_include_pad: bool = True) -> torch.Tensor:
    """Gradient of :func:`avg_pool2d` with respect to ``x``.

    Each window hands ``dout / divisor`` to every one of its cells; overlapping windows add up.
    """
    return _avg_pool_backward(dout, x, kernel_size, stride, padding, count_include_pad,
                              "avg_pool2d_backward", 2)


def avg_pool1d(x: torch.Tensor, kernel_size, stride=None, padding: int = 0,
               count_include_pad: bool = True) -> torch.Tensor:
    """Average pooling of ``(N, C, L)`` or ``(C, L)`` along L, as ``F.avg_pool1d``.

    >>> import torch
    >>> avg_pool1d(torch.tensor([[1., 5., 2., 0.]]), kernel_size=2)
    tensor([[3., 1.]])
    """
    return _avg_pool(x, kernel_size, stride, padding, count_include_pad, "avg_pool1d", 1)


def avg_pool1d_backward(dout: torch.Tensor, x: torch.Tensor, kernel_size, stride=None,
                        padding: int = 0, count_include_pad: bool = True) -> torch.Tensor:
    """Gradient of :func:`avg_pool1d` with respect to ``x``."""
    return _avg_pool_backward(dout, x, kernel_size, stride, padding, count_include_pad,
                              "avg_pool1d_backward", 1)


# ---------------------------------------------------------------- Lp pooling

def _float_input(x, func: str) -> torch.Tensor:
    return _as_float(_read_input(x, func, 2))


def lp_pool2d(x: torch.Tensor, p: float, kernel_size, stride=None) -> torch.Tensor:
    """Power-average pooling, as ``torch.nn.functional.lp_pool2d``: ``(sum of x**p) ** (1/p)``.

    ``p=2`` is the lecture's L2 pooling (the Euclidean norm of each window), ``p=1`` sums the
    window, and ``p=inf`` takes the largest ``|x|``. There is no padding. The formula is applied
    literally, as torch does: negative inputs give NaN wherever a real power is undefined.
    A window of zeros gives 0 and passes no gradient back (torch's rule). Shapes as in
    :func:`max_pool2d`; integer tensors give float64.

    >>> import torch
    >>> lp_pool2d(torch.tensor([[[3., 0.], [0., 4.]]]), p=2, kernel_size=2)
    tensor([[[5.]]])
    """
    func = "lp_pool2d"
    x = _float_input(x, func)
    p = check_positive_number(p, "p", func)
    pool = _geometry(x, kernel_size, stride, 0, func, spatial=2)
    if p == math.inf:
        return _max_pool(x.abs(), kernel_size, stride, 0, func, 2)
    sums = _windows(pool, pool.as_4d(x.to(sum_dtype(x.dtype))) ** p).sum(dim=(-2, -1))
    # sums ** (1/p) has an infinite slope at 0; stepping around it keeps gradients finite (0 there).
    zero = sums == 0
    root = torch.where(zero, torch.ones_like(sums), sums) ** (1 / p)
    return torch.where(zero, torch.zeros_like(root), root).to(x.dtype).reshape(pool.out_shape)


def lp_pool2d_backward(dout: torch.Tensor, x: torch.Tensor, p: float, kernel_size,
                       stride=None) -> torch.Tensor:
    """Gradient of :func:`lp_pool2d` with respect to ``x``.

    With ``S`` the window's sum of ``x**p``, each of its cells gets
    ``dout * S**(1/p - 1) * x**(p - 1)``; a window with ``S == 0`` passes no gradient (torch's
    rule), one with ``S`` NaN passes NaN. For ``p=inf`` the gradient goes to the largest ``|x|``
    with the sign of that ``x``.
    """
    func = "lp_pool2d_backward"
    x = _float_input(x, func)
    p = check_positive_number(p, "p", func)
    pool = _geometry(x, kernel_size, stride, 0, func, spatial=2)
    dout = _read_dout(dout, x, pool, func)
    if p == math.inf:
        return torch.sign(x) * _max_pool_backward(dout, x.abs(), kernel_size, stride, 0, func, 2)
    dtype = _grad_dtype(dout, x)
    windows = _windows(pool, pool.as_4d(x.to(sum_dtype(dtype))))  # in the gradient's precision
    sums = (windows ** p).sum(dim=(-2, -1))
    dout4 = pool.as_4d(dout.to(sum_dtype(dtype)))
    scale = torch.where(sums == 0, torch.zeros_like(sums), dout4 * sums ** (1 / p - 1))
    scale = torch.where(sums.isnan(), sums, scale)  # NaN ** 0 is 1: keep a NaN window NaN
    return _add_windows(pool, scale[..., None, None] * windows ** (p - 1)).to(dtype)


# ---------------------------------------------------------------- pooling across channels

def max_pool_channels(x: torch.Tensor, group_size: int) -> torch.Tensor:
    """Max over groups of ``group_size`` channels (maxout): (N, C, ...) -> (N, C/g, ...).

    The lecture's "pooling across channels": if several filters detect the same pattern in
    different poses, the max over them responds whichever pose appears. Output channel ``k`` is
    the max of input channels ``k*g ... k*g + g - 1`` at each position. ``C`` must divide by ``g``.

    >>> import torch
    >>> max_pool_channels(torch.tensor([[1, 7, 4, 2]]), group_size=2)  # (N=1, C=4) -> (1, 2)
    tensor([[7, 4]])
    """
    func = "max_pool_channels"
    x = _read_tensor(x, "x", func, ndim=range(2, 6), what="(N, C, ...) batch")
    check_real(x, "x", func)
    g = check_int(group_size, "group_size", func, minimum=1)
    n, c = x.shape[:2]
    if c % g:
        raise ValueError(f"{func}: argument 'group_size' must divide the {c} channels of 'x' "
                         f"(shape {tuple(x.shape)}), got group_size={g}.")
    return x.reshape((n, c // g, g) + tuple(x.shape[2:])).amax(dim=2)
