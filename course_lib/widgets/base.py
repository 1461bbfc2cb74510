"""The base of every live demo: a figure drawn once that moves with a slider, and image helpers.

Every demo is split in two so that it is fast, testable and never blocks a headless run:

* ``update(**values) -> Figure``: the whole computation. It changes the data of artists
  drawn once in ``__init__`` (``set_data``, ``set_text``, ...) instead of redrawing, and sets
  ``caption`` (a line of HTML). Tests and ``benchmarks/widget_latency.py`` call it directly.
* ``show()``: a thin ipywidgets wrapper. ``ipywidgets.interactive_output`` calls the callback
  once for the initial values (so nbclient runs it headless) and again on every change; the
  callback renders the figure to PNG bytes for an ``ipywidgets.Image``.

Lecturers need a callback to finish within 50 ms; ``frame(**values)`` (update + PNG) is what
one slider step costs and what the benchmark times.

Projector-ready: every demo's ``__init__`` runs under :func:`course_lib.figures.style.rc` (type of
at least 12 points), the figure is drawn at :func:`~course_lib.figures.style.dpi` (at least 110)
and sized by :func:`~course_lib.figures.style.lecture_hall`; the image fills the notebook's width
(in relative units), so it grows with the browser's zoom. ``caption`` describes the current
frame in words; :attr:`LiveDemo.alt` is the same as plain text.

Readable without a kernel: the panel ``show()`` returns also offers the figure of its current
state as a still image (described by the demo's docstring and :attr:`LiveDemo.alt`) beside the
live view, so an exported page, or a frontend without the widget manager, shows the figure
instead of nothing.
"""
from __future__ import annotations

import base64
import functools
import io
from typing import Any

import matplotlib as mpl
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from course_lib.figures import style

__all__ = ["LiveDemo"]


class LiveDemo:
    """Base class: a figure drawn once and updated in place (see the module docstring).

    ``image_format`` is "png" for line art; demos that show photographs use "jpeg", which
    encodes a photo several times faster than PNG.
    """

    image_format = "png"

    def __init_subclass__(cls, **kwargs):
        """Build every demo's artists under the course's readable settings (``style.rc()``), and
        give a panel from a demo's own ``show()`` the still image too."""
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None:

            @functools.wraps(init)
            def readable_init(self, *args, **kw):
                with mpl.rc_context(style.rc()):
                    init(self, *args, **kw)

            cls.__init__ = readable_init
        show = cls.__dict__.get("show")
        if show is not None:  # a demo with a panel of its own gets the still image too

            @functools.wraps(show)
            def show_with_still(self, *args, **kw):
                return _with_still(show(self, *args, **kw), self)

            cls.show = show_with_still

    def __init__(self, width: float, height: float, dpi: int | None = None):
        self.fig = style.figure(width, height, dpi)
        FigureCanvasAgg(self.fig)
        self.caption = ""

    @property
    def alt(self) -> str:
        """The current frame in words: the caption as plain text (alt text for the image)."""
        return style.alt_text(style.describe(self.fig, self.caption))

    def _freeze_layout(self, moving: list) -> None:
        """Draw everything that never moves once and keep that picture (blitting).

        Re-solving the layout and redrawing axes, ticks and labels costs most of a frame;
        afterwards :meth:`render` pastes the kept background and draws only ``moving``.
        """
        self.moving = list(moving)
        style.readable(self.fig)
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
        """Fill the notebook's width, in relative units, so the frame grows with the browser's zoom
        and fits a narrow window; never wider than twice its pixel size, where it would only blur."""
        import ipywidgets as w

        return w.Layout(width="100%", max_width=f"{2 * round(self.fig.bbox.width)}px", height="auto")

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
        return _with_still(w.VBox([row, image, caption, out]), self)


