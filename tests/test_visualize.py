"""course_lib.visualize on small networks whose weights we chose, checked against independent
references: torch.nn.functional, torch.autograd.grad, published receptive fields, and
hand-computed expectations."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.nn import functional as F

from course_lib import figures
from course_lib import visualize as V
from course_lib.models import AlexNet, LeNet5

BOX = (2, 5)  # the informative 3×3 square of the spot images: rows and columns 2, 3, 4


def spot_net() -> nn.Sequential:
    """Two classes on 1×8×8 images: class 1's logit is the sum of the pixels in the BOX square,
    class 0's is 4.5. So a bright square there means class 1, and hiding it removes the evidence."""
    net = nn.Sequential(OrderedDict(flatten=nn.Flatten(), fc=nn.Linear(64, 2)))
    with torch.no_grad():
        net.fc.weight.zero_()
        net.fc.bias.copy_(torch.tensor([4.5, 0.0]))
        net.fc.weight.view(2, 8, 8)[1, BOX[0]:BOX[1], BOX[0]:BOX[1]] = 1.0
    net.input_shape = (1, 8, 8)
    return net


def spot_image() -> torch.Tensor:
    img = torch.zeros(1, 8, 8)
    img[0, BOX[0]:BOX[1], BOX[0]:BOX[1]] = 1.0
    return img


def conv_net() -> nn.Sequential:
    """conv (box filter and a vertical-edge filter) -> ReLU -> 2×2 max pool -> 3 classes."""
    net = nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 2, 3, padding=1), relu=nn.ReLU(),
                                    pool=nn.MaxPool2d(2), flatten=nn.Flatten(), fc=nn.Linear(32, 3)))
    with torch.no_grad():
        net.conv.weight[0] = 1.0 / 9
        net.conv.weight[1] = torch.tensor([[1.0, 0.0, -1.0]] * 3)
        net.conv.bias.copy_(torch.tensor([0.0, -0.1]))
        net.fc.weight.copy_(torch.randn(3, 32, generator=torch.Generator().manual_seed(0)))
        net.fc.bias.zero_()
    net.input_shape = (1, 8, 8)
    return net


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(12, 1, 8, 8, generator=torch.Generator().manual_seed(0))


# --------------------------------------------------------------------------- feature maps

def test_feature_maps_match_a_manual_forward(images):
    net = conv_net()
    manual_conv = F.conv2d(images, net.conv.weight, net.conv.bias, padding=1)
    torch.testing.assert_close(V.feature_maps(net, images, "conv"), manual_conv)
    torch.testing.assert_close(V.feature_maps(net, images, "pool", batch_size=5),
                               F.max_pool2d(F.relu(manual_conv), 2))


def test_feature_maps_are_not_changed_by_an_inplace_relu(images):
    net = nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 2, 3), relu=nn.ReLU(inplace=True)))
    expected = F.conv2d(images, net.conv.weight, net.conv.bias)
    assert (expected < 0).any()
    torch.testing.assert_close(V.feature_maps(net, images, "conv"), expected)


def test_feature_maps_leave_the_training_mode_alone(images):
    net = conv_net().train()
    V.feature_maps(net, images, "conv")
    assert net.training


@pytest.mark.parametrize("layer, size, stride", [("conv1", 11, 4), ("pool1", 19, 8), ("conv2", 51, 8),
                                                 ("conv3", 99, 16), ("conv5", 163, 16), ("pool5", 195, 32)])
def test_receptive_field_of_alexnet_matches_the_published_values(layer, size, stride):
    field = V.receptive_field(AlexNet("2012", lrn=False), layer, (3, 227, 227))
    assert (field.size, field.stride) == (size, stride)


def test_receptive_field_of_lenet5_by_hand():
    # c1: 5; s2: + (2 - 1) * 1 = 6; c3: + (5 - 1) * 2 = 14, jump 2; the padding of 2 shifts it.
    assert V.receptive_field(LeNet5(), "c3", (1, 28, 28)) == V.ReceptiveField(14, 2, -2)


# --------------------------------------------------------------------------- top patches

