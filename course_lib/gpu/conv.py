"""Convolution in torch, the way the lectures draw it: the functions of :mod:`course_lib.conv`.

1-D:  (a * b)_t  = sum_tau a_tau b_(t - tau)              with ``np.convolve``'s modes
2-D:  (A * B)_ij = sum_(s,t) A_st B_(i - s, j - t)        with ``scipy.signal.convolve2d``'s modes

Same names, arguments, modes, checks and messages as the NumPy side; tensors stay on the device
they came from and autograd flows through. Import them from :mod:`course_lib.gpu`. Each method
is built from the torch primitive that *is* that method:

* translate-and-scale: slice-adds of shifted, scaled copies (``full[tau:tau + n] += a_tau * b``);
* flip-and-filter: ``Tensor.unfold`` lists every window of the padded input, and one product with
  the flipped kernel takes all the dot products at once;
* matrix: the (doubly-block) Toeplitz matrix is gathered on the device from an index matrix
  ``t - tau``, then multiplied.

Which part of the full result each mode keeps is decided by the NumPy side's own helpers, so the
two sides cannot drift apart. Integer tensors give integer results; dtypes follow torch's type
promotion (float32 stays float32); float16 and bfloat16 are summed in float32. NaN and inf stay
where ``np.convolve`` and ``scipy.signal`` put them, as on the NumPy side (see there).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from course_lib._checks import check_int, check_mode, check_size, check_tuple, check_valid_overlap
from course_lib.conv.signal import _padding_products, _window_1d, _windows_2d
from course_lib.gpu.conv_layer import _common_dtype, _matmul, _pad, _read_tensor, _same_device

__all__ = [
    "conv1d_translate_scale", "conv1d_flip_filter", "conv1d_matrix", "conv_matrix_1d",
    "conv2d_translate_scale", "conv2d_flip_filter", "conv2d_matrix", "conv_matrix_2d",
    "correlate1d", "correlate2d",
]


def _read(t, name: str, func: str, ndim: int) -> torch.Tensor:
    return _read_tensor(t, name, func, "course_lib.conv", ndim=ndim)


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    """Half-precision sums overflow (float16 at 65504): they are summed in float32."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _inputs_1d(a, b, mode: str, func: str):
    a, b = _read(a, "a", func, 1), _read(b, "b", func, 1)
    mode = check_mode(mode, func)
    _same_device(func, a=a, b=b)
    dtype = _common_dtype(a, b)
    return a.to(_work_dtype(dtype)), b.to(_work_dtype(dtype)), mode, dtype


def _inputs_2d(A, B, mode: str, func: str):
    A, B = _read(A, "A", func, 2), _read(B, "B", func, 2)
    mode = check_mode(mode, func)
    if mode == "valid":
        check_valid_overlap(tuple(A.shape), tuple(B.shape), ("A", "B"), func)
    _same_device(func, A=A, B=B)
    dtype = _common_dtype(A, B)
    return A.to(_work_dtype(dtype)), B.to(_work_dtype(dtype)), mode, dtype


def _all_finite(*tensors: torch.Tensor) -> bool:
    return all(not (t.is_floating_point() or t.is_complex()) or bool(torch.isfinite(t).all())
               for t in tensors)


def _with_padding_products(out: torch.Tensor, B: torch.Tensor, shape, mode: str,
                           correlate: bool = False) -> torch.Tensor:
    """NaN where scipy multiplies an inf/NaN of ``B`` by a zero around ``A`` (NumPy side's rule)."""
    if _all_finite(B):
        return out
    mask = _padding_products((~torch.isfinite(B)).cpu().numpy(), shape, mode, correlate)
    if mask is None:
        return out
    return out.masked_fill(torch.from_numpy(mask).to(out.device), float("nan"))


