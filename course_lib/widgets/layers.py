"""Live demos of lecture 03: the output size of a conv layer, and translation equivariance.

Each demo is a :class:`~course_lib.widgets.base.LiveDemo`: ``update(**values)`` moves artists drawn once,
``show()`` wraps it in ipywidgets.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from course_lib import conv
from course_lib.figures.style import COLORS, display_limits
from course_lib.widgets.base import LiveDemo, _slider

__all__ = ["OutputSizeDemo", "EquivarianceDemo", "shift_image"]


class OutputSizeDemo(LiveDemo):
    """Which (padded) input cells each output position reads, and the output-size formula."""

    LIMITS = {"n": (1, 16), "kernel_size": (1, 7), "stride": (1, 4), "padding": (0, 3),
              "dilation": (1, 3), "in_channels": (1, 64), "out_channels": (1, 64)}

    def __init__(self):
        super().__init__(7, 4.4)
        self.ax = self.fig.subplots()
        cmap = ListedColormap(["white", "0.85", COLORS["a"], COLORS["hi"]])
        self.cells = self.ax.imshow(np.zeros((1, 1)), cmap=cmap, vmin=0, vmax=3,
                                    interpolation="nearest")
        widest = self.LIMITS["n"][1] + 2 * self.LIMITS["padding"][1]
        self.ax.set_xlim(-0.5, widest - 0.5)
        self.ax.set_ylim(widest + 1.5, -0.5)
        self.ax.set_xlabel("position in the padded input (grey = zero padding)")
        self.ax.set_ylabel("output position (row 0: the input)")
        self.title = self.ax.set_title(" ", fontsize=10)
        self._freeze_layout([self.cells, self.title])

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
        grid = np.zeros((out + 2, width))
        grid[0] = 1
        grid[0, padding:padding + n] = 2
        for o in range(out):
            grid[o + 2, o * stride + dilation * np.arange(kernel_size)] = 3
        self.cells.set_data(grid)
        self.cells.set_extent((-0.5, width - 0.5, out + 1.5, -0.5))
        formula = (f"⌊(n + 2p − d(k − 1) − 1) / s⌋ + 1 = ⌊({n} + {2 * padding} − "
                   f"{dilation * (kernel_size - 1)} − 1) / {stride}⌋ + 1")
        if out == 0:
            self.title.set_text(f"a window spans {reach} cells: it does not fit in {width}")
            self.caption = f"{formula} &lt; 1: <b>no output</b>. Pad more or use a smaller kernel."
            return self.fig
        self.title.set_text(f"{out} outputs from {n} inputs; each window spans {reach} cells")
        weights = out_channels * in_channels * kernel_size ** 2
        self.caption = (f"output size {formula} = <b>{out}</b>. For an {n}×{n}×{in_channels} input "
                        f"the layer gives {out}×{out}×{out_channels}, with weights of shape "
                        f"({out_channels}, {in_channels}, {kernel_size}, {kernel_size}): "
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
        super().__init__(9, 3.4)
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
        self.titles = [ax.set_title(t, fontsize=10) for ax, t in zip(axes, titles)]
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