def test_top_patches_are_the_argmax_of_the_activation_maps(images):
    net = conv_net()
    maps = F.conv2d(images, net.conv.weight, net.conv.bias, padding=1)[:, 1]  # channel 1
    top = V.top_activating_patches(net, images, "conv", 1, k=4, pad_value=-9.0)
    per_image_max = maps.flatten(1).max(1).values
    torch.testing.assert_close(top.activations, per_image_max.sort(descending=True).values[:4])
    padded = F.pad(images, (1, 1, 1, 1), value=-9.0)  # field: 3×3 around the unit
    for patch, a, n, (r, c) in zip(top.patches, top.activations, top.image_index, top.position):
        assert maps[n, r, c] == a == maps[n].max()
        torch.testing.assert_close(patch, padded[n, :, r:r + 3, c:c + 3])


def test_top_patches_for_several_channels(images):
    tops = V.top_activating_patches(conv_net(), images, "pool", [0, 1], k=3)
    assert [t.patches.shape for t in tops] == [(3, 1, 4, 4)] * 2  # pool's field: 4×4


# --------------------------------------------------------------------------- occlusion

def test_occlusion_positions_cover_the_image():
    assert V.occlusion_positions(28, 8, 4).tolist() == [0, 4, 8, 12, 16, 20]
    assert V.occlusion_positions(10, 3, 4).tolist() == [0, 4, 7]


def test_occlusion_map_drops_only_where_the_evidence_is():
    net, img = spot_net(), spot_image()
    p_clean = torch.softmax(net(img[None]), 1)[0, 1]
    omap = V.occlusion_map(net, img, 1, patch=3, stride=1, fill=0.0)
    assert omap.shape == (6, 6)
    for r in range(6):
        for c in range(6):
            covered = max(0, min(r + 3, BOX[1]) - max(r, BOX[0])) * max(0, min(c + 3, BOX[1]) - max(c, BOX[0]))
            expected = torch.sigmoid(torch.tensor(9.0 - covered - 4.5))  # p(1) = sigmoid(logit1 - logit0)
            torch.testing.assert_close(omap[r, c], expected)
    assert omap[BOX[0], BOX[0]] < 0.02 < 0.98 < p_clean  # all evidence hidden: class 0 wins
    assert omap[5, 5] == pytest.approx(float(p_clean.detach()))  # far corner: nothing changes


def test_occlusion_probabilities_are_distributions(images):
    probs = V.occlusion_probabilities(conv_net(), images[0], patch=4, stride=2, batch_size=3)
    assert probs.shape == (3, 3, 3)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3, 3))


# --------------------------------------------------------------------------- input gradients

def test_saliency_equals_an_independent_autograd_gradient(images):
    net = conv_net()
    x = images[3].clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x[None])[0, 2], x)
    torch.testing.assert_close(V.class_score_gradient(net, images[3], 2), grad)
    torch.testing.assert_close(V.saliency(net, images[3], 2), grad.abs().amax(0))


def test_saliency_of_the_spot_net_is_the_spot():
    sal = V.saliency(spot_net(), spot_image(), 1)
    expected = torch.zeros(8, 8)
    expected[BOX[0]:BOX[1], BOX[0]:BOX[1]] = 1.0
    torch.testing.assert_close(sal, expected)


# --------------------------------------------------------------------------- gradient ascent

def test_gradient_ascent_increases_the_class_score():
    result = V.class_model(conv_net(), 0, steps=40, lr=0.05, seed=1)
    assert result.image.shape == (1, 8, 8)
    assert len(result.scores) == 41
    assert result.scores[-1] > result.scores[0] + 1.0


def test_gradient_ascent_increases_a_unit_and_respects_bounds():
    result = V.activation_maximization(conv_net(), 1, "conv", steps=30, bounds=(-1.0, 1.0), jitter=0)
    assert result.scores[-1] > result.scores[0]
    assert result.image.abs().max() <= 1.0


def test_gradient_ascent_is_repeatable_with_a_seed():
    a = V.class_model(conv_net(), 2, steps=10, seed=3)
    b = V.class_model(conv_net(), 2, steps=10, seed=3)
    torch.testing.assert_close(a.image, b.image)


# --------------------------------------------------------------------------- adversarial examples

