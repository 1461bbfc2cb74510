"""Figures of lecture 08, for :mod:`course_lib.visualize`: each ``plot_*`` draws one of its results and returns
a ``matplotlib.figure.Figure`` (no ``plt.show()``), so a notebook displays it and a script can
``fig.savefig(...)`` it. Import them from :mod:`course_lib.figures`.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from course_lib.figures.style import COLORS, describe, figure, projector
from course_lib.visualize import Adversarial, TopPatches, occlusion_positions

__all__ = ["plot_feature_maps", "plot_top_patches", "plot_occlusion", "plot_saliency", "plot_images",
           "plot_adversarial"]


def _display(img: torch.Tensor) -> tuple[np.ndarray, str | None]:
    """(C, H, W) -> something imshow draws: one channel in grey, three rescaled to [0, 1]."""
    a = img.detach().float().cpu().numpy()
    if a.shape[0] == 1:
        return a[0], "gray"
    a = np.moveaxis(a, 0, -1)
    return (a - a.min()) / max(a.max() - a.min(), 1e-12), None


def _grid(n: int, cols: int, cell: float = 1.4, title: str = "") -> tuple[Figure, np.ndarray]:
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    # Panels are titled in 12-point type: a cell narrower than about 1.2 inches would crowd them.
    cell = max(cell, 1.2)
    fig = figure(max(cell * cols, 6.0 if title else 0), (cell + 0.3) * rows + (0.5 if title else 0))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes:
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return fig, axes


@projector
def plot_images(images: torch.Tensor, titles: Sequence[str] = (), cols: int = 8, title: str = "") -> Figure:
    """A grid of images (N, C, H, W), each with an optional title."""
    fig, axes = _grid(len(images), cols, 1.7, title)
    for i, (ax, img) in enumerate(zip(axes, images)):
        shown, cmap = _display(img)
        ax.imshow(shown, cmap=cmap)
        if i < len(titles):
            ax.set_title(titles[i])
    return describe(fig, f"A grid of {len(images)} images" + (f": {title}." if title else "."))


@projector
def plot_feature_maps(maps: torch.Tensor, cols: int = 8, title: str = "") -> Figure:
    """One image's feature maps (C, H, W), one panel each; bright = strong response."""
    fig, axes = _grid(len(maps), cols, 1.2, title)
    for c, (ax, m) in enumerate(zip(axes, maps)):
        ax.imshow(m.numpy(), cmap="magma")
        ax.set_title(f"map {c}")
    return describe(fig, f"{len(maps)} feature maps of one image, bright where the response is strong.")


@projector
def plot_top_patches(top: TopPatches, title: str = "") -> Figure:
    """The patches of :func:`top_activating_patches` in a grid (3×3 for k = 9)."""
    fig, axes = _grid(len(top.patches), math.ceil(math.sqrt(len(top.patches))), 1.2, title)
    for ax, patch, a, n in zip(axes, top.patches, top.activations, top.image_index):
        shown, cmap = _display(patch)
        ax.imshow(shown, cmap=cmap)
        ax.set_title(f"#{int(n)}: {float(a):.1f}")
    return describe(fig, f"The {len(top.patches)} image patches that excite one unit most, strongest first.")


