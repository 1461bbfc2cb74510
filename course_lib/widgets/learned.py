"""Live demos of lecture 08: a unit's top-activating patches, the occlusion experiment, and the
top patches with their projections for every layer of a deeper net.

Each demo is a :class:`~course_lib.widgets.base.LiveDemo`: ``update(**values)`` moves artists drawn once,
``show()`` wraps it in ipywidgets.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from course_lib.visualize import ProjectedPatches, TopPatches, occlusion_positions
from course_lib.figures.learned import _patch_tiles, _projection_tiles, tile_mosaic
from course_lib.figures.style import COLORS
from course_lib.widgets.base import LiveDemo, _class_bars, _mark_classes, _mosaic, _numpy, _off, _rgb_or_grey

__all__ = ["TopPatchesDemo", "OcclusionDemo", "DeepPatchesDemo"]


class TopPatchesDemo(LiveDemo):
    """Pick a feature map: the 9 dataset patches that excite it most (its receptive field crops).

    ``tops``: one :class:`~course_lib.visualize.TopPatches` per channel (same k for all).
    """

    def __init__(self, tops: Sequence[TopPatches], layer: str = ""):
        super().__init__(5.2, 5.4)
        self.tops, self.layer = list(tops), layer
        patches = torch.stack([t.patches for t in self.tops]).numpy()  # (C, k, c, S, S)
        self.lo, self.hi = float(patches.min()), float(patches.max())
        self.patches = patches
        self.cols = int(np.ceil(np.sqrt(patches.shape[1])))
        ax = self.fig.subplots()
        cmap = colormaps["gray"].with_extremes(bad=COLORS["b"])
        self.view = ax.imshow(self._tiles(0), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_xlabel("strongest first: left to right, top to bottom")
        _off(ax)
        self.title = ax.set_title(" ")
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
        super().__init__(12, 4.6)
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
        self.square = ax_img.add_patch(Rectangle((0, 0), patch, patch, fill=False, ec=COLORS["b"], lw=2.5, ls="--"))
        ax_img.set_title(f"covered input\n(true: {self.names[self.label]})")
        centres_r, centres_c = self.rows + patch / 2 - 0.5, self.cols + patch / 2 - 0.5
        half = stride / 2
        im = ax_map.imshow(self.probs[..., self.label], cmap="viridis", vmin=0, vmax=1,
                           extent=(centres_c[0] - half, centres_c[-1] + half, centres_r[-1] + half, centres_r[0] - half))
        ax_map.set(xlim=(-0.5, w - 0.5), ylim=(h - 0.5, -0.5))
        ax_map.set_title(f"p({self.names[self.label]})\nfor each square centre")
        self.fig.colorbar(im, ax=ax_map, shrink=0.8)
        self.dot, = ax_map.plot([], [], "o", ms=9, mfc="none", mec=COLORS["b"], mew=2.5)
        for ax in (ax_img, ax_map):
            _off(ax)
        self.bars = _class_bars(ax_bars, k, self.names)
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
        _mark_classes(self.bars, p, self.label, guess)
        self.caption = (f"square at rows {top}-{top + self.patch - 1}, columns {left}-{left + self.patch - 1}: "
                        f"p({self.names[self.label]}) = <b>{p[self.label]:.2f}</b>; the network says "
                        f"<b>{self.names[guess]}</b> ({p[guess]:.2f}, {'right' if guess == self.label else 'wrong'}).")
        return self.fig


class DeepPatchesDemo(LiveDemo):
    """Pick a layer and one of its feature maps: the projections of its 9 strongest units to the
    pixels (left) and the image patches they came from (right), every layer drawn at the same
    pixel scale, so the receptive field grows as you go deeper.

    ``portraits``: ``{layer name: [ProjectedPatches, ...]}`` from
    :func:`course_lib.visualize.projected_top_patches`, shallow to deep, the same number of maps
    for every layer.
    """

    def __init__(self, portraits: dict[str, Sequence[ProjectedPatches]]):
        super().__init__(11, 6.2)
        self.layers = list(portraits)
        self.portraits = {name: list(p) for name, p in portraits.items()}
        everything = [p for ps in self.portraits.values() for p in ps]
        patches = torch.cat([p.top.patches.flatten() for p in everything])
        self.lo, self.hi = float(patches.min()), float(patches.max())
        self.largest = max(3 * p.top.field.size + 2 for p in everything)
        self.axes = self.fig.subplots(1, 2)
        cmap = colormaps["gray"]
        self.views = [ax.imshow(np.ones((2, 2)), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
                      for ax in self.axes]
        for ax, what in zip(self.axes, ("projections to the pixels (grey = 0)", "top 9 image patches")):
            ax.set(xlim=(0, self.largest), ylim=(self.largest, 0))
            ax.set_xlabel(what)
            _off(ax)
        self.title = self.fig.suptitle(" ")
        self._freeze_layout([*self.views, self.title])

    def controls(self):
        import ipywidgets as w

        count = len(self.portraits[self.layers[0]])
        return {"layer": w.SelectionSlider(options=self.layers, value=self.layers[0], description="layer"),
                "index": w.IntSlider(value=0, min=0, max=count - 1, description="feature map #")}

    def update(self, layer: str | None = None, index: int = 0) -> Figure:
        layer = self.layers[0] if layer is None else layer
        p = self.portraits[layer][int(index)]
        for view, tiles in zip(self.views, (_projection_tiles(p.projections),
                                            _patch_tiles(p.top.patches, self.lo, self.hi))):
            mosaic = tile_mosaic(tiles)
            view.set_data(mosaic)
            view.set_extent((0, mosaic.shape[1], mosaic.shape[0], 0))
        s = p.top.field.size
        self.title.set_text(f"{layer}, map {p.channel}: {s}×{s}-pixel receptive field")
        values = ", ".join(f"{float(a):.1f}" for a in p.top.activations)
        self.caption = (f"{layer}, map {p.channel}: each unit sees {s}×{s} pixels. Responses {values}. "
                        "What do the bright parts of the projections share?")
        return self.fig