@pytest.mark.parametrize("steps", [1, 10])
def test_adversarial_example_flips_the_prediction_within_eps(steps):
    net, img = spot_net(), spot_image()
    assert net(img[None]).argmax() == 1
    # Lowering each of the 9 evidence pixels by 0.6 takes class 1's logit from 9 to 3.6 < 4.5.
    adv = V.adversarial_example(net, img, 1, eps=0.6, steps=steps, step_size=0.6 if steps == 1 else None)
    assert adv.fooled and adv.prediction == 0
    assert adv.perturbation.abs().max() <= 0.6 + 1e-6
    torch.testing.assert_close(adv.adversarial - adv.original, adv.perturbation)
    assert int(adv.original_probs.argmax()) == 1


def test_fgsm_is_one_signed_gradient_step(images):
    net = conv_net()
    x = images[0].clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(net(x[None]), torch.tensor([1])), x)
    adv = V.adversarial_example(net, images[0], 1, eps=0.05, steps=1, step_size=0.05)
    torch.testing.assert_close(adv.adversarial, images[0] + 0.05 * grad.sign())


def test_targeted_adversarial_example_reaches_the_target(images):
    net = conv_net()
    label = int(net(images[:1]).argmax())
    target = (label + 1) % 3
    adv = V.adversarial_example(net, images[0], label, target, eps=1.0, steps=20, bounds=(-3.0, 3.0))
    assert adv.fooled and adv.prediction == target
    assert adv.perturbation.abs().max() <= 1.0 + 1e-6
    assert adv.adversarial.abs().max() <= 3.0


# --------------------------------------------------------------------------- figures

def test_every_plot_returns_a_figure(images):
    net = conv_net()
    probs = V.occlusion_probabilities(net, images[0], 4, 2)
    adv = V.adversarial_example(net, images[0], 0, eps=0.1)
    drawn = [figures.plot_feature_maps(V.feature_maps(net, images[:1], "conv")[0]),
             figures.plot_top_patches(V.top_activating_patches(net, images, "conv", 0)),
             figures.plot_occlusion(images[0], probs, 0, 4, 2, class_names=["a", "b", "c"]),
             figures.plot_saliency(images[0], V.saliency(net, images[0], 0)),
             figures.plot_images(images[:3], ["x", "y", "z"]), figures.plot_adversarial(adv)]
    assert all(isinstance(f, Figure) for f in drawn)


# --------------------------------------------------------------------------- bad input

def test_unknown_layer_names_the_layers(images):
    with pytest.raises(ValueError, match=r"get_layer: argument 'layer'.*'conv'"):
        V.feature_maps(conv_net(), images, "conv9")


def test_numpy_image_is_refused():
    with pytest.raises(TypeError, match="saliency|class_score_gradient"):
        V.saliency(conv_net(), spot_image().numpy(), 0)


def test_batch_must_be_4d():
    with pytest.raises(ValueError, match="4-D"):
        V.feature_maps(conv_net(), spot_image(), "conv")


def test_label_out_of_range():
    with pytest.raises(ValueError, match="below 3"):
        V.saliency(conv_net(), spot_image(), 3)


def test_occluder_larger_than_the_image():
    with pytest.raises(ValueError, match="patch"):
        V.occlusion_map(conv_net(), spot_image(), 0, patch=9)


def test_unknown_fill():
    with pytest.raises(ValueError, match="fill"):
        V.occlusion_map(conv_net(), spot_image(), 0, fill="grey")


def test_channel_out_of_range(images):
    with pytest.raises(ValueError, match="channel"):
        V.top_activating_patches(conv_net(), images, "conv", 2)


def test_eps_must_be_positive():
    with pytest.raises(ValueError, match="eps"):
        V.adversarial_example(conv_net(), spot_image(), 0, eps=0.0)


def test_ascent_needs_an_input_shape():
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    with pytest.raises(ValueError, match="input_shape"):
        V.class_model(net, 0)


# --------------------------------------------------------------------------- deconvnet and guided backprop

def deep_net() -> nn.Sequential:
    """conv -> ReLU -> 2×2 max pool -> conv -> ReLU, on 2×8×8 images (non-overlapping pooling)."""
    torch.manual_seed(3)
    net = nn.Sequential(OrderedDict(conv1=nn.Conv2d(2, 3, 3, padding=1), relu1=nn.ReLU(), pool1=nn.MaxPool2d(2),
                                    conv2=nn.Conv2d(3, 4, 3, padding=1), relu2=nn.ReLU()))
    net.input_shape = (2, 8, 8)
    return net


