"""Small torch models for the ideas that came after AlexNet, each sized to train on a CPU.

Every model is an ``nn.Sequential`` with named layers and an ``input_shape = (C, H, W)``, like
the course's LeNet-5 and AlexNet, so ``print(model)`` reads as a table and
``course_lib.size.from_torch`` counts it. Inputs are small grey images (14×14 digits by default).

* :class:`KernelNet` — VGG's point: three stacked 3×3 convs against one 7×7 conv, same field;
* :class:`InceptionBlock`, :class:`InceptionNet` — parallel 1×1 / 3×3 / 5×5 / pool branches,
  with or without the 1×1 "bottleneck" reductions in front of the 3×3 and 5×5 convs;
* :class:`ResidualBlock`, :class:`DeepNet` — a deep stack of 3×3 convs, plain or with skip
  connections, with or without batch norm;
* :class:`TinyAlexNet` — AlexNet's layer pattern in miniature, with layers that can be removed;
* :class:`TransferNet` — a feature extractor and a head that can be swapped and frozen.

They start from torch's default initialisation; :func:`he_init` redraws the weights as He et al.
did, which the deep ones need unless they have batch norm or skips (lecture 9, section 5).

>>> KernelNet("3x3").block_params(16), KernelNet("7x7").block_params(16)
(6960, 12560)
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from course_lib._checks import check_bool, check_choice, check_int

__all__ = ["he_init", "KernelNet", "InceptionBlock", "InceptionNet", "ResidualBlock", "DeepNet", "TinyAlexNet",
           "TransferNet"]


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


def he_init(model: nn.Module) -> nn.Module:
    """Draw every conv and linear weight from N(0, 2 / fan_in) and zero the biases (He et al.,
    2015): the size of the signal then survives each ReLU layer, as in lecture 7's AlexNet.
    Returns ``model``. Uses torch's global generator: seed it first."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return model


def _image_size(input_size: int, func: str, multiple: int) -> int:
    size = check_int(input_size, "input_size", func, multiple)
    if size % multiple:
        raise ValueError(f"{func}: argument 'input_size' must be a multiple of {multiple} (it is halved "
                         f"{multiple.bit_length() - 1} time(s) by pooling), got {size}.")
    return size


class _Named(nn.Sequential):
    """An ``nn.Sequential`` whose slices are plain ``nn.Sequential``s with the same layer names
    (``net[:-3]``: everything before the classifier), whatever the subclass's arguments."""

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return nn.Sequential(OrderedDict(list(self._modules.items())[idx]))
        return super().__getitem__(idx)


# --------------------------------------------------------------------------- VGG: 3×3 stacks

