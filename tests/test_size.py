"""Tests for course_lib.size: the published tables, from_torch against torch, and bad input.

References: the lecture's LeNet table, LeCun et al. 1989 and 1998, Krizhevsky et al. 2012,
Simonyan & Zisserman (VGG-16), and torch itself (parameter counts, shapes, and multiply-adds
counted by convolving all-ones inputs with all-ones kernels).
"""
from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st
from torch import nn
from torch.nn import functional as F

from course_lib import size as S
from course_lib.size import (account, act, adaptive_pool, conv, dropout, fc, flatten, from_torch, lrn, memory,
                             pool, training_operations)

HAVE_MODELS = importlib.util.find_spec("course_lib.models") is not None


# --------------------------------------------------------------------------- independent counts

def ones_count(model: nn.Sequential, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """(connections, multiply-adds) of a Sequential, counted by torch rather than by formula.

    A conv's multiply-adds are the sum of its output when an all-ones input, padded with ones
    (padded positions are links too), meets all-ones kernels; pooling links are the window sums
    of the same input; a bias adds one link per output unit.
    """
    x = torch.zeros((1, *input_shape))
    connections = madds = 0
    for m in model:
        ones = torch.ones_like(x, dtype=torch.float64)
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            pad = [p for p in reversed(m.padding) for _ in (0, 1)]
            conv_nd = F.conv1d if isinstance(m, nn.Conv1d) else F.conv2d
            out = conv_nd(F.pad(ones, pad, value=1.0), torch.ones_like(m.weight, dtype=torch.float64), None,
                          m.stride, 0, m.dilation, m.groups)
            links = int(out.sum())
            madds += links
            connections += links + (out.numel() if m.bias is not None else 0)
        elif isinstance(m, nn.Linear):
            out = F.linear(ones.flatten(1), torch.ones_like(m.weight, dtype=torch.float64))
            madds += int(out.sum())
            connections += int(out.sum()) + (out.numel() if m.bias is not None else 0)
        elif isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)):
            pool_nd = F.avg_pool1d if isinstance(m, (nn.MaxPool1d, nn.AvgPool1d)) else F.avg_pool2d
            k = m.kernel_size if isinstance(m.kernel_size, tuple) else (m.kernel_size,) * (x.ndim - 2)
            s = m.stride if isinstance(m.stride, tuple) else (m.stride,) * (x.ndim - 2)
            p = m.padding if isinstance(m.padding, tuple) else (m.padding,) * (x.ndim - 2)
            padded = F.pad(ones, [q for q in reversed(p) for _ in (0, 1)], value=1.0)
            window_means = pool_nd(padded, k, s, 0)
            connections += round(float(window_means.sum()) * math.prod(k))
        x = m(x)
    return connections, madds


def weighted_rows(table: S.SizeTable) -> list[tuple]:
    """The rows that have something to count, without names or kinds (those differ by design)."""
    return [(r.output_shape, r.units, r.params, r.connections) for r in table.rows if r.params or r.connections]


# --------------------------------------------------------------------------- the lecture's LeNet

LECTURE = [("C1", 4_704, 117_600, 150), ("S2", 1_176, 4_704, 0), ("C3", 1_600, 240_000, 2_400),
           ("S4", 400, 1_600, 0), ("F5", 120, 48_000, 48_000), ("F6", 84, 10_080, 10_080),
           ("output", 10, 840, 840)]


@pytest.mark.parametrize("name, units, connections, weights", LECTURE)
def test_lenet5_lecture_row(name, units, connections, weights):
    row = S.lenet5_lecture()[name]
    assert (row.units, row.connections, row.weights, row.biases) == (units, connections, weights, 0)


def test_lenet5_lecture_has_exactly_the_lecture_rows():
    assert [r.name for r in S.lenet5_lecture()] == [name for name, *_ in LECTURE]


def test_lecture_formulas():
    w, h, i, j, k = 6, 5, 3, 4, 3
    c = account([conv(i, j, k, padding=1, bias=False)], (i, h, w)).rows[0]
    assert (c.units, c.weights, c.connections) == (w * h * j, k**2 * i * j, w * h * k**2 * i * j)
    f = account([fc(w * h * i, w * h * j, bias=False)], (i, h, w)).rows[0]
    assert f.weights == f.connections == w**2 * h**2 * i * j


