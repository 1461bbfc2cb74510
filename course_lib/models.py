"""The course's torch models: LeNet-5 (classic 1998 and modern) and AlexNet (2012 and small).

Every model is an ``nn.Sequential`` with named layers, so ``print(model)`` reads like the
paper's table, ``course_lib.size.from_torch`` can account it layer by layer, and each model
carries ``input_shape = (C, H, W)``, the size of one input image.

| model | input | params |
|---|---|---|
| ``LeNet5("modern")`` | (1, 28, 28) | 61,706 |
| ``LeNet5("classic")`` | (1, 32, 32) | 60,840 |
| ``AlexNet("2012")`` | (3, 227, 227) | 60,965,224 |
| ``AlexNet("small", input_size=32 or 64)`` | (3, 32, 32) / (3, 64, 64) | 1,790,154 |

>>> sum(p.numel() for p in LeNet5("classic").parameters())
60840
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

from course_lib._checks import check_int

__all__ = ["LeNet5", "AlexNet", "Squash", "TrainableSubsampling", "PartialConv2d", "RBFOutput",
           "LENET5_C3_TABLE"]


# --------------------------------------------------------------------------- LeNet-5 pieces

class Squash(nn.Module):
    """LeCun's squashing function ``f(a) = 1.7159 * tanh(2/3 * a)``.

    The constants make ``f(1) = 1`` and ``f(-1) = -1`` and put the maximum of the second
    derivative near ±1, so targets of ±1 sit where the curve still bends (LeCun et al. 1998,
    appendix A).
    """

    amplitude = 1.7159
    slope = 2.0 / 3.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.amplitude * torch.tanh(self.slope * x)


class TrainableSubsampling(nn.Module):
    """LeNet-5's S-layers: per map, the sum of each 2×2 block times a trainable coefficient,
    plus a trainable bias: ``y[c] = coef[c] * sum_{2x2}(x[c]) + bias[c]``.

    Shapes: (N, C, H, W) -> (N, C, H/2, W/2). Two parameters per map (S2: 12, S4: 32).
    """

    def __init__(self, channels: int, kernel_size: int = 2) -> None:
        super().__init__()
        self.channels = check_int(channels, "channels", "TrainableSubsampling", 1)
        self.kernel_size = check_int(kernel_size, "kernel_size", "TrainableSubsampling", 1)
        self.stride = self.kernel_size
        self.weight = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.empty(channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # A sum of 4 inputs times 1/4 starts as plain averaging, in the squashing's linear part.
        nn.init.constant_(self.weight, 1.0 / self.kernel_size ** 2)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        block_sum = F.avg_pool2d(x, k, k) * (k * k)
        return block_sum * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


# LeCun et al. 1998, table I: which S2 maps (columns) each C3 map (rows) sees.
#   maps 0-5: 3 contiguous maps, 6-11: 4 contiguous, 12-14: 4 discontinuous, 15: all six.
def _c3_table() -> torch.Tensor:
    table = torch.zeros(16, 6, dtype=torch.bool)
    for i in range(6):
        table[i, [(i + j) % 6 for j in range(3)]] = True
        table[6 + i, [(i + j) % 6 for j in range(4)]] = True
    for row, inputs in zip((12, 13, 14), ([0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5])):
        table[row, inputs] = True
    table[15, :] = True
    return table


LENET5_C3_TABLE: torch.Tensor = _c3_table()


class PartialConv2d(nn.Module):
    """A convolution in which output map ``o`` sees only the input maps where
    ``connection_table[o, i]`` is true.

    Only the used weights are parameters: ``packed_weight`` holds them one after another
    (``table.sum() * kH * kW`` numbers) and is scattered into a zero (out, in, kH, kW) kernel
    on each call, so autograd trains exactly those weights and the parameter count is honest
    (C3: 60 connections × 25 + 16 biases = 1,516).
    """

    def __init__(self, connection_table: torch.Tensor, kernel_size: int, bias: bool = True) -> None:
        super().__init__()
        table = torch.as_tensor(connection_table)
        if table.ndim != 2 or table.dtype != torch.bool:
            raise ValueError("PartialConv2d: argument 'connection_table' must be a 2-D bool tensor "
                             f"(out_channels, in_channels), got {tuple(table.shape)} {table.dtype}.")
        k = check_int(kernel_size, "kernel_size", "PartialConv2d", 1)
        self.out_channels, self.in_channels = table.shape
        self.kernel_size = (k, k)
        self.stride, self.padding, self.dilation, self.groups = (1, 1), (0, 0), (1, 1), 1
        self.register_buffer("connection_table", table.clone(), persistent=False)
        # Flat positions, in the full (out, in, k, k) kernel, of the weights that exist.
        full_mask = table[:, :, None, None].expand(-1, -1, k, k)
        self.register_buffer("weight_index", full_mask.flatten().nonzero().flatten(), persistent=False)
        self.packed_weight = nn.Parameter(torch.empty(self.weight_index.numel()))
        self.bias = nn.Parameter(torch.empty(self.out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Same rule as nn.Conv2d's default, but with each map's real fan-in.
        fan_in = self.connection_table.sum(1, keepdim=True) * self.kernel_size[0] * self.kernel_size[1]
        bound = (1.0 / fan_in.float().sqrt()).expand(-1, self.in_channels)
        per_weight = bound[:, :, None, None].expand(-1, -1, *self.kernel_size).flatten()[self.weight_index]
        with torch.no_grad():
            self.packed_weight.copy_((torch.rand_like(self.packed_weight) * 2 - 1) * per_weight)
            if self.bias is not None:
                self.bias.copy_((torch.rand_like(self.bias) * 2 - 1) * bound[:, 0])

    @property
    def weight(self) -> torch.Tensor:
        """The full (out, in, kH, kW) kernel, zero where the table has no connection."""
        full = self.packed_weight.new_zeros(self.out_channels * self.in_channels
                                            * self.kernel_size[0] * self.kernel_size[1])
        full = full.index_put((self.weight_index,), self.packed_weight)
        return full.view(self.out_channels, self.in_channels, *self.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"connections={int(self.connection_table.sum())}")


class RBFOutput(nn.Module):
    """LeNet-5's output layer: one Euclidean radial basis function unit per class.

    ``y[n, j] = sum_i (x[n, i] - centres[j, i])**2`` is a distance: small means "this class".
    We return ``-y`` so that the usual cross-entropy works on it (the largest logit is the
    nearest centre, and softmax of ``-y`` is the paper's ``exp(-y)`` competition between
    classes). The paper used a related criterion with an extra "rubbish class" term, and fixed
    the centres by hand to stylised 7×12 bitmaps of ±1; we start them at random ±1 codes
    (seeded by torch's generator) and let them train — call ``centres.requires_grad_(False)``
    to keep them fixed as in the paper.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features = check_int(in_features, "in_features", "RBFOutput", 1)
        self.out_features = check_int(out_features, "out_features", "RBFOutput", 1)
        self.centres = nn.Parameter(torch.randint(0, 2, (out_features, in_features)).float() * 2 - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # |x - c|^2 expanded, so the batch never builds an (N, classes, features) tensor.
        sq = (x * x).sum(1, keepdim=True) - 2 * x @ self.centres.t() + (self.centres ** 2).sum(1)
        return -sq

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


# --------------------------------------------------------------------------- LeNet-5

class LeNet5(nn.Sequential):
    """LeNet-5 in two flavours.

    ``"modern"`` (input (1, 28, 28), 61,706 params): C1 conv 1→6 k5 pad 2, ReLU, 2×2 max pool,
    C3 conv 6→16 k5, ReLU, 2×2 max pool, flatten (400), F5 120, ReLU, F6 84, ReLU, output 10.

    ``"classic"`` (LeCun et al. 1998, input (1, 32, 32), 60,840 params): every layer up to F6
    is followed by the squashing ``1.7159 tanh(2/3 a)``; S2/S4 are trainable subsampling;
    C3 uses the paper's partial connection table (:data:`LENET5_C3_TABLE`); C5 is a 5×5
    convolution onto a 1×1 map; the output is an RBF layer returning negative squared
    distances as logits (see :class:`RBFOutput`). Those logits are large (84-dimensional
    distances), so train it gently: ``fit(..., lr=0.01, batch_size=64)`` gives about 78 % on a
    2,000-image MNIST test subset after two epochs on 20,000 images, where ``lr=0.03`` diverges.

    Shapes: (N, 1, 28, 28) or (N, 1, 32, 32) -> (N, num_classes) logits.

    >>> LeNet5().input_shape, LeNet5("classic").input_shape
    ((1, 28, 28), (1, 32, 32))
    """

    def __init__(self, variant: str = "modern", num_classes: int = 10) -> None:
        num_classes = check_int(num_classes, "num_classes", "LeNet5", 1)
        if variant == "modern":
            layers = [("c1", nn.Conv2d(1, 6, 5, padding=2)), ("relu1", nn.ReLU()),
                      ("s2", nn.MaxPool2d(2)),
                      ("c3", nn.Conv2d(6, 16, 5)), ("relu3", nn.ReLU()),
                      ("s4", nn.MaxPool2d(2)),
                      ("flatten", nn.Flatten()),
                      ("f5", nn.Linear(400, 120)), ("relu5", nn.ReLU()),
                      ("f6", nn.Linear(120, 84)), ("relu6", nn.ReLU()),
                      ("output", nn.Linear(84, num_classes))]
            input_shape = (1, 28, 28)
        elif variant == "classic":
            layers = [("c1", nn.Conv2d(1, 6, 5)), ("squash1", Squash()),
                      ("s2", TrainableSubsampling(6)), ("squash2", Squash()),
                      ("c3", PartialConv2d(LENET5_C3_TABLE, 5)), ("squash3", Squash()),
                      ("s4", TrainableSubsampling(16)), ("squash4", Squash()),
                      ("c5", nn.Conv2d(16, 120, 5)), ("squash5", Squash()),
                      ("flatten", nn.Flatten()),
                      ("f6", nn.Linear(120, 84)), ("squash6", Squash()),
                      ("output", RBFOutput(84, num_classes))]
            input_shape = (1, 32, 32)
        else:
            raise ValueError(f"LeNet5: argument 'variant' must be 'modern' or 'classic', got {variant!r}.")
        super().__init__(OrderedDict(layers))
        self.variant = variant
        self.num_classes = num_classes
        self.input_shape = input_shape


# --------------------------------------------------------------------------- AlexNet

def _lrn() -> nn.LocalResponseNorm:
    # The paper divides by (k + alpha * sum a^2)^beta; torch uses alpha / size in that sum,
    # so alpha = 5 * 1e-4 here is the paper's alpha = 1e-4.
    return nn.LocalResponseNorm(size=5, alpha=5 * 1e-4, beta=0.75, k=2.0)


class AlexNet(nn.Sequential):
    """AlexNet in two flavours.

    ``"2012"`` — Krizhevsky, Sutskever & Hinton's two-tower network, input (3, 227, 227),
    60,965,224 params. ``groups=2`` keeps the towers apart in conv2, conv4 and conv5; conv3
    and the FC layers see both towers. ReLU, LRN after conv1 and conv2, overlapping 3/2 max
    pooling, dropout 0.5 before fc6 and fc7.

    ``init``: ``"he"`` (default) draws each weight from N(0, 2 / fan_in) with zero biases
    (He et al. 2015), which keeps the signal's size through the 8 ReLU layers, so the net
    starts learning at once without batch norm; fc8 starts at N(0, 0.01²) so the first class
    scores are small (on 4,000 generated 32×32 images, batch 32, peak lr 0.005: 67 % after two
    epochs, against 33 % without that and chance with torch's default); ``"paper"`` is Krizhevsky et al.'s
    N(0, 0.01²) with biases 1 in conv2, conv4, conv5 and the hidden FC layers (0 elsewhere);
    ``"torch"`` keeps torch's default, which shrinks the signal layer after layer and leaves
    this deep net near chance for the first epochs.

    ``"small"`` — our design for (3, 32, 32) or (3, 64, 64) input (``input_size``). It keeps
    AlexNet's shape: five convs with the channel ratios 96:256:384:384:256 halved
    (48, 128, 192, 192, 128, a single tower), three overlapping 3/2 max pools, optional LRN,
    dropout, and two hidden FC layers of 512. conv1 is 5×5 with stride 1 (32 input) or 2
    (64 input), so both sizes reach 32×32 → 15 → 7 → 3 and have the same 1,790,154 params
    for 10 classes.

    Shapes: (N, 3, S, S) -> (N, num_classes) logits.
    """

    def __init__(self, variant: str = "2012", num_classes: int | None = None, *,
                 input_size: int = 32, lrn: bool | None = None, dropout: float = 0.5,
                 init: str = "he") -> None:
        if init not in ("he", "paper", "torch"):
            raise ValueError(f"AlexNet: argument 'init' must be 'he', 'paper' or 'torch', got {init!r}.")
        if not isinstance(dropout, float) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"AlexNet: argument 'dropout' must be a float in [0, 1), got {dropout!r}.")
        if variant == "2012":
            num_classes = check_int(1000 if num_classes is None else num_classes, "num_classes", "AlexNet", 1)
            layers = self._layers_2012(num_classes, True if lrn is None else lrn, dropout)
            input_shape = (3, 227, 227)
        elif variant == "small":
            num_classes = check_int(10 if num_classes is None else num_classes, "num_classes", "AlexNet", 1)
            if input_size not in (32, 64):
                raise ValueError(f"AlexNet: argument 'input_size' must be 32 or 64 for the 'small' "
                                 f"variant, got {input_size!r}.")
            layers = self._layers_small(num_classes, input_size, bool(lrn), dropout)
            input_shape = (3, input_size, input_size)
        else:
            raise ValueError(f"AlexNet: argument 'variant' must be '2012' or 'small', got {variant!r}.")
        super().__init__(OrderedDict(layers))
        self.variant = variant
        self.num_classes = num_classes
        self.input_shape = input_shape
        if init != "torch":
            self._initialise(init)

    @staticmethod
    def _layers_2012(num_classes: int, lrn: bool, dropout: float) -> list:
        return [("conv1", nn.Conv2d(3, 96, 11, stride=4)), ("relu1", nn.ReLU(inplace=True)),
                *([("norm1", _lrn())] if lrn else []), ("pool1", nn.MaxPool2d(3, 2)),
                ("conv2", nn.Conv2d(96, 256, 5, padding=2, groups=2)), ("relu2", nn.ReLU(inplace=True)),
                *([("norm2", _lrn())] if lrn else []), ("pool2", nn.MaxPool2d(3, 2)),
                ("conv3", nn.Conv2d(256, 384, 3, padding=1)), ("relu3", nn.ReLU(inplace=True)),
                ("conv4", nn.Conv2d(384, 384, 3, padding=1, groups=2)), ("relu4", nn.ReLU(inplace=True)),
                ("conv5", nn.Conv2d(384, 256, 3, padding=1, groups=2)), ("relu5", nn.ReLU(inplace=True)),
                ("pool5", nn.MaxPool2d(3, 2)),
                ("flatten", nn.Flatten()),
                ("drop6", nn.Dropout(dropout)), ("fc6", nn.Linear(256 * 6 * 6, 4096)),
                ("relu6", nn.ReLU(inplace=True)),
                ("drop7", nn.Dropout(dropout)), ("fc7", nn.Linear(4096, 4096)),
                ("relu7", nn.ReLU(inplace=True)),
                ("fc8", nn.Linear(4096, num_classes))]

    @staticmethod
    def _layers_small(num_classes: int, input_size: int, lrn: bool, dropout: float) -> list:
        c1, c2, c3, c4, c5 = 48, 128, 192, 192, 128
        return [("conv1", nn.Conv2d(3, c1, 5, stride=input_size // 32, padding=2)),
                ("relu1", nn.ReLU(inplace=True)),
                *([("norm1", _lrn())] if lrn else []), ("pool1", nn.MaxPool2d(3, 2)),
                ("conv2", nn.Conv2d(c1, c2, 5, padding=2)), ("relu2", nn.ReLU(inplace=True)),
                *([("norm2", _lrn())] if lrn else []), ("pool2", nn.MaxPool2d(3, 2)),
                ("conv3", nn.Conv2d(c2, c3, 3, padding=1)), ("relu3", nn.ReLU(inplace=True)),
                ("conv4", nn.Conv2d(c3, c4, 3, padding=1)), ("relu4", nn.ReLU(inplace=True)),
                ("conv5", nn.Conv2d(c4, c5, 3, padding=1)), ("relu5", nn.ReLU(inplace=True)),
                ("pool5", nn.MaxPool2d(3, 2)),
                ("flatten", nn.Flatten()),
                ("drop6", nn.Dropout(dropout)), ("fc6", nn.Linear(c5 * 3 * 3, 512)),
                ("relu6", nn.ReLU(inplace=True)),
                ("drop7", nn.Dropout(dropout)), ("fc7", nn.Linear(512, 512)),
                ("relu7", nn.ReLU(inplace=True)),
                ("fc8", nn.Linear(512, num_classes))]

    def _initialise(self, init: str) -> None:
        ones = {"conv2", "conv4", "conv5", "fc6", "fc7"}
        for name, module in self.named_children():
            if not isinstance(module, (nn.Conv2d, nn.Linear)):
                continue
            if init == "paper":
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.constant_(module.bias, 1.0 if name in ones else 0.0)
            elif name == "fc8":
                # Small class scores at the start: the first loss is log(classes), not a spike.
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)
            else:
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