def _slide(a: torch.Tensor, w: torch.Tensor, windows: Sequence[tuple[int, int]], func: str,
           name: str) -> torch.Tensor:
    """Dot product of ``w`` with every same-sized window of ``a`` (zeros outside ``a``).

    ``windows`` gives, per axis, the (start, length) of the outputs wanted, counted in the full
    result, where output t pairs ``w`` with ``a[t - k + 1 : t + 1]``: so pad just enough zeros,
    list the windows with ``Tensor.unfold`` (a view, one axis at a time) and take all the dot
    products in one matrix-vector product.
    """
    pads = tuple((k - 1 - start, start + length - n)
                 for (start, length), n, k in zip(windows, a.shape, w.shape))
    out_size = math.prod(length for _, length in windows)
    check_size(out_size * w.numel(), a.element_size(), name, func, "the array of windows",
               "Use the translate-and-scale method, which needs no such array.")

    def windows_of(t: torch.Tensor) -> torch.Tensor:
        t = _pad(t, pads)
        for axis, k in enumerate(w.shape):
            t = t.unfold(axis, k, 1)     # (out_0, ..., k_0, ...)
        return t

    patches = windows_of(a)
    out_shape = patches.shape[:w.ndim]
    if _all_finite(a, w):
        return _matmul(patches.reshape(-1, w.numel()), w.reshape(-1)).reshape(out_shape)
    # A matrix product may skip (or multiply) the padding zeros; form only the real products.
    inside = windows_of(torch.ones(a.shape, dtype=torch.bool, device=a.device))
    products = torch.where(inside, patches * w, torch.zeros((), dtype=a.dtype, device=a.device))
    return products.sum(dim=tuple(range(-w.ndim, 0)))


