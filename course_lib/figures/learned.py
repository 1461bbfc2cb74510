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

from course_lib.figures.style import COLORS, describe, display_limits, draw_grid, figure, font, projector
from course_lib.visualize import Adversarial, TopPatches, occlusion_positions

__all__ = ["plot_feature_maps", "plot_top_patches", "plot_occlusion", "plot_saliency", "plot_images",
           "plot_adversarial", "adversarial_magnification", "tile_mosaic", "plot_projected_patches",
           "plot_patch_growth", "plot_stochastic_pooling", "plot_contrast_normalization",
           "plot_dropout_and_dropconnect"]


def _display(img: torch.Tensor, lo: float | None = None, hi: float | None = None) -> tuple[np.ndarray, str | None]:
    """(C, H, W) -> something imshow draws, in [0, 1]: one channel in grey, three in colour.
    ``lo`` and ``hi`` (default: the image's own range) become black and white."""
    a = img.detach().float().cpu().numpy()
    lo = float(a.min()) if lo is None else lo
    hi = float(a.max()) if hi is None else hi
    a = np.clip((a - lo) / max(hi - lo, 1e-12), 0, 1)
    return (a[0], "gray") if a.shape[0] == 1 else (np.moveaxis(a, 0, -1), None)


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
    ax_cls.set(xlim=(-0.5, w - 0.5), ylim=(h - 0.5, -0.5), title="most probable class\n(hatched: wrong)")
    _words_not_only_colour(ax_cls, top, label, names, cols.numpy() + patch / 2 - 0.5, rows.numpy() + patch / 2 - 0.5)
    present = np.unique(top)
    bar = fig.colorbar(im2, ax=ax_cls, shrink=0.8, ticks=present)
    bar.ax.set_yticklabels([names[i] for i in present])
    for ax in (ax_img, ax_p, ax_cls):
        ax.set_xticks([])
        ax.set_yticks([])
    return describe(fig, f"Occlusion: the input (true class {names[label]}), the probability of {names[label]} "
                         f"with a {patch}×{patch} square at each position, and the most probable class there, each "
                         "region named in words and the wrong ones hatched.")


