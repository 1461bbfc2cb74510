"""course_lib.models: shapes, parameter counts against the papers, and each custom layer
against an independent torch computation."""
from __future__ import annotations

import importlib.util

import pytest
import torch
from torch.nn import functional as F

from course_lib.models import (LENET5_C3_TABLE, AlexNet, LeNet5, PartialConv2d, RBFOutput, Squash,
                               TrainableSubsampling)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# Published counts, each written as the per-layer formula (weights + biases).
LENET_MODERN = (6 * 25 + 6) + (16 * 6 * 25 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)
LENET_CLASSIC = 156 + 12 + 1516 + 32 + 48120 + 10164 + 840          # LeCun et al. 1998, section II.B
ALEXNET_2012 = ((11 * 11 * 3 * 96 + 96) + (5 * 5 * 48 * 256 + 256) + (3 * 3 * 256 * 384 + 384)
                + (3 * 3 * 192 * 384 + 384) + (3 * 3 * 192 * 256 + 256)
                + (9216 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000))
ALEXNET_SMALL = ((5 * 5 * 3 * 48 + 48) + (5 * 5 * 48 * 128 + 128) + (3 * 3 * 128 * 192 + 192)
                 + (3 * 3 * 192 * 192 + 192) + (3 * 3 * 192 * 128 + 128)
                 + (128 * 9 * 512 + 512) + (512 * 512 + 512) + (512 * 10 + 10))


@pytest.mark.parametrize("make, shape, count", [
    (lambda: LeNet5("modern"), (1, 28, 28), 61_706),
    (lambda: LeNet5("classic"), (1, 32, 32), 60_840),
    (lambda: AlexNet("small"), (3, 32, 32), 1_790_154),
    (lambda: AlexNet("small", input_size=64, lrn=True), (3, 64, 64), 1_790_154),
])
def test_shapes_and_counts(make, shape, count):
    model = make()
    assert model.input_shape == shape
    assert n_params(model) == count
    out = model(torch.randn(3, *shape))
    assert out.shape == (3, 10)
    assert torch.isfinite(out).all()


def test_counts_match_the_layer_formulas():
    assert (LENET_MODERN, LENET_CLASSIC, ALEXNET_2012, ALEXNET_SMALL) == (61_706, 60_840, 60_965_224, 1_790_154)


def test_alexnet_2012_shape_and_count():
    model = AlexNet("2012").eval()
    assert model.input_shape == (3, 227, 227)
    assert n_params(model) == 60_965_224
    with torch.no_grad():
        assert model(torch.randn(1, 3, 227, 227)).shape == (1, 1000)
    assert model.conv2.groups == model.conv4.groups == model.conv5.groups == 2
    assert model.conv3.groups == 1


def test_alexnet_paper_init():
    model = AlexNet("small", init="paper")
    assert torch.all(model.conv2.bias == 1) and torch.all(model.conv1.bias == 0)
    assert abs(float(model.fc6.weight.detach().std()) - 0.01) < 0.001


def test_alexnet_he_init():
    model = AlexNet("small")   # the default
    fan_in = 3 * 5 * 5
    assert abs(float(model.conv1.weight.detach().std()) - (2 / fan_in) ** 0.5) < 0.02
    assert torch.all(model.conv1.bias == 0)


def test_num_classes():
    assert LeNet5("classic", num_classes=7)(torch.randn(2, 1, 32, 32)).shape == (2, 7)
    assert AlexNet("small", num_classes=100)(torch.randn(2, 3, 32, 32)).shape == (2, 100)


def test_lenet_classic_layer_counts():
    m = LeNet5("classic")
    per_layer = {name: sum(p.numel() for p in mod.parameters()) for name, mod in m.named_children()}
    assert {k: v for k, v in per_layer.items() if v} == {
        "c1": 156, "s2": 12, "c3": 1516, "s4": 32, "c5": 48120, "f6": 10164, "output": 840}


def test_c3_table_is_the_papers():
    # Table I of LeCun et al. 1998, rows = C3 maps, as sets of S2 maps.
    expected = [{0, 1, 2}, {1, 2, 3}, {2, 3, 4}, {3, 4, 5}, {0, 4, 5}, {0, 1, 5},
                {0, 1, 2, 3}, {1, 2, 3, 4}, {2, 3, 4, 5}, {0, 3, 4, 5}, {0, 1, 4, 5}, {0, 1, 2, 5},
                {0, 1, 3, 4}, {1, 2, 4, 5}, {0, 2, 3, 5}, {0, 1, 2, 3, 4, 5}]
    assert [set(torch.nonzero(row).flatten().tolist()) for row in LENET5_C3_TABLE] == expected
    assert int(LENET5_C3_TABLE.sum()) == 60


