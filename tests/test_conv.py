"""course_lib.conv against independent references: np.convolve / np.correlate, scipy.signal and
torch.nn.functional (forward and autograd). Plus the lecture's properties and every bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp
from scipy import signal

from course_lib import conv

MODES = ["full", "same", "valid"]
METHODS_1D = [conv.conv1d_translate_scale, conv.conv1d_flip_filter, conv.conv1d_matrix]
METHODS_2D = [conv.conv2d_translate_scale, conv.conv2d_flip_filter, conv.conv2d_matrix]


def ids(func) -> str:
    return func.__name__


small_ints = st.integers(-9, 9)
signals = hnp.arrays(np.int64, st.integers(1, 10), elements=small_ints)
images = hnp.arrays(np.int64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=6), elements=small_ints)


def assert_same(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.dtype == expected.dtype
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def assert_like_scipy(reference, ours) -> None:
    """Same result as scipy, or a ValueError where scipy raises one (mode 'valid')."""
    try:
        expected = reference()
    except ValueError:
        with pytest.raises(ValueError, match="valid"):
            ours()
        return
    assert_same(ours(), expected)


# --- 1-D: the three methods and correlation --------------------------------------------------------

@pytest.mark.parametrize("method", METHODS_1D, ids=ids)
@given(a=signals, b=signals, mode=st.sampled_from(MODES))
def test_conv1d_matches_np_convolve(method, a, b, mode):
    assert_same(method(a, b, mode), np.convolve(a, b, mode))


@pytest.mark.parametrize("method", METHODS_1D + [conv.correlate1d], ids=ids)
@pytest.mark.parametrize("mode", MODES)
def test_conv1d_every_length_pair_including_long_kernels(method, mode):
    reference = np.correlate if method is conv.correlate1d else np.convolve
    rng = np.random.default_rng(1)
    for n in range(1, 7):
        for k in range(1, 9):  # odd and even kernels, shorter and longer than the input
            a, b = rng.integers(-9, 10, n), rng.integers(-9, 10, k)
            assert_same(method(a, b, mode), reference(a, b, mode))


@given(a=signals, b=signals, mode=st.sampled_from(MODES))
def test_correlate1d_matches_np_correlate(a, b, mode):
    assert_same(conv.correlate1d(a, b, mode), np.correlate(a, b, mode))


def test_correlate1d_conjugates_the_kernel_like_np_correlate():
    a, b = np.array([1 + 2j, 3, -1j]), np.array([2 - 1j, 1j])
    for mode in MODES:
        np.testing.assert_allclose(conv.correlate1d(a, b, mode), np.correlate(a, b, mode))


@given(b=signals, n=st.integers(1, 10), mode=st.sampled_from(MODES), data=st.data())
def test_conv_matrix_1d_times_signal_is_convolution(b, n, mode, data):
    a = data.draw(hnp.arrays(np.int64, n, elements=small_ints))
    M = conv.conv_matrix_1d(b, n, mode)
    assert M.shape == (len(np.convolve(a, b, mode)), n)
    assert_same(M @ a, np.convolve(a, b, mode))


# --- 2-D --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS_2D, ids=ids)
@given(A=images, B=images, mode=st.sampled_from(MODES))
def test_conv2d_matches_scipy_convolve2d(method, A, B, mode):
    assert_like_scipy(lambda: signal.convolve2d(A, B, mode), lambda: method(A, B, mode))


@pytest.mark.parametrize("method", METHODS_2D, ids=ids)
@pytest.mark.parametrize("mode", MODES)
def test_conv2d_kernel_larger_than_input(method, mode):
    rng = np.random.default_rng(2)
    A, B = rng.integers(-9, 10, (2, 3)), rng.integers(-9, 10, (4, 5))
    assert_same(method(A, B, mode), signal.convolve2d(A, B, mode))


@given(A=images, B=images, mode=st.sampled_from(MODES))
def test_correlate2d_matches_scipy(A, B, mode):
    assert_like_scipy(lambda: signal.correlate2d(A, B, mode), lambda: conv.correlate2d(A, B, mode))


@given(A=images, B=images, mode=st.sampled_from(MODES))
def test_conv_matrix_2d_times_image_is_convolution(A, B, mode):
    def ours():
        return conv.conv_matrix_2d(B, A.shape, mode) @ A.ravel()
    assert_like_scipy(lambda: signal.convolve2d(A, B, mode).ravel(), ours)


# --- dtypes ------------------------------------------------------------------------------------------

def test_integer_inputs_stay_exact():
    # Products near 2**61: float64 would round them, int64 arithmetic must not.
    a = np.array([2**30 + 1, 2**30 + 3, -(2**30) - 7])
    b = np.array([2**30 + 5, -(2**30) - 9])
    for method in METHODS_1D + [conv.correlate1d]:
        reference = np.correlate if method is conv.correlate1d else np.convolve
        assert_same(method(a, b, "full"), reference(a, b, "full"))
    A, B = a.reshape(1, 3), b.reshape(2, 1)
    for method in METHODS_2D:
        assert_same(method(A, B), signal.convolve2d(A, B))
    assert_same(conv.correlate2d(A, B), signal.correlate2d(A, B))


def test_float32_stays_float32():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(7, dtype=np.float32), rng.standard_normal(3, dtype=np.float32)
    A, B = a.reshape(1, 7), rng.standard_normal((2, 2), dtype=np.float32)
    results = [m(a, b) for m in METHODS_1D + [conv.correlate1d]]
    results += [m(A, B) for m in METHODS_2D + [conv.correlate2d]]
    x = rng.standard_normal((2, 2, 5, 5), dtype=np.float32)
    w = rng.standard_normal((3, 2, 3, 3), dtype=np.float32)
    results += [conv.conv2d_layer(x, w, np.zeros(3, np.float32)), conv.im2col(x, 3),
                *conv.conv2d_layer_backward(np.ones((2, 3, 3, 3), np.float32), x, w),
                conv.conv1d_layer(x[:, :, 0], w[:, :, 0])]
    assert all(r.dtype == np.float32 for r in results), [r.dtype for r in results]
    np.testing.assert_allclose(results[0], np.convolve(a.astype(float), b.astype(float)), rtol=1e-5)


@pytest.mark.parametrize("dtypes", [("int64", "float32"), ("float32", "float64"), ("int32", "int32"),
                                    ("int8", "int16"), ("complex64", "float32")], ids=str)
def test_mixed_dtypes_promote_like_numpy_and_scipy(dtypes):
    a = np.array([2, -1, 1], dtype=dtypes[0])
    b = np.array([1, 1, 2], dtype=dtypes[1])
    for method in METHODS_1D:
        assert_same(method(a, b), np.convolve(a, b))
    assert_same(conv.correlate1d(a, b), np.correlate(a, b, "full"))
    A, B = a.reshape(1, 3), b.reshape(3, 1)
    for method in METHODS_2D:
        assert_same(method(A, B), signal.convolve2d(A, B))
    assert_same(conv.correlate2d(A, B), signal.correlate2d(A, B))


def test_integer_layer_is_exact_correlation():
    rng = np.random.default_rng(4)
    x, w = rng.integers(-9, 10, (1, 1, 6, 5)), rng.integers(-9, 10, (1, 1, 3, 2))
    out = conv.conv2d_layer(x, w)
    assert_same(out[0, 0], signal.correlate2d(x[0, 0], w[0, 0], "valid"))


# --- the lecture's properties -----------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS_1D, ids=ids)
@given(a=signals, b=signals, mode=st.sampled_from(MODES))
def test_conv1d_commutes(method, a, b, mode):
    assert_same(method(a, b, mode), method(b, a, mode))


@pytest.mark.parametrize("method", METHODS_2D, ids=ids)
@given(A=images, B=images)
def test_conv2d_commutes(method, A, B):
    assert_same(method(A, B), method(B, A))  # "same" is shaped like the first input, so only "full"


@pytest.mark.parametrize("method", METHODS_1D, ids=ids)
@given(a=signals, n=st.integers(1, 6), l1=small_ints, l2=small_ints, data=st.data())
def test_conv1d_is_linear(method, a, n, l1, l2, data):
    b, c = (data.draw(hnp.arrays(np.int64, n, elements=small_ints)) for _ in range(2))
    assert_same(method(a, l1 * b + l2 * c), l1 * method(a, b) + l2 * method(a, c))


@pytest.mark.parametrize("method", METHODS_2D, ids=ids)
@given(A=images, l1=small_ints, l2=small_ints, data=st.data())
def test_conv2d_is_linear(method, A, l1, l2, data):
    shape = data.draw(hnp.array_shapes(min_dims=2, max_dims=2, max_side=4))
    B, C = (data.draw(hnp.arrays(np.int64, shape, elements=small_ints)) for _ in range(2))
    assert_same(method(A, l1 * B + l2 * C), l1 * method(A, B) + l2 * method(A, C))


# --- the layer against torch --------------------------------------------------------------------------

@st.composite
def layer_setups(draw, dims: int):
    """Random (x, weight, bias, settings) that torch accepts, small enough to be quick."""
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    axis = st.integers(1, 3)
    kernel = [draw(axis) for _ in range(dims)]
    stride = [draw(st.integers(1, 3)) for _ in range(dims)]
    padding = [draw(st.integers(0, 2)) for _ in range(dims)]
    dilation = [draw(st.integers(1, 2)) for _ in range(dims)]
    size = [max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 4))
            for k, p, d in zip(kernel, padding, dilation)]
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((draw(st.integers(1, 2)), c_in, *size))
    weight = rng.standard_normal((c_out, c_in // groups, *kernel))
    bias = rng.standard_normal(c_out) if draw(st.booleans()) else None
    # Settings as ints where all axes agree, sometimes, to cover both spellings.
    as_arg = (lambda v: v[0] if len(set(v)) == 1 and draw(st.booleans()) else tuple(v))
    settings = dict(stride=as_arg(stride), padding=as_arg(padding), dilation=as_arg(dilation),
                    groups=groups)
    return x, weight, bias, settings


def torch_forward_backward(torch_conv, x, weight, bias, dout, settings):
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(weight, requires_grad=True)
    # A zero bias when there is none: it changes nothing, and torch then reports its gradient.
    bt = torch.tensor(bias if bias is not None else np.zeros(weight.shape[0]), requires_grad=True)
    out = torch_conv(xt, wt, bt, **settings)
    if dout is None:
        return out.detach().numpy()
    out.backward(torch.tensor(dout))
    return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


LAYERS = {2: (conv.conv2d_layer, conv.conv2d_layer_backward, F.conv2d),
          1: (conv.conv1d_layer, conv.conv1d_layer_backward, F.conv1d)}


@pytest.mark.parametrize("dims", [2, 1])
@given(data=st.data())
def test_layer_matches_torch_forward_and_autograd(dims, data):
    forward, backward, torch_conv = LAYERS[dims]
    x, weight, bias, settings = data.draw(layer_setups(dims))
    out = forward(x, weight, bias, **settings)
    np.testing.assert_allclose(out, torch_forward_backward(torch_conv, x, weight, bias, None, settings),
                               rtol=1e-10, atol=1e-10)
    dout = np.random.default_rng(5).standard_normal(out.shape)
    expected = torch_forward_backward(torch_conv, x, weight, bias, dout, settings)
    for got, want in zip(backward(dout, x, weight, **settings), expected):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("dims", [2, 1])
def test_layer_string_padding_matches_torch(padding, dims):
    forward, backward, torch_conv = LAYERS[dims]
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 2, *[7, 6][:dims]))
    weight = rng.standard_normal((3, 2, *[4, 3][:dims]))  # an even kernel pads unevenly for "same"
    settings = dict(padding=padding, dilation=2)
    out = forward(x, weight, None, **settings)
    np.testing.assert_allclose(out, torch_forward_backward(torch_conv, x, weight, None, None, settings))
    dout = rng.standard_normal(out.shape)
    expected = torch_forward_backward(torch_conv, x, weight, None, dout, settings)
    for got, want in zip(backward(dout, x, weight, **settings), expected):
        np.testing.assert_allclose(got, want)


def test_layer_alexnet_groups_float32_matches_torch():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 8, 9, 9), dtype=np.float32)
    weight = rng.standard_normal((6, 4, 5, 5), dtype=np.float32)
    out = conv.conv2d_layer(x, weight, stride=2, padding=2, groups=2)
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(weight), stride=2, padding=2, groups=2)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-4, atol=1e-4)


def test_layer_results_survive_later_calls():
    # The layer reuses one buffer for its columns: no result may point into it.
    rng = np.random.default_rng(8)
    x1, x2 = rng.standard_normal((2, 1, 3, 6, 6))
    weight = rng.standard_normal((2, 3, 3, 3))
    first = conv.conv2d_layer(x1, weight)
    dx, dweight, _ = conv.conv2d_layer_backward(np.ones_like(first), x1, weight)
    conv.conv2d_layer(x2, weight)
    conv.conv2d_layer_backward(np.ones_like(first), x2, weight)
    expected = torch_forward_backward(F.conv2d, x1, weight, None, None, {})
    np.testing.assert_allclose(first, expected)
    expected = torch_forward_backward(F.conv2d, x1, weight, None, np.ones_like(first), {})
    np.testing.assert_allclose(dx, expected[0])
    np.testing.assert_allclose(dweight, expected[1])


@st.composite
def unfold_setups(draw):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    size = tuple(max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 4))
                 for k, p, d in zip(kernel, padding, dilation))
    return size, dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation)


@given(setup=unfold_setups(), n=st.integers(1, 2), c=st.integers(1, 3))
def test_im2col_and_col2im_match_unfold_and_fold(setup, n, c):
    size, settings = setup
    rng = np.random.default_rng(8)
    x = rng.standard_normal((n, c, *size))
    cols = conv.im2col(x, **settings)
    np.testing.assert_array_equal(cols, F.unfold(torch.from_numpy(x), **settings).numpy())
    blocks = rng.standard_normal(cols.shape)
    np.testing.assert_allclose(conv.col2im(blocks, size, **settings),
                               F.fold(torch.from_numpy(blocks), size, **settings).numpy())


@given(n=st.integers(1, 30), k=st.integers(1, 7), s=st.integers(1, 4), p=st.integers(0, 3),
       d=st.integers(1, 3))
def test_conv_output_size_matches_torch(n, k, s, p, d):
    settings = dict(stride=s, padding=p, dilation=d)
    try:
        expected = F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), **settings).shape[-1]
    except RuntimeError:  # torch refuses a kernel larger than the padded input
        with pytest.raises(ValueError, match="larger than the padded input"):
            conv.conv_output_size(n, k, **settings)
        return
    assert conv.conv_output_size(n, k, **settings) == expected


# --- bad input: one case each ------------------------------------------------------------------------

X, W = np.ones((1, 2, 5, 5)), np.ones((4, 2, 3, 3))
BAD_INPUTS = {
    "empty signal": (lambda: conv.conv1d_flip_filter([], [1, 2]), ValueError, "a"),
    "empty kernel": (lambda: conv.conv2d_translate_scale(np.ones((2, 2)), np.ones((0, 2))),
                     ValueError, "B"),
    "1-D method given 2-D": (lambda: conv.conv1d_translate_scale(np.ones((2, 2)), [1]), ValueError, "a"),
    "2-D method given 1-D": (lambda: conv.conv2d_matrix(np.ones(3), np.ones((2, 2))), ValueError, "A"),
    "bool dtype": (lambda: conv.correlate1d(np.array([True, False]), [1]), TypeError, "a"),
    "str dtype": (lambda: conv.conv2d_flip_filter(np.array([["a"]]), np.ones((1, 1))), TypeError, "A"),
    "object dtype": (lambda: conv.conv1d_matrix([1, 2], np.array([1, None], dtype=object)),
                     TypeError, "b"),
    "ragged list": (lambda: conv.conv1d_matrix([[1], [1, 2]], [1]), TypeError, "a"),
    "not an array": (lambda: conv.correlate2d("abc", np.ones((1, 1))), TypeError, "A"),
    "unknown mode 1-D": (lambda: conv.conv1d_matrix([1], [1], mode="circular"), ValueError, "mode"),
    "unknown mode 2-D": (lambda: conv.correlate2d(np.ones((2, 2)), np.ones((1, 1)), mode="Full"),
                         ValueError, "mode"),
    "valid with neither input larger": (
        lambda: conv.conv2d_translate_scale(np.ones((2, 3)), np.ones((3, 2)), mode="valid"),
        ValueError, "A"),
    "matrix size n = 0": (lambda: conv.conv_matrix_1d([1, 2], 0), ValueError, "n"),
    "matrix size n not an int": (lambda: conv.conv_matrix_1d([1, 2], 2.5), TypeError, "n"),
    "matrix shape of length 3": (lambda: conv.conv_matrix_2d(np.ones((2, 2)), (2, 2, 2)),
                                 ValueError, "shape"),
    "stride 0": (lambda: conv.conv2d_layer(X, W, stride=0), ValueError, "stride"),
    "stride True": (lambda: conv.conv2d_layer(X, W, stride=True), TypeError, "stride"),
    "negative padding": (lambda: conv.conv2d_layer(X, W, padding=(1, -1)), ValueError, "padding"),
    "unknown padding string": (lambda: conv.conv2d_layer(X, W, padding="full"), ValueError, "padding"),
    "padding 'same' with stride 2": (lambda: conv.conv2d_layer(X, W, stride=2, padding="same"),
                                     ValueError, "padding"),
    "dilation 0": (lambda: conv.conv1d_layer(X[:, :, 0], W[:, :, 0], dilation=0), ValueError, "dilation"),
    "channel mismatch": (lambda: conv.conv2d_layer(np.ones((1, 3, 5, 5)), W), ValueError, "x"),
    "groups do not divide input channels": (
        lambda: conv.conv2d_layer(np.ones((1, 3, 5, 5)), np.ones((4, 1, 3, 3)), groups=2),
        ValueError, "groups"),
    "groups do not divide output channels": (
        lambda: conv.conv2d_layer(np.ones((1, 4, 5, 5)), np.ones((3, 2, 3, 3)), groups=2),
        ValueError, "groups"),
    "groups 0": (lambda: conv.conv2d_layer(X, W, groups=0), ValueError, "groups"),
    "kernel larger than input with padding 'valid'": (
        lambda: conv.conv2d_layer(np.ones((1, 2, 2, 5)), W, padding="valid"), ValueError, "x"),
    "kernel larger than padded input": (lambda: conv.conv2d_layer(np.ones((1, 2, 2, 5)), W),
                                        ValueError, "x"),
    "dilated kernel larger than padded input": (
        lambda: conv.conv1d_layer(np.ones((1, 2, 4)), np.ones((1, 2, 3)), dilation=2), ValueError, "x"),
    "conv2d layer given (C, H, W)": (lambda: conv.conv2d_layer(X[0], W), ValueError, "x"),
    "conv1d layer given (N, C, H, W)": (lambda: conv.conv1d_layer(X, W), ValueError, "x"),
    "weight of the wrong rank": (lambda: conv.conv2d_layer(X, W[0]), ValueError, "weight"),
    "bias of the wrong shape": (lambda: conv.conv2d_layer(X, W, bias=np.ones(3)), ValueError, "bias"),
    "dout of the wrong shape": (lambda: conv.conv2d_layer_backward(np.ones((1, 4, 2, 2)), X, W),
                                ValueError, "dout"),
    "dout 1-D of the wrong shape": (
        lambda: conv.conv1d_layer_backward(np.ones((1, 4, 2)), X[:, :, 0], W[:, :, 0]),
        ValueError, "dout"),
    "im2col kernel_size 0": (lambda: conv.im2col(X, 0), ValueError, "kernel_size"),
    "im2col given (C, H, W)": (lambda: conv.im2col(X[0], 2), ValueError, "x"),
    "im2col kernel too large": (lambda: conv.im2col(X, 6), ValueError, "x"),
    "col2im wrong number of columns": (lambda: conv.col2im(np.ones((1, 8, 5)), 3, 2), ValueError, "cols"),
    "col2im rows not C*kH*kW": (lambda: conv.col2im(np.ones((1, 6, 4)), 3, 2), ValueError, "cols"),
    "col2im negative padding": (lambda: conv.col2im(np.ones((1, 4, 4)), 3, 2, padding=-1),
                                ValueError, "padding"),
    "conv_output_size kernel too large": (lambda: conv.conv_output_size(4, 7), ValueError, "n"),
    "conv_output_size stride 0": (lambda: conv.conv_output_size(4, 3, stride=0), ValueError, "stride"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=str)
def test_bad_input_is_refused_with_a_clear_message(case):
    call, error, argument = BAD_INPUTS[case]
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert f"'{argument}'" in message, message
    assert message.split(":")[0] in conv.__all__, message  # names the public function


# --- NaN and inf: only where the references put them ------------------------------------------------

def _with_nonfinite(draw, shape):
    """A small float array with a few NaN, inf and -inf among integer values."""
    a = draw(hnp.arrays(np.float64, shape, elements=st.integers(-4, 4).map(float)))
    for _ in range(draw(st.integers(1, 3))):
        index = tuple(draw(st.integers(0, n - 1)) for n in shape)
        a[index] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return a


@st.composite
def nonfinite_pairs(draw, dims: int):
    shapes = [tuple(draw(st.integers(1, 6 if dims == 1 else 4)) for _ in range(dims)) for _ in range(2)]
    which = draw(st.sampled_from(["first", "second", "both"]))
    return [_with_nonfinite(draw, s) if which in (name, "both") else
            draw(hnp.arrays(np.float64, s, elements=st.integers(-4, 4).map(float)))
            for name, s in zip(("first", "second"), shapes)]


def assert_same_nonfinite(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.shape == expected.shape
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(test(got), test(expected), err_msg=test.__name__)
    ok = np.isfinite(expected)
    np.testing.assert_array_equal(got[ok], expected[ok])


@pytest.mark.parametrize("method", METHODS_1D + [conv.correlate1d], ids=ids)
@given(ab=nonfinite_pairs(1), mode=st.sampled_from(MODES))
def test_nan_and_inf_only_where_np_convolve_has_them(method, ab, mode):
    """One NaN in a length-6 signal used to make all of a flip-and-filter or matrix result NaN."""
    reference = np.correlate if method is conv.correlate1d else np.convolve
    with np.errstate(invalid="ignore"):
        assert_same_nonfinite(method(*ab, mode), reference(*ab, mode))


@pytest.mark.parametrize("method", METHODS_2D + [conv.correlate2d], ids=ids)
@given(AB=nonfinite_pairs(2), mode=st.sampled_from(MODES))
def test_nan_and_inf_only_where_scipy_has_them(method, AB, mode):
    """scipy multiplies the kernel by the zeros around A in modes full and same (0 * inf = NaN
    there) but forms only real products in mode valid: every method follows it."""
    reference = signal.correlate2d if method is conv.correlate2d else signal.convolve2d
    with np.errstate(invalid="ignore"):
        try:
            expected = reference(*AB, mode)
        except ValueError:  # mode "valid" with neither array covering the other
            return
        assert_same_nonfinite(method(*AB, mode), expected)


def test_the_issue_example_one_nan_in_a_signal():
    a = np.arange(20.0)
    a[7] = np.nan
    b = np.array([1.0, 2.0, 1.0])
    assert np.isnan(np.convolve(a, b)).sum() == 3
    for method in METHODS_1D:
        assert np.isnan(method(a, b)).sum() == 3, method.__name__


def test_conv_matrix_2d_of_an_infinite_kernel_is_inf_only_on_its_band():
    B = np.array([[1.0, np.inf]])
    M = conv.conv_matrix_2d(B, (2, 2))
    assert not np.isnan(M).any() and np.isinf(M).sum() == 4   # one inf per input pixel


# --- integers: exact, never wrapped around --------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.uint16, np.int32])
def test_integer_layers_sum_in_int64(dtype):
    """The issue's example: uint8 200 x 3 over a 3x3 window is 5400, not 5400 % 256 = 24."""
    big = 100 if dtype == np.int8 else 200
    x = np.full((1, 1, 3, 3), big, dtype=dtype)
    w = np.full((1, 1, 3, 3), 3, dtype=dtype)
    out = conv.conv2d_layer(x, w)
    assert out.dtype == np.int64 and out.item() == 9 * 3 * big
    out1 = conv.conv1d_layer(x[:, :, 0], w[:, :, 0])
    assert out1.dtype == np.int64 and out1.item() == 3 * 3 * big
    dx, dw, db = conv.conv2d_layer_backward(np.full((1, 1, 1, 1), big, dtype=dtype), x, w)
    assert dx.dtype == np.int64 and (dx == 3 * big).all() and (dw == big * big).all() and db.item() == big
    cols = np.full((1, 4, 4), big, dtype=dtype)   # 2x2 windows over a 3x3 image: the centre is in all 4
    image = conv.col2im(cols, 3, 2)
    assert image.dtype == np.int64 and image[0, 0, 1, 1] == 4 * big


