"""Projector-ready figures: every static figure and live demo renders at >= 110 dpi, with text of
at least 12 points that stays inside the figure, and each carries a description in words.

The output-size demo of lecture 03 is also checked for what a student counts: one drawn window
per output (torch's conv1d gives the count), outputs numbered from 0, "1 output" / "N outputs".
Some frames are saved to ``test-artifacts/`` (git-ignored) for a look by eye.
"""
from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from course_lib import figures, size, widgets
from course_lib.data import augment
from course_lib.figures import style
from course_lib.visualize import Adversarial, ReceptiveField, TopPatches

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
A = np.array([[1, 3, 1], [0, -1, 1], [2, 2, -1]])
B = np.array([[1, 2], [0, -1]])
G = torch.Generator().manual_seed(0)


def _history():
    return {"epoch": [1, 2, 3], "train_loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.7, 0.6],
            "train_acc": [0.6, 0.8, 0.9], "val_top1_error": [0.4, 0.25, 0.2], "lr": [0.1, 0.1, 0.01]}


def _tops(k=9):
    field = ReceptiveField(4, 1, 0)
    return [TopPatches(torch.full((k, 1, 4, 4), float(c)), torch.arange(float(k), 0, -1), torch.arange(k),
                       torch.zeros(k, 2, dtype=torch.long), field) for c in range(3)]


def _adversarial():
    img = torch.rand(3, 16, 16, generator=G)
    delta = 0.01 * torch.randn(3, 16, 16, generator=G)
    return Adversarial(original=img, adversarial=img + delta, perturbation=delta, label=1, target=None,
                       original_probs=torch.tensor([0.1, 0.8, 0.1]), adversarial_probs=torch.tensor([0.7, 0.2, 0.1]))


FIGURES = {
    "translate_and_scale_1d": lambda: figures.translate_and_scale_1d([2, -1, 1], [1, 1, 2]),
    "conv_matrix_1d": lambda: figures.conv_matrix_1d_figure([2, -1, 1], [1, 1, 2]),
    "translate_and_scale_2d": lambda: figures.translate_and_scale_2d(A, B),
    "flip_and_filter_2d": lambda: figures.flip_and_filter_2d(A, B, 1, 1),
    "filter_gallery": lambda: figures.filter_gallery(np.random.default_rng(0).random((30, 30))),
    "receptive_fields": lambda: figures.receptive_fields(3, 3, 2, width=21),
    "im2col": lambda: figures.im2col_figure(np.arange(16.0).reshape(4, 4), 2),
    "equation": lambda: figures.equation([A, "*", B, "=", A], ["A", None, "B", None, "C"]),
    "images": lambda: figures.images({"photo": np.random.default_rng(0).random((20, 20))}),
    "pooling_example": lambda: figures.pooling_example(np.arange(16.0).reshape(4, 4)),
    "cross_channel_pooling": lambda: figures.cross_channel_pooling(),
    "learning_curves": lambda: figures.learning_curves(_history()),
    "confusion_matrix": lambda: figures.plot_confusion_matrix(np.arange(9).reshape(3, 3), ["cat", "dog", "frog"]),
    "show_mistakes": lambda: figures.show_mistakes(torch.rand(6, 1, 8, 8, generator=G), [0, 1, 2, 3, 4, 5],
                                                   [1, 1, 0, 3, 5, 4]),
    "show_filters": lambda: figures.show_filters(torch.randn(12, 1, 5, 5, generator=G)),
    "plot_images": lambda: figures.plot_images(torch.rand(4, 1, 8, 8, generator=G), ["a", "b", "c", "d"]),
    "plot_feature_maps": lambda: figures.plot_feature_maps(torch.rand(6, 8, 8, generator=G), cols=6,
                                                           title="conv1 feature maps"),
    "plot_top_patches": lambda: figures.plot_top_patches(_tops()[2]),
    "plot_occlusion": lambda: figures.plot_occlusion(
        torch.rand(1, 8, 8, generator=G), torch.softmax(torch.randn(5, 5, 3, generator=G), -1), 1, 4, 1,
        ["cat", "dog", "frog"]),
    "plot_saliency": lambda: figures.plot_saliency(torch.rand(3, 8, 8, generator=G), torch.rand(8, 8, generator=G)),
    "plot_adversarial": lambda: figures.plot_adversarial(_adversarial(), ["cat", "dog", "frog"]),
    "size_table_alexnet": lambda: size.alexnet2012().plot(),
    "size_table_vgg16": lambda: size.vgg16().plot(),
}


@pytest.mark.parametrize("table", [size.lenet5_1998, size.alexnet2012, size.vgg16])
def test_size_table_plot_is_never_shrunk_to_fit_a_notebook(table):
    """JupyterLab scales a figure wider than its output area down, text and all: VGG-16's 21 layers
    once made a 16.7-inch figure whose labels were about 5 px tall on screen."""
    fig = table().plot()
    assert fig.get_size_inches()[0] * fig.dpi <= 1320, fig.get_size_inches()


