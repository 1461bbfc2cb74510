"""Live demos for lectures 6-8: browse LeNet's mistakes and feature maps, the ILSVRC years,
AlexNet's augmentations, a unit's top patches, and the occlusion experiment.

They follow :mod:`course_lib.widgets` (``LiveDemo``): everything expensive — training, feature
maps, occlusion probabilities — is computed before the demo is built and handed in as arrays,
so ``update(**values)`` only indexes them and moves artists drawn once (``set_data``,
``set_height``). ``frame(**values)`` (update + PNG) is what one slider step costs; each stays
well under the lecturers' 50 ms. ``show()`` never waits for a person, so headless runs pass.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .visualize import TopPatches, occlusion_positions
from .widgets import LiveDemo

__all__ = ["ILSVRC_TOP5_ERROR", "HUMAN_TOP5_ERROR", "DigitBrowserDemo", "ILSVRCDemo", "AugmentationDemo",
           "TopPatchesDemo", "OcclusionDemo"]

#: Winning top-5 error (%) of the ImageNet classification challenge, and what won.
ILSVRC_TOP5_ERROR: dict[int, tuple[float, str]] = {
    2010: (28.2, "hand-designed descriptors + SVM"),
    2011: (25.8, "compressed Fisher vectors + SVM"),
    2012: (16.4, "AlexNet: an 8-layer conv net trained on two GPUs"),
    2013: (11.7, "a larger, better-tuned AlexNet variant (ZF Net / Clarifai)"),
    2014: (6.7, "GoogLeNet: 22 layers, 12× fewer parameters than AlexNet"),
    2015: (3.6, "ResNet: 152 layers with residual connections"),
}
#: A trained human annotator's top-5 error on the same task (Russakovsky et al. 2015).
HUMAN_TOP5_ERROR = 5.1


def _numpy(x) -> np.ndarray:
    return x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=float)


def _rgb_or_grey(img: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """(C, H, W) in model units -> (H, W) or (H, W, 3) in [0, 1], with fixed limits lo..hi."""
    out = np.clip((img - lo) / max(hi - lo, 1e-12), 0, 1)
    return out[0] if out.shape[0] == 1 else np.moveaxis(out, 0, -1)


def _off(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _mosaic(tiles: np.ndarray, cols: int, gap: int = 1, fill: float = np.nan) -> np.ndarray:
    """Tiles (n, h, w) or (n, h, w, 3) side by side in rows of ``cols``, ``gap`` pixels apart.

    One image with many tiles draws far faster than many small images, which keeps a frame
    inside the 50 ms budget. NaN gaps show in the colormap's "bad" colour.
    """
    n, h, w = tiles.shape[:3]
    rows = -(-n // cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, *tiles.shape[3:]), fill)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tile
    return out


# ----------------------------------------------------------------------------- lecture 6
class DigitBrowserDemo(LiveDemo):
    """One test digit at a time: the image, the network's probabilities, and its C1 and C3
    feature maps. ``indices`` picks which digits the slider walks through (default: all), and
    ``ids`` are the numbers shown for them (e.g. their positions in the test set).

    ``images`` (N, 28, 28); ``labels`` (N,); ``probs`` (N, K); ``c1`` (N, 6, H, W) and
    ``c3`` (N, 16, h, w) feature maps after ReLU — all precomputed.
    """

    def __init__(self, images, labels, probs, c1, c3, indices: Sequence[int] | None = None,
                 ids: Sequence[int] | None = None):
        super().__init__(10, 4.2)
        self.images, self.labels, self.probs = _numpy(images), np.asarray(labels), _numpy(probs)
        self.c1, self.c3 = _numpy(c1), _numpy(c3)
        self.indices = np.arange(len(self.images)) if indices is None else np.asarray(indices)
        self.ids = np.arange(len(self.images)) if ids is None else np.asarray(ids)
        if len(self.indices) == 0:
            raise ValueError("DigitBrowserDemo: argument 'indices' is empty: there is nothing to browse.")
        grid = self.fig.add_gridspec(3, 10)
        ax_digit, ax_bars = self.fig.add_subplot(grid[0:2, 0:2]), self.fig.add_subplot(grid[2, 0:2])
        self.digit = ax_digit.imshow(self.images[self.indices[0]], cmap="gray", interpolation="nearest")
        self.title = ax_digit.set_title(" ", fontsize=10)
        _off(ax_digit)
        k = self.probs.shape[1]
        self.bars = ax_bars.bar(range(k), np.zeros(k), color="0.6")
        ax_bars.set(ylim=(0, 1), xticks=range(k), yticks=[0, 0.5, 1])
        ax_bars.tick_params(labelsize=7)
        ax_bars.set_title("p(class)", fontsize=8)
        self.maps = []
        for layer, maps, spot, cols in (("C1", self.c1, grid[0, 2:], self.c1.shape[1]), ("C3", self.c3, grid[1:, 2:], 8)):
            top = float(np.percentile(maps.max(axis=(2, 3)), 90)) or 1.0  # same scale for every digit
            ax = self.fig.add_subplot(spot)
            cmap = colormaps["magma"].with_extremes(bad="white")
            image = ax.imshow(_mosaic(maps[0], cols), cmap=cmap, vmin=0, vmax=top, interpolation="nearest")
            self.maps.append((maps, cols, image))
            ax.set_title(f"{layer}: {maps.shape[1]} maps of {maps.shape[2]}×{maps.shape[3]}, after ReLU "
                         "(left to right, top to bottom)", fontsize=8)
            _off(ax)
        self._freeze_layout([self.digit, self.title, *self.bars, *(im for _, _, im in self.maps)])

    def controls(self):
        import ipywidgets as w

        return {"i": w.IntSlider(value=0, min=0, max=len(self.indices) - 1, description="example",
                                 continuous_update=True)}

    def update(self, i: int = 0) -> Figure:
        n = int(self.indices[int(i)])
        p, y = self.probs[n], int(self.labels[n])
        guess = int(p.argmax())
        self.digit.set_data(self.images[n])
        self.title.set_text(f"#{self.ids[n]}: true {y}, read as {guess}")
        self.title.set_color("black" if guess == y else "crimson")
        for c, bar in enumerate(self.bars):
            bar.set_height(p[c])
            bar.set_color("tab:green" if c == y else ("crimson" if c == guess else "0.6"))
        for maps, cols, image in self.maps:
            image.set_data(_mosaic(maps[n], cols))
        self.caption = (f"digit {y} read as <b>{guess}</b> with p = {p[guess]:.2f} "
                        f"(p of the truth: {p[y]:.2f}). C1 maps respond to strokes of one orientation; "
                        f"C3 maps combine them over a wider window.")
        return self.fig


# ----------------------------------------------------------------------------- lecture 7
class ILSVRCDemo(LiveDemo):
    """The ImageNet challenge's winning top-5 error by year; the slider picks a year."""

    def __init__(self):
        super().__init__(7, 3.8)
        ax = self.fig.subplots()
        years = list(ILSVRC_TOP5_ERROR)
        errors = [ILSVRC_TOP5_ERROR[y][0] for y in years]
        ax.plot(years, errors, "o-", color="tab:blue", label="winning entry")
        for y, e in zip(years, errors):
            ax.annotate(f"{e}", (y, e), textcoords="offset points", xytext=(6, 4), fontsize=8)
        ax.axhline(HUMAN_TOP5_ERROR, color="tab:red", ls="--", label=f"a human: {HUMAN_TOP5_ERROR} %")
        ax.axvspan(2011.5, 2015.5, color="tab:orange", alpha=0.08, label="conv nets win")
        ax.set(xlabel="ILSVRC year", ylabel="top-5 error (%)", ylim=(0, 31), xlim=(2009.5, 2015.5),
               title="ImageNet classification: the winning top-5 error")
        ax.legend(fontsize=8, loc="upper right")
        ax.grid(alpha=0.3)
        self.marker, = ax.plot([], [], "o", ms=16, mfc="none", mec="black", mew=2)
        self.label = ax.text(2009.7, 2.0, "", fontsize=9)
        self._freeze_layout([self.marker, self.label])

    def controls(self):
        import ipywidgets as w

        return {"year": w.IntSlider(value=2012, min=2010, max=2015, description="year", continuous_update=True)}

    def update(self, year: int = 2012) -> Figure:
        year = int(year)
        error, what = ILSVRC_TOP5_ERROR[year]
        self.marker.set_data([year], [error])
        self.label.set_text(f"{year}: {what}")
        before = ILSVRC_TOP5_ERROR.get(year - 1)
        change = (f", {before[0] - error:.1f} points below {year - 1} ({(before[0] - error) / before[0]:.0%} fewer errors)"
                  if before else "")
        versus = "better than" if error < HUMAN_TOP5_ERROR else "worse than"
        self.caption = f"<b>{year}</b>: {what}: top-5 error {error} %{change}; {versus} a human's {HUMAN_TOP5_ERROR} %."
        return self.fig


