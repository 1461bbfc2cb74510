"""course_lib.gpu against the NumPy side (course_lib.conv, course_lib.pool) and independent
references (np.convolve, np.correlate, scipy.signal, torch.nn.functional), on every device here.

"cpu" always runs; "cuda" runs where torch.cuda.is_available() (those tests are marked gpu).
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F
from hypothesis import assume, given, strategies as st
from hypothesis.extra import numpy as hnp

from course_lib import conv, gpu, pool
from course_lib.gpu.conv_layer import _integer_matmul_without_blas

HAS_CUDA = torch.cuda.is_available()
DEVICES = ["cpu", pytest.param("cuda", marks=[
    pytest.mark.gpu, pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device here")])]
MODES = ("full", "same", "valid")
METHODS_1D = ["conv1d_translate_scale", "conv1d_flip_filter", "conv1d_matrix"]
METHODS_2D = ["conv2d_translate_scale", "conv2d_flip_filter", "conv2d_matrix"]


def on(device: str, a, dtype: torch.dtype | None = None) -> torch.Tensor:
    """A NumPy array as a tensor on ``device``."""
    return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)


def back(t: torch.Tensor) -> np.ndarray:
    """A tensor from any device as a NumPy array."""
    return t.detach().cpu().numpy()


def assert_same(got: torch.Tensor, expected: np.ndarray, device: str, exact: bool) -> None:
    """``got`` stayed on ``device`` and equals ``expected``: exactly, dtype included, or to 1e-9."""
    assert got.device.type == device
    if exact:
        assert got.dtype == torch.from_numpy(np.zeros(0, np.asarray(expected).dtype)).dtype
        np.testing.assert_array_equal(back(got), expected)
    else:
        np.testing.assert_allclose(back(got), expected, rtol=1e-9, atol=1e-9)


small_ints = st.integers(-9, 9)
signals = hnp.arrays(np.int64, st.integers(1, 12), elements=small_ints)
images = hnp.arrays(np.int64, st.tuples(st.integers(1, 7), st.integers(1, 7)), elements=small_ints)


# --- the lecture's worked examples ---------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", METHODS_1D)
def test_lecture_example_1d(device, method):
    out = getattr(gpu, method)(on(device, [2, -1, 1]), on(device, [1, 1, 2]))
    assert_same(out, np.convolve([2, -1, 1], [1, 1, 2]), device, exact=True)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", METHODS_2D)
def test_lecture_example_2d(device, method):
    A, B = [[1, 3, 1], [0, -1, 1], [2, 2, -1]], [[1, 2], [0, -1]]
    out = getattr(gpu, method)(on(device, A), on(device, B))
    assert_same(out, scipy.signal.convolve2d(A, B), device, exact=True)


# --- 1-D and 2-D convolution: three methods against NumPy/scipy and course_lib.conv ---------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", METHODS_1D)
@given(a=signals, b=signals, mode=st.sampled_from(MODES))
def test_conv1d_methods_match_numpy(device, method, a, b, mode):
    """Every mode, odd and even kernels, and kernels longer than the input; integers stay exact."""
    out = getattr(gpu, method)(on(device, a), on(device, b), mode)
    assert_same(out, np.convolve(a, b, mode), device, exact=True)
    assert_same(out, getattr(conv, method)(a, b, mode), device, exact=True)


@pytest.mark.parametrize("device", DEVICES)
@given(a=signals, b=signals, mode=st.sampled_from(MODES))
def test_correlate1d_matches_numpy(device, a, b, mode):
    out = gpu.correlate1d(on(device, a), on(device, b), mode)
    assert_same(out, np.correlate(a, b, mode), device, exact=True)
    assert_same(out, conv.correlate1d(a, b, mode), device, exact=True)


def _valid_possible(A: np.ndarray, B: np.ndarray) -> bool:
    return (all(m >= n for m, n in zip(A.shape, B.shape))
            or all(n >= m for m, n in zip(A.shape, B.shape)))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", METHODS_2D)
@given(A=images, B=images, mode=st.sampled_from(MODES))
def test_conv2d_methods_match_scipy(device, method, A, B, mode):
    assume(mode != "valid" or _valid_possible(A, B))
    out = getattr(gpu, method)(on(device, A), on(device, B), mode)
    assert_same(out, scipy.signal.convolve2d(A, B, mode), device, exact=True)
    assert_same(out, getattr(conv, method)(A, B, mode), device, exact=True)


@pytest.mark.parametrize("device", DEVICES)
@given(A=images, B=images, mode=st.sampled_from(MODES))
def test_correlate2d_matches_scipy(device, A, B, mode):
    assume(mode != "valid" or _valid_possible(A, B))
    out = gpu.correlate2d(on(device, A), on(device, B), mode)
    assert_same(out, scipy.signal.correlate2d(A, B, mode), device, exact=True)
    assert_same(out, conv.correlate2d(A, B, mode), device, exact=True)


@pytest.mark.parametrize("device", DEVICES)
@given(b=signals, n=st.integers(1, 10), mode=st.sampled_from(MODES))
def test_conv_matrix_1d_matches_numpy(device, b, n, mode):
    M = gpu.conv_matrix_1d(on(device, b), n, mode)
    assert_same(M, conv.conv_matrix_1d(b, n, mode), device, exact=True)
    a = np.arange(1, n + 1)
    np.testing.assert_array_equal(back(M) @ a, np.convolve(a, b, mode))


@pytest.mark.parametrize("device", DEVICES)
@given(B=images, shape=st.tuples(st.integers(1, 6), st.integers(1, 6)), mode=st.sampled_from(MODES))
def test_conv_matrix_2d_matches_numpy(device, B, shape, mode):
    assume(mode != "valid" or _valid_possible(np.empty(shape), B))
    M = gpu.conv_matrix_2d(on(device, B), shape, mode)
    assert_same(M, conv.conv_matrix_2d(B, shape, mode), device, exact=True)
    A = np.arange(shape[0] * shape[1]).reshape(shape)
    np.testing.assert_array_equal(back(M) @ A.ravel(), scipy.signal.convolve2d(A, B, mode).ravel())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", ["conv1d_translate_scale", "conv1d_flip_filter", "conv1d_matrix",
                                    "correlate1d"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_1d_floats_keep_their_dtype(device, method, dtype):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(9), rng.standard_normal(4)
    out = getattr(gpu, method)(on(device, a, dtype), on(device, b, dtype), "same")
    assert out.dtype == dtype
    expected = getattr(conv, method)(a, b, "same")
    np.testing.assert_allclose(back(out), expected, rtol=1e-5 if dtype == torch.float32 else 1e-12,
                               atol=1e-5 if dtype == torch.float32 else 1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", ["conv2d_translate_scale", "conv2d_flip_filter", "conv2d_matrix",
                                    "correlate2d"])
def test_2d_float32_keeps_its_dtype(device, method):
    rng = np.random.default_rng(2)
    A, B = (rng.standard_normal(shape).astype(np.float32) for shape in ((5, 6), (3, 2)))
    out = getattr(gpu, method)(on(device, A), on(device, B), "full")
    assert out.dtype == torch.float32
    np.testing.assert_allclose(back(out), getattr(conv, method)(A, B), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
@given(ac=hnp.arrays(np.int64, st.tuples(st.just(2), st.integers(1, 12)), elements=small_ints),
       b=signals, alpha=small_ints)
def test_lecture_properties_commutativity_and_linearity(device, ac, b, alpha):
    ta, tb, tc = on(device, ac[0]), on(device, b), on(device, ac[1])
    for method in (gpu.conv1d_translate_scale, gpu.conv1d_flip_filter, gpu.conv1d_matrix):
        assert torch.equal(method(ta, tb), method(tb, ta))
        assert torch.equal(method(alpha * ta + tc, tb), alpha * method(ta, tb) + method(tc, tb))


@pytest.mark.parametrize("device", DEVICES)
@given(AC=hnp.arrays(np.int64, st.tuples(st.just(2), st.integers(1, 6), st.integers(1, 6)),
                     elements=small_ints),
       B=images, alpha=small_ints)
def test_lecture_properties_in_2d(device, AC, B, alpha):
    tA, tB, tC = on(device, AC[0]), on(device, B), on(device, AC[1])
    for method in (gpu.conv2d_translate_scale, gpu.conv2d_flip_filter, gpu.conv2d_matrix):
        assert torch.equal(method(tA, tB), method(tB, tA))
        assert torch.equal(method(alpha * tA + tC, tB), alpha * method(tA, tB) + method(tC, tB))


# --- integers on devices without integer matrix products -----------------------------------------

@pytest.mark.parametrize("scale", [10, 2 ** 28], ids=["float64-exact", "entry-by-entry"])
@pytest.mark.parametrize("b_is_vector", [False, True])
def test_integer_matmul_without_blas_is_exact(scale, b_is_vector):
    """The path CUDA takes for integers, run here on the CPU against the CPU's integer product."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randint(-scale, scale, (2, 5, 7), generator=gen)
    b = torch.randint(-scale, scale, (7,) if b_is_vector else (7, 3), generator=gen)
    got = _integer_matmul_without_blas(a, b)
    assert got.dtype == torch.int64
    assert torch.equal(got, a @ b)


