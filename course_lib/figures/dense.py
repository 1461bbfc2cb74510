"""Figures of lecture 10 (beyond classification): schematics of R-CNN and of a fully convolutional
net, detection heat maps over a canvas, checkerboard artefacts, and segmentation label maps.

Every function returns a :class:`matplotlib.figure.Figure` with a description attached; heat maps
use the colour-blind-safe ``cividis`` with a colour bar and printed values, label maps print the
class name on each region, so colour is never the only cue.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Polygon, Rectangle

from course_lib.figures.style import COLORS, describe, figure, font, projector

__all__ = ["rcnn_pipeline", "fcn_schematic", "window_extent", "detection_heatmaps", "checkerboard_maps",
           "segmentation_maps", "LABEL_COLORS"]

#: Colours of the label maps: ten digit classes (Okabe-Ito and friends) and white for background.
LABEL_COLORS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#882255",
                "#44AA99", "#999933", "#FFFFFF")


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def _arrow(fig, ax_from, ax_to, text: str = "") -> None:
    """An arrow from the right edge of one axes to the left edge of the next, in figure units."""
    a, b = ax_from.get_position(), ax_to.get_position()
    start, end = (a.x1 + 0.005, (a.y0 + a.y1) / 2), (b.x0 - 0.005, (b.y0 + b.y1) / 2)
    fig.add_artist(FancyArrowPatch(start, end, transform=fig.transFigure, arrowstyle="-|>",
                                   mutation_scale=22, lw=2, color="0.2"))
    if text:
        fig.text((start[0] + end[0]) / 2, start[1] + 0.06, text, ha="center", fontsize=font())


def _box(ax, x, y, w, h, text, face="white", hatch="", fontsize=None, **kw):
    ax.add_patch(Rectangle((x, y), w, h, facecolor=face, edgecolor="0.2", lw=1.5, hatch=hatch, **kw))
    if text:
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=font(fontsize or 12))


@projector
def rcnn_pipeline() -> Figure:
    """R-CNN in four steps: propose regions, warp each to the net's input size, run the CNN on
    each, classify each region (a schematic drawn for this course)."""
    fig = figure(13, 4.2)
    fig.set_layout_engine("none")
    axes = [fig.add_axes([0.02 + 0.245 * k, 0.08, 0.2, 0.68]) for k in range(4)]
    titles = ["1. image + ~2,000\nregion proposals", "2. warp each region\nto a fixed size",
              "3. one CNN pass\nper region", "4. classify each\nregion"]
    for ax, title in zip(axes, titles):
        ax.set(xlim=(0, 10), ylim=(0, 10), aspect="equal")
        ax.set_axis_off()
        ax.set_title(title, fontsize=font())
    scene = axes[0]
    _box(scene, 0, 0, 10, 10, "")
    for (x, y, w, h), style in zip([(1, 5.5, 3, 3.5), (5.2, 1, 3.8, 3), (4, 5, 5, 4), (0.5, 0.5, 4, 3)],
                                   ["-", "--", ":", "-."]):
        scene.add_patch(Rectangle((x, y), w, h, fill=False, ec=COLORS["hi"], lw=2.5, ls=style))
    scene.text(2.5, 7.2, "3", ha="center", va="center", fontsize=font(26))
    scene.text(7.1, 2.5, "7", ha="center", va="center", fontsize=font(26))
    for k, style in enumerate(["-", "--", ":", "-."]):
        _box(axes[1], 1 + (k % 2) * 4.5, 5.5 - (k // 2) * 5, 3.5, 3.5, "", ls=style, face="#e8f1f8")
    axes[1].text(2.75, 7.25, "3", ha="center", va="center", fontsize=font(22))
    axes[1].text(7.25, 2.25, "7", ha="center", va="center", fontsize=font(22))
    net = axes[2]
    for k, (h, w) in enumerate([(8, 1.2), (6, 1.2), (4, 1.2), (2, 1.2)]):
        net.add_patch(Polygon([(0.5 + 2.4 * k, 5 - h / 2), (0.5 + 2.4 * k + w, 5 - h / 2),
                               (0.5 + 2.4 * k + w, 5 + h / 2), (0.5 + 2.4 * k, 5 + h / 2)],
                              facecolor="#d3ecd3", edgecolor="0.2", lw=1.5))
    net.text(5, 0.4, "the same weights\nfor every region", ha="center", fontsize=font())
    for k, (label, score) in enumerate([("3", "0.97"), ("7", "0.91"), ("background", "0.88"),
                                        ("background", "0.95")]):
        axes[3].text(0.2, 8.5 - 2.4 * k, f"region {k + 1}: {label} ({score})", fontsize=font(), va="center")
    for a, b in zip(axes, axes[1:]):
        _arrow(fig, a, b)
    return describe(fig, "R-CNN as a pipeline: an image with about 2,000 proposed boxes (two hold the "
                         "digits 3 and 7); each box is cut out and warped to the network's input size; a "
                         "CNN computes features for each one separately; each region is classified, most "
                         "of them as background.")


@projector
def fcn_schematic() -> Figure:
    """A fully convolutional segmentation net: convs and pooling shrink the image, upsampling
    grows it back, every output pixel gets class scores (a schematic drawn for this course)."""
    fig = figure(13, 4.6)
    ax = fig.subplots()
    ax.set(xlim=(-0.5, 17), ylim=(-0.9, 7.4), aspect="equal")
    ax.set_axis_off()
    blocks = [(0, 6, "image\nH×W", "white", ""), (2.2, 6, "conv\nH×W", "#e8f1f8", ""),
              (4.4, 3, "pool + conv\nH/2", "#e8f1f8", ""), (6.6, 1.5, "H/4", "#e8f1f8", ""),
              (8.8, 3, "upsample\nH/2", "#fde0c5", "//"), (11, 6, "upsample\nH×W", "#fde0c5", "//"),
              (13.2, 6, "scores\nper pixel", "#d3ecd3", "")]
    for k, (x, h, text, face, hatch) in enumerate(blocks):
        _box(ax, x, 3.2 - h / 2, 1.5, h, "", face=face, hatch=hatch)
        ax.text(x + 0.75, 6.75 if h > 3 else 3.2 + h / 2 + 0.35 if k != 3 else 4.5, text, ha="center",
                va="bottom" if h > 3 or k == 3 else "bottom", fontsize=font())
        if k:
            ax.add_patch(FancyArrowPatch((blocks[k - 1][0] + 1.55, 3.2), (x - 0.05, 3.2), arrowstyle="-|>",
                                         mutation_scale=18, lw=1.8, color="0.2"))
    ax.text(4.75, -0.7, "encoder: convolutions (no fully connected layer)", ha="center", fontsize=font())
    ax.text(12.2, -0.7, "decoder: upsampling (hatched)", ha="center", fontsize=font())
    ax.text(15.1, 3.2, "one label\nper pixel", va="center", fontsize=font())
    return describe(fig, "A fully convolutional network for segmentation: the image passes through "
                         "convolutions and pooling that shrink it to a quarter of its size, then through "
                         "upsampling layers (hatched) that grow it back, ending in class scores for every pixel.")


def window_extent(shape: Sequence[int], window: Sequence[int], stride: int) -> tuple[float, float, float, float]:
    """``imshow`` extent that puts score (i, j) of a (rows, cols) map at the centre of its window,
    ``stride * (i, j)`` + half the window, in the canvas's pixel coordinates.

    >>> window_extent((2, 3), (28, 28), 4)
    (11.5, 23.5, 19.5, 11.5)
    """
    rows, cols = shape
    top, left = (window[0] - 1) / 2 - stride / 2, (window[1] - 1) / 2 - stride / 2
    return (left, left + stride * cols, top + stride * rows, top)


def _boxes(ax, boxes, names) -> None:
    for t, l, b, r, c in _numpy(boxes).tolist():
        ax.add_patch(Rectangle((l - 0.5, t - 0.5), r - l, b - t, fill=False, ec=COLORS["b"], lw=2, ls="--"))
        ax.text(l - 0.5, t - 1.5, names[c], color="black", fontsize=font(), va="bottom",
                bbox=dict(facecolor="white", edgecolor="none", pad=0.5))


@projector
def detection_heatmaps(canvas, probs, boxes, classes: Sequence[int], stride: int,
                       window: Sequence[int] = (28, 28), class_names: Sequence[str] | None = None) -> Figure:
    """The canvas with its true boxes, and p(class) at every window for a few classes.

    ``canvas`` (H, W); ``probs`` (K, rows, cols) from the fully convolutional net (softmax over
    K); each map cell is drawn at the centre of its window; the peak of each map is marked
    with a cross and its value printed.
    """
    image, p = _numpy(canvas), _numpy(probs)
    names = list(class_names) if class_names is not None else [str(k) for k in range(p.shape[0])]
    extent = window_extent(p.shape[1:], window, stride)
    n = len(classes) + 1
    fig = figure(4.0 * n, 3.6 * image.shape[0] / image.shape[1] + 1.4)
    axes = fig.subplots(1, n)
    axes[0].imshow(image, cmap="gray", vmin=0, vmax=1)
    _boxes(axes[0], boxes, names)
    axes[0].set_title("canvas, true boxes")
    for ax, c in zip(axes[1:], classes):
        im = ax.imshow(p[c], cmap="cividis", vmin=0, vmax=1, extent=extent, interpolation="nearest")
        ax.set(xlim=(-0.5, image.shape[1] - 0.5), ylim=(image.shape[0] - 0.5, -0.5))
        i, j = np.unravel_index(p[c].argmax(), p[c].shape)
        y, x = stride * i + (window[0] - 1) / 2, stride * j + (window[1] - 1) / 2
        ax.plot(x, y, "x", color=COLORS["hi"], ms=12, mew=3)
        ax.set_title(f"p({names[c]}), peak {p[c].max():.2f}")
    fig.colorbar(im, ax=list(axes[1:]), shrink=0.8, label="probability")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    shown = ", ".join(names[c] for c in classes)
    return describe(fig, f"A canvas of {len(_numpy(boxes))} glyphs with their boxes, and heat maps of the "
                         f"probability of {shown} at every window position (bright = likely, peak marked "
                         f"with a cross).")


@projector
def checkerboard_maps(panels: Mapping[str, np.ndarray], phases: Mapping[str, np.ndarray] | None = None,
                      title: str = "") -> Figure:
    """Maps side by side (cividis, one colour bar each), each titled with the means of its four
    interleaved sub-grids when ``phases`` gives them: equal means = no checkerboard."""
    fig = figure(4.0 * len(panels), 4.4 if phases else 3.8)
    for ax, (name, m) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels.items()):
        m = _numpy(m).astype(float)
        im = ax.imshow(m, cmap="cividis", interpolation="nearest")
        fig.colorbar(im, ax=ax, shrink=0.8)
        sub = ""
        if phases is not None and name in phases:
            q = np.asarray(phases[name])
            sub = "\nsub-grid means " + " ".join(f"{v:.3g}" for v in q.ravel())
        ax.set_title(name + sub)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return describe(fig, "Side by side: " + "; ".join(panels) + (f". {title}" if title else "")
                    + ". A checkerboard shows as a grid of alternating bright and dark cells.")


def _label_image(labels: np.ndarray) -> np.ndarray:
    from matplotlib.colors import to_rgb

    palette = np.array([to_rgb(c) for c in LABEL_COLORS])
    return palette[np.clip(labels, 0, len(palette) - 1)]


def _name_regions(ax, labels: np.ndarray, background_class: int, names: Sequence[str]) -> None:
    """Write on each connected region that is not background the class most of its pixels have."""
    from scipy import ndimage

    regions, count = ndimage.label(labels != background_class)
    for k in range(1, count + 1):
        r, q = np.nonzero(regions == k)
        if len(r) < 6:  # a speck: its name would hide more than it tells
            continue
        c = np.bincount(labels[r, q]).argmax()
        ax.text(q.mean(), r.mean(), names[c], ha="center", va="center", fontsize=font(13), fontweight="bold",
                bbox=dict(facecolor="white", alpha=0.8, edgecolor="0.3", pad=0.8))


@projector
def segmentation_maps(image, truth, predictions: Mapping[str, np.ndarray], background_class: int,
                      class_names: Sequence[str] | None = None) -> Figure:
    """Input, true labels and each prediction as label maps; every region is also named in text
    (the class covering most of it), so the colours are never the only cue."""
    img, t = _numpy(image), _numpy(truth)
    names = list(class_names) if class_names is not None else [str(k) for k in range(background_class)]
    maps = {"true labels": t, **{k: _numpy(v) for k, v in predictions.items()}}
    fig = figure(3.3 * (len(maps) + 1), 3.8)
    axes = fig.subplots(1, len(maps) + 1)
    axes[0].imshow(img, cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("input")
    for ax, (name, m) in zip(axes[1:], maps.items()):
        ax.imshow(_label_image(np.where(m == background_class, len(LABEL_COLORS) - 1, m)), interpolation="nearest")
        _name_regions(ax, m, background_class, names)
        ax.set_title(name)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return describe(fig, "Segmentation: the input canvas, its true label map and the predicted label maps of "
                    + ", ".join(predictions) + "; each coloured region carries the name of its class, white is "
                    "background.")
