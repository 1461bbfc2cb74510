"""Live demo of lecture 10: pick a class, see where on the canvas the fully convolutional net
finds it (its heat map), and the window at the peak.

A :class:`~course_lib.widgets.base.LiveDemo`: ``update(**values)`` moves artists drawn once,
``show()`` wraps it in ipywidgets.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from course_lib.figures.dense import window_extent
from course_lib.figures.style import COLORS
from course_lib.widgets.base import LiveDemo, _numpy, _off

__all__ = ["HeatMapDemo"]


class HeatMapDemo(LiveDemo):
    """The canvas (left, true boxes dashed) and p(class) at every window (right, cividis, with a
    colour bar). Choosing a class moves the heat map, the cross at its peak, and a solid frame
    around the window at the peak on the canvas; the caption says where and how sure.

    ``canvas`` (H, W) in [0, 1]; ``probs`` (K, rows, cols), softmax over K; ``boxes`` (n, 5)
    rows ``(top, left, bottom, right, class)``; ``stride`` and ``window`` place map cell (i, j)
    at the window whose corner is ``stride * (i, j)``.
    """

    def __init__(self, canvas, probs, boxes, stride: int, window: Sequence[int] = (28, 28),
                 class_names: Sequence[str] | None = None):
        self.canvas, self.probs, self.boxes = _numpy(canvas), _numpy(probs), np.asarray(_numpy(boxes), int)
        if self.canvas.ndim != 2 or self.probs.ndim != 3:
            raise ValueError(f"HeatMapDemo: arguments 'canvas' (H, W) and 'probs' (K, rows, cols) have shapes "
                             f"{self.canvas.shape} and {self.probs.shape}.")
        if self.boxes.ndim != 2 or self.boxes.shape[1] != 5:
            raise ValueError(f"HeatMapDemo: argument 'boxes' must be (n, 5), got shape {self.boxes.shape}.")
        k = self.probs.shape[0]
        self.names = list(class_names) if class_names is not None else [str(c) for c in range(k)]
        if len(self.names) != k:
            raise ValueError(f"HeatMapDemo: {len(self.names)} class names for {k} classes in 'probs'.")
        self.stride, self.window = int(stride), tuple(window)
        h, w = self.canvas.shape
        super().__init__(11, 2.6 * h / w * 2 + 1.4)
        left, right = self.fig.subplots(1, 2)
        left.imshow(self.canvas, cmap="gray", vmin=0, vmax=1)
        for t, l, b, r, c in self.boxes.tolist():
            left.add_patch(Rectangle((l - 0.5, t - 0.5), r - l, b - t, fill=False, ec=COLORS["b"], lw=2, ls="--"))
            left.text(l - 0.5, t - 1.5, self.names[c], fontsize=12, va="bottom",
                      bbox=dict(facecolor="white", edgecolor="none", pad=0.5))
        self.frame_box = left.add_patch(Rectangle((0, 0), *self.window[::-1], fill=False, ec=COLORS["hi"], lw=3))
        left.set_title("canvas: true boxes dashed, window at the peak solid")
        self.heat = right.imshow(self.probs[0], cmap="cividis", vmin=0, vmax=1, interpolation="nearest",
                                 extent=window_extent(self.probs.shape[1:], self.window, self.stride))
        right.set(xlim=(-0.5, w - 0.5), ylim=(h - 0.5, -0.5))
        self.peak, = right.plot([0], [0], "x", color=COLORS["hi"], ms=14, mew=3)
        self.fig.colorbar(self.heat, ax=right, shrink=0.8, label="probability")
        self.title = right.set_title(" ")
        for ax in (left, right):
            _off(ax)
        self._freeze_layout([self.heat, self.peak, self.frame_box, self.title])

    def controls(self) -> dict[str, Any]:
        import ipywidgets as w

        options = [(name, c) for c, name in enumerate(self.names)]
        first = int(self.boxes[0, 4]) if len(self.boxes) else 0
        return {"cls": w.Dropdown(options=options, value=first, description="class")}

    def update(self, cls: int = 0) -> Figure:
        if not 0 <= cls < len(self.names):
            raise ValueError(f"HeatMapDemo.update: argument 'cls' must be 0..{len(self.names) - 1}, got {cls}.")
        p = self.probs[cls]
        self.heat.set_data(p)
        i, j = np.unravel_index(p.argmax(), p.shape)
        top, left = self.stride * i, self.stride * j
        self.peak.set_data([left + (self.window[1] - 1) / 2], [top + (self.window[0] - 1) / 2])
        self.frame_box.set_xy((left - 0.5, top - 0.5))
        name = self.names[cls]
        self.title.set_text(f"p({name}) at every window, peak {p.max():.2f}")
        present = int((self.boxes[:, 4] == cls).sum())
        self.caption = (f"Class <b>{name}</b>: the highest probability is <b>{p.max():.2f}</b>, for the window "
                        f"whose top-left corner is at row {top}, column {left}; {int((p > 0.5).sum())} of "
                        f"{p.size} windows are above 0.5. The canvas holds {present} glyph(s) of this class.")
        return self.fig
