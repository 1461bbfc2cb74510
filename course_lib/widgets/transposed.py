"""Live demo: the transposed convolution is the gradient of a convolution, drawn side by side.

A :class:`~course_lib.widgets.base.LiveDemo`: ``update(**values)`` moves artists drawn once,
``show()`` wraps it in ipywidgets.
"""
from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from matplotlib.collections import LineCollection, PathCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.path import Path
from matplotlib.textpath import TextPath
from matplotlib.transforms import Affine2D

from course_lib import conv
from course_lib.figures.style import COLORS
from course_lib.widgets.base import LiveDemo, _slider

__all__ = ["TransposedConvDemo"]

FONT = 12  # points: every label of the figure is at least this large
TAP_STYLES = ("-", "--", ":", "-.")  # one line style per kernel tap, so colour is never the only cue
TAP_COLORS = (COLORS["a"], COLORS["b"], COLORS["hi"], "0.25")
FACES = {"input": "#cfe3f3", "output": "#d3ecd3", "back": "#fde0c5", "pad": "0.9", "cut": "white"}
EDGES = {"wired": "-", "pad": "--", "unwired": ":"}
LONG_ROW, SHORT_ROW, HALF_H, HALF_W = 1.0, 0.0, 0.17, 0.4


class TransposedConvDemo(LiveDemo):
    """A 1-D convolution (left) and its transpose (right) over the same wires, opposite ways.

    Left, the convolution reads the zero-padded input ``x`` (top row) window by window and writes
    ``y`` (bottom row). Right, the transposed convolution with the same kernel, stride and
    padding reads ``g = y`` (bottom row) and sends every value back up the same wires, scaled by
    the same weights: each top cell adds what reaches it, the ``padding`` cells at both ends are
    cut off, and ``output_padding = (n + 2p - k) mod s`` restores the input length ``n``. That
    upward pass is exactly the gradient of the convolution with respect to ``x``.
    """

    LIMITS = {"stride": (1, 3), "padding": (0, 2), "kernel_size": (1, 4)}

    def __init__(self, x=(1, 3, -1, 2, 1), weights=(2, -1, 1, 3)):
        super().__init__(11, 4.2)
        self.x = np.asarray(x, dtype=int)
        self.weights = np.asarray(weights, dtype=int)
        longest = self.LIMITS["kernel_size"][1]
        for name, a in (("x", self.x), ("weights", self.weights)):
            if a.ndim != 1 or len(a) < longest:
                raise ValueError(f"TransposedConvDemo: argument '{name}' must be 1-D with at least "
                                 f"{longest} values (the longest kernel), got shape {a.shape}.")
        n, widest = len(self.x), self.LIMITS["padding"][1]
        axes = self.fig.subplots(1, 2)
        self.panels = [self._panel(ax, n, widest) for ax in axes]
        self._label_rows(axes)
        handles = [_tap_handle(i, w) for i, w in enumerate(self.weights)]
        handles += [Patch(facecolor=FACES["pad"], edgecolor="0.2", linestyle=EDGES["pad"],
                          label="padding: zeros / cut off"),
                    Patch(facecolor="white", edgecolor="0.2", linestyle=EDGES["unwired"],
                          label="no wire (the floor; output padding)")]
        self.fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=FONT,
                        handlelength=3)
        moving = [a for panel in self.panels for a in (panel["cells"], *panel["wires"],
                                                       panel["numbers"])]
        self._freeze_layout(moving)

    # --- drawing once ---------------------------------------------------------------------------
    def _panel(self, ax, n: int, widest: int) -> dict:
        ax.set_xlim(-widest - 0.6, n + widest - 0.4)
        ax.set_ylim(SHORT_ROW - 0.35, LONG_ROW + 0.35)
        ax.set_xticks([])
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        cells = ax.add_collection(PolyCollection([], edgecolor="0.2", linewidth=1.5))
        wires = [ax.add_collection(LineCollection([], color=c, linestyle=s, linewidth=2))
                 for c, s in zip(TAP_COLORS, TAP_STYLES)]
        # The numbers in the cells: one collection of glyph outlines, FONT points high, placed at
        # the cells' centres. As up to 36 separate Text artists they took half of every frame.
        numbers = ax.add_collection(PathCollection(
            [], offsets=np.zeros((0, 2)), offset_transform=ax.transData, facecolor="black",
            edgecolor="none", transform=Affine2D().scale(self.fig.dpi / 72)))
        return {"ax": ax, "cells": cells, "wires": wires, "numbers": numbers, "labels": []}

    def _label_rows(self, axes) -> None:
        left, right = axes
        left.set_yticks([SHORT_ROW, LONG_ROW], ["output y", "input x"], fontsize=FONT)
        left.set_title("convolution: x flows down to y", fontsize=FONT)
        right.yaxis.tick_right()
        right.set_yticks([SHORT_ROW, LONG_ROW], ["input g = y", "output x′"], fontsize=FONT)
        right.set_title("transposed convolution: g flows up to x′ (the gradient)", fontsize=FONT)
        for ax in axes:
            ax.tick_params(length=0)

    def controls(self) -> dict[str, Any]:
        defaults = {"stride": 2, "padding": 1, "kernel_size": 3}
        return {k: _slider(defaults[k], *self.LIMITS[k], k) for k in defaults}

    # --- one frame ------------------------------------------------------------------------------
    def _compute(self, stride: int, padding: int, kernel_size: int) -> dict:
        """Both passes, computed by course_lib.conv, and where their cells sit on the axis."""
        n, w = len(self.x), self.weights[:kernel_size]
        y = conv.conv1d_layer(self.x[None, None], w[None, None], stride=stride,
                              padding=padding)[0, 0]
        extra = (n + 2 * padding - kernel_size) % stride  # the output padding a
        back = conv.conv_transpose1d(y[None, None], w[None, None], stride=stride, padding=padding,
                                     output_padding=extra)[0, 0]
        canvas = conv.conv_transpose1d(y[None, None], w[None, None], stride=stride)[0, 0]
        m = len(y)
        # Positions on the axis: input cell i at i, so padded cell j at j - padding.
        short = np.arange(m) * stride - padding + (kernel_size - 1) / 2
        wires = [[((j * stride + i - padding, LONG_ROW - HALF_H), (short[j], SHORT_ROW + HALF_H))
                  for j in range(m)] for i in range(kernel_size)]
        return dict(y=y, back=back, canvas=canvas, extra=extra, short=short, wires=wires, m=m)

    def _long_rows(self, padding: int, r: dict) -> tuple[list, list]:
        """The top rows of both panels, cell by cell: (x, y, face, edge, text) each."""
        n = len(self.x)
        read = len(r["canvas"])  # padded cells the convolution's windows reach
        conv_row, back_row = [], []
        for j in range(n + 2 * padding):
            pos, inside, wired = j - padding, padding <= j < padding + n, j < read
            edge = EDGES["wired"] if wired else EDGES["unwired"]
            if inside:
                conv_row.append((pos, LONG_ROW, FACES["input"], edge, f"{self.x[pos]}"))
                back_row.append((pos, LONG_ROW, FACES["back"], edge, f"{r['back'][pos]}"))
            else:
                conv_row.append((pos, LONG_ROW, FACES["pad"], EDGES["pad"], "0"))
                back_row.append((pos, LONG_ROW, FACES["cut"], EDGES["pad"],
                                 f"{r['canvas'][j]}" if wired else ""))
        return conv_row, back_row

    def _draw(self, panel: dict, rows: list, wires: list) -> None:
        verts = [[(x - HALF_W, y - HALF_H), (x + HALF_W, y - HALF_H), (x + HALF_W, y + HALF_H),
                  (x - HALF_W, y + HALF_H)] for x, y, *_ in rows]
        panel["cells"].set_verts(verts)
        panel["cells"].set_facecolor([face for *_, face, _, _ in rows])
        panel["cells"].set_linestyle([edge for *_, edge, _ in rows])
        panel["labels"] = [label for *_, label in rows]  # what each cell says, top row first
        shown = [(x, y, label) for x, y, *_, label in rows if label]
        panel["numbers"].set_paths([_glyphs(label) for *_, label in shown])
        panel["numbers"].set_offsets(np.array([(x, y) for x, y, _ in shown]).reshape(-1, 2))
        for collection, segments in zip(panel["wires"], wires + [[]] * len(panel["wires"])):
            collection.set_segments(segments)

    def update(self, stride: int = 2, padding: int = 1, kernel_size: int = 3) -> Figure:
        n, r = len(self.x), self._compute(stride, padding, kernel_size)
        conv_top, back_top = self._long_rows(padding, r)
        bottom = [(x, SHORT_ROW, FACES["output"], EDGES["wired"], f"{v}")
                  for x, v in zip(r["short"], r["y"])]
        self._draw(self.panels[0], conv_top + bottom, r["wires"])
        self._draw(self.panels[1], back_top + bottom, r["wires"])
        m, a, k, p, s = r["m"], r["extra"], kernel_size, padding, stride
        self.caption = (
            f"Stride {s}, padding {p}, kernel size {k}: the convolution takes x (length {n}) down "
            f"to y (length <b>{m}</b>); its transpose sends y back up the same {m * k} wires with "
            f"the same weights, summing where wires meet, and cuts {p} cell(s) off each end: "
            f"length ({m} − 1)·{s} − 2·{p} + {k} + a = <b>{len(r['back'])}</b> with output padding "
            f"a = {a}. The shape of x, not its values: the gradient, not the inverse.")
        return self.fig


@cache
def _glyphs(label: str) -> Path:
    """``label`` as a glyph outline, FONT points high, centred on (0, 0) (units: points)."""
    path = TextPath((0, 0), label, size=FONT)
    box = path.get_extents()
    digit = TextPath((0, 0), "0", size=FONT).get_extents()  # so that "-" does not sink or rise
    return path.transformed(Affine2D().translate(-box.x0 - box.width / 2,
                                                 -digit.y0 - digit.height / 2))


def _tap_handle(i: int, weight: int) -> Line2D:
    return Line2D([], [], color=TAP_COLORS[i], linestyle=TAP_STYLES[i], linewidth=2,
                  label=f"tap {i}: weight {weight}")