def test_partial_conv_equals_per_map_convolutions():
    torch.manual_seed(0)
    layer = PartialConv2d(LENET5_C3_TABLE, 5)
    x = torch.randn(2, 6, 14, 14)
    out = layer(x)
    for o, row in enumerate(LENET5_C3_TABLE):
        inputs = torch.nonzero(row).flatten()
        w = layer.weight[o:o + 1, inputs]
        ref = F.conv2d(x[:, inputs], w, layer.bias[o:o + 1])
        torch.testing.assert_close(out[:, o:o + 1], ref)
    assert torch.all(layer.weight[~LENET5_C3_TABLE] == 0)


def test_partial_conv_trains_only_connected_weights():
    layer = PartialConv2d(LENET5_C3_TABLE, 5)
    layer(torch.randn(1, 6, 10, 10)).sum().backward()
    assert layer.packed_weight.grad.shape == (60 * 25,)
    assert torch.all(layer.packed_weight.grad != 0)


def test_partial_conv_bad_table():
    with pytest.raises(ValueError, match="connection_table"):
        PartialConv2d(torch.ones(16, 6), 5)


def test_trainable_subsampling_formula():
    layer = TrainableSubsampling(2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([0.5, -2.0]))
        layer.bias.copy_(torch.tensor([1.0, 0.25]))
    x = torch.arange(32.0).view(1, 2, 4, 4)
    block_sums = x.unfold(2, 2, 2).unfold(3, 2, 2).sum((-1, -2))
    expected = block_sums * torch.tensor([0.5, -2.0]).view(1, 2, 1, 1) + torch.tensor([1.0, 0.25]).view(1, 2, 1, 1)
    torch.testing.assert_close(layer(x), expected)


def test_squash_constants():
    s = Squash()
    torch.testing.assert_close(s(torch.tensor([1.0, -1.0])), torch.tensor([1.0, -1.0]), atol=1e-4, rtol=0)


def test_rbf_gives_negative_squared_distances():
    layer = RBFOutput(84, 10)
    x = torch.randn(5, 84)
    torch.testing.assert_close(layer(x), -torch.cdist(x, layer.centres) ** 2, atol=1e-3, rtol=1e-4)


def test_lrn_matches_the_papers_formula():
    # b_c = a_c / (k + alpha * sum_{|c'-c| <= n/2} a_c'^2)^beta with the paper's alpha = 1e-4.
    lrn = AlexNet("2012").norm1
    a = torch.randn(2, 12, 3, 3) * 30
    sq = F.pad(a ** 2, (0, 0, 0, 0, 2, 2))
    window = sum(sq[:, i:i + 12] for i in range(5))
    torch.testing.assert_close(lrn(a), a / (2 + 1e-4 * window) ** 0.75)


@pytest.mark.parametrize("kwargs, match", [
    (dict(variant="lenet"), "variant"),
    (dict(variant="modern", num_classes=0), "num_classes"),
])
def test_lenet_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LeNet5(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(variant="2013"), "variant"),
    (dict(variant="small", input_size=48), "input_size"),
    (dict(variant="small", dropout=1.5), "dropout"),
    (dict(variant="small", init="xavier"), "init"),
])
def test_alexnet_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AlexNet(**kwargs)


def test_num_classes_type_error():
    with pytest.raises(TypeError, match="num_classes"):
        LeNet5("modern", num_classes=2.5)


# ---- agreement with course_lib.size's presets

HAVE_SIZE = importlib.util.find_spec("course_lib.size") is not None


@pytest.mark.skipif(not HAVE_SIZE, reason="course_lib.size not written yet")
@pytest.mark.parametrize("make, preset", [
    (lambda: LeNet5("modern"), "lenet5_modern"),
    (lambda: LeNet5("classic"), "lenet5_1998"),
    (lambda: AlexNet("2012"), "alexnet2012"),
])
def test_from_torch_matches_presets(make, preset):
    from course_lib import size

    model = make().eval()
    table = size.from_torch(model, model.input_shape)
    reference = getattr(size, preset)()
    assert table.total("params") == n_params(model) == reference.total("params")
    assert table.total("connections") == reference.total("connections")
    assert table.total("units") == reference.total("units")
