"""A five-conv colour network small enough to train on a CPU in seconds (lecture 08)."""
from __future__ import annotations

from collections import OrderedDict

from torch import nn

from course_lib._checks import check_int

__all__ = ["DeepColourNet"]

WIDTHS = (12, 24, 32, 32, 48)  # conv1 ... conv5


def _block(i: int, c_in: int, c_out: int, k: int) -> list:
    return [(f"conv{i}", nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False)),
            (f"bn{i}", nn.BatchNorm2d(c_out)), (f"relu{i}", nn.ReLU())]


class DeepColourNet(nn.Sequential):
    """AlexNet's layout shrunk for 32×32 colour images: five convolutions, three max pools, two
    fully connected layers; batch norm after each convolution (as in VGG with batch norm) so
    that a few epochs on a CPU are enough.

    ======  ===========================  ============  ====================
    layer   what                         output        receptive field (px)
    ======  ===========================  ============  ====================
    conv1   12 filters 5×5, pad 2        12 × 32 × 32   5
    pool1   2×2 max, stride 2            12 × 16 × 16   6
    conv2   24 filters 3×3, pad 1        24 × 16 × 16  10
    pool2   2×2 max, stride 2            24 × 8 × 8    12
    conv3   32 filters 3×3, pad 1        32 × 8 × 8    20
    conv4   32 filters 3×3, pad 1        32 × 8 × 8    28
    conv5   48 filters 3×3, pad 1        48 × 8 × 8    36
    pool5   2×2 max, stride 2            48 × 4 × 4    40
    fc6     768 -> 128, dropout before   128
    fc7     128 -> ``num_classes``       10
    ======  ===========================  ============  ====================

    Each conv is followed by ``bn<i>`` and ``relu<i>`` (not in place, so that hooks and the
    deconvnet of :mod:`course_lib.visualize.deep` can read every layer's output). The receptive
    field grows with depth, which lecture 08 shows with the top patches of each layer. He
    initialisation. Shapes: (N, 3, 32, 32) -> (N, num_classes) logits.

    >>> sum(p.numel() for p in DeepColourNet().parameters())
    133462
    """

    def __init__(self, num_classes: int = 10, dropout: float = 0.5) -> None:
        num_classes = check_int(num_classes, "num_classes", "DeepColourNet", 2)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"DeepColourNet: argument 'dropout' must be a number in [0, 1), got {dropout!r}.")
        c1, c2, c3, c4, c5 = WIDTHS
        super().__init__(OrderedDict([
            *_block(1, 3, c1, 5), ("pool1", nn.MaxPool2d(2)),
            *_block(2, c1, c2, 3), ("pool2", nn.MaxPool2d(2)),
            *_block(3, c2, c3, 3), *_block(4, c3, c4, 3), *_block(5, c4, c5, 3), ("pool5", nn.MaxPool2d(2)),
            ("flatten", nn.Flatten()),
            ("drop6", nn.Dropout(float(dropout))), ("fc6", nn.Linear(c5 * 4 * 4, 128)), ("relu6", nn.ReLU()),
            ("fc7", nn.Linear(128, num_classes)),
        ]))
        self.num_classes = num_classes
        self.input_shape = (3, 32, 32)
        for name, module in self.named_children():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                # He et al. (2015) keeps the signal's size through the ReLUs; a small last layer
                # makes the first loss log(classes).
                if name == "fc7":
                    nn.init.normal_(module.weight, 0.0, 0.01)
                else:
                    nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
