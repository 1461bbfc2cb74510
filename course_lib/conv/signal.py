"""Convolution in NumPy, the way the lectures draw it.

1-D:  (a * b)_t  = sum_tau a_tau b_(t - tau)              with ``np.convolve``'s modes
2-D:  (A * B)_ij = sum_(s,t) A_st B_(i - s, j - t)        with ``scipy.signal.convolve2d``'s modes

Each is computed three ways, each one the method itself rather than a call to a library:

* translate-and-scale: add up shifted copies of one array, each scaled by an entry of the other;
* flip-and-filter: flip the kernel and slide it along the input, taking dot products;
* matrix: build the (doubly-block) Toeplitz matrix of the kernel and multiply.

``correlate1d`` / ``correlate2d`` slide the kernel *without* flipping it: that is what a conv-net
layer computes. The layer itself (im2col, ``conv2d_layer`` and its backward pass) lives next door,
in :mod:`course_lib.conv.layer`; import both from :mod:`course_lib.conv`.

Modes ("full" is the default everywhere):

* ``"full"``: every position where the two arrays overlap at all, length ``n + k - 1``;
* ``"same"``: the centre of the full result, as long as the longer input (1-D, like ``np.convolve``)
  or shaped like ``A`` (2-D, like ``convolve2d``);
* ``"valid"``: only positions where one array lies wholly over the other, length ``|n - k| + 1``.

Integer inputs give integer results and float inputs keep their dtype (float32 stays float32), as
``np.convolve`` does; float16 is summed in float32, as ``np.convolve`` does too. (So uint8 inputs
wrap around at 256 exactly as NumPy's own convolution does: use ``.astype(np.int64)`` first.)

NaN and inf stay where the references put them: an output is NaN or inf only if one of its own
products is (``np.convolve`` multiplies only entries that overlap; ``scipy.signal.convolve2d``, in
modes "full" and "same", also multiplies the kernel by the zeros around ``A``, so an infinite
kernel entry makes NaN there). Where an input holds NaN or inf, every method therefore forms just
those products, one by one, instead of a fast matrix product that would also multiply its zeros.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike

from course_lib._checks import (check_int, check_mode, check_size, check_tuple, check_valid_overlap,
                                result_dtype, to_numeric_array)

__all__ = [
    "conv1d_translate_scale", "conv1d_flip_filter", "conv1d_matrix", "conv_matrix_1d",
    "conv2d_translate_scale", "conv2d_flip_filter", "conv2d_matrix", "conv_matrix_2d",
    "correlate1d", "correlate2d",
]


# --- where each mode's output sits inside the full result -----------------------------------------

def _window_1d(n: int, k: int, mode: str, correlate: bool = False) -> tuple[int, int]:
    """(start, length) of ``np.convolve`` (or ``np.correlate``) output within the full result.

    NumPy treats the longer input as the signal whichever argument it is: "same" keeps as many
    outputs as it has, "valid" those where the shorter one lies wholly inside it.
    """
    short, long = sorted((n, k))
    if mode == "full":
        return 0, n + k - 1
    if mode == "valid":
        return short - 1, long - short + 1
    if correlate and k > n:
        # np.correlate swaps its arguments and reverses the result, so its centre rounds up.
        return n // 2, long
    return (short - 1) // 2, long


def _window_2d_axis(n: int, k: int, mode: str, correlate: bool = False) -> tuple[int, int]:
    """(start, length) of ``convolve2d`` (or ``correlate2d``) output along one axis."""
    if mode == "full":
        return 0, n + k - 1
    if mode == "valid":
        return min(n, k) - 1, abs(n - k) + 1
    return (k // 2 if correlate else (k - 1) // 2), n  # "same": shaped like the first input


def _windows_2d(shape: Sequence[int], kshape: Sequence[int], mode: str,
                correlate: bool = False) -> list[tuple[int, int]]:
    return [_window_2d_axis(n, k, mode, correlate) for n, k in zip(shape, kshape)]


def _slide(a: np.ndarray, w: np.ndarray, windows: Sequence[tuple[int, int]], func: str,
           name: str) -> np.ndarray:
    """Dot product of ``w`` with every same-sized window of ``a`` (zeros outside ``a``).

    ``windows`` gives, per axis, the (start, length) of the outputs wanted, counted in the full
    result, where output t pairs ``w`` with ``a[t - k + 1 : t + 1]``.
    """
    pads = [(k - 1 - start, start + length - n)
            for (start, length), n, k in zip(windows, a.shape, w.shape)]
    out_size = np.prod([length for _, length in windows])
    check_size(out_size * w.size, a.itemsize, name, func, "the array of windows",
               "Use the translate-and-scale method, which needs no such array.")
    patches = sliding_window_view(np.pad(a, pads), w.shape)
    if _all_finite(a, w):
        return np.tensordot(patches, w, axes=w.ndim)  # sum over the kernel's axes
    # A matrix product may skip (or multiply) the padding zeros; form only the real products.
    inside = sliding_window_view(np.pad(np.ones(a.shape, bool), pads), w.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(inside, patches * w, 0).sum(axis=tuple(range(-w.ndim, 0)))


def _all_finite(*arrays: np.ndarray) -> bool:
    return all(a.dtype.kind in "iu" or np.isfinite(a).all() for a in arrays)


def _work_dtype(dtype: np.dtype) -> np.dtype:
    """float16 is summed in float32 (as ``np.convolve`` does): its sums overflow at 65504."""
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def _padding_products(bad: np.ndarray, shape: Sequence[int], mode: str,
                      correlate: bool = False) -> np.ndarray | None:
    """Where ``convolve2d`` multiplies an inf or NaN entry of the kernel (``bad``, a boolean mask
    of its entries) by a zero *around* ``A`` (modes "full" and "same"): a (rows, cols) mask of the
    outputs that are NaN for that reason.

    Kernel entry (i, j) meets ``A`` in the rectangle [i, i + H) x [j, j + W) of the full result and
    the padding everywhere else; so outputs outside the intersection of those rectangles, over the
    non-finite entries, meet a padding zero times inf (or NaN). None if there are none.
    """
    if mode == "valid" or not bad.any():
        return None
    if correlate:  # correlation is convolution with the flipped kernel
        bad = bad[::-1, ::-1]
    (H, W), (kh, kw) = shape, bad.shape
    ii, jj = np.nonzero(bad)
    mask = np.ones((H + kh - 1, W + kw - 1), dtype=bool)
    mask[ii.max():ii.min() + H, jj.max():jj.min() + W] = False
    (r0, rows), (c0, cols) = _windows_2d(shape, bad.shape, mode, correlate)
    return mask[r0:r0 + rows, c0:c0 + cols]


def _with_padding_products(out: np.ndarray, B: np.ndarray, shape, mode: str,
                           correlate: bool = False) -> np.ndarray:
    mask = _padding_products(~np.isfinite(B), shape, mode, correlate)
    if mask is not None:
        out = out.astype(np.result_type(out, np.float16), copy=True)  # 0 * inf is NaN
        out[mask] = np.nan
    return out


def _inputs_1d(a: ArrayLike, b: ArrayLike, mode: str, func: str):
    a = to_numeric_array(a, "a", func, ndim=1)
    b = to_numeric_array(b, "b", func, ndim=1)
    dtype = result_dtype(a, b)
    work = _work_dtype(dtype)
    return a.astype(work, copy=False), b.astype(work, copy=False), check_mode(mode, func), dtype


def _inputs_2d(A: ArrayLike, B: ArrayLike, mode: str, func: str):
    A = to_numeric_array(A, "A", func, ndim=2)
    B = to_numeric_array(B, "B", func, ndim=2)
    mode = check_mode(mode, func)
    if mode == "valid":
        check_valid_overlap(A.shape, B.shape, ("A", "B"), func)
    dtype = result_dtype(A, B)
    work = _work_dtype(dtype)
    return A.astype(work, copy=False), B.astype(work, copy=False), mode, dtype


# --- 1-D ------------------------------------------------------------------------------------------

def conv1d_translate_scale(a: ArrayLike, b: ArrayLike, mode: str = "full") -> np.ndarray:
    """1-D convolution by translate-and-scale: ``a * b = sum_tau a_tau (b shifted by tau)``.

    Args:
        a: signal, shape (n,).
        b: kernel, shape (k,).
        mode: "full" (n + k - 1 outputs), "same" (max(n, k)) or "valid" (|n - k| + 1),
            exactly as ``np.convolve``.

    Returns:
        (a * b)_t = sum_tau a_tau b_(t - tau), dtype ``np.result_type(a, b)``.

    >>> conv1d_translate_scale([2, -1, 1], [1, 1, 2])
    array([ 2,  1,  4, -1,  2])
    """
    a, b, mode, dtype = _inputs_1d(a, b, mode, "conv1d_translate_scale")
    full = np.zeros(len(a) + len(b) - 1, dtype=a.dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        for tau, a_tau in enumerate(a):
            full[tau:tau + len(b)] += a_tau * b
    start, length = _window_1d(len(a), len(b), mode)
    return full[start:start + length].astype(dtype, copy=False)


def conv1d_flip_filter(a: ArrayLike, b: ArrayLike, mode: str = "full") -> np.ndarray:
    """1-D convolution by flip-and-filter: flip ``b``, slide it along ``a``, take dot products.

    Shapes, modes and dtype as :func:`conv1d_translate_scale`;
    ``(a * b)_t = sum_j a_(t - k + 1 + j) flip(b)_j`` with zeros outside ``a``.

    >>> conv1d_flip_filter([2, -1, 1], [1, 1, 2])
    array([ 2,  1,  4, -1,  2])
    """
    func = "conv1d_flip_filter"
    a, b, mode, dtype = _inputs_1d(a, b, mode, func)
    window = _window_1d(len(a), len(b), mode)
    return _slide(a, b[::-1], [window], func, "a").astype(dtype, copy=False)


def conv_matrix_1d(b: ArrayLike, n: int, mode: str = "full") -> np.ndarray:
    """The Toeplitz matrix M of kernel ``b``: ``M @ a == np.convolve(a, b, mode)`` for len(a) == n.

    Column j of the full matrix is ``b`` moved down by j rows: ``M[t, tau] = b_(t - tau)``.
    The modes keep the rows of the full (n + k - 1, n) matrix that ``np.convolve`` would keep.

    >>> conv_matrix_1d([1, 1, 2], 3)
    array([[1, 0, 0],
           [1, 1, 0],
           [2, 1, 1],
           [0, 2, 1],
           [0, 0, 2]])
    """
    func = "conv_matrix_1d"
    b = to_numeric_array(b, "b", func, ndim=1)
    n = check_int(n, "n", func, 1)
    return _toeplitz_1d(b, n, check_mode(mode, func), func, "n")


def _toeplitz_1d(b: np.ndarray, n: int, mode: str, func: str, name: str) -> np.ndarray:
    check_size((n + len(b) - 1) * n, b.itemsize, name, func, "the Toeplitz matrix",
               "Use conv1d_flip_filter or conv1d_translate_scale, which need no matrix.")
    full = np.zeros((n + len(b) - 1, n), dtype=b.dtype)
    for tau in range(n):
        full[tau:tau + len(b), tau] = b
    start, length = _window_1d(n, len(b), mode)
    return full[start:start + length]


def _matrix_product(M: np.ndarray, band: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``M @ v``; where ``M`` or ``v`` holds NaN or inf, only the products inside the band (the
    kernel's entries) are formed, as the references do: the zeros around it would add 0 * inf."""
    if _all_finite(M, v):
        return M @ v
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(band, M * v, 0).sum(axis=1)