def _digits():
    probs = torch.softmax(torch.randn(5, 10, generator=G), 1)
    return (torch.rand(5, 28, 28, generator=G), np.arange(5), probs,
            torch.rand(5, 6, 28, 28, generator=G), torch.rand(5, 16, 10, 10, generator=G))


def _augmentation():
    images = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    return widgets.AugmentationDemo(images, augment.RandomCrop(12, 2), augment.RandomHorizontalFlip(),
                                    augment.PCAColorJitter.from_data(images))


def _occlusion():
    probs = torch.rand(5, 5, 3, generator=torch.Generator().manual_seed(0))
    return widgets.OcclusionDemo(torch.ones(1, 8, 8), probs / probs.sum(-1, keepdim=True), 1, patch=4, stride=1,
                                 fill=0.0, class_names=["cat", "dog", "frog"])


DEMOS = {  # how to build each demo, and the slider values of two frames
    "flip_and_filter": (lambda: widgets.FlipAndFilterDemo([2, -1, 1], [1, 1, 2]), [dict(t=1), dict(t=4)]),
    "filter_gallery": (lambda: widgets.FilterGalleryDemo(np.random.default_rng(1).random((64, 80))),
                       [dict(kernel="identity"), dict(kernel="Sobel (vertical edges)")]),
    "output_size": (widgets.OutputSizeDemo, [dict(n=9, stride=2, padding=1), dict(n=16, padding=3, kernel_size=1),
                                             dict(n=3, kernel_size=7)]),
    "equivariance": (lambda: widgets.EquivarianceDemo(np.random.default_rng(1).random((40, 40)),
                                                      figures.GALLERY_KERNELS["Laplacian"]), [dict(dy=3, dx=5)]),
    "pooling_shift": (widgets.PoolingShiftDemo, [dict(shift=2, kernel_size=4, stride=1)]),
    "layer_size": (widgets.LayerSizeDemo, [dict(W=100, K=3)]),
    "transposed": (widgets.TransposedConvDemo, [dict(stride=2, padding=1, kernel_size=3)]),
    "digit_browser": (lambda: widgets.DigitBrowserDemo(*_digits(), ids=[10, 11, 12, 13, 14]), [dict(i=0), dict(i=3)]),
    "ilsvrc": (widgets.ILSVRCDemo, [dict(year=2012), dict(year=2015)]),
    "augmentation": (_augmentation, [dict(index=1, crop=True, flip=True, colour=True, seed=50)]),
    "top_patches": (lambda: widgets.TopPatchesDemo(_tops(), "C3"), [dict(channel=2)]),
    "occlusion": (_occlusion, [dict(row=2, col=3), dict(row=0, col=0)]),
}


def assert_projector_ready(fig: Figure, name: str, dpi: float = 110, points: float = 12) -> None:
    """dpi, the size of every visible piece of text, and no text outside the figure."""
    if fig.canvas is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    assert fig.dpi >= dpi, f"{name}: {fig.dpi} dpi"
    box = fig.bbox
    # Tick labels: only those matplotlib draws (the ticks inside the view limits).
    all_ticks, drawn = set(), []
    for ax in fig.axes:
        for axis in ax._axis_map.values():
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                all_ticks |= {id(tick.label1), id(tick.label2)}
            if ax.get_visible() and ax.axison:
                drawn += [label for tick in axis._update_ticks() for label in (tick.label1, tick.label2)]
    texts = [t for t in fig.findobj(Text) if id(t) not in all_ticks] + drawn
    for text in texts:
        if not text.get_visible() or not text.get_text().strip():
            continue
        if text.axes is not None and not text.axes.get_visible():
            continue
        assert text.get_fontsize() >= points, f"{name}: {text.get_text()!r} is {text.get_fontsize()} pt"
        extent = text.get_window_extent(renderer)
        assert (extent.x0 >= box.x0 - 1 and extent.y0 >= box.y0 - 1 and extent.x1 <= box.x1 + 1
                and extent.y1 <= box.y1 + 1), f"{name}: {text.get_text()!r} is cut off at {extent} in {box}"


def _drawn_ticks_only(fig: Figure) -> None:
    """Draw once, so that tick labels exist and layout is done, before measuring."""
    fig.canvas.draw()


@pytest.mark.parametrize("name", FIGURES)
def test_static_figure_is_projector_ready_and_described(name):
    fig = FIGURES[name]()
    FigureCanvasAgg(fig)
    _drawn_ticks_only(fig)
    assert_projector_ready(fig, name)
    assert len(style.alt_text(fig)) > 10
    if name in ("receptive_fields", "plot_occlusion", "flip_and_filter_2d"):
        ARTIFACTS.mkdir(exist_ok=True)
        fig.savefig(ARTIFACTS / f"figure_{name}.png")