@functools.cache
def _panel_class() -> type:
    """``DemoPanel``: a VBox whose display also carries a still of its figure (built on first use,
    so importing the demos does not import ipywidgets)."""
    import ipywidgets as w

    class DemoPanel(w.VBox):
        """A demo's panel. Its mimebundle holds the live view and, for a frontend without a kernel
        (an exported HTML page, a notebook viewer), the figure as it is now with its alt text."""

        demo: LiveDemo | None = None

        def _repr_mimebundle_(self, **kwargs):
            bundle = super()._repr_mimebundle_(**kwargs)
            image = next((c for c in self.children if isinstance(c, w.Image) and c.value), None)
            if image is None or self.demo is None:
                return bundle
            mime, alt = f"image/{image.format}", _still_text(self.demo)
            bundle[mime] = base64.b64encode(bytes(image.value)).decode("ascii")
            bundle["text/plain"] = alt or bundle.get("text/plain", "")
            return bundle, {mime: {"alt": alt}}

    return DemoPanel


def _still_text(demo: LiveDemo) -> str:
    """What the demo is (its docstring's first paragraph) and what its figure shows now."""
    what = " ".join((type(demo).__doc__ or "").strip().split("\n\n")[0].replace("``", "").split())
    return f"{what} Shown: {demo.alt}" if what else demo.alt


def _with_still(box, demo: LiveDemo):
    """``box`` as a DemoPanel (same children and layout) that can show ``demo``'s still image."""
    panel_class = _panel_class()
    if not isinstance(box, panel_class):
        plain, box = box, panel_class(children=box.children, layout=box.layout)
        plain.close()  # only its own comm: the children live on in the panel
    box.demo = demo
    return box


def _slider(value: int, low: int, high: int, description: str):
    import ipywidgets as w

    return w.IntSlider(value=value, min=low, max=high, description=description,
                       continuous_update=True, style={"description_width": "initial"})


# ----------------------------------------------------------------------------- image helpers
def _numpy(x) -> np.ndarray:
    return x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=float)


def _rgb_or_grey(img: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """(C, H, W) in model units -> (H, W) or (H, W, 3) in [0, 1], with fixed limits lo..hi."""
    out = np.clip((img - lo) / max(hi - lo, 1e-12), 0, 1)
    return out[0] if out.shape[0] == 1 else np.moveaxis(out, 0, -1)


def _off(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _mosaic(tiles: np.ndarray, cols: int, gap: int = 1, fill: float = np.nan) -> np.ndarray:
    """Tiles (n, h, w) or (n, h, w, 3) side by side in rows of ``cols``, ``gap`` pixels apart.

    One image with many tiles draws far faster than many small images, which keeps a frame
    inside the 50 ms budget. NaN gaps show in the colormap's "bad" colour.
    """
    n, h, w = tiles.shape[:3]
    rows = -(-n // cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, *tiles.shape[3:]), fill)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tile
    return out


# ----------------------------------------------------------------------------- class bars
#: How a class bar shows the truth and the network's guess: colour-blind-safe colours, each
#: with a hatch of its own, so colour is never the only cue.
CLASS_MARKS = {"true": dict(facecolor=style.COLORS["true"], hatch="///", edgecolor="black"),
               "guess": dict(facecolor=style.COLORS["guess"], hatch="xxx", edgecolor="black"),
               "other": dict(facecolor="0.75", hatch="", edgecolor="0.75")}


def _class_bars(ax, k: int, names=None):
    """Bars of p(class) for ``k`` classes, with a legend of the marks :func:`_mark_classes` uses."""
    from matplotlib.patches import Patch

    bars = ax.bar(range(k), np.zeros(k), width=0.8, **CLASS_MARKS["other"])
    ax.set(ylim=(0, 1), xticks=range(k), yticks=[0, 0.5, 1], ylabel="p(class)")
    if names is not None:
        ax.set_xticklabels(names, rotation=90 if max(map(len, names)) > 2 else 0)
    handles = [Patch(label="true class", **CLASS_MARKS["true"]),
               Patch(label="network's guess", **CLASS_MARKS["guess"])]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=1, frameon=False,
              handlelength=1.6, borderaxespad=0.2)
    return bars


def _mark_classes(bars, probs: np.ndarray, truth: int, guess: int) -> None:
    """Heights from ``probs``; the true class and a wrong guess get their colour and hatch."""
    for c, bar in enumerate(bars):
        bar.set_height(probs[c])
        bar.set(**CLASS_MARKS["true" if c == truth else "guess" if c == guess else "other"])
