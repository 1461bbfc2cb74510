"""course_lib.layers.batchnorm against torch: forward (F.batch_norm), backward (autograd),
running statistics (torch's momentum and unbiased variance), finite differences, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from course_lib.gradcheck import check_layer_gradients
from course_lib.layers.batchnorm import BatchNormCache, batchnorm_backward, batchnorm_forward

shapes = st.one_of(st.tuples(st.integers(2, 6), st.integers(1, 5)),
                   st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)))


def _case(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(2.0, 3.0, shape)
    if x.size // shape[1] < 2:  # a single value per channel has no variance: add a second example
        x = np.concatenate([x, rng.normal(2.0, 3.0, shape)])
    c = shape[1]
    return x, rng.normal(1.0, 0.5, c), rng.normal(0.0, 0.5, c), rng.normal(size=x.shape)


def _torch_reference(x, gamma, beta, dout, training, running_mean=None, running_var=None, momentum=0.1, eps=1e-5):
    xt, gt, bt = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    rm = None if running_mean is None else torch.tensor(running_mean)
    rv = None if running_var is None else torch.tensor(running_var)
    out = F.batch_norm(xt, rm, rv, gt, bt, training=training, momentum=momentum, eps=eps)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy(), rm, rv


@given(shape=shapes, seed=st.integers(0, 2**16))
def test_training_forward_and_backward_match_torch(shape, seed):
    x, gamma, beta, dout = _case(shape, seed)
    out, cache = batchnorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    ref_out, ref_dx, ref_dgamma, ref_dbeta, _, _ = _torch_reference(x, gamma, beta, dout, True)
    np.testing.assert_allclose(out, ref_out, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(dgamma, ref_dgamma, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dbeta, ref_dbeta, rtol=1e-10, atol=1e-10)


@given(shape=shapes, seed=st.integers(0, 2**16), momentum=st.floats(0.0, 1.0))
def test_running_statistics_follow_torch(shape, seed, momentum):
    x, gamma, beta, dout = _case(shape, seed)
    c = shape[1]
    mean, var = np.linspace(-1, 1, c), np.linspace(0.5, 2, c)
    running_mean, running_var = mean.copy(), var.copy()
    batchnorm_forward(x, gamma, beta, momentum=momentum, running_mean=running_mean, running_var=running_var)
    *_, rm, rv = _torch_reference(x, gamma, beta, dout, True, mean, var, momentum)
    np.testing.assert_allclose(running_mean, rm.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(running_var, rv.numpy(), rtol=1e-12, atol=1e-12)


def test_running_variance_is_unbiased_and_normalisation_is_biased():
    x = np.array([[0.0], [2.0]])                       # biased variance 1, unbiased 2
    mean, var = np.zeros(1), np.zeros(1)
    out, _ = batchnorm_forward(x, np.ones(1), np.zeros(1), eps=0.0, momentum=1.0, running_mean=mean,
                               running_var=var)
    assert out.ravel().tolist() == [-1.0, 1.0] and mean.tolist() == [1.0] and var.tolist() == [2.0]


@given(shape=shapes, seed=st.integers(0, 2**16))
def test_evaluation_uses_running_statistics_like_torch(shape, seed):
    x, gamma, beta, dout = _case(shape, seed)
    c = shape[1]
    mean, var = np.linspace(-1, 1, c), np.linspace(0.5, 2, c)
    out, cache = batchnorm_forward(x, gamma, beta, running_mean=mean.copy(), running_var=var.copy(), training=False)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    ref_out, ref_dx, ref_dgamma, ref_dbeta, rm, _ = _torch_reference(x, gamma, beta, dout, False, mean, var)
    for ours, ref in ((out, ref_out), (dx, ref_dx), (dgamma, ref_dgamma), (dbeta, ref_dbeta)):
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(rm.numpy(), mean)  # evaluation leaves the statistics alone


def test_spatial_statistics_are_per_channel_over_batch_and_positions():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 2, 4, 5)) * np.array([1.0, 10.0])[None, :, None, None] + 7
    out, _ = batchnorm_forward(x, np.ones(2), np.zeros(2))
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), x.var(axis=(0, 2, 3)) / (x.var(axis=(0, 2, 3)) + 1e-5))


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 3, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_backward_passes_the_gradient_check(shape, training):
    x, gamma, beta, dout = _case(shape, 3)
    stats = dict(running_mean=np.full(shape[1], 0.3), running_var=np.full(shape[1], 1.7))
    f = lambda x, gamma, beta: batchnorm_forward(x, gamma, beta, training=training,  # noqa: E731
                                                 **{k: v.copy() for k, v in stats.items()})[0]
    _, cache = batchnorm_forward(x, gamma, beta, training=training, **{k: v.copy() for k, v in stats.items()})
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    results = check_layer_gradients(f, {"x": x, "gamma": gamma, "beta": beta},
                                    {"x": dx, "gamma": dgamma, "beta": dbeta}, dout)
    assert all(results.values()), [str(r) for r in results.values()]


def test_a_wrong_backward_fails_the_gradient_check():
    """The check above can fail: dropping the mean's term from dx is caught."""
    x, gamma, beta, dout = _case((6, 2), 4)
    _, cache = batchnorm_forward(x, gamma, beta)
    wrong = dout * gamma * cache.inv_std  # as if the batch statistics were constants
    results = check_layer_gradients(lambda x: batchnorm_forward(x, gamma, beta)[0], {"x": x}, {"x": wrong}, dout)
    assert not results["x"].passed