def _band_product(M: torch.Tensor, band: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``M @ v``; with NaN or inf about, only the products inside the band (the kernel's entries)
    are formed, as the references do: the zeros around it would add 0 * inf = NaN."""
    if _all_finite(M, v):
        return _matmul(M, v)
    zero = torch.zeros((), dtype=M.dtype, device=M.device)
    return torch.where(band, M * v, zero).sum(dim=1)


# --- 1-D ------------------------------------------------------------------------------------------

def conv1d_translate_scale(a: torch.Tensor, b: torch.Tensor, mode: str = "full") -> torch.Tensor:
    """1-D convolution by translate-and-scale: ``a * b = sum_tau a_tau (b shifted by tau)``.

    Args:
        a: signal, shape (n,).
        b: kernel, shape (k,).
        mode: "full" (n + k - 1 outputs), "same" (max(n, k)) or "valid" (|n - k| + 1),
            exactly as ``np.convolve``.

    Returns:
        (a * b)_t = sum_tau a_tau b_(t - tau), on the device of ``a``.

    Each step adds a whole shifted copy at once. Since a * b == b * a, the loop runs over the
    shorter of the two, so there are min(n, k) steps.

    >>> conv1d_translate_scale(torch.tensor([2, -1, 1]), torch.tensor([1, 1, 2]))
    tensor([ 2,  1,  4, -1,  2])
    """
    a, b, mode, dtype = _inputs_1d(a, b, mode, "conv1d_translate_scale")
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    full = a.new_zeros(len(a) + len(b) - 1)
    for tau in range(len(short)):
        full[tau:tau + len(long)] += short[tau] * long
    start, length = _window_1d(len(a), len(b), mode)
    return full[start:start + length].to(dtype)


def conv1d_flip_filter(a: torch.Tensor, b: torch.Tensor, mode: str = "full") -> torch.Tensor:
    """1-D convolution by flip-and-filter: flip ``b``, slide it along ``a``, take dot products.

    Shapes and modes as :func:`conv1d_translate_scale`;
    ``(a * b)_t = sum_j a_(t - k + 1 + j) flip(b)_j`` with zeros outside ``a``.

    >>> conv1d_flip_filter(torch.tensor([2, -1, 1]), torch.tensor([1, 1, 2]))
    tensor([ 2,  1,  4, -1,  2])
    """
    func = "conv1d_flip_filter"
    a, b, mode, dtype = _inputs_1d(a, b, mode, func)
    return _slide(a, b.flip(0), [_window_1d(len(a), len(b), mode)], func, "a").to(dtype)


def _toeplitz_1d(b: torch.Tensor, n: int, mode: str, func: str, name: str) -> torch.Tensor:
    """``M[t, tau] = b[t - tau]`` (0 outside the kernel), for the rows t the mode keeps."""
    k = len(b)
    start, length = _window_1d(n, k, mode)
    check_size(length * n, 8, name, func, "the Toeplitz matrix's index matrix",
               "Use conv1d_flip_filter or conv1d_translate_scale, which need no matrix.")
    t = torch.arange(start, start + length, device=b.device)[:, None]   # output positions
    tau = torch.arange(n, device=b.device)[None, :]                      # input positions
    lag = t - tau                                                        # the index matrix
    inside = (lag >= 0) & (lag < k)
    return torch.where(inside, b[lag.clamp(0, k - 1)], torch.zeros((), dtype=b.dtype,
                                                                     device=b.device))


def conv_matrix_1d(b: torch.Tensor, n: int, mode: str = "full") -> torch.Tensor:
    """The Toeplitz matrix M of kernel ``b``: ``M @ a == np.convolve(a, b, mode)`` for len(a) == n.

    Column j of the full matrix is ``b`` moved down by j rows: ``M[t, tau] = b_(t - tau)``,
    gathered from ``b`` with the index matrix ``t - tau``, on the device of ``b``. The modes keep
    the rows of the full (n + k - 1, n) matrix that ``np.convolve`` would keep.

    >>> conv_matrix_1d(torch.tensor([1, 1, 2]), 3)
    tensor([[1, 0, 0],
            [1, 1, 0],
            [2, 1, 1],
            [0, 2, 1],
            [0, 0, 2]])
    """
    func = "conv_matrix_1d"
    b = _read(b, "b", func, 1)
    n = check_int(n, "n", func, 1)
    return _toeplitz_1d(b, n, check_mode(mode, func), func, "n")


def conv1d_matrix(a: torch.Tensor, b: torch.Tensor, mode: str = "full") -> torch.Tensor:
    """1-D convolution as a matrix product: ``conv_matrix_1d(b, len(a), mode) @ a``.

    Shapes and modes as :func:`conv1d_translate_scale`.

    >>> conv1d_matrix(torch.tensor([2, -1, 1]), torch.tensor([1, 1, 2]))
    tensor([ 2,  1,  4, -1,  2])
    """
    func = "conv1d_matrix"
    a, b, mode, dtype = _inputs_1d(a, b, mode, func)
    M = _toeplitz_1d(b, len(a), mode, func, "a")
    band = None if _all_finite(M, a) else _toeplitz_1d(torch.ones_like(b, dtype=torch.bool), len(a), mode,
                                                          func, "a")
    return _band_product(M, band, a).to(dtype)


def correlate1d(a: torch.Tensor, b: torch.Tensor, mode: str = "full") -> torch.Tensor:
    """1-D cross-correlation: slide ``b`` along ``a`` *without* flipping it.

    ``c_t = sum_j a_(t - k + 1 + j) conj(b_j)`` for t = 0 .. n + k - 2 (zeros outside ``a``),
    that is ``np.correlate(a, b, mode)`` for every mode (but our default mode is "full").

    >>> correlate1d(torch.tensor([2, -1, 1]), torch.tensor([1, 1, 2]))
    tensor([4, 0, 3, 0, 1])
    """
    func = "correlate1d"
    a, b, mode, dtype = _inputs_1d(a, b, mode, func)
    return _slide(a, b.conj(), [_window_1d(len(a), len(b), mode, correlate=True)], func, "a").to(dtype)


# --- 2-D ------------------------------------------------------------------------------------------

def conv2d_translate_scale(A: torch.Tensor, B: torch.Tensor, mode: str = "full") -> torch.Tensor:
    """2-D convolution by translate-and-scale: ``A * B = sum_(i,j) B_ij (A shifted by (i, j))``.

    Args:
        A: input, shape (H, W).
        B: kernel, shape (kH, kW).
        mode: as ``scipy.signal.convolve2d``: "full" (H + kH - 1, W + kW - 1), "same" (H, W),
            or "valid" (|H - kH| + 1, |W - kW| + 1), which needs one input at least as large as
            the other in both dimensions.

    Returns:
        (A * B)_ij = sum_(s,t) A_st B_(i - s, j - t), on the device of ``A``.

    Each step adds a whole shifted, scaled copy; the loop runs over the entries of whichever of
    ``A`` and ``B`` has fewer (usually the kernel), since A * B == B * A.

    >>> A = torch.tensor([[1, 3, 1], [0, -1, 1], [2, 2, -1]])
    >>> conv2d_translate_scale(A, torch.tensor([[1, 2], [0, -1]]))
    tensor([[ 1,  5,  7,  2],
            [ 0, -2, -4,  1],
            [ 2,  6,  4, -3],
            [ 0, -2, -2,  1]])
    """
    A, B, mode, dtype = _inputs_2d(A, B, mode, "conv2d_translate_scale")
    (H, W), (kh, kw) = A.shape, B.shape
    small, large = (B, A) if B.numel() <= A.numel() else (A, B)
    rows, cols = large.shape
    full = A.new_zeros((H + kh - 1, W + kw - 1))
    for i in range(small.shape[0]):
        for j in range(small.shape[1]):
            full[i:i + rows, j:j + cols] += small[i, j] * large
    (r0, out_rows), (c0, out_cols) = _windows_2d((H, W), (kh, kw), mode)
    out = full[r0:r0 + out_rows, c0:c0 + out_cols]
    return _with_padding_products(out, B, (H, W), mode).to(dtype)


def conv2d_flip_filter(A: torch.Tensor, B: torch.Tensor, mode: str = "full") -> torch.Tensor:
    """2-D convolution by flip-and-filter: flip ``B`` both ways, slide it over ``A``, dot products.

    Shapes and modes as :func:`conv2d_translate_scale`.

    >>> A = torch.tensor([[1, 3, 1], [0, -1, 1], [2, 2, -1]])
    >>> conv2d_flip_filter(A, torch.tensor([[1, 2], [0, -1]]))
    tensor([[ 1,  5,  7,  2],
            [ 0, -2, -4,  1],
            [ 2,  6,  4, -3],
            [ 0, -2, -2,  1]])
    """
    func = "conv2d_flip_filter"
    A, B, mode, dtype = _inputs_2d(A, B, mode, func)
    out = _slide(A, B.flip(0, 1), _windows_2d(tuple(A.shape), tuple(B.shape), mode), func, "A")
    return _with_padding_products(out, B, tuple(A.shape), mode).to(dtype)


def _toeplitz_2d(B: torch.Tensor, H: int, W: int, mode: str, func: str, name: str) -> torch.Tensor:
    """``M[(r, c), (s, t)] = B[r - s, c - t]`` (0 outside the kernel), for the outputs kept."""
    kh, kw = B.shape
    (r0, rows), (c0, cols) = _windows_2d((H, W), (kh, kw), mode)
    check_size(rows * cols * H * W, 8, name, func, "the Toeplitz matrix's index matrix",
               "Use conv2d_flip_filter or conv2d_translate_scale, which need no matrix.")

    def positions(start: int, count: int) -> torch.Tensor:
        return torch.arange(start, start + count, device=B.device)

    # Output pixel (r, c) along the first two axes, input pixel (s, t) along the last two.
    di = positions(r0, rows)[:, None, None, None] - positions(0, H)[None, None, :, None]
    dj = positions(c0, cols)[None, :, None, None] - positions(0, W)[None, None, None, :]
    inside = (di >= 0) & (di < kh) & (dj >= 0) & (dj < kw)
    gathered = B[di.clamp(0, kh - 1), dj.clamp(0, kw - 1)]
    M = torch.where(inside, gathered, torch.zeros((), dtype=B.dtype, device=B.device))
    return M.reshape(rows * cols, H * W)


def conv_matrix_2d(B: torch.Tensor, shape: int | Sequence[int], mode: str = "full") -> torch.Tensor:
    """The doubly-block Toeplitz M of ``B``: ``M @ A.ravel() == convolve2d(A, B, mode).ravel()``.

    ``M[(r, c), (s, t)] = B[r - s, c - t]`` (zero outside the kernel), gathered on the device of
    ``B``. For an (H, W) input the full M has (H + kH - 1) x H blocks, each of size
    (W + kW - 1) x W; block (p, q) is ``conv_matrix_1d(B[p - q], W)``. The modes keep the rows of
    the outputs ``convolve2d`` keeps. Shape: (output pixels, H * W).

    >>> conv_matrix_2d(torch.tensor([[1, 2]]), (1, 2))
    tensor([[1, 0],
            [2, 1],
            [0, 2]])
    """
    func = "conv_matrix_2d"
    B = _read(B, "B", func, 2)
    H, W = check_tuple(shape, "shape", func, 2, 1)
    mode = check_mode(mode, func)
    if mode == "valid":
        check_valid_overlap((H, W), tuple(B.shape), ("shape", "B"), func)
    return _toeplitz_2d(B, H, W, mode, func, "shape")


def conv2d_matrix(A: torch.Tensor, B: torch.Tensor, mode: str = "full") -> torch.Tensor:
    """2-D convolution as one matrix product: ``conv_matrix_2d(B, A.shape, mode) @ A.ravel()``.

    Shapes and modes as :func:`conv2d_translate_scale`.

    >>> A = torch.tensor([[1, 3, 1], [0, -1, 1], [2, 2, -1]])
    >>> conv2d_matrix(A, torch.tensor([[1, 2], [0, -1]]))
    tensor([[ 1,  5,  7,  2],
            [ 0, -2, -4,  1],
            [ 2,  6,  4, -3],
            [ 0, -2, -2,  1]])
    """
    func = "conv2d_matrix"
    A, B, mode, dtype = _inputs_2d(A, B, mode, func)
    (H, W) = A.shape
    (_, rows), (_, cols) = _windows_2d((H, W), tuple(B.shape), mode)
    M = _toeplitz_2d(B, H, W, mode, func, "A")
    band = None if _all_finite(M, A) else _toeplitz_2d(torch.ones_like(B, dtype=torch.bool), H, W, mode,
                                                          func, "A")
    out = _band_product(M, band, A.reshape(-1)).reshape(rows, cols)
    return _with_padding_products(out, B, (H, W), mode).to(dtype)


def correlate2d(A: torch.Tensor, B: torch.Tensor, mode: str = "full") -> torch.Tensor:
    """2-D cross-correlation: slide ``B`` over ``A`` *without* flipping it (what a conv layer does).

    ``C_ij = sum_(s,t) A_(i - kH + 1 + s, j - kW + 1 + t) conj(B_st)``, as
    ``scipy.signal.correlate2d``. Shapes and modes as :func:`conv2d_translate_scale`.

    >>> correlate2d(torch.tensor([[1, 2], [3, 4]]), torch.tensor([[1, 0], [0, 1]]), mode="valid")
    tensor([[5]])
    """
    func = "correlate2d"
    A, B, mode, dtype = _inputs_2d(A, B, mode, func)
    out = _slide(A, B.conj(), _windows_2d(tuple(A.shape), tuple(B.shape), mode, correlate=True), func, "A")
    return _with_padding_products(out, B, tuple(A.shape), mode, correlate=True).to(dtype)
