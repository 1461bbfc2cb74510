"""Transposed convolution: course_lib.conv (NumPy), its torch twin in course_lib.gpu and the live
demo, against torch.nn.functional.conv_transpose1d/2d (forward, and backward through autograd),
the gradient of torch's own convolution, exact integer references, and every output-size
relationship of the convolution arithmetic guide (Dumoulin and Visin 2016)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, strategies as st
from matplotlib.figure import Figure
from matplotlib.text import Text

from course_lib import conv, gpu, widgets

HAS_CUDA = torch.cuda.is_available()
DEVICES = ["cpu", pytest.param("cuda", marks=[
    pytest.mark.gpu, pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device here")])]
TORCH = {1: F.conv_transpose1d, 2: F.conv_transpose2d}
OURS = {1: (conv.conv_transpose1d, conv.conv_transpose1d_backward),
        2: (conv.conv_transpose2d, conv.conv_transpose2d_backward)}
TWINS = {1: (gpu.conv_transpose1d, gpu.conv_transpose1d_backward),
         2: (gpu.conv_transpose2d, gpu.conv_transpose2d_backward)}


def torch_reference(dims, x, weight, bias, dout_seed, **settings):
    """torch's forward, a random dout of its shape, and torch's gradients by autograd (float64).

    Returns None where torch refuses the settings (a RuntimeError).
    """
    tx, tw = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, weight))
    tb = None if bias is None else torch.tensor(bias, dtype=torch.float64, requires_grad=True)
    try:
        out = TORCH[dims](tx, tw, tb, **settings)
    except RuntimeError:
        return None
    dout = np.random.default_rng(dout_seed).standard_normal(tuple(out.shape))
    out.backward(torch.from_numpy(dout))
    grads = [tx.grad.numpy(), tw.grad.numpy(), None if tb is None else tb.grad.numpy()]
    return out.detach().numpy(), dout, grads


def check_against_torch(dims, x, weight, bias, **settings):
    """Forward and backward agree with torch, or both refuse the settings."""
    forward, backward = OURS[dims]
    expected = torch_reference(dims, x, weight, bias, 1, **settings)
    if expected is None:
        with pytest.raises(ValueError, match="argument '(output_padding|padding)'"):
            forward(x, weight, bias, **settings)
        return False
    out, dout, (dx, dweight, dbias) = expected
    got = forward(x, weight, bias, **settings)
    assert got.shape == out.shape
    np.testing.assert_allclose(got, out, rtol=1e-10, atol=1e-10)
    got_dx, got_dweight, got_dbias = backward(dout, x, weight, **settings)
    np.testing.assert_allclose(got_dx, dx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got_dweight, dweight, rtol=1e-10, atol=1e-10)
    if dbias is not None:
        np.testing.assert_allclose(got_dbias, dbias, rtol=1e-10, atol=1e-10)
    return True


# --- against torch: a grid of settings, then random small shapes ----------------------------------

@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("dilation", [1, 2, (1, 3)])
@pytest.mark.parametrize("output_padding", [0, 1, (2, 1)])
@pytest.mark.parametrize("padding", [0, 1, (2, 0)])
@pytest.mark.parametrize("stride", [1, 2, (3, 1)])
def test_conv_transpose2d_grid_matches_torch(stride, padding, output_padding, dilation, groups):
    rng = np.random.default_rng(0)
    accepted = 0
    for (h, w), (kh, kw) in itertools.product([(1, 1), (3, 4), (5, 2)], [(1, 1), (2, 3), (3, 3)]):
        x = rng.standard_normal((2, 2 * groups, h, w))
        weight = rng.standard_normal((2 * groups, 3, kh, kw))
        bias = rng.standard_normal(3 * groups)
        accepted += check_against_torch(2, x, weight, bias, stride=stride, padding=padding,
                                        output_padding=output_padding, groups=groups,
                                        dilation=dilation)
    assert accepted or output_padding != 0  # with output_padding 0 torch takes every size here


@pytest.mark.parametrize("groups", [1, 3])
@pytest.mark.parametrize("dilation", [1, 3])
@pytest.mark.parametrize("output_padding", [0, 1, 2])
@pytest.mark.parametrize("padding", [0, 1, 3])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_conv_transpose1d_grid_matches_torch(stride, padding, output_padding, dilation, groups):
    rng = np.random.default_rng(1)
    for length, k in itertools.product([1, 4, 7], [1, 2, 3]):
        x = rng.standard_normal((2, groups, length))
        weight = rng.standard_normal((groups, 2, k))
        check_against_torch(1, x, weight, rng.standard_normal(2 * groups), stride=stride,
                            padding=padding, output_padding=output_padding, groups=groups,
                            dilation=dilation)


@st.composite
def transposed_setups(draw, dims):
    groups = draw(st.integers(1, 2))
    c_in, c_out = groups * draw(st.integers(1, 2)), draw(st.integers(1, 3))
    size = [draw(st.integers(1, 5)) for _ in range(dims)]
    kernel = [draw(st.integers(1, 3)) for _ in range(dims)]
    stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(dims))
    assume(all((n - 1) * s - 2 * p + d * (k - 1) + a + 1 >= 1 for n, k, s, p, a, d
               in zip(size, kernel, stride, padding, output_padding, dilation)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((draw(st.integers(1, 2)), c_in, *size))
    weight = rng.standard_normal((c_in, c_out, *kernel))
    bias = rng.standard_normal(c_out * groups) if draw(st.booleans()) else None
    return x, weight, bias, dict(stride=stride, padding=padding, output_padding=output_padding,
                                 groups=groups, dilation=dilation)


@pytest.mark.parametrize("dims", [1, 2])
@given(data=st.data())
def test_random_small_shapes_match_torch(dims, data):
    x, weight, bias, settings = data.draw(transposed_setups(dims))
    assert check_against_torch(dims, x, weight, bias, **settings)


@given(i=st.integers(1, 9), k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2),
       d=st.integers(1, 2), seed=st.integers(0, 99))
def test_it_is_the_gradient_of_torchs_convolution(i, k, s, p, d, seed):
    """conv_transpose(g) with a = (i + 2p - d(k - 1) - 1) mod s is dL/dz of F.conv1d(z) for dL/dy = g."""
    assume(i + 2 * p >= d * (k - 1) + 1)
    rng = np.random.default_rng(seed)
    z = torch.tensor(rng.standard_normal((1, 2, i)), requires_grad=True)
    weight = rng.standard_normal((3, 2, k))
    y = F.conv1d(z, torch.from_numpy(weight), stride=s, padding=p, dilation=d)
    g = rng.standard_normal(tuple(y.shape))
    y.backward(torch.from_numpy(g))
    a = (i + 2 * p - d * (k - 1) - 1) % s
    got = conv.conv_transpose1d(g, weight, stride=s, padding=p, output_padding=a, dilation=d)
    np.testing.assert_allclose(got, z.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_its_input_gradient_is_the_convolution_of_dout():
    rng = np.random.default_rng(2)
    x, weight = rng.standard_normal((2, 4, 3, 4)), rng.standard_normal((4, 3, 3, 2))
    settings = dict(stride=2, padding=1, dilation=(1, 2), groups=2)
    out = conv.conv_transpose2d(x, weight, output_padding=1, **settings)
    dout = rng.standard_normal(out.shape)
    dx, _, _ = conv.conv_transpose2d_backward(dout, x, weight, output_padding=1, **settings)
    expected = F.conv2d(torch.from_numpy(dout), torch.from_numpy(weight), **settings)
    np.testing.assert_allclose(dx, expected.numpy(), rtol=1e-10, atol=1e-10)


def test_float32_stays_float32():
    rng = np.random.default_rng(3)
    x, weight = rng.standard_normal((1, 2, 4, 4), dtype=np.float32), rng.standard_normal(
        (2, 3, 3, 3), dtype=np.float32)
    out = conv.conv_transpose2d(x, weight, stride=2, padding=1, output_padding=1)
    assert out.dtype == np.float32
    expected = F.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(weight), stride=2,
                                  padding=1, output_padding=1)
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-5, atol=1e-5)


# --- integers are exact ---------------------------------------------------------------------------

def scatter_reference(x, weight, stride, padding, output_padding, dilation):
    """The definition, in Python integers: every input value stamps its scaled kernel (groups 1)."""
    (n, c_in, length), (_, c_out, k) = x.shape, weight.shape
    size = (length - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1
    out = [[[0] * size for _ in range(c_out)] for _ in range(n)]
    for b, c, u, o, i in itertools.product(range(n), range(c_in), range(length), range(c_out),
                                           range(k)):
        position = u * stride + i * dilation - padding
        if 0 <= position < size:
            out[b][o][position] += int(x[b, c, u]) * int(weight[c, o, i])
    return out


def test_big_integers_are_exact_where_float64_is_not():
    rng = np.random.default_rng(4)
    x = rng.integers(2**40, 2**41, size=(2, 3, 5))
    weight = rng.integers(2**10, 2**11, size=(3, 2, 3))
    settings = dict(stride=2, padding=1, output_padding=1, dilation=1)
    expected = scatter_reference(x, weight, **settings)
    as_float = F.conv_transpose1d(torch.from_numpy(x).double(), torch.from_numpy(weight).double(),
                                  **settings)
    assert as_float.numpy().astype(np.int64).tolist() != expected  # float64 rounds here
    got = conv.conv_transpose1d(x, weight, **settings)
    assert got.dtype == np.int64 and got.tolist() == expected
    twin = gpu.conv_transpose1d(torch.from_numpy(x), torch.from_numpy(weight), **settings)
    assert twin.dtype == torch.int64 and twin.tolist() == expected


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32])
def test_small_integer_types_add_up_in_int64(dtype):
    """int8 products would overflow int8: the sums are taken in int64 and are exact."""
    x = np.full((1, 2, 3, 3), 100, dtype=dtype)
    weight = np.full((2, 1, 3, 3), 100, dtype=dtype)
    bias = np.array([7], dtype=dtype)
    out = conv.conv_transpose2d(x, weight, bias)
    expected = F.conv_transpose2d(*(torch.from_numpy(a.astype(np.float64)) for a in (x, weight, bias)))
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, expected.numpy())
    dout = np.full(out.shape, 100, dtype=dtype)
    got = conv.conv_transpose2d_backward(dout, x, weight)
    assert all(g.dtype == np.int64 for g in got)
    tx, tw, tb = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, weight, bias))
    F.conv_transpose2d(tx, tw, tb).backward(torch.from_numpy(dout.astype(np.float64)))
    for g, t in zip(got, (tx, tw, tb)):
        np.testing.assert_array_equal(g, t.grad.numpy())


def test_uint64_is_not_narrowed():
    """int64 would wrap values of 2**63 and more: NumPy keeps uint64, torch (no uint64 product) refuses."""
    x, weight = np.array([[[2**63 + 5, 1]]], dtype=np.uint64), np.array([[[1, 1]]], dtype=np.uint64)
    out = conv.conv_transpose1d(x, weight)
    assert out.dtype == np.uint64 and out.tolist() == [[[2**63 + 5, 2**63 + 6, 1]]]
    with pytest.raises(TypeError, match=r"conv_transpose1d: argument 'x' has dtype torch\.uint64"):
        gpu.conv_transpose1d(torch.from_numpy(x), torch.from_numpy(weight))


# --- the torch twin -------------------------------------------------------------------------------

def on(device, a):
    return None if a is None else torch.as_tensor(np.ascontiguousarray(a), device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dims", [1, 2])
@given(data=st.data())
def test_torch_twin_agrees_with_numpy(device, dims, data):
    x, weight, bias, settings = data.draw(transposed_setups(dims))
    forward, backward = OURS[dims]
    twin_forward, twin_backward = TWINS[dims]
    expected = forward(x, weight, bias, **settings)
    got = twin_forward(on(device, x), on(device, weight), on(device, bias), **settings)
    assert got.device.type == device
    np.testing.assert_allclose(got.cpu().numpy(), expected, rtol=1e-10, atol=1e-10)
    dout = np.random.default_rng(0).standard_normal(expected.shape)
    for g, e in zip(twin_backward(on(device, dout), on(device, x), on(device, weight), **settings),
                    backward(dout, x, weight, **settings)):
        assert g.device.type == device
        np.testing.assert_allclose(g.cpu().numpy(), e, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("device", DEVICES)
def test_torch_twin_integers_are_exact(device):
    rng = np.random.default_rng(5)
    x, weight = rng.integers(-9, 9, (2, 4, 3, 4)), rng.integers(-9, 9, (4, 1, 2, 3))
    settings = dict(stride=(2, 1), padding=(1, 0), output_padding=(1, 0), groups=2)
    got = gpu.conv_transpose2d(on(device, x).to(torch.int8), on(device, weight).to(torch.int8),
                               **settings)
    assert got.dtype == torch.int64 and got.device.type == device
    np.testing.assert_array_equal(got.cpu().numpy(), conv.conv_transpose2d(x, weight, **settings))
    dout = rng.integers(-9, 9, tuple(got.shape))
    for g, e in zip(gpu.conv_transpose2d_backward(on(device, dout), on(device, x), on(device, weight),
                                                  **settings),
                    conv.conv_transpose2d_backward(dout, x, weight, **settings)):
        assert g.dtype == torch.int64
        np.testing.assert_array_equal(g.cpu().numpy(), e)


@pytest.mark.parametrize("device", DEVICES)
def test_autograd_flows_through_the_torch_twin(device):
    rng = np.random.default_rng(6)
    x, weight, bias = (torch.tensor(rng.standard_normal(shape), device=device, requires_grad=True)
                       for shape in [(2, 4, 3, 3), (4, 3, 3, 2), (6,)])
    settings = dict(stride=2, padding=1, output_padding=1, groups=2, dilation=(2, 1))
    out = gpu.conv_transpose2d(x, weight, bias, **settings)
    dout = torch.tensor(rng.standard_normal(tuple(out.shape)), device=device)
    out.backward(dout)
    by_hand = gpu.conv_transpose2d_backward(dout, x.detach(), weight.detach(), **settings)
    for auto, hand in zip((x.grad, weight.grad, bias.grad), by_hand):
        torch.testing.assert_close(auto, hand)
    reference = F.conv_transpose2d(x.detach(), weight.detach(), bias.detach(), **settings)
    torch.testing.assert_close(out.detach(), reference)


# --- the output size and the convolution arithmetic guide -----------------------------------------

def torch_conv_length(i, k, s=1, p=0, d=1):
    return F.conv1d(torch.zeros(1, 1, i), torch.zeros(1, 1, k), stride=s, padding=p,
                    dilation=d).shape[-1]


def torch_transposed_length(i, k, s=1, p=0, a=0, d=1):
    return F.conv_transpose1d(torch.zeros(1, 1, i), torch.zeros(1, 1, k), stride=s, padding=p,
                              output_padding=a, dilation=d).shape[-1]


# Dumoulin and Visin (2016), with the example each relationship is drawn with in the guide.
# (i, k, s, p, d, the relationship's own formula for o)
CONVOLUTIONS = {
    "1 no zero padding, unit strides": ((4, 3, 1, 0, 1), lambda i, k, s, p, d: (i - k) + 1),
    "2 zero padding, unit strides": ((5, 4, 1, 2, 1), lambda i, k, s, p, d: (i - k) + 2 * p + 1),
    "3 half (same) padding": ((5, 3, 1, 1, 1), lambda i, k, s, p, d: i),
    "4 full padding": ((5, 3, 1, 2, 1), lambda i, k, s, p, d: i + (k - 1)),
    "5 no zero padding, non-unit strides": ((5, 3, 2, 0, 1),
                                            lambda i, k, s, p, d: (i - k) // s + 1),
    "6 zero padding, non-unit strides": ((5, 3, 2, 1, 1),
                                         lambda i, k, s, p, d: (i + 2 * p - k) // s + 1),
    "6 zero padding, non-unit strides, odd": ((6, 3, 2, 1, 1),
                                              lambda i, k, s, p, d: (i + 2 * p - k) // s + 1),
    "15 dilated": ((7, 3, 1, 0, 2),
                   lambda i, k, s, p, d: (i + 2 * p - k - (k - 1) * (d - 1)) // s + 1),
}

# (i, k, s, p: the convolution; the transposed relationship's formula for o' from i' = o)
TRANSPOSED = {
    "8 no zero padding, unit strides, transposed": ((4, 3, 1, 0),
                                                    lambda i_, i, k, s, p: i_ + (k - 1)),
    "9 zero padding, unit strides, transposed": ((5, 4, 1, 2),
                                                 lambda i_, i, k, s, p: i_ + (k - 1) - 2 * p),
    "10 half (same) padding, transposed": ((5, 3, 1, 1), lambda i_, i, k, s, p: i_),
    "11 full padding, transposed": ((5, 3, 1, 2), lambda i_, i, k, s, p: i_ - (k - 1)),
    "12 no zero padding, non-unit strides, transposed": ((5, 3, 2, 0),
                                                         lambda i_, i, k, s, p: s * (i_ - 1) + k),
    "13 zero padding, non-unit strides, transposed": (
        (5, 3, 2, 1), lambda i_, i, k, s, p: s * (i_ - 1) + k - 2 * p),
    "14 zero padding, non-unit strides, transposed, with a": (
        (6, 3, 2, 1), lambda i_, i, k, s, p: s * (i_ - 1) + (i + 2 * p - k) % s + k - 2 * p),
}


@pytest.mark.parametrize("name", CONVOLUTIONS)
def test_convolution_relationships(name):
    (i, k, s, p, d), formula = CONVOLUTIONS[name]
    o = conv.conv_output_size(i, k, stride=s, padding=p, dilation=d)
    assert o == formula(i, k, s, p, d) == torch_conv_length(i, k, s, p, d)


@pytest.mark.parametrize("name", TRANSPOSED)
def test_transposed_relationships(name):
    """The transposed convolution of each case takes the convolution's output size back to i."""
    (i, k, s, p), formula = TRANSPOSED[name]
    i_ = conv.conv_output_size(i, k, stride=s, padding=p)
    a = (i + 2 * p - k) % s
    o_ = conv.conv_transpose_output_size(i_, k, stride=s, padding=p, output_padding=a)
    assert o_ == formula(i_, i, k, s, p) == torch_transposed_length(i_, k, s, p, a) == i
    assert gpu.conv_transpose_output_size(i_, k, stride=s, padding=p, output_padding=a) == o_


