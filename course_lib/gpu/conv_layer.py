"""The convolution layer in torch: im2col (``F.unfold``), one matrix product, col2im (``F.fold``).

The functions of :mod:`course_lib.conv.layer`, on tensors, on whatever device they live on;
import them from :mod:`course_lib.gpu`. A layer computes a batched cross-correlation, exactly
as ``torch.nn.functional.conv2d``::

    out[n, o, y, x] = bias[o] + sum_(c, i, j) weight[o, c, i, j]
                                              * xpad[n, g*C_g + c, y*sH + i*dH, x*sW + j*dW]

``F.unfold`` gathers every window into a column, so the layer is one (batched) matrix product
``weight (C_out/g, C_g*kH*kW) @ columns (C_g*kH*kW, H_out*W_out)`` per group; the backward pass
is two more products and ``F.fold``, which adds the columns back where they came from.
Autograd flows through the forward pass too, so ``loss.backward()`` works as usual.

Integers are summed in int64 and come back exact, as on the NumPy side; float16 and bfloat16 are
summed in float32 and given back in their own type, as ``F.conv2d`` does. ``F.unfold`` and
``F.fold`` exist only for floating types, so integer tensors take the same windows with
``Tensor.unfold`` and add them back one kernel offset at a time; CUDA has no integer matrix
product, see :func:`_matmul`.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from course_lib._checks import (check_array, check_groups, check_int, check_kernel_fits,
                                check_multiple, check_shape, check_size, check_tensor, check_tuple,
                                exact_dtype, sum_dtype)
from course_lib.conv.layer import _output_shape, _resolve_padding, _unfold_arguments, conv_output_size

__all__ = ["conv_output_size", "im2col", "col2im", "conv2d_layer", "conv2d_layer_backward",
           "conv1d_layer", "conv1d_layer_backward"]

Pads = tuple[tuple[int, int], ...]  # (before, after) zero padding per spatial axis


# --- shared by every gpu module: reading tensors, dtypes, exact products -------------------------

def _read_tensor(t, name: str, func: str, numpy_module: str, ndim=None,
                 what: str = "array") -> torch.Tensor:
    """A torch tensor with numbers, of the right rank and not empty (the NumPy side's checks)."""
    check_tensor(t, name, func, numpy_module)
    check_array(t, name, func, ndim=ndim, what=what)
    return t


def _same_device(func: str, **tensors: torch.Tensor | None) -> None:
    """Every tensor argument must live on one device: we never move data behind your back."""
    placed = [(name, t.device) for name, t in tensors.items() if t is not None]
    for name, device in placed[1:]:
        if device != placed[0][1]:
            raise ValueError(f"{func}: arguments '{placed[0][0]}' and '{name}' must be on the same "
                             f"device, got {placed[0][1]} and {device}. Move one with .to(...).")


def _common_dtype(*tensors: torch.Tensor | None) -> torch.dtype:
    """torch's type promotion over the tensors: integers stay integers, float32 stays float32."""
    present = [t for t in tensors if t is not None]
    dtype = present[0].dtype
    for t in present[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def _no_uint64(t: torch.Tensor, name: str, func: str) -> None:
    if t.dtype == torch.uint64:  # int64 would wrap values >= 2**63; torch has no uint64 matmul
        raise TypeError(f"{func}: argument '{name}' has dtype torch.uint64, which torch cannot "
                        f"multiply; convert it with .to(torch.int64) (values below 2**63) or "
                        f".double(), or call course_lib.conv.{func}, which takes NumPy arrays.")


def _float_dtype(device: torch.device) -> torch.dtype:
    """The float type for integer inputs: float64, or float32 on MPS (which has no float64)."""
    return torch.float32 if device.type == "mps" else torch.float64


def _matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` (one dtype, broadcasting like ``torch.matmul``), exact for integers everywhere.

    CPU has integer matrix products; CUDA and MPS have them only for floating types, so integer
    tensors there go through :func:`_integer_matmul_without_blas`.
    """
    if a.is_floating_point() or a.is_complex() or a.device.type == "cpu":
        return a @ b
    return _integer_matmul_without_blas(a, b)


def _integer_matmul_without_blas(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact integer ``a @ b`` without an integer matmul kernel.

    float64 represents every integer up to 2**53 exactly, so if ``K * max|a| * max|b|`` (a bound on
    every partial sum) stays below it, one float64 product is exact. Otherwise (or on MPS, which
    has no float64) multiply entry by entry and sum: exact, but it holds all K products in memory.
    """
    def largest(t: torch.Tensor) -> int:
        return max(abs(int(t.max())), abs(int(t.min())))

    bound = a.shape[-1] * largest(a) * largest(b)
    if a.device.type != "mps" and bound < 2 ** 53:
        return (a.double() @ b.double()).to(a.dtype)
    if b.ndim == 1:
        return (a * b).sum(dim=-1).to(a.dtype)
    return (a.unsqueeze(-1) * b.unsqueeze(-3)).sum(dim=-2).to(a.dtype)


# --- the two index gathers: windows to columns, and columns back to the image --------------------

def _pad(x: torch.Tensor, pads: Pads) -> torch.Tensor:
    if not any(before or after for before, after in pads):
        return x
    # F.pad lists the last axis first.
    return F.pad(x, [p for before_after in reversed(pads) for p in before_after])


def _columns(xpad: torch.Tensor, kernel: Sequence[int], stride: Sequence[int],
             dilation: Sequence[int]) -> torch.Tensor:
    """im2col of an already padded (N, C, H, W) batch: (N, C*kH*kW, L), ``F.unfold``'s layout."""
    if xpad.is_floating_point() or xpad.is_complex():
        return F.unfold(xpad, kernel, dilation=dilation, stride=stride)
    # Integers: a window spans d(k - 1) + 1 cells, of which every d-th one is read.
    (kh, kw), (dh, dw), (sh, sw) = kernel, dilation, stride
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    windows = xpad.unfold(2, span_h, sh).unfold(3, span_w, sw)[..., ::dh, ::dw]
    n, c, oh, ow = windows.shape[:4]
    return windows.permute(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, oh * ow)


def _col2im(cols: torch.Tensor, size: Sequence[int], kernel: Sequence[int],
            stride: Sequence[int], pads: Pads, dilation: Sequence[int]) -> torch.Tensor:
    """Add columns (N, C*kH*kW, L) back onto an (N, C, H, W) image and drop the padding."""
    (kh, kw), (dh, dw), (sh, sw) = kernel, dilation, stride
    padded_hw = tuple(n + before + after for n, (before, after) in zip(size, pads))
    if cols.is_floating_point() or cols.is_complex():
        image = F.fold(cols, padded_hw, kernel, dilation=dilation, stride=stride)
    else:  # Integers: one vectorised add per kernel offset (i, j); overlapping windows sum up.
        n, oh, ow = cols.shape[0], *_output_shape(size, kernel, stride, pads, dilation)
        blocks = cols.reshape(n, -1, kh, kw, oh, ow)
        image = cols.new_zeros((n, blocks.shape[1]) + padded_hw)
        for i in range(kh):
            for j in range(kw):
                image[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                      j * dw:j * dw + sw * (ow - 1) + 1:sw] += blocks[:, :, i, j]
    (top, _), (left, _) = pads
    return image[:, :, top:top + size[0], left:left + size[1]]


def im2col(x: torch.Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] = 1,
           padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1) -> torch.Tensor:
    """Unfold every kernel-sized window of a batch into a column (``torch.nn.functional.unfold``).

    Args:
        x: (N, C, H, W) tensor.
        kernel_size, stride, padding, dilation: ints or (height, width) pairs.

    Returns:
        (N, C*kH*kW, L) with L = H_out * W_out; row ``c*kH*kW + i*kW + j`` holds kernel offset
        (i, j) of channel c, column ``y*W_out + x`` the window at output position (y, x).

    >>> im2col(torch.arange(9).reshape(1, 1, 3, 3), 2)[0]
    tensor([[0, 1, 3, 4],
            [1, 2, 4, 5],
            [3, 4, 6, 7],
            [4, 5, 7, 8]])
    """
    func = "im2col"
    x = _read_tensor(x, "x", func, "course_lib.conv", ndim=4, what="(N, C, H, W) batch")
    kernel, stride, padding, dilation = _unfold_arguments(func, kernel_size, stride, padding, dilation)
    check_kernel_fits(tuple(x.shape[2:]), kernel, padding, func, name="x", dilation=dilation)
    pads = tuple((p, p) for p in padding)
    out_hw = _output_shape(tuple(x.shape[2:]), kernel, stride, pads, dilation)
    check_size(x.shape[0] * x.shape[1] * math.prod(kernel) * math.prod(out_hw), 8, "x", func, "the columns")
    return _columns(_pad(x, pads), kernel, stride, dilation)


def col2im(cols: torch.Tensor, output_size: int | Sequence[int], kernel_size: int | Sequence[int],
           stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
           dilation: int | Sequence[int] = 1) -> torch.Tensor:
    """Fold columns back into a batch, summing where windows overlap (``torch.nn.functional.fold``).

    Args:
        cols: (N, C*kH*kW, L), laid out as :func:`im2col` returns it.
        output_size: (H, W) of the image, before padding.
        kernel_size, stride, padding, dilation: ints or pairs, as given to :func:`im2col`.

    Returns:
        (N, C, H, W). ``col2im`` is the adjoint (transpose) of ``im2col``, not its inverse:
        a pixel covered by m windows receives the sum of its m copies.

    >>> col2im(torch.ones(1, 4, 4), 3, 2)[0, 0]
    tensor([[1., 2., 1.],
            [2., 4., 2.],
            [1., 2., 1.]])
    """
    func = "col2im"
    cols = _read_tensor(cols, "cols", func, "course_lib.conv", ndim=3,
                        what="(N, C*kH*kW, L) array of columns")
    size = check_tuple(output_size, "output_size", func, 2, 1)
    kernel, stride, padding, dilation = _unfold_arguments(func, kernel_size, stride, padding, dilation)
    check_kernel_fits(size, kernel, padding, func, name="output_size", dilation=dilation)
    check_multiple(cols.shape[1], kernel[0] * kernel[1], "cols", func, "shape[1] (C*kH*kW)")
    pads = tuple((p, p) for p in padding)
    out_hw = _output_shape(size, kernel, stride, pads, dilation)
    N, C = cols.shape[0], cols.shape[1] // (kernel[0] * kernel[1])
    check_shape(cols, (N, C * kernel[0] * kernel[1], out_hw[0] * out_hw[1]), "cols", func,
                why=f"{out_hw[0]}x{out_hw[1]} windows fit in output_size {size} with these "
                    f"settings")
    _no_uint64(cols, "cols", func)
    check_size(N * C * (size[0] + 2 * padding[0]) * (size[1] + 2 * padding[1]), 8, "output_size", func,
               "the image")
    # Overlapping windows add up: integers in int64, half precision in float32.
    image = _col2im(cols.to(sum_dtype(cols.dtype)), size, kernel, stride, pads, dilation)
    return image.to(exact_dtype(cols.dtype))


# --- argument handling shared by the 1-D and 2-D layers ------------------------------------------

def _layer_arguments(func: str, x, weight, bias, stride, padding, dilation, groups, dims: int):
    """Validate a layer call (in the NumPy side's order); return tensors of one common dtype (the
    one to sum in), the settings, and the dtype of the result."""
    layout = "(N, C, H, W) batch" if dims == 2 else "(N, C, L) batch"
    kernel_layout = ("(C_out, C_in/groups, kH, kW) weight" if dims == 2
                     else "(C_out, C_in/groups, k) weight")
    x = _read_tensor(x, "x", func, "course_lib.conv", ndim=dims + 2, what=layout)
    weight = _read_tensor(weight, "weight", func, "course_lib.conv", ndim=dims + 2,
                          what=kernel_layout)
    stride = check_tuple(stride, "stride", func, dims, 1)
    dilation = check_tuple(dilation, "dilation", func, dims, 1)
    groups = check_int(groups, "groups", func, 1)
    check_groups(groups, x.shape[1], weight.shape[0], func)
    in_channels = weight.shape[1] * groups
    check_shape(x, (x.shape[0], in_channels, *x.shape[2:]), "x", func,
                why=f"weight of shape {tuple(weight.shape)} with groups={groups} expects "
                    f"{in_channels} input channels")
    kernel = tuple(weight.shape[2:])
    pads = _resolve_padding(padding, kernel, stride, dilation, func)
    if not isinstance(padding, str):  # "same" always fits
        check_kernel_fits(tuple(x.shape[2:]), kernel, [p for p, _ in pads], func, name="x",
                          dilation=dilation)
    if bias is not None:
        bias = _read_tensor(bias, "bias", func, "course_lib.conv", ndim=1, what="(C_out,) vector")
        check_shape(bias, (weight.shape[0],), "bias", func,
                    why="one value per output channel, weight.shape[0]")
    _same_device(func, x=x, weight=weight, bias=bias)
    for name, t in (("x", x), ("weight", weight), ("bias", bias)):
        if t is not None:
            _no_uint64(t, name, func)
    out_dtype = exact_dtype(_common_dtype(x, weight, bias))
    dtype = sum_dtype(out_dtype)
    out_hw = _output_shape(tuple(x.shape[2:]), kernel, stride, pads, dilation)
    check_size(x.shape[1] * math.prod(kernel) * x.shape[0] * math.prod(out_hw), 8, "x", func, "im2col's columns")
    bias = None if bias is None else bias.to(dtype)
    return x.to(dtype), weight.to(dtype), bias, stride, pads, dilation, groups, out_dtype


def _as_2d(stride, pads, dilation):
    """1-D settings as 2-D ones with a height of 1."""
    return (1, *stride), ((0, 0), *pads), (1, *dilation)


# --- the layer, forward and backward --------------------------------------------------------------

def _grouped_columns(x, kernel, stride, pads, dilation, groups):
    """im2col as (N, groups, C_g*kH*kW, L), and the output's (H_out, W_out)."""
    out_hw = _output_shape(tuple(x.shape[2:]), kernel, stride, pads, dilation)
    cols = _columns(_pad(x, pads), kernel, stride, dilation)
    return cols.reshape(x.shape[0], groups, -1, out_hw[0] * out_hw[1]), out_hw


def _forward(x, weight, bias, stride, pads, dilation, groups):
    N, (C_out, _, kh, kw) = x.shape[0], weight.shape
    cols, out_hw = _grouped_columns(x, (kh, kw), stride, pads, dilation, groups)
    # One product per (sample, group): (C_out/g, C_g*kH*kW) @ (C_g*kH*kW, L), already NCHW.
    out = _matmul(weight.reshape(groups, C_out // groups, -1), cols).reshape(N, C_out, *out_hw)
    if bias is not None:
        out = out + bias.to(out.dtype).reshape(-1, 1, 1)
    return out


def _backward(dout, x, weight, stride, pads, dilation, groups):
    N, C, H, W = x.shape
    C_out, _, kh, kw = weight.shape
    G = groups
    cols, out_hw = _grouped_columns(x, (kh, kw), stride, pads, dilation, G)
    dout_g = dout.reshape(N, G, C_out // G, -1)
    weight_g = weight.reshape(G, C_out // G, -1)
    # out = weight @ cols, so dweight = dout @ cols^T (summed over the batch: one product over
    # all N*L columns per group) and dcols = weight^T @ dout.
    L = dout_g.shape[-1]
    dweight = _matmul(dout_g.permute(1, 2, 0, 3).reshape(G, C_out // G, N * L),
                      cols.permute(1, 0, 3, 2).reshape(G, N * L, -1)).reshape(weight.shape)
    dcols = _matmul(weight_g.transpose(1, 2), dout_g).reshape(N, C * kh * kw, L)
    dx = _col2im(dcols, (H, W), (kh, kw), stride, pads, dilation)
    return dx, dweight, dout.sum(dim=(0, 2, 3))


def _check_dout(dout, func, x, weight, stride, pads, dilation, dims, layer_dtype):
    """``dout`` checked and in the dtype to sum in; and the dtype of the gradients."""
    dout = _read_tensor(dout, "dout", func, "course_lib.conv", ndim=dims + 2,
                        what="gradient of the layer output")
    out_size = _output_shape(tuple(x.shape[2:]), tuple(weight.shape[2:]), stride, pads, dilation)
    check_shape(dout, (x.shape[0], weight.shape[0], *out_size), "dout", func,
                why="the shape of the layer's output for these x and weight")
    _same_device(func, dout=dout, x=x)
    _no_uint64(dout, "dout", func)
    grad_dtype = exact_dtype(torch.promote_types(dout.dtype, layer_dtype))
    return dout.to(sum_dtype(grad_dtype)), grad_dtype


def conv2d_layer(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                 stride: int | Sequence[int] = 1, padding: int | Sequence[int] | str = 0,
                 dilation: int | Sequence[int] = 1, groups: int = 1) -> torch.Tensor:
    """A conv-net layer: batched 2-D cross-correlation, as ``torch.nn.functional.conv2d``.

    Args:
        x: (N, C_in, H, W).
        weight: (C_out, C_in / groups, kH, kW).
        bias: (C_out,) or None.
        stride, dilation: int or (sH, sW) pair, >= 1.
        padding: int or pair >= 0 (zeros on both sides), or "valid" (none) or "same"
            (stride 1 only; output as large as the input).
        groups: split the channels into this many independent convolutions.

    Returns:
        (N, C_out, H_out, W_out), ``H_out = floor((H + 2p - d(kH - 1) - 1) / s) + 1``, computed
        as ``F.unfold`` plus one batched matrix product, on the device of ``x``.

    The lecture's convolution is a layer with the kernel flipped by hand (and padding k - 1):

    >>> x = torch.tensor([[1, 3, 1], [0, -1, 1], [2, 2, -1]]).reshape(1, 1, 3, 3)
    >>> flipped = torch.tensor([[1, 2], [0, -1]]).flip(0, 1).reshape(1, 1, 2, 2)
    >>> conv2d_layer(x, flipped, padding=1)[0, 0]
    tensor([[ 1,  5,  7,  2],
            [ 0, -2, -4,  1],
            [ 2,  6,  4, -3],
            [ 0, -2, -2,  1]])
    """
    *args, dtype = _layer_arguments("conv2d_layer", x, weight, bias, stride, padding, dilation, groups, 2)
    return _forward(*args).to(dtype)


def conv2d_layer_backward(dout: torch.Tensor, x: torch.Tensor, weight: torch.Tensor,
                          stride: int | Sequence[int] = 1, padding: int | Sequence[int] | str = 0,
                          dilation: int | Sequence[int] = 1, groups: int = 1
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of :func:`conv2d_layer` given ``dout = dL/d(out)``, written out by hand.

    With ``cols = im2col(x)``, the forward pass is ``out = weight @ cols + bias``, so

    * ``dweight = sum over the batch of dout @ cols^T``, shape (C_out, C_in / groups, kH, kW);
    * ``dx = col2im(weight^T @ dout)`` (``F.fold``), shape (N, C_in, H, W);
    * ``dbias = dout summed over N, H_out, W_out``, shape (C_out,).

    Returns:
        (dx, dweight, dbias), equal to what autograd gives for ``F.conv2d``.
    """
    func = "conv2d_layer_backward"
    x, weight, _, stride, pads, dilation, groups, dtype = _layer_arguments(
        func, x, weight, None, stride, padding, dilation, groups, 2)
    dout, dtype = _check_dout(dout, func, x, weight, stride, pads, dilation, 2, dtype)
    x, weight = x.to(dout.dtype), weight.to(dout.dtype)
    return tuple(g.to(dtype) for g in _backward(dout, x, weight, stride, pads, dilation, groups))


def conv1d_layer(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                 stride: int | Sequence[int] = 1, padding: int | Sequence[int] | str = 0,
                 dilation: int | Sequence[int] = 1, groups: int = 1) -> torch.Tensor:
    """Batched 1-D cross-correlation, as ``torch.nn.functional.conv1d``.

    Args:
        x: (N, C_in, L); weight: (C_out, C_in / groups, k); bias: (C_out,) or None.
        stride, padding, dilation, groups: as :func:`conv2d_layer`, for one axis.

    Returns:
        (N, C_out, L_out), ``L_out = floor((L + 2p - d(k - 1) - 1) / s) + 1``. Computed as a
        2-D layer on images of height 1.

    >>> conv1d_layer(torch.tensor([[[2, -1, 1]]]), torch.tensor([[[2, 1, 1]]]), padding=2)[0, 0]
    tensor([ 2,  1,  4, -1,  2])
    """
    x, weight, bias, stride, pads, dilation, groups, dtype = _layer_arguments(
        "conv1d_layer", x, weight, bias, stride, padding, dilation, groups, 1)
    out = _forward(x[:, :, None], weight[:, :, None], bias, *_as_2d(stride, pads, dilation), groups)
    return out[:, :, 0].to(dtype)


def conv1d_layer_backward(dout: torch.Tensor, x: torch.Tensor, weight: torch.Tensor,
                          stride: int | Sequence[int] = 1, padding: int | Sequence[int] | str = 0,
                          dilation: int | Sequence[int] = 1, groups: int = 1
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of :func:`conv1d_layer`: (dx, dweight, dbias).

    Shapes: dx (N, C_in, L), dweight (C_out, C_in/groups, k), dbias (C_out,).

    Same formulas as :func:`conv2d_layer_backward`, on images of height 1.
    """
    func = "conv1d_layer_backward"
    x, weight, _, stride, pads, dilation, groups, dtype = _layer_arguments(
        func, x, weight, None, stride, padding, dilation, groups, 1)
    dout, dtype = _check_dout(dout, func, x, weight, stride, pads, dilation, 1, dtype)
    x, weight = x.to(dout.dtype), weight.to(dout.dtype)
    dx, dweight, dbias = _backward(dout[:, :, None], x[:, :, None], weight[:, :, None],
                                   *_as_2d(stride, pads, dilation), groups)
    return dx[:, :, 0].to(dtype), dweight[:, :, 0].to(dtype), dbias.to(dtype)
