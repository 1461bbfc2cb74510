"""Transposed convolution in NumPy: the gradient of a convolution with respect to its input.

A convolution layer is a matrix product with its im2col columns, ``out = weight @ im2col(x)``, so
the gradient it sends back to its input is ``col2im(weight^T @ dout)`` (see
:func:`~course_lib.conv.layer.conv2d_layer_backward`). A *transposed convolution* is exactly that
map used as a layer of its own, as ``torch.nn.functional.conv_transpose2d`` computes it: every
input value scatters a scaled copy of the kernel onto the output, ``s`` cells apart, and
overlapping copies add up::

    canvas[n, g*C_og + o, u*sH + i*dH, v*sW + j*dW] += x[n, g*C_ig + c, u, v]
                                                         * weight[g*C_ig + c, o, i, j]
    out = canvas, cut by ``padding`` on both sides and grown by ``output_padding`` cells at the
          end (zeros where they run past the canvas), plus bias

with ``C_ig = C_in / groups`` and ``C_og = C_out / groups``. Along one axis the output length is
``(n - 1)s - 2p + d(k - 1) + output_padding + 1``. It undoes the *shape* of a
convolution with the same settings, not its values: the matrix of the convolution, transposed.

The weight has torch's layout ``(C_in, C_out / groups, kH, kW)``: the convolution it is the
gradient of maps ``C_out`` channels to ``C_in``. The names are re-exported by
:mod:`course_lib.conv`; import them from there.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

from course_lib._checks import (check_groups, check_int, check_shape, check_tuple, result_dtype,
                                to_numeric_array)
from course_lib.conv.layer import col2im, im2col

__all__ = ["conv_transpose_output_size", "conv_transpose2d", "conv_transpose2d_backward",
           "conv_transpose1d", "conv_transpose1d_backward"]


# --- the output size, and the checks it needs -----------------------------------------------------

def _check_output_padding(func: str, output_padding: Sequence[int], stride: Sequence[int],
                          dilation: Sequence[int]) -> None:
    """torch's rule: ``output_padding < max(stride, dilation)`` on every axis.

    A convolution with stride s maps s input sizes to one output size; output padding says which
    of them to give back, so it is one of 0, ..., s - 1. Bigger values would only add zeros.
    """
    if any(a >= max(s, d) for a, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"{func}: argument 'output_padding' must be smaller than stride or "
                         f"dilation (as in torch), got output_padding={tuple(output_padding)} "
                         f"with stride={tuple(stride)} and dilation={tuple(dilation)}.")


def _transposed_sizes(func: str, size: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                      padding: Sequence[int], output_padding: Sequence[int],
                      dilation: Sequence[int]) -> tuple[int, ...]:
    """``(n - 1)s - 2p + d(k - 1) + a + 1`` per axis, refusing an empty output."""
    _check_output_padding(func, output_padding, stride, dilation)
    out = tuple((n - 1) * s - 2 * p + d * (k - 1) + a + 1
                for n, k, s, p, a, d in zip(size, kernel, stride, padding, output_padding, dilation))
    if any(o < 1 for o in out):
        raise ValueError(f"{func}: argument 'padding' is too large: it cuts the whole output away "
                         f"((n - 1)s - 2p + d(k - 1) + output_padding + 1 = {out} for input size "
                         f"{tuple(size)}, kernel {tuple(kernel)}, stride {tuple(stride)}, padding "
                         f"{tuple(padding)}). Use less padding.")
    return out


def _canvas_sizes(size: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                  dilation: Sequence[int]) -> tuple[int, ...]:
    """The length every scattered kernel copy lands in, before any cut: ``(n - 1)s + d(k - 1) + 1``."""
    return tuple((n - 1) * s + d * (k - 1) + 1 for n, k, s, d in zip(size, kernel, stride, dilation))


def conv_transpose_output_size(n: int, kernel_size: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution along one axis:
    ``(n - 1)s - 2p + d(k - 1) + output_padding + 1``.

    With ``d = 1`` and ``a = output_padding`` this is the lecture's ``o = s(i - 1) + a + k - 2p``
    (Dumoulin and Visin 2016, relationship 14). A convolution with stride ``s`` gives the same
    output length for ``s`` consecutive input lengths; ``a = (i + 2p - k) mod s`` picks the one it
    came from, so ``output_padding`` must be smaller than ``max(stride, dilation)``.

    >>> conv_transpose_output_size(3, 3, stride=2, padding=1, output_padding=1)  # back to i = 6
    6
    >>> conv_transpose_output_size(2, 3)  # no padding, unit stride: o = i + (k - 1)
    4
    """
    func = "conv_transpose_output_size"
    n = check_int(n, "n", func, 1)
    k = check_int(kernel_size, "kernel_size", func, 1)
    s = check_int(stride, "stride", func, 1)
    p = check_int(padding, "padding", func, 0)
    a = check_int(output_padding, "output_padding", func, 0)
    d = check_int(dilation, "dilation", func, 1)
    return _transposed_sizes(func, (n,), (k,), (s,), (p,), (a,), (d,))[0]