def test_relationship_14_example_needs_its_output_padding():
    """i = 5 and i = 6 give the same i' = 3 (k = 3, s = 2, p = 1): a = 0 or 1 tells them apart."""
    assert conv.conv_output_size(5, 3, 2, 1) == conv.conv_output_size(6, 3, 2, 1) == 3
    assert conv.conv_transpose_output_size(3, 3, 2, 1, output_padding=0) == 5
    assert conv.conv_transpose_output_size(3, 3, 2, 1, output_padding=1) == 6
    x, weight = np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3))
    assert conv.conv_transpose2d(x, weight, stride=2, padding=1, output_padding=1).shape[2:] == (6, 6)


@given(i=st.integers(1, 12), k=st.integers(1, 5), s=st.integers(1, 4), p=st.integers(0, 3),
       d=st.integers(1, 3), a=st.integers(0, 3))
def test_conv_transpose_output_size_matches_torch(i, k, s, p, d, a):
    settings = dict(stride=s, padding=p, output_padding=a, dilation=d)
    try:
        expected = torch_transposed_length(i, k, s, p, a, d)
    except RuntimeError:
        with pytest.raises(ValueError, match="argument '(output_padding|padding)'"):
            conv.conv_transpose_output_size(i, k, **settings)
        return
    assert conv.conv_transpose_output_size(i, k, **settings) == expected
    assert expected == (i - 1) * s - 2 * p + d * (k - 1) + a + 1


