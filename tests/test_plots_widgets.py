"""Lecture figures and live demos: they draw the right numbers, and the demos move.

References are independent of course_lib: NumPy, SciPy and PyTorch. Callback *speed* is not
asserted here (house rule: no timing in tests); ``benchmarks/widget_latency.py`` measures it.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from course_lib import figures, widgets

PNG = b"\x89PNG\r\n\x1a\n"
JPEG = b"\xff\xd8\xff"
IMAGE_HEADERS = (PNG, JPEG)
A = np.array([[1, 3, 1], [0, -1, 1], [2, 2, -1]])
B = np.array([[1, 2], [0, -1]])
POOL_EXAMPLE = np.array([[1, 3, 2, 1], [2, 9, 1, 1], [1, 3, 2, 3], [5, 6, 1, 2]], float)


def grid_numbers(ax) -> list[float]:
    """The numbers written into the cells of a ``draw_grid`` panel, row by row."""
    return [float(t.get_text()) for t in ax.texts]


# ----------------------------------------------------------------------------- plots
def test_translate_and_scale_1d_ends_in_np_convolve():
    fig = figures.translate_and_scale_1d([2, -1, 1], [1, 1, 2])
    heads = fig.axes[-1].lines[1]
    np.testing.assert_array_equal(heads.get_ydata(), np.convolve([2, -1, 1], [1, 1, 2]))


def test_conv_matrix_figure_shows_matrix_times_a():
    fig = figures.conv_matrix_1d_figure([2, -1, 1], [1, 1, 2])
    assert grid_numbers(fig.axes[-1]) == np.convolve([2, -1, 1], [1, 1, 2]).tolist()


def test_translate_and_scale_2d_sums_to_scipy():
    fig = figures.translate_and_scale_2d(A, B)
    # Three non-zero kernel entries: three shifted copies, then the result.
    assert len([ax for ax in fig.axes if ax.images]) == 4
    expected = scipy.signal.convolve2d(A, B)
    assert grid_numbers(fig.axes[-1]) == expected.ravel().tolist()


def test_flip_and_filter_2d_products_sum_to_the_entry():
    fig = figures.flip_and_filter_2d(A, B, 1, 1)
    assert sum(grid_numbers(fig.axes[2])) == scipy.signal.convolve2d(A, B)[1, 1]


def test_filter_image_matches_scipy_same_mode():
    image = np.random.default_rng(0).random((20, 24))
    for kernel in figures.GALLERY_KERNELS.values():
        np.testing.assert_allclose(figures.filter_image(image, kernel),
                                   scipy.signal.convolve2d(image, kernel, mode="same"), atol=1e-12)


def test_filter_gallery_has_one_panel_per_kernel():
    fig = figures.filter_gallery(np.random.default_rng(0).random((30, 30)))
    assert len([ax for ax in fig.axes if ax.images]) == len(figures.GALLERY_KERNELS)


@pytest.mark.parametrize("n_layers,kernel_size,stride", [(3, 3, 1), (3, 3, 2), (2, 5, 1)])
def test_receptive_field_matches_torch_gradient(n_layers, kernel_size, stride):
    """Reference: which inputs have a non-zero gradient for one top unit of a torch conv stack."""
    x = torch.ones(1, 1, 101, requires_grad=True)
    h = x
    for _ in range(n_layers):
        h = F.conv1d(h, torch.ones(1, 1, kernel_size), stride=stride)
    h[0, 0, h.shape[-1] // 2].backward()
    expected = int((x.grad != 0).sum())
    fig = figures.receptive_fields(n_layers, kernel_size, stride, width=41)
    assert f"sees {expected} inputs" in fig.axes[0].get_title()


def test_pooling_example_matches_torch():
    fig = figures.pooling_example(POOL_EXAMPLE, 2, 2)
    grids = [ax for ax in fig.axes if ax.images]
    t = torch.tensor(POOL_EXAMPLE)[None, None]
    assert grid_numbers(grids[1]) == F.max_pool2d(t, 2, 2).ravel().tolist() == [9, 2, 6, 3]
    np.testing.assert_allclose(grid_numbers(grids[2]), F.avg_pool2d(t, 2, 2).ravel(), atol=0.01)
    np.testing.assert_allclose(grid_numbers(grids[3]), F.lp_pool2d(t, 2, 2, 2).ravel(), atol=0.01)


def test_oriented_bar_angle_zero_is_vertical():
    bar = figures.oriented_bar(0, size=11, length=3)
    assert bar[:, 5].sum() == 7 and bar.sum() == 7


def test_cross_channel_max_is_the_upper_envelope():
    fig = figures.cross_channel_pooling()
    lines = {line.get_label(): line.get_ydata() for line in fig.axes[-1].lines}
    pooled = lines.pop("max over channels")
    np.testing.assert_allclose(pooled, np.max(list(lines.values()), axis=0))
    # Rotation invariance, roughly: the pooled response varies less than any one filter's.
    assert np.ptp(pooled) < min(np.ptp(v) for v in lines.values())


# ----------------------------------------------------------------------------- widgets
def photo(shape=(64, 80)) -> np.ndarray:
    return np.random.default_rng(1).random(shape)


DEMOS = {
    "flip_and_filter": (lambda: widgets.FlipAndFilterDemo([2, -1, 1], [1, 1, 2]),
                        dict(t=1), dict(t=3)),
    "filter_gallery": (lambda: widgets.FilterGalleryDemo(photo()),
                       dict(kernel="identity"), dict(kernel="Laplacian")),
    "output_size": (widgets.OutputSizeDemo, dict(n=7), dict(n=9, stride=2, padding=1)),
    "equivariance": (lambda: widgets.EquivarianceDemo(photo((40, 40)), figures.GALLERY_KERNELS["Laplacian"]),
                     dict(dy=0, dx=0), dict(dy=3, dx=5)),
    "pooling_shift": (widgets.PoolingShiftDemo, dict(shift=0), dict(shift=2)),
    "layer_size": (widgets.LayerSizeDemo, dict(W=28), dict(W=100, K=3)),
    "transposed": (widgets.TransposedConvDemo, dict(stride=1), dict(stride=2, padding=0)),
}


@pytest.mark.parametrize("name", DEMOS)
def test_update_changes_figure_and_caption(name):
    make, first, second = DEMOS[name]
    demo = make()
    assert isinstance(demo.update(**first), Figure)
    png1, caption1 = demo.frame(**first), demo.caption
    png2, caption2 = demo.frame(**second), demo.caption
    assert png1.startswith(IMAGE_HEADERS) and png2.startswith(IMAGE_HEADERS)
    assert png1 != png2 and caption1 != caption2
    assert demo.frame(**first) == png1, "the same values must give the same picture"


@pytest.mark.parametrize("name", DEMOS)
def test_show_runs_the_callback_and_follows_the_controls(name):
    """The thin ipywidgets wrapper draws once at creation and again when a control moves."""
    make, _, _ = DEMOS[name]
    box = make().show()
    image = next(w for w in box.children if hasattr(w, "format"))
    caption = next(w for w in box.children if type(w).__name__ == "HTML")
    assert bytes(image.value).startswith(IMAGE_HEADERS) and caption.value
    control = box.children[0].children[0]
    before = (bytes(image.value), caption.value)
    if hasattr(control, "options"):  # a dropdown
        control.value = control.options[2]
    else:
        control.value = control.value + 1 if control.value < control.max else control.value - 1
    assert (bytes(image.value), caption.value) != before


@pytest.mark.parametrize("t", range(5))
def test_flip_and_filter_caption_gives_np_convolve(t):
    demo = widgets.FlipAndFilterDemo([2, -1, 1], [1, 1, 2])
    demo.update(t=t)
    assert demo.caption.endswith(f"<b>{np.convolve([2, -1, 1], [1, 1, 2])[t]:g}</b>")


def test_gallery_menu_fills_the_editable_kernel_and_edits_redraw():
    demo = widgets.FilterGalleryDemo(photo())
    box = demo.show()
    menu, grid = box.children[0].children
    image = box.children[1]
    menu.value = "Sobel (vertical edges)"
    assert [c.value for c in grid.children] == figures.GALLERY_KERNELS[menu.value].ravel().tolist()
    before = bytes(image.value)
    grid.children[4].value = 5.0
    assert bytes(image.value) != before and "your kernel" in demo.caption


@pytest.mark.parametrize("n,k,s,p,d", [(7, 3, 1, 0, 1), (9, 3, 2, 1, 1), (16, 5, 3, 2, 2),
                                       (5, 1, 4, 3, 1)])
def test_output_size_demo_agrees_with_torch(n, k, s, p, d):
    demo = widgets.OutputSizeDemo()
    demo.update(n=n, kernel_size=k, stride=s, padding=p, dilation=d)
    expected = F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p,
                        dilation=d).shape[-1]
    assert f"= <b>{expected}</b>" in demo.caption
    # One drawn window per output, k cells each, over the n + 2p cells of the padded input.
    assert len(demo.spans.get_segments()) == expected and len(demo.windows.get_paths()) == expected * k
    assert len(demo.inputs.get_paths()) + len(demo.pads.get_paths()) == n + 2 * p


def test_output_size_demo_says_when_nothing_fits():
    demo = widgets.OutputSizeDemo()
    demo.update(n=3, kernel_size=7)
    assert "no output" in demo.caption


@pytest.mark.parametrize("dy,dx", [(0, 0), (1, 0), (4, 7)])
def test_equivariance_demo_finds_no_difference_inside(dy, dx):
    demo = widgets.EquivarianceDemo(photo((40, 40)), figures.GALLERY_KERNELS["Sobel (vertical edges)"])
    demo.update(dy=dy, dx=dx)
    assert re.search(r"at most <b>0</b>", demo.caption)


def test_shift_image_matches_np_roll_away_from_the_edge():
    x = photo((10, 12))
    np.testing.assert_array_equal(widgets.shift_image(x, 2, 3)[2:, 3:], np.roll(x, (2, 3), (0, 1))[2:, 3:])


@pytest.mark.parametrize("shift,kernel_size,stride", [(0, 3, 1), (1, 3, 1), (2, 2, 2), (1, 4, 2)])
def test_pooling_shift_count_matches_torch(shift, kernel_size, stride):
    demo = widgets.PoolingShiftDemo(length=16, seed=0)
    demo.update(shift=shift, kernel_size=kernel_size, stride=stride)
    sig = torch.tensor(demo.signal)[None, None]
    before = sig[..., demo.start:demo.start + 16]
    after = sig[..., demo.start - shift:demo.start - shift + 16]
    changed = int((F.max_pool1d(before, kernel_size, stride)
                   != F.max_pool1d(after, kernel_size, stride)).sum())
    assert f"only <b>{changed} of" in demo.caption
    if shift == 0:
        assert changed == 0


@pytest.mark.parametrize("W,H,I,J,K", [(28, 28, 6, 1, 5), (10, 8, 16, 6, 5), (200, 200, 1, 1, 10)])
def test_layer_size_counts_match_torch_modules(W, H, I, J, K):
    counts = widgets.LayerSizeDemo.counts(W, H, I, J, K)
    conv_layer = torch.nn.Conv2d(J, I, K, bias=False)
    units, weights, connections = counts["convolution"]
    assert units == W * H * I and weights == conv_layer.weight.numel()
    x = torch.zeros(1, J, H + K - 1, W + K - 1)
    assert conv_layer(x).shape[1:].numel() == units
    assert connections == units * K * K * J  # every output unit reads a K x K x J patch
    if W * H <= 100:  # keep the dense reference small
        dense = torch.nn.Linear(W * H * J, W * H * I, bias=False)
        assert counts["fully connected"][1] == dense.weight.numel()
    assert counts["locally connected"][1] == connections