# --- argument handling shared by the 1-D and 2-D functions ----------------------------------------

def _accumulator(dtype: np.dtype) -> np.dtype:
    """Integers add up in int64 (uint64 in uint64), so that int8 or int16 inputs cannot overflow."""
    if dtype == np.uint64 or dtype.kind not in "iu":
        return dtype
    return np.dtype(np.int64)


def _transposed_arguments(func: str, x, weight, stride, padding, output_padding, groups, dilation,
                          dims: int):
    """Validate a call (torch's order); return the arrays and the per-axis settings."""
    layout = "(N, C_in, H, W) batch" if dims == 2 else "(N, C_in, L) batch"
    kernel_layout = ("(C_in, C_out/groups, kH, kW) weight" if dims == 2
                     else "(C_in, C_out/groups, k) weight")
    x = to_numeric_array(x, "x", func, ndim=dims + 2, what=layout)
    weight = to_numeric_array(weight, "weight", func, ndim=dims + 2, what=kernel_layout)
    stride = check_tuple(stride, "stride", func, dims, 1)
    padding = check_tuple(padding, "padding", func, dims, 0)
    output_padding = check_tuple(output_padding, "output_padding", func, dims, 0)
    groups = check_int(groups, "groups", func, 1)
    dilation = check_tuple(dilation, "dilation", func, dims, 1)
    # weight.shape[1] * groups output channels always divide by groups: only C_in can fail.
    check_groups(groups, x.shape[1], weight.shape[1] * groups, func)
    check_shape(weight, (x.shape[1], *weight.shape[1:]), "weight", func,
                why=f"one row of kernels per input channel, x.shape[1] = {x.shape[1]}")
    out_size = _transposed_sizes(func, x.shape[2:], weight.shape[2:], stride, padding,
                                 output_padding, dilation)
    settings = (stride, padding, output_padding, groups, dilation)
    return x, weight, settings, out_size


def _check_bias(func: str, bias, out_channels: int):
    bias = to_numeric_array(bias, "bias", func, ndim=1, what="(C_out,) vector")
    check_shape(bias, (out_channels,), "bias", func,
                why="one value per output channel, weight.shape[1] * groups")
    return bias


def _check_dout(func: str, dout, x, weight, groups: int, out_size: Sequence[int], dims: int):
    dout = to_numeric_array(dout, "dout", func, ndim=dims + 2, what="gradient of the output")
    check_shape(dout, (x.shape[0], weight.shape[1] * groups, *out_size), "dout", func,
                why="the shape of the transposed convolution's output for these x and weight")
    return dout


def _as_2d(stride, padding, output_padding, groups, dilation):
    """1-D settings as 2-D ones with a height of 1."""
    return (1, *stride), (0, *padding), (0, *output_padding), groups, (1, *dilation)


# --- the cut from the canvas to the output, and its adjoint ---------------------------------------

def _canvas_to_output(canvas: np.ndarray, padding: Sequence[int],
                      out_size: Sequence[int]) -> np.ndarray:
    """``canvas[..., p : p + o]`` per axis, with zeros where that runs past the canvas's end.

    The convolution this one transposes never reads the last ``output_padding`` cells of its
    padded input (the floor in its output size), so those cells get no gradient: zeros.
    """
    past_end = [max(0, p + o - n) for p, o, n in zip(padding, out_size, canvas.shape[2:])]
    if any(past_end):
        canvas = np.pad(canvas, ((0, 0), (0, 0), *((0, e) for e in past_end)))
    (top, left), (height, width) = padding, out_size
    return canvas[:, :, top:top + height, left:left + width]


