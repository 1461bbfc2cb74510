"""Live demos of lectures 01-02: flip-and-filter in 1-D, and a filter gallery on a photograph.

Each demo is a :class:`~course_lib.widgets.base.LiveDemo`: ``update(**values)`` moves artists drawn once,
``show()`` wraps it in ipywidgets.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from matplotlib.figure import Figure

from course_lib import conv
from course_lib.figures.convolution import GALLERY_KERNELS, filter_image
from course_lib.figures.style import COLORS, display_limits, stem_xy
from course_lib.widgets.base import LiveDemo, _slider

__all__ = ["FlipAndFilterDemo", "FilterGalleryDemo"]


class FlipAndFilterDemo(LiveDemo):
    """Flip-and-filter: the flipped ``b`` slides to position t; y[t] = sum_tau a[tau] b[t - tau]."""

    def __init__(self, a, b):
        super().__init__(7.5, 5.6)
        self.a, self.b = np.asarray(a, float), np.asarray(b, float)
        self.y = conv.conv1d_flip_filter(self.a, self.b)
        span = (-(len(self.b) - 1) - 0.6, len(self.y) - 0.4)
        self.top = top = 1.25 * max(np.abs(self.a).max(), np.abs(self.b).max(), np.abs(self.y).max(),
                         np.abs(np.outer(self.a, self.b)).max())
        axes = self.fig.subplots(4, 1, sharex=True)
        titles = ["a[τ]", "b[t − τ]: b flipped, then shifted to t", "products a[τ] b[t − τ]",
                  "y = a * b, filled in one t at a time"]
        for ax, title in zip(axes, titles):
            ax.set_title(title, loc="left")
            ax.axhline(0, color="0.6", lw=0.8)
            ax.set_ylim(-top, top)
            ax.set_xlim(*span)
        axes[0].plot(*stem_xy(np.arange(len(self.a)), self.a), color=COLORS["a"], lw=2)
        axes[0].plot(np.arange(len(self.a)), self.a, "o", color=COLORS["a"])
        self.kernel = self._stems(axes[1], COLORS["b"])
        self.products = self._stems(axes[2], "0.3")
        self.labels = [axes[2].text(0, 0, "", ha="left") for _ in self.b]
        self.output = self._stems(axes[3], COLORS["out"])
        self.current, = axes[3].plot([], [], "o", ms=11, mfc="none", mec=COLORS["hi"], mew=2)
        self.window = [ax.axvspan(0, 0, color=COLORS["hi"], alpha=0.08) for ax in axes]
        axes[3].set_xticks(np.arange(int(np.ceil(span[0])), len(self.y)))
        axes[3].set_xlabel("τ (and t in the last row)")
        self._freeze_layout([*self.window, *self.kernel, *self.products, *self.labels, *self.output,
                            self.current])

    @staticmethod
    def _stems(ax, color):
        return ax.plot([], [], color=color, lw=2)[0], ax.plot([], [], "o", color=color)[0]

    @staticmethod
    def _set(lines, x, y):
        lines[0].set_data(*stem_xy(x, y))
        lines[1].set_data(x, y)

    def controls(self) -> dict[str, Any]:
        return {"t": _slider(0, 0, len(self.y) - 1, "t")}

    def update(self, t: int = 0) -> Figure:
        t = int(t)
        taus = np.arange(t - len(self.b) + 1, t + 1)
        flipped = self.b[t - taus]
        self._set(self.kernel, taus, flipped)
        inside = (taus >= 0) & (taus < len(self.a))
        products = self.a[taus[inside]] * flipped[inside]
        self._set(self.products, taus[inside], products)
        for label, tau, p in zip(self.labels, taus[inside], products):
            label.set_position((tau + 0.12, p + (0.1 if p >= 0 else -0.3) * self.top))
            label.set_text(f"{p:g}")
        for label in self.labels[len(products):]:
            label.set_text("")
        self._set(self.output, np.arange(t + 1), self.y[:t + 1])
        self.current.set_data([t], [self.y[t]])
        for span in self.window:
            span.set_x(taus[0] - 0.5)
            span.set_width(len(taus))
        show = lambda v: f"{v:g}" if v >= 0 else f"({v:g})"  # noqa: E731  (2·(−1), not 2·-1)
        terms = " + ".join(f"{show(self.a[tau])}·{show(f)}" for tau, f in zip(taus[inside], flipped[inside]))
        self.caption = f"y[{t}] = Σ<sub>τ</sub> a[τ] b[{t} − τ] = {terms} = <b>{self.y[t]:g}</b>"
        return self.fig


# ----------------------------------------------------------------------------- lecture 2
class FilterGalleryDemo(LiveDemo):
    """A photo and its convolution with a kernel picked from a menu or typed in live."""

    image_format = "jpeg"

    def __init__(self, image: np.ndarray, kernels: Mapping[str, np.ndarray] = GALLERY_KERNELS):
        super().__init__(8, 4.3)
        step = max(1, int(np.ceil(max(image.shape) / 256)))  # about the panel's size in pixels
        self.image = np.asarray(image, float)[::step, ::step]
        self.kernels = {name: np.asarray(k, float) for name, k in kernels.items()}
        axes = self.fig.subplots(1, 2)
        axes[0].imshow(self.image, cmap="gray")
        axes[0].set_title("input photo")
        self.shown = axes[1].imshow(self.image, cmap="gray")
        axes[1].set_title("filtered (see the caption)")
        for ax in axes:
            ax.axis("off")
        self._freeze_layout([self.shown])

    def update(self, kernel: str | np.ndarray = "identity") -> Figure:
        name = kernel if isinstance(kernel, str) else "your kernel"
        weights = self.kernels[kernel] if isinstance(kernel, str) else np.asarray(kernel, float)
        out = filter_image(self.image, weights)
        self.shown.set_data(out)
        self.shown.set_clim(*display_limits(out))
        self.caption = (f"<b>{name}</b>: weights sum to {weights.sum():.3g} "
                        + ("(a flat region keeps its brightness times that sum)" if abs(weights.sum()) > 1e-9
                           else "(a flat region maps to 0: only changes show)"))
        return self.fig

    def controls(self) -> dict[str, Any]:
        import ipywidgets as w

        menu = w.Dropdown(options=list(self.kernels), value="identity", description="kernel")
        cells = [w.FloatText(value=0.0, step=1.0, layout=w.Layout(width="4.5em")) for _ in range(9)]
        return {"kernel": menu, **{f"k{i}{j}": cells[3 * i + j] for i in range(3) for j in range(3)}}

    def show(self):
        """A menu of named kernels, and a 3×3 grid of numbers to edit the kernel live."""
        import ipywidgets as w

        controls = self.controls()
        menu, cells = controls.pop("kernel"), list(controls.values())
        image, caption = w.Image(format=self.image_format, layout=self._image_layout()), w.HTML()
        busy = {"filling": False}

        def draw(kernel):
            image.value = self.frame(kernel=kernel)
            caption.value = self.caption

        def on_menu(change=None):
            busy["filling"] = True  # nine cell edits must not cause nine redraws
            for cell, v in zip(cells, self.kernels[menu.value].ravel()):
                cell.value = round(float(v), 4)
            busy["filling"] = False
            draw(menu.value)

        def on_cell(change):
            if not busy["filling"]:
                draw(np.array([c.value for c in cells]).reshape(3, 3))

        menu.observe(on_menu, "value")
        for cell in cells:
            cell.observe(on_cell, "value")
        on_menu()
        grid = w.GridBox(cells, layout=w.Layout(grid_template_columns="repeat(3, 5em)"))
        return w.VBox([w.HBox([menu, grid]), image, caption])