def test_float16_layer_sums_in_float32():
    x = np.full((1, 1, 2, 2), 30000, dtype=np.float16)
    out = conv.conv2d_layer(x, np.full((1, 1, 2, 2), 0.25, dtype=np.float16))
    assert out.dtype == np.float16 and out.item() == 30000   # the float16 sum 120000 would be inf


# --- sizes too large are refused up front, naming the argument ------------------------------------------

@pytest.mark.parametrize("call, argument", [
    (lambda: conv.conv_matrix_1d([1.0, 2.0], 10 ** 6), "n"),
    (lambda: conv.conv1d_matrix(np.broadcast_to(1.0, (60000,)), [1.0, 2.0]), "a"),
    (lambda: conv.conv_matrix_2d(np.ones((2, 2)), (300, 300)), "shape"),
    (lambda: conv.conv2d_matrix(np.broadcast_to(1.0, (300, 300)), np.ones((2, 2))), "A"),
    (lambda: conv.conv1d_flip_filter(np.broadcast_to(1.0, (10 ** 5,)), np.ones(10 ** 5)), "a"),
    (lambda: conv.im2col(np.broadcast_to(1.0, (1, 1, 1000, 1000)), 100), "x"),
    (lambda: conv.conv2d_layer(np.broadcast_to(1.0, (1, 1, 1000, 1000)), np.ones((1, 1, 100, 100))), "x"),
    (lambda: conv.col2im(np.ones((1, 1, 1)), (10 ** 5, 10 ** 5), 1, stride=10 ** 5), "output_size"),
])
def test_huge_sizes_are_refused_before_any_memory_is_taken(call, argument):
    with pytest.raises(ValueError, match=rf"argument '{argument}' is too large: .* would hold"):
        call()
