"""The modern LeNet-5 in NumPy, with backpropagation written out by hand.

The network is ``LeNet5("modern")`` from ``course_lib.models``, layer for layer: convolution
(im2col and one matrix product, as ``conv.conv2d_layer`` of lecture 3), max pooling (as
``pool.max_pool2d`` of lecture 4), ReLU, fully connected layers and softmax cross-entropy.

Every layer has the same two methods:

- ``forward(x) -> (out, cache)``: the output, and what the backward pass will need;
- ``backward(dout, cache) -> dx``: the gradient with respect to the layer's input, after
  storing the gradients of its own parameters in ``layer.grads``.

Backprop is then the chain rule, one layer at a time, from the loss back to the image: the
caches from the forward pass are consumed in reverse order. Parameter names match the torch
model's ``state_dict`` (``c1.weight``, ..., ``output.bias``), so :meth:`NumpyLeNet5.load_from_torch`
and :meth:`NumpyLeNet5.to_torch` copy weights across and the two can be checked against each
other.

Speed: the general layers of ``course_lib.conv`` and ``course_lib.pool`` handle any stride,
dilation, groups and window, and check every argument. The two layers here are written for this
network, which roughly halves the time of a training step: the convolution keeps its im2col
columns for the backward pass instead of building them twice, and skips the gradient of the
image, which nothing uses; 2×2 pooling with stride 2 is the maximum of four strided views.
``tests/test_numpy_lenet.py`` checks both against the general layers.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from course_lib._checks import check_bool, check_finite_number, check_int, to_numeric_array
from course_lib.pool import max_pool2d, max_pool2d_backward

__all__ = ["NumpyLeNet5", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear",
           "softmax_cross_entropy"]


# --------------------------------------------------------------------------- layers

class Conv2d:
    """Convolution layer with stride 1: (N, C, H, W) -> (N, F, OH, OW), ``OH = H + 2p - k + 1``.

    im2col puts every k×k window of every channel in a column, so that the layer is one matrix
    product: ``out = W.reshape(F, C*k*k) @ cols + b``. Backward, with ``d = dout`` as (F, N*OH*OW):
    ``dW = d @ cols.T``, ``db = d.sum(1)`` and ``dcols = W.T @ d``, which col2im adds back into
    the windows they came from (windows overlap, so values add up).

    >>> layer = Conv2d(np.ones((1, 1, 2, 2)), np.zeros(1))   # sums each 2×2 window
    >>> layer.forward(np.arange(9.0).reshape(1, 1, 3, 3))[0][0, 0]
    array([[ 8., 12.],
           [20., 24.]])
    """

    def __init__(self, weight: np.ndarray, bias: np.ndarray, padding: int = 0) -> None:
        self.params = {"weight": weight, "bias": bias}
        self.grads: dict[str, np.ndarray] = {}
        self.padding = padding

    def forward(self, x: np.ndarray):
        weight, bias = self.params["weight"], self.params["bias"]
        (F, _, k, _), p = weight.shape, self.padding
        n, (oh, ow) = len(x), (x.shape[2] + 2 * p - k + 1, x.shape[3] + 2 * p - k + 1)
        padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
        # A (N, C, OH, OW, k, k) view of the windows, copied once into (C*k*k, N*OH*OW) columns.
        windows = sliding_window_view(padded, (k, k), axis=(2, 3))
        cols = windows.transpose(1, 4, 5, 0, 2, 3).reshape(-1, n * oh * ow)
        out = (weight.reshape(F, -1) @ cols).reshape(F, n, oh, ow).transpose(1, 0, 2, 3)
        return out + bias[:, None, None], (cols, x.shape)

    def backward(self, dout: np.ndarray, cache, input_grad: bool = True) -> np.ndarray | None:
        """``dx`` (``None`` with ``input_grad=False``: for the image, nobody needs it)."""
        cols, (n, c, h, w) = cache
        weight, p = self.params["weight"], self.padding
        F, k = weight.shape[0], weight.shape[2]
        d = dout.transpose(1, 0, 2, 3).reshape(F, -1)
        self.grads = {"weight": (d @ cols.T).reshape(weight.shape), "bias": d.sum(1)}
        if not input_grad:
            return None
        oh, ow = dout.shape[2:]
        dcols = (weight.reshape(F, -1).T @ d).reshape(c, k, k, n, oh, ow)
        dpadded = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=dcols.dtype)
        for i in range(k):  # col2im: one add per kernel offset
            for j in range(k):
                dpadded[:, :, i:i + oh, j:j + ow] += dcols[:, i, j].transpose(1, 0, 2, 3)
        return dpadded[:, :, p:p + h, p:p + w]


class ReLU:
    """``out = max(x, 0)``; its gradient passes where ``x > 0`` and is 0 elsewhere."""

    params: dict = {}
    grads: dict = {}

    def forward(self, x: np.ndarray):
        mask = x > 0
        return x * mask, mask

    def backward(self, dout: np.ndarray, cache) -> np.ndarray:
        return dout * cache


class MaxPool2d:
    """Max pooling with a square window and stride equal to it (2×2 halves H and W).

    For 2×2 windows on even sizes, the maximum of the four strided views ``x[..., i::2, j::2]``;
    backward sends each ``dout`` to its window's first maximum (in row order), as torch does.
    Other windows and sizes use the general ``pool.max_pool2d`` and its backward.

    >>> pool = MaxPool2d(2)
    >>> out, cache = pool.forward(np.array([[[[1.0, 3.0], [4.0, 4.0]]]]))
    >>> out[0, 0], pool.backward(np.ones((1, 1, 1, 1)), cache)[0, 0]   # a tie: the first 4 gets it
    (array([[4.]]), array([[0., 0.],
           [1., 0.]]))
    """

    params: dict = {}
    grads: dict = {}
    OFFSETS = ((0, 0), (0, 1), (1, 0), (1, 1))

    def __init__(self, kernel_size: int = 2) -> None:
        self.kernel_size = kernel_size

    def _quick(self, x: np.ndarray) -> bool:
        return self.kernel_size == 2 and x.shape[-2] % 2 == 0 and x.shape[-1] % 2 == 0

    def forward(self, x: np.ndarray):
        if not self._quick(x):
            return max_pool2d(x, self.kernel_size), (x, None)
        a, b, c, d = (x[..., i::2, j::2] for i, j in self.OFFSETS)
        out = np.maximum(np.maximum(a, b), np.maximum(c, d))
        return out, (x, out)

    def backward(self, dout: np.ndarray, cache) -> np.ndarray:
        x, out = cache
        if out is None:
            return max_pool2d_backward(dout, x, self.kernel_size)
        dx = np.zeros_like(x, dtype=dout.dtype)
        taken = np.zeros(out.shape, dtype=bool)
        for i, j in self.OFFSETS:
            first = x[..., i::2, j::2] == out
            first &= ~taken
            np.multiply(dout, first, out=dx[..., i::2, j::2])
            taken |= first
        return dx


class Flatten:
    """(N, C, H, W) -> (N, C*H*W), in torch's (C, H, W) order; backward reshapes back."""

    params: dict = {}
    grads: dict = {}

    def forward(self, x: np.ndarray):
        return x.reshape(len(x), -1), x.shape

    def backward(self, dout: np.ndarray, cache) -> np.ndarray:
        return dout.reshape(cache)