def test_rule_of_thumb_lenet():
    t = S.lenet5_lecture()
    assert t.share("weights", ["fc"]) > 0.9
    assert t.share("units", ["conv"]) > 0.5 and t.share("connections", ["conv"]) > 0.8


def test_rule_of_thumb_alexnet():
    t = S.alexnet2012()
    assert t.share("params", ["fc"]) > 0.9
    assert t.share("units", ["conv"]) > 0.8 and t.share("connections", ["conv"]) > 0.9


# --------------------------------------------------------------------------- LeNet-5, 1998

PAPER_1998 = [("C1", 156, 122_304), ("S2", 12, 5_880), ("C3", 1_516, 151_600), ("S4", 32, 2_000),
              ("C5", 48_120, 48_120), ("F6", 10_164, 10_164), ("output", 840, 840)]


@pytest.mark.parametrize("name, params, connections", PAPER_1998)
def test_lenet5_1998_row(name, params, connections):
    row = S.lenet5_1998()[name]
    assert (row.params, row.connections) == (params, connections)


def test_lenet5_1998_totals():
    t = S.lenet5_1998()
    assert t.total("params") == 60_840
    assert t.total("params") - t["output"].params == 60_000  # the paper's "60,000 trainable parameters"
    assert t.total("connections") == 340_908
    assert t.total("units") == 8_094


def test_lenet5_c3_table_is_the_papers():
    table = S.LENET5_C3_TABLE
    assert table.shape == (16, 6) and table.sum() == 60
    assert table.sum(axis=1).tolist() == [3] * 6 + [4] * 9 + [6]
    # LeCun et al. 1998, table I, the column of S2 map 0 (which C3 maps see it):
    assert np.flatnonzero(table[:, 0]).tolist() == [0, 4, 5, 6, 9, 10, 11, 12, 14, 15]


def test_web_table_numbers_are_wrong():
    # the widely copied table: CONV2 = 416 and FC3 = 48,001 parameters
    c3_full = account([conv(6, 16, 5)], (6, 14, 14)).rows[0]
    f = account([fc(400, 120)], (400,)).rows[0]
    assert c3_full.params == 2_416 != 416
    assert S.lenet5_1998()["C3"].params == 1_516 != 416
    assert f.params == 48_120 != 48_001


def test_lenet5_modern():
    t = S.lenet5_modern()
    assert t.total("params") == 61_706
    assert t.input_shape == (1, 28, 28) and t["F5"].weights == 400 * 120


# --------------------------------------------------------------------------- LeNet, 1989

def test_lenet1989_totals():
    t = S.lenet1989()
    assert t.total("units") + t.input_units == 1_256
    assert t.total("connections") == 64_660
    assert t.total("params") == 9_760


def test_lenet1989_structure():
    t = S.lenet1989()
    assert t["H1"].output_shape == (12, 8, 8) and t["H1"].biases == 768  # untied: a bias per unit
    assert t["H2"].output_shape == (12, 4, 4) and t["H2"].biases == 192
    assert t["H2"].weights == 12 * 8 * 25  # each H2 map sees 8 of the 12 H1 maps


# --------------------------------------------------------------------------- AlexNet, VGG

def test_alexnet2012_params():
    assert S.alexnet2012().total("params") == 60_965_224


def test_alexnet2012_units():
    t = S.alexnet2012()
    neurons = t.total("units", kinds=["conv", "fc"])
    assert 640_000 < neurons < 670_000  # "about 650k"; the slides say 658,000
    # the paper's figure-2 caption, layer by layer after conv1 (its 253,440 for conv1 is not 55·55·96)
    assert [t[n].units for n in ("conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")] == \
        [186_624, 64_896, 64_896, 43_264, 4_096, 4_096, 1_000]
    assert t["conv1"].units == 55 * 55 * 96


def test_alexnet2012_multiply_adds_about_724M():
    assert round(S.alexnet2012().total("multiply_adds"), -6) == 724_000_000


