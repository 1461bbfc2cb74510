"""course_lib.layers: stochastic pooling, local contrast normalisation and dropout, checked against
the NIPS 2013 tutorial's worked example, independent references (scipy.ndimage, torch), Monte
Carlo expectations and numerical gradients (course_lib.gradcheck)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage

from course_lib.gradcheck import check_gradient
from course_lib.layers import dropout as D
from course_lib.layers import lcn
from course_lib.layers import stochastic_pool as S

# The tutorial's 3×3 pooling region (deck 002): two non-zero activations, 1.6 and 2.4.
REGION = np.array([[1.6, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 2.4]])


# --------------------------------------------------------------------------- stochastic pooling

def test_worked_example_probabilities_and_test_time_output():
    p = S.pooling_probabilities(REGION)
    np.testing.assert_allclose(p, [[0.4, 0, 0], [0, 0, 0], [0, 0, 0.6]])
    out, _ = S.stochastic_pool_forward(REGION[None, None], 3, training=False)
    assert out.shape == (1, 1, 1, 1)
    assert out[0, 0, 0, 0] == pytest.approx(0.4 * 1.6 + 0.6 * 2.4)  # 2.08


def test_worked_example_samples_only_the_two_activations_in_proportion():
    x = np.broadcast_to(REGION, (4000, 1, 3, 3)).copy()
    out, _ = S.stochastic_pool_forward(x, 3, rng=np.random.default_rng(0))
    values = out.ravel()
    assert set(np.round(values, 6)) == {1.6, 2.4}
    share = np.mean(np.isclose(values, 1.6))
    assert share == pytest.approx(0.4, abs=0.03)  # 4000 draws: sd about 0.008


def test_expected_sample_equals_the_test_time_average():
    """E[a_l] with l ~ p is sum p_i a_i: the Monte Carlo mean of many seeded draws approaches it."""
    rng = np.random.default_rng(1)
    x = rng.random((1, 3, 4, 6)) * (rng.random((1, 3, 4, 6)) > 0.3)
    expected, _ = S.stochastic_pool_forward(x, 2, training=False)
    draws = np.mean([S.stochastic_pool_forward(x, 2, rng=rng)[0] for _ in range(3000)], axis=0)
    np.testing.assert_allclose(draws, expected, atol=0.03)
    by_hand = (x.reshape(1, 3, 2, 2, 3, 2) ** 2).sum((3, 5)) / np.maximum(x.reshape(1, 3, 2, 2, 3, 2).sum((3, 5)), 1e-300)
    np.testing.assert_allclose(expected, by_hand)


def test_a_sample_is_always_a_member_of_its_region_and_never_a_zero():
    rng = np.random.default_rng(2)
    x = rng.random((2, 2, 6, 6)) * (rng.random((2, 2, 6, 6)) > 0.5)
    out, _ = S.stochastic_pool_forward(x, 3, rng=3)
    regions = x.reshape(2, 2, 2, 3, 2, 3).transpose(0, 1, 2, 4, 3, 5).reshape(2, 2, 2, 2, 9)
    for idx in np.ndindex(out.shape):
        region = regions[idx]
        assert out[idx] in region
        assert out[idx] > 0 or not region.any()


def test_all_zero_region_gives_zero_and_no_gradient():
    out, cache = S.stochastic_pool_forward(np.zeros((1, 1, 2, 2)), 2, rng=0)
    assert out.item() == 0.0
    np.testing.assert_array_equal(S.stochastic_pool_backward(np.ones((1, 1, 1, 1)), cache), 0.0)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("kernel_size, stride", [(2, None), (3, 2)])
def test_stochastic_pool_backward_matches_numerical_gradient(training, kernel_size, stride):
    rng = np.random.default_rng(4)
    x = 0.2 + rng.random((2, 2, 5, 5))   # positive: no position sits at a kink of the sampler
    dout_shape = S.stochastic_pool_forward(x, kernel_size, stride, training=False)[0].shape
    dout = rng.standard_normal(dout_shape)
    # A fixed seed gives the same draws on every call, so the sampled positions stay fixed.
    f = lambda x: S.stochastic_pool_forward(x, kernel_size, stride, training, rng=7)[0]  # noqa: E731
    _, cache = S.stochastic_pool_forward(x, kernel_size, stride, training, rng=7)
    result = check_gradient(f, x, S.stochastic_pool_backward(dout, cache), dout)
    assert result.passed, str(result)


def test_stochastic_pool_refuses_negative_input_and_bad_arguments():
    with pytest.raises(ValueError, match="non-negative"):
        S.stochastic_pool_forward(-np.ones((1, 1, 2, 2)), 2)
    with pytest.raises(ValueError, match="non-negative"):
        S.pooling_probabilities([1.0, -1.0])
    with pytest.raises(ValueError, match="kernel_size"):
        S.stochastic_pool_forward(np.ones((1, 1, 2, 2)), 3)
    with pytest.raises(TypeError, match="rng"):
        S.stochastic_pool_forward(np.ones((1, 1, 2, 2)), 2, rng="seed")
    with pytest.raises(ValueError, match="4-D"):
        S.stochastic_pool_forward(np.ones((2, 2)), 2)


# --------------------------------------------------------------------------- local contrast normalisation

def test_local_mean_matches_scipy_with_the_border_renormalised():
    x = np.random.default_rng(5).random((3, 12, 15))
    w = lcn.gaussian_window(7)
    assert w.sum() == pytest.approx(1.0) and w.shape == (7, 7)
    summed = sum(ndimage.correlate(x[c], w, mode="constant") for c in range(3)) / 3
    inside = ndimage.correlate(np.ones((12, 15)), w, mode="constant")
    np.testing.assert_allclose(lcn.local_mean(x), summed / inside, atol=1e-12)
    np.testing.assert_allclose(lcn.subtractive_normalize(x), x - summed / inside, atol=1e-12)


def _two_contrasts(size: int = 64) -> np.ndarray:
    """A vertical grating, faint on the left half and strong on the right, on a brightness ramp."""
    j = np.arange(size)
    grating = np.cos(2 * np.pi * j / 5)[None, :] * np.ones((size, 1))
    return np.where(j < size // 2, 0.2, 3.0)[None, :] * grating + 0.05 * j[:, None]


def test_lcn_gives_zero_local_mean_and_unit_local_std_where_there_is_contrast():
    img = _two_contrasts()
    y = lcn.local_contrast_normalize(img, threshold=0.05)
    mean, std = lcn.local_mean(y), np.sqrt(lcn.local_mean(y ** 2))
    before_mean, before_std = lcn.local_mean(img), np.sqrt(lcn.local_mean(lcn.subtractive_normalize(img) ** 2))
    for cols in (slice(8, 24), slice(40, 56)):   # the interior of each half
        inner = (slice(8, -8), cols)
        assert np.abs(before_mean[inner]).max() > 0.5 or np.ptp(before_mean[inner]) > 0.5
        # A Gaussian window does not average a grating exactly to 0: about 0.1 of its size is left.
        assert np.abs(mean[inner]).max() < 0.15
        np.testing.assert_allclose(std[inner], 1.0, atol=0.05)
    assert before_std[8:-8, 40:56].mean() > 10 * before_std[8:-8, 8:24].mean()   # equalised: 15× before


def test_lcn_leaves_flat_regions_below_the_threshold_small():
    img = np.zeros((32, 32))
    img[:, 16:] = np.cos(np.arange(16) * 2.0)[None, :]
    img[:, :16] += 1e-3 * np.random.default_rng(6).standard_normal((32, 16))   # nearly flat: noise
    y = lcn.local_contrast_normalize(img)
    assert np.abs(y[8:-8, :6]).max() < 0.05   # the noise is divided by the threshold, not blown up


@given(hnp.arrays(np.float64, (2, 9, 9), elements=st.floats(-5, 5)), st.floats(-100, 100), st.floats(0.5, 20))
def test_lcn_ignores_brightness_and_contrast(x, offset, gain):
    """A constant offset disappears in the local mean; with the default threshold (mean sigma),
    scaling the image scales every sigma and the threshold alike (above the 1e-6 floor)."""
    assume(np.ptp(x) > 0.1)
    base = lcn.local_contrast_normalize(x, size=5)
    np.testing.assert_allclose(lcn.local_contrast_normalize(gain * x + offset, size=5), base, atol=1e-6)


def test_lcn_shapes_and_bad_input():
    assert lcn.local_contrast_normalize(np.random.default_rng(0).random((2, 3, 8, 8))).shape == (2, 3, 8, 8)
    assert lcn.local_mean(np.ones((2, 3, 8, 8))).shape == (2, 8, 8)
    with pytest.raises(ValueError, match="odd"):
        lcn.gaussian_window(4)
    with pytest.raises(ValueError, match="sigma"):
        lcn.gaussian_window(5, sigma=0.0)
    with pytest.raises(ValueError, match="NaN"):
        lcn.local_contrast_normalize(np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="2-D or 3-D or 4-D"):
        lcn.local_contrast_normalize(np.ones(5))


# --------------------------------------------------------------------------- dropout

def test_inverted_dropout_keeps_the_expectation():
    x = np.random.default_rng(8).standard_normal((50, 40))
    draws = np.mean([D.dropout_forward(x, 0.3, rng=seed)[0] for seed in range(2000)], axis=0)
    np.testing.assert_allclose(draws, x, atol=0.1 * np.abs(x).max())
    out, mask = D.dropout_forward(x, 0.3, rng=0)
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / 0.7)
    assert 0.25 < 1 - kept.mean() < 0.35


def test_dropout_backward_matches_numerical_gradient_under_a_fixed_mask():
    rng = np.random.default_rng(9)
    x, dout = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    _, cache = D.dropout_forward(x, 0.4, rng=11)
    f = lambda x: D.dropout_forward(x, 0.4, rng=11)[0]  # noqa: E731  same seed, same mask
    result = check_gradient(f, x, D.dropout_backward(dout, cache), dout)
    assert result.passed, str(result)


def test_dropout_agrees_with_torch_under_the_same_mask():
    x = np.random.default_rng(10).standard_normal((3, 5))
    out, cache = D.dropout_forward(x, 0.5, rng=1)
    mask = torch.from_numpy(cache != 0)
    expected = torch.from_numpy(x) * mask / 0.5   # what torch.nn.functional.dropout computes for that mask
    np.testing.assert_allclose(out, expected.numpy())


def test_dropout_identity_cases():
    x = np.arange(6.0).reshape(2, 3)
    for out, cache in (D.dropout_forward(x, 0.0, rng=0), D.dropout_forward(x, 0.7, training=False)):
        np.testing.assert_array_equal(out, x)
        np.testing.assert_array_equal(D.dropout_backward(np.ones_like(x), cache), 1.0)


@pytest.mark.parametrize("p, error", [(1.0, ValueError), (-0.1, ValueError), (1.5, ValueError),
                                      (True, TypeError), ("0.5", TypeError), (float("nan"), ValueError)])
def test_dropout_refuses_bad_p(p, error):
    with pytest.raises(error, match="'p'"):
        D.dropout_forward(np.ones(3), p)


def test_dropout_refuses_bad_rng_and_mismatched_dout():
    with pytest.raises(TypeError, match="rng"):
        D.dropout_forward(np.ones(3), 0.5, rng=np.random.RandomState(0))
    _, cache = D.dropout_forward(np.ones(3), 0.5, rng=0)
    with pytest.raises(ValueError, match="dout"):
        D.dropout_backward(np.ones(4), cache)


# --------------------------------------------------------------------------- DropConnect

def test_dropconnect_backward_matches_numerical_gradients():
    rng = np.random.default_rng(12)
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    dout = rng.standard_normal((3, 5))
    _, cache = D.dropconnect_forward(x, w, b, 0.5, rng=13)
    dx, dw, db = D.dropconnect_backward(dout, cache)
    for name, arr, grad in (("x", x, dx), ("weight", w, dw), ("bias", b, db)):
        f = lambda _: D.dropconnect_forward(x, w, b, 0.5, rng=13)[0]  # noqa: E731  arr is nudged in place
        result = check_gradient(f, arr, grad, dout, name=name)
        assert result.passed, str(result)


def test_dropconnect_at_test_time_is_a_linear_layer():
    rng = np.random.default_rng(14)
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    out, _ = D.dropconnect_forward(x, w, b, 0.5, training=False)
    expected = torch.nn.functional.linear(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b))
    np.testing.assert_allclose(out, expected.numpy())
    with pytest.raises(ValueError, match="shapes"):
        D.dropconnect_forward(x, w.T, b, 0.5)