@projector
def plot_occlusion(image: torch.Tensor, probs: torch.Tensor, label: int, patch: int, stride: int,
                   class_names: Sequence[str] | None = None) -> Figure:
    """Image, p(true class) under the occluder, and the most probable class, map by map.

    ``probs``: (P_rows, P_cols, K) from :func:`occlusion_probabilities`; each map cell is drawn
    at the centre of its square.
    """
    names = list(class_names) if class_names is not None else [str(i) for i in range(probs.shape[-1])]
    h, w = image.shape[1:]
    rows, cols = occlusion_positions(h, patch, stride), occlusion_positions(w, patch, stride)
    half = stride / 2
    extent = (float(cols[0]) + patch / 2 - half - 0.5, float(cols[-1]) + patch / 2 + half - 0.5,
              float(rows[-1]) + patch / 2 + half - 0.5, float(rows[0]) + patch / 2 - half - 0.5)
    fig = figure(13, 4.6)
    ax_img, ax_p, ax_cls = fig.subplots(1, 3)
    shown, cmap = _display(image)
    ax_img.imshow(shown, cmap=cmap)
    ax_img.set_title(f"input (true class: {names[label]})")
    im = ax_p.imshow(probs[..., label].numpy(), cmap="viridis", vmin=0, vmax=1, extent=extent)
    ax_p.set(xlim=(-0.5, w - 0.5), ylim=(h - 0.5, -0.5), title=f"p({names[label]})\nfor each square centre")
    fig.colorbar(im, ax=ax_p, shrink=0.8)
    top = probs.argmax(-1).numpy()
    k = probs.shape[-1]
    im2 = ax_cls.imshow(top, cmap="tab10" if k <= 10 else "tab20", vmin=-0.5, vmax=max(k, 10) - 0.5,
                        extent=extent, interpolation="nearest")
    ax_cls.set(xlim=(-0.5, w - 0.5), ylim=(h - 0.5, -0.5), title="most probable class")
    present = np.unique(top)
    bar = fig.colorbar(im2, ax=ax_cls, shrink=0.8, ticks=present)
    bar.ax.set_yticklabels([names[i] for i in present])
    for ax in (ax_img, ax_p, ax_cls):
        ax.set_xticks([])
        ax.set_yticks([])
    return describe(fig, f"Occlusion: the input (true class {names[label]}), the probability of {names[label]} "
                         f"with a {patch}×{patch} grey square at each position, and the most probable class there.")


@projector
def plot_saliency(image: torch.Tensor, saliency_map: torch.Tensor, title: str = "") -> Figure:
    """The image, its saliency map, and the map laid over the image."""
    fig = figure(10, 4)
    axes = fig.subplots(1, 3)
    shown, cmap = _display(image)
    axes[0].imshow(shown, cmap=cmap)
    axes[1].imshow(saliency_map.numpy(), cmap="hot")
    axes[2].imshow(shown, cmap=cmap)
    axes[2].imshow(saliency_map.numpy(), cmap="hot", alpha=0.6)
    for ax, t in zip(axes, ("input", "saliency\n|∂score/∂pixel|", "overlay")):
        ax.set_title(t)
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return describe(fig, "An image, its saliency map (bright: pixels that change the class score most), and the "
                         "map laid over the image" + (f": {title}." if title else "."))


@projector
def plot_adversarial(result: Adversarial, class_names: Sequence[str] | None = None) -> Figure:
    """Original, the difference magnified until it is visible (grey = 0), and the adversarial
    image, each titled with the network's prediction and its probability."""
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(result.original_probs))]
    biggest = float(result.perturbation.abs().max()) or 1.0
    magnify = 0.5 / biggest  # the largest change becomes black or white
    fig = figure(12, 4.8)
    axes = fig.subplots(1, 3)
    for ax, img, probs, what in ((axes[0], result.original, result.original_probs, "original"),
                                 (axes[2], result.adversarial, result.adversarial_probs, "adversarial")):
        shown, cmap = _display(img)
        ax.imshow(shown, cmap=cmap)
        p = int(probs.argmax())
        # Right or wrong is said in words (and marked), not by colour alone.
        verdict = "✓ right" if p == result.label else "✗ wrong"
        ax.set_title(f"{what}: '{names[p]}' ({float(probs[p]):.1%})\n{verdict}",
                     color="black" if p == result.label else COLORS["hi"])
    diff = (0.5 + magnify * result.perturbation).clamp(0, 1)
    axes[1].imshow(np.moveaxis(diff.numpy(), 0, -1) if diff.shape[0] == 3 else diff[0].numpy(),
                   cmap="gray", vmin=0, vmax=1)
    axes[1].set_title(f"difference × {magnify:.3g}, grey = 0\n(max |Δ| = {biggest:.3g})")
    for ax in axes:
        ax.set_axis_off()
    p0, p1 = int(result.original_probs.argmax()), int(result.adversarial_probs.argmax())
    return describe(fig, f"An image read as '{names[p0]}', the tiny change (magnified {magnify:.3g} times), and the "
                         f"changed image, read as '{names[p1]}'.")
