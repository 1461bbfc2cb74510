"""course_lib.numpy_lenet: the hand-written backprop equals torch's autograd, in float64."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.nn import functional as F

from course_lib.conv import conv2d_layer, conv2d_layer_backward
from course_lib.models import LeNet5
from course_lib.numpy_lenet import Conv2d, MaxPool2d, NumpyLeNet5, softmax_cross_entropy
from course_lib.pool import max_pool2d, max_pool2d_backward


@pytest.fixture
def pair():
    """A torch LeNet5('modern') in float64 and a NumPy copy of it, and a small batch."""
    torch.manual_seed(0)
    model = LeNet5("modern").double()
    net = NumpyLeNet5(dtype=np.float64).load_from_torch(model)
    x = torch.randn(6, 1, 28, 28, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 4, 9])
    return model, net, x, y


def test_same_logits(pair):
    model, net, x, _ = pair
    np.testing.assert_allclose(net.forward(x.numpy()), model(x).detach().numpy(), rtol=1e-10, atol=1e-12)


def test_same_loss_and_gradients(pair):
    model, net, x, y = pair
    loss_t = F.cross_entropy(model(x), y)
    loss_t.backward()
    loss_n, grads = net.loss_and_gradients(x.numpy(), y.numpy())
    assert loss_n == pytest.approx(loss_t.item(), rel=1e-12)
    torch_grads = {name: p.grad.numpy() for name, p in model.named_parameters()}
    assert set(grads) == set(torch_grads)
    for name, g in torch_grads.items():
        np.testing.assert_allclose(grads[name], g, rtol=1e-8, atol=1e-12, err_msg=name)


def test_same_input_gradient(pair):
    model, net, x, y = pair
    x = x.clone().requires_grad_(True)
    F.cross_entropy(model(x), y).backward()
    logits = net.forward(x.detach().numpy(), keep_caches=True)
    _, dlogits = softmax_cross_entropy(logits, y.numpy())
    np.testing.assert_allclose(net.backward(dlogits), x.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_sgd_steps_match_torch(pair):
    model, net, x, y = pair
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        net.train_step(x.numpy(), y.numpy(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(net.parameters()[name], p.detach().numpy(), rtol=1e-8, atol=1e-12,
                                   err_msg=name)


def test_round_trip_through_torch():
    net = NumpyLeNet5(seed=3)
    back = NumpyLeNet5(seed=4).load_from_torch(net.to_torch())
    for name, w in net.parameters().items():
        np.testing.assert_array_equal(back.parameters()[name], w)
    assert net.num_parameters() == sum(p.numel() for p in LeNet5("modern").parameters())


def test_softmax_cross_entropy_against_torch():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 10)) * 50  # large logits: the max-shift must keep it finite
    y = np.array([3, 0, 9, 3])
    zt = torch.tensor(z, requires_grad=True)
    ref = F.cross_entropy(zt, torch.tensor(y))
    ref.backward()
    loss, grad = softmax_cross_entropy(z, y)
    assert loss == pytest.approx(ref.item())
    np.testing.assert_allclose(grad, zt.grad.numpy(), atol=1e-12)


def test_a_few_steps_learn_a_simple_task():
    # Class c is a bright bar at height 2c: 40 steps of SGD must learn it.
    rng = np.random.default_rng(0)
    y = np.arange(40) % 10
    x = rng.normal(scale=0.1, size=(40, 1, 28, 28)).astype(np.float32)
    for n, c in enumerate(y):
        x[n, 0, 2 + 2 * c:7 + 2 * c, 4:24] += 1.0
    net = NumpyLeNet5(seed=0)
    losses = [net.train_step(x, y, lr=0.02) for _ in range(40)]
    assert losses[-1] < 0.2 * losses[0]
    assert net.accuracy(x, y) > 0.9


def test_wrong_input_shape():
    with pytest.raises(ValueError, match="28"):
        NumpyLeNet5().forward(np.zeros((2, 1, 32, 32)))


def test_wrong_labels():
    with pytest.raises(ValueError, match="labels"):
        NumpyLeNet5().loss_and_gradients(np.zeros((2, 1, 28, 28)), np.array([0, 10]))


def test_load_from_the_wrong_model():
    with pytest.raises(ValueError, match="LeNet5"):
        NumpyLeNet5().load_from_torch(LeNet5("classic"))


def test_backward_before_forward():
    with pytest.raises(RuntimeError, match="forward"):
        NumpyLeNet5().backward(np.zeros((1, 10)))


# --- labels and hyperparameters: refused, not truncated or turned into NaN weights ----------------

def test_float_labels_are_refused_not_truncated():
    """1.7 used to be read as class 1."""
    with pytest.raises(TypeError, match=r"NumpyLeNet5.loss_and_gradients: argument 'labels' must hold integers"):
        NumpyLeNet5().train_step(np.zeros((2, 1, 28, 28)), np.array([1.7, 2.2]), lr=0.1)
    with pytest.raises(TypeError, match=r"NumpyLeNet5.accuracy: argument 'labels'"):
        NumpyLeNet5().accuracy(np.zeros((2, 1, 28, 28)), np.array([1.0, 2.0]))


@pytest.mark.parametrize("labels", [[-1, 3], [3, 10]])
def test_softmax_cross_entropy_refuses_labels_out_of_range(labels):
    """-1 used to be taken as the last class, by NumPy's negative indexing."""
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: argument 'labels' must be 2 integers in \[0, 10\)"):
        softmax_cross_entropy(np.zeros((2, 10)), np.array(labels))
    logits = np.random.default_rng(0).standard_normal((2, 10))
    good = np.array([0, 9])
    loss, grad = softmax_cross_entropy(logits, good)
    t = torch.tensor(logits, requires_grad=True)
    F.cross_entropy(t, torch.tensor(good)).backward()
    assert loss == pytest.approx(F.cross_entropy(torch.tensor(logits), torch.tensor(good)).item())
    np.testing.assert_allclose(grad, t.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("kwargs, error, argument", [
    (dict(lr=np.nan), ValueError, "lr"), (dict(lr=np.inf), ValueError, "lr"), (dict(lr=True), TypeError, "lr"),
    (dict(lr=0.1, momentum=np.nan), ValueError, "momentum"),
    (dict(lr=0.1, weight_decay=np.inf), ValueError, "weight_decay"),
])
def test_nonfinite_hyperparameters_are_refused_before_the_weights_change(kwargs, error, argument):
    net = NumpyLeNet5(seed=0)
    before = {k: v.copy() for k, v in net.parameters().items()}
    with pytest.raises(error, match=rf"NumpyLeNet5.train_step: argument '{argument}'"):
        net.train_step(np.zeros((2, 1, 28, 28)), np.array([1, 2]), **kwargs)
    assert all(np.array_equal(before[k], v) for k, v in net.parameters().items())


# --- the network's own layers equal the course's general ones (conv.conv2d_layer, pool.max_pool2d) --

@given(n=st.integers(1, 3), c=st.integers(1, 4), f=st.integers(1, 5), k=st.integers(1, 5),
       h=st.integers(5, 12), w=st.integers(5, 12), padding=st.integers(0, 2), seed=st.integers(0, 2**16))
def test_conv_layer_equals_conv2d_layer_and_its_backward(n, c, f, k, h, w, padding, seed):
    rng = np.random.default_rng(seed)
    x, weight, bias = rng.standard_normal((n, c, h, w)), rng.standard_normal((f, c, k, k)), rng.standard_normal(f)
    layer = Conv2d(weight, bias, padding=padding)
    out, cache = layer.forward(x)
    np.testing.assert_allclose(out, conv2d_layer(x, weight, bias, padding=padding), rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_layer_backward(dout, x, weight, padding=padding)
    np.testing.assert_allclose(layer.backward(dout, cache), dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["weight"], dw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["bias"], db, rtol=1e-12, atol=1e-12)
    assert layer.backward(dout, cache, input_grad=False) is None   # the image's gradient, skipped
    np.testing.assert_allclose(layer.grads["weight"], dw, rtol=1e-12, atol=1e-12)


def test_conv_layer_keeps_float32():
    rng = np.random.default_rng(0)
    layer = Conv2d(rng.standard_normal((6, 1, 5, 5)).astype(np.float32), np.zeros(6, np.float32), padding=2)
    out, cache = layer.forward(rng.standard_normal((2, 1, 28, 28)).astype(np.float32))
    dx = layer.backward(np.ones_like(out), cache)
    assert out.dtype == dx.dtype == layer.grads["weight"].dtype == layer.grads["bias"].dtype == np.float32


@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(3, 9), st.integers(3, 9)),
       kernel_size=st.sampled_from([2, 3]), levels=st.integers(2, 6), seed=st.integers(0, 2**16))