def test_alexnet_torchvision():
    t = S.alexnet_torchvision()
    assert t.total("params") == 61_100_840
    assert round(t.total("multiply_adds"), -6) == 714_000_000


def test_vgg16_params():
    assert S.vgg16().total("params") == 138_357_544


@given(st.integers(1, 512))
def test_vgg_point(c):
    point = S.three_3x3_vs_one_7x7(c, size=9)
    assert point.stacked.total("weights") == 27 * c**2
    assert point.single.total("weights") == 49 * c**2
    assert point.receptive_field_stacked == point.receptive_field_single == 7
    assert "receptive field 7" in str(point)


def test_receptive_field_against_gradients():
    # independent: which input pixels does the centre output unit depend on?
    for layers, model in (([conv(1, 1, 3, padding=1)] * 3, nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1)] * 3)),
                          ([conv(1, 1, 3), pool(2), conv(1, 1, 3)],
                           nn.Sequential(nn.Conv2d(1, 1, 3), nn.AvgPool2d(2), nn.Conv2d(1, 1, 3)))):
        torch.manual_seed(0)
        x = torch.randn(1, 1, 21, 21, requires_grad=True)
        y = model(x)
        y[0, 0, y.shape[2] // 2, y.shape[3] // 2].backward()
        rows = torch.nonzero(x.grad[0, 0].abs().sum(1)).flatten()
        assert S.receptive_field(layers) == int(rows.max() - rows.min() + 1)


# --------------------------------------------------------------------------- the comparison

def test_comparison_counts():
    c = S.lenet_alexnet_comparison()
    assert c.columns == ("LeNet (1989)", "LeNet (1998)", "AlexNet (2012)")
    assert [c.value("categories", n) for n in c.columns] == [10, 10, 1_000]
    assert [c.value("image size", n) for n in c.columns] == ["16×16", "28×28", "256×256×3"]
    assert [c.value("training examples", n) for n in c.columns] == [7_291, 60_000, 1_200_000]
    assert c.value("units, input included", "LeNet (1989)") == 1_256
    assert c.value("units", "LeNet (1998)") == 8_094
    assert [c.value("parameters", n) for n in c.columns] == [9_760, 60_840, 60_965_224]
    assert c.value("connections", "LeNet (1989)") == 64_660
    assert c.value("connections", "LeNet (1998)") == 340_908
    assert [c.value("epochs assumed", n) for n in c.columns] == [23, 20, 90]
    ops = c.value("total operations (3 per connection)", "LeNet (1989)")
    assert ops == 3 * 64_660 * 7_291 * 23


def test_comparison_rendering_shows_slides_and_notes():
    text = S.lenet_alexnet_comparison().to_markdown()
    for figure in ("8,084", "8,094", "652 million", "724,406,816", "344,000", "48,001", "2,416", "48,120"):
        assert figure in text
    assert text.splitlines()[0].startswith("| | LeNet (1989)")


def test_slides_operations_fit_one_op_per_connection_for_lenet():
    # the reconstruction the notes give: LeNet rows with 1 op, AlexNet with 3
    assert round(training_operations(65_000, 7_291, 23, 1), -9) == 11_000_000_000
    assert round(training_operations(344_000, 60_000, 20, 1), -9) == 413_000_000_000
    assert round(training_operations(652_000_000, 1_200_000, 90), -17) == 2 * 10**17


def test_training_operations_default_is_three_per_connection():
    assert training_operations(10, 100, 2) == 6_000


# --------------------------------------------------------------------------- memory

def test_memory_counts_input_and_units():
    t = S.lenet5_lecture()
    m = memory(t, batch_size=64, dtype=torch.float32)
    assert m.activations == (1_024 + 8_094) * 64 * 4
    assert m.parameters == 61_470 * 4 and m.total == m.activations + m.parameters


@pytest.mark.parametrize("dtype, size", [(torch.float16, 2), (torch.float64, 8), (np.float32, 4), ("float64", 8),
                                         (1, 1)])
def test_memory_dtypes(dtype, size):
    assert memory(S.lenet5_lecture(), dtype=dtype).parameters == 61_470 * size


# --------------------------------------------------------------------------- rendering, plot

def test_text_and_markdown():
    t = S.lenet5_lecture()
    text, md = str(t), t.to_markdown()
    assert "422,824" in text and "61,470" in text and "C3" in text
    assert md.splitlines()[2].startswith("| layer | kind |") and "| C1 | conv | 6×28×28 | 4,704 |" in md
    assert t._repr_markdown_() == md


def test_plot_returns_figure_with_three_measures():
    from matplotlib.figure import Figure

    fig = S.alexnet2012().plot()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.containers) == 3
    assert "FC layers: 96% of params" in ax.get_title()
    heights = [[bar.get_height() for bar in c] for c in ax.containers]
    assert all(abs(sum(h) - 100) < 1e-6 for h in heights)