class Linear:
    """Fully connected: ``out = x @ W.T + b`` with W of shape (out, in), as ``nn.Linear``.

    Backward: ``dx = dout @ W``, ``dW = dout.T @ x``, ``db = dout.sum(0)``.
    """

    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        self.params = {"weight": weight, "bias": bias}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray):
        return x @ self.params["weight"].T + self.params["bias"], x

    def backward(self, dout: np.ndarray, cache) -> np.ndarray:
        self.grads = {"weight": dout.T @ cache, "bias": dout.sum(0)}
        return dout @ self.params["weight"]


def _check_labels(labels, n: int, num_classes: int, func: str) -> np.ndarray:
    """``n`` integer class labels in [0, num_classes), as int64. Floats are refused, not truncated
    (1.7 is no class), and so is -1, which NumPy indexing would quietly read as the last class."""
    labels = to_numeric_array(labels, "labels", func, ndim=1, what="vector of class labels")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{func}: argument 'labels' must hold integers (class numbers), got dtype "
                        f"{labels.dtype}. If they are whole numbers, use labels.astype(int).")
    if len(labels) != n or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"{func}: argument 'labels' must be {n} integers in [0, {num_classes}), "
                         f"got {len(labels)} values in [{labels.min()}, {labels.max()}].")
    return labels.astype(np.int64)


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(logits) against integer labels, and its gradient.

    ``loss = mean_n( -log softmax(z_n)[y_n] )``; ``dloss/dz = (softmax(z) - onehot(y)) / N``.
    Subtracting each row's maximum first changes nothing mathematically and avoids overflow.
    """
    func = "softmax_cross_entropy"
    logits = to_numeric_array(logits, "logits", func, ndim=2, what="(N, classes) array of scores")
    labels = _check_labels(labels, len(logits), logits.shape[1], func)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(labels)
    loss = -log_probs[np.arange(n), labels].mean()
    dlogits = np.exp(log_probs)
    dlogits[np.arange(n), labels] -= 1
    return float(loss), dlogits / n


# --------------------------------------------------------------------------- the network

class NumpyLeNet5:
    """Modern LeNet-5 (61,706 params) in NumPy, trained by SGD with momentum and weight decay.

    Input (N, 1, 28, 28) float, output (N, 10) logits. Weights and biases start as torch's
    layers do, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (seeded by ``seed``), so the NumPy and
    the torch network start from the same kind of point and train alike.

    >>> net = NumpyLeNet5(seed=0)
    >>> net.forward(np.zeros((2, 1, 28, 28))).shape, net.num_parameters()
    ((2, 10), 61706)
    """

    input_shape = (1, 28, 28)

    def __init__(self, num_classes: int = 10, dtype=np.float32, seed: int = 0) -> None:
        self.num_classes = check_int(num_classes, "num_classes", "NumpyLeNet5", 1)
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f" or self.dtype.itemsize < 4:
            raise TypeError(f"NumpyLeNet5: argument 'dtype' must be np.float32 or np.float64, got {self.dtype}.")
        rng = np.random.default_rng(check_int(seed, "seed", "NumpyLeNet5", 0))

        def init(*shape):
            # A larger, He-style start (sqrt(6/fan_in)) trains visibly worse here in 2-3 epochs.
            bound = 1.0 / np.sqrt(np.prod(shape[1:]))
            weight = rng.uniform(-bound, bound, shape).astype(self.dtype)
            return weight, rng.uniform(-bound, bound, shape[0]).astype(self.dtype)

        self.layers = {
            "c1": Conv2d(*init(6, 1, 5, 5), padding=2), "relu1": ReLU(), "s2": MaxPool2d(2),
            "c3": Conv2d(*init(16, 6, 5, 5)), "relu3": ReLU(), "s4": MaxPool2d(2),
            "flatten": Flatten(),
            "f5": Linear(*init(120, 400)), "relu5": ReLU(),
            "f6": Linear(*init(84, 120)), "relu6": ReLU(),
            "output": Linear(*init(num_classes, 84)),
        }
        self.velocity = {name: np.zeros_like(p) for name, p in self.parameters().items()}
        self._caches: list = []

    # ---- parameters, named as in the torch state_dict
    def parameters(self) -> dict[str, np.ndarray]:
        return {f"{layer}.{key}": p for layer, module in self.layers.items()
                for key, p in module.params.items()}

    def gradients(self) -> dict[str, np.ndarray]:
        return {f"{layer}.{key}": g for layer, module in self.layers.items()
                for key, g in module.grads.items()}

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters().values())

    # ---- forward and backward
    def forward(self, x, keep_caches: bool = False) -> np.ndarray:
        """Logits (N, num_classes) of a batch (N, 1, 28, 28)."""
        keep_caches = check_bool(keep_caches, "keep_caches", "NumpyLeNet5.forward")
        x = to_numeric_array(x, "x", "NumpyLeNet5.forward", ndim=4, what="(N, 1, 28, 28) batch")
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"NumpyLeNet5.forward: argument 'x' must have shape (N, 1, 28, 28), "
                             f"got {x.shape}. MNIST digits are 28×28 with one channel.")
        out = x.astype(self.dtype, copy=False)
        self._caches = []
        for layer in self.layers.values():
            out, cache = layer.forward(out)
            if keep_caches:
                self._caches.append(cache)
        return out

    def backward(self, dlogits: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Backpropagate ``dloss/dlogits`` through every layer (after ``forward(..., keep_caches=True)``);
        fills each layer's ``grads`` and returns ``dloss/dx`` (``None`` with ``input_grad=False``,
        which training uses: the gradient of the image costs time and changes no weight)."""
        if len(self._caches) != len(self.layers):
            raise RuntimeError("NumpyLeNet5.backward: call forward(x, keep_caches=True) first.")
        first, *rest = self.layers.values()
        grad = dlogits
        for layer, cache in zip(reversed(rest), reversed(self._caches[1:])):
            grad = layer.backward(grad, cache)
        grad = first.backward(grad, self._caches[0], input_grad=input_grad)
        self._caches = []
        return grad

    def loss_and_gradients(self, x, labels) -> tuple[float, dict[str, np.ndarray]]:
        """Mean cross-entropy on a batch and the gradient of every parameter."""
        logits = self.forward(x, keep_caches=True)
        labels = _check_labels(labels, len(logits), self.num_classes, "NumpyLeNet5.loss_and_gradients")
        loss, dlogits = softmax_cross_entropy(logits, labels)
        self.backward(dlogits, input_grad=False)
        return loss, self.gradients()

    def sgd_step(self, lr: float, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        """One SGD update, the same rule as ``torch.optim.SGD``:
        ``v = momentum * v + (g + weight_decay * w);  w = w - lr * v`` (in place). The three
        hyperparameters must be finite numbers (``lr=nan`` would make every weight NaN)."""
        func = "NumpyLeNet5.sgd_step"
        lr = check_finite_number(lr, "lr", func, strict=True)
        momentum = check_finite_number(momentum, "momentum", func)
        weight_decay = check_finite_number(weight_decay, "weight_decay", func)
        params, grads = self.parameters(), self.gradients()
        for name, w in params.items():
            v = self.velocity[name]
            v *= momentum
            v += grads[name] + weight_decay * w
            w -= lr * v

    def train_step(self, x, labels, lr: float, momentum: float = 0.9, weight_decay: float = 0.0) -> float:
        """Forward, backward and one SGD update on a batch; returns the batch loss."""
        func = "NumpyLeNet5.train_step"
        lr = check_finite_number(lr, "lr", func, strict=True)  # before the work, not after it
        momentum = check_finite_number(momentum, "momentum", func)
        weight_decay = check_finite_number(weight_decay, "weight_decay", func)
        loss, _ = self.loss_and_gradients(x, labels)
        self.sgd_step(lr, momentum, weight_decay)
        return loss

    def predict(self, x, batch_size: int = 1000) -> np.ndarray:
        """Predicted class of each image (N,)."""
        batch_size = check_int(batch_size, "batch_size", "NumpyLeNet5.predict", 1)
        return np.concatenate([self.forward(x[i:i + batch_size]).argmax(1)
                               for i in range(0, len(x), batch_size)])

    def accuracy(self, x, labels, batch_size: int = 1000) -> float:
        labels = _check_labels(labels, len(x), self.num_classes, "NumpyLeNet5.accuracy")
        return float((self.predict(x, batch_size) == labels).mean())

    # ---- torch interop
    def load_from_torch(self, model) -> "NumpyLeNet5":
        """Copy the weights of a ``models.LeNet5("modern")`` into this network (momentum reset)."""
        state = model.state_dict()
        mine = self.parameters()
        if set(state) != set(mine) or any(tuple(state[k].shape) != mine[k].shape for k in mine):
            raise ValueError("NumpyLeNet5.load_from_torch: expected a LeNet5('modern') with "
                             f"{self.num_classes} classes; its state_dict keys or shapes differ.")
        for name, w in mine.items():
            w[...] = state[name].detach().cpu().numpy().astype(self.dtype)
        self.velocity = {name: np.zeros_like(p) for name, p in mine.items()}
        return self

    def to_torch(self):
        """A new ``models.LeNet5("modern")`` (float32, or float64 if this net is) with these weights."""
        import torch

        from .models import LeNet5

        model = LeNet5("modern", num_classes=self.num_classes)
        if self.dtype == np.float64:
            model = model.double()
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in self.parameters().items()})
        return model
