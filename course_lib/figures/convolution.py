"""Static figures of lectures 01-03: convolution three ways, the filter gallery, receptive fields, im2col.

The numbers come from :mod:`course_lib.conv`; these functions only draw them.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
from matplotlib.figure import Figure

from course_lib import conv
from course_lib.figures.style import (COLORS, describe, display_limits, draw_grid, draw_stems, equation,
                                      figure, projector, window_box)

__all__ = ["GALLERY_KERNELS", "translate_and_scale_1d", "conv_matrix_1d_figure", "translate_and_scale_2d",
           "flip_and_filter_2d", "filter_image", "filter_gallery", "receptive_fields", "im2col_figure"]

# The filters of the lecture-2 gallery, as written on the slides (not normalised: the
# figures rescale each result for display, so only the shape of the kernel matters).
GALLERY_KERNELS: dict[str, np.ndarray] = {
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], float),
    "blur": np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], float),
    "sharpen": np.array([[0, -1, 0], [-1, 8, -1], [0, -1, 0]], float),
    "Laplacian": np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], float),
    "Sobel (vertical edges)": np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], float),
    "box blur": np.full((3, 3), 1 / 9),
}


# ----------------------------------------------------------------------------- lecture 1
@projector
def translate_and_scale_1d(a, b) -> Figure:
    """(a * b) as the sum of copies of ``b``, each shifted by k and scaled by ``a[k]``."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    result = conv.conv1d_translate_scale(a, b)
    n = len(result)
    fig = figure(7.5, 1.25 * (len(a) + 3))
    axes = fig.subplots(len(a) + 3, 1, sharex=True)
    draw_stems(axes[0], np.arange(len(a)), a, COLORS["a"])
    axes[0].set_title(f"a = {a.tolist()}", loc="left")
    draw_stems(axes[1], np.arange(len(b)), b, COLORS["b"])
    axes[1].set_title(f"b = {b.tolist()}", loc="left")
    for k, ak in enumerate(a):
        term = np.zeros(n)
        term[k:k + len(b)] = ak * b
        draw_stems(axes[k + 2], np.arange(n), term, "0.35")
        axes[k + 2].set_title(f"a[{k}] = {ak:g} times b shifted right by {k}", loc="left")
    draw_stems(axes[-1], np.arange(n), result, COLORS["out"])
    axes[-1].set_title(f"sum of the rows above: a * b = {result.tolist()}", loc="left")
    axes[-1].set_xticks(np.arange(n))
    axes[-1].set_xlabel("t")
    for ax in axes:
        ax.set_xlim(-0.6, n - 0.4)
        ax.margins(y=0.25)
    return describe(fig, f"Stem plots: a = {a.tolist()}, b = {b.tolist()}, each copy of b shifted by k and "
                         f"scaled by a[k], and their sum a * b = {result.tolist()}.")


@projector
def conv_matrix_1d_figure(a, b) -> Figure:
    """The Toeplitz matrix of ``b`` times the vector ``a`` equals ``a * b``."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    matrix = conv.conv_matrix_1d(b, len(a), mode="full")
    shown = np.where(matrix == 0, np.nan, matrix)  # blank zeros make the diagonals stand out
    return equation([shown, "×", a[:, None], "=", matrix @ a[:, None]],
                    ["Toeplitz matrix of b", None, "a", None, "a * b"])


# ----------------------------------------------------------------------------- lecture 2
@projector
def translate_and_scale_2d(A, B) -> Figure:
    """(A * B) as copies of ``A`` shifted by (s, t) and scaled by ``B[s, t]`` (zeros skipped)."""
    A, B = np.asarray(A, float), np.asarray(B, float)
    out_shape = (A.shape[0] + B.shape[0] - 1, A.shape[1] + B.shape[1] - 1)
    terms: list = []
    titles: list = []
    for (s, t), weight in np.ndenumerate(B):
        if weight == 0:
            continue
        copy = np.full(out_shape, np.nan)
        copy[s:s + A.shape[0], t:t + A.shape[1]] = A
        terms += ["+" if terms else "", copy]
        titles += [None, f"{weight:g} × A shifted ({s},{t})"]
    terms[0] = ""
    result = conv.conv2d_translate_scale(A, B, mode="full")
    return equation(terms[1:] + ["=", result], titles[1:] + [None, "A * B"])


@projector
def flip_and_filter_2d(A, B, i: int, j: int) -> Figure:
    """Output (i, j) of the full convolution: the flipped ``B`` laid over zero-padded ``A``."""
    A, B = np.asarray(A, float), np.asarray(B, float)
    kh, kw = B.shape
    padded = np.full((A.shape[0] + 2 * (kh - 1), A.shape[1] + 2 * (kw - 1)), np.nan)
    padded[kh - 1:kh - 1 + A.shape[0], kw - 1:kw - 1 + A.shape[1]] = A
    window = np.nan_to_num(padded[i:i + kh, j:j + kw])
    flipped = B[::-1, ::-1]
    result = conv.conv2d_flip_filter(A, B, mode="full")
    fig = figure(11, 3.2)
    axes = fig.subplots(1, 4, width_ratios=[padded.shape[1], kw, kw, result.shape[1]])
    draw_grid(axes[0], padded, "A, zero-padded")
    axes[0].add_patch(window_box(i, j, kh, kw))
    draw_grid(axes[1], flipped, "B flipped")
    draw_grid(axes[2], window * flipped, f"products, sum {np.sum(window * flipped):g}")
    draw_grid(axes[3], result, f"A * B, entry ({i},{j})")
    axes[3].add_patch(window_box(i, j, 1, 1))
    return describe(fig, f"Entry ({i},{j}) of the full convolution A * B: the flipped B over the zero-padded A, "
                         f"the products, and their sum {np.sum(window * flipped):g}.")


def filter_image(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve a grey image (H, W) with a small kernel, keeping its size ("same" mode).

    >>> filter_image(np.ones((3, 3)), GALLERY_KERNELS["Laplacian"])  # zero inside, edges show
    array([[2., 1., 2.],
           [1., 0., 1.],
           [2., 1., 2.]])
    """
    return conv.conv2d_translate_scale(image, kernel, mode="same")