class AugmentationDemo(LiveDemo):
    """AlexNet's augmentations on one image: tick random crop, flip and PCA colour jitter and
    see eight augmented copies (seeds ``seed`` .. ``seed + 7``) beside the original.

    ``images``: (N, 3, H, W) floats in [0, 1]; ``crop`` and ``flip`` and ``colour``: transforms
    from :mod:`course_lib.augment` called as ``t(x, generator)``. The crop's output is shown
    at its own size, so a crop really looks smaller when there is no padding.
    """

    def __init__(self, images, crop, flip, colour):
        super().__init__(8, 3.0)
        self.images = images.float()
        self.crop, self.flip, self.colour = crop, flip, colour
        grid = self.fig.add_gridspec(2, 6)
        ax_orig = self.fig.add_subplot(grid[:, 0:2])
        self.original = ax_orig.imshow(self._show(self.images[0]), interpolation="nearest")
        ax_orig.set_title("original", fontsize=9)
        _off(ax_orig)
        ax_copies = self.fig.add_subplot(grid[:, 2:])
        self.copies = ax_copies.imshow(self._tiles(self.images[0][None].expand(8, -1, -1, -1)),
                                       interpolation="nearest")
        _off(ax_copies)
        self.title = self.fig.suptitle(" ", fontsize=10)
        self._freeze_layout([self.original, self.copies, self.title])

    @staticmethod
    def _show(img: torch.Tensor) -> np.ndarray:
        return np.clip(np.moveaxis(img.numpy(), 0, -1), 0, 1)

    @staticmethod
    def _tiles(batch: torch.Tensor) -> np.ndarray:
        """Eight images (8, 3, h, w) as one 2×4 mosaic, white between them."""
        return _mosaic(np.clip(np.moveaxis(batch.numpy(), 1, -1), 0, 1), 4, fill=1.0)

    def controls(self):
        import ipywidgets as w

        return {"index": w.IntSlider(value=0, min=0, max=len(self.images) - 1, description="image"),
                "crop": w.Checkbox(value=True, description="random crop"),
                "flip": w.Checkbox(value=True, description="flip"),
                "colour": w.Checkbox(value=False, description="PCA colour"),
                "seed": w.IntSlider(value=0, min=0, max=50, description="seed")}

    def update(self, index: int = 0, crop: bool = True, flip: bool = True, colour: bool = False,
               seed: int = 0) -> Figure:
        x = self.images[int(index)][None].expand(8, -1, -1, -1)
        g = torch.Generator().manual_seed(int(seed))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # eight tiny images: waking a thread pool costs more than the work
        try:
            for on, transform in ((crop, self.crop), (flip, self.flip), (colour, self.colour)):
                if on:
                    x = transform(x, g)
        finally:
            torch.set_num_threads(threads)
        self.original.set_data(self._show(self.images[int(index)]))
        tiles = self._tiles(x)
        self.copies.set_data(tiles)
        self.copies.set_extent((-0.5, tiles.shape[1] - 0.5, tiles.shape[0] - 0.5, -0.5))
        used = [n for n, on in (("crop", crop), ("flip", flip), ("colour", colour)) if on] or ["nothing"]
        self.title.set_text(f"8 augmented copies ({' + '.join(used)}), seed {seed}")
        self.caption = ("Each copy keeps the label. The network sees a different version of the image every "
                        "epoch, so it cannot memorise the exact pixels.")
        return self.fig


