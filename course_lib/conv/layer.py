"""The convolution layer in NumPy: im2col, one matrix product, and the backward pass via col2im.

A conv-net layer computes a batched *cross-correlation* (no kernel flip), exactly as
``torch.nn.functional.conv2d``::

    out[n, o, y, x] = bias[o] + sum_(c, i, j) weight[o, c, i, j]
                                              * xpad[n, g*C_g + c, y*sH + i*dH, x*sW + j*dW]

where ``xpad`` is ``x`` with zero padding, ``g`` is the group of output channel ``o`` and
``C_g = C_in / groups``. im2col gathers every window into a column, so the whole layer becomes
one matrix product ``weight (C_out, C_g*kH*kW) @ columns (C_g*kH*kW, N*H_out*W_out)`` (one per
group): the dense product BLAS libraries are tuned for, which is why frameworks do it this way.

Integers are summed in int64 and come back exact (a uint8 image is not wrapped around at 256);
float16 is summed in float32 and given back as float16, as torch does.

The names are re-exported by :mod:`course_lib.conv`; import them from there.
"""
from __future__ import annotations

import threading
from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided
from numpy.typing import ArrayLike

from course_lib._checks import (check_choice, check_groups, check_int, check_kernel_fits,
                                check_multiple, check_shape, check_size, check_tuple, exact_dtype,
                                result_dtype, sum_dtype, to_numeric_array)

__all__ = ["conv_output_size", "im2col", "col2im", "conv2d_layer", "conv2d_layer_backward",
           "conv1d_layer", "conv1d_layer_backward"]

Pads = tuple[tuple[int, int], ...]  # (before, after) zero padding per spatial axis


