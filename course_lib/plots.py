"""Static figures of the lectures: convolution, filters, layers and pooling.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so nothing
is shown twice in a notebook and nothing leaks when a script makes many figures; in Jupyter
the figure is drawn when it is the last value of a cell. The numbers come from ``conv`` and
``pool``: these functions only draw them.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from course_lib import conv, pool

# The filters of the lecture-2 gallery, as written on the slides (not normalised: the
# figures rescale each result for display, so only the shape of the kernel matters).
GALLERY_KERNELS: dict[str, np.ndarray] = {
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], float),
    "blur": np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], float),
    "sharpen": np.array([[0, -1, 0], [-1, 8, -1], [0, -1, 0]], float),
    "Laplacian": np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], float),
    "Sobel (vertical edges)": np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], float),
    "box blur": np.full((3, 3), 1 / 9),
}
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


# ----------------------------------------------------------------------------- lecture 1
def translate_and_scale_1d(a, b) -> Figure:
    """(a * b) as the sum of copies of ``b``, each shifted by k and scaled by ``a[k]``."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    result = conv.conv1d_translate_scale(a, b)
    n = len(result)
    fig = figure(6.5, 1.05 * (len(a) + 3))
    axes = fig.subplots(len(a) + 3, 1, sharex=True)
    draw_stems(axes[0], np.arange(len(a)), a, COLORS["a"])
    axes[0].set_title(f"a = {a.tolist()}", fontsize=10, loc="left")
    draw_stems(axes[1], np.arange(len(b)), b, COLORS["b"])
    axes[1].set_title(f"b = {b.tolist()}", fontsize=10, loc="left")
    for k, ak in enumerate(a):
        term = np.zeros(n)
        term[k:k + len(b)] = ak * b
        draw_stems(axes[k + 2], np.arange(n), term, "0.35")
        axes[k + 2].set_title(f"a[{k}] = {ak:g} times b shifted right by {k}",
                              fontsize=10, loc="left")
    draw_stems(axes[-1], np.arange(n), result, COLORS["out"])
    axes[-1].set_title(f"sum of the rows above: a * b = {result.tolist()}", fontsize=10, loc="left")
    axes[-1].set_xticks(np.arange(n))
    axes[-1].set_xlabel("t")
    for ax in axes:
        ax.set_xlim(-0.6, n - 0.4)
        ax.margins(y=0.25)
    return fig


def conv_matrix_1d_figure(a, b) -> Figure:
    """The Toeplitz matrix of ``b`` times the vector ``a`` equals ``a * b``."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    matrix = conv.conv_matrix_1d(b, len(a), mode="full")
    shown = np.where(matrix == 0, np.nan, matrix)  # blank zeros make the diagonals stand out
    return equation([shown, "×", a[:, None], "=", matrix @ a[:, None]],
                    ["Toeplitz matrix of b", None, "a", None, "a * b"])


# ----------------------------------------------------------------------------- lecture 2
def translate_and_scale_2d(A, B) -> Figure:
    """(A * B) as copies of ``A`` shifted by (s, t) and scaled by ``B[s, t]`` (zeros skipped)."""
    A, B = np.asarray(A, float), np.asarray(B, float)
    out_shape = (A.shape[0] + B.shape[0] - 1, A.shape[1] + B.shape[1] - 1)
    terms: list = []
    titles: list = []
    for (s, t), weight in np.ndenumerate(B):
        if weight == 0:
            continue
        copy = np.full(out_shape, np.nan)
        copy[s:s + A.shape[0], t:t + A.shape[1]] = A
        terms += ["+" if terms else "", copy]
        titles += [None, f"{weight:g} × A shifted ({s},{t})"]
    terms[0] = ""
    result = conv.conv2d_translate_scale(A, B, mode="full")
    return equation(terms[1:] + ["=", result], titles[1:] + [None, "A * B"])


def flip_and_filter_2d(A, B, i: int, j: int) -> Figure:
    """Output (i, j) of the full convolution: the flipped ``B`` laid over zero-padded ``A``."""
    A, B = np.asarray(A, float), np.asarray(B, float)
    kh, kw = B.shape
    padded = np.full((A.shape[0] + 2 * (kh - 1), A.shape[1] + 2 * (kw - 1)), np.nan)
    padded[kh - 1:kh - 1 + A.shape[0], kw - 1:kw - 1 + A.shape[1]] = A
    window = np.nan_to_num(padded[i:i + kh, j:j + kw])
    flipped = B[::-1, ::-1]
    result = conv.conv2d_flip_filter(A, B, mode="full")
    fig = figure(9, 2.6)
    axes = fig.subplots(1, 4, width_ratios=[padded.shape[1], kw, kw, result.shape[1]])
    draw_grid(axes[0], padded, "A, zero-padded")
    axes[0].add_patch(_box(i, j, kh, kw))
    draw_grid(axes[1], flipped, "B flipped")
    draw_grid(axes[2], window * flipped, f"products, sum {np.sum(window * flipped):g}")
    draw_grid(axes[3], result, f"A * B, entry ({i},{j})")
    axes[3].add_patch(_box(i, j, 1, 1))
    return fig


def _box(i: int, j: int, h: int, w: int):
    from matplotlib.patches import Rectangle

    return Rectangle((j - 0.5, i - 0.5), w, h, fill=False, ec=COLORS["hi"], lw=3)


def filter_image(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve a grey image (H, W) with a small kernel, keeping its size ("same" mode).

    >>> filter_image(np.ones((3, 3)), GALLERY_KERNELS["Laplacian"])  # zero inside, edges show
    array([[2., 1., 2.],
           [1., 0., 1.],
           [2., 1., 2.]])
    """
    return conv.conv2d_translate_scale(image, kernel, mode="same")