# --------------------------------------------------------------------------- from_torch

@st.composite
def small_nets(draw):
    """A random small conv net as (layer specs, the same net in torch, input shape)."""
    dims = draw(st.sampled_from([1, 2]))
    channels = draw(st.integers(1, 4))
    shape = (channels, *(draw(st.integers(5, 12)) for _ in range(dims)))
    specs, modules = [], []
    conv_nd, max_nd, avg_nd = ((nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d) if dims == 1
                               else (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d))
    current = shape
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "conv", "pool", "act"]))
        c = current[0]
        if kind == "conv":
            groups = draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0]))
            out = groups * draw(st.integers(1, 3))
            k, s, p, d = (draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(0, 2)),
                          draw(st.integers(1, 2)))
            bias = draw(st.booleans())
            if any(n + 2 * p < d * (k - 1) + 1 for n in current[1:]):
                continue
            specs.append(conv(c, out, k, s, p, d, groups, bias))
            modules.append(conv_nd(c, out, k, s, p, d, groups, bias))
        elif kind == "pool":
            k = draw(st.integers(1, 3))
            s, p, mode = draw(st.integers(1, 3)), draw(st.integers(0, k // 2)), draw(st.sampled_from(["max", "avg"]))
            if any(n + 2 * p < k for n in current[1:]):
                continue
            specs.append(pool(k, s, p, mode=mode))
            modules.append((max_nd if mode == "max" else avg_nd)(k, s, p))
        else:
            specs.append(act())
            modules.append(nn.ReLU())
        with torch.no_grad():
            current = tuple(nn.Sequential(*modules)(torch.zeros(1, *shape)).shape[1:])
    out, bias = draw(st.integers(1, 5)), draw(st.booleans())
    specs += [flatten(), fc(math.prod(current), out, bias)]
    modules += [nn.Flatten(), nn.Linear(math.prod(current), out, bias)]
    return specs, nn.Sequential(*modules), shape


@given(small_nets())
def test_from_torch_params_equal_numel(net):
    _, model, shape = net
    assert from_torch(model, shape).total("params") == sum(p.numel() for p in model.parameters())


@given(small_nets())
def test_from_torch_connections_equal_ones_count(net):
    _, model, shape = net
    t = from_torch(model, shape)
    assert (t.total("connections"), t.total("multiply_adds")) == ones_count(model, shape)


@given(small_nets())
def test_account_equals_from_torch(net):
    specs, model, shape = net
    fields = ("kind", "output_shape", "units", "weights", "biases", "connections", "multiply_adds")
    ours = [tuple(getattr(r, f) for f in fields) for r in account(specs, shape)]
    theirs = [tuple(getattr(r, f) for f in fields) for r in from_torch(model, shape)]
    assert ours == theirs


def test_from_torch_shape_only_layers():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.LocalResponseNorm(5), nn.Dropout(),
                          nn.AdaptiveAvgPool2d((2, 2)), nn.Flatten(), nn.Linear(32, 4))
    t = from_torch(model, (3, 10, 10))
    assert [r.kind for r in t] == ["conv", "act", "lrn", "dropout", "pool", "flatten", "fc"]
    assert t[4].output_shape == (8, 2, 2) and t[4].connections == 8 * 8 * 8  # windows cover 8×8 once
    assert t.total("params") == sum(p.numel() for p in model.parameters())
    specs = [conv(3, 8, 3), act(), lrn(), dropout(), adaptive_pool(2), flatten(), fc(32, 4)]
    assert [(r.units, r.connections) for r in account(specs, (3, 10, 10))] == [(r.units, r.connections) for r in t]


def test_adaptive_pool_uneven_windows():
    t = from_torch(nn.AdaptiveMaxPool2d(3), (2, 7, 5))
    assert t[0].output_shape == (2, 3, 3)
    # independent: push each input pixel through on its own and see how many outputs it reaches
    one_hot = torch.eye(35, dtype=torch.float64).reshape(35, 1, 7, 5)
    links_per_channel = int((F.adaptive_avg_pool2d(one_hot, 3) != 0).sum())
    assert t[0].connections == 2 * links_per_channel == 2 * (3 + 3 + 3) * (2 + 3 + 2)


class TableConv(nn.Module):
    """A conv whose map-to-map connections follow a fixed table (kept as a mask buffer)."""

    def __init__(self, table: np.ndarray, k: int) -> None:
        super().__init__()
        self.register_buffer("mask", torch.as_tensor(table, dtype=torch.float32)[:, :, None, None])
        self.weight = nn.Parameter(torch.randn(*table.shape, k, k))
        self.bias = nn.Parameter(torch.zeros(table.shape[0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias)


def test_from_torch_probes_unknown_layers():
    layer = TableConv(S.LENET5_C3_TABLE, 5)
    t = from_torch(layer, (6, 14, 14))
    assert t[0].kind == "other" and t[0].units == 1_600
    assert t[0].connections == S.lenet5_1998()["C3"].connections == 151_600
    assert t[0].params == 16 * 6 * 25 + 16  # the mask hides weights, but they are still parameters


class Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 4)
        self.unused = nn.Linear(4, 2)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(self.layer(x)) * self.scale


def test_from_torch_shared_and_unused_parameters():
    model = Shared()
    t = from_torch(model, (4,))
    assert t.total("params") == sum(p.numel() for p in model.parameters()) == 20 + 10 + 1
    assert t.total("connections", kinds=["fc"]) == 2 * (16 + 4)  # called twice, stored once
    assert t.rows[-1].name == "(never called)" and t.rows[-1].params == 10


def test_from_torch_batchnorm_keeps_statistics():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    before = model[1].running_mean.clone()
    model.train()
    t = from_torch(model, (1, 6, 6))
    assert torch.equal(model[1].running_mean, before) and model.training
    assert t[1].params == 4 and t[1].connections == 2 * t[1].units  # one input link and one bias each


def torch_alexnet_torchvision() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(),
        nn.MaxPool2d(3, 2), nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(), nn.Conv2d(384, 256, 3, padding=1),
        nn.ReLU(), nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2), nn.AdaptiveAvgPool2d(6),
        nn.Flatten(), nn.Dropout(), nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 4096),
        nn.ReLU(), nn.Linear(4096, 1000))


