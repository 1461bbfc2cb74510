"""course_lib.models.modern: shapes, parameter counts against their formulas, what the skips
and the bottlenecks do, and the receptive fields they claim (checked with visualize)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib import size
from course_lib.models.modern import (DeepNet, InceptionBlock, InceptionNet, KernelNet, ResidualBlock, TinyAlexNet,
                                      TransferNet)
from course_lib.visualize import receptive_field


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("model", [KernelNet("3x3"), KernelNet("7x7", width=8, in_channels=3, input_size=16),
                                   InceptionNet(True), InceptionNet(False, width=32), DeepNet(6), DeepNet(6, residual=True),
                                   DeepNet(4, batchnorm=True, residual=True, num_classes=5), TinyAlexNet(),
                                   TinyAlexNet(("conv3", "fc7")), TransferNet(num_classes=5)],
                         ids=lambda m: type(m).__name__)
def test_models_map_their_input_shape_to_logits(model):
    out = model(torch.zeros(3, *model.input_shape))
    assert out.shape[0] == 3 and out.shape[1] in (5, 10)
    assert size.from_torch(model).total("params") == n_params(model)


@pytest.mark.parametrize("c", [1, 4, 16])
def test_kernel_net_blocks_have_the_formula_params_and_the_same_field(c):
    stacked, single = KernelNet("3x3", width=c), KernelNet("7x7", width=c)
    block = lambda m: sum(p.numel() for n, p in m.named_parameters() if n.startswith("conv"))  # noqa: E731
    assert block(stacked) == 3 * (9 * c * c + c) == stacked.block_params()
    assert block(single) == 49 * c * c + c == single.block_params()
    assert n_params(stacked) - block(stacked) == n_params(single) - block(single)  # all else equal
    # The block sees 7×7 of the stem's output, so 9×9 of the image, in both nets.
    assert receptive_field(stacked, "conv3", (1, 14, 14)).size == receptive_field(single, "conv7x7", (1, 14, 14)).size == 9


def test_inception_block_params_match_the_formulas_with_and_without_bottleneck():
    C, c1, c3, c5, p, r3, r5 = 192, 64, 128, 32, 32, 96, 16   # GoogLeNet's inception (3a)
    with_b = InceptionBlock(C, c1, c3, c5, p, reduce3=r3, reduce5=r5)
    without = InceptionBlock(C, c1, c3, c5, p, reduce3=r3, reduce5=r5, bottleneck=False)
    assert n_params(with_b) == C * c1 + c1 + C * r3 + r3 + 9 * r3 * c3 + c3 + C * r5 + r5 + 25 * r5 * c5 + c5 + C * p + p
    assert n_params(without) == C * c1 + c1 + 9 * C * c3 + c3 + 25 * C * c5 + c5 + C * p + p
    x = torch.randn(2, C, 28, 28, generator=torch.Generator().manual_seed(0))
    assert with_b(x).shape == without(x).shape == (2, 256, 28, 28)


def test_the_bottleneck_divides_the_5x5_branch_multiply_adds_as_the_slides_say():
    # 28×28×192 -> 32 maps by 5×5: 120 M multiply-adds; through 16 1×1 maps first: about 12.4 M.
    kw = dict(reduce3=96, reduce5=16)
    t_with = size.from_torch(InceptionBlock(192, 64, 128, 32, 32, **kw), (192, 28, 28))
    t_without = size.from_torch(InceptionBlock(192, 64, 128, 32, 32, bottleneck=False, **kw), (192, 28, 28))
    assert t_without["b5.conv5x5"].multiply_adds == 28 * 28 * 32 * 25 * 192 == 120_422_400
    assert t_with["b5.reduce"].multiply_adds + t_with["b5.conv5x5"].multiply_adds == 28 * 28 * (16 * 192 + 32 * 25 * 16)


def test_inception_branches_are_concatenated_in_order():
    block = InceptionBlock(3, 1, 2, 3, 4, reduce3=2, reduce5=2)
    x = torch.randn(1, 3, 5, 5, generator=torch.Generator().manual_seed(1))
    out = block(x)
    torch.testing.assert_close(out[:, :1], block.b1(x))
    torch.testing.assert_close(out[:, 6:], block.pool(x))


@pytest.mark.parametrize("batchnorm", [False, True])
def test_a_zero_initialised_residual_block_is_the_identity_on_relu_outputs(batchnorm):
    torch.manual_seed(0)
    block = ResidualBlock(4, batchnorm=batchnorm, zero_init=True)
    x = torch.relu(torch.randn(2, 4, 6, 6))
    torch.testing.assert_close(block(x), x)
    block = ResidualBlock(4, batchnorm=batchnorm)  # not zero-initialised: F(x) is not 0
    assert not torch.allclose(block(x), x)


def test_residual_and_plain_nets_have_the_same_parameters():
    torch.manual_seed(0)
    plain, res = DeepNet(8, 6), DeepNet(8, 6, residual=True)
    assert n_params(plain) == n_params(res) == (9 + 1) * 6 + 8 * (9 * 36 + 6) + 6 * 7 * 7 * 10 + 10
    assert n_params(DeepNet(8, 6, batchnorm=True)) == n_params(plain) + 9 * 2 * 6  # gamma, beta per BN


def test_the_skips_carry_the_signal_through_a_deep_net_the_plain_one_loses():
    """With torch's default initialisation the plain net's activations shrink layer after layer
    until what reaches the top no longer depends on the input; through the skips it still does."""
    x = torch.randn(16, 1, 14, 14, generator=torch.Generator().manual_seed(0))
    stds = {}
    for residual in (False, True):
        torch.manual_seed(0)
        net = DeepNet(20, 16, residual=residual)
        stds[residual] = net[:-3](x).std(0).mean().item()  # across examples, before the classifier
    assert stds[True] > 0.1 and stds[False] < 1e-6


def test_zero_initialised_residual_net_is_a_shallow_net_at_start():
    torch.manual_seed(0)
    net = DeepNet(6, 4, residual=True, zero_init=True)
    x = torch.randn(2, 1, 14, 14)
    stem = net[:3](x)
    after_blocks = net[:-3](x)
    torch.testing.assert_close(after_blocks, stem)  # stem, ReLU, pool: the blocks add nothing yet


def test_deep_net_field_grows_by_two_per_conv():
    net = DeepNet(6)
    assert receptive_field(net, "conv6", (1, 14, 14)).size == 4 + 2 * 2 * 6  # stem 3, pool +1, then 2 × 2 each


def test_tiny_alexnet_removes_the_named_layers_only():
    full, cut = TinyAlexNet(), TinyAlexNet(("conv3", "conv4", "fc6", "fc7"))
    names = lambda m: {n for n, _ in m.named_children()}  # noqa: E731
    assert names(full) - names(cut) == {"conv3", "relu3", "conv4", "relu4", "fc6", "relu6", "fc7", "relu7"}
    assert cut.fc8.in_features == 32 * 3 * 3
    assert n_params(full) - n_params(TinyAlexNet(("fc7",))) == 64 * 64 + 64


def test_transfer_net_new_head_and_frozen_features():
    torch.manual_seed(0)
    net = TransferNet(num_classes=5)
    before = {n: p.clone() for n, p in net.features.named_parameters()}
    net.new_head(3).freeze_features()
    assert net(torch.zeros(2, 1, 14, 14)).shape == (2, 3)
    loss = net(torch.randn(4, 1, 14, 14)).sum()
    loss.backward()
    assert all(p.grad is None for p in net.features.parameters())
    assert net.head.weight.grad is not None
    assert all(torch.equal(p, before[n]) for n, p in net.features.named_parameters())
    net.freeze_features(False)
    assert all(p.requires_grad for p in net.parameters())


@pytest.mark.parametrize("make, error, match", [
    (lambda: KernelNet("5x5"), ValueError, "'kind'"),
    (lambda: KernelNet(width=0), ValueError, "'width'"),
    (lambda: KernelNet(input_size=15), ValueError, "'input_size'"),
    (lambda: InceptionBlock(8, 4, 4, 4, 4, reduce3=0, reduce5=2), ValueError, "'reduce3'"),
    (lambda: InceptionNet(bottleneck="yes"), TypeError, "'bottleneck'"),
    (lambda: DeepNet(5, residual=True), ValueError, "'depth' must be even"),
    (lambda: DeepNet(4, zero_init=True), ValueError, "'zero_init'"),
    (lambda: DeepNet(4.0), TypeError, "'depth'"),
    (lambda: TinyAlexNet(("conv5",)), ValueError, "'remove'"),
    (lambda: TinyAlexNet("fc7"), ValueError, "'remove'"),
    (lambda: TransferNet(feature_dim=0), ValueError, "'feature_dim'"),
])
def test_bad_arguments_are_refused_by_name(make, error, match):
    with pytest.raises(error, match=match):
        make()