def display_limits(values: np.ndarray) -> tuple[float, float]:
    """Robust grey-level range: the 1st and 99th percentiles, so one bright pixel can't wash out."""
    lo, hi = np.percentile(values, [1, 99])
    return (float(lo), float(hi)) if hi > lo else (float(lo) - 1e-6, float(lo) + 1e-6)


def filter_gallery(image: np.ndarray, kernels: Mapping[str, np.ndarray] = GALLERY_KERNELS,
                   columns: int = 3) -> Figure:
    """One panel per kernel: the photo convolved with it, the kernel written in the title."""
    rows = -(-len(kernels) // columns)
    fig = figure(3.2 * columns, 3.5 * rows)
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax, (name, kernel) in zip(axes, kernels.items()):
        out = filter_image(image, kernel)
        ax.imshow(out, cmap="gray", clim=display_limits(out))
        rows_txt = "\n".join(" ".join(f"{v:5.2g}" for v in row) for row in kernel)
        ax.set_title(f"{name}\n{rows_txt}", fontsize=9, family="monospace")
    for ax in axes:
        ax.axis("off")
    return fig


def images(panels: Mapping[str, np.ndarray], cmap: str = "gray", width: float = 3.4) -> Figure:
    """Images side by side, each titled with its name and shape."""
    fig = figure(width * len(panels), width * 1.05)
    for ax, (name, img) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels.items()):
        ax.imshow(img, cmap=cmap, clim=display_limits(img))
        ax.set_title(f"{name}  {img.shape[0]}×{img.shape[1]}", fontsize=10)
        ax.axis("off")
    return fig