def torch_vgg16() -> nn.Sequential:
    layers, c = [], 3
    for width, depth in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(depth):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU()]
            c = width
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(25088, 4096), nn.ReLU(), nn.Dropout(),
                         nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 1000))


def torch_alexnet2012() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, 4), nn.ReLU(), nn.LocalResponseNorm(5), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(), nn.LocalResponseNorm(5), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(), nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Dropout(), nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(),
        nn.Linear(4096, 1000))


def torch_lenet5_modern() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                         nn.ReLU(), nn.Linear(84, 10))


@pytest.mark.parametrize("build, preset, shape", [
    (torch_alexnet_torchvision, S.alexnet_torchvision, (3, 224, 224)),
    (torch_alexnet2012, S.alexnet2012, (3, 227, 227)),
    (torch_vgg16, S.vgg16, (3, 224, 224)),
    (torch_lenet5_modern, S.lenet5_modern, (1, 28, 28)),
])
def test_from_torch_matches_preset(build, preset, shape):
    with torch.device("meta"):  # shapes only: VGG-16 would otherwise take 550 MB
        model = build()
    t = from_torch(model, shape)
    assert t.total("params") == sum(p.numel() for p in model.parameters()) == preset().total("params")
    assert weighted_rows(t) == weighted_rows(preset())
    assert t.total("multiply_adds") == preset().total("multiply_adds")