@pytest.mark.parametrize("high", [10, 2 ** 28], ids=["float64-exact", "entry-by-entry"])
def test_integers_exact_without_integer_matmul(monkeypatch, high):
    """Every integer product routed as on CUDA (no integer matmul kernel), here on the CPU."""
    from course_lib.gpu import conv as gpu_conv, conv_layer as gpu_conv_layer

    def no_integer_kernels(a, b):
        return a @ b if a.is_floating_point() else _integer_matmul_without_blas(a, b)

    monkeypatch.setattr(gpu_conv, "_matmul", no_integer_kernels)
    monkeypatch.setattr(gpu_conv_layer, "_matmul", no_integer_kernels)
    rng = np.random.default_rng(7)
    a, b = rng.integers(-high, high, 11), rng.integers(-high, high, 4)
    A, B = rng.integers(-high, high, (6, 5)), rng.integers(-high, high, (3, 2))
    for method in ("conv1d_flip_filter", "conv1d_matrix", "correlate1d"):
        assert_same(getattr(gpu, method)(on("cpu", a), on("cpu", b), "same"),
                    getattr(conv, method)(a, b, "same"), "cpu", exact=True)
    for method in ("conv2d_flip_filter", "conv2d_matrix", "correlate2d"):
        assert_same(getattr(gpu, method)(on("cpu", A), on("cpu", B), "full"),
                    getattr(conv, method)(A, B, "full"), "cpu", exact=True)
    x, weight = rng.integers(-high, high, (2, 4, 6, 5)), rng.integers(-high, high, (2, 2, 3, 2))
    settings = dict(stride=2, padding=1, groups=2)
    out = gpu.conv2d_layer(on("cpu", x), on("cpu", weight), **settings)
    assert_same(out, conv.conv2d_layer(x, weight, **settings), "cpu", exact=True)
    dout = rng.integers(-high, high, tuple(out.shape))
    hand = gpu.conv2d_layer_backward(*(on("cpu", v) for v in (dout, x, weight)), **settings)
    for got, expected in zip(hand, conv.conv2d_layer_backward(dout, x, weight, **settings)):
        assert_same(got, expected, "cpu", exact=True)


@pytest.mark.parametrize("device", DEVICES)
def test_large_integers_stay_exact(device):
    """Beyond float64's 2**53 every method must still be exact, as np.convolve is."""
    rng = np.random.default_rng(3)
    a, b = rng.integers(-2 ** 30, 2 ** 30, 20), rng.integers(-2 ** 30, 2 ** 30, 5)
    for method in ("conv1d_translate_scale", "conv1d_flip_filter", "conv1d_matrix"):
        assert_same(getattr(gpu, method)(on(device, a), on(device, b)), np.convolve(a, b),
                    device, exact=True)


# --- the layer: im2col, forward, backward, autograd -----------------------------------------------

