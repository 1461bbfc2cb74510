"""The figures' common style: one figure factory, colours, stems, number grids and equations.

Every figure of the course is a :class:`matplotlib.figure.Figure` built without pyplot, so
nothing is shown twice in a notebook and nothing leaks when a script makes many figures.

Projector-ready: every figure and live demo is drawn at :func:`dpi` (at least 110) with text of
at least :func:`font` points (12), through :func:`projector` (static figures) and
:class:`~course_lib.widgets.base.LiveDemo` (demos). :func:`lecture_hall` makes every figure made
after it larger; :func:`describe` attaches a short text description (alt text) to a figure.
"""
from __future__ import annotations

import functools
import os
import re
from typing import Callable, Mapping, Sequence

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["COLORS", "figure", "stem_xy", "draw_stems", "draw_grid", "equation", "display_limits", "images",
           "window_box", "lecture_hall", "font", "dpi", "size_scale", "rc", "projector", "readable",
           "describe", "alt_text", "PAD_HATCH"]

# Okabe-Ito colours, told apart with every common colour-vision deficiency. "true" and "guess"
# are the pair for right against wrong; they always come with a hatch or a marker as well.
COLORS = {"a": "#0072B2", "b": "#E69F00", "out": "#009E73", "hi": "#D55E00",
          "true": "#0072B2", "guess": "#E69F00"}
PAD_HATCH = "///"  # zero padding is hatched, never told by its colour alone

BASE_DPI, BASE_FONT = 110, 12  # a projector at the back of a hall: no smaller than this
HALL = {"dpi": 120, "font": 1.3, "size": 1.15}  # the lecture-hall switch: larger type, room for it
_hall = {"on": os.environ.get("COURSE_LECTURE_HALL", "").strip() not in ("", "0", "false", "no")}


class _Restore:
    """What :func:`lecture_hall` returns: ignore it, or use it in a ``with`` block to undo the switch."""

    def __init__(self, previous: bool):
        self.previous = previous

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        _hall["on"] = self.previous


def lecture_hall(on: bool = True) -> _Restore:
    """Make every figure and live demo made after this call larger, for the lecture hall.

    Type grows by 30 %, figures by 15 % and the resolution from 110 to 120 dpi. Also
    switched on by the environment variable ``COURSE_LECTURE_HALL=1``. Use it as a call
    (``lecture_hall(True)`` ... ``lecture_hall(False)``) or as a context manager:

    >>> with lecture_hall():
    ...     font(), dpi()
    (15.6, 120)
    >>> font(), dpi()
    (12.0, 110)
    """
    previous = _hall["on"]
    _hall["on"] = bool(on)
    return _Restore(previous)


def font(points: float = BASE_FONT) -> float:
    """A font size in points, scaled for the lecture hall (never below 12 points)."""
    return round(max(points, BASE_FONT) * (HALL["font"] if _hall["on"] else 1.0), 2)


def dpi() -> int:
    """The resolution of every figure: 110 dpi, 120 in the lecture hall."""
    return HALL["dpi"] if _hall["on"] else BASE_DPI


_current_dpi = dpi  # for figure(), whose argument is also called dpi


def size_scale() -> float:
    """How much larger (in inches) figures are drawn in the lecture hall, to make room for the type."""
    return HALL["size"] if _hall["on"] else 1.0


def rc() -> dict:
    """The matplotlib settings behind every figure: readable type at every size."""
    return {"font.size": font(), "axes.titlesize": font(13), "axes.labelsize": font(),
            "xtick.labelsize": font(), "ytick.labelsize": font(), "legend.fontsize": font(),
            "legend.title_fontsize": font(), "figure.titlesize": font(14), "figure.dpi": dpi(),
            "savefig.dpi": "figure"}


def readable(fig: Figure) -> Figure:
    """Give tick labels made later (matplotlib makes them when drawing) the readable size too."""
    for ax in fig.axes:
        ax.tick_params(which="both", labelsize=font())
    return fig


def describe(fig: Figure, text: str) -> Figure:
    """Attach a short description of what ``fig`` shows (alt text for slides and screen readers).

    >>> alt_text(describe(Figure(), "three stems"))
    'three stems'
    """
    fig._course_alt = " ".join(re.sub(r"<[^>]+>", "", text).replace("&lt;", "<").split())
    return fig


def alt_text(fig: Figure) -> str:
    """The description attached by :func:`describe` ("" if none)."""
    return getattr(fig, "_course_alt", "")


