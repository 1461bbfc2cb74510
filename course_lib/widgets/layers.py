"""Live demos of lecture 03: the output size of a conv layer, and translation equivariance.

Each demo is a :class:`~course_lib.widgets.base.LiveDemo`: ``update(**values)`` moves artists drawn once,
``show()`` wraps it in ipywidgets.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from functools import cache

from matplotlib.collections import LineCollection, PathCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.textpath import TextPath
from matplotlib.transforms import Affine2D, blended_transform_factory

from course_lib import conv
from course_lib.figures.style import COLORS, PAD_HATCH, display_limits, font
from course_lib.widgets.base import LiveDemo, _slider

__all__ = ["OutputSizeDemo", "EquivarianceDemo", "shift_image"]


@cache
def _glyphs(text: str, points: float, align: str = "center"):
    """``text`` as one outline path, ``points`` high, centred (or right-aligned) on (0, 0).

    Up to 44 labels move every frame; as Text artists they took most of the 50 ms budget,
    as one collection of cached outlines they cost a millisecond or two.
    """
    path = TextPath((0, 0), text, size=points)
    box = path.get_extents()
    x = -box.x1 if align == "right" else -(box.x0 + box.x1) / 2
    return Affine2D().translate(x, -points * 0.36).transform_path(path)


class OutputSizeDemo(LiveDemo):
    """Which (padded) input cells each output position reads, and the output-size formula.

    Top row: the padded input, one cell per position, numbered with its input index (padding
    cells are grey *and* hatched, numbered −p … −1 and n … n + p − 1). Below it, one row per
    output ``y[o]``, numbered from 0: the k cells its window reads (filled) joined by a line
    over the cells it spans (holes included, for dilation). Count the rows: that is the
    output size.
    """

    LIMITS = {"n": (1, 16), "kernel_size": (1, 7), "stride": (1, 4), "padding": (0, 3),
              "dilation": (1, 3), "in_channels": (1, 64), "out_channels": (1, 64)}

    def __init__(self):
        super().__init__(7.2, 5.4)
        # Fixed margins instead of constrained layout: the limits change with every slider
        # value, and the row labels sit in the left margin.
        self.fig.set_layout_engine("none")
        self.ax = ax = self.fig.add_axes((0.1, 0.02, 0.88, 0.86))
        ax.set_axis_off()
        self.inputs = ax.add_collection(PolyCollection([], facecolor="#cfe3f3", edgecolor="0.2", linewidth=1.2))
        self.pads = ax.add_collection(PolyCollection([], facecolor="0.85", edgecolor="0.2", linewidth=1.2,
                                                     hatch=PAD_HATCH))
        self.windows = ax.add_collection(PolyCollection([], facecolor=COLORS["a"], edgecolor="0.1",
                                                        linewidth=1.0))
        self.spans = ax.add_collection(LineCollection([], color="0.25", linewidth=2))
        points = self.fig.dpi / 72  # glyph outlines are in points
        left = blended_transform_factory(ax.transAxes, ax.transData)
        self.number_halo, self.number_glyphs, self.label_glyphs = (ax.add_collection(PathCollection(
            [], offsets=np.zeros((0, 2)), offset_transform=where, transform=Affine2D().scale(points), **look))
            for where, look in ((ax.transData, dict(facecolor="none", edgecolor="white", linewidth=3)),
                                (ax.transData, dict(facecolor="black", edgecolor="none")),
                                (left, dict(facecolor="black", edgecolor="none"))))
        self.label_glyphs.set_clip_on(False)  # the row labels sit in the left margin
        self.numbers: list[str] = []  # the cells' numbers, left to right, as drawn
        self.row_labels: list[str] = []  # "input x", then "y[0]", "y[1]", ... top to bottom
        self.title = self.fig.suptitle(" ")
        self._freeze_layout([self.inputs, self.pads, self.windows, self.spans, self.number_halo,
                             self.number_glyphs, self.label_glyphs, self.title])

    @staticmethod
    def _squares(xs, y: float, half: float = 0.42) -> list:
        return [[(x - half, y - half), (x + half, y - half), (x + half, y + half), (x - half, y + half)]
                for x in xs]

    def controls(self) -> dict[str, Any]:
        defaults = {"n": 7, "kernel_size": 3, "stride": 1, "padding": 0, "dilation": 1,
                    "in_channels": 3, "out_channels": 8}
        return {k: _slider(defaults[k], *self.LIMITS[k], k) for k in defaults}

    def update(self, n: int = 7, kernel_size: int = 3, stride: int = 1, padding: int = 0,
               dilation: int = 1, in_channels: int = 3, out_channels: int = 8) -> Figure:
        width = n + 2 * padding
        reach = dilation * (kernel_size - 1) + 1  # cells one window spans, holes included
        try:
            out = conv.conv_output_size(n, kernel_size, stride, padding, dilation)
        except ValueError:
            out = 0
        # Positions on the axis: padded cell j at x = j, so input cell i at x = i + padding.
        xs = np.arange(width)
        is_pad = (xs < padding) | (xs >= padding + n)
        self.inputs.set_verts(self._squares(xs[~is_pad], 0))
        self.pads.set_verts(self._squares(xs[is_pad], 0))
        size = font()
        self.numbers = [f"{x - padding}" for x in xs]
        numbers = [_glyphs(t, size) for t in self.numbers]
        self.number_halo.set_paths(numbers)
        self.number_glyphs.set_paths(numbers)
        for glyphs in (self.number_halo, self.number_glyphs):
            glyphs.set_offsets(np.column_stack([xs, np.zeros(width)]))
        self.window_cells = [o * stride + dilation * np.arange(kernel_size) for o in range(out)]
        rows = 1.3 + np.arange(out)  # a gap between the input and the windows
        self.windows.set_verts([sq for o, cells in enumerate(self.window_cells)
                                for sq in self._squares(cells, rows[o], 0.36)])
        self.spans.set_segments([[(cells[0], rows[o]), (cells[-1], rows[o])]
                                 for o, cells in enumerate(self.window_cells)])
        self.row_labels = ["input x"] + [f"y[{o}]" for o in range(out)]
        self.label_glyphs.set_paths([_glyphs(t, size, "right") for t in self.row_labels])
        self.label_glyphs.set_offsets(np.column_stack([np.full(out + 1, -0.012), np.r_[0, rows]]))
        self.ax.set_xlim(-0.6, max(width, 4) - 0.4)
        self.ax.set_ylim(max(out + 0.9, 3), -0.6)

        outputs = f"{out} output{'' if out == 1 else 's'}"
        inputs = f"{n} input{'' if n == 1 else 's'}"
        pads = f" + {padding} padding cell{'' if padding == 1 else 's'} on each side" if padding else ""
        formula = (f"⌊(n + 2p − d(k − 1) − 1) / s⌋ + 1 = ⌊({n} + {2 * padding} − "
                   f"{dilation * (kernel_size - 1)} − 1) / {stride}⌋ + 1")
        if out == 0:
            self.title.set_text(f"no output: a window spans {reach} cells, the padded input has {width}")
            self.caption = (f"{inputs}{pads}: output size {formula} &lt; 1: <b>no output</b>. "
                            "Pad more or use a smaller kernel.")
            return self.fig
        self.title.set_text(f"{outputs} from {inputs}; each window spans {reach} cell{'' if reach == 1 else 's'}")
        weights = out_channels * in_channels * kernel_size ** 2
        self.caption = (f"{inputs}{pads}, kernel {kernel_size}, stride {stride}, dilation {dilation}: "
                        f"output size {formula} = <b>{out}</b>, so {outputs}, "
                        + (f"y[0] … y[{out - 1}]. " if out > 1 else "y[0]. ")
                        + f"For a {n}×{n}×{in_channels} input the layer gives {out}×{out}×{out_channels}, "
                        f"with weights of shape ({out_channels}, {in_channels}, {kernel_size}, {kernel_size}): "
                        f"{weights:,} weights + {out_channels} biases.")
        return self.fig


def shift_image(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Move an image (..., H, W) down by ``dy`` and right by ``dx`` pixels; uncovered pixels become 0.

    >>> shift_image(np.arange(1, 5).reshape(2, 2), 0, 1)
    array([[0, 1],
           [0, 3]])
    """
    out = np.zeros_like(x)
    h, w = x.shape[-2:]
    out[..., dy:, dx:] = x[..., :h - dy, :w - dx]
    return out