@st.composite
def layer_cases(draw, dims: int = 2):
    """A conv layer call torch accepts: stride, padding (ints or a string), dilation and groups."""
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    padding = draw(st.sampled_from(["ints", "same", "valid"]))
    if padding == "same":
        stride = (1,) * dims
    else:
        stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(dims)) if padding == "ints" else (0,) * dims
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    size = tuple(draw(st.integers(max(1, s - 2 * p), s + 5)) for s, p in zip(spans, pads))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((draw(st.integers(1, 2)), c_in) + size)
    weight = rng.standard_normal((c_out, c_in // groups) + kernel)
    bias = rng.standard_normal(c_out) if draw(st.booleans()) else None
    settings = dict(stride=stride, padding=pads if padding == "ints" else padding,
                    dilation=dilation, groups=groups)
    return x, weight, bias, settings, seed + 1


def _torch_layer(dims: int):
    return F.conv2d if dims == 2 else F.conv1d


@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")  # torch's own note
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dims", [1, 2])
@given(data=st.data())
def test_layer_forward_matches_torch_and_numpy(device, dims, data):
    x, weight, bias, settings, _ = data.draw(layer_cases(dims))
    layer = gpu.conv2d_layer if dims == 2 else gpu.conv1d_layer
    numpy_layer = conv.conv2d_layer if dims == 2 else conv.conv1d_layer
    tb = None if bias is None else on(device, bias)
    out = layer(on(device, x), on(device, weight), tb, **settings)
    expected = _torch_layer(dims)(on("cpu", x), on("cpu", weight),
                                  None if bias is None else on("cpu", bias), **settings)
    assert_same(out, back(expected), device, exact=False)
    assert_same(out, numpy_layer(x, weight, bias, **settings), device, exact=False)


@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dims", [1, 2])
@given(data=st.data())
def test_layer_backward_and_autograd_match_torch(device, dims, data):
    """The hand-written backward, autograd through gpu's forward and through F.convNd agree."""
    x, weight, bias, settings, seed = data.draw(layer_cases(dims))
    bias = np.zeros(weight.shape[0]) if bias is None else bias
    layer = gpu.conv2d_layer if dims == 2 else gpu.conv1d_layer
    layer_backward = gpu.conv2d_layer_backward if dims == 2 else gpu.conv1d_layer_backward
    numpy_backward = conv.conv2d_layer_backward if dims == 2 else conv.conv1d_layer_backward

    def grads(forward, device_):
        leaves = [on(device_, v).requires_grad_() for v in (x, weight, bias)]
        out = forward(*leaves, **settings)
        dout = on(device_, np.random.default_rng(seed).standard_normal(tuple(out.shape)))
        return dout, torch.autograd.grad(out, leaves, dout)

    dout, ours = grads(layer, device)
    _, reference = grads(_torch_layer(dims), "cpu")
    by_hand = layer_backward(dout, on(device, x), on(device, weight), **settings)
    from_numpy = numpy_backward(back(dout), x, weight, **settings)
    for got, autograd_torch, hand, numpy_side in zip(ours, reference, by_hand, from_numpy):
        assert_same(got, back(autograd_torch), device, exact=False)
        assert_same(hand, back(autograd_torch), device, exact=False)
        assert_same(hand, numpy_side, device, exact=False)


@pytest.mark.parametrize("device", DEVICES)
def test_integer_layer_is_exact(device):
    rng = np.random.default_rng(4)
    x, weight = rng.integers(-9, 9, (2, 4, 7, 6)), rng.integers(-9, 9, (6, 2, 3, 2))
    bias = rng.integers(-9, 9, 6)
    settings = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    out = gpu.conv2d_layer(on(device, x), on(device, weight), on(device, bias), **settings)
    assert_same(out, conv.conv2d_layer(x, weight, bias, **settings), device, exact=True)
    dout = rng.integers(-9, 9, tuple(out.shape))
    hand = gpu.conv2d_layer_backward(*(on(device, v) for v in (dout, x, weight)), **settings)
    for got, expected in zip(hand, conv.conv2d_layer_backward(dout, x, weight, **settings)):
        assert_same(got, expected, device, exact=True)


@st.composite
def unfold_cases(draw):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    size = tuple(draw(st.integers(max(1, s - 2 * p), s + 5)) for s, p in zip(spans, padding))
    x = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1))).integers(
        -9, 9, (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + size)
    return x, dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation)


@pytest.mark.parametrize("device", DEVICES)
@given(case=unfold_cases(), as_float=st.booleans())
def test_im2col_and_col2im_match_unfold_and_fold(device, case, as_float):
    """Both paths: F.unfold / F.fold for floats, Tensor.unfold and slice-adds for integers."""
    x, settings = case
    x = x.astype(np.float64) if as_float else x
    cols = gpu.im2col(on(device, x), **settings)
    assert_same(cols, back(F.unfold(on("cpu", x, torch.float64), **settings)).astype(x.dtype),
                device, exact=True)
    assert_same(cols, conv.im2col(x, **settings), device, exact=True)
    image = gpu.col2im(cols, x.shape[2:], **settings)
    folded = F.fold(on("cpu", back(cols), torch.float64), x.shape[2:], **settings)
    assert_same(image, back(folded).astype(x.dtype), device, exact=True)
    assert_same(image, conv.col2im(back(cols), x.shape[2:], **settings), device, exact=True)


def test_conv_output_size_is_the_numpy_one():
    assert gpu.conv_output_size is conv.conv_output_size


# --- gradcheck: autograd through every forward, and each hand-written backward --------------------

def _with_backward(forward, backward):
    """An autograd Function whose backward is ours, so gradcheck checks it by finite differences."""
    class ByHand(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *inputs):
            ctx.save_for_backward(*inputs)
            return forward(*inputs)

        @staticmethod
        def backward(ctx, dout):
            return backward(dout, *ctx.saved_tensors)

    return ByHand.apply


def _double(*shape: int, seed: int = 0, positive: bool = False) -> torch.Tensor:
    t = torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (t.abs() + 0.5 if positive else t).requires_grad_()


@pytest.mark.parametrize("method", ["conv1d_translate_scale", "conv1d_flip_filter", "conv1d_matrix",
                                    "correlate1d"])
@pytest.mark.parametrize("lengths", [(5, 3), (2, 4)])
def test_gradcheck_1d(method, lengths):
    a, b = _double(lengths[0], seed=1), _double(lengths[1], seed=2)
    for mode in MODES:
        assert torch.autograd.gradcheck(lambda a, b: getattr(gpu, method)(a, b, mode), (a, b))


@pytest.mark.parametrize("method", ["conv2d_translate_scale", "conv2d_flip_filter", "conv2d_matrix",
                                    "correlate2d"])