@pytest.mark.parametrize("name", DEMOS)
def test_demo_frames_are_projector_ready_and_described(name):
    make, frames = DEMOS[name]
    demo = make()
    for k, values in enumerate(frames):
        png = demo.frame(**values)
        assert_projector_ready(demo.fig, f"{name} {values}")
        assert demo.caption and len(demo.alt) > 10 and not re.search(r"<[a-z/]", demo.alt)
        if k == len(frames) - 1:
            ARTIFACTS.mkdir(exist_ok=True)
            (ARTIFACTS / f"demo_{name}.{demo.image_format}").write_bytes(png)


def test_demo_image_scales_with_the_page():
    layout = widgets.ILSVRCDemo()._image_layout()
    assert layout.width == "100%" and layout.height == "auto"


@pytest.mark.parametrize("name", ["translate_and_scale_1d", "pooling_example", "learning_curves", "plot_occlusion"])
def test_lecture_hall_makes_figures_larger(name):
    normal = FIGURES[name]()
    with style.lecture_hall():
        hall = FIGURES[name]()
        demo = widgets.OutputSizeDemo()
    FigureCanvasAgg(hall).draw()
    assert hall.dpi > normal.dpi and hall.get_figwidth() > normal.get_figwidth()
    assert_projector_ready(hall, name, points=15)
    demo.frame(n=9, stride=2, padding=1)
    assert demo.fig.dpi > 110
    assert_projector_ready(demo.fig, "output size in the hall", points=15)
    assert style.dpi() == 110 and style.font() == 12  # the with block ended: back to normal


def test_lecture_hall_switch_on_and_off():
    try:
        style.lecture_hall(True)
        assert style.dpi() > 110 and style.font() > 12
    finally:
        style.lecture_hall(False)
    assert style.dpi() == 110


# ----------------------------------------------------------------------------- lecture 03's output size
SIZES = list(itertools.product((1, 4, 7, 16), (1, 3, 7), (1, 2, 4), (0, 3), (1, 2)))


@pytest.mark.parametrize("n,k,s,p,d", SIZES)
def test_output_size_demo_draws_one_window_per_output(n, k, s, p, d):
    demo = widgets.OutputSizeDemo()
    demo.update(n=n, kernel_size=k, stride=s, padding=p, dilation=d)
    try:
        expected = F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p, dilation=d).shape[-1]
    except RuntimeError:  # torch refuses a kernel larger than the padded input
        expected = 0
    assert len(demo.spans.get_segments()) == expected
    assert len(demo.windows.get_paths()) == expected * k
    assert demo.row_labels[1:] == [f"y[{o}]" for o in range(expected)]  # numbered from 0
    assert len(demo.label_glyphs.get_paths()) == expected + 1
    assert demo.numbers == [str(i) for i in range(-p, n + p)]
    assert len(demo.number_glyphs.get_paths()) == n + 2 * p  # input index 0 is the first real cell
    if expected == 0:
        assert "no output" in demo.caption
    else:
        assert f"= <b>{expected}</b>" in demo.caption
        assert (f" {expected} output," if expected == 1 else f" {expected} outputs,") in demo.caption
        assert not re.search(r"\b1 outputs", demo.caption + demo.title.get_text())
    # Every window lies inside the padded input, and the axis shows all of it.
    xlim, ylim = demo.ax.get_xlim(), demo.ax.get_ylim()
    assert xlim[0] < 0 and xlim[1] > n + 2 * p - 1
    for cells in demo.window_cells:
        assert cells.min() >= 0 and cells.max() <= n + 2 * p - 1
    assert max(ylim) > expected


def test_output_size_demo_hatches_the_padding():
    demo = widgets.OutputSizeDemo()
    demo.update(n=5, padding=2)
    assert demo.pads.get_hatch() and len(demo.pads.get_paths()) == 4 and len(demo.inputs.get_paths()) == 5


def test_class_bars_use_hatches_not_only_colour():
    demo = widgets.DigitBrowserDemo(*_digits())
    demo.update(i=0)
    y, guess = int(demo.labels[0]), int(demo.probs[0].argmax())
    hatches = {c: bar.get_hatch() for c, bar in enumerate(demo.bars)}
    assert hatches[y] == "///"
    if guess != y:
        assert hatches[guess] == "xxx"
    assert all(not h for c, h in hatches.items() if c not in (y, guess))


def test_layer_size_bars_tell_the_kinds_apart_without_colour():
    """Lecture 05: conv, locally connected and dense bars differ in hatch too, and the legend shows it."""
    demo = widgets.LayerSizeDemo()
    demo.update(W=28, H=28, I=16, J=6, K=5)
    hatches = {kind: {bar.get_hatch() or "" for bar in bars} for kind, bars in demo.bars.items()}
    assert all(len(h) == 1 for h in hatches.values())   # one hatch per kind, on all its bars
    assert len({h.pop() for h in hatches.values()}) == 3
    legend = demo.ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == list(widgets.LayerSizeDemo.KINDS)
    assert len({(h.get_hatch() or "") for h in legend.legend_handles}) == 3
