"""Transposed convolution in torch: ``weight^T @ x``, then col2im (``F.fold``).

The functions of :mod:`course_lib.conv.transposed`, on tensors, on whatever device they live on;
import them from :mod:`course_lib.gpu`. A transposed convolution is the gradient of a convolution
with respect to its input, used as a layer (``torch.nn.functional.conv_transpose2d``)::

    canvas = fold(weight^T @ x)           every input value stamps its scaled kernel, s cells apart
    out    = canvas cut by padding on both sides, output_padding cells added at the end, + bias

so that ``H_out = (H - 1)s - 2p + d(kH - 1) + output_padding + 1``. The backward pass reads the
output gradient back window by window with ``F.unfold`` (im2col) and two matrix products; autograd
flows through the forward pass too, so ``loss.backward()`` works as usual.

Integer tensors are added up in int64 and give exact results, as on the NumPy side (``F.fold``
and ``F.unfold`` exist only for floating types, so integers take the same windows with
``Tensor.unfold``; see :mod:`course_lib.gpu.conv_layer`).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from course_lib._checks import check_groups, check_int, check_shape, check_tuple
from course_lib.conv.transposed import (_as_2d, _canvas_sizes, _transposed_sizes,
                                        conv_transpose_output_size)
from course_lib.gpu.conv_layer import (_col2im, _columns, _common_dtype, _matmul, _read_tensor,
                                       _same_device)

__all__ = ["conv_transpose_output_size", "conv_transpose2d", "conv_transpose2d_backward",
           "conv_transpose1d", "conv_transpose1d_backward"]

NUMPY_HOME = "course_lib.conv"


# --- argument handling shared by the 1-D and 2-D functions (the NumPy side's checks) -------------

def _accumulator(dtype: torch.dtype) -> torch.dtype:
    """Integers add up in int64, so that int8 or int16 inputs cannot overflow: results are exact."""
    return dtype if dtype.is_floating_point or dtype.is_complex else torch.int64


def _read(t, name: str, func: str, ndim: int, what: str) -> torch.Tensor:
    """A tensor argument, checked as on the NumPy side; uint64 is refused, not wrapped around."""
    t = _read_tensor(t, name, func, NUMPY_HOME, ndim=ndim, what=what)
    if t.dtype == torch.uint64:  # int64 would wrap values >= 2**63; torch has no uint64 matmul
        raise TypeError(f"{func}: argument '{name}' has dtype torch.uint64, which torch cannot "
                        f"multiply; convert it with .to(torch.int64) (values below 2**63) or "
                        f".double(), or call {NUMPY_HOME}.{func}, which takes NumPy arrays.")
    return t


def _transposed_arguments(func: str, x, weight, stride, padding, output_padding, groups, dilation,
                          dims: int):
    """Validate a call in the NumPy side's order, with its messages; return tensors and settings."""
    layout = "(N, C_in, H, W) batch" if dims == 2 else "(N, C_in, L) batch"
    kernel_layout = ("(C_in, C_out/groups, kH, kW) weight" if dims == 2
                     else "(C_in, C_out/groups, k) weight")
    x = _read(x, "x", func, dims + 2, layout)
    weight = _read(weight, "weight", func, dims + 2, kernel_layout)
    stride = check_tuple(stride, "stride", func, dims, 1)
    padding = check_tuple(padding, "padding", func, dims, 0)
    output_padding = check_tuple(output_padding, "output_padding", func, dims, 0)
    groups = check_int(groups, "groups", func, 1)
    dilation = check_tuple(dilation, "dilation", func, dims, 1)
    check_groups(groups, x.shape[1], weight.shape[1] * groups, func)
    check_shape(weight, (x.shape[1], *weight.shape[1:]), "weight", func,
                why=f"one row of kernels per input channel, x.shape[1] = {x.shape[1]}")
    out_size = _transposed_sizes(func, tuple(x.shape[2:]), tuple(weight.shape[2:]), stride,
                                 padding, output_padding, dilation)
    _same_device(func, x=x, weight=weight)
    return x, weight, (stride, padding, output_padding, groups, dilation), out_size


def _check_bias(func: str, bias, x: torch.Tensor, out_channels: int) -> torch.Tensor:
    bias = _read(bias, "bias", func, 1, "(C_out,) vector")
    check_shape(bias, (out_channels,), "bias", func,
                why="one value per output channel, weight.shape[1] * groups")
    _same_device(func, x=x, bias=bias)
    return bias


def _check_dout(func: str, dout, x, weight, groups: int, out_size: Sequence[int], dims: int):
    dout = _read(dout, "dout", func, dims + 2, "gradient of the output")
    check_shape(dout, (x.shape[0], weight.shape[1] * groups, *out_size), "dout", func,
                why="the shape of the transposed convolution's output for these x and weight")
    _same_device(func, dout=dout, x=x)
    return dout