# --- bad input: one case each, with a message naming the function and the argument ----------------

X, W = np.ones((1, 2, 3, 3)), np.ones((2, 3, 2, 2))
X1, W1 = X[:, :, 0], W[:, :, 0]
BAD_INPUTS = {
    "output_padding equal to stride": (
        "conv_transpose2d", (X, W), dict(stride=2, output_padding=2), ValueError, "output_padding"),
    "output_padding without stride or dilation": (
        "conv_transpose1d", (X1, W1), dict(output_padding=1), ValueError, "output_padding"),
    "negative output_padding": ("conv_transpose2d", (X, W), dict(output_padding=-1), ValueError,
                                "output_padding"),
    "padding cuts the whole output": ("conv_transpose2d", (X, W), dict(padding=3), ValueError,
                                      "padding"),
    "negative padding": ("conv_transpose1d", (X1, W1), dict(padding=-1), ValueError, "padding"),
    "padding as a string": ("conv_transpose2d", (X, W), dict(padding="same"), TypeError, "padding"),
    "stride 0": ("conv_transpose2d", (X, W), dict(stride=0), ValueError, "stride"),
    "stride of the wrong length": ("conv_transpose2d", (X, W), dict(stride=(1, 2, 3)), ValueError,
                                   "stride"),
    "stride a float": ("conv_transpose1d", (X1, W1), dict(stride=1.5), TypeError, "stride"),
    "dilation 0": ("conv_transpose1d", (X1, W1), dict(dilation=0), ValueError, "dilation"),
    "groups 0": ("conv_transpose2d", (X, W), dict(groups=0), ValueError, "groups"),
    "groups do not divide the input channels": (
        "conv_transpose2d", (np.ones((1, 3, 3, 3)), np.ones((3, 1, 2, 2))), dict(groups=2),
        ValueError, "groups"),
    "weight rows are not the input channels": (
        "conv_transpose2d", (X, np.ones((3, 3, 2, 2))), {}, ValueError, "weight"),
    "weight of the wrong rank": ("conv_transpose2d", (X, W[0]), {}, ValueError, "weight"),
    "x of the wrong rank": ("conv_transpose1d", (X, W1), {}, ValueError, "x"),
    "x empty": ("conv_transpose1d", (np.ones((1, 2, 0)), W1), {}, ValueError, "x"),
    "x of booleans": ("conv_transpose2d", (X > 0, W), {}, TypeError, "x"),
    "bias of the wrong length": ("conv_transpose2d", (X, W, np.ones(2)), {}, ValueError, "bias"),
    "dout of the wrong shape": ("conv_transpose2d_backward", (np.ones((1, 3, 3, 3)), X, W), {},
                                ValueError, "dout"),
    "dout 1-D of the wrong shape": ("conv_transpose1d_backward", (np.ones((1, 2, 4)), X1, W1), {},
                                    ValueError, "dout"),
    "output size: output_padding too large": (
        "conv_transpose_output_size", (3, 3), dict(stride=2, output_padding=2), ValueError,
        "output_padding"),
    "output size: n 0": ("conv_transpose_output_size", (0, 3), {}, ValueError, "n"),
    "output size: kernel_size a float": ("conv_transpose_output_size", (3, 2.0), {}, TypeError,
                                         "kernel_size"),
    "output size: empty output": ("conv_transpose_output_size", (1, 1), dict(padding=1), ValueError,
                                  "padding"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=str)
def test_bad_input_is_refused_with_a_clear_message(case):
    name, args, kwargs, error, argument = BAD_INPUTS[case]
    with pytest.raises(error) as info:
        getattr(conv, name)(*args, **kwargs)
    message = str(info.value)
    assert message.startswith(f"{name}: ") and f"'{argument}'" in message, message


@pytest.mark.parametrize("case", BAD_INPUTS, ids=str)
def test_torch_twin_refuses_bad_input_with_the_same_message(case):
    name, args, kwargs, error, _ = BAD_INPUTS[case]
    with pytest.raises(error) as numpy_error:
        getattr(conv, name)(*args, **kwargs)
    tensors = [torch.as_tensor(a) if isinstance(a, np.ndarray) else a for a in args]
    with pytest.raises(error) as torch_error:
        getattr(gpu, name)(*tensors, **kwargs)
    assert str(torch_error.value).replace("torch.", "") == str(numpy_error.value)


def test_torch_twin_refuses_numpy_arrays_kindly():
    with pytest.raises(TypeError, match=r"conv_transpose2d: argument 'x' must be a torch tensor.*"
                                        r"course_lib\.conv\.conv_transpose2d"):
        gpu.conv_transpose2d(X, torch.as_tensor(W))


# --- the live demo --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo():
    return widgets.TransposedConvDemo()


def test_demo_update_returns_the_figure_and_draws(demo):
    assert isinstance(demo.update(), Figure)
    assert demo.frame(stride=3, padding=2, kernel_size=4).startswith(b"\x89PNG")


@pytest.mark.parametrize("slider, value", [("stride", 1), ("padding", 0), ("kernel_size", 2)])
def test_demo_caption_follows_each_slider(demo, slider, value):
    demo.update(stride=2, padding=1, kernel_size=3)
    before = demo.caption
    demo.update(**{"stride": 2, "padding": 1, "kernel_size": 3, slider: value})
    assert demo.caption != before and "\n" not in demo.caption


@pytest.mark.parametrize("stride, padding, kernel_size",
                         list(itertools.product([1, 2, 3], [0, 1, 2], [1, 2, 3, 4])))
def test_demo_shows_what_torch_computes(demo, stride, padding, kernel_size):
    """Bottom rows: y = F.conv1d(x). Top right: the gradient of that convolution for dL/dy = y."""
    demo.update(stride=stride, padding=padding, kernel_size=kernel_size)
    x = torch.tensor(demo.x, dtype=torch.float64, requires_grad=True)
    weight = torch.tensor(demo.weights[:kernel_size], dtype=torch.float64)
    y = F.conv1d(x[None, None], weight[None, None], stride=stride, padding=padding)[0, 0]
    y.backward(y.detach())
    n = len(demo.x)
    conv_labels, back_labels = (panel["labels"] for panel in demo.panels)
    shown_y = [int(v) for v in y.detach().tolist()]
    assert conv_labels[n + 2 * padding:] == back_labels[n + 2 * padding:] == [str(v) for v in shown_y]
    assert conv_labels[padding:padding + n] == [str(v) for v in demo.x]
    assert back_labels[padding:padding + n] == [str(int(v)) for v in x.grad.tolist()]
    assert f"<b>{n}</b>" in demo.caption and f"<b>{len(shown_y)}</b>" in demo.caption


def test_demo_text_is_at_least_12_points(demo):
    demo.update(stride=2, padding=1, kernel_size=3)
    texts = [t for t in demo.fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    assert texts and all(t.get_fontsize() >= 12 for t in texts), [
        (t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < 12]
    digit = demo.panels[0]["numbers"].get_paths()[0].get_extents()
    assert digit.height >= 0.7 * 12  # the cell numbers: glyphs 12 points high (digits ~0.73 em)


def test_demo_refuses_a_kernel_longer_than_its_signal():
    with pytest.raises(ValueError, match="TransposedConvDemo: argument 'x' must be 1-D with at least 4"):
        widgets.TransposedConvDemo(x=(1, 2, 3))


def test_demo_show_runs_headless(demo):
    box = demo.show()
    image = next(w for w in box.children if hasattr(w, "format"))
    assert bytes(image.value).startswith(b"\x89PNG") and demo.caption
