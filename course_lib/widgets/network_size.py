"""Live demo of lecture 05: weights and connections of conv, locally connected and dense layers.

Each demo is a :class:`~course_lib.widgets.base.LiveDemo`: ``update(**values)`` moves artists drawn once,
``show()`` wraps it in ipywidgets.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from course_lib import size
from course_lib.widgets.base import LiveDemo, _slider

__all__ = ["LayerSizeDemo"]


class LayerSizeDemo(LiveDemo):
    """Units, weights and connections of one layer: convolutional, locally connected, dense.

    The output is W × H × I, the input has J channels, kernels are K × K (biases left out):
    conv weights K²IJ and connections WHK²IJ; a dense layer on the same sizes has W²H²IJ of
    both; a locally connected layer (no sharing) has WHK²IJ of both.
    """

    KINDS = ("convolution", "locally connected", "fully connected")
    #: Each kind has a hatch as well as a colour, so the bars are told apart without colour.
    HATCHES = ("", "///", "xxx")

    def __init__(self):
        super().__init__(7.5, 3.8)
        self.ax = self.fig.subplots()
        x = np.arange(3)
        self.bars = {k: self.ax.bar(x + (i - 1) * 0.27, [1, 1, 1], width=0.27, label=k, color=f"C{i}",
                                    hatch=hatch, edgecolor="black", linewidth=0.8)
                     for i, (k, hatch) in enumerate(zip(self.KINDS, self.HATCHES))}
        self.ax.set_xticks(x, ["units", "weights", "connections"])
        self.ax.set_yscale("log")
        self.ax.set_ylim(1, 1e16)
        self.ax.grid(axis="y", which="major", alpha=0.3)
        self.ax.legend(loc="upper left")
        # The exact numbers go in the caption's table: HTML costs the callback nothing to draw.
        self._freeze_layout([p for bars in self.bars.values() for p in bars])

    def controls(self) -> dict[str, Any]:
        return {"W": _slider(28, 1, 256, "W"), "H": _slider(28, 1, 256, "H"),
                "I": _slider(16, 1, 512, "I (out ch.)"), "J": _slider(6, 1, 512, "J (in ch.)"),
                "K": _slider(5, 1, 11, "K")}

    @staticmethod
    def counts(W: int, H: int, I: int, J: int, K: int) -> dict[str, tuple[int, int, int]]:
        """(units, weights, connections) of each kind of layer, counted by ``course_lib.size``."""
        # An input of (H + K - 1) x (W + K - 1) gives exactly an H x W output without padding.
        c = size.account([size.conv(J, I, K, bias=False)], (J, H + K - 1, W + K - 1)).rows[0]
        f = size.account([size.fc(W * H * J, W * H * I, bias=False)], (W * H * J,)).rows[0]
        # Locally connected: the conv layer's links, each with a weight of its own (no sharing).
        return {"convolution": (c.units, c.weights, c.connections),
                "locally connected": (c.units, c.connections, c.connections),
                "fully connected": (f.units, f.weights, f.connections)}

    def update(self, W: int = 28, H: int = 28, I: int = 16, J: int = 6, K: int = 5) -> Figure:
        counts = self.counts(W, H, I, J, K)
        for kind, values in counts.items():
            for bar, v in zip(self.bars[kind], values):
                bar.set_height(v)
        conv_w, dense_w = counts["convolution"][1], counts["fully connected"][1]
        cell = 'style="text-align:right; padding:0 0.8em"'
        rows = "".join(f"<tr><td>{kind}</td>" + "".join(f"<td {cell}>{v:,}</td>" for v in values)
                       + "</tr>" for kind, values in counts.items())
        self.caption = (f"output {W}×{H}×{I} from {J} channels, {K}×{K} kernels: the conv layer "
                        f"shares {conv_w:,} weights; a dense layer would need {dense_w:,} "
                        f"(<b>{dense_w / conv_w:,.0f}×</b> more)."
                        f"<table><tr><th></th><th {cell}>units</th><th {cell}>weights</th>"
                        f"<th {cell}>connections</th></tr>{rows}</table>")
        return self.fig
