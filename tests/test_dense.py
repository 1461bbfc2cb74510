"""Lecture 10: a classifier made fully convolutional, canvases with per-pixel labels, an
encoder-decoder, checkerboard artefacts; checked against crops, torch.nn.functional and by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.backends.backend_agg import FigureCanvasAgg
from torch import nn

from course_lib import conv
from course_lib.data import canvas as C
from course_lib.figures import dense as figs
from course_lib.figures.style import alt_text
from course_lib.gpu import conv_transposed as gpu_transposed
from course_lib.models.dense import (EncoderDecoder, classify_windows, network_stride, phase_means,
                                     segmentation_scores, to_fully_convolutional)
from course_lib.models.lenet import LeNet5
from course_lib.widgets.dense import HeatMapDemo
from test_projector import assert_projector_ready


def lenet(classes: int = 11) -> nn.Sequential:
    torch.manual_seed(0)
    return LeNet5("modern", num_classes=classes).eval()


def no_padding_net() -> nn.Sequential:
    """A small classifier of 12×12 images whose convs do not pad: its windows are plain crops."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 5, 3), nn.ReLU(),
                        nn.Flatten(), nn.Linear(5 * 3 * 3, 7), nn.ReLU(), nn.Linear(7, 3)).eval()
    net.input_shape = (2, 12, 12)
    return net


# ----------------------------------------------------------------------------- FC -> conv
def test_conversion_is_exact_at_the_single_position():
    model = lenet()
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    fcn = to_fully_convolutional(model)
    out = fcn(x)
    assert out.shape == (6, 11, 1, 1)
    torch.testing.assert_close(out[:, :, 0, 0], model(x), rtol=1e-5, atol=1e-5)


def test_conversion_copies_the_weights_into_kernels():
    model = lenet()
    fcn = to_fully_convolutional(model)
    assert not any(isinstance(m, (nn.Linear, nn.Flatten)) for m in fcn.modules())
    assert fcn.f5.weight.shape == (120, 16, 5, 5) and fcn.f6.weight.shape == (84, 120, 1, 1)
    # the flattened order of torch's Flatten is (channel, row, column)
    assert torch.equal(fcn.f5.weight[7, 3, 2, 4], model.f5.weight[7, 3 * 25 + 2 * 5 + 4])
    assert torch.equal(fcn.output.weight[:, :, 0, 0], model.output.weight)
    assert torch.equal(fcn.f6.bias, model.f6.bias)
    fcn.f5.weight.data.zero_()  # a copy, not a view: the classifier keeps its weights
    assert model.f5.weight.abs().sum() > 0


def test_conversion_refuses_what_it_cannot_convert():
    with pytest.raises(TypeError, match="model"):
        to_fully_convolutional(lambda x: x)
    with pytest.raises(TypeError, match="RBFOutput"):  # the 1998 output layer is not Linear
        to_fully_convolutional(LeNet5("classic"))
    bare = nn.Sequential(nn.Conv2d(1, 2, 3))
    with pytest.raises(ValueError, match="input_shape"):
        to_fully_convolutional(bare)
    bare.input_shape = (1, 8, 8)
    with pytest.raises(ValueError, match="Flatten"):
        to_fully_convolutional(bare)


def test_network_stride_multiplies_the_strides():
    assert network_stride(lenet()) == 4
    assert network_stride(no_padding_net()) == 2