class KernelNet(_Named):
    """A stem, then either three 3×3 convs (``kind="3x3"``, VGG) or one 7×7 conv (``"7x7"``),
    then 2×2 max pooling and a linear classifier. Both blocks map ``width`` channels to
    ``width`` and see a 7×7 window of the stem's output; only the block differs.

    Block parameters, C = ``width``: three 3×3 layers ``3 (9C² + C)``, one 7×7 layer
    ``49C² + C``; the stack also has two more ReLUs.

    Shapes: (N, in_channels, S, S) -> (N, num_classes), S = ``input_size`` (even).
    """

    def __init__(self, kind: str = "3x3", width: int = 16, in_channels: int = 1, num_classes: int = 10,
                 input_size: int = 14) -> None:
        func = "KernelNet"
        self.kind = check_choice(kind, ("3x3", "7x7"), "kind", func)
        c = check_int(width, "width", func, 1)
        cin, classes = check_int(in_channels, "in_channels", func, 1), check_int(num_classes, "num_classes", func, 1)
        size = _image_size(input_size, func, 2)
        layers: list[tuple[str, nn.Module]] = [("stem", _conv(cin, c, 3)), ("relu0", nn.ReLU())]
        if kind == "3x3":
            for i in (1, 2, 3):
                layers += [(f"conv{i}", _conv(c, c, 3)), (f"relu{i}", nn.ReLU())]
        else:
            layers += [("conv7x7", _conv(c, c, 7)), ("relu1", nn.ReLU())]
        layers += [("pool", nn.MaxPool2d(2)), ("flatten", nn.Flatten()),
                   ("fc", nn.Linear(c * (size // 2) ** 2, classes))]
        super().__init__(OrderedDict(layers))
        self.width, self.input_shape = c, (cin, size, size)

    def block_params(self, width: int | None = None) -> int:
        """The formula for the block's parameters (weights and biases), for ``width`` channels."""
        c = self.width if width is None else check_int(width, "width", "KernelNet.block_params", 1)
        return 3 * (9 * c * c + c) if self.kind == "3x3" else 49 * c * c + c


# --------------------------------------------------------------------------- Inception

class InceptionBlock(nn.Module):
    """GoogLeNet's module: four branches side by side, concatenated along the channels.

    ``b1``: 1×1 conv to ``c1``; ``b3``: [1×1 to ``reduce3``] then 3×3 to ``c3``; ``b5``: [1×1 to
    ``reduce5``] then 5×5 to ``c5``; ``pool``: 3×3 max pooling (stride 1) then 1×1 to
    ``pool_proj``. Every conv is followed by a ReLU. ``bottleneck=False`` drops the two 1×1
    reductions in brackets (the 3×3 and 5×5 convs then read all ``in_channels``) and keeps the rest,
    so the output is the same size. Parameters (C = ``in_channels``, biases included)::

        with:    C c1 + c1 + (C r3 + r3 + 9 r3 c3 + c3) + (C r5 + r5 + 25 r5 c5 + c5) + C p + p
        without: C c1 + c1 + (9 C c3 + c3) + (25 C c5 + c5) + C p + p

    Shapes: (N, C, H, W) -> (N, c1 + c3 + c5 + pool_proj, H, W).

    >>> block = InceptionBlock(192, 64, 128, 32, 32, reduce3=96, reduce5=16)   # GoogLeNet's 3a
    >>> block(torch.zeros(1, 192, 28, 28)).shape
    torch.Size([1, 256, 28, 28])
    """

    def __init__(self, in_channels: int, c1: int, c3: int, c5: int, pool_proj: int, *, reduce3: int,
                 reduce5: int, bottleneck: bool = True) -> None:
        super().__init__()
        func = "InceptionBlock"
        cin, c1, c3, c5, pp, r3, r5 = (check_int(v, n, func, 1) for v, n in (
            (in_channels, "in_channels"), (c1, "c1"), (c3, "c3"), (c5, "c5"), (pool_proj, "pool_proj"),
            (reduce3, "reduce3"), (reduce5, "reduce5")))
        self.bottleneck = check_bool(bottleneck, "bottleneck", func)
        relu = nn.ReLU
        self.b1 = nn.Sequential(OrderedDict([("conv1x1", _conv(cin, c1, 1)), ("relu", relu())]))
        self.b3 = nn.Sequential(OrderedDict(
            ([("reduce", _conv(cin, r3, 1)), ("relu_reduce", relu())] if bottleneck else [])
            + [("conv3x3", _conv(r3 if bottleneck else cin, c3, 3)), ("relu", relu())]))
        self.b5 = nn.Sequential(OrderedDict(
            ([("reduce", _conv(cin, r5, 1)), ("relu_reduce", relu())] if bottleneck else [])
            + [("conv5x5", _conv(r5 if bottleneck else cin, c5, 5)), ("relu", relu())]))
        self.pool = nn.Sequential(OrderedDict([("maxpool", nn.MaxPool2d(3, stride=1, padding=1)),
                                               ("proj", _conv(cin, pp, 1)), ("relu", relu())]))
        self.in_channels, self.out_channels = cin, c1 + c3 + c5 + pp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.pool(x)], dim=1)


class InceptionNet(_Named):
    """A 3×3 stem of ``width`` channels, one :class:`InceptionBlock` (1×1: 16, 3×3: 32 after a
    reduction to 16, 5×5: 16 after a reduction to 8, pool projection: 16; 80 channels out), 2×2
    max pooling, 3×3 average pooling and a linear classifier.

    Shapes: (N, in_channels, S, S) -> (N, num_classes).
    """

    def __init__(self, bottleneck: bool = True, width: int = 64, in_channels: int = 1, num_classes: int = 10,
                 input_size: int = 14) -> None:
        func = "InceptionNet"
        c = check_int(width, "width", func, 1)
        cin, classes = check_int(in_channels, "in_channels", func, 1), check_int(num_classes, "num_classes", func, 1)
        size = _image_size(input_size, func, 2)
        block = InceptionBlock(c, 16, 32, 16, 16, reduce3=16, reduce5=8, bottleneck=check_bool(bottleneck, "bottleneck", func))
        super().__init__(OrderedDict([
            ("stem", _conv(cin, c, 3)), ("relu0", nn.ReLU()), ("inception", block), ("pool", nn.MaxPool2d(2)),
            ("avgpool", nn.AdaptiveAvgPool2d(3)), ("flatten", nn.Flatten()),
            ("fc", nn.Linear(block.out_channels * 9, classes))]))
        self.input_shape = (cin, size, size)


# --------------------------------------------------------------------------- ResNet

class ResidualBlock(nn.Module):
    """He et al.'s basic block: ``relu(x + F(x))`` with ``F = conv-[bn]-relu-conv-[bn]``,
    3×3 convs of ``channels`` to ``channels``.

    ``zero_init=True`` starts the last layer of F at zero (the BN scale if there is batch norm,
    else the conv's weight and bias), so F(x) = 0 and a block fed a ReLU output (x >= 0) is
    the identity at initialisation. Shapes: (N, C, H, W) -> (N, C, H, W).
    """

    def __init__(self, channels: int, batchnorm: bool = False, zero_init: bool = False) -> None:
        super().__init__()
        c = check_int(channels, "channels", "ResidualBlock", 1)
        bn = check_bool(batchnorm, "batchnorm", "ResidualBlock")
        layers = [("conv1", _conv(c, c, 3))] + ([("bn1", nn.BatchNorm2d(c))] if bn else []) + [("relu1", nn.ReLU())]
        layers += [("conv2", _conv(c, c, 3))] + ([("bn2", nn.BatchNorm2d(c))] if bn else [])
        self.residual = nn.Sequential(OrderedDict(layers))
        self.relu = nn.ReLU()
        if check_bool(zero_init, "zero_init", "ResidualBlock"):
            last = self.residual[-1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.residual(x))


class DeepNet(_Named):
    """A stem (3×3 conv, [BN], ReLU, 2×2 max pooling), ``depth`` 3×3 conv layers of ``width``
    channels and a linear classifier on all their outputs: ``depth + 2`` weight layers.

    ``residual=False``: each body layer is conv-[BN]-ReLU ("plain"). ``residual=True``: the same
    convs grouped in pairs into :class:`ResidualBlock`s, so ``depth`` must be even; the skips
    add no parameters. The initial weights are torch's defaults (whose signal shrinks at every
    plain ReLU layer), except ``zero_init`` (residual only, see :class:`ResidualBlock`).

    Shapes: (N, in_channels, S, S) -> (N, num_classes).
    """

    def __init__(self, depth: int = 20, width: int = 16, residual: bool = False, batchnorm: bool = False,
                 in_channels: int = 1, num_classes: int = 10, input_size: int = 14, zero_init: bool = False) -> None:
        func = "DeepNet"
        depth, c = check_int(depth, "depth", func, 1), check_int(width, "width", func, 1)
        cin, classes = check_int(in_channels, "in_channels", func, 1), check_int(num_classes, "num_classes", func, 1)
        residual, bn = check_bool(residual, "residual", func), check_bool(batchnorm, "batchnorm", func)
        zero_init = check_bool(zero_init, "zero_init", func)
        size = _image_size(input_size, func, 2)
        if residual and depth % 2:
            raise ValueError(f"{func}: argument 'depth' must be even with residual=True (a block holds two "
                             f"convs), got {depth}.")
        if zero_init and not residual:
            raise ValueError(f"{func}: argument 'zero_init' needs residual=True: a plain net started at zero "
                             "would pass nothing through.")
        norm = lambda: [("bn0", nn.BatchNorm2d(c))] if bn else []  # noqa: E731
        layers = [("stem", _conv(cin, c, 3)), *norm(), ("relu0", nn.ReLU()), ("pool", nn.MaxPool2d(2))]
        if residual:
            layers += [(f"block{i + 1}", ResidualBlock(c, bn, zero_init)) for i in range(depth // 2)]
        else:
            for i in range(1, depth + 1):
                layers += [(f"conv{i}", _conv(c, c, 3))] + ([(f"bn{i}", nn.BatchNorm2d(c))] if bn else []) \
                    + [(f"relu{i}", nn.ReLU())]
        layers += [("flatten", nn.Flatten()), ("fc", nn.Linear(c * (size // 2) ** 2, classes))]
        super().__init__(OrderedDict(layers))
        self.depth, self.residual, self.input_shape = depth, residual, (cin, size, size)


# --------------------------------------------------------------------------- depth ablations

class TinyAlexNet(_Named):
    """AlexNet's pattern in miniature, for removing layers as Zeiler & Fergus did (2013):
    conv1 (16) - pool - conv2 (32) - pool - conv3, conv4, conv5 (32 each) - fc6, fc7 (64 each)
    - fc8, all convs 3×3 with ReLU. ``remove`` names layers to leave out, any of ``conv3``,
    ``conv4``, ``fc6``, ``fc7``; the layers after them read what is left.

    Shapes: (N, in_channels, S, S) -> (N, num_classes), S a multiple of 4.

    >>> [name for name, _ in TinyAlexNet(remove=("conv3", "conv4", "fc6", "fc7")).named_children()
    ...  if name[:2] in ("co", "fc")]
    ['conv1', 'conv2', 'conv5', 'fc8']
    """

    REMOVABLE = ("conv3", "conv4", "fc6", "fc7")

    def __init__(self, remove: tuple[str, ...] = (), in_channels: int = 1, num_classes: int = 10,
                 input_size: int = 14) -> None:
        func = "TinyAlexNet"
        if isinstance(remove, str) or not all(name in self.REMOVABLE for name in remove):
            raise ValueError(f"{func}: argument 'remove' must be a tuple of names from {self.REMOVABLE}, "
                             f"got {remove!r}.")
        cin, classes = check_int(in_channels, "in_channels", func, 1), check_int(num_classes, "num_classes", func, 1)
        size = check_int(input_size, "input_size", func, 4)
        layers = [("conv1", _conv(cin, 16, 3)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
                  ("conv2", _conv(16, 32, 3)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2))]
        for name in ("conv3", "conv4", "conv5"):
            if name not in remove:
                layers += [(name, _conv(32, 32, 3)), (f"relu{name[-1]}", nn.ReLU())]
        layers.append(("flatten", nn.Flatten()))
        features = 32 * (size // 4) ** 2
        for name in ("fc6", "fc7"):
            if name not in remove:
                layers += [(name, nn.Linear(features, 64)), (f"relu{name[-1]}", nn.ReLU())]
                features = 64
        layers.append(("fc8", nn.Linear(features, classes)))
        super().__init__(OrderedDict(layers))
        self.removed, self.input_shape = tuple(remove), (cin, size, size)


# --------------------------------------------------------------------------- transfer

class TransferNet(_Named):
    """``features`` (conv 3×3 16 - pool - conv 3×3 32 - pool - fc 64, ReLUs) then ``head``
    (a linear layer to ``num_classes``), so the head can be replaced and the features frozen.

    Shapes: (N, in_channels, S, S) -> (N, num_classes); ``features``: -> (N, feature_dim).

    >>> net = TransferNet(num_classes=5)
    >>> net.new_head(5).freeze_features()
    >>> [n for n, p in net.named_parameters() if p.requires_grad]
    ['head.weight', 'head.bias']
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 14,
                 feature_dim: int = 64) -> None:
        func = "TransferNet"
        cin, classes = check_int(in_channels, "in_channels", func, 1), check_int(num_classes, "num_classes", func, 1)
        size, dim = check_int(input_size, "input_size", func, 4), check_int(feature_dim, "feature_dim", func, 1)
        features = nn.Sequential(OrderedDict([
            ("conv1", _conv(cin, 16, 3)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
            ("conv2", _conv(16, 32, 3)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
            ("flatten", nn.Flatten()), ("fc", nn.Linear(32 * (size // 4) ** 2, dim)), ("relu3", nn.ReLU())]))
        super().__init__(OrderedDict([("features", features), ("head", nn.Linear(dim, classes))]))
        self.feature_dim, self.input_shape = dim, (cin, size, size)

    def new_head(self, num_classes: int) -> "TransferNet":
        """Replace the head by a freshly initialised linear layer (draws from torch's generator)."""
        self.head = nn.Linear(self.feature_dim, check_int(num_classes, "num_classes", "TransferNet.new_head", 1))
        return self

    def freeze_features(self, frozen: bool = True) -> None:
        """Stop (or, with ``frozen=False``, restart) training the feature extractor."""
        for p in self.features.parameters():
            p.requires_grad_(not check_bool(frozen, "frozen", "TransferNet.freeze_features"))