def conv1d_matrix(a: ArrayLike, b: ArrayLike, mode: str = "full") -> np.ndarray:
    """1-D convolution as a matrix product: ``conv_matrix_1d(b, len(a), mode) @ a``.

    Shapes, modes and dtype as :func:`conv1d_translate_scale`.

    >>> conv1d_matrix([2, -1, 1], [1, 1, 2])
    array([ 2,  1,  4, -1,  2])
    """
    func = "conv1d_matrix"
    a, b, mode, dtype = _inputs_1d(a, b, mode, func)
    M = _toeplitz_1d(b, len(a), mode, func, "a")
    band = None if _all_finite(M, a) else _toeplitz_1d(np.ones(len(b), bool), len(a), mode, func, "a")
    return _matrix_product(M, band, a).astype(dtype, copy=False)


def correlate1d(a: ArrayLike, b: ArrayLike, mode: str = "full") -> np.ndarray:
    """1-D cross-correlation: slide ``b`` along ``a`` *without* flipping it.

    ``c_t = sum_j a_(t - k + 1 + j) conj(b_j)`` for t = 0 .. n + k - 2 (zeros outside ``a``),
    that is ``np.correlate(a, b, mode)`` for every mode (but our default mode is "full").

    >>> correlate1d([2, -1, 1], [1, 1, 2])
    array([4, 0, 3, 0, 1])
    """
    func = "correlate1d"
    a, b, mode, dtype = _inputs_1d(a, b, mode, func)
    window = _window_1d(len(a), len(b), mode, correlate=True)
    return _slide(a, np.conj(b), [window], func, "a").astype(dtype, copy=False)