# --- the cut from the canvas to the output, and its adjoint ---------------------------------------

def _canvas_to_output(canvas: torch.Tensor, padding: Sequence[int],
                      out_size: Sequence[int]) -> torch.Tensor:
    """``canvas[..., p : p + o]`` per axis, with zeros where that runs past the canvas's end."""
    past_end = [max(0, p + o - n) for p, o, n in zip(padding, out_size, canvas.shape[2:])]
    if any(past_end):
        canvas = F.pad(canvas, [0, past_end[1], 0, past_end[0]])  # F.pad lists the last axis first
    (top, left), (height, width) = padding, out_size
    return canvas[:, :, top:top + height, left:left + width]


def _output_to_canvas(dout: torch.Tensor, padding: Sequence[int],
                      canvas_size: Sequence[int]) -> torch.Tensor:
    """The adjoint of :func:`_canvas_to_output`: ``dout`` back in place, zeros where it was cut."""
    canvas = dout.new_zeros((*dout.shape[:2], *canvas_size))
    (top, left), (height, width) = padding, canvas_size
    kept_h, kept_w = max(0, min(dout.shape[2], height - top)), max(0, min(dout.shape[3], width - left))
    canvas[:, :, top:top + kept_h, left:left + kept_w] = dout[:, :, :kept_h, :kept_w]
    return canvas


# --- forward and backward -------------------------------------------------------------------------

NO_PADS = ((0, 0), (0, 0))