def _output_to_canvas(dout: np.ndarray, padding: Sequence[int],
                      canvas_size: Sequence[int]) -> np.ndarray:
    """The adjoint of :func:`_canvas_to_output`: ``dout`` back in place, zeros where it was cut."""
    canvas = np.zeros((*dout.shape[:2], *canvas_size), dtype=dout.dtype)
    (top, left), (height, width) = padding, canvas_size
    kept_h, kept_w = max(0, min(dout.shape[2], height - top)), max(0, min(dout.shape[3], width - left))
    canvas[:, :, top:top + kept_h, left:left + kept_w] = dout[:, :, :kept_h, :kept_w]
    return canvas


# --- forward and backward -------------------------------------------------------------------------

def _forward(x, weight, bias, settings, out_size):
    stride, padding, _, groups, dilation = settings
    N, C_in, H, W = x.shape
    kernel = weight.shape[2:]
    # The gradient of a convolution: columns = weight^T @ x (one product per group), then col2im
    # adds each column back where its window sits, on a canvas with room for every window.
    weight_g = weight.reshape(groups, C_in // groups, -1)
    x_g = x.reshape(N, groups, C_in // groups, H * W)
    cols = np.matmul(weight_g.swapaxes(1, 2), x_g).reshape(N, -1, H * W)
    canvas = col2im(cols, _canvas_sizes((H, W), kernel, stride, dilation), kernel, stride, 0,
                    dilation)
    out = _canvas_to_output(canvas, padding, out_size)
    return out if bias is None else out + bias.reshape(-1, 1, 1)


def _backward(dout, x, weight, settings):
    stride, padding, _, groups, dilation = settings
    N, C_in, H, W = x.shape
    kernel = weight.shape[2:]
    G = groups
    # The forward pass is out = cut(col2im(weight^T @ x)); its adjoint reads dout's windows back
    # with im2col: dcols = im2col(dout placed on the canvas), the columns the forward scattered.
    canvas = _output_to_canvas(dout, padding, _canvas_sizes((H, W), kernel, stride, dilation))
    dcols = im2col(canvas, kernel, stride, 0, dilation).reshape(N, G, -1, H * W)
    weight_g = weight.reshape(G, C_in // G, -1)
    # dx = weight @ dcols: a plain convolution of dout (the transpose of the transpose).
    dx = np.matmul(weight_g, dcols).reshape(x.shape)
    # dweight^T = dcols @ x^T, summed over the batch: one product over all N*H*W columns per group.
    x_g = x.reshape(N, G, C_in // G, H * W).transpose(1, 2, 0, 3).reshape(G, C_in // G, -1)
    dweight = np.matmul(x_g, dcols.transpose(1, 0, 3, 2).reshape(G, N * H * W, -1))
    return dx, dweight.reshape(weight.shape), dout.sum(axis=(0, 2, 3))


def _forward_call(func: str, x, weight, bias, stride, padding, output_padding, groups, dilation,
                  dims: int) -> np.ndarray:
    x, weight, settings, out_size = _transposed_arguments(
        func, x, weight, stride, padding, output_padding, groups, dilation, dims)
    arrays = [x, weight]
    if bias is not None:
        bias = _check_bias(func, bias, weight.shape[1] * settings[3])
        arrays.append(bias)
    dtype = _accumulator(result_dtype(*arrays))
    x, weight = x.astype(dtype, copy=False), weight.astype(dtype, copy=False)
    bias = None if bias is None else bias.astype(dtype, copy=False)
    if dims == 2:
        return _forward(x, weight, bias, settings, out_size)
    out = _forward(x[:, :, None], weight[:, :, None], bias, _as_2d(*settings), (1, *out_size))
    return out[:, :, 0]


def _backward_call(func: str, dout, x, weight, stride, padding, output_padding, groups, dilation,
                   dims: int):
    x, weight, settings, out_size = _transposed_arguments(
        func, x, weight, stride, padding, output_padding, groups, dilation, dims)
    dout = _check_dout(func, dout, x, weight, settings[3], out_size, dims)
    dtype = _accumulator(result_dtype(dout, x, weight))
    dout, x, weight = (a.astype(dtype, copy=False) for a in (dout, x, weight))
    if dims == 2:
        return _backward(dout, x, weight, settings)
    dx, dweight, dbias = _backward(dout[:, :, None], x[:, :, None], weight[:, :, None],
                                   _as_2d(*settings))
    return dx[:, :, 0], dweight[:, :, 0], dbias


def conv_transpose2d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
                     stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                     output_padding: int | Sequence[int] = 0, groups: int = 1,
                     dilation: int | Sequence[int] = 1) -> np.ndarray:
    """Batched 2-D transposed convolution, as ``torch.nn.functional.conv_transpose2d``.

    Args:
        x: (N, C_in, H, W).
        weight: (C_in, C_out / groups, kH, kW): torch's layout, the transpose of a conv layer's.
        bias: (C_out,) or None.
        stride, dilation: int or (sH, sW) pair, >= 1.
        padding: int or pair >= 0: cells cut from both sides of the output (the padding of the
            convolution this one transposes).
        output_padding: int or pair, < max(stride, dilation): cells added at the bottom and right.
        groups: split the channels into this many independent transposed convolutions.

    Returns:
        (N, C_out, H_out, W_out), ``H_out = (H - 1)s - 2p + d(kH - 1) + output_padding + 1``
        (see :func:`conv_transpose_output_size`), computed as ``col2im(weight^T @ x)``: the
        gradient :func:`~course_lib.conv.layer.conv2d_layer_backward` sends to a layer's input.
        Integers are added up in int64 and come back exact.

    Stride 2 spreads the input out; each value stamps the kernel, and overlaps add up:

    >>> conv_transpose2d(np.array([[1, 2], [3, 4]]).reshape(1, 1, 2, 2),
    ...                  np.ones((1, 1, 2, 2), dtype=int), stride=2)[0, 0]
    array([[1, 1, 2, 2],
           [1, 1, 2, 2],
           [3, 3, 4, 4],
           [3, 3, 4, 4]])
    """
    return _forward_call("conv_transpose2d", x, weight, bias, stride, padding, output_padding,
                         groups, dilation, 2)


def conv_transpose2d_backward(dout: ArrayLike, x: ArrayLike, weight: ArrayLike,
                              stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                              output_padding: int | Sequence[int] = 0, groups: int = 1,
                              dilation: int | Sequence[int] = 1
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv_transpose2d` given ``dout = dL/d(out)``.

    With ``dcols = im2col(dout)`` (dout put back on the uncut canvas, then read window by window),
    the forward pass ``out = col2im(weight^T @ x)`` gives

    * ``dx = weight @ dcols``, shape (N, C_in, H, W): the *convolution* of dout, i.e.
      ``conv2d_layer(dout, weight, stride=s, padding=p, dilation=d, groups=g)`` (its first
      H x W values, when output_padding >= stride adds a window);
    * ``dweight = sum over the batch of x @ dcols^T``, shape (C_in, C_out / groups, kH, kW);
    * ``dbias = dout summed over N, H_out, W_out``, shape (C_out,).

    Returns:
        (dx, dweight, dbias).
    """
    return _backward_call("conv_transpose2d_backward", dout, x, weight, stride, padding,
                          output_padding, groups, dilation, 2)


def conv_transpose1d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
                     stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                     output_padding: int | Sequence[int] = 0, groups: int = 1,
                     dilation: int | Sequence[int] = 1) -> np.ndarray:
    """Batched 1-D transposed convolution, as ``torch.nn.functional.conv_transpose1d``.

    Args:
        x: (N, C_in, L); weight: (C_in, C_out / groups, k); bias: (C_out,) or None.
        stride, padding, output_padding, groups, dilation: as :func:`conv_transpose2d`, one axis.

    Returns:
        (N, C_out, L_out), ``L_out = (L - 1)s - 2p + d(k - 1) + output_padding + 1``. Computed as
        a 2-D transposed convolution on images of height 1.

    Dumoulin and Visin's example: a convolution with k = 3, s = 2, p = 1 takes length 5 to 3;
    its transpose takes 3 values back to length 5, each one stamping the scaled kernel:

    >>> conv_transpose1d(np.array([[[1, 2, 3]]]), np.array([[[1, 10, 100]]]), stride=2, padding=1)
    array([[[ 10, 102,  20, 203,  30]]])
    """
    return _forward_call("conv_transpose1d", x, weight, bias, stride, padding, output_padding,
                         groups, dilation, 1)


def conv_transpose1d_backward(dout: ArrayLike, x: ArrayLike, weight: ArrayLike,
                              stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                              output_padding: int | Sequence[int] = 0, groups: int = 1,
                              dilation: int | Sequence[int] = 1
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv_transpose1d`, as :func:`conv_transpose2d_backward` on images of
    height 1.

    Returns:
        (dx (N, C_in, L), dweight (C_in, C_out / groups, k), dbias (C_out,)).
    """
    return _backward_call("conv_transpose1d_backward", dout, x, weight, stride, padding,
                          output_padding, groups, dilation, 1)