def projector(function: Callable[..., Figure]) -> Callable[..., Figure]:
    """Decorator of every figure function: draw it with :func:`rc` and make sure it is described
    (by default with the first line of the function's docstring)."""

    @functools.wraps(function)
    def draw(*args, **kwargs) -> Figure:
        with mpl.rc_context(rc()):
            fig = readable(function(*args, **kwargs))
        if not alt_text(fig):
            describe(fig, (function.__doc__ or function.__name__).strip().splitlines()[0])
        return fig

    return draw


def figure(width: float, height: float, dpi: int | None = None) -> Figure:
    """A constrained-layout figure that pyplot does not track, at :func:`dpi`, sized for the hall."""
    scale = size_scale()
    return Figure(figsize=(width * scale, height * scale), dpi=dpi or _current_dpi(),
                  layout="constrained")


def stem_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertical segments from 0 to ``y`` at ``x``, as one NaN-separated polyline.

    One Line2D for all stems lets a live demo move them with a single ``set_data``.

    >>> xs, ys = stem_xy([0, 1], [2, -1])
    >>> xs.tolist()[:2], ys.tolist()[:2], len(xs)
    ([0.0, 0.0], [0.0, 2.0], 6)
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    xs = np.repeat(x, 3)
    ys = np.zeros_like(xs)
    ys[1::3] = y
    xs[2::3] = ys[2::3] = np.nan
    return xs, ys


def draw_stems(ax: Axes, x, y, color: str, label: str | None = None):
    """Draw a discrete signal as stems; return the (stems, heads) Line2D pair."""
    stems, = ax.plot(*stem_xy(x, y), color=color, lw=2)
    heads, = ax.plot(x, y, "o", color=color, label=label)
    ax.axhline(0, color="0.6", lw=0.8)
    return stems, heads


def draw_grid(ax: Axes, values, title: str | None = None, vmax: float | None = None,
              cmap: str = "RdBu_r", fmt: str = "{:g}", fontsize: float | None = None):
    """Draw a small 2-D array as coloured cells with their numbers; NaN cells stay blank."""
    values = np.atleast_2d(np.asarray(values, float))
    finite = values[np.isfinite(values)]
    vmax = vmax or max(1.0, float(np.abs(finite).max()) if finite.size else 1.0)
    image = ax.imshow(values, cmap=cmap, vmin=-1.6 * vmax, vmax=1.6 * vmax)
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=font(fontsize or BASE_FONT))
    ax.set_xticks(np.arange(values.shape[1] + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(values.shape[0] + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="0.3", lw=0.8)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    if title:
        ax.set_title(title, fontsize=font())
    return image


@projector
def equation(terms: Sequence, titles: Sequence[str | None] | None = None,
             cell: float = 0.55) -> Figure:
    """Draw arrays and operators in a row, e.g. ``[A, "*", B, "=", C]``, with equal cell sizes."""
    widths = [0.8 if isinstance(t, str) else np.atleast_2d(t).shape[1] for t in terms]
    rows = max(np.atleast_2d(t).shape[0] for t in terms if not isinstance(t, str))
    fig = figure(max(cell * sum(widths) + 0.3, 1.2 * len(terms)), cell * rows + 0.9)
    axes = fig.subplots(1, len(terms), width_ratios=widths)
    titles = list(titles or [None] * len(terms))
    for ax, term, title in zip(np.atleast_1d(axes), terms, titles):
        if isinstance(term, str):
            ax.axis("off")
            ax.text(0.5, 0.5, term, ha="center", va="center", fontsize=font(18))
        else:
            draw_grid(ax, term, title)
    return fig


def display_limits(values: np.ndarray) -> tuple[float, float]:
    """Robust grey-level range: the 1st and 99th percentiles, so one bright pixel can't wash out."""
    lo, hi = np.percentile(values, [1, 99])
    return (float(lo), float(hi)) if hi > lo else (float(lo) - 1e-6, float(lo) + 1e-6)


@projector
def images(panels: Mapping[str, np.ndarray], cmap: str = "gray", width: float = 3.4) -> Figure:
    """Images side by side, each titled with its name and shape."""
    fig = figure(width * len(panels), width * 1.05)
    for ax, (name, img) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels.items()):
        ax.imshow(img, cmap=cmap, clim=display_limits(img))
        ax.set_title(f"{name}  {img.shape[0]}×{img.shape[1]}", fontsize=font())
        ax.axis("off")
    return fig


def window_box(i: int, j: int, h: int, w: int):
    """A highlight frame around the h×w window whose top-left cell is (i, j) of a drawn grid."""
    from matplotlib.patches import Rectangle

    return Rectangle((j - 0.5, i - 0.5), w, h, fill=False, ec=COLORS["hi"], lw=3, ls="--")