# ----------------------------------------------------------------------------- lecture 3
def receptive_fields(n_layers: int = 3, kernel_size: int = 3, stride: int = 1,
                     width: int = 13) -> Figure:
    """Units of a 1-D conv stack; the inputs that feed one top unit are highlighted.

    The receptive field after layer L is r_L = r_{L-1} + (kernel_size - 1) * stride**(L-1).
    """
    fig = figure(7, 1.1 * (n_layers + 1))
    ax = fig.subplots()
    centre = {n_layers: [0]}
    for layer in range(n_layers, 0, -1):  # walk down from the top unit
        step = stride ** (layer - 1)
        centre[layer - 1] = sorted({c + (k - kernel_size // 2) * step
                                    for c in centre[layer] for k in range(kernel_size)})
        for c in centre[layer]:
            for k in range(kernel_size):
                ax.plot([c, c + (k - kernel_size // 2) * step], [layer, layer - 1],
                        color=COLORS["a"], lw=1)
    for layer in range(n_layers + 1):
        spacing = stride ** layer
        xs = np.arange(-(width // 2), width // 2 + 1) * 1.0
        xs = xs[np.abs(xs) % spacing == 0] if layer else xs
        lit = np.isin(xs, centre[layer])
        ax.scatter(xs, np.full_like(xs, layer), s=60, c=np.where(lit, COLORS["hi"], "0.8"), zorder=3)
        label = "input" if layer == 0 else f"layer {layer}"
        ax.text(-(width // 2) - 1, layer, f"{label}: {lit.sum()} lit", ha="right", va="center",
                fontsize=9)
    ax.set_title(f"{n_layers} layers of size-{kernel_size} kernels, stride {stride}: "
                 f"one top unit sees {len(centre[0])} inputs", fontsize=10)
    ax.axis("off")
    ax.set_xlim(-(width // 2) - 4, width // 2 + 1)
    return fig


def im2col_figure(x: np.ndarray, kernel_size: int) -> Figure:
    """A small 1-channel image and its im2col matrix: one column per output position."""
    cols = conv.im2col(x[None, None], kernel_size)
    cols = cols.reshape(-1, cols.shape[-1]) if cols.ndim == 3 else cols
    fig = figure(2.2 + 0.42 * cols.shape[1], 2.6)
    axes = fig.subplots(1, 2, width_ratios=[x.shape[1], cols.shape[1]])
    draw_grid(axes[0], x, "input x", cmap="Pastel1")
    draw_grid(axes[1], cols, f"im2col: {cols.shape[0]} rows × {cols.shape[1]} columns",
              cmap="Pastel1", fontsize=9)
    return fig


# ----------------------------------------------------------------------------- lecture 4
def pooling_example(x, kernel_size: int = 2, stride: int = 2) -> Figure:
    """Max, average and L2 pooling of one small map, with its windows coloured."""
    x = np.asarray(x, float)
    batch = x[None, None]
    outs = {"max": pool.max_pool2d(batch, kernel_size, stride)[0, 0],
            "average": pool.avg_pool2d(batch, kernel_size, stride)[0, 0],
            "L2": pool.lp_pool2d(batch, 2, kernel_size, stride)[0, 0]}
    terms: list = [x, "→"]
    titles: list = [f"input, F={kernel_size}, S={stride}", None]
    for name, out in outs.items():
        terms += [np.round(out, 2), ""]
        titles += [name, None]
    fig = equation(terms[:-1], titles[:-1])
    ax0 = fig.axes[0]
    for k, (i, j) in enumerate(np.ndindex(*outs["max"].shape)):
        rect = _box(i * stride, j * stride, kernel_size, kernel_size)
        rect.set_edgecolor(f"C{k % 10}")
        rect.set_linestyle("--" if k % 2 else "-")
        ax0.add_patch(rect)
    return fig


def oriented_bar(angle_deg: float, size: int = 21, length: float = 7.0) -> np.ndarray:
    """A bright bar through the centre of a ``size`` × ``size`` image, ``angle_deg`` from vertical."""
    r = np.arange(size) - size // 2
    yy, xx = np.meshgrid(r, r, indexing="ij")
    t = np.deg2rad(angle_deg)
    along = yy * np.cos(t) + xx * np.sin(t)
    across = -yy * np.sin(t) + xx * np.cos(t)
    return ((np.abs(across) < 1.0) & (np.abs(along) <= length)).astype(float)


def cross_channel_pooling(filter_angles: Sequence[float] = (-40, 0, 40)) -> Figure:
    """Three oriented bar detectors, and the max over them, as the input bar rotates.

    Each detector alone responds to a narrow range of angles; the max across the three
    channels stays high over the whole range, so it is (roughly) invariant to rotation.
    """
    angles = np.arange(-70, 71, 5)
    filters = [oriented_bar(a, size=9, length=3.5) for a in filter_angles]
    # Zero mean (a flat patch gives no response) and unit norm (no filter wins by size alone).
    filters = [(f - f.mean()) / np.linalg.norm(f - f.mean()) for f in filters]
    responses = np.array([[conv.correlate2d(oriented_bar(a), f, mode="valid").max()
                           for f in filters] for a in angles])
    fig = figure(9, 3)
    axes = fig.subplots(1, len(filters) + 1, width_ratios=[1] * len(filters) + [3])
    for k, (ax, f) in enumerate(zip(axes, filters)):
        ax.imshow(f, cmap="gray")
        ax.set_title(f"filter {k}: {filter_angles[k]}°", fontsize=9)
        ax.axis("off")
    pooled = pool.max_pool_channels(responses, group_size=len(filters))[:, 0]
    axes[-1].plot(angles, pooled, color="0.2", lw=7, alpha=0.3, label="max over channels")
    for k in range(len(filters)):
        axes[-1].plot(angles, responses[:, k], "--", label=f"filter {k}")
    axes[-1].set_xlabel("angle of the input bar (degrees)")
    axes[-1].set_ylabel("strongest response")
    axes[-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
    return fig
