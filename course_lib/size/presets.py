"""The published networks as :class:`~course_lib.size.SizeTable` presets, the lectures'
LeNet/LeNet/AlexNet comparison, and the VGG point (three 3×3 layers against one 7×7).

Import them from :mod:`course_lib.size`, which re-exports everything here. Sources:

* LeCun et al. 1989, "Backpropagation applied to handwritten zip code recognition",
  Neural Computation 1(4): 1,256 units, 64,660 connections, 9,760 free parameters; 23 passes
  over 7,291 training digits.
* LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to document
  recognition", Proc. IEEE 86(11), section II.B and table I: LeNet-5's per-layer parameters
  and connections; 20 passes over the 60,000 MNIST training digits.
* Krizhevsky, Sutskever & Hinton 2012, "ImageNet classification with deep convolutional
  neural networks", NIPS, section 3.5 and figure 2; about 90 passes over 1.2 million images.
* Simonyan & Zisserman 2015, "Very deep convolutional networks for large-scale image
  recognition", ICLR, configuration D (VGG-16), and its 3×3 argument (section 2.3).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from course_lib._checks import check_int
from course_lib.size.layers import (Conv, Pool, account, adaptive_pool, conv, dropout, fc, flatten, lrn, pool,
                                    rbf)
from course_lib.size.table import SizeTable, training_operations

__all__ = ["lenet5_lecture", "lenet5_1998", "lenet5_modern", "lenet1989", "alexnet2012",
           "alexnet_torchvision", "vgg16", "LENET5_C3_TABLE", "receptive_field", "StackVsSingle",
           "three_3x3_vs_one_7x7", "Comparison", "lenet_alexnet_comparison"]


def _lenet5_c3_table() -> np.ndarray:
    """LeCun et al. 1998, table I, as (out, in) = (16 C3 maps, 6 S2 maps): maps 0-5 see 3
    neighbouring S2 maps, 6-11 see 4 neighbouring ones, 12-14 see 4 non-neighbouring ones,
    and map 15 sees all six (60 map-to-map connections in all)."""
    table = np.zeros((16, 6), dtype=bool)
    for o in range(6):
        table[o, [(o + i) % 6 for i in range(3)]] = True
        table[6 + o, [(o + i) % 6 for i in range(4)]] = True
    for o, inputs in ((12, (0, 1, 3, 4)), (13, (1, 2, 4, 5)), (14, (0, 2, 3, 5))):
        table[o, list(inputs)] = True
    table[15] = True
    return table


LENET5_C3_TABLE: np.ndarray = _lenet5_c3_table()


def lenet5_lecture() -> SizeTable:
    """The lectures' simplified LeNet-5: no biases, C3 sees all of S2, plain 2×2 pooling.

    >>> t = lenet5_lecture()
    >>> [(r.name, r.units, r.connections, r.weights) for r in t.rows][:3]
    [('C1', 4704, 117600, 150), ('S2', 1176, 4704, 0), ('C3', 1600, 240000, 2400)]
    """
    return account([conv(1, 6, 5, bias=False, name="C1"), pool(2, mode="avg", name="S2"),
                    conv(6, 16, 5, bias=False, name="C3"), pool(2, mode="avg", name="S4"),
                    fc(400, 120, bias=False, name="F5"), fc(120, 84, bias=False, name="F6"),
                    fc(84, 10, bias=False, name="output")], (1, 32, 32), "LeNet-5 as in the lecture")


def lenet5_1998() -> SizeTable:
    """LeNet-5 as published (LeCun et al. 1998): biases, trainable subsampling (a coefficient
    and a bias per map), C3's partial connection table, C5 a 5×5 conv onto 1×1 maps, and a
    Euclidean RBF output whose 840 centres we count as parameters (60,840 in all; the paper's
    "60,000 trainable parameters" leaves them out, as it fixed them by hand).

    >>> t = lenet5_1998()
    >>> t.total("params"), t["C3"].params, t["C3"].connections
    (60840, 1516, 151600)
    """
    return account([conv(1, 6, 5, name="C1"), pool(2, mode="avg", trainable=True, name="S2"),
                    conv(6, 16, 5, connection_table=LENET5_C3_TABLE, name="C3"),
                    pool(2, mode="avg", trainable=True, name="S4"),
                    conv(16, 120, 5, name="C5"), flatten(name="flatten"), fc(120, 84, name="F6"),
                    rbf(84, 10, name="output")], (1, 32, 32), "LeNet-5 (LeCun et al. 1998)")


def lenet5_modern() -> SizeTable:
    """The ReLU/max-pool LeNet-5 of ``course_lib.models.LeNet5("modern")`` on 28×28 MNIST.

    >>> lenet5_modern().total("params")
    61706
    """
    return account([conv(1, 6, 5, padding=2, name="C1"), pool(2, name="S2"), conv(6, 16, 5, name="C3"),
                    pool(2, name="S4"), flatten(name="flatten"), fc(400, 120, name="F5"),
                    fc(120, 84, name="F6"), fc(84, 10, name="output")], (1, 28, 28),
                   "LeNet-5, modern (ReLU, max pooling, 28×28 input)")


def lenet1989() -> SizeTable:
    """LeCun et al. 1989's zip-code network on 16×16 digits.

    H1: 12 maps 8×8, 5×5 kernels at stride 2; H2: 12 maps 4×4, each seeing 8 of the 12 H1
    maps; both have shared weights but a bias per unit ("untied"). H3: 30 units, output: 10,
    fully connected. The paper does not say which 8 H1 maps each H2 map sees; we take 8
    neighbouring ones (cyclically), which gives the same counts as any other choice.

    >>> t = lenet1989()
    >>> t.total("units") + t.input_units, t.total("connections"), t.total("params")
    (1256, 64660, 9760)
    """
    eight_of_twelve = np.array([[(i - o) % 12 < 8 for i in range(12)] for o in range(12)])
    return account([conv(1, 12, 5, stride=2, padding=2, bias="untied", name="H1"),
                    conv(12, 12, 5, stride=2, padding=2, bias="untied", connection_table=eight_of_twelve,
                         name="H2"),
                    fc(192, 30, name="H3"), fc(30, 10, name="output")], (1, 16, 16),
                   "LeNet (LeCun et al. 1989)")


def alexnet2012() -> SizeTable:
    """Krizhevsky et al.'s two-tower AlexNet. ``groups=2`` where the towers do not talk
    (conv2, conv4, conv5). The paper says 224×224 input, but an 11×11 kernel at stride 4 gives
    its 55×55 conv1 maps only from 227×227 (or with padding); we use 227, without padding.

    >>> t = alexnet2012()
    >>> t.total("params"), t.total("units", kinds=["conv", "fc"]), t.total("multiply_adds")
    (60965224, 659272, 724406816)
    """
    return account([conv(3, 96, 11, stride=4, name="conv1"), lrn(name="norm1"), pool(3, 2, name="pool1"),
                    conv(96, 256, 5, padding=2, groups=2, name="conv2"), lrn(name="norm2"),
                    pool(3, 2, name="pool2"),
                    conv(256, 384, 3, padding=1, name="conv3"),
                    conv(384, 384, 3, padding=1, groups=2, name="conv4"),
                    conv(384, 256, 3, padding=1, groups=2, name="conv5"), pool(3, 2, name="pool5"),
                    flatten(name="flatten"), dropout(name="drop6"), fc(9216, 4096, name="fc6"),
                    dropout(name="drop7"), fc(4096, 4096, name="fc7"), fc(4096, 1000, name="fc8")],
                   (3, 227, 227), "AlexNet (Krizhevsky et al. 2012), two towers")


def alexnet_torchvision() -> SizeTable:
    """The single-tower 64-192-384-256-256 AlexNet of torchvision (after Krizhevsky 2014,
    "One weird trick for parallelizing convolutional neural networks"), 224×224 input.

    >>> t = alexnet_torchvision()
    >>> t.total("params"), t.total("multiply_adds")
    (61100840, 714188480)
    """
    return account([conv(3, 64, 11, stride=4, padding=2, name="conv1"), pool(3, 2, name="pool1"),
                    conv(64, 192, 5, padding=2, name="conv2"), pool(3, 2, name="pool2"),
                    conv(192, 384, 3, padding=1, name="conv3"), conv(384, 256, 3, padding=1, name="conv4"),
                    conv(256, 256, 3, padding=1, name="conv5"), pool(3, 2, name="pool5"),
                    adaptive_pool(6, name="avgpool"), flatten(name="flatten"), dropout(name="drop6"),
                    fc(9216, 4096, name="fc6"), dropout(name="drop7"), fc(4096, 4096, name="fc7"),
                    fc(4096, 1000, name="fc8")], (3, 224, 224), "AlexNet (torchvision, one tower)")


def vgg16() -> SizeTable:
    """VGG-16 (Simonyan & Zisserman, configuration D): thirteen 3×3 convs with padding 1 in
    five blocks, each ended by 2×2 max pooling, then FC 4096, 4096, 1000; 224×224 input.

    >>> vgg16().total("params")
    138357544
    """
    layers, channels = [], 3
    for block, (width, depth) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)), start=1):
        for i in range(1, depth + 1):
            layers.append(conv(channels, width, 3, padding=1, name=f"conv{block}_{i}"))
            channels = width
        layers.append(pool(2, name=f"pool{block}"))
    layers += [flatten(name="flatten"), fc(512 * 7 * 7, 4096, name="fc6"), dropout(name="drop6"),
               fc(4096, 4096, name="fc7"), dropout(name="drop7"), fc(4096, 1000, name="fc8")]
    return account(layers, (3, 224, 224), "VGG-16 (Simonyan & Zisserman)")


# --------------------------------------------------------------------------- the VGG point

def receptive_field(layers: Sequence[Any]) -> int:
    """How many input pixels (along one axis) one unit after ``layers`` sees.

    r = 1 + sum over layers of (d(k - 1)) × (product of the strides before it), for the conv
    and pooling layers (their first axis); shape-only and FC layers are skipped.

    >>> receptive_field([conv(8, 8, 3)] * 3), receptive_field([conv(8, 8, 7)])
    (7, 7)
    """
    field, jump = 1, 1
    for layer in layers:
        if isinstance(layer, (Conv, Pool)):
            first = lambda v: v[0] if isinstance(v, tuple) else v  # noqa: E731
            k, d = first(layer.kernel_size), first(layer.dilation)
            stride = first(layer.stride if layer.stride is not None else layer.kernel_size)
            field += d * (k - 1) * jump
            jump *= stride
    return field


@dataclass(frozen=True)
class StackVsSingle:
    """Three stacked 3×3 conv layers against one 7×7 layer, C channels in and out."""
    stacked: SizeTable
    single: SizeTable
    receptive_field_stacked: int
    receptive_field_single: int

    def __str__(self) -> str:
        s, o = self.stacked.total("weights"), self.single.total("weights")
        return (f"three 3x3 layers: {s:,} weights, receptive field {self.receptive_field_stacked}; "
                f"one 7x7 layer: {o:,} weights, receptive field {self.receptive_field_single} "
                f"({s / o:.0%} of the weights, and two more nonlinearities)")


def three_3x3_vs_one_7x7(channels: int, size: int = 56) -> StackVsSingle:
    """The VGG point: three 3×3 layers (C → C, padding 1) have 3·9·C² = 27C² weights, one 7×7
    layer has 49C², and both see 7×7 pixels of their input. ``size`` is the maps' side
    (only units and connections depend on it); biases are left out to show the formula.

    >>> p = three_3x3_vs_one_7x7(64)
    >>> p.stacked.total("weights"), 27 * 64**2, p.single.total("weights"), 49 * 64**2
    (110592, 110592, 200704, 200704)
    >>> p.receptive_field_stacked, p.receptive_field_single
    (7, 7)
    """
    c = check_int(channels, "channels", "three_3x3_vs_one_7x7", 1)
    size = check_int(size, "size", "three_3x3_vs_one_7x7", 1)
    stacked = [conv(c, c, 3, padding=1, bias=False, name=f"3x3 #{i}") for i in (1, 2, 3)]
    single = [conv(c, c, 7, padding=3, bias=False, name="7x7")]
    return StackVsSingle(account(stacked, (c, size, size), "three 3×3 layers"),
                         account(single, (c, size, size), "one 7×7 layer"),
                         receptive_field(stacked), receptive_field(single))


# --------------------------------------------------------------------------- the comparison

def _words(n: float) -> str:
    for value, word in ((1e15, "quadrillion"), (1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if n >= value:
            return f"{n / value:.3g} {word}"
    return f"{n:,}"


@dataclass(frozen=True)
class Comparison:
    """A table of quantities (rows) by network (columns), with the slides' figures beside ours."""
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[Any, ...], tuple[Any, ...]], ...]  # (quantity, ours, slides)
    notes: tuple[str, ...]

    def value(self, quantity: str, column: str) -> Any:
        """Our figure for ``quantity`` (a row label) and ``column`` (a network)."""
        for label, ours, _ in self.rows:
            if label == quantity:
                return ours[self.columns.index(column)]
        raise KeyError(f"Comparison: no row {quantity!r}; rows: {[r[0] for r in self.rows]}")

    def _cell(self, ours: Any, slides: Any) -> str:
        text = f"{ours:,}" if isinstance(ours, int) else str(ours)
        if isinstance(ours, int) and ours >= 10 ** 9:
            text += f" ({_words(ours)})"
        if slides is not None and slides != ours:
            text += f" [slides: {slides:,}]" if isinstance(slides, int) else f" [slides: {slides}]"
        return text

    def to_markdown(self) -> str:
        lines = ["| | " + " | ".join(self.columns) + " |", "|---" * (len(self.columns) + 1) + "|"]
        lines += [f"| {label} | " + " | ".join(map(self._cell, ours, slides)) + " |"
                  for label, ours, slides in self.rows]
        return "\n".join(lines + [""] + [f"{i}. {note}" for i, note in enumerate(self.notes, 1)])

    _repr_markdown_ = to_markdown

    def __str__(self) -> str:
        return self.to_markdown()