def test_gradcheck_2d(method):
    A, B = _double(4, 3, seed=3), _double(2, 2, seed=4)
    for mode in MODES:
        assert torch.autograd.gradcheck(lambda A, B: getattr(gpu, method)(A, B, mode), (A, B))


def test_gradcheck_conv_matrices():
    b, B = _double(3, seed=5), _double(2, 3, seed=6)
    assert torch.autograd.gradcheck(lambda b: gpu.conv_matrix_1d(b, 4, "same"), (b,))
    assert torch.autograd.gradcheck(lambda B: gpu.conv_matrix_2d(B, (3, 3), "full"), (B,))


@pytest.mark.parametrize("dims", [1, 2])
def test_gradcheck_layer_forward_and_backward(dims):
    size = (5, 6) if dims == 2 else (7,)
    kernel = (2, 3) if dims == 2 else (3,)
    x, weight = _double(2, 4, *size, seed=7), _double(4, 2, *kernel, seed=8)
    bias = _double(4, seed=9)
    settings = dict(stride=2, padding=1, dilation=1, groups=2)
    layer = gpu.conv2d_layer if dims == 2 else gpu.conv1d_layer
    layer_backward = gpu.conv2d_layer_backward if dims == 2 else gpu.conv1d_layer_backward
    assert torch.autograd.gradcheck(lambda x, w, b: layer(x, w, b, **settings), (x, weight, bias))
    by_hand = _with_backward(lambda x, w, b: layer(x, w, b, **settings),
                             lambda dout, x, w, b: layer_backward(dout, x, w, **settings))
    assert torch.autograd.gradcheck(by_hand, (x, weight, bias))


POOLS_BY_HAND = {
    "max_pool2d": (lambda x: gpu.max_pool2d(x, 3, 2, 1),
                   lambda dout, x: (gpu.max_pool2d_backward(dout, x, 3, 2, 1),)),
    "avg_pool2d": (lambda x: gpu.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
                   lambda dout, x: (gpu.avg_pool2d_backward(dout, x, 3, 2, 1, False),)),
    "lp_pool2d": (lambda x: gpu.lp_pool2d(x, 3.0, 2, 1),
                  lambda dout, x: (gpu.lp_pool2d_backward(dout, x, 3.0, 2, 1),)),
    "max_pool1d": (lambda x: gpu.max_pool1d(x[0], 3, 2, 1),
                   lambda dout, x: (gpu.max_pool1d_backward(dout, x[0], 3, 2, 1)[None],)),
    "avg_pool1d": (lambda x: gpu.avg_pool1d(x[0], 2, 1),
                   lambda dout, x: (gpu.avg_pool1d_backward(dout, x[0], 2, 1)[None],)),
}


@pytest.mark.parametrize("name", POOLS_BY_HAND)
def test_gradcheck_pooling_forward_and_backward(name):
    forward, backward = POOLS_BY_HAND[name]
    x = _double(1, 2, 5, 5, seed=10, positive=True)  # distinct values: no ties, no zero windows
    assert torch.autograd.gradcheck(forward, (x,))
    assert torch.autograd.gradcheck(_with_backward(forward, backward), (x,))


# --- pooling against torch and course_lib.pool ---------------------------------------------------

