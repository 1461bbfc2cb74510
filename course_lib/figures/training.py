"""Figures for a training run: learning curves, confusion matrix, mistakes, first-layer filters.

Every function returns a ``matplotlib.figure.Figure`` (it does not call ``plt.show()``), so a
notebook displays it and a script can ``fig.savefig(...)`` it.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from course_lib._checks import check_int, to_numeric_array
from course_lib.figures.style import describe, figure, projector

__all__ = ["learning_curves", "confusion_matrix", "plot_confusion_matrix", "show_mistakes",
           "show_filters"]


def _numpy(x) -> np.ndarray:
    """Tensors (on any device) and array-likes to NumPy."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy() if x.dtype.is_floating_point else x.detach().cpu().numpy()
    return np.asarray(x)


@projector
def learning_curves(history) -> Figure:
    """Loss (left) and top-1 error (right) per epoch, training against validation; the
    learning rate is drawn on a log axis behind the error, so each annealing step is visible.

    ``history``: a ``train.History`` or a dict with the same lists.
    """
    h = history.as_dict() if hasattr(history, "as_dict") else dict(history)
    if not h.get("epoch"):
        raise ValueError("learning_curves: argument 'history' is empty; train for at least one epoch.")
    epochs = h["epoch"]
    fig = figure(12, 4.5)
    ax_loss, ax_err = fig.subplots(1, 2)
    ax_loss.plot(epochs, h["train_loss"], "o-", label="train")
    ax_loss.plot(epochs, h["val_loss"], "s-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_err.plot(epochs, [1 - a for a in h["train_acc"]], "o-", label="train")
    ax_err.plot(epochs, h["val_top1_error"], "s-", label="validation top-1")
    if any(np.isfinite(h.get("val_top5_error", [np.nan]))):
        ax_err.plot(epochs, h["val_top5_error"], "^--", label="validation top-5")
    ax_err.set(xlabel="epoch", ylabel="error", title="error")
    if h.get("lr"):
        ax_lr = ax_err.twinx()
        ax_lr.step(epochs, h["lr"], where="post", color="grey", alpha=0.4)
        ax_lr.set_yscale("log")
        ax_lr.set_ylabel("learning rate", color="grey")
    for ax in (ax_loss, ax_err):
        ax.legend()
        ax.grid(alpha=0.3)
    return describe(fig, f"Loss and top-1 error per epoch over {len(epochs)} epochs, training (circles) against "
                         f"validation (squares); last validation error {h['val_top1_error'][-1]:.3g}.")


def confusion_matrix(labels, predictions, num_classes: int | None = None) -> np.ndarray:
    """Counts ``M[i, j]`` of examples of true class ``i`` predicted as class ``j``.

    >>> confusion_matrix([0, 1, 1, 2], [0, 2, 1, 2])
    array([[1, 0, 0],
           [0, 1, 1],
           [0, 0, 1]])
    """
    y = to_numeric_array(_numpy(labels), "labels", "confusion_matrix", ndim=1, what="vector of classes")
    p = to_numeric_array(_numpy(predictions), "predictions", "confusion_matrix", ndim=1,
                         what="vector of classes")
    if len(y) != len(p):
        raise ValueError(f"confusion_matrix: {len(y)} labels but {len(p)} predictions; they must match.")
    n = int(max(y.max(), p.max())) + 1 if num_classes is None else check_int(
        num_classes, "num_classes", "confusion_matrix", 1)
    if min(y.min(), p.min()) < 0 or max(y.max(), p.max()) >= n:
        raise ValueError(f"confusion_matrix: classes must be integers in [0, {n}), "
                         f"got values from {min(y.min(), p.min())} to {max(y.max(), p.max())}.")
    return np.bincount(y.astype(np.int64) * n + p.astype(np.int64), minlength=n * n).reshape(n, n)


@projector
def plot_confusion_matrix(matrix, class_names: Sequence[str] | None = None, normalize: bool = False) -> Figure:
    """Draw a confusion matrix (from :func:`confusion_matrix`); ``normalize`` shows each true
    class's row as fractions, which makes rare classes as visible as common ones."""
    m = to_numeric_array(matrix, "matrix", "plot_confusion_matrix", ndim=2, what="square matrix")
    if m.shape[0] != m.shape[1]:
        raise ValueError(f"plot_confusion_matrix: argument 'matrix' must be square, got {m.shape}.")
    shown = m / np.maximum(m.sum(1, keepdims=True), 1) if normalize else m
    n = len(m)
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    fig = figure(0.6 * n + 3.5, 0.6 * n + 2.5)
    ax = fig.subplots()
    im = ax.imshow(shown, cmap="Blues")
    fig.colorbar(im, ax=ax)
    ax.set(xticks=range(n), yticks=range(n), xticklabels=names, yticklabels=names,
           xlabel="predicted", ylabel="true", title="confusion matrix")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                text = f"{shown[i, j]:.2f}" if normalize else str(int(m[i, j]))
                ax.text(j, i, text, ha="center", va="center",
                        color="white" if shown[i, j] > shown.max() / 2 else "black")
    if any(len(name) > 2 for name in names):
        ax.tick_params(axis="x", labelrotation=90)
    return describe(fig, f"{n}×{n} confusion matrix, true class down, predicted across"
                         + (", rows as fractions." if normalize else ", counts."))


def _as_image(img: np.ndarray) -> tuple[np.ndarray, str | None]:
    """(C, H, W) or (H, W) to something imshow draws: grey maps get a colormap, RGB is
    rescaled to [0, 1] so normalised images still display."""
    if img.ndim == 3 and img.shape[0] == 1:
        img = img[0]
    if img.ndim == 2:
        return img, "gray"
    img = np.moveaxis(img, 0, -1).astype(float)
    lo, hi = img.min(), img.max()
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img), None