def _words_not_only_colour(ax, top: np.ndarray, label: int, names: Sequence[str], xs: np.ndarray,
                           ys: np.ndarray) -> None:
    """Hatch the cells whose class is wrong, outline them, and write each class's name on its
    region (at its cell nearest the region's centre), so the map does not rely on colour."""
    wrong = (top != label).astype(float)
    if wrong.any() and not wrong.all():
        ax.contourf(xs, ys, wrong, levels=[0.5, 1.5], colors="none", hatches=["xx"])
        ax.contour(xs, ys, wrong, levels=[0.5], colors="black", linewidths=1.5)
    for c in np.unique(top):
        r, q = np.nonzero(top == c)
        nearest = np.argmin((r - r.mean()) ** 2 + (q - q.mean()) ** 2)
        ax.text(xs[q[nearest]], ys[r[nearest]], names[c], ha="center", va="center", fontsize=font(),
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="black", alpha=0.85))


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
    image, each titled with the network's prediction and its probability. Both images share one
    grey scale; the magnification is measured against it (:func:`adversarial_magnification`)."""
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(result.original_probs))]
    lo = float(min(result.original.min(), result.adversarial.min()))
    hi = float(max(result.original.max(), result.adversarial.max()))
    biggest = float(result.perturbation.abs().max()) or 1.0
    magnify = adversarial_magnification(biggest, hi - lo)
    fig = figure(12, 4.8)
    axes = fig.subplots(1, 3)
    for ax, img, probs, what in ((axes[0], result.original, result.original_probs, "original"),
                                 (axes[2], result.adversarial, result.adversarial_probs, "adversarial")):
        shown, cmap = _display(img, lo, hi)   # both on the same grey scale
        ax.imshow(shown, cmap=cmap, vmin=0, vmax=1)
        p = int(probs.argmax())
        # Right or wrong is said in words (and marked), not by colour alone.
        verdict = "✓ right" if p == result.label else "✗ wrong"
        ax.set_title(f"{what}: '{names[p]}' ({float(probs[p]):.1%})\n{verdict}",
                     color="black" if p == result.label else COLORS["hi"])
    # On the images' scale a change d is d / (hi - lo) of the grey range; here it is magnified.
    diff = (0.5 + magnify * result.perturbation / (hi - lo)).clamp(0, 1)
    axes[1].imshow(np.moveaxis(diff.numpy(), 0, -1) if diff.shape[0] == 3 else diff[0].numpy(),
                   cmap="gray", vmin=0, vmax=1)
    how = f"magnified × {magnify:.1f}" if magnify > 1 else "not magnified"
    axes[1].set_title(f"difference, {how}\n(grey = no change)")
    for ax in axes:
        ax.set_axis_off()
    p0, p1 = int(result.original_probs.argmax()), int(result.adversarial_probs.argmax())
    return describe(fig, f"An image read as '{names[p0]}', the change ({how} against the images' grey scale; "
                         f"largest change {biggest / (hi - lo):.0%} of it), and the changed image, read as '{names[p1]}'.")


def adversarial_magnification(largest_change: float, grey_range: float) -> float:
    """How much :func:`plot_adversarial` magnifies the difference image: enough for the largest
    change to reach black or white around mid-grey, and never less than 1 (a change as large as
    half the images' grey range is shown as it is).

    >>> adversarial_magnification(0.65, 3.25)   # MNIST, eps = 0.2 of the pixel range: × 2.5
    2.5
    >>> adversarial_magnification(3.0, 3.25)    # a large change is not shrunk
    1.0
    """
    return max(1.0, 0.5 * grey_range / max(largest_change, 1e-12))


# --------------------------------------------------------------------------- a deeper net, layer by layer

def _one_or_three(a: np.ndarray) -> np.ndarray:
    """(k, C, S, S): grey or colour as it is; any other number of channels averaged to grey."""
    return a if a.shape[1] in (1, 3) else a.mean(1, keepdims=True)


def _projection_tiles(projections: torch.Tensor) -> np.ndarray:
    """(k, C, S, S) projections -> (k, S, S[, 3]) in [0, 1]: grey = 0, each tile stretched on its own
    (Zeiler & Fergus did the same: the shapes matter, not the sizes)."""
    a = _one_or_three(projections.detach().float().cpu().numpy())
    scale = np.abs(a).reshape(len(a), -1).max(1).clip(1e-12)[:, None, None, None]
    a = 0.5 + 0.5 * a / scale
    return a[:, 0] if a.shape[1] == 1 else np.moveaxis(a, 1, -1)


def _patch_tiles(patches: torch.Tensor, lo: float, hi: float) -> np.ndarray:
    a = _one_or_three(np.clip((patches.detach().float().cpu().numpy() - lo) / max(hi - lo, 1e-12), 0, 1))
    return a[:, 0] if a.shape[1] == 1 else np.moveaxis(a, 1, -1)


def tile_mosaic(tiles: np.ndarray, cols: int = 3, gap: int = 1) -> np.ndarray:
    """Tiles (k, S, S) or (k, S, S, 3) side by side in rows of ``cols``, ``gap`` white pixels apart.

    >>> tile_mosaic(np.zeros((9, 4, 4))).shape
    (14, 14)
    """
    k, s = tiles.shape[:2]
    rows = -(-k // cols)
    out = np.ones((rows * (s + gap) - gap, cols * (s + gap) - gap, *tiles.shape[3:]))
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        out[r * (s + gap):r * (s + gap) + s, c * (s + gap):c * (s + gap) + s] = tile
    return out


def _limits(portraits) -> tuple[float, float]:
    patches = torch.cat([p.top.patches.flatten() for p in portraits])
    return float(patches.min()), float(patches.max())


@projector
def plot_projected_patches(portraits: Sequence, title: str = "") -> Figure:
    """One layer, Zeiler & Fergus style: for each chosen feature map, the projections of its 9
    strongest units to the pixels (top row) above the image patches they came from (bottom row).

    ``portraits``: :class:`~course_lib.visualize.ProjectedPatches` of one layer.
    """
    lo, hi = _limits(portraits)
    n = len(portraits)
    fig = figure(max(3.0 * n, 6.0), 6.6)
    axes = np.atleast_2d(fig.subplots(2, n, squeeze=False))
    for j, p in enumerate(portraits):
        axes[0, j].imshow(tile_mosaic(_projection_tiles(p.projections)), cmap="gray", vmin=0, vmax=1,
                          interpolation="nearest")
        axes[1, j].imshow(tile_mosaic(_patch_tiles(p.top.patches, lo, hi)), cmap="gray", vmin=0, vmax=1,
                          interpolation="nearest")
        axes[0, j].set_title(f"map {p.channel}\n{p.rule}")
        axes[1, j].set_title(f"map {p.channel}: patches")
        for ax in axes[:, j]:
            ax.set_axis_off()
    s = portraits[0].top.field.size
    fig.suptitle(title or f"{portraits[0].layer}: {s}×{s}-pixel receptive fields")
    return describe(fig, f"For {n} feature maps of {portraits[0].layer}: the {portraits[0].rule} projections of the "
                         f"9 strongest units (top row, grey = 0) and the {s}×{s}-pixel image patches they saw "
                         "(bottom row).")


@projector
def plot_patch_growth(portraits: Sequence, image_size: int) -> Figure:
    """The receptive field grows with depth: one feature map per layer, its top patches (bottom)
    and their projections (top), every layer drawn at the same number of screen inches per pixel,
    with the image's size marked for scale.

    ``portraits``: one :class:`~course_lib.visualize.ProjectedPatches` per layer, shallow to deep.
    """
    lo, hi = _limits(portraits)
    sizes = [p.top.field.size for p in portraits]
    widths = [3 * s + 2 for s in sizes]
    inch = 11.5 / sum(widths)
    fig = figure(12.5, max(2 * inch * max(widths) + 1.9, 4.0))
    axes = fig.subplots(2, len(portraits), width_ratios=widths)
    for j, (p, s) in enumerate(zip(portraits, sizes)):
        for ax, tiles in ((axes[0, j], _projection_tiles(p.projections)),
                          (axes[1, j], _patch_tiles(p.top.patches, lo, hi))):
            mosaic = tile_mosaic(tiles)
            ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1, interpolation="nearest",
                      extent=(0, mosaic.shape[1], mosaic.shape[0], 0))
            top = max(widths)   # same pixel scale in every column: equal y limits
            ax.set(xlim=(0, mosaic.shape[1]), ylim=(top, 0))
            ax.set_axis_off()
        axes[0, j].set_title(f"{p.layer}\n{s}×{s} px")
    axes[1, 0].annotate(f"(each image: {image_size}×{image_size} px)", xy=(0, 1.02), xycoords="axes fraction", fontsize=font())
    return describe(fig, "Top patches and their projections for one feature map of each layer, drawn at one "
                         f"scale: receptive fields of {', '.join(f'{s}' for s in sizes)} pixels, growing with depth.")


# --------------------------------------------------------------------------- layer components of deck 002

@projector
def plot_stochastic_pooling(region: np.ndarray, probabilities: np.ndarray, samples: np.ndarray,
                            expected: float) -> Figure:
    """Stochastic pooling of one region: the activations, their probabilities ``a_i / sum a``,
    how often each value was drawn in training, and the test-time weighted average."""
    region, probabilities, samples = (np.asarray(a, float) for a in (region, probabilities, samples))
    fig = figure(12.5, 4.8)
    ax_a, ax_p, ax_s = fig.subplots(1, 3, width_ratios=[1, 1, 1.5])
    draw_grid(ax_a, region, "activations a_i", fmt="{:.1f}")
    draw_grid(ax_p, probabilities, "p_i = a_i / Σ a", fmt="{:.1f}", vmax=1.0)
    values, counts = np.unique(np.round(samples, 6), return_counts=True)
    bars = ax_s.bar([f"{v:g}" for v in values], counts / len(samples), color=COLORS["a"], hatch="//",
                    edgecolor="black", label="training: share of draws")
    ax_s.bar_label(bars, labels=[f"{c / len(samples):.2f}" for c in counts], fontsize=font())
    ax_s.axhline(0, color="black", lw=0.8)
    ax_s.set(ylim=(0, 1), ylabel="share of draws", xlabel="pooled value s = a_l")
    ax_s.set_title(f"{len(samples):,} draws; test time:\nΣ p_i a_i = {expected:.2f}")
    return describe(fig, f"A pooling region holding {', '.join(f'{v:g}' for v in region[region > 0])} and zeros, "
                         f"probabilities {', '.join(f'{v:.1f}' for v in probabilities[probabilities > 0])}; in "
                         f"{len(samples)} training draws the values appear in about those proportions; at test "
                         f"time the region gives the weighted average {expected:.2f}.")


@projector
def plot_contrast_normalization(image: np.ndarray, subtracted: np.ndarray, normalized: np.ndarray,
                                local_std: Sequence[np.ndarray] = ()) -> Figure:
    """Local contrast normalisation of one grey image: the input, after the subtractive step
    (local mean 0), after the divisive step (local standard deviation 1 wherever there is
    contrast); optionally the local standard deviation before and after, on one colour scale."""
    panels = [(image, "input"), (subtracted, "subtractive:\nlocal mean 0"), (normalized, "divisive:\nlocal std 1")]
    panels += [(m, f"local std\n{'before' if i == 0 else 'after'}") for i, m in enumerate(local_std)]
    fig = figure(3.2 * len(panels), 3.9)
    axes = fig.subplots(1, len(panels))
    top = max([float(np.max(m)) for m in local_std] or [1.0])
    for i, (ax, (img, title)) in enumerate(zip(axes, panels)):
        if i < 3:
            ax.imshow(img, cmap="gray", clim=display_limits(img))
        else:
            shown = ax.imshow(img, cmap="magma", vmin=0, vmax=top)
        ax.set_title(title)
        ax.set_axis_off()
    if local_std:
        fig.colorbar(shown, ax=list(axes[3:]), shrink=0.8)
    return describe(fig, "An image before and after local contrast normalisation: after it, dim and bright, "
                         "faint and strong regions all have about the same local contrast.")


@projector
def plot_dropout_and_dropconnect(inputs: int = 4, outputs: int = 3, p: float = 0.5, seed: int = 0) -> Figure:
    """A fully connected layer three ways: all connections; dropout (whole units dropped, with all
    their connections: marked ×); DropConnect (single connections dropped). Dropped connections
    are drawn dotted and faint, kept ones solid."""
    rng = np.random.default_rng(seed)
    # Exactly the expected number of units dropped (at least one, and one kept): a typical draw.
    unit_kept = np.ones(inputs, bool)
    unit_kept[rng.permutation(inputs)[:min(max(round(p * inputs), 1), inputs - 1)]] = False
    link_kept = rng.random((outputs, inputs)) >= p
    fig = figure(12, 4.4)
    axes = fig.subplots(1, 3)
    x_in, x_out = np.linspace(0, 1, inputs), np.linspace(0.15, 0.85, outputs)
    for ax, title, kept in ((axes[0], "no dropping", np.ones((outputs, inputs), bool)),
                            (axes[1], f"dropout (p = {p:g}):\nunits", np.broadcast_to(unit_kept, (outputs, inputs))),
                            (axes[2], f"DropConnect (p = {p:g}):\nweights", link_kept)):
        for o in range(outputs):
            for i in range(inputs):
                ax.plot([x_in[i], x_out[o]], [0, 1], color="black" if kept[o, i] else "0.7",
                        ls="-" if kept[o, i] else ":", lw=2 if kept[o, i] else 1.2)
        dropped = ax is axes[1]
        for i in range(inputs):
            gone = dropped and not unit_kept[i]
            ax.plot(x_in[i], 0, "X" if gone else "o", ms=16, mfc="white" if gone else COLORS["a"],
                    mec="black", zorder=3)
        ax.plot(x_out, np.ones(outputs), "s", ms=16, mfc=COLORS["b"], mec="black", zorder=3)
        ax.set_title(title)
        ax.set(xlim=(-0.15, 1.15), ylim=(-0.25, 1.2))
        ax.set_axis_off()
    axes[0].text(-0.1, 0, "in", ha="right", va="center", fontsize=font())
    axes[0].text(-0.1, 1, "out", ha="right", va="center", fontsize=font())
    return describe(fig, f"A layer of {inputs} inputs and {outputs} outputs: with all connections; with dropout, "
                         "where a dropped input unit (×) loses all its connections; with DropConnect, where single "
                         "connections are dropped (dotted).")
