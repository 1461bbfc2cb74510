"""Live demos of the lectures, each one a figure that moves with a slider.

Every demo is split in two so that it is fast, testable and never blocks a headless run:

* ``update(**values) -> Figure``: the whole computation. It changes the data of artists
  drawn once in ``__init__`` (``set_data``, ``set_text``, ...) instead of redrawing, and sets
  ``caption`` (a line of HTML). Tests and ``benchmarks/widget_latency.py`` call it directly.
* ``show()``: a thin ipywidgets wrapper. ``ipywidgets.interactive_output`` calls the callback
  once for the initial values (so nbclient runs it headless) and again on every change; the
  callback renders the figure to PNG bytes for an ``ipywidgets.Image``.

Lecturers need a callback to finish within 50 ms; ``frame(**values)`` (update + PNG) is what
one slider step costs and what the benchmark times.
"""
from __future__ import annotations

import io
from typing import Any, Mapping

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from course_lib import conv, pool, size
from course_lib.plots import COLORS, GALLERY_KERNELS, display_limits, filter_image, stem_xy


class LiveDemo:
    """Base class: a figure drawn once and updated in place (see the module docstring).

    ``image_format`` is "png" for line art; demos that show photographs use "jpeg", which
    encodes a photo several times faster than PNG.
    """

    image_format = "png"

    def __init__(self, width: float, height: float, dpi: int = 80):
        self.fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
        FigureCanvasAgg(self.fig)
        self.caption = ""

    def _freeze_layout(self, moving: list) -> None:
        """Draw everything that never moves once and keep that picture (blitting).

        Re-solving the layout and redrawing axes, ticks and labels costs most of a frame;
        afterwards :meth:`render` pastes the kept background and draws only ``moving``.
        """
        self.moving = list(moving)
        for artist in self.moving:
            artist.set_animated(True)
        self.fig.canvas.draw()
        self.fig.set_layout_engine("none")
        self.background = self.fig.canvas.copy_from_bbox(self.fig.bbox)

    def controls(self) -> dict[str, Any]:
        """The ipywidgets controls, keyed by the argument of :meth:`update` they drive."""
        raise NotImplementedError

    def update(self, **values) -> Figure:
        raise NotImplementedError

    def _image_layout(self):
        """Show the frame at its own pixel size: stretching it would only blur it."""
        import ipywidgets as w

        return w.Layout(width=f"{round(self.fig.bbox.width)}px", max_width="100%")

    def render(self) -> bytes:
        """The current figure as image bytes: the kept background plus the moving artists."""
        from PIL import Image

        canvas = self.fig.canvas
        canvas.restore_region(self.background)
        for artist in self.moving:
            self.fig.draw_artist(artist)
        buffer = io.BytesIO()
        pixels = Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3])
        if self.image_format == "jpeg":
            pixels.save(buffer, format="jpeg", quality=90)
        else:  # fast compression: a frame is shown once, so speed beats a few kilobytes
            pixels.save(buffer, format="png", compress_level=1)
        return buffer.getvalue()

    def frame(self, **values) -> bytes:
        """What one slider step costs: update, then render."""
        self.update(**values)
        return self.render()

    def show(self):
        """Controls, the live figure and its caption, wired with ``interactive_output``."""
        import ipywidgets as w

        controls = self.controls()
        image = w.Image(format=self.image_format, layout=self._image_layout())
        caption = w.HTML(layout=w.Layout(min_height="2.5em"))

        def callback(**values):
            image.value = self.frame(**values)
            caption.value = self.caption

        out = w.interactive_output(callback, controls)
        row = w.HBox(list(controls.values()), layout=w.Layout(flex_flow="row wrap"))
        return w.VBox([row, image, caption, out])


def _slider(value: int, low: int, high: int, description: str):
    import ipywidgets as w

    return w.IntSlider(value=value, min=low, max=high, description=description,
                       continuous_update=True, style={"description_width": "initial"})


# ----------------------------------------------------------------------------- lecture 1
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
            ax.set_title(title, fontsize=10, loc="left")
            ax.axhline(0, color="0.6", lw=0.8)
            ax.set_ylim(-top, top)
            ax.set_xlim(*span)
        axes[0].plot(*stem_xy(np.arange(len(self.a)), self.a), color=COLORS["a"], lw=2)
        axes[0].plot(np.arange(len(self.a)), self.a, "o", color=COLORS["a"])
        self.kernel = self._stems(axes[1], COLORS["b"])
        self.products = self._stems(axes[2], "0.3")
        self.labels = [axes[2].text(0, 0, "", ha="left", fontsize=9) for _ in self.b]
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
        axes[0].set_title("input photo", fontsize=10)
        self.shown = axes[1].imshow(self.image, cmap="gray")
        axes[1].set_title("filtered (see the caption)", fontsize=10)
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


# ----------------------------------------------------------------------------- lecture 3
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


# ----------------------------------------------------------------------------- lecture 4
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
        axes[0].set_title("detector values: before (grey) and after the shift (blue)",
                          fontsize=10, loc="left")
        self.pooled_before = axes[1].plot([], [], "s", color="0.75", ms=12)[0]
        self.pooled_after = axes[1].plot([], [], "o", color=COLORS["a"])[0]
        self.changed = axes[1].plot([], [], "x", color=COLORS["hi"], ms=12, mew=2)[0]
        self.pool_title = axes[1].set_title(" ", fontsize=10, loc="left")
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


# ----------------------------------------------------------------------------- lecture 5
class LayerSizeDemo(LiveDemo):
    """Units, weights and connections of one layer: convolutional, locally connected, dense.

    The output is W × H × I, the input has J channels, kernels are K × K (biases left out):
    conv weights K²IJ and connections WHK²IJ; a dense layer on the same sizes has W²H²IJ of
    both; a locally connected layer (no sharing) has WHK²IJ of both.
    """

    KINDS = ("convolution", "locally connected", "fully connected")

    def __init__(self):
        super().__init__(7.5, 3.8)
        self.ax = self.fig.subplots()
        x = np.arange(3)
        self.bars = {k: self.ax.bar(x + (i - 1) * 0.27, [1, 1, 1], width=0.27, label=k,
                                    color=f"C{i}") for i, k in enumerate(self.KINDS)}
        self.ax.set_xticks(x, ["units", "weights", "connections"])
        self.ax.set_yscale("log")
        self.ax.set_ylim(1, 1e16)
        self.ax.grid(axis="y", which="major", alpha=0.3)
        self.ax.legend(fontsize=8, loc="upper left")
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
