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
"""
from __future__ import annotations

import io
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["LiveDemo"]


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