# ----------------------------------------------------------------------------- FCN = every window
@given(st.integers(28, 50), st.integers(28, 50), st.integers(0, 10_000))
def test_one_pass_equals_classifying_every_window(height, width, seed):
    model = lenet()
    canvas = torch.rand(2, 1, height, width, generator=torch.Generator().manual_seed(seed))
    once = to_fully_convolutional(model)(canvas)
    crops = classify_windows(model, canvas)
    assert once.shape == crops.shape == (2, 11, (height - 28) // 4 + 1, (width - 28) // 4 + 1)
    torch.testing.assert_close(once, crops, rtol=1e-4, atol=1e-4)


def test_windows_of_a_net_without_padding_are_plain_crops():
    net = no_padding_net()
    canvas = torch.rand(1, 2, 21, 17, generator=torch.Generator().manual_seed(0))
    scores = to_fully_convolutional(net)(canvas)
    assert scores.shape == (1, 3, 5, 3)
    for i in range(5):
        for j in range(3):
            crop = canvas[:, :, 2 * i:2 * i + 12, 2 * j:2 * j + 12]
            torch.testing.assert_close(scores[:, :, i, j], net(crop), rtol=1e-5, atol=1e-5)


def test_a_lone_glyph_scores_as_the_classifier_scores_its_crop():
    """Where the 2-pixel frame around a window is blank, the FCN's score is exactly the
    classifier's on the plain 28×28 crop (whose padding supplies the same zeros)."""
    model = lenet()
    canvas = torch.zeros(1, 1, 60, 60)
    canvas[0, 0, 20:40, 24:40] = torch.rand(20, 16, generator=torch.Generator().manual_seed(0))
    scores = to_fully_convolutional(model)(canvas)
    torch.testing.assert_close(scores[:, :, 4, 4], model(canvas[:, :, 16:44, 16:44]), rtol=1e-5, atol=1e-5)


def test_classify_windows_refuses_bad_input():
    with pytest.raises(TypeError, match="canvas"):
        classify_windows(lenet(), np.zeros((1, 1, 30, 30)))
    with pytest.raises(ValueError, match="canvas"):
        classify_windows(lenet(), torch.zeros(1, 2, 30, 30))
    with pytest.raises(ValueError, match="smaller"):
        classify_windows(lenet(), torch.zeros(1, 1, 20, 30))


# ----------------------------------------------------------------------------- canvases
def square_glyphs(n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    glyphs = np.zeros((n, 12, 12), np.float32)
    for k in range(n):
        glyphs[k, 2:2 + k + 3, 3:10] = 0.3 + 0.1 * k
    return glyphs, np.arange(n)


@given(st.integers(0, 10_000), st.integers(1, 6))
def test_canvas_labels_follow_the_ink(seed, count):
    glyphs, classes = square_glyphs()
    scene = C.place_glyphs(glyphs, classes, (40, 50), count, background_class=9, threshold=0.25, gap=2, seed=seed)
    assert scene.image.shape == scene.labels.shape == (40, 50)
    np.testing.assert_array_equal(scene.labels != 9, scene.image > 0.25)
    covered = np.zeros((40, 50), bool)
    for t, l, b, r, c in scene.boxes:
        # the box is the tight box around this class's ink, and the ink has the glyph's brightness
        rows, cols = np.nonzero(scene.labels[t:b, l:r] == c)
        assert (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1) == (0, 0, b - t, r - l)
        np.testing.assert_allclose(scene.image[t:b, l:r], 0.3 + 0.1 * c, rtol=1e-6)
        grown = np.zeros_like(covered)
        grown[max(t - 2, 0):b + 2, max(l - 2, 0):r + 2] = True
        assert not (covered & grown).any(), "two glyphs' boxes are closer than the gap"
        covered[t:b, l:r] = True
    assert (scene.labels[~covered] == 9).all()


def test_canvases_are_seeded_and_stacked():
    glyphs, classes = square_glyphs()
    a = C.make_canvases(glyphs, classes, 4, 32, 2, background_class=9, seed=3, threshold=0.25)
    b = C.make_canvases(glyphs, classes, 4, 32, 2, background_class=9, seed=3, threshold=0.25)
    c = C.make_canvases(glyphs, classes, 4, 32, 2, background_class=9, seed=4, threshold=0.25)
    assert a[0].shape == (4, 1, 32, 32) and a[1].shape == (4, 32, 32) and a[1].dtype == np.int64
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    u8 = C.make_canvases((glyphs * 255).round().astype(np.uint8), classes, 4, 32, 2, background_class=9, seed=3,
                         threshold=0.25)
    np.testing.assert_allclose(u8[0], a[0], atol=1 / 255)


def test_shifted_windows_centre_the_digits_and_push_the_background_aside():
    glyph = np.zeros((1, 28, 28), np.float32)
    glyph[0, 10:18, 10:18] = 1.0  # centred 8×8 square
    windows, labels = C.shifted_windows(glyph, [4], 400, background_class=10, max_shift=2, min_offset=8, seed=0)
    assert set(labels.tolist()) == {4, 10}
    centre = windows[:, 13:15, 13:15].sum((1, 2))
    for w, y, middle in zip(windows, labels, centre):
        if y == 4:  # the square, moved by at most 2 pixels: whole, and over the centre
            box = C.ink_box(w)
            assert abs(box[0] - 10) <= 2 and abs(box[1] - 10) <= 2 and w.sum() == 64 and middle == 4
        else:  # every square at least 8 pixels off along one axis: the centre stays blank
            assert middle == 0
    assert (windows[labels == 10].sum((1, 2)) > 0).any()  # not all background windows are blank


def test_shape_glyphs_are_seeded_white_shapes():
    a, ya = C.shape_glyphs(30, seed=2)
    b, yb = C.shape_glyphs(30, seed=2)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (30, 28, 28) and a.min() == 0 and a.max() <= 1 and set(ya.tolist()) == set(range(10))


@pytest.mark.parametrize("call, match", [
    (lambda: C.place_glyphs(np.zeros((2, 5, 5)), [0], 10, 1, background_class=3), "classes"),
    (lambda: C.place_glyphs(np.full((1, 5, 5), 2.0), [0], 10, 1, background_class=3), "glyphs"),
    (lambda: C.place_glyphs(np.zeros((1, 5, 5)), [0], 4, 1, background_class=3), "size"),
    (lambda: C.place_glyphs(np.zeros((1, 5, 5)), [0], 10, 1, background_class=-1), "background_class"),
    (lambda: C.make_canvases(np.zeros((1, 5, 5)), [0], 0, 10, 1, background_class=3), "'n'"),
    (lambda: C.shifted_windows(np.zeros((1, 5, 5)), [0], 3, background_class=3, min_offset=9), "min_offset"),
    (lambda: C.shifted_windows(np.zeros((1, 9, 9)), [0], 3, background_class=3, background_fraction=2), "fraction"),
    (lambda: C.shape_glyphs(3, num_classes=11), "num_classes"),
])
def test_canvas_functions_refuse_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


# ----------------------------------------------------------------------------- encoder-decoder
@pytest.mark.parametrize("upsample", EncoderDecoder.UPSAMPLING)
def test_encoder_decoder_labels_every_pixel(upsample):
    torch.manual_seed(0)
    net = EncoderDecoder(3, 5, width=4, upsample=upsample)
    assert net(torch.zeros(2, 3, 24, 36)).shape == (2, 5, 24, 36)
    kinds = {type(m) for m in net.modules()}
    assert (nn.ConvTranspose2d in kinds) == (upsample == "transposed")
    assert (nn.Upsample in kinds) == (upsample == "resize")


def test_encoder_decoder_refuses_bad_input():
    with pytest.raises(ValueError, match="upsample"):
        EncoderDecoder(upsample="bilinear-ish")
    with pytest.raises(TypeError, match="width"):
        EncoderDecoder(width=2.5)
    with pytest.raises(ValueError, match="multiples of 4"):
        EncoderDecoder()(torch.zeros(1, 1, 30, 32))


# ----------------------------------------------------------------------------- checkerboards
def test_transposed_conv_with_uniform_weights_makes_a_checkerboard():
    """Stride 2, kernel 3: output pixels are reached by 1, 2 or 4 kernel copies, by parity."""
    x, w = np.ones((1, 1, 6, 6)), np.ones((1, 1, 3, 3))
    ours = conv.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1)
    torch_out = F.conv_transpose2d(torch.ones(1, 1, 6, 6), torch.ones(1, 1, 3, 3), stride=2, padding=1,
                                   output_padding=1)
    twin = gpu_transposed.conv_transpose2d(torch.ones(1, 1, 6, 6), torch.ones(1, 1, 3, 3), stride=2, padding=1,
                                           output_padding=1)
    np.testing.assert_allclose(ours, torch_out.numpy())
    np.testing.assert_allclose(twin.numpy(), torch_out.numpy())
    inner = ours[0, 0, 1:-1, 1:-1]
    assert set(np.unique(inner).tolist()) == {1.0, 2.0, 4.0}
    np.testing.assert_allclose(phase_means(ours[0, 0], border=1), [[1, 2], [2, 4]])


def test_resize_then_convolve_keeps_a_constant_input_constant():
    up = F.interpolate(torch.ones(1, 1, 6, 6), scale_factor=2, mode="nearest")
    out = F.conv2d(up, torch.ones(1, 1, 3, 3), padding=1)[0, 0].numpy()
    np.testing.assert_allclose(out[1:-1, 1:-1], 9.0)
    np.testing.assert_allclose(phase_means(out, border=1), np.full((2, 2), 9.0))


def test_the_decoders_upsampling_layers_behave_the_same_way():
    nets = {u: EncoderDecoder(1, 3, width=2, upsample=u) for u in EncoderDecoder.UPSAMPLING}
    with torch.no_grad():
        for net in nets.values():
            net.up1.weight.fill_(1.0)
            net.up1.bias.zero_()
        x = torch.ones(1, 4, 6, 6)
        checker = phase_means(nets["transposed"].up1(x)[0, 0], border=2)
        flat = phase_means(nets["resize"].up1(nets["resize"].up1_resize(x))[0, 0], border=2)
    assert np.ptp(checker) > 1 and np.ptp(flat) == 0


def test_phase_means_refuses_a_map_too_small():
    with pytest.raises(ValueError, match="'x'"):
        phase_means(np.ones((4, 4)), stride=2, border=2)


# ----------------------------------------------------------------------------- scores
@given(st.integers(0, 10_000))
def test_segmentation_scores_count_by_hand(seed):
    rng = np.random.default_rng(seed)
    truth, pred = rng.integers(0, 4, (2, 9, 7))
    s = segmentation_scores(pred, truth, 4)
    assert s["pixel_accuracy"] == pytest.approx(np.mean(pred == truth))
    for c in range(4):
        union = np.sum((pred == c) | (truth == c))
        expected = np.sum((pred == c) & (truth == c)) / union if union else np.nan
        assert s["iou"][c] == pytest.approx(expected, nan_ok=True)
    assert s["mean_iou"] == pytest.approx(np.nanmean(s["iou"]))


def test_segmentation_scores_refuse_bad_labels():
    with pytest.raises(ValueError, match="same shape"):
        segmentation_scores(np.zeros((2, 2), int), np.zeros((2, 3), int), 2)
    with pytest.raises(ValueError, match="truth"):
        segmentation_scores(np.zeros((2, 2), int), np.full((2, 2), 5), 2)


# ----------------------------------------------------------------------------- figures and the demo
def _scene():
    glyphs, classes = C.shape_glyphs(20, seed=0)
    return C.place_glyphs(glyphs, classes, (60, 92), 4, background_class=10, seed=0)


FIGURES = {
    "rcnn": figs.rcnn_pipeline,
    "fcn": figs.fcn_schematic,
    "heatmaps": lambda: figs.detection_heatmaps(_scene().image, torch.softmax(torch.randn(11, 9, 17), 0),
                                                _scene().boxes, [10, 3], 4),
    "checkerboard": lambda: figs.checkerboard_maps({"transposed": np.ones((8, 8)), "resize": np.zeros((8, 8))},
                                                   {"transposed": np.ones((2, 2))}),
    "segmentation": lambda: figs.segmentation_maps(_scene().image, _scene().labels,
                                                   {"transposed": _scene().labels}, 10),
}


@pytest.mark.parametrize("name", FIGURES)
def test_lecture_10_figures_are_projector_ready(name):
    fig = FIGURES[name]()
    FigureCanvasAgg(fig).draw()
    assert_projector_ready(fig, name)
    assert len(alt_text(fig)) > 20


def test_window_extent_centres_each_score_on_its_window():
    left, right, bottom, top = figs.window_extent((3, 5), (28, 28), 4)
    assert (left + right) / 2 == pytest.approx(13.5 + 4 * 2) and (top + bottom) / 2 == pytest.approx(13.5 + 4 * 1)


def test_heat_map_demo_shows_the_chosen_class():
    scene = _scene()
    probs = torch.softmax(torch.randn(11, 9, 17, generator=torch.Generator().manual_seed(0)), 0)
    demo = HeatMapDemo(scene.image, probs, scene.boxes, 4)
    assert demo.frame(cls=3).startswith(b"\x89PNG")
    np.testing.assert_array_equal(demo.heat.get_array(), probs[3].numpy())
    i, j = np.unravel_index(probs[3].argmax().item(), (9, 17))
    assert demo.frame_box.get_xy() == (4 * j - 0.5, 4 * i - 0.5)
    assert f"{probs[3].max():.2f}" in demo.caption
    assert_projector_ready(demo.fig, "heat map demo")
    with pytest.raises(ValueError, match="cls"):
        demo.update(cls=11)
    with pytest.raises(ValueError, match="class names"):
        HeatMapDemo(scene.image, probs, scene.boxes, 4, class_names=["a"])
