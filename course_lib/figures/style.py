"""The figures' common style: one figure factory, colours, stems, number grids and equations.

Every figure of the course is a :class:`matplotlib.figure.Figure` built without pyplot, so
nothing is shown twice in a notebook and nothing leaks when a script makes many figures.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["COLORS", "figure", "stem_xy", "draw_stems", "draw_grid", "equation", "display_limits", "images",
           "window_box"]

COLORS = {"a": "tab:blue", "b": "tab:orange", "out": "tab:green", "hi": "tab:red"}


def figure(width: float, height: float, dpi: int = 90) -> Figure:
    """A constrained-layout figure that pyplot does not track."""
    return Figure(figsize=(width, height), dpi=dpi, layout="constrained")


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
              cmap: str = "RdBu_r", fmt: str = "{:g}", fontsize: int = 11):
    """Draw a small 2-D array as coloured cells with their numbers; NaN cells stay blank."""
    values = np.atleast_2d(np.asarray(values, float))
    finite = values[np.isfinite(values)]
    vmax = vmax or max(1.0, float(np.abs(finite).max()) if finite.size else 1.0)
    image = ax.imshow(values, cmap=cmap, vmin=-1.6 * vmax, vmax=1.6 * vmax)
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=fontsize)
    ax.set_xticks(np.arange(values.shape[1] + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(values.shape[0] + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="0.3", lw=0.8)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    if title:
        ax.set_title(title, fontsize=10)
    return image


def equation(terms: Sequence, titles: Sequence[str | None] | None = None,
             cell: float = 0.45) -> Figure:
    """Draw arrays and operators in a row, e.g. ``[A, "*", B, "=", C]``, with equal cell sizes."""
    widths = [0.8 if isinstance(t, str) else np.atleast_2d(t).shape[1] for t in terms]
    rows = max(np.atleast_2d(t).shape[0] for t in terms if not isinstance(t, str))
    fig = figure(cell * sum(widths) + 0.3, cell * rows + 0.6)
    axes = fig.subplots(1, len(terms), width_ratios=widths)
    titles = list(titles or [None] * len(terms))
    for ax, term, title in zip(np.atleast_1d(axes), terms, titles):
        if isinstance(term, str):
            ax.axis("off")
            ax.text(0.5, 0.5, term, ha="center", va="center", fontsize=18)
        else:
            draw_grid(ax, term, title)
    return fig


def display_limits(values: np.ndarray) -> tuple[float, float]:
    """Robust grey-level range: the 1st and 99th percentiles, so one bright pixel can't wash out."""
    lo, hi = np.percentile(values, [1, 99])
    return (float(lo), float(hi)) if hi > lo else (float(lo) - 1e-6, float(lo) + 1e-6)


def images(panels: Mapping[str, np.ndarray], cmap: str = "gray", width: float = 3.4) -> Figure:
    """Images side by side, each titled with its name and shape."""
    fig = figure(width * len(panels), width * 1.05)
    for ax, (name, img) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels.items()):
        ax.imshow(img, cmap=cmap, clim=display_limits(img))
        ax.set_title(f"{name}  {img.shape[0]}×{img.shape[1]}", fontsize=10)
        ax.axis("off")
    return fig


def window_box(i: int, j: int, h: int, w: int):
    """A highlight frame around the h×w window whose top-left cell is (i, j) of a drawn grid."""
    from matplotlib.patches import Rectangle

    return Rectangle((j - 0.5, i - 0.5), w, h, fill=False, ec=COLORS["hi"], lw=3)