def manual_projection(net: nn.Sequential, x: torch.Tensor, unit: tuple[int, int, int], rule: str) -> torch.Tensor:
    """Zeiler & Fergus by hand, written out with torch.nn.functional: unpool with the switches,
    the rule at each ReLU, transposed convolution with the same filters."""
    a1 = F.conv2d(x, net.conv1.weight, net.conv1.bias, padding=1)
    h1, switches = F.max_pool2d(F.relu(a1), 2, return_indices=True)
    a2 = F.conv2d(h1, net.conv2.weight, net.conv2.bias, padding=1)
    out = F.relu(a2)
    c, r, q = unit
    s = torch.zeros_like(out)
    s[0, c, r, q] = out[0, c, r, q]
    down = {"gradient": lambda s, a: s * (a > 0), "deconvnet": lambda s, a: F.relu(s),
            "guided": lambda s, a: F.relu(s) * (a > 0)}[rule]
    s = F.conv_transpose2d(down(s, a2), net.conv2.weight, padding=1)
    s = F.max_unpool2d(s, switches, 2, output_size=a1.shape[2:])
    return F.conv_transpose2d(down(s, a1), net.conv1.weight, padding=1)


@pytest.mark.parametrize("rule", ["gradient", "deconvnet", "guided"])
def test_projection_matches_the_hand_written_deconvnet(rule):
    net, x = deep_net(), torch.randn(1, 2, 8, 8, generator=torch.Generator().manual_seed(5))
    maps = V.feature_maps(net, x, "relu2")[0]
    unit = tuple(int(v) for v in (maps == maps.max()).nonzero()[0])
    got = V.project_to_pixels(net, x, "relu2", torch.tensor([unit]), rule)
    torch.testing.assert_close(got, manual_projection(net, x, unit, rule).detach())


def test_gradient_rule_is_the_input_gradient_of_the_unit():
    net, x = deep_net(), torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(6))
    units = torch.tensor([[0, 1, 1], [2, 3, 0], [3, 2, 2]])
    got = V.project_to_pixels(net, x, "relu2", units, "gradient")
    for n, (c, r, q) in enumerate(units.tolist()):
        xn = x[n:n + 1].clone().requires_grad_(True)
        out = net(xn)
        (grad,) = torch.autograd.grad(out[0, c, r, q], xn)
        torch.testing.assert_close(got[n:n + 1], grad * out[0, c, r, q].detach())


def test_deconvnet_and_guided_differ_from_the_gradient_only_at_relus():
    """With no ReLU between the unit and the pixels the three rules agree."""
    net, x = deep_net(), torch.randn(2, 2, 8, 8, generator=torch.Generator().manual_seed(7))
    units = torch.tensor([[1, 2, 3], [0, 4, 4]])
    results = [V.project_to_pixels(net, x, "conv1", units, rule) for rule in V.PROJECTION_RULES]
    for other in results[1:]:
        torch.testing.assert_close(other, results[0])


def test_layer1_projection_is_the_filter_times_the_activation(images):
    net = conv_net()
    tops = V.projected_top_patches(net, images, "relu", [1], k=3)
    p = tops[0]
    maps = F.relu(F.conv2d(images, net.conv.weight, net.conv.bias, padding=1))
    for proj, a, (r, q), n in zip(p.projections, p.top.activations, p.top.position, p.top.image_index):
        assert maps[n, 1, r, q] == a
        if 0 < r < 7 and 0 < q < 7:   # a window wholly inside the image
            torch.testing.assert_close(proj, a * net.conv.weight[1])


def test_projected_top_patches_agree_with_top_activating_patches(images):
    net = deep_net()
    x = torch.randn(20, 2, 8, 8, generator=torch.Generator().manual_seed(8))
    portraits = V.projected_top_patches(net, x, "relu2", count=2, k=4, pad_value=-5.0)
    assert len(portraits) == 2 and len({p.channel for p in portraits}) == 2
    for p in portraits:
        plain = V.top_activating_patches(net, x, "relu2", p.channel, k=4, pad_value=-5.0)
        torch.testing.assert_close(p.top.patches, plain.patches)
        torch.testing.assert_close(p.top.activations, plain.activations)
        s = plain.field.size
        assert p.projections.shape == (4, 2, s, s) and p.rule == "deconvnet" and p.layer == "relu2"