def conv_output_size(n: int, kernel_size: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> int:
    """Output length of a convolution along one axis: ``floor((n + 2p - d(k - 1) - 1) / s) + 1``.

    ``d(k - 1) + 1`` is the span of the dilated kernel; it must fit in the padded input ``n + 2p``.

    >>> conv_output_size(32, 5)             # LeNet C1
    28
    >>> conv_output_size(227, 11, stride=4)  # AlexNet conv1
    55
    """
    func = "conv_output_size"
    n = check_int(n, "n", func, 1)
    k = check_int(kernel_size, "kernel_size", func, 1)
    s = check_int(stride, "stride", func, 1)
    p = check_int(padding, "padding", func, 0)
    d = check_int(dilation, "dilation", func, 1)
    check_kernel_fits((n,), (k,), (p,), func, name="n", dilation=(d,))
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


# --- the two index gathers: windows to columns, and columns back to the image ---------------------

def _output_shape(size: Sequence[int], kernel: Sequence[int], stride: Sequence[int], pads: Pads,
                  dilation: Sequence[int]) -> tuple[int, ...]:
    return tuple((n + before + after - d * (k - 1) - 1) // s + 1
                 for n, k, s, (before, after), d in zip(size, kernel, stride, pads, dilation))


def _pad(x: np.ndarray, pads: Pads) -> np.ndarray:
    if not any(before or after for before, after in pads):
        return x  # np.pad would copy the whole batch for nothing
    return np.pad(x, ((0, 0), (0, 0), *pads))


def _windows(xpad: np.ndarray, kernel: Sequence[int], stride: Sequence[int],
             dilation: Sequence[int], out_hw: Sequence[int]) -> np.ndarray:
    """A (C, kH, kW, N, H_out, W_out) read-only *view* of the windows of ``xpad``:
    ``[c, i, j, n, y, x] = xpad[n, c, y*sH + i*dH, x*sW + j*dW]``.

    No data moves: the strides just walk the padded input in two ways at once. Flattened, the
    first three axes are the rows of the column matrix and the last three its columns.
    """
    N, C = xpad.shape[:2]
    step_n, step_c, step_h, step_w = xpad.strides
    shape = (C, *kernel, N, *out_hw)
    strides = (step_c, step_h * dilation[0], step_w * dilation[1],
               step_n, step_h * stride[0], step_w * stride[1])
    return as_strided(xpad, shape=shape, strides=strides, writeable=False)


def _columns_to_image(blocks: np.ndarray, padded_hw: Sequence[int], stride: Sequence[int],
                      dilation: Sequence[int]) -> np.ndarray:
    """The reverse of :func:`_windows`: add each (C, kH, kW, N, H_out, W_out) value back in place.

    Windows overlap, so values are *summed*: one vectorised add per kernel offset (i, j).
    Returns the padded (N, C, H + pads, W + pads) image.
    """
    C, kh, kw, N, Ho, Wo = blocks.shape
    image = np.zeros((N, C, *padded_hw), dtype=blocks.dtype)
    for i in range(kh):
        for j in range(kw):
            top, left = i * dilation[0], j * dilation[1]
            image[:, :, top:top + stride[0] * (Ho - 1) + 1:stride[0],
                  left:left + stride[1] * (Wo - 1) + 1:stride[1]] += blocks[:, i, j].swapaxes(0, 1)
    return image


_scratch = threading.local()
_KEEP_AT_MOST = 256 * 2**20  # bytes; a bigger buffer is not kept, so it cannot pin memory


def _workspace(shape: Sequence[int], dtype: np.dtype) -> np.ndarray:
    """An uninitialised array in this thread's reusable buffer (grown when too small).

    Fresh memory for a big array costs the operating system zeroing every page: for AlexNet's
    conv2 that is a third of im2col's time. So the layer keeps its column buffer between calls.
    """
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buffer = getattr(_scratch, "buffer", None)
    if buffer is None or buffer.nbytes < nbytes:
        buffer = np.empty(nbytes, dtype=np.uint8)
        if nbytes <= _KEEP_AT_MOST:
            _scratch.buffer = buffer
    return buffer[:nbytes].view(dtype).reshape(shape)


def _unfold_arguments(func: str, kernel_size, stride, padding, dilation):
    """Checked (height, width) pairs for the four window arguments of im2col and col2im."""
    return (check_tuple(kernel_size, "kernel_size", func, 2, 1), check_tuple(stride, "stride", func, 2, 1),
            check_tuple(padding, "padding", func, 2, 0), check_tuple(dilation, "dilation", func, 2, 1))


def im2col(x: ArrayLike, kernel_size: int | Sequence[int], stride: int | Sequence[int] = 1,
           padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1) -> np.ndarray:
    """Unfold every kernel-sized window of a batch into a column (``torch.nn.functional.unfold``).

    Args:
        x: (N, C, H, W).
        kernel_size, stride, padding, dilation: ints or (height, width) pairs.

    Returns:
        (N, C*kH*kW, L) with L = H_out * W_out; row ``c*kH*kW + i*kW + j`` holds kernel offset
        (i, j) of channel c, column ``y*W_out + x`` the window at output position (y, x).

    >>> im2col(np.arange(9).reshape(1, 1, 3, 3), 2)[0]
    array([[0, 1, 3, 4],
           [1, 2, 4, 5],
           [3, 4, 6, 7],
           [4, 5, 7, 8]])
    """
    func = "im2col"
    x = to_numeric_array(x, "x", func, ndim=4, what="(N, C, H, W) batch")
    kernel, stride, padding, dilation = _unfold_arguments(func, kernel_size, stride, padding, dilation)
    check_kernel_fits(x.shape[2:], kernel, padding, func, name="x", dilation=dilation)
    pads = tuple((p, p) for p in padding)
    out_hw = _output_shape(x.shape[2:], kernel, stride, pads, dilation)
    check_size(x.size // np.prod(x.shape[2:]) * np.prod(kernel) * np.prod(out_hw), 8, "x", func, "the columns")
    windows = _windows(_pad(x, pads), kernel, stride, dilation, out_hw)
    # (C, kH, kW, N, H_out, W_out) -> (N, C*kH*kW, L): the reshape makes the one copy.
    return windows.transpose(3, 0, 1, 2, 4, 5).reshape(x.shape[0], -1, out_hw[0] * out_hw[1])


def col2im(cols: ArrayLike, output_size: int | Sequence[int], kernel_size: int | Sequence[int],
           stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
           dilation: int | Sequence[int] = 1) -> np.ndarray:
    """Fold columns back into a batch, summing where windows overlap (``torch.nn.functional.fold``).

    Args:
        cols: (N, C*kH*kW, L), laid out as :func:`im2col` returns it.
        output_size: (H, W) of the image, before padding.
        kernel_size, stride, padding, dilation: ints or pairs, as given to :func:`im2col`.

    Returns:
        (N, C, H, W). ``col2im`` is the adjoint (transpose) of ``im2col``, not its inverse:
        a pixel covered by m windows receives the sum of its m copies.

    >>> col2im(np.ones((1, 4, 4)), 3, 2)[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    func = "col2im"
    cols = to_numeric_array(cols, "cols", func, ndim=3, what="(N, C*kH*kW, L) array of columns")
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
    padded_hw = [n + 2 * p for n, p in zip(size, padding)]
    check_size(N * C * padded_hw[0] * padded_hw[1], 8, "output_size", func, "the image")
    # Overlapping windows add up: sum integers in int64 and float16 in float32.
    blocks = cols.astype(sum_dtype(cols.dtype)).reshape(N, C, *kernel, *out_hw).transpose(1, 2, 3, 0, 4, 5)
    image = _columns_to_image(blocks, padded_hw, stride, dilation)
    image = image[:, :, padding[0]:padding[0] + size[0], padding[1]:padding[1] + size[1]]
    return image.astype(exact_dtype(cols.dtype), copy=False)


# --- argument handling shared by the 1-D and 2-D layers -------------------------------------------

def _resolve_padding(padding, kernel: Sequence[int], stride: Sequence[int],
                     dilation: Sequence[int], func: str) -> Pads:
    """(before, after) per axis. "same" pads d(k-1) in total, the odd one after, as torch does."""
    dims = len(kernel)
    if isinstance(padding, str):
        check_choice(padding, ("valid", "same"), "padding", func)
        if padding == "valid":
            return ((0, 0),) * dims
        if any(s != 1 for s in stride):
            raise ValueError(f"{func}: argument 'padding' can be 'same' only with stride 1 "
                             f"(as in torch), got stride={tuple(stride)}. Give padding as ints.")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    return tuple((p, p) for p in check_tuple(padding, "padding", func, dims, 0))


def _layer_arguments(func: str, x, weight, bias, stride, padding, dilation, groups, dims: int):
    """Validate a layer call; return arrays of one common dtype (the one to sum in), per-axis
    settings, and the dtype of the result."""
    layout = "(N, C, H, W) batch" if dims == 2 else "(N, C, L) batch"
    kernel_layout = ("(C_out, C_in/groups, kH, kW) weight" if dims == 2
                     else "(C_out, C_in/groups, k) weight")
    x = to_numeric_array(x, "x", func, ndim=dims + 2, what=layout)
    weight = to_numeric_array(weight, "weight", func, ndim=dims + 2, what=kernel_layout)
    stride = check_tuple(stride, "stride", func, dims, 1)
    dilation = check_tuple(dilation, "dilation", func, dims, 1)
    groups = check_int(groups, "groups", func, 1)
    check_groups(groups, x.shape[1], weight.shape[0], func)
    in_channels = weight.shape[1] * groups
    check_shape(x, (x.shape[0], in_channels, *x.shape[2:]), "x", func,
                why=f"weight of shape {weight.shape} with groups={groups} expects {in_channels} "
                    f"input channels")
    kernel = weight.shape[2:]
    pads = _resolve_padding(padding, kernel, stride, dilation, func)
    if not (isinstance(padding, str) and padding == "same"):  # "same" always fits
        check_kernel_fits(x.shape[2:], kernel, [p for p, _ in pads], func, name="x",
                          dilation=dilation)
    arrays = [x, weight]
    if bias is not None:
        bias = to_numeric_array(bias, "bias", func, ndim=1, what="(C_out,) vector")
        check_shape(bias, (weight.shape[0],), "bias", func,
                    why="one value per output channel, weight.shape[0]")
        arrays.append(bias)
    out_dtype = exact_dtype(result_dtype(*arrays))
    dtype = sum_dtype(out_dtype)
    x, weight = x.astype(dtype, copy=False), weight.astype(dtype, copy=False)
    if bias is not None:
        bias = bias.astype(dtype, copy=False)
    out_hw = _output_shape(x.shape[2:], kernel, stride, pads, dilation)
    check_size(x.shape[1] * np.prod(kernel) * x.shape[0] * np.prod(out_hw), 8, "x", func, "im2col's columns")
    return x, weight, bias, stride, pads, dilation, groups, out_dtype


def _as_2d(stride, pads, dilation):
    """1-D settings as 2-D ones with a height of 1."""
    return (1, *stride), ((0, 0), *pads), (1, *dilation)


# --- the layer, forward and backward --------------------------------------------------------------

def _grouped_columns(x, kernel, stride, pads, dilation, groups):
    """im2col as (groups, C_g*kH*kW, N*L), in the workspace: the single big copy of the layer."""
    out_hw = _output_shape(x.shape[2:], kernel, stride, pads, dilation)
    windows = _windows(_pad(x, pads), kernel, stride, dilation, out_hw)
    cols = _workspace(windows.shape, x.dtype)
    np.copyto(cols, windows)
    return cols.reshape(groups, -1, x.shape[0] * out_hw[0] * out_hw[1]), out_hw


def _forward(x, weight, bias, stride, pads, dilation, groups):
    N, (C_out, _, kh, kw) = x.shape[0], weight.shape
    cols, out_hw = _grouped_columns(x, (kh, kw), stride, pads, dilation, groups)
    # One product per group, (C_out/g, C_g*kH*kW) @ (C_g*kH*kW, N*L), with the whole batch side
    # by side in the long, contiguous axis: the shape BLAS runs fastest.
    product = np.matmul(weight.reshape(groups, C_out // groups, -1), cols)
    out = np.empty((N, C_out, *out_hw), dtype=product.dtype)
    # Back to (N, C_out, H_out, W_out), adding the bias on the way: one pass over the output.
    np.add(product.reshape(C_out, N, *out_hw).swapaxes(0, 1),
           0 if bias is None else bias.reshape(-1, 1, 1), out=out)
    return out


def _backward(dout, x, weight, stride, pads, dilation, groups):
    N, C, H, W = x.shape
    C_out, _, kh, kw = weight.shape
    cols, out_hw = _grouped_columns(x, (kh, kw), stride, pads, dilation, groups)
    # dout in the layout of the forward product: (groups, C_out/g, N*L).
    dout_g = dout.swapaxes(0, 1).reshape(groups, C_out // groups, -1)
    weight_g = weight.reshape(groups, C_out // groups, -1)
    # out = weight @ cols, so dweight = dout @ cols^T and dcols = weight^T @ dout.
    dweight = np.matmul(dout_g, cols.swapaxes(1, 2)).reshape(weight.shape)
    dcols = np.matmul(weight_g.swapaxes(1, 2), dout_g)
    padded_hw = [n + before + after for n, (before, after) in zip((H, W), pads)]
    dxpad = _columns_to_image(dcols.reshape(C, kh, kw, N, *out_hw), padded_hw, stride, dilation)
    (top, _), (left, _) = pads
    dx = dxpad[:, :, top:top + H, left:left + W]
    return dx, dweight, dout.sum(axis=(0, 2, 3))


def _check_dout(dout, func, x, weight, stride, pads, dilation, dims, layer_dtype):
    """``dout`` checked and in the dtype to sum in; and the dtype of the gradients."""
    dout = to_numeric_array(dout, "dout", func, ndim=dims + 2, what="gradient of the layer output")
    out_size = _output_shape(x.shape[2:], weight.shape[2:], stride, pads, dilation)
    check_shape(dout, (x.shape[0], weight.shape[0], *out_size), "dout", func,
                why="the shape of the layer's output for these x and weight")
    grad_dtype = exact_dtype(result_dtype(dout, np.empty(0, layer_dtype)))
    return dout.astype(sum_dtype(grad_dtype), copy=False), grad_dtype


def conv2d_layer(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
                 stride: int | Sequence[int] = 1, padding: int | Sequence[int] | str = 0,
                 dilation: int | Sequence[int] = 1, groups: int = 1) -> np.ndarray:
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
        (N, C_out, H_out, W_out), ``H_out = floor((H + 2p - d(kH - 1) - 1) / s) + 1`` (see
        :func:`conv_output_size`), computed as im2col plus one (batched) matrix product.

    A layer does not flip its kernel, so the lecture's convolution is a layer with the kernel
    flipped by hand (and padding k - 1 for mode "full"):

    >>> x = np.array([[1, 3, 1], [0, -1, 1], [2, 2, -1]]).reshape(1, 1, 3, 3)
    >>> flipped = np.array([[1, 2], [0, -1]])[::-1, ::-1].reshape(1, 1, 2, 2)
    >>> conv2d_layer(x, flipped, padding=1)[0, 0]
    array([[ 1,  5,  7,  2],
           [ 0, -2, -4,  1],
           [ 2,  6,  4, -3],
           [ 0, -2, -2,  1]])
    """
    *args, dtype = _layer_arguments("conv2d_layer", x, weight, bias, stride, padding, dilation, groups, 2)
    return _forward(*args).astype(dtype, copy=False)


def conv2d_layer_backward(dout: ArrayLike, x: ArrayLike, weight: ArrayLike,
                          stride: int | Sequence[int] = 1, padding: int | Sequence[int] | str = 0,
                          dilation: int | Sequence[int] = 1, groups: int = 1
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv2d_layer` given ``dout = dL/d(out)``.

    With ``cols = im2col(x)``, the forward pass is ``out = weight @ cols + bias``, so

    * ``dweight = sum over the batch of dout @ cols^T``, shape (C_out, C_in / groups, kH, kW);
    * ``dx = col2im(weight^T @ dout)``, shape (N, C_in, H, W) (overlapping windows add up);
    * ``dbias = dout summed over N, H_out, W_out``, shape (C_out,).

    Returns:
        (dx, dweight, dbias).
    """
    func = "conv2d_layer_backward"
    x, weight, _, stride, pads, dilation, groups, dtype = _layer_arguments(
        func, x, weight, None, stride, padding, dilation, groups, 2)
    dout, dtype = _check_dout(dout, func, x, weight, stride, pads, dilation, 2, dtype)
    x, weight = x.astype(dout.dtype, copy=False), weight.astype(dout.dtype, copy=False)
    return tuple(g.astype(dtype, copy=False) for g in _backward(dout, x, weight, stride, pads, dilation, groups))


def conv1d_layer(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
                 stride: int | Sequence[int] = 1, padding: int | Sequence[int] | str = 0,
                 dilation: int | Sequence[int] = 1, groups: int = 1) -> np.ndarray:
    """Batched 1-D cross-correlation, as ``torch.nn.functional.conv1d``.

    Args:
        x: (N, C_in, L); weight: (C_out, C_in / groups, k); bias: (C_out,) or None.
        stride, padding, dilation, groups: as :func:`conv2d_layer`, for one axis.

    Returns:
        (N, C_out, L_out), ``L_out = floor((L + 2p - d(k - 1) - 1) / s) + 1``. Computed as a
        2-D layer on images of height 1.

    >>> conv1d_layer(np.array([[[2, -1, 1]]]), np.array([[[2, 1, 1]]]), padding=2)[0, 0]
    array([ 2,  1,  4, -1,  2])
    """
    x, weight, bias, stride, pads, dilation, groups, dtype = _layer_arguments(
        "conv1d_layer", x, weight, bias, stride, padding, dilation, groups, 1)
    out = _forward(x[:, :, None], weight[:, :, None], bias, *_as_2d(stride, pads, dilation), groups)
    return out[:, :, 0].astype(dtype, copy=False)


def conv1d_layer_backward(dout: ArrayLike, x: ArrayLike, weight: ArrayLike,
                          stride: int | Sequence[int] = 1, padding: int | Sequence[int] | str = 0,
                          dilation: int | Sequence[int] = 1, groups: int = 1
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv1d_layer`, as :func:`conv2d_layer_backward` on images of height 1.

    Returns:
        (dx (N, C_in, L), dweight (C_out, C_in/groups, k), dbias (C_out,)).
    """
    func = "conv1d_layer_backward"
    x, weight, _, stride, pads, dilation, groups, dtype = _layer_arguments(
        func, x, weight, None, stride, padding, dilation, groups, 1)
    dout, dtype = _check_dout(dout, func, x, weight, stride, pads, dilation, 1, dtype)
    x, weight = x.astype(dout.dtype, copy=False), weight.astype(dout.dtype, copy=False)
    dx, dweight, dbias = _backward(dout[:, :, None], x[:, :, None], weight[:, :, None],
                                   *_as_2d(stride, pads, dilation), groups)
    return tuple(g.astype(dtype, copy=False) for g in (dx[:, :, 0], dweight[:, :, 0], dbias))
