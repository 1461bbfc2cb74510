"""Live demos of lectures 06-07: LeNet's digits and feature maps, the ILSVRC years, AlexNet's augmentations.

Each demo is a :class:`~course_lib.widgets.base.LiveDemo`: ``update(**values)`` moves artists drawn once,
``show()`` wraps it in ipywidgets.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure

from course_lib.figures.style import COLORS
from course_lib.widgets.base import LiveDemo, _class_bars, _mark_classes, _mosaic, _numpy, _off

__all__ = ["ILSVRC_TOP5_ERROR", "HUMAN_TOP5_ERROR", "DigitBrowserDemo", "ILSVRCDemo", "AugmentationDemo"]


#: Winning top-5 error (%) of the ImageNet classification challenge, and what won.
ILSVRC_TOP5_ERROR: dict[int, tuple[float, str]] = {
    2010: (28.2, "hand-designed descriptors + SVM"),
    2011: (25.8, "compressed Fisher vectors + SVM"),
    2012: (16.4, "AlexNet: an 8-layer conv net trained on two GPUs"),
    2013: (11.7, "a larger, better-tuned AlexNet variant (ZF Net / Clarifai)"),
    2014: (6.7, "GoogLeNet: 22 layers, 9× fewer parameters than AlexNet"),
    2015: (3.6, "ResNet: 152 layers with residual connections"),
}
#: A trained human annotator's top-5 error on the same task (Russakovsky et al. 2015).
HUMAN_TOP5_ERROR = 5.1


class DigitBrowserDemo(LiveDemo):
    """One test digit at a time: the image, the network's probabilities, and its C1 and C3
    feature maps. ``indices`` picks which digits the slider walks through (default: all), and
    ``ids`` are the numbers shown for them (e.g. their positions in the test set).

    ``images`` (N, 28, 28); ``labels`` (N,); ``probs`` (N, K); ``c1`` (N, 6, H, W) and
    ``c3`` (N, 16, h, w) feature maps after ReLU — all precomputed.
    """

    def __init__(self, images, labels, probs, c1, c3, indices: Sequence[int] | None = None,
                 ids: Sequence[int] | None = None):
        super().__init__(11, 5.6)
        self.images, self.labels, self.probs = _numpy(images), np.asarray(labels), _numpy(probs)
        self.c1, self.c3 = _numpy(c1), _numpy(c3)
        self.indices = np.arange(len(self.images)) if indices is None else np.asarray(indices)
        self.ids = np.arange(len(self.images)) if ids is None else np.asarray(ids)
        if len(self.indices) == 0:
            raise ValueError("DigitBrowserDemo: argument 'indices' is empty: there is nothing to browse.")
        grid = self.fig.add_gridspec(2, 2, width_ratios=[1, 3.2], height_ratios=[1.2, 1])
        ax_digit, ax_bars = self.fig.add_subplot(grid[0, 0]), self.fig.add_subplot(grid[1, 0])
        self.digit = ax_digit.imshow(self.images[self.indices[0]], cmap="gray", interpolation="nearest")
        self.title = ax_digit.set_title(" \n ")  # two lines, as in every frame: the layout keeps room
        _off(ax_digit)
        self.bars = _class_bars(ax_bars, self.probs.shape[1])
        self.maps = []
        for layer, maps, spot, cols in (("C1", self.c1, grid[0, 1], self.c1.shape[1]), ("C3", self.c3, grid[1, 1], 8)):
            top = float(np.percentile(maps.max(axis=(2, 3)), 90)) or 1.0  # same scale for every digit
            ax = self.fig.add_subplot(spot)
            cmap = colormaps["magma"].with_extremes(bad="white")
            image = ax.imshow(_mosaic(maps[0], cols), cmap=cmap, vmin=0, vmax=top, interpolation="nearest")
            self.maps.append((maps, cols, image))
            ax.set_title(f"{layer}: {maps.shape[1]} maps of {maps.shape[2]}×{maps.shape[3]} after ReLU")
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
        verdict = "✓ right" if guess == y else "✗ wrong"
        self.title.set_text(f"#{self.ids[n]}: true {y},\nread as {guess} {verdict}")
        _mark_classes(self.bars, p, y, guess)
        for maps, cols, image in self.maps:
            image.set_data(_mosaic(maps[n], cols))
        self.caption = (f"digit {y} read as <b>{guess}</b> ({'right' if guess == y else 'wrong'}) with p = {p[guess]:.2f} "
                        f"(p of the truth: {p[y]:.2f}). C1 maps respond to strokes of one orientation; "
                        f"C3 maps combine them over a wider window.")
        return self.fig


# ----------------------------------------------------------------------------- lecture 7
class ILSVRCDemo(LiveDemo):
    """The ImageNet challenge's winning top-5 error by year; the slider picks a year."""

    def __init__(self):
        super().__init__(8.5, 4.8)
        ax = self.fig.subplots()
        years = list(ILSVRC_TOP5_ERROR)
        errors = [ILSVRC_TOP5_ERROR[y][0] for y in years]
        ax.plot(years, errors, "o-", color=COLORS["a"], label="winning entry")
        for y, e in zip(years, errors):
            ax.annotate(f"{e}", (y, e), textcoords="offset points", xytext=(6, 4))
        ax.axhline(HUMAN_TOP5_ERROR, color=COLORS["hi"], ls="--", label=f"a human: {HUMAN_TOP5_ERROR} %")
        ax.axvspan(2011.5, 2015.5, facecolor=COLORS["b"], alpha=0.12, hatch="..", edgecolor="0.6", lw=0,
                   label="conv nets win")
        ax.set(xlabel="ILSVRC year", ylabel="top-5 error (%)", ylim=(0, 31), xlim=(2009.5, 2015.5),
               title="ImageNet: the winning top-5 error")
        ax.legend(loc="upper right")
        ax.grid(alpha=0.3)
        self.marker, = ax.plot([], [], "o", ms=16, mfc="none", mec="black", mew=2)
        self.label = ax.text(2009.7, 2.0, "")
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
        super().__init__(9, 3.8)
        self.images = images.float()
        self.crop, self.flip, self.colour = crop, flip, colour
        grid = self.fig.add_gridspec(2, 6)
        ax_orig = self.fig.add_subplot(grid[:, 0:2])
        self.original = ax_orig.imshow(self._show(self.images[0]), interpolation="nearest")
        ax_orig.set_title("original")
        _off(ax_orig)
        ax_copies = self.fig.add_subplot(grid[:, 2:])
        self.copies = ax_copies.imshow(self._tiles(self.images[0][None].expand(8, -1, -1, -1)),
                                       interpolation="nearest")
        _off(ax_copies)
        self.title = self.fig.suptitle(" ")
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