def test_projection_bad_input():
    net, x = deep_net(), torch.randn(2, 2, 8, 8)
    with pytest.raises(ValueError, match="rule"):
        V.project_to_pixels(net, x, "relu2", torch.zeros(2, 3, dtype=torch.long), "backwards")
    with pytest.raises(ValueError, match="units"):
        V.project_to_pixels(net, x, "relu2", torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="layer.*'conv1'"):
        V.project_to_pixels(net, x, "conv9", torch.zeros(2, 3, dtype=torch.long))


def test_the_deep_colour_net_fields_grow_with_depth():
    from course_lib.models.deep_colour import DeepColourNet

    net = DeepColourNet()
    sizes = [V.receptive_field(net, f"relu{i}", (3, 32, 32)).size for i in range(1, 6)]
    assert sizes == [5, 10, 20, 28, 36]
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


# --------------------------------------------------------------------------- figures of the deeper net and the components

def test_adversarial_magnification_is_never_below_one():
    assert figures.adversarial_magnification(0.2 / 0.3081, 1 / 0.3081) == pytest.approx(2.5)
    assert figures.adversarial_magnification(10.0, 1.0) == 1.0
    img = torch.zeros(1, 8, 8)
    img[0, 2:6, 2:6] = 3.0
    delta = torch.full_like(img, 0.6)
    adv = V.Adversarial(img, img + delta, delta, 0, None, torch.tensor([0.9, 0.1]), torch.tensor([0.2, 0.8]))
    titles = [ax.get_title() for ax in figures.plot_adversarial(adv).axes]
    assert any("magnified × 3.0" in t for t in titles), titles   # grey range 3.6: 0.5 * 3.6 / 0.6


def test_occlusion_class_map_names_classes_and_hatches_the_wrong_ones():
    probs = torch.zeros(5, 5, 3)
    probs[..., 1] = 1.0
    probs[1:3, 1:3] = torch.tensor([0.0, 0.0, 1.0])
    fig = figures.plot_occlusion(torch.rand(1, 8, 8), probs, 1, 4, 1, ["cat", "dog", "frog"])
    texts = {t.get_text() for t in fig.axes[2].texts}
    assert {"dog", "frog"} <= texts
    assert any("xx" in (getattr(c, "hatches", None) or ()) for c in fig.axes[2].collections)


def test_deep_figures_and_demo(images):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from course_lib.figures.style import alt_text
    from course_lib.widgets.learned import DeepPatchesDemo

    net = deep_net()
    x = torch.randn(12, 2, 8, 8, generator=torch.Generator().manual_seed(9))
    portraits = {layer: V.projected_top_patches(net, x, layer, count=2, k=4) for layer in ("relu1", "relu2")}
    drawn = [figures.plot_projected_patches(portraits["relu2"]),
             figures.plot_patch_growth([portraits["relu1"][0], portraits["relu2"][0]], image_size=8),
             figures.plot_stochastic_pooling(np.array([[1.6, 0], [0, 2.4]]), np.array([[0.4, 0], [0, 0.6]]),
                                             np.array([1.6, 2.4, 2.4]), 2.08),
             figures.plot_contrast_normalization(np.eye(12), np.eye(12), np.eye(12), [np.ones((12, 12))] * 2),
             figures.plot_dropout_and_dropconnect()]
    from test_projector import assert_projector_ready  # the projector rules: dpi, 12 pt, nothing cut off

    for i, fig in enumerate(drawn):
        assert isinstance(fig, Figure) and alt_text(fig)
        FigureCanvasAgg(fig).draw()   # lay the figure out first, as a notebook does
        assert_projector_ready(fig, f"deep figure {i}")
    demo = DeepPatchesDemo(portraits)
    assert demo.frame(layer="relu2", index=1)[:4] == b"\x89PNG"
    assert "relu2" in demo.caption and f"{portraits['relu2'][1].top.field.size}×" in demo.caption