def _forward(x, weight, bias, settings, out_size):
    stride, padding, _, groups, dilation = settings
    N, C_in, H, W = x.shape
    kernel = tuple(weight.shape[2:])
    # columns = weight^T @ x, one product per (sample, group); then F.fold adds each column back
    # where its window sits, on a canvas with room for every window.
    weight_g = weight.reshape(groups, C_in // groups, -1)
    cols = _matmul(weight_g.transpose(1, 2), x.reshape(N, groups, C_in // groups, H * W))
    canvas_size = _canvas_sizes((H, W), kernel, stride, dilation)
    canvas = _col2im(cols.reshape(N, -1, H * W), canvas_size, kernel, stride, NO_PADS, dilation)
    out = _canvas_to_output(canvas, padding, out_size)
    return out if bias is None else out + bias.reshape(-1, 1, 1)


def _backward(dout, x, weight, settings):
    stride, padding, _, groups, dilation = settings
    N, C_in, H, W = x.shape
    kernel = tuple(weight.shape[2:])
    G = groups
    # The adjoint of the cut and of F.fold: dout back on the canvas, read window by window
    # (F.unfold): the columns the forward pass scattered.
    canvas = _output_to_canvas(dout, padding, _canvas_sizes((H, W), kernel, stride, dilation))
    dcols = _columns(canvas, kernel, stride, dilation).reshape(N, G, -1, H * W)
    weight_g = weight.reshape(G, C_in // G, -1)
    # dx = weight @ dcols: a plain convolution of dout (the transpose of the transpose).
    dx = _matmul(weight_g, dcols).reshape(x.shape)
    # dweight^T = dcols @ x^T, summed over the batch: one product over all N*H*W columns per group.
    x_g = x.reshape(N, G, C_in // G, H * W).permute(1, 2, 0, 3).reshape(G, C_in // G, -1)
    dweight = _matmul(x_g, dcols.permute(1, 0, 3, 2).reshape(G, N * H * W, -1))
    return dx, dweight.reshape(weight.shape), dout.sum(dim=(0, 2, 3))


def _forward_call(func: str, x, weight, bias, stride, padding, output_padding, groups, dilation,
                  dims: int) -> torch.Tensor:
    x, weight, settings, out_size = _transposed_arguments(
        func, x, weight, stride, padding, output_padding, groups, dilation, dims)
    if bias is not None:
        bias = _check_bias(func, bias, x, weight.shape[1] * settings[3])
    dtype = _accumulator(_common_dtype(x, weight, bias))
    bias = None if bias is None else bias.to(dtype)
    if dims == 2:
        return _forward(x.to(dtype), weight.to(dtype), bias, settings, out_size)
    out = _forward(x.to(dtype)[:, :, None], weight.to(dtype)[:, :, None], bias, _as_2d(*settings),
                   (1, *out_size))
    return out[:, :, 0]


def _backward_call(func: str, dout, x, weight, stride, padding, output_padding, groups, dilation,
                   dims: int):
    x, weight, settings, out_size = _transposed_arguments(
        func, x, weight, stride, padding, output_padding, groups, dilation, dims)
    dout = _check_dout(func, dout, x, weight, settings[3], out_size, dims)
    dtype = _accumulator(_common_dtype(dout, x, weight))
    dout, x, weight = dout.to(dtype), x.to(dtype), weight.to(dtype)
    if dims == 2:
        return _backward(dout, x, weight, settings)
    dx, dweight, dbias = _backward(dout[:, :, None], x[:, :, None], weight[:, :, None],
                                   _as_2d(*settings))
    return dx[:, :, 0], dweight[:, :, 0], dbias


def conv_transpose2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                     stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                     output_padding: int | Sequence[int] = 0, groups: int = 1,
                     dilation: int | Sequence[int] = 1) -> torch.Tensor:
    """Batched 2-D transposed convolution, as ``torch.nn.functional.conv_transpose2d``.

    Args:
        x: (N, C_in, H, W).
        weight: (C_in, C_out / groups, kH, kW): torch's layout, the transpose of a conv layer's.
        bias: (C_out,) or None.
        stride, dilation: int or (sH, sW) pair, >= 1.
        padding: int or pair >= 0: cells cut from both sides of the output.
        output_padding: int or pair, < max(stride, dilation): cells added at the bottom and right.
        groups: split the channels into this many independent transposed convolutions.

    Returns:
        (N, C_out, H_out, W_out), ``H_out = (H - 1)s - 2p + d(kH - 1) + output_padding + 1``,
        computed as ``F.fold(weight^T @ x)`` on the device of ``x``; autograd flows through it.

    Stride 2 spreads the input out; each value stamps the kernel, and overlaps add up:

    >>> conv_transpose2d(torch.tensor([[1, 2], [3, 4]]).reshape(1, 1, 2, 2),
    ...                  torch.ones(1, 1, 2, 2, dtype=torch.long), stride=2)[0, 0]
    tensor([[1, 1, 2, 2],
            [1, 1, 2, 2],
            [3, 3, 4, 4],
            [3, 3, 4, 4]])
    """
    return _forward_call("conv_transpose2d", x, weight, bias, stride, padding, output_padding,
                         groups, dilation, 2)


def conv_transpose2d_backward(dout: torch.Tensor, x: torch.Tensor, weight: torch.Tensor,
                              stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                              output_padding: int | Sequence[int] = 0, groups: int = 1,
                              dilation: int | Sequence[int] = 1
                              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of :func:`conv_transpose2d` given ``dout = dL/d(out)``, written out by hand.

    With ``dcols = F.unfold(dout put back on the uncut canvas)``:

    * ``dx = weight @ dcols``, shape (N, C_in, H, W): the convolution of dout;
    * ``dweight = sum over the batch of x @ dcols^T``, shape (C_in, C_out / groups, kH, kW);
    * ``dbias = dout summed over N, H_out, W_out``, shape (C_out,).

    Returns:
        (dx, dweight, dbias), equal to what autograd gives for ``F.conv_transpose2d``.
    """
    return _backward_call("conv_transpose2d_backward", dout, x, weight, stride, padding,
                          output_padding, groups, dilation, 2)


def conv_transpose1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                     stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                     output_padding: int | Sequence[int] = 0, groups: int = 1,
                     dilation: int | Sequence[int] = 1) -> torch.Tensor:
    """Batched 1-D transposed convolution, as ``torch.nn.functional.conv_transpose1d``.

    Args:
        x: (N, C_in, L); weight: (C_in, C_out / groups, k); bias: (C_out,) or None.
        stride, padding, output_padding, groups, dilation: as :func:`conv_transpose2d`, one axis.

    Returns:
        (N, C_out, L_out), ``L_out = (L - 1)s - 2p + d(k - 1) + output_padding + 1``, computed as
        a 2-D transposed convolution on images of height 1.

    Dumoulin and Visin's example: a convolution with k = 3, s = 2, p = 1 takes length 5 to 3;
    its transpose takes 3 values back to length 5, each one stamping the scaled kernel:

    >>> conv_transpose1d(torch.tensor([[[1, 2, 3]]]), torch.tensor([[[1, 10, 100]]]), stride=2,
    ...                  padding=1)
    tensor([[[ 10, 102,  20, 203,  30]]])
    """
    return _forward_call("conv_transpose1d", x, weight, bias, stride, padding, output_padding,
                         groups, dilation, 1)


def conv_transpose1d_backward(dout: torch.Tensor, x: torch.Tensor, weight: torch.Tensor,
                              stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                              output_padding: int | Sequence[int] = 0, groups: int = 1,
                              dilation: int | Sequence[int] = 1
                              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of :func:`conv_transpose1d`: (dx, dweight, dbias).

    Shapes: dx (N, C_in, L), dweight (C_in, C_out / groups, k), dbias (C_out,). Same formulas as
    :func:`conv_transpose2d_backward`, on images of height 1.
    """
    return _backward_call("conv_transpose1d_backward", dout, x, weight, stride, padding,
                          output_padding, groups, dilation, 1)
