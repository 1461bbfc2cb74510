"""course_lib.gradcheck: numerical gradients against known derivatives, and the check's verdicts."""
from __future__ import annotations

import importlib.util
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import array_shapes

from conftest import skip_or_fail
from course_lib import pool
from course_lib.gradcheck import (GradCheckResult, check_gradient, check_layer_gradients,
                                  numerical_gradient, relative_error)

# ------------------------------------------------------------------ numerical_gradient


@given(array_shapes(min_dims=0, max_dims=4, max_side=3), st.integers(0, 2**32 - 1))
def test_numerical_gradient_of_cube_is_three_x_squared(shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    # Central differences of x**3 are off by exactly h**2 = 1e-10.
    np.testing.assert_allclose(numerical_gradient(lambda x: x ** 3, x), 3 * x ** 2, atol=1e-8)


@given(st.integers(0, 2**32 - 1))
def test_numerical_gradient_of_matrix_product_matches_calculus(seed):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    dout = rng.standard_normal((3, 5))
    np.testing.assert_allclose(numerical_gradient(lambda x: x @ w, x, dout), dout @ w.T, atol=1e-8)
    np.testing.assert_allclose(numerical_gradient(lambda w: x @ w, w, dout), x.T @ dout, atol=1e-8)


def test_numerical_gradient_matches_torch_autograd_for_a_scalar_loss(rng):
    x = rng.standard_normal((2, 3, 4))
    xt = torch.tensor(x, requires_grad=True)
    (torch.tanh(xt) ** 2).sum().backward()
    ours = numerical_gradient(lambda x: np.sum(np.tanh(x) ** 2), x)  # a scalar is its own loss
    np.testing.assert_allclose(ours, xt.grad.numpy(), atol=1e-9)


def test_numerical_gradient_default_dout_is_ones(rng):
    x = rng.standard_normal((3, 2))
    np.testing.assert_array_equal(numerical_gradient(np.sin, x),
                                  numerical_gradient(np.sin, x, np.ones((3, 2))))


def test_numerical_gradient_sees_changes_through_a_closure(rng):
    x, w = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    layer = lambda: x @ w  # noqa: E731 - reads w from the enclosing scope, as layers do
    np.testing.assert_allclose(numerical_gradient(lambda _: layer(), w), x.T @ np.ones((2, 4)),
                               atol=1e-8)


def test_numerical_gradient_restores_x_exactly(rng):
    x = rng.standard_normal((4, 4))
    before = x.copy()
    numerical_gradient(lambda x: np.exp(x), x)
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_restores_x_when_f_fails(rng):
    x = rng.standard_normal(3)
    before = x.copy()
    calls = []

    def fragile(x):
        calls.append(1)
        if len(calls) > 2:
            raise RuntimeError("boom")
        return x

    with pytest.raises(RuntimeError):
        numerical_gradient(fragile, x)
    np.testing.assert_array_equal(x, before)


# ------------------------------------------------------------------ relative_error and the verdict


def test_relative_error_follows_its_formula(rng):
    a, b = rng.uniform(1, 2, 6), rng.uniform(1, 2, 6)  # far above the floor
    assert relative_error(a, b) == pytest.approx(np.max(np.abs(a - b) / (np.abs(a) + np.abs(b))))


def test_relative_error_of_equal_arrays_is_zero_and_of_opposites_is_one():
    assert relative_error([1.0, -2.0], [1.0, -2.0]) == 0.0
    assert relative_error([1.0, -2.0], [-1.0, 2.0]) == 1.0


def test_check_gradient_passes_on_the_right_derivative(rng):
    x = rng.standard_normal((3, 4))
    result = check_gradient(lambda x: x ** 3, x, 3 * x ** 2)
    assert result.passed and bool(result)
    assert result.max_relative_error < 1e-7
    assert str(result).startswith("gradient check passed for 'x': max relative error ")


def test_check_gradient_fails_on_a_wrong_derivative(rng):
    x = rng.standard_normal((3, 4))
    result = check_gradient(lambda x: x ** 3, x, 2 * x ** 2)  # forgot the power rule's 3
    assert not result.passed and not bool(result)
    assert result.max_relative_error > 1e-2
    assert str(result).startswith("gradient check FAILED for 'x'")


def test_check_gradient_points_at_the_one_wrong_entry(rng):
    x, dout = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    wrong = np.cos(x) * dout
    wrong[1, 2, 0] *= 1.01  # a 1 % error in one entry
    result = check_gradient(np.sin, x, wrong, dout)
    assert not result.passed
    assert result.worst_index == (1, 2, 0)
    assert "at index (1, 2, 0)" in str(result)


def test_result_is_a_dataclass_with_the_promised_fields(rng):
    x = rng.standard_normal(3)
    result = check_gradient(np.exp, x, np.exp(x))
    assert isinstance(result, GradCheckResult)
    assert isinstance(result.worst_index, tuple) and len(result.worst_index) == 1
    assert result.analytic == pytest.approx(result.numerical)


# ------------------------------------------------------------------ the course's backward passes


@pytest.mark.parametrize("kernel, stride, padding", [(2, 2, 0), (3, 2, 1), (3, 2, 0), (2, 3, 1),
                                                     ((3, 2), (1, 2), (1, 0))])
def test_pooling_backward_passes_pass(rng, kernel, stride, padding):
    x = rng.standard_normal((2, 2, 7, 6))
    for forward, backward in [(pool.max_pool2d, pool.max_pool2d_backward),
                              (pool.avg_pool2d, pool.avg_pool2d_backward)]:
        dout = rng.standard_normal(forward(x, kernel, stride, padding).shape)
        result = check_gradient(lambda x: forward(x, kernel, stride, padding), x,
                                backward(dout, x, kernel, stride, padding), dout)
        assert result.passed, f"{forward.__name__}: {result}"


@pytest.mark.parametrize("p", [1, 2, 3, 1.5, float("inf")])
def test_lp_pooling_backward_passes(rng, p):
    x = np.abs(rng.standard_normal((1, 2, 6, 6))) + 0.1
    dout = rng.standard_normal(pool.lp_pool2d(x, p, 3, 2).shape)
    result = check_gradient(lambda x: pool.lp_pool2d(x, p, 3, 2), x,
                            pool.lp_pool2d_backward(dout, x, p, 3, 2), dout)
    assert result.passed, str(result)


@pytest.mark.parametrize("forward, backward", [(pool.max_pool1d, pool.max_pool1d_backward),
                                               (pool.avg_pool1d, pool.avg_pool1d_backward)])
def test_1d_pooling_backward_passes(rng, forward, backward):
    x = rng.standard_normal((2, 3, 9))
    dout = rng.standard_normal(forward(x, 3, 2, 1).shape)
    result = check_gradient(lambda x: forward(x, 3, 2, 1), x, backward(dout, x, 3, 2, 1), dout)
    assert result.passed, str(result)


def test_check_layer_gradients_checks_every_input_of_an_affine_layer(rng):
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    dout = rng.standard_normal((4, 2))
    right = {"x": dout @ w.T, "weight": x.T @ dout, "bias": dout.sum(axis=0)}
    results = check_layer_gradients(lambda x, w, b: x @ w + b, {"x": x, "weight": w, "bias": b},
                                    right, dout)
    assert list(results) == ["x", "weight", "bias"] and all(results.values())
    wrong = dict(right, bias=dout.mean(axis=0))  # a classic slip: mean instead of sum
    results = check_layer_gradients(lambda x, w, b: x @ w + b, {"x": x, "weight": w, "bias": b},
                                    wrong, dout)
    assert results["x"].passed and results["weight"].passed and not results["bias"].passed
    assert "'bias'" in str(results["bias"])


@pytest.mark.parametrize("stride, padding, dilation, groups", [(1, 0, 1, 1), (2, 1, 1, 2),
                                                               ((1, 2), (2, 1), (2, 1), 1)])
def test_conv2d_layer_backward_passes(rng, stride, padding, dilation, groups):
    if importlib.util.find_spec("course_lib.conv") is None:  # an import error must still fail
        skip_or_fail("course_lib.conv is not written yet")
    from course_lib.conv import conv2d_layer, conv2d_layer_backward

    x = rng.standard_normal((2, 4, 6, 5))
    weight = rng.standard_normal((4, 4 // groups, 3, 2))
    bias = rng.standard_normal(4)
    layer = lambda x, w, b: conv2d_layer(x, w, b, stride, padding, dilation, groups)  # noqa: E731
    dout = rng.standard_normal(layer(x, weight, bias).shape)
    dx, dweight, dbias = conv2d_layer_backward(dout, x, weight, stride, padding, dilation, groups)
    results = check_layer_gradients(layer, {"x": x, "weight": weight, "bias": bias},
                                    {"x": dx, "weight": dweight, "bias": dbias}, dout)
    for result in results.values():
        assert result.passed, str(result)


# ------------------------------------------------------------------ bad input: one test per case


def test_integer_x_is_refused_kindly():
    with pytest.raises(TypeError, match=r"numerical_gradient: argument 'x' must hold floats, "
                                        r"got dtype int64.*astype\(np.float64\)"):
        numerical_gradient(np.sin, np.arange(3))


def test_a_list_for_x_is_refused():
    with pytest.raises(TypeError, match="numerical_gradient: argument 'x' must be a NumPy array"):
        numerical_gradient(np.sin, [1.0, 2.0])


def test_empty_x_is_refused():
    with pytest.raises(ValueError, match="numerical_gradient: argument 'x' must not be empty"):
        numerical_gradient(np.sin, np.ones((2, 0)))


def test_read_only_x_is_refused():
    x = np.ones(3)
    x.flags.writeable = False
    with pytest.raises(ValueError, match="numerical_gradient: argument 'x' must be writeable"):
        numerical_gradient(np.sin, x)


def test_float32_x_gives_a_warning():
    with pytest.warns(UserWarning, match="numerical_gradient: 'x' has dtype float32"):
        numerical_gradient(np.sin, np.ones(2, dtype=np.float32))


def test_non_positive_step_is_refused():
    with pytest.raises(ValueError, match="numerical_gradient: argument 'h' must be positive"):
        numerical_gradient(np.sin, np.ones(2), h=0)


def test_dout_of_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"numerical_gradient: argument 'dout' must have shape "
                                         r"\(2,\) \(the shape of f\(x\)\), got shape \(3,\)"):
        numerical_gradient(np.sin, np.ones(2), np.ones(3))


def test_analytic_grad_of_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="check_gradient: argument 'analytic_grad' must have"):
        check_gradient(np.sin, np.ones((2, 2)), np.ones(4))


def test_non_positive_rtol_is_refused():
    with pytest.raises(ValueError, match="check_gradient: argument 'rtol' must be positive"):
        check_gradient(np.sin, np.ones(2), np.cos(np.ones(2)), rtol=-1e-6)


def test_missing_layer_gradient_is_refused():
    with pytest.raises(ValueError, match=r"check_layer_gradients: .*missing \['bias'\]"):
        check_layer_gradients(lambda x, b: x + b, {"x": np.ones(2), "bias": np.ones(2)},
                              {"x": np.ones(2)})


def test_relative_error_of_mismatched_shapes_is_refused():
    with pytest.raises(ValueError, match="relative_error: argument 'b' must have shape"):
        relative_error(np.ones(2), np.ones(3))


# --- a step too small to move x, and the step actually taken ------------------------------------

@pytest.mark.parametrize("dtype, h", [(np.float64, 1e-20), (np.float64, 1e-300), (np.float32, 1e-9),
                                      (np.float16, 1e-5)])
def test_a_step_that_does_not_change_x_is_refused(dtype, h):
    """x + h == x: every difference is 0, so an all-zero (wrong) gradient would pass."""
    x = np.array([1.0, -2.0, 3.0], dtype=dtype)
    wrong = np.zeros(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the float16/float32 accuracy warning
        with pytest.raises(ValueError, match=r"check_gradient: argument 'h' = .* is too small to change x\[0\]"):
            check_gradient(lambda x: np.sum(x.astype(np.float64) ** 2), x, wrong, h=h)
        with pytest.raises(ValueError, match=r"numerical_gradient: argument 'h'"):
            numerical_gradient(lambda x: np.sum(x.astype(np.float64) ** 2), x, h=h)


@pytest.mark.parametrize("h, error", [(0.0, ValueError), (-1e-5, ValueError), (math.nan, ValueError),
                                      (math.inf, ValueError), (True, TypeError), ("1e-5", TypeError)])
def test_a_step_that_is_not_a_small_positive_number_is_refused(h, error):
    with pytest.raises(error, match=r"check_gradient: argument 'h'"):
        check_gradient(lambda x: np.sum(x ** 2), np.ones(2), 2 * np.ones(2), h=h)


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_nonfinite_x_is_refused(value):
    x = np.array([1.0, value])
    with pytest.raises(ValueError, match=r"check_gradient: argument 'x' holds NaN or inf .*index \(1,\)"):
        check_gradient(lambda x: np.sum(x ** 2), x, 2 * x)


def test_the_difference_is_divided_by_the_step_actually_taken():
    """In float32, 3 + 1e-3 is stored as 3.0009999...: dividing by 2h instead of the real step
    would be off by 7e-5 for the derivative of x**2 at 3; dividing by the real step is exact."""
    x = np.array([3.0], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimate = numerical_gradient(lambda x: float(x.astype(np.float64)[0] ** 2), x, h=1e-3)
    assert abs(estimate[0] - 6.0) < 1e-9