def test_float32_stays_float32_and_integers_become_float64():
    out, _ = batchnorm_forward(np.array([[1, 2, 3], [2, 0, 1]], np.float32), np.ones(3), np.zeros(3))
    assert out.dtype == np.float32
    out, _ = batchnorm_forward(np.array([[1, 2], [3, 4]]), np.ones(2), np.zeros(2))
    assert out.dtype == np.float64


@pytest.mark.parametrize("call, error, match", [
    (lambda: batchnorm_forward(np.ones((4, 3, 2)), np.ones(3), np.zeros(3)), ValueError, "'x' must be a 2-D or 4-D"),
    (lambda: batchnorm_forward("x", np.ones(3), np.zeros(3)), TypeError, "'x'"),
    (lambda: batchnorm_forward(np.ones((4, 3)), np.ones(2), np.zeros(3)), ValueError, "'gamma' must have shape"),
    (lambda: batchnorm_forward(np.ones((4, 3)), np.ones(3), np.zeros(4)), ValueError, "'beta' must have shape"),
    (lambda: batchnorm_forward(np.ones((1, 3)), np.ones(3), np.zeros(3)), ValueError, "more than one value"),
    (lambda: batchnorm_forward(np.ones((4, 3)), np.ones(3), np.zeros(3), eps=-1.0), ValueError, "'eps'"),
    (lambda: batchnorm_forward(np.ones((4, 3)), np.ones(3), np.zeros(3), eps=0.0), ValueError, "constant"),
    (lambda: batchnorm_forward(np.ones((4, 3)), np.ones(3), np.zeros(3), momentum=1.5), ValueError, "'momentum'"),
    (lambda: batchnorm_forward(np.ones((4, 3)), np.ones(3), np.zeros(3), training="no"), TypeError, "'training'"),
    (lambda: batchnorm_forward(np.ones((4, 3)), np.ones(3), np.zeros(3), training=False), ValueError, "running_mean"),
    (lambda: batchnorm_forward(np.ones((4, 3)), np.ones(3), np.zeros(3), running_mean=np.zeros(3)), ValueError,
     "both"),
    (lambda: batchnorm_forward(np.ones((4, 3)), np.ones(3), np.zeros(3), running_mean=[0, 0, 0],
                               running_var=[1, 1, 1]), TypeError, "'running_mean' must be a float NumPy array"),
    (lambda: batchnorm_forward(np.ones((4, 3)), np.ones(3), np.zeros(3), running_mean=np.zeros(2),
                               running_var=np.ones(2)), ValueError, "'running_mean' must have shape"),
    (lambda: batchnorm_backward(np.ones((4, 3)), (1, 2, 3, 4)), TypeError, "'cache'"),
    (lambda: batchnorm_backward(np.ones((4, 2)), batchnorm_forward(np.eye(4, 3), np.ones(3), np.zeros(3))[1]),
     ValueError, "'dout' must have shape"),
])
def test_bad_input_is_refused_with_a_clear_message(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_the_cache_is_a_named_tuple_of_what_backward_needs():
    _, cache = batchnorm_forward(np.arange(6.0).reshape(3, 2), np.ones(2), np.zeros(2))
    assert isinstance(cache, BatchNormCache) and cache.training and cache.x_hat.shape == (3, 2)