def test_alexnet2012_connections_by_ones_count():
    model = torch_alexnet2012()[:15]  # the conv part, for real: the FC part is in*out by definition
    t = S.alexnet2012()
    conv_part = sum(r.connections for r in t.rows[:t.rows.index(t["flatten"])])
    madds = sum(r.multiply_adds for r in t.rows[:t.rows.index(t["flatten"])])
    assert (conv_part, madds) == ones_count(model, (3, 227, 227))


# --------------------------------------------------------------------------- course_lib.models

@pytest.fixture(scope="module")
def models():
    if not HAVE_MODELS:
        pytest.skip("course_lib.models does not exist yet")
    import course_lib.models as models
    return models


@pytest.mark.parametrize("make, preset", [
    (lambda m: m.LeNet5("classic"), S.lenet5_1998),
    (lambda m: m.LeNet5("modern"), S.lenet5_modern),
    (lambda m: m.AlexNet("2012"), S.alexnet2012),
])
def test_course_models_match_presets(models, make, preset):
    model = make(models)
    t = from_torch(model, model.input_shape)
    assert model.input_shape == preset().input_shape
    assert t.total("params") == sum(p.numel() for p in model.parameters()) == preset().total("params")
    assert weighted_rows(t) == weighted_rows(preset())


def test_course_c3_table_matches(models):
    assert np.array_equal(np.asarray(models.LENET5_C3_TABLE), S.LENET5_C3_TABLE)


# --------------------------------------------------------------------------- bad input

def test_negative_kernel_size():
    with pytest.raises(ValueError, match=r"conv: argument 'kernel_size' must be positive"):
        conv(1, 6, -5)


def test_negative_input_shape():
    with pytest.raises(ValueError, match=r"account: argument 'input_shape' must be positive, got -32"):
        account([conv(1, 6, 5)], (1, -32, 32))


def test_input_shape_not_a_sequence():
    with pytest.raises(TypeError, match=r"from_torch: argument 'input_shape'"):
        from_torch(nn.Linear(2, 2), "1x28x28")


def test_from_torch_wrong_input_shape():
    with pytest.raises(ValueError, match=r"from_torch: the model did not run on one input of argument 'input_shape'"):
        from_torch(nn.Sequential(nn.Conv2d(3, 4, 3)), (1, 28, 28))


def test_from_torch_needs_input_shape_without_attribute():
    with pytest.raises(TypeError, match=r"from_torch: argument 'input_shape' is needed"):
        from_torch(nn.Linear(3, 2))


def test_from_torch_uses_models_input_shape():
    model = torch_lenet5_modern()
    model.input_shape = (1, 28, 28)
    assert from_torch(model).input_shape == (1, 28, 28)


def test_kernel_larger_than_input():
    with pytest.raises(ValueError, match=r"account \(layer 1, 'conv2'\).*kernel.*larger than the padded input"):
        account([conv(1, 6, 5), conv(6, 16, 9)], (1, 12, 12))


def test_conv_without_spatial_axes():
    with pytest.raises(ValueError, match=r"expects an input with at least one spatial axis"):
        account([flatten(), conv(1, 2, 3)], (1, 1))


def test_pool_padding_more_than_half_the_kernel():
    with pytest.raises(ValueError, match=r"argument 'padding' must be at most half of 'kernel_size'"):
        account([pool(2, padding=2)], (1, 8, 8))


def test_pool_larger_than_input():
    with pytest.raises(ValueError, match=r"larger than the padded input"):
        account([pool(4)], (1, 3, 3))


def test_connection_table_wrong_shape():
    with pytest.raises(ValueError, match=r"conv: argument 'connection_table' must have shape \(16, 6\)"):
        conv(6, 16, 5, connection_table=S.LENET5_C3_TABLE.T)