@projector
def filter_gallery(image: np.ndarray, kernels: Mapping[str, np.ndarray] = GALLERY_KERNELS,
                   columns: int = 3) -> Figure:
    """One panel per kernel: the photo convolved with it, the kernel written in the title."""
    rows = -(-len(kernels) // columns)
    fig = figure(3.6 * columns, 4.2 * rows)
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax, (name, kernel) in zip(axes, kernels.items()):
        out = filter_image(image, kernel)
        ax.imshow(out, cmap="gray", clim=display_limits(out))
        rows_txt = "\n".join(" ".join(f"{v:5.2g}" for v in row) for row in kernel)
        ax.set_title(f"{name}\n{rows_txt}", family="monospace")
    for ax in axes:
        ax.axis("off")
    return fig


# ----------------------------------------------------------------------------- lecture 3
@projector
def receptive_fields(n_layers: int = 3, kernel_size: int = 3, stride: int = 1,
                     width: int = 13) -> Figure:
    """Units of a 1-D conv stack; the inputs that feed one top unit are highlighted.

    The receptive field after layer L is r_L = r_{L-1} + (kernel_size - 1) * stride**(L-1).
    """
    fig = figure(9, 1.2 * (n_layers + 1) + 0.6)
    ax = fig.subplots()
    centre = {n_layers: [0]}
    for layer in range(n_layers, 0, -1):  # walk down from the top unit
        step = stride ** (layer - 1)
        centre[layer - 1] = sorted({c + (k - kernel_size // 2) * step
                                    for c in centre[layer] for k in range(kernel_size)})
        for c in centre[layer]:
            for k in range(kernel_size):
                ax.plot([c, c + (k - kernel_size // 2) * step], [layer, layer - 1],
                        color=COLORS["a"], lw=1)
    for layer in range(n_layers + 1):
        spacing = stride ** layer
        xs = np.arange(-(width // 2), width // 2 + 1) * 1.0
        xs = xs[np.abs(xs) % spacing == 0] if layer else xs
        lit = np.isin(xs, centre[layer])
        # Lit units: large filled dots; the others: small hollow rings (not told by colour alone).
        ax.scatter(xs[lit], np.full(lit.sum(), layer), s=90, c=COLORS["hi"], zorder=3)
        ax.scatter(xs[~lit], np.full((~lit).sum(), layer), s=40, facecolors="none", edgecolors="0.5", zorder=3)
        label = "input" if layer == 0 else f"layer {layer}"
        ax.text(-(width // 2) - 1, layer, f"{label}: {lit.sum()} lit", ha="right", va="center")
    ax.set_title(f"{n_layers} layers of size-{kernel_size} kernels, stride {stride}: "
                 f"one top unit sees {len(centre[0])} inputs")
    ax.axis("off")
    ax.set_xlim(-(width // 2) - 4, width // 2 + 1)
    return describe(fig, f"{n_layers} stacked 1-D conv layers (kernel {kernel_size}, stride {stride}); the "
                         f"{len(centre[0])} inputs that feed one top unit are drawn as large filled dots.")


@projector
def im2col_figure(x: np.ndarray, kernel_size: int) -> Figure:
    """A small 1-channel image and its im2col matrix: one column per output position."""
    cols = conv.im2col(x[None, None], kernel_size)
    cols = cols.reshape(-1, cols.shape[-1]) if cols.ndim == 3 else cols
    fig = figure(3.0 + 0.5 * cols.shape[1], 0.5 * cols.shape[0] + 1.4)
    axes = fig.subplots(1, 2, width_ratios=[x.shape[1], cols.shape[1]])
    draw_grid(axes[0], x, "input x", cmap="Pastel1")
    draw_grid(axes[1], cols, f"im2col: {cols.shape[0]} rows × {cols.shape[1]} columns",
              cmap="Pastel1")
    return fig