@st.composite
def pool_cases(draw, spatial: int = 2, padded: bool = True, ties: bool = False):
    """A pooling geometry torch accepts: overlapping windows, gaps, padding, unbatched input."""
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(spatial))
    stride = None if draw(st.booleans()) else tuple(draw(st.integers(1, 4)) for _ in range(spatial))
    padding = tuple(draw(st.integers(0, k // 2)) if padded else 0 for k in kernel)
    size = tuple(draw(st.integers(max(1, k - 2 * p), 8)) for k, p in zip(kernel, padding))
    lead = (draw(st.integers(1, 2)), draw(st.integers(1, 3)))
    if draw(st.booleans()):
        lead = lead[1:]
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    # Integer-valued floats from a small range make ties common: the first maximum must win.
    x = rng.integers(-3, 4, lead + size).astype(float) if ties else rng.standard_normal(lead + size)
    pick = (lambda t: t if t is None else t[0]) if spatial == 1 else (lambda t: t)
    return x, pick(kernel), pick(stride), pick(padding)


def _pool_check(device, x, gpu_forward, gpu_backward, torch_forward, numpy_forward, numpy_backward):
    """Forward: gpu = torch = NumPy. Gradients: autograd through gpu = autograd through torch
    = gpu backward = NumPy backward."""
    xt = on(device, x).requires_grad_()
    reference_x = on("cpu", x).requires_grad_()
    out, reference = gpu_forward(xt), torch_forward(reference_x)
    assert_same(out, back(reference), device, exact=False)
    assert_same(out, numpy_forward(x), device, exact=False)
    dout = np.random.default_rng(5).standard_normal(tuple(out.shape))
    (ours,) = torch.autograd.grad(out, xt, on(device, dout))
    (theirs,) = torch.autograd.grad(reference, reference_x, on("cpu", dout))
    assert_same(ours, back(theirs), device, exact=False)
    assert_same(gpu_backward(on(device, dout), on(device, x)), back(theirs), device, exact=False)
    assert_same(gpu_backward(on(device, dout), on(device, x)), numpy_backward(dout, x), device,
                exact=False)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("spatial", [1, 2])
@given(data=st.data())
def test_max_pool_matches_torch_and_numpy(device, spatial, data):
    x, k, s, p = data.draw(pool_cases(spatial, ties=True))
    ours, theirs = ((gpu.max_pool2d, F.max_pool2d) if spatial == 2
                    else (gpu.max_pool1d, F.max_pool1d))
    ours_back = gpu.max_pool2d_backward if spatial == 2 else gpu.max_pool1d_backward
    numpy_fwd, numpy_back = ((pool.max_pool2d, pool.max_pool2d_backward) if spatial == 2
                             else (pool.max_pool1d, pool.max_pool1d_backward))
    _pool_check(device, x,
                lambda t: ours(t, k, s, p), lambda d, t: ours_back(d, t, k, s, p),
                lambda t: theirs(t, k, s, p),
                lambda a: numpy_fwd(a, k, s, p), lambda d, a: numpy_back(d, a, k, s, p))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("spatial", [1, 2])
@given(data=st.data(), include_pad=st.booleans())
def test_avg_pool_matches_torch_and_numpy(device, spatial, data, include_pad):
    x, k, s, p = data.draw(pool_cases(spatial))
    ours, theirs = ((gpu.avg_pool2d, F.avg_pool2d) if spatial == 2
                    else (gpu.avg_pool1d, F.avg_pool1d))
    ours_back = gpu.avg_pool2d_backward if spatial == 2 else gpu.avg_pool1d_backward
    numpy_fwd, numpy_back = ((pool.avg_pool2d, pool.avg_pool2d_backward) if spatial == 2
                             else (pool.avg_pool1d, pool.avg_pool1d_backward))
    _pool_check(device, x,
                lambda t: ours(t, k, s, p, include_pad),
                lambda d, t: ours_back(d, t, k, s, p, include_pad),
                lambda t: theirs(t, k, s, p, count_include_pad=include_pad),
                lambda a: numpy_fwd(a, k, s, p, include_pad),
                lambda d, a: numpy_back(d, a, k, s, p, include_pad))


@pytest.mark.parametrize("device", DEVICES)
@given(data=st.data(), p=st.sampled_from([1.0, 2.0, 3.0, 1.5]))
def test_lp_pool2d_matches_torch_and_numpy(device, data, p):
    x, k, s, _ = data.draw(pool_cases(2, padded=False))
    x = np.abs(x) + 0.1  # positive: every power is defined and no window sums to zero
    _pool_check(device, x,
                lambda t: gpu.lp_pool2d(t, p, k, s),
                lambda d, t: gpu.lp_pool2d_backward(d, t, p, k, s),
                lambda t: F.lp_pool2d(t, p, k, s),
                lambda a: pool.lp_pool2d(a, p, k, s),
                lambda d, a: pool.lp_pool2d_backward(d, a, p, k, s))


@pytest.mark.parametrize("device", DEVICES)
def test_lp_pool2d_zero_window_and_infinite_p(device):
    x = np.array([[[0., 0., 1.], [0., 0., -2.]]])
    xt = on(device, x).requires_grad_()
    out = gpu.lp_pool2d(xt, 2, (2, 1))
    (grad,) = torch.autograd.grad(out.sum(), xt)
    assert torch.isfinite(grad).all()  # a window of zeros passes no gradient, as in torch
    dout = np.ones(tuple(out.shape))
    assert_same(gpu.lp_pool2d_backward(on(device, dout), on(device, x), 2, (2, 1)),
                pool.lp_pool2d_backward(dout, x, 2, (2, 1)), device, exact=False)
    assert_same(gpu.lp_pool2d(on(device, x), float("inf"), (2, 1)),
                pool.lp_pool2d(x, float("inf"), (2, 1)), device, exact=False)
    assert_same(gpu.lp_pool2d_backward(on(device, dout), on(device, x), float("inf"), (2, 1)),
                pool.lp_pool2d_backward(dout, x, float("inf"), (2, 1)), device, exact=False)


@pytest.mark.parametrize("device", DEVICES)
def test_pooling_lecture_example_and_integers(device):
    x = np.array([[1, 3, 2, 1], [2, 9, 1, 1], [1, 3, 2, 3], [5, 6, 1, 2]]).reshape(1, 1, 4, 4)
    assert_same(gpu.max_pool2d(on(device, x), 2, 2), pool.max_pool2d(x, 2, 2), device, exact=True)
    assert_same(gpu.max_pool2d(on(device, x), 3, 2, 1), pool.max_pool2d(x, 3, 2, 1), device,
                exact=True)
    assert_same(gpu.avg_pool2d(on(device, x), 3, 2, 1), pool.avg_pool2d(x, 3, 2, 1), device,
                exact=True)  # integer means are float64, as on the NumPy side
    channels = np.arange(24).reshape(2, 6, 2)
    assert_same(gpu.max_pool_channels(on(device, channels), 3), pool.max_pool_channels(channels, 3),
                device, exact=True)


@pytest.mark.parametrize("device", DEVICES)
@given(group=st.integers(1, 3), groups=st.integers(1, 3),
       rest=st.lists(st.integers(1, 3), max_size=3), seed=st.integers(0, 2 ** 32 - 1))
def test_max_pool_channels_matches_numpy(device, group, groups, rest, seed):
    x = np.random.default_rng(seed).integers(-5, 5, (2, group * groups, *rest))
    assert_same(gpu.max_pool_channels(on(device, x), group), pool.max_pool_channels(x, group),
                device, exact=True)


# --- default_device ------------------------------------------------------------------------------

def test_default_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert gpu.default_device() == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert gpu.default_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert gpu.default_device() == torch.device("cuda")


# --- bad input: the same exception and the same message as the NumPy side -------------------------

def _x(*shape):
    return np.ones(shape)


BAD_INPUTS = {
    # name: (function name, positional arguments, keyword arguments)
    "empty a": ("conv1d_translate_scale", (np.ones(0), _x(3)), {}),
    "empty B": ("conv2d_flip_filter", (_x(3, 3), np.ones((0, 2))), {}),
    "empty x of a pool": ("max_pool2d", (np.ones((1, 0, 4, 4)), 2), {}),
    "a not 1-D": ("conv1d_flip_filter", (_x(2, 3), _x(3)), {}),
    "A not 2-D": ("conv2d_matrix", (_x(3), _x(2, 2)), {}),
    "non-numeric b": ("conv1d_matrix", (_x(3), np.ones(3, bool)), {}),
    "non-numeric x": ("conv2d_layer", (np.ones((1, 1, 3, 3), bool), _x(1, 1, 2, 2)), {}),
    "unknown mode": ("correlate1d", (_x(3), _x(2)), {"mode": "circular"}),
    "unknown mode 2-D": ("correlate2d", (_x(3, 3), _x(2, 2)), {"mode": "fulll"}),
    "valid with no cover": ("conv2d_translate_scale", (_x(2, 4), _x(3, 3)), {"mode": "valid"}),
    "matrix n zero": ("conv_matrix_1d", (_x(3), 0), {}),
    "matrix shape wrong length": ("conv_matrix_2d", (_x(2, 2), (3, 3, 3)), {}),
    "stride zero": ("conv2d_layer", (_x(1, 1, 4, 4), _x(1, 1, 2, 2)), {"stride": 0}),
    "stride negative pair": ("conv1d_layer", (_x(1, 1, 4), _x(1, 1, 2)), {"stride": (-1,)}),
    "padding negative": ("conv2d_layer", (_x(1, 1, 4, 4), _x(1, 1, 2, 2)), {"padding": -1}),
    "padding unknown string": ("conv2d_layer", (_x(1, 1, 4, 4), _x(1, 1, 2, 2)),
                               {"padding": "full"}),
    "padding same with stride": ("conv2d_layer", (_x(1, 1, 4, 4), _x(1, 1, 2, 2)),
                                 {"padding": "same", "stride": 2}),
    "dilation zero": ("conv2d_layer_backward", (_x(1, 1, 3, 3), _x(1, 1, 4, 4), _x(1, 1, 2, 2)),
                      {"dilation": 0}),
    "stride a float": ("im2col", (_x(1, 1, 4, 4), 2), {"stride": 1.5}),
    "channel mismatch": ("conv2d_layer", (_x(1, 3, 4, 4), _x(2, 2, 2, 2)), {}),
    "groups do not divide": ("conv2d_layer", (_x(1, 4, 4, 4), _x(3, 2, 2, 2)), {"groups": 2}),
    "kernel larger than padded input": ("conv2d_layer", (_x(1, 1, 3, 3), _x(1, 1, 5, 5)),
                                        {"padding": 0}),
    "dilated kernel too large": ("conv1d_layer", (_x(1, 1, 4), _x(1, 1, 3)), {"dilation": 2}),
    "layer input not 4-D": ("conv2d_layer", (_x(1, 4, 4), _x(1, 1, 2, 2)), {}),
    "layer weight not 3-D": ("conv1d_layer", (_x(1, 1, 4), _x(1, 2)), {}),
    "bias wrong length": ("conv2d_layer", (_x(1, 1, 4, 4), _x(2, 1, 2, 2), _x(3)), {}),
    "dout wrong shape": ("conv2d_layer_backward", (_x(1, 1, 2, 2), _x(1, 1, 4, 4), _x(1, 1, 2, 2)),
                         {}),
    "col2im columns do not fit": ("col2im", (_x(1, 4, 5), (3, 3), 2), {}),
    "col2im rows not a multiple": ("col2im", (_x(1, 5, 4), (3, 3), 2), {}),
    "pool kernel zero": ("max_pool2d", (_x(1, 1, 4, 4), 0), {}),
    "pool kernel negative": ("avg_pool1d", (_x(1, 4), -2), {}),
    "pool stride zero": ("avg_pool2d", (_x(1, 4, 4), 2), {"stride": 0}),
    "pool padding over half": ("max_pool2d", (_x(1, 4, 4), 2), {"padding": 2}),
    "pool kernel larger than input": ("max_pool1d", (_x(1, 3), 5), {}),
    "pool input rank": ("max_pool2d", (_x(4, 4), 2), {}),
    "pool dout wrong shape": ("max_pool2d_backward", (_x(1, 1, 3, 3), _x(1, 1, 4, 4), 2), {}),
    "lp p zero": ("lp_pool2d", (_x(1, 4, 4), 0, 2), {}),
    "maxout group does not divide": ("max_pool_channels", (_x(1, 5, 2), 2), {}),
}


def _numpy_function(name: str):
    return getattr(conv, name, None) or getattr(pool, name)


def _same_words(message: str) -> str:
    """torch writes torch.float64 where NumPy writes float64: the one difference allowed."""
    return re.sub(r"torch\.(\w+)", r"\1", message)


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_raises_like_numpy(case):
    name, args, kwargs = BAD_INPUTS[case]
    with pytest.raises((ValueError, TypeError)) as numpy_error:
        _numpy_function(name)(*args, **kwargs)
    tensors = [torch.as_tensor(a) if isinstance(a, np.ndarray) else a for a in args]
    with pytest.raises(type(numpy_error.value)) as gpu_error:
        getattr(gpu, name)(*tensors, **kwargs)
    assert _same_words(str(gpu_error.value)) == _same_words(str(numpy_error.value))
    assert f"{name}:" in str(gpu_error.value) and "'" in str(gpu_error.value)  # names the argument


def test_a_list_is_refused_with_a_hint():
    with pytest.raises(TypeError, match=r"conv1d_matrix: argument 'a' must be a torch tensor.*"
                                        r"torch\.as_tensor\(a\)"):
        gpu.conv1d_matrix([1, 2, 3], torch.ones(2))


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device here")
def test_tensors_on_two_devices_are_refused():
    with pytest.raises(ValueError, match="conv1d_flip_filter: arguments 'a' and 'b' must be on the "
                                         "same device"):
        gpu.conv1d_flip_filter(torch.ones(3, device="cuda"), torch.ones(2))


# --- every NumPy name has a torch twin that agrees with it and refuses NumPy arrays kindly --------

def _valid_calls() -> dict[str, tuple[tuple, dict]]:
    """One valid call of every public function of conv and pool, with NumPy arguments."""
    rng = np.random.default_rng(6)
    r = rng.standard_normal
    x4, w4, x3, w3 = r((2, 4, 5, 6)), r((6, 2, 3, 2)), r((2, 4, 7)), r((6, 2, 3))
    xp = r((2, 3, 6, 6))
    calls = {name: ((r(5), r(3)), {}) for name in (
        "conv1d_translate_scale", "conv1d_flip_filter", "conv1d_matrix", "correlate1d")}
    calls.update({name: ((r((4, 5)), r((2, 3))), {}) for name in (
        "conv2d_translate_scale", "conv2d_flip_filter", "conv2d_matrix", "correlate2d")})
    calls.update({
        "conv_matrix_1d": ((r(3), 4), {}),
        "conv_matrix_2d": ((r((2, 3)), (3, 4)), {}),
        "conv_output_size": ((32, 5), {}),
        "im2col": ((x4, 2), {}),
        "col2im": ((r((2, 16, 20)), (5, 6), 2), {}),
        "conv2d_layer": ((x4, w4, r(6)), {"groups": 2}),
        "conv2d_layer_backward": ((r((2, 6, 3, 5)), x4, w4), {"groups": 2}),
        "conv1d_layer": ((x3, w3, r(6)), {"groups": 2}),
        "conv1d_layer_backward": ((r((2, 6, 5)), x3, w3), {"groups": 2}),
        "lp_pool2d": ((np.abs(xp), 2.0, 2), {}),
        "lp_pool2d_backward": ((r((2, 3, 3, 3)), np.abs(xp), 2.0, 2), {}),
        "max_pool_channels": ((r((2, 6, 3)), 3), {}),
    })
    for kind in ("max", "avg"):
        calls[f"{kind}_pool2d"] = ((xp, 3, 2, 1), {})
        calls[f"{kind}_pool2d_backward"] = ((r((2, 3, 3, 3)), xp, 3, 2, 1), {})
        calls[f"{kind}_pool1d"] = ((x3, 3, 2, 1), {})
        calls[f"{kind}_pool1d_backward"] = ((r((2, 4, 4)), x3, 3, 2, 1), {})
    wt4, wt3 = r((4, 3, 3, 2)), r((4, 3, 3))  # transposed: (C_in, C_out/groups, k...)
    transposed = {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2}
    calls.update({
        "conv_transpose_output_size": ((3, 3), {"stride": 2, "padding": 1, "output_padding": 1}),
        "conv_transpose2d": ((x4, wt4, r(6)), transposed),
        "conv_transpose2d_backward": ((r((2, 6, 10, 11)), x4, wt4), transposed),
        "conv_transpose1d": ((x3, wt3, r(6)), transposed),
        "conv_transpose1d_backward": ((r((2, 6, 14)), x3, wt3), transposed),
    })
    return calls


VALID_CALLS = _valid_calls()


def test_gpu_has_every_numpy_name():
    assert set(gpu.__all__) - {"default_device", "pick_device"} == set(conv.__all__) | set(pool.__all__)
    assert set(VALID_CALLS) == set(conv.__all__) | set(pool.__all__)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(set(VALID_CALLS) - {"conv_output_size", "conv_transpose_output_size"}))
def test_every_function_agrees_with_numpy(device, name):
    args, kwargs = VALID_CALLS[name]
    expected = _numpy_function(name)(*args, **kwargs)
    got = getattr(gpu, name)(*[on(device, a) if isinstance(a, np.ndarray) else a for a in args],
                             **kwargs)
    for g, e in zip(got, expected) if isinstance(got, tuple) else [(got, expected)]:
        assert_same(g, e, device, exact=False)


@pytest.mark.parametrize("name", sorted(set(VALID_CALLS) - {"conv_output_size", "conv_transpose_output_size"}))
def test_every_function_refuses_numpy_arrays_kindly(name):
    args, kwargs = VALID_CALLS[name]
    with pytest.raises(TypeError) as error:
        getattr(gpu, name)(*args, **kwargs)
    message = str(error.value)
    home = "course_lib.pool" if name in pool.__all__ else "course_lib.conv"
    assert message.startswith(f"{name}: argument '") and "must be a torch tensor" in message
    assert "torch.as_tensor(" in message and f"{home}.{name}" in message


# --- bad input: NaN and inf where the references put them (item 4) --------------------------------

def _nonfinite(draw, shape):
    a = draw(hnp.arrays(np.float64, shape, elements=st.integers(-4, 4).map(float)))
    for _ in range(draw(st.integers(0, 3))):
        a[tuple(draw(st.integers(0, n - 1)) for n in shape)] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return a


def _same_nonfinite(got: torch.Tensor, expected: np.ndarray) -> None:
    got = back(got)
    assert got.shape == expected.shape
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(test(got), test(expected), err_msg=test.__name__)
    ok = np.isfinite(expected)
    np.testing.assert_array_equal(got[ok], expected[ok])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", METHODS_1D + ["correlate1d"])
@given(data=st.data(), mode=st.sampled_from(MODES))
def test_nan_and_inf_only_where_np_convolve_has_them(device, method, data, mode):
    a, b = (_nonfinite(data.draw, (data.draw(st.integers(1, 6)),)) for _ in range(2))
    reference = np.correlate if method == "correlate1d" else np.convolve
    with np.errstate(invalid="ignore"):
        _same_nonfinite(getattr(gpu, method)(on(device, a), on(device, b), mode), reference(a, b, mode))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", METHODS_2D + ["correlate2d"])
@given(data=st.data(), mode=st.sampled_from(MODES))
def test_nan_and_inf_only_where_scipy_has_them(device, method, data, mode):
    A, B = (_nonfinite(data.draw, (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)))) for _ in range(2))
    assume(mode != "valid" or _valid_possible(A, B))
    reference = scipy.signal.correlate2d if method == "correlate2d" else scipy.signal.convolve2d
    with np.errstate(invalid="ignore"):
        _same_nonfinite(getattr(gpu, method)(on(device, A), on(device, B), mode), reference(A, B, mode))