# ----------------------------------------------------------------------------- lecture 8
class TopPatchesDemo(LiveDemo):
    """Pick a feature map: the 9 dataset patches that excite it most (its receptive field crops).

    ``tops``: one :class:`~course_lib.visualize.TopPatches` per channel (same k for all).
    """

    def __init__(self, tops: Sequence[TopPatches], layer: str = ""):
        super().__init__(4.0, 4.3)
        self.tops, self.layer = list(tops), layer
        patches = torch.stack([t.patches for t in self.tops]).numpy()  # (C, k, c, S, S)
        self.lo, self.hi = float(patches.min()), float(patches.max())
        self.patches = patches
        self.cols = int(np.ceil(np.sqrt(patches.shape[1])))
        ax = self.fig.subplots()
        cmap = colormaps["gray"].with_extremes(bad="tab:orange")
        self.view = ax.imshow(self._tiles(0), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_xlabel("strongest first: left to right, top to bottom", fontsize=8)
        _off(ax)
        self.title = ax.set_title(" ", fontsize=10)
        self._freeze_layout([self.view, self.title])

    def _tiles(self, channel: int) -> np.ndarray:
        tiles = np.stack([_rgb_or_grey(p, self.lo, self.hi) for p in self.patches[channel]])
        return _mosaic(tiles, self.cols, fill=np.nan if tiles.ndim == 3 else 1.0)

    def controls(self):
        import ipywidgets as w

        return {"channel": w.IntSlider(value=0, min=0, max=len(self.tops) - 1, description="feature map")}

    def update(self, channel: int = 0) -> Figure:
        c = int(channel)
        top = self.tops[c]
        self.view.set_data(self._tiles(c))
        s = top.field.size
        k = len(top.activations)
        self.title.set_text(f"{self.layer} map {c}: its top {k} patches ({s}×{s} pixels)")
        values = ", ".join(f"{float(a):.1f}" for a in top.activations)
        images = ", ".join(f"#{int(i)}" for i in top.image_index)
        self.caption = (f"map {c} of {self.layer}: responses {values} (test digits {images}). "
                        "What do the patches share?")
        return self.fig


class OcclusionDemo(LiveDemo):
    """Slide the occluding square: the covered image, p(true class) for every square position
    (a dot marks the current one), and all class probabilities at this position.

    ``image`` (C, H, W) in model units; ``probs`` (P_rows, P_cols, K) from
    :func:`course_lib.visualize.occlusion_probabilities` with the same ``patch``, ``stride``
    and ``fill`` (a number in model units).
    """

    def __init__(self, image: torch.Tensor, probs: torch.Tensor, label: int, patch: int, stride: int,
                 fill: float, class_names: Sequence[str] | None = None):
        super().__init__(9.5, 3.3)
        self.image, self.probs = _numpy(image), _numpy(probs)
        self.label, self.patch, self.fill = int(label), int(patch), float(fill)
        h, w = self.image.shape[1:]
        self.rows, self.cols = occlusion_positions(h, patch, stride).numpy(), occlusion_positions(w, patch, stride).numpy()
        # Limits include the fill, so the square shows as what it is even when it is off the image's range.
        self.lo, self.hi = min(float(self.image.min()), self.fill), max(float(self.image.max()), self.fill)
        k = self.probs.shape[-1]
        self.names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
        ax_img, ax_map, ax_bars = self.fig.subplots(1, 3)
        self.shown = ax_img.imshow(_rgb_or_grey(self.image, self.lo, self.hi), cmap="gray", vmin=0, vmax=1,
                                   interpolation="nearest")
        self.square = ax_img.add_patch(Rectangle((0, 0), patch, patch, fill=False, ec="tab:orange", lw=2))
        ax_img.set_title(f"covered input (true: {self.names[self.label]})", fontsize=9)
        centres_r, centres_c = self.rows + patch / 2 - 0.5, self.cols + patch / 2 - 0.5
        half = stride / 2
        im = ax_map.imshow(self.probs[..., self.label], cmap="viridis", vmin=0, vmax=1,
                           extent=(centres_c[0] - half, centres_c[-1] + half, centres_r[-1] + half, centres_r[0] - half))
        ax_map.set(xlim=(-0.5, w - 0.5), ylim=(h - 0.5, -0.5))
        ax_map.set_title(f"p({self.names[self.label]}) for each square centre", fontsize=9)
        self.fig.colorbar(im, ax=ax_map, shrink=0.8)
        self.dot, = ax_map.plot([], [], "o", ms=9, mfc="none", mec="tab:orange", mew=2)
        for ax in (ax_img, ax_map):
            _off(ax)
        self.bars = ax_bars.bar(range(k), np.zeros(k), color="0.6")
        ax_bars.set(ylim=(0, 1), xticks=range(k), title="p(class), square here")
        ax_bars.set_xticklabels(self.names, rotation=90 if max(map(len, self.names)) > 2 else 0, fontsize=7)
        self.centres = (centres_r, centres_c)
        self._freeze_layout([self.shown, self.square, self.dot, *self.bars])

    def controls(self):
        import ipywidgets as w

        return {"row": w.IntSlider(value=len(self.rows) // 2, min=0, max=len(self.rows) - 1, description="square row"),
                "col": w.IntSlider(value=len(self.cols) // 2, min=0, max=len(self.cols) - 1, description="square col")}

    def update(self, row: int = 0, col: int = 0) -> Figure:
        i, j = int(row), int(col)
        top, left = int(self.rows[i]), int(self.cols[j])
        covered = self.image.copy()
        covered[:, top:top + self.patch, left:left + self.patch] = self.fill
        self.shown.set_data(_rgb_or_grey(covered, self.lo, self.hi))
        self.square.set_xy((left - 0.5, top - 0.5))
        self.dot.set_data([self.centres[1][j]], [self.centres[0][i]])
        p = self.probs[i, j]
        guess = int(p.argmax())
        for c, bar in enumerate(self.bars):
            bar.set_height(p[c])
            bar.set_color("tab:green" if c == self.label else ("crimson" if c == guess else "0.6"))
        self.caption = (f"square at rows {top}-{top + self.patch - 1}, columns {left}-{left + self.patch - 1}: "
                        f"p({self.names[self.label]}) = <b>{p[self.label]:.2f}</b>; the network says "
                        f"<b>{self.names[guess]}</b> ({p[guess]:.2f}).")
        return self.fig