def test_connection_table_not_boolean():
    with pytest.raises(TypeError, match=r"argument 'connection_table' must hold booleans"):
        conv(2, 2, 3, connection_table=[[1, 2], [0, 1]])


def test_connection_table_map_without_inputs():
    with pytest.raises(ValueError, match=r"output map\(s\) \[1\] no input map"):
        conv(2, 2, 3, connection_table=[[1, 1], [0, 0]])


def test_connection_table_with_groups():
    with pytest.raises(ValueError, match=r"either argument 'groups' or 'connection_table'"):
        conv(2, 2, 3, groups=2, connection_table=np.eye(2, dtype=bool))


def test_groups_must_divide_channels():
    with pytest.raises(ValueError, match=r"conv: argument 'groups' must divide in_channels = 3"):
        conv(3, 6, 3, groups=2)


def test_bad_bias():
    with pytest.raises(ValueError, match=r"conv: argument 'bias' must be one of"):
        conv(1, 1, 3, bias="shared")


def test_bad_pool_mode():
    with pytest.raises(ValueError, match=r"pool: argument 'mode'"):
        pool(2, mode="median")


def test_unknown_layer():
    with pytest.raises(TypeError, match=r"account: argument 'layers' item 1 must be a layer made by conv"):
        account([conv(1, 6, 5), nn.ReLU()], (1, 32, 32))


def test_channel_mismatch():
    with pytest.raises(ValueError, match=r"expects 3 input channels"):
        account([conv(3, 6, 5)], (1, 32, 32))


def test_fc_size_mismatch():
    with pytest.raises(ValueError, match=r"expects 400 input features, got an input of shape \(16, 4, 4\)"):
        account([fc(400, 10)], (16, 4, 4))


def test_from_torch_needs_a_module():
    with pytest.raises(TypeError, match=r"from_torch: argument 'model' must be a torch nn.Module"):
        from_torch(S.lenet5_lecture(), (1, 32, 32))


def test_total_unknown_field():
    with pytest.raises(ValueError, match=r"SizeTable.total: argument 'field'"):
        S.lenet5_lecture().total("neurons")


def test_memory_bad_dtype():
    with pytest.raises(TypeError, match=r"memory: argument 'dtype'"):
        memory(S.lenet5_lecture(), dtype=object())


def test_memory_bad_batch_size():
    with pytest.raises(ValueError, match=r"memory: argument 'batch_size' must be positive"):
        memory(S.lenet5_lecture(), batch_size=0)


def test_training_operations_negative():
    with pytest.raises(ValueError, match=r"training_operations: argument 'epochs' must be non-negative"):
        training_operations(100, 10, -1)


# --------------------------------------------------------------------------- strings are not bools

@pytest.mark.parametrize("make, argument", [
    (lambda v: S.pool(2, ceil_mode=v), "ceil_mode"),
    (lambda v: S.pool(2, trainable=v), "trainable"),
    (lambda v: S.fc(4, 2, bias=v), "bias"),
])
@pytest.mark.parametrize("value", ["no", "False", 1, None])
def test_strings_and_numbers_are_not_taken_as_bools(make, argument, value):
    """'no' used to act as True (bool('no') is True)."""
    with pytest.raises(TypeError, match=rf"argument '{argument}' must be True or False"):
        make(value)


def test_numpy_bools_are_bools():
    assert S.account([S.fc(4, 2, bias=np.bool_(False))], (4,)).rows[0].biases == 0
    assert S.pool(2, ceil_mode=np.True_).ceil_mode is True


@pytest.mark.parametrize("dtype", [str, bytes, object, np.void, "U3", None, True])
def test_memory_refuses_dtypes_without_a_size(dtype):
    """dtype=str used to give 0 bytes."""
    table = S.account([S.fc(4, 3)], (4,))
    with pytest.raises(TypeError, match=r"memory: argument 'dtype' must be a numeric"):
        S.memory(table, dtype=dtype)


def test_layer_errors_in_account_name_an_argument():
    with pytest.raises(ValueError, match=r"expects 1 input channels.*'in_channels'.*'input_shape'"):
        S.account([S.conv(1, 2, 3)], (2, 8, 8))