# --- integers are summed in int64, float16 in float32 (items 5 and 10) ------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.int16, torch.int32])
def test_integer_layers_sum_in_int64(device, dtype):
    big = 100 if dtype == torch.int8 else 200
    x = torch.full((1, 1, 3, 3), big, dtype=dtype, device=device)
    w = torch.full((1, 1, 3, 3), 3, dtype=dtype, device=device)
    out = gpu.conv2d_layer(x, w)
    assert out.dtype == torch.int64 and out.item() == 9 * 3 * big        # not 5400 % 256 = 24
    assert gpu.conv1d_layer(x[:, :, 0], w[:, :, 0]).item() == 3 * 3 * big
    dx, dw, db = gpu.conv2d_layer_backward(torch.full((1, 1, 1, 1), big, dtype=dtype, device=device), x, w)
    assert dx.dtype == torch.int64 and bool((dx == 3 * big).all()) and bool((dw == big * big).all())
    image = gpu.col2im(torch.full((1, 4, 4), big, dtype=dtype, device=device), 3, 2)
    assert image.dtype == torch.int64 and image[0, 0, 1, 1].item() == 4 * big


@pytest.mark.parametrize("device", DEVICES)
def test_float16_sums_in_float32_like_torch(device):
    x = torch.full((1, 1, 2, 2), 30000, dtype=torch.float16, device=device)
    expected = F.avg_pool2d(x.cpu(), 2)
    assert expected.item() == 30000
    out = gpu.avg_pool2d(x, 2)
    assert out.dtype == torch.float16 and out.item() == 30000             # not inf
    assert gpu.conv2d_layer(x, torch.full((1, 1, 2, 2), 0.25, dtype=torch.float16, device=device)).item() == 30000


