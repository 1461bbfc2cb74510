"""course_lib.pool against torch.nn.functional: forward values and autograd gradients."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, strategies as st

from course_lib import pool

# ------------------------------------------------------------------ helpers


def torch_forward_backward(op, x: np.ndarray, dout_seed: int, *args, **kwargs):
    """Run a torch pooling op on float64 ``x``; return its output and d(sum(out * dout))/dx."""
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out = op(xt, *args, **kwargs)
    dout = np.random.default_rng(dout_seed).standard_normal(tuple(out.shape))
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), dout, xt.grad.numpy()


@st.composite
def pool_cases(draw, spatial: int = 2, padded: bool = True):
    """A random pooling geometry that torch accepts; stride > kernel and overlap both occur."""
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(spatial))
    stride = tuple(draw(st.integers(1, 5)) for _ in range(spatial))
    padding = tuple(draw(st.integers(0, k // 2)) if padded else 0 for k in kernel)
    size = tuple(draw(st.integers(max(1, k - 2 * p), 9)) for k, p in zip(kernel, padding))
    lead = (draw(st.integers(1, 2)), draw(st.integers(1, 3)))
    if draw(st.booleans()):
        lead = lead[1:]  # unbatched input, as torch allows
    seed = draw(st.integers(0, 2**32 - 1))
    x = np.random.default_rng(seed).standard_normal(lead + size)  # continuous: no ties
    as_arg = (lambda t: t[0]) if spatial == 1 else (lambda t: t)
    return x, as_arg(kernel), as_arg(stride), as_arg(padding), seed + 1


# ------------------------------------------------------------------ the lecture's example


def test_lecture_example_4x4_f2_s2():
    x = np.array([[1, 3, 2, 1], [2, 9, 1, 1], [1, 3, 2, 3], [5, 6, 1, 2]]).reshape(1, 1, 4, 4)
    expected = F.max_pool2d(torch.tensor(x), 2, 2).numpy()
    np.testing.assert_array_equal(pool.max_pool2d(x, 2, 2), expected)
    np.testing.assert_array_equal(pool.max_pool2d(x, 2, 2)[0, 0], [[9, 2], [6, 3]])  # the slide


# ------------------------------------------------------------------ properties against torch


@given(pool_cases())
def test_max_pool2d_matches_torch(case):
    x, k, s, p, seed = case
    out, dout, dx = torch_forward_backward(F.max_pool2d, x, seed, k, s, p)
    np.testing.assert_allclose(pool.max_pool2d(x, k, s, p), out, rtol=0, atol=0)
    np.testing.assert_allclose(pool.max_pool2d_backward(dout, x, k, s, p), dx, atol=1e-12)


@given(pool_cases(), st.booleans())
def test_avg_pool2d_matches_torch(case, count_include_pad):
    x, k, s, p, seed = case
    out, dout, dx = torch_forward_backward(F.avg_pool2d, x, seed, k, s, p,
                                           count_include_pad=count_include_pad)
    np.testing.assert_allclose(pool.avg_pool2d(x, k, s, p, count_include_pad), out, rtol=1e-12)
    np.testing.assert_allclose(pool.avg_pool2d_backward(dout, x, k, s, p, count_include_pad), dx,
                               rtol=1e-12, atol=1e-12)


@given(pool_cases(padded=False), st.sampled_from([1, 2, 3, 1.5, 0.7, float("inf")]))
def test_lp_pool2d_matches_torch_on_positive_inputs(case, p):
    x, k, s, _, seed = case
    x = np.abs(x) + 0.1  # every real power is defined, and no window sums to zero
    out, dout, dx = torch_forward_backward(F.lp_pool2d, x, seed, p, k, s)
    np.testing.assert_allclose(pool.lp_pool2d(x, p, k, s), out, rtol=1e-10)
    np.testing.assert_allclose(pool.lp_pool2d_backward(dout, x, p, k, s), dx, rtol=1e-8, atol=1e-12)


@given(pool_cases(padded=False), st.sampled_from([1, 2, 3, 2.5, float("inf")]))
def test_lp_pool2d_matches_torch_sign_behaviour(case, p):
    x, k, s, _, _ = case  # mixed signs: NaN exactly where torch gives NaN
    expected = F.lp_pool2d(torch.tensor(x), p, k, s).numpy()
    np.testing.assert_allclose(pool.lp_pool2d(x, p, k, s), expected, rtol=1e-10, equal_nan=True)


@given(pool_cases(padded=False), st.sampled_from([1, 2, float("inf")]))
def test_lp_pool2d_backward_matches_torch_with_mixed_signs(case, p):
    x, k, s, _, seed = case
    out, dout, dx = torch_forward_backward(F.lp_pool2d, x, seed, p, k, s)
    np.testing.assert_allclose(pool.lp_pool2d_backward(dout, x, p, k, s), dx, rtol=1e-8, atol=1e-12)


@given(pool_cases(spatial=1))
def test_max_pool1d_matches_torch(case):
    x, k, s, p, seed = case
    out, dout, dx = torch_forward_backward(F.max_pool1d, x, seed, k, s, p)
    np.testing.assert_array_equal(pool.max_pool1d(x, k, s, p), out)
    np.testing.assert_allclose(pool.max_pool1d_backward(dout, x, k, s, p), dx, atol=1e-12)


@given(pool_cases(spatial=1), st.booleans())
def test_avg_pool1d_matches_torch(case, count_include_pad):
    x, k, s, p, seed = case
    out, dout, dx = torch_forward_backward(F.avg_pool1d, x, seed, k, s, p,
                                           count_include_pad=count_include_pad)
    np.testing.assert_allclose(pool.avg_pool1d(x, k, s, p, count_include_pad), out, rtol=1e-12)
    np.testing.assert_allclose(pool.avg_pool1d_backward(dout, x, k, s, p, count_include_pad), dx,
                               rtol=1e-12, atol=1e-12)


@given(st.integers(0, 2**32 - 1), st.integers(1, 3), st.integers(1, 4))
def test_max_pool_channels_matches_torch_reshape_amax(seed, groups, group_size):
    x = np.random.default_rng(seed).standard_normal((2, groups * group_size, 3, 4))
    expected = torch.tensor(x).reshape(2, groups, group_size, 3, 4).amax(dim=2).numpy()
    np.testing.assert_array_equal(pool.max_pool_channels(x, group_size), expected)


# ------------------------------------------------------------------ switches, ties and dtypes


def test_max_pool_backward_accumulates_a_shared_switch_f3_s2():
    # The centre cell (2, 2) lies in all four overlapping 3x3 windows and is their maximum.
    x = np.random.default_rng(1).uniform(0, 1, (1, 1, 5, 5))
    x[0, 0, 2, 2] = 10.0
    dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    xt = torch.tensor(x, requires_grad=True)
    F.max_pool2d(xt, 3, 2).backward(torch.tensor(dout))
    ours = pool.max_pool2d_backward(dout, x, 3, 2)
    np.testing.assert_array_equal(ours, xt.grad.numpy())
    assert ours[0, 0, 2, 2] == 10.0  # 1 + 2 + 3 + 4


@given(st.integers(0, 2**32 - 1), pool_cases())
def test_max_pool2d_ties_go_where_torch_sends_them(seed, case):
    _, k, s, p, _ = case
    shape = case[0].shape
    x = np.random.default_rng(seed).integers(0, 2, shape).astype(np.float64)  # many ties
    out, dout, dx = torch_forward_backward(F.max_pool2d, x, seed, k, s, p)
    np.testing.assert_array_equal(pool.max_pool2d(x, k, s, p), out)
    np.testing.assert_allclose(pool.max_pool2d_backward(dout, x, k, s, p), dx, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
def test_max_pool2d_keeps_integers_integer(dtype):
    x = np.random.default_rng(2).integers(0, 100, (2, 3, 7, 6)).astype(dtype)
    ours = pool.max_pool2d(x, 3, 2, 1)
    assert ours.dtype == dtype
    np.testing.assert_array_equal(ours, F.max_pool2d(torch.tensor(x), 3, 2, 1).numpy())


def test_max_pool1d_keeps_integers_integer():
    x = np.array([[[-5, -3, -9, -1, -7]]])  # negative: padding must not win the max
    ours = pool.max_pool1d(x, 2, 2, 1)
    assert ours.dtype == x.dtype
    expected = F.max_pool1d(torch.tensor(x, dtype=torch.float64), 2, 2, 1)  # torch: no int 1-D
    np.testing.assert_array_equal(ours, expected.numpy())


@pytest.mark.parametrize("op", [pool.max_pool2d, pool.avg_pool2d])
def test_float32_stays_float32(op):
    x = np.random.default_rng(3).standard_normal((1, 2, 6, 6)).astype(np.float32)
    ours = op(x, 2)
    assert ours.dtype == np.float32
    expected = getattr(F, op.__name__)(torch.tensor(x), 2).numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-6)


def test_avg_pool2d_of_integers_is_an_exact_float_mean():
    x = np.arange(16).reshape(1, 1, 4, 4)
    expected = F.avg_pool2d(torch.tensor(x, dtype=torch.float64), 2).numpy()
    np.testing.assert_array_equal(pool.avg_pool2d(x, 2), expected)


def test_lp_pool2d_window_summing_to_zero_passes_no_gradient():
    x = np.array([[[[1.0, -1.0], [2.0, 3.0]]]])  # p=1: the first 1x2 window sums to zero
    _, dout, dx = torch_forward_backward(F.lp_pool2d, x, 4, 1, (1, 2))
    np.testing.assert_array_equal(pool.lp_pool2d_backward(dout, x, 1, (1, 2)), dx)


def test_lists_are_accepted():
    np.testing.assert_array_equal(pool.max_pool1d([[1, 4, 2, 3]], 2), [[4, 3]])


# ------------------------------------------------------------------ bad input: one test per case

FORWARDS = [pool.max_pool2d, pool.avg_pool2d, pool.max_pool1d, pool.avg_pool1d]
X2 = np.ones((1, 1, 4, 4))
X1 = np.ones((1, 1, 4))


def _x_for(op):
    return X1 if op.__name__.endswith("1d") else X2


@pytest.mark.parametrize("op", FORWARDS, ids=lambda f: f.__name__)
def test_kernel_size_zero_is_refused(op):
    with pytest.raises(ValueError, match=rf"{op.__name__}: argument 'kernel_size' must be posit"):
        op(_x_for(op), 0)


@pytest.mark.parametrize("op", FORWARDS, ids=lambda f: f.__name__)
def test_negative_kernel_size_is_refused(op):
    with pytest.raises(ValueError, match="'kernel_size' must be positive"):
        op(_x_for(op), -2)


@pytest.mark.parametrize("op", FORWARDS, ids=lambda f: f.__name__)
def test_stride_zero_is_refused(op):
    with pytest.raises(ValueError, match=rf"{op.__name__}: argument 'stride' must be positive"):
        op(_x_for(op), 2, 0)


@pytest.mark.parametrize("op", FORWARDS, ids=lambda f: f.__name__)
def test_negative_padding_is_refused(op):
    with pytest.raises(ValueError, match=rf"{op.__name__}: argument 'padding' must be non-neg"):
        op(_x_for(op), 2, 2, -1)


@pytest.mark.parametrize("op", FORWARDS, ids=lambda f: f.__name__)
def test_padding_over_half_the_kernel_is_refused(op):
    with pytest.raises(ValueError, match=rf"{op.__name__}: argument 'padding' must be at most"):
        op(_x_for(op), 3, 1, 2)


@pytest.mark.parametrize("op", FORWARDS, ids=lambda f: f.__name__)
def test_kernel_larger_than_padded_input_is_refused(op):
    with pytest.raises(ValueError, match=rf"{op.__name__}: the kernel .* is larger than the pad"):
        op(_x_for(op), 7, 1, 1)


@pytest.mark.parametrize("op", FORWARDS, ids=lambda f: f.__name__)
def test_wrong_input_rank_is_refused(op):
    with pytest.raises(ValueError, match=rf"{op.__name__}: argument 'x' must be a .*got a 5-D"):
        op(np.ones((1, 1, 1, 4, 4)), 2)


@pytest.mark.parametrize("op", FORWARDS, ids=lambda f: f.__name__)
def test_empty_input_is_refused(op):
    x = np.ones((1, 0, 4)) if op.__name__.endswith("1d") else np.ones((1, 0, 4, 4))
    with pytest.raises(ValueError, match=rf"{op.__name__}: argument 'x' must not be empty"):
        op(x, 2)


@pytest.mark.parametrize("op", FORWARDS, ids=lambda f: f.__name__)
def test_non_numeric_dtype_is_refused(op):
    with pytest.raises(TypeError, match=rf"{op.__name__}: argument 'x' must hold numbers"):
        op(_x_for(op).astype(str), 2)


@pytest.mark.parametrize("op", FORWARDS, ids=lambda f: f.__name__)
def test_non_int_kernel_size_is_refused(op):
    with pytest.raises(TypeError, match=rf"{op.__name__}: argument 'kernel_size' must be an int"):
        op(_x_for(op), 2.0)


def test_kernel_size_pair_of_wrong_length_is_refused():
    with pytest.raises(ValueError, match="max_pool2d: argument 'kernel_size' must be an int or "
                                         "a sequence of 2 ints"):
        pool.max_pool2d(X2, (2, 2, 2))


def test_lp_pool2d_non_positive_p_is_refused():
    with pytest.raises(ValueError, match="lp_pool2d: argument 'p' must be positive"):
        pool.lp_pool2d(X2, 0, 2)


def test_lp_pool2d_non_number_p_is_refused():
    with pytest.raises(TypeError, match="lp_pool2d: argument 'p' must be a number"):
        pool.lp_pool2d(X2, "2", 2)


def test_lp_pool2d_wrong_rank_is_refused():
    with pytest.raises(ValueError, match="lp_pool2d: argument 'x' must be a 3-D or 4-D"):
        pool.lp_pool2d(np.ones((4, 4)), 2, 2)


@pytest.mark.parametrize("backward", [pool.max_pool2d_backward, pool.avg_pool2d_backward],
                         ids=lambda f: f.__name__)
def test_backward_dout_of_wrong_shape_is_refused(backward):
    with pytest.raises(ValueError, match=rf"{backward.__name__}: argument 'dout' must have shape "
                                         r"\(1, 1, 2, 2\) \(the shape of the forward output\)"):
        backward(np.ones((1, 1, 3, 3)), X2, 2)


def test_lp_pool2d_backward_dout_of_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="lp_pool2d_backward: argument 'dout' must have shape"):
        pool.lp_pool2d_backward(np.ones((1, 1, 3)), X2, 2, 2)


def test_max_pool_channels_group_not_dividing_channels_is_refused():
    with pytest.raises(ValueError, match="max_pool_channels: argument 'group_size' must divide"):
        pool.max_pool_channels(np.ones((1, 6, 2, 2)), 4)


def test_max_pool_channels_group_size_zero_is_refused():
    with pytest.raises(ValueError, match="max_pool_channels: argument 'group_size' must be pos"):
        pool.max_pool_channels(np.ones((1, 6, 2, 2)), 0)


def test_lp_pool2d_kernel_larger_than_input_is_refused():
    with pytest.raises(ValueError, match="lp_pool2d: the kernel .* is larger than the padded"):
        pool.lp_pool2d(X2, 2, 5)


def test_lp_pool2d_backward_stride_zero_is_refused():
    with pytest.raises(ValueError, match="lp_pool2d_backward: argument 'stride' must be positive"):
        pool.lp_pool2d_backward(np.ones((1, 1, 2, 2)), X2, 2, 2, 0)


# ------------------------------------------------------------------ max-pool gradients at NaN and -inf

SPECIAL = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1.0, 1.0, -2.0])


@st.composite
def special_pool_cases(draw, spatial: int = 2):
    """A pooling geometry over values full of ties, NaN and ±inf, with a dout that may hold NaN."""
    x, kernel, stride, padding, _ = draw(pool_cases(spatial))
    x = np.array(draw(st.lists(SPECIAL, min_size=x.size, max_size=x.size))).reshape(x.shape)
    out_shape = F.max_pool2d(torch.zeros(x.shape), kernel, stride, padding).shape if spatial == 2 \
        else F.max_pool1d(torch.zeros(x.shape), kernel, stride, padding).shape
    dout = np.array(draw(st.lists(st.sampled_from([1.0, -3.0, 0.5, np.nan]), min_size=int(np.prod(out_shape)),
                                  max_size=int(np.prod(out_shape))))).reshape(tuple(out_shape))
    return x, dout, kernel, stride, padding


def torch_max_pool_grad(x, dout, kernel, stride, padding, spatial):
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (F.max_pool2d if spatial == 2 else F.max_pool1d)(xt, kernel, stride, padding).backward(torch.tensor(dout))
    return xt.grad.numpy()


@pytest.mark.parametrize("spatial", [2, 1])
@given(data=st.data())
def test_max_pool_backward_matches_torch_at_nan_inf_and_ties(spatial, data):
    """torch sends a window's gradient to its last NaN, else its first maximum, and never to a
    padding cell (a window of -inf gives it to its first real cell); a NaN dout stays on that one cell."""
    x, dout, kernel, stride, padding = data.draw(special_pool_cases(spatial))
    backward = pool.max_pool2d_backward if spatial == 2 else pool.max_pool1d_backward
    np.testing.assert_array_equal(backward(dout, x, kernel, stride, padding),
                                  torch_max_pool_grad(x, dout, kernel, stride, padding, spatial))


@pytest.mark.parametrize("x, dout, settings", [
    ([[[np.nan, 1.0, np.nan, 2.0]]], [[[1.0]]], dict(kernel_size=4)),          # two NaNs: the last one
    ([[[1.0, 2.0, 3.0, 4.0]]], [[[np.nan, 1.0]]], dict(kernel_size=2)),        # NaN dout: one cell only
    ([[[-np.inf, -np.inf, -np.inf]]], [[[1.0, 1.0, 1.0]]], dict(kernel_size=3, stride=1, padding=1)),
])
def test_max_pool_backward_issue_examples(x, dout, settings):
    x, dout = np.array(x), np.array(dout)
    expected = torch_max_pool_grad(x, dout, settings["kernel_size"], settings.get("stride"),
                                   settings.get("padding", 0), 1)
    np.testing.assert_array_equal(pool.max_pool1d_backward(dout, x, **settings), expected)


# ------------------------------------------------------------------ bools, float16, complex, huge

@pytest.mark.parametrize("value", ["no", "False", 1, 0, None])
@pytest.mark.parametrize("op", [pool.avg_pool2d, pool.avg_pool1d])
def test_count_include_pad_must_be_a_bool(op, value):
    x = np.ones((1, 2, 4)) if op is pool.avg_pool1d else np.ones((1, 4, 4))
    with pytest.raises(TypeError, match=rf"{op.__name__}: argument 'count_include_pad' must be True or False"):
        op(x, 3, 1, 1, count_include_pad=value)
    with pytest.raises(TypeError, match=r"_backward: argument 'count_include_pad'"):
        getattr(pool, op.__name__ + "_backward")(op(x, 3, 1, 1), x, 3, 1, 1, count_include_pad=value)


def test_float16_average_pooling_sums_in_float32_like_torch():
    x = np.full((1, 1, 2, 2), 30000, dtype=np.float16)
    expected = F.avg_pool2d(torch.from_numpy(x), 2).numpy()
    assert expected.item() == 30000
    out = pool.avg_pool2d(x, 2)
    assert out.dtype == np.float16 and out.item() == 30000   # the float16 sum 120000 would be inf
    assert pool.lp_pool2d(x, 2, 2).item() == 60000


def test_complex_input_is_refused():
    with pytest.raises(TypeError, match=r"max_pool2d: argument 'x' must hold real numbers"):
        pool.max_pool2d(np.ones((1, 2, 2), dtype=complex), 2)
    with pytest.raises(TypeError, match=r"max_pool2d_backward: argument 'dout' must hold real numbers"):
        pool.max_pool2d_backward(np.ones((1, 1, 1), dtype=complex), np.ones((1, 2, 2)), 2)


def test_huge_backward_is_refused_naming_x():
    x = np.broadcast_to(1.0, (1, 1, 1000, 1000))
    dout = np.broadcast_to(1.0, (1, 1, 941, 941))
    with pytest.raises(ValueError, match=r"max_pool2d_backward: argument 'x' is too large"):
        pool.max_pool2d_backward(dout, x, 60, 1)