@projector
def show_mistakes(images, labels, predictions, max_images: int = 16,
                  class_names: Sequence[str] | None = None) -> Figure:
    """A grid of up to ``max_images`` misclassified images, titled "true → predicted".

    ``images``: (N, C, H, W) or (N, H, W); ``labels``, ``predictions``: (N,).
    """
    x = _numpy(images)
    y, p = _numpy(labels), _numpy(predictions)
    if x.ndim not in (3, 4) or len(x) != len(y) or len(y) != len(p):
        raise ValueError(f"show_mistakes: expected images (N, C, H, W) or (N, H, W) with N labels and N "
                         f"predictions, got shapes {x.shape}, {y.shape}, {p.shape}.")
    max_images = check_int(max_images, "max_images", "show_mistakes", 1)
    wrong = np.flatnonzero(y != p)[:max_images]
    cols = min(8, max(len(wrong), 1))
    rows = max(math.ceil(len(wrong) / cols), 1)
    fig = figure(max(1.9 * cols, 7.5), 2.1 * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False)
    name = (lambda c: class_names[int(c)]) if class_names is not None else (lambda c: str(int(c)))
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        img, cmap = _as_image(x[i])
        ax.imshow(img, cmap=cmap)
        ax.set_title(f"{name(y[i])} → {name(p[i])}")
    if len(wrong) == 0:
        axes[0, 0].text(0.5, 0.5, "no mistakes", ha="center", va="center")
    fig.suptitle(f"{int((y != p).sum())} of {len(y)} misclassified (true → predicted)")
    return describe(fig, f"{len(wrong)} misclassified images, each titled true → predicted class.")


@projector
def show_filters(weight, max_filters: int = 96) -> Figure:
    """The first layer's filters as small images, one axis per filter.

    ``weight``: (F, C, kH, kW), a tensor or array (e.g. ``model.c1.weight``). One-channel
    filters are drawn in grey on a scale symmetric about 0 (so grey is 0); three-channel filters
    in colour, each rescaled to [0, 1] — as in AlexNet's figure of its 96 conv1 filters.
    """
    w = to_numeric_array(_numpy(weight), "weight", "show_filters", ndim=4, what="(F, C, kH, kW) kernel")
    if w.shape[1] not in (1, 3):
        raise ValueError(f"show_filters: first-layer filters have 1 (grey) or 3 (RGB) channels, "
                         f"got {w.shape[1]}. Pass model.<first conv>.weight.")
    w = w[:check_int(max_filters, "max_filters", "show_filters", 1)]
    cols = min(12, len(w))
    rows = math.ceil(len(w) / cols)
    fig = figure(max(0.9 * cols, 6.0), 0.9 * rows + 0.7)
    axes = fig.subplots(rows, cols, squeeze=False)
    limit = np.abs(w).max() or 1.0
    for ax in axes.flat:
        ax.axis("off")
    for ax, f in zip(axes.flat, w):
        if f.shape[0] == 1:
            ax.imshow(f[0], cmap="gray", vmin=-limit, vmax=limit)
        else:
            ax.imshow(_as_image(f)[0])
    fig.suptitle(f"{len(w)} first-layer filters, {w.shape[2]}×{w.shape[3]}")
    return describe(fig, f"{len(w)} first-layer filters of {w.shape[2]}×{w.shape[3]} pixels as small images.")