def test_max_pool_layer_equals_max_pool2d_ties_included(shape, kernel_size, levels, seed):
    """Few distinct values, so windows often hold several maxima: each gradient goes to the first."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, levels, shape).astype(np.float64)
    x[x == 0] = 0.0 * rng.choice([1, -1])   # ReLU outputs: many exact zeros
    layer = MaxPool2d(kernel_size)
    out, cache = layer.forward(x)
    np.testing.assert_array_equal(out, max_pool2d(x, kernel_size))
    dout = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(layer.backward(dout, cache), max_pool2d_backward(dout, x, kernel_size))
    t = torch.tensor(x, requires_grad=True)
    F.max_pool2d(t, kernel_size).backward(torch.tensor(dout))
    np.testing.assert_array_equal(layer.backward(dout, cache), t.grad.numpy())


def test_training_does_not_compute_the_image_gradient(pair, monkeypatch):
    model, net, x, y = pair
    seen = []
    backward = Conv2d.backward
    monkeypatch.setattr(Conv2d, "backward", lambda self, dout, cache, input_grad=True: (
        seen.append(input_grad), backward(self, dout, cache, input_grad))[1])
    net.loss_and_gradients(x.numpy(), y.numpy())
    assert seen == [True, False]   # c3 passes its gradient on; c1's would reach only the image