# --- 2-D ------------------------------------------------------------------------------------------

def conv2d_translate_scale(A: ArrayLike, B: ArrayLike, mode: str = "full") -> np.ndarray:
    """2-D convolution by translate-and-scale: ``A * B = sum_(i,j) B_ij (A shifted by (i, j))``.

    Args:
        A: input, shape (H, W).
        B: kernel, shape (kH, kW).
        mode: as ``scipy.signal.convolve2d``: "full" (H + kH - 1, W + kW - 1), "same" (H, W),
            or "valid" (|H - kH| + 1, |W - kW| + 1), which needs one input at least as large as
            the other in both dimensions.

    Returns:
        (A * B)_ij = sum_(s,t) A_st B_(i - s, j - t), dtype ``np.result_type(A, B)``.

    >>> A = [[1, 3, 1], [0, -1, 1], [2, 2, -1]]
    >>> conv2d_translate_scale(A, [[1, 2], [0, -1]])
    array([[ 1,  5,  7,  2],
           [ 0, -2, -4,  1],
           [ 2,  6,  4, -3],
           [ 0, -2, -2,  1]])
    """
    A, B, mode, dtype = _inputs_2d(A, B, mode, "conv2d_translate_scale")
    (H, W), (kh, kw) = A.shape, B.shape
    full = np.zeros((H + kh - 1, W + kw - 1), dtype=A.dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        for (i, j), b_ij in np.ndenumerate(B):
            full[i:i + H, j:j + W] += b_ij * A
    (r0, rows), (c0, cols) = _windows_2d(A.shape, B.shape, mode)
    out = _with_padding_products(full[r0:r0 + rows, c0:c0 + cols], B, A.shape, mode)
    return out.astype(dtype, copy=False)


def conv2d_flip_filter(A: ArrayLike, B: ArrayLike, mode: str = "full") -> np.ndarray:
    """2-D convolution by flip-and-filter: flip ``B`` both ways, slide it over ``A``, dot products.

    Shapes, modes and dtype as :func:`conv2d_translate_scale`.

    >>> A = [[1, 3, 1], [0, -1, 1], [2, 2, -1]]
    >>> conv2d_flip_filter(A, [[1, 2], [0, -1]])
    array([[ 1,  5,  7,  2],
           [ 0, -2, -4,  1],
           [ 2,  6,  4, -3],
           [ 0, -2, -2,  1]])
    """
    func = "conv2d_flip_filter"
    A, B, mode, dtype = _inputs_2d(A, B, mode, func)
    out = _slide(A, B[::-1, ::-1], _windows_2d(A.shape, B.shape, mode), func, "A")
    return _with_padding_products(out, B, A.shape, mode).astype(dtype, copy=False)


def conv_matrix_2d(B: ArrayLike, shape: int | Sequence[int], mode: str = "full") -> np.ndarray:
    """Doubly-block Toeplitz matrix M of ``B``: ``M @ A.ravel() == convolve2d(A, B, mode).ravel()``.

    For an (H, W) input the full M has (H + kH - 1) x H blocks, each of size (W + kW - 1) x W;
    block (p, q) is ``conv_matrix_1d(B[p - q], W)`` (zero unless 0 <= p - q < kH). The modes keep
    the rows of the outputs ``convolve2d`` keeps. Shape: (output pixels, H * W).

    >>> conv_matrix_2d([[1, 2]], (1, 2))
    array([[1, 0],
           [2, 1],
           [0, 2]])
    """
    func = "conv_matrix_2d"
    B = to_numeric_array(B, "B", func, ndim=2)
    H, W = check_tuple(shape, "shape", func, 2, 1)
    mode = check_mode(mode, func)
    if mode == "valid":
        check_valid_overlap((H, W), B.shape, ("shape", "B"), func)
    return _toeplitz_2d(B, H, W, mode, func, "shape")


def _toeplitz_2d(B: np.ndarray, H: int, W: int, mode: str, func: str, name: str) -> np.ndarray:
    kh, kw = B.shape
    check_size((H + kh - 1) * (W + kw - 1) * H * W, B.itemsize, name, func,
               "the doubly-block Toeplitz matrix",
               "Use conv2d_flip_filter or conv2d_translate_scale, which need no matrix.")
    blocks = [_toeplitz_1d(B[i], W, "full", func, name) for i in range(kh)]
    # Blocks are placed, not multiplied in (np.kron would make 0 * inf = NaN off the band).
    full = np.zeros((H + kh - 1, W + kw - 1, H, W), dtype=B.dtype)
    for q in range(H):
        for i in range(kh):
            full[q + i, :, q, :] = blocks[i]          # block (p, q) with p - q == i
    (r0, rows), (c0, cols) = _windows_2d((H, W), B.shape, mode)
    return full[r0:r0 + rows, c0:c0 + cols].reshape(rows * cols, H * W)


def conv2d_matrix(A: ArrayLike, B: ArrayLike, mode: str = "full") -> np.ndarray:
    """2-D convolution as one matrix product, ``conv_matrix_2d(B, A.shape, mode) @ A.ravel()``.

    Shapes, modes and dtype as :func:`conv2d_translate_scale`.

    >>> A = [[1, 3, 1], [0, -1, 1], [2, 2, -1]]
    >>> conv2d_matrix(A, [[1, 2], [0, -1]])
    array([[ 1,  5,  7,  2],
           [ 0, -2, -4,  1],
           [ 2,  6,  4, -3],
           [ 0, -2, -2,  1]])
    """
    func = "conv2d_matrix"
    A, B, mode, dtype = _inputs_2d(A, B, mode, func)
    (H, W), ((_, rows), (_, cols)) = A.shape, _windows_2d(A.shape, B.shape, mode)
    M = _toeplitz_2d(B, H, W, mode, func, "A")
    band = None if _all_finite(M, A) else _toeplitz_2d(np.ones(B.shape, bool), H, W, mode, func, "A")
    out = _matrix_product(M, band, A.ravel()).reshape(rows, cols)
    return _with_padding_products(out, B, A.shape, mode).astype(dtype, copy=False)


def correlate2d(A: ArrayLike, B: ArrayLike, mode: str = "full") -> np.ndarray:
    """2-D cross-correlation: slide ``B`` over ``A`` *without* flipping it (what a conv layer does).

    ``C_ij = sum_(s,t) A_(i - kH + 1 + s, j - kW + 1 + t) conj(B_st)``, as
    ``scipy.signal.correlate2d``. Shapes and modes as :func:`conv2d_translate_scale`.

    >>> correlate2d([[1, 2], [3, 4]], [[1, 0], [0, 1]], mode="valid")
    array([[5]])
    """
    func = "correlate2d"
    A, B, mode, dtype = _inputs_2d(A, B, mode, func)
    out = _slide(A, np.conj(B), _windows_2d(A.shape, B.shape, mode, correlate=True), func, "A")
    return _with_padding_products(out, B, A.shape, mode, correlate=True).astype(dtype, copy=False)
