"""LeNet-5 in torch: the classic 1998 network (C3 table, squashing, RBF output) and a modern one."""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

from course_lib._checks import check_int

__all__ = ["LeNet5", "Squash", "TrainableSubsampling", "PartialConv2d", "RBFOutput", "LENET5_C3_TABLE"]


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