# --- max-pool gradients at NaN, ties and -inf: torch's choice (item 7) -----------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("spatial", [1, 2])
@given(data=st.data())
def test_max_pool_gradient_matches_torch_at_nan_inf_and_ties(device, spatial, data):
    k = data.draw(st.integers(1, 3))
    p, s = data.draw(st.integers(0, k // 2)), data.draw(st.integers(1, 3))
    shape = (2,) + tuple(data.draw(st.integers(max(1, k - 2 * p), 6)) for _ in range(spatial))
    values = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1.0, 1.0, -2.0])
    x = np.array(data.draw(st.lists(values, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))).reshape(shape)
    forward = F.max_pool2d if spatial == 2 else F.max_pool1d
    xt = torch.tensor(x, requires_grad=True)
    out = forward(xt, k, s, p)
    dout = torch.tensor(data.draw(st.lists(st.sampled_from([1.0, -3.0, np.nan]), min_size=out.numel(),
                                           max_size=out.numel()))).reshape(out.shape)
    out.backward(dout)
    ours = getattr(gpu, f"max_pool{spatial}d")
    x_dev = on(device, x).requires_grad_()
    ours(x_dev, k, s, p).backward(on(device, dout.numpy()))
    np.testing.assert_array_equal(back(x_dev.grad), xt.grad.numpy())
    by_hand = getattr(gpu, f"max_pool{spatial}d_backward")(on(device, dout.numpy()), on(device, x), k, s, p)
    np.testing.assert_array_equal(back(by_hand), xt.grad.numpy())


