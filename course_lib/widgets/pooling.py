"""Live demo of lecture 04: how pooling absorbs a small shift of its input.

Each demo is a :class:`~course_lib.widgets.base.LiveDemo`: ``update(**values)`` moves artists drawn once,
``show()`` wraps it in ipywidgets.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from course_lib import pool
from course_lib.figures.style import COLORS, stem_xy
from course_lib.widgets.base import LiveDemo, _slider

__all__ = ["PoolingShiftDemo"]


class PoolingShiftDemo(LiveDemo):
    """Shift a detector signal by a few steps and count how many pooled values change."""

    def __init__(self, length: int = 16, seed: int = 0):
        super().__init__(8, 4.6)
        rng = np.random.default_rng(seed)
        self.length, self.start = length, 12
        # Positive detector outputs, all different, so any shift changes every one of them.
        self.signal = rng.uniform(0.05, 1.0, size=length + 2 * self.start)
        self.before = self.signal[self.start:self.start + length]
        axes = self.fig.subplots(2, 1)
        top = 1.15 * self.signal.max()
        for ax in axes:
            ax.axhline(0, color="0.6", lw=0.8)
            ax.set_xlim(-0.6, length - 0.4)
            ax.set_ylim(-0.05 * top, top)
        axes[0].plot(*stem_xy(np.arange(length), self.before), color="0.75", lw=5)
        self.after = axes[0].plot([], [], color=COLORS["a"], lw=2)[0]
        axes[0].set_title("detector values: before (grey) and after the shift (blue)", loc="left")
        self.pooled_before = axes[1].plot([], [], "s", color="0.75", ms=12)[0]
        self.pooled_after = axes[1].plot([], [], "o", color=COLORS["a"])[0]
        self.changed = axes[1].plot([], [], "x", color=COLORS["hi"], ms=12, mew=2)[0]
        self.pool_title = axes[1].set_title(" ", loc="left")
        self._freeze_layout([self.after, self.pooled_before, self.pooled_after, self.changed,
                            self.pool_title])

    def controls(self) -> dict[str, Any]:
        return {"shift": _slider(0, 0, 6, "shift"), "kernel_size": _slider(3, 1, 6, "F"),
                "stride": _slider(1, 1, 4, "S")}

    def pooled(self, x: np.ndarray, kernel_size: int, stride: int) -> np.ndarray:
        return pool.max_pool1d(x[None], kernel_size, stride)[0]

    def update(self, shift: int = 0, kernel_size: int = 3, stride: int = 1) -> Figure:
        begin = self.start - shift  # content moves right by `shift` samples
        after = self.signal[begin:begin + self.length]
        p0, p1 = self.pooled(self.before, kernel_size, stride), self.pooled(after, kernel_size, stride)
        centres = np.arange(len(p0)) * stride + (kernel_size - 1) / 2
        moved = ~np.isclose(p0, p1)
        self.after.set_data(*stem_xy(np.arange(self.length), after))
        self.pooled_before.set_data(centres, p0)
        self.pooled_after.set_data(centres, p1)
        self.changed.set_data(centres[moved], p1[moved])
        changed_in = int(np.sum(~np.isclose(self.before, after)))
        self.pool_title.set_text(f"max pooling, F={kernel_size}, S={stride}: before (grey), "
                                 f"after (blue), changed (red ×)")
        self.caption = (f"shift {shift}: {changed_in} of {self.length} detector values changed, "
                        f"but only <b>{int(moved.sum())} of {len(p0)}</b> max-pooled values did.")
        return self.fig