def lenet_alexnet_comparison(ops_per_connection: int = 3) -> Comparison:
    """The lectures' table of LeNet (1989), LeNet (1998) and AlexNet (2012), recounted with
    this module's conventions; where the slides' figure differs it is shown in brackets and
    the notes say why. Total operations = connections × examples × epochs × 3, with the epochs
    the papers report (23, 20 and about 90).

    >>> c = lenet_alexnet_comparison()
    >>> c.value("connections", "LeNet (1989)"), c.value("units", "LeNet (1998)")
    (64660, 8094)
    """
    nets = (("LeNet (1989)", lenet1989(), "digits", 10, "16×16", "16×16", 7_291, 23),
            ("LeNet (1998)", lenet5_1998(), "digits", 10, "28×28", "32×32", 60_000, 20),
            ("AlexNet (2012)", alexnet2012(), "objects", 1_000, "256×256×3", "227×227×3", 1_200_000, 90))
    col = lambda i: tuple(net[i] for net in nets)  # noqa: E731
    tables = col(1)
    connections = tuple(t.total("connections") for t in tables)
    alex = tables[2]
    pooled = alex.total("units", kinds=["pool"])
    rows = (("classification task", col(2), col(2)),
            ("categories", col(3), col(3)),
            ("image size", col(4), col(4)),
            ("network input", col(5), (None,) * 3),
            ("training examples", col(6), (7_291, 60_000, "1.2 million")),
            ("units", tuple(t.total("units") for t in tables), (None, 8_084, 658_000)),
            ("units, input included", tuple(t.total("units") + t.input_units for t in tables), (1_256, None, None)),
            ("parameters", tuple(t.total("params") for t in tables), (9_760, 60_000, "60 million")),
            ("connections", connections, (65_000, 344_000, "652 million")),
            ("epochs assumed", col(7), (None,) * 3),
            (f"total operations ({ops_per_connection} per connection)",
             tuple(training_operations(c, n, e, ops_per_connection) for c, n, e in zip(connections, col(6), col(7))),
             ("11 billion", "412 billion", "200 quadrillion (est.)")))
    notes = (
        "Units here are every layer's outputs (pooling layers included, as in the lecture's LeNet "
        "table) without the input image. The slides mix three conventions: 1,256 for 1989 includes "
        "the 256 input pixels (the paper's own count); 8,084 for 1998 leaves out the input and is "
        "10 short of the 8,094 units from C1 to the output, as if the 10 output units were dropped; "
        f"658,000 for AlexNet is close to the {alex.total('units', kinds=['conv', 'fc']):,} units of its "
        f"conv and FC layers alone, leaving out the {pooled:,} units of its three pooling layers.",
        "Parameters: the 1998 paper's 60,000 leaves out the 840 RBF centres of the output layer, "
        "which it fixed by hand; torch trains them, so we count 60,840. AlexNet: 60,965,224 exactly.",
        "Connections: 64,660 is the 1989 paper's exact figure (the slides round it). For LeNet-5 the "
        "paper's per-layer figures add up to 340,068 up to F6, and the RBF output adds 84 × 10 = 840, "
        "340,908 in all; we could not reproduce the slides' 344,000. AlexNet's 652 million is not a "
        f"consistent count of the 227-input network: it has {alex.total('multiply_adds'):,} multiply-adds, "
        f"and with one link per bias and the pooling links {alex.total('connections'):,} connections.",
        "Total operations: the slides' LeNet figures fit one operation per connection "
        "(65,000 × 7,291 × 23 ≈ 10.9 billion; 344,000 × 60,000 × 20 ≈ 413 billion), while AlexNet's "
        "fits three (3 × 652 million × 1.2 million × 90 ≈ 211 quadrillion). Here all three use "
        f"{ops_per_connection} per connection (1 forward, 2 backward), so they compare fairly.",
        "A LeNet-5 table widely copied on the web gives CONV2 416 parameters and FC3 48,001. Both "
        "are wrong: a 5×5 conv from 6 to 16 maps has 16 × 6 × 25 + 16 = 2,416 (with C3's partial "
        "table, 1,516), and 400 → 120 fully connected with a bias per unit has 48,000 + 120 = 48,120.",
    )
    return Comparison(col(0), rows, notes)