# --- bools, complex and huge sizes (items 8 and 10) -------------------------------------------------

@pytest.mark.parametrize("value", ["no", 1, None])
def test_count_include_pad_must_be_a_bool(value):
    x = torch.ones(1, 4, 4)
    with pytest.raises(TypeError, match=r"avg_pool2d: argument 'count_include_pad' must be True or False"):
        gpu.avg_pool2d(x, 3, 1, 1, count_include_pad=value)


def test_complex_pooling_is_refused():
    with pytest.raises(TypeError, match=r"max_pool1d: argument 'x' must hold real numbers"):
        gpu.max_pool1d(torch.ones(1, 4, dtype=torch.complex64), 2)


@pytest.mark.parametrize("call, argument", [
    (lambda: gpu.conv_matrix_1d(torch.ones(2), 10 ** 6), "n"),
    (lambda: gpu.conv1d_matrix(torch.ones(()).expand(60000), torch.ones(2)), "a"),
    (lambda: gpu.conv_matrix_2d(torch.ones(2, 2), (300, 300)), "shape"),
    (lambda: gpu.im2col(torch.ones(()).expand(1, 1, 1000, 1000), 100), "x"),
    (lambda: gpu.conv2d_layer(torch.ones(()).expand(1, 1, 1000, 1000), torch.ones(1, 1, 100, 100)), "x"),
    (lambda: gpu.col2im(torch.ones(1, 1, 1), (10 ** 5, 10 ** 5), 1, stride=10 ** 5), "output_size"),
    (lambda: gpu.max_pool2d(torch.ones(()).expand(1, 1, 1000, 1000), 60, 1), "x"),
])
def test_huge_sizes_are_refused_before_any_memory_is_taken(call, argument):
    with pytest.raises(ValueError, match=rf"argument '{argument}' is too large"):
        call()


# --- the AlexNet folder pipeline on CUDA (issue 14) -------------------------------------------------

@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device here")
def test_fused_augmentation_on_cuda_matches_the_cpu():
    from course_lib.data.augment import PCAColorJitter, crop_flip_jitter

    x = torch.randint(0, 256, (8, 40, 36, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    colour = PCAColorJitter.from_data(x.permute(0, 3, 1, 2).float() / 255)
    args = (27, (0.4, 0.5, 0.6), (0.2, 0.25, 0.3), colour)
    cpu = crop_flip_jitter(x, *args, pad_to=29, generator=torch.Generator().manual_seed(1))
    cuda = crop_flip_jitter(x.cuda(), *args, pad_to=29, generator=torch.Generator().manual_seed(1))
    assert cuda.device.type == "cuda" and cuda.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(cuda.cpu(), cpu, rtol=1e-5, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device here")
def test_folder_batches_resident_on_cuda_train_the_2012_network(tmp_path):
    """The whole uint8 cache on the GPU gives the same batches as streaming it from disk, and
    fit trains AlexNet("2012") on them (bf16 autocast, channels_last) without a NaN."""
    from course_lib import train
    from course_lib.data import folder
    from course_lib.models.alexnet import AlexNet

    root = folder.write_jpeg_folder(tmp_path / "jpegs", 6, image_size=64, num_classes=4, seed=0)
    cached = folder.cache_image_folder(root, tmp_path / "cache", progress=False)
    mean, std, colour = folder.rgb_statistics(cached)
    kwargs = dict(train=True, mean=mean, std=std, colour=colour, device="cuda", seed=3)
    resident = folder.FolderBatches(cached, 8, resident=True, **kwargs)
    streamed = folder.FolderBatches(cached, 8, resident=False, **kwargs)
    assert resident.resident and not streamed.resident and resident.images.device.type == "cuda"
    for (xa, ya), (xb, yb) in zip(resident, streamed):
        assert xa.device.type == "cuda" and xa.shape == (8, 3, 227, 227)
        torch.testing.assert_close(xa, xb)
        assert torch.equal(ya, yb)
    train.seed_everything(0)
    model = AlexNet("2012", num_classes=4)
    val = folder.FolderBatches(cached, 16, train=False, mean=mean, std=std, device="cuda")
    history = train.fit(model, resident, val, epochs=2, batch_size=8, lr=0.005, schedule="onecycle",
                        device="cuda", progress=False)
    assert all(np.isfinite(history.train_loss)) and 0 <= history.val_acc[-1] <= 1