class EquivarianceDemo(LiveDemo):
    """Shift the input of a conv layer: its feature map shifts by the same amount."""

    image_format = "jpeg"

    def __init__(self, image: np.ndarray, weight: np.ndarray):
        super().__init__(10.5, 4)
        self.image = np.asarray(image, float)
        self.weight = np.asarray(weight, float)
        self.pad = self.weight.shape[-1] // 2
        self.base = self._layer(self.image)
        axes = self.fig.subplots(1, 3)
        self.views = [axes[0].imshow(self.image, cmap="gray"),
                      axes[1].imshow(self.base, cmap="gray", clim=display_limits(self.base)),
                      axes[2].imshow(np.zeros_like(self.base), cmap="magma", clim=(0, 1))]
        titles = ["shifted input", "feature map of the shifted input",
                  "|that − shifted feature map|"]
        self.titles = [ax.set_title(t) for ax, t in zip(axes, titles)]
        for ax in axes:
            ax.axis("off")
        self._freeze_layout(self.views)

    def _layer(self, x: np.ndarray) -> np.ndarray:
        return conv.conv2d_layer(x[None, None], self.weight[None, None], padding=self.pad)[0, 0]

    def controls(self) -> dict[str, Any]:
        return {"dy": _slider(0, 0, 12, "down"), "dx": _slider(0, 0, 12, "right")}

    def update(self, dy: int = 0, dx: int = 0) -> Figure:
        moved = shift_image(self.image, dy, dx)
        feature = self._layer(moved)
        gap = np.abs(feature - shift_image(self.base, dy, dx))
        # Near the edges the zero padding differs (content enters or leaves the frame).
        m = self.pad
        inner = gap[dy + m:gap.shape[0] - m, dx + m:gap.shape[1] - m]
        self.views[0].set_data(moved)
        self.views[1].set_data(feature)
        self.views[2].set_data(gap)
        self.caption = (f"shift ({dy}, {dx}): away from the border the two maps differ by at most "
                        f"<b>{inner.max():.2g}</b>, so the feature map moved by ({dy}, {dx}) too.")
        return self.fig
