"""Scenes for detection and segmentation: small glyphs (MNIST digits, or generated shapes) placed on
a larger canvas, with a class label for every pixel and a box around every glyph.

A classifier answers "which digit is this 28×28 image?". To ask "where are the digits, and which
pixels belong to which?" we need pictures with several objects and answers per pixel; a canvas
made of known glyphs gives both for free::

    canvas[r, c] = max over the glyphs g placed at (top, left) of g[r - top, c - left]
    labels[r, c] = the class of the glyph with ink > threshold at (r, c), else background_class

Every function is seeded and returns NumPy arrays (``float32`` pixels in [0, 1], 0 = blank).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course_lib._checks import check_int, to_numeric_array
from course_lib.data.shapes import shape_mask

__all__ = ["Canvas", "place_glyphs", "make_canvases", "shifted_windows", "shape_glyphs", "ink_box"]


@dataclass
class Canvas:
    """One scene: ``image`` (H, W) float32, ``labels`` (H, W) int64, and ``boxes``, one row
    ``(top, left, bottom, right, class)`` per glyph: the tight box around its ink, ends excluded."""

    image: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray


def _glyphs(glyphs, classes, func: str) -> tuple[np.ndarray, np.ndarray]:
    """Glyphs (N, h, w), uint8 (0..255) or float in [0, 1], as they are, and classes (N,) int64."""
    g = to_numeric_array(glyphs, "glyphs", func, ndim=3, what="stack of glyph images (N, h, w)")
    if g.dtype != np.uint8 and (g.min() < 0 or g.max() > 1):
        raise ValueError(f"{func}: argument 'glyphs' must hold pixels in [0, 1] (or uint8 0..255), "
                         f"got values from {g.min():g} to {g.max():g}.")
    y = np.asarray(classes)
    if y.shape != (len(g),) or not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
        raise ValueError(f"{func}: argument 'classes' must hold one class index >= 0 per glyph "
                         f"({len(g)}), got {y.dtype} of shape {y.shape}.")
    return g, y.astype(np.int64)


def _float(g: np.ndarray) -> np.ndarray:
    """Pixels as float32 in [0, 1]: uint8 is divided by 255."""
    return g.astype(np.float32) / 255 if g.dtype == np.uint8 else g.astype(np.float32)


def ink_box(glyph: np.ndarray, threshold: float = 0.5) -> tuple[int, int, int, int]:
    """The tight box ``(top, left, bottom, right)`` (ends excluded) around the pixels above
    ``threshold``; ``(0, 0, 0, 0)`` for a glyph without ink.

    >>> ink_box(np.array([[0, 0, 0], [0, 1, 1], [0, 0, 0]]))
    (1, 1, 2, 3)
    """
    rows, cols = np.nonzero(np.asarray(glyph) > threshold)
    if not len(rows):
        return (0, 0, 0, 0)
    return int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1


def _separate(box: np.ndarray, others: np.ndarray, gap: int) -> np.ndarray:
    """True where ``box`` (m, 4) lies at least ``gap`` pixels away from every row of ``others``
    (m, k, 4); boxes are (top, left, bottom, right) with the ends excluded."""
    b = box[:, None, :]
    apart = ((b[..., 0] >= others[..., 2] + gap) | (others[..., 0] >= b[..., 2] + gap)
             | (b[..., 1] >= others[..., 3] + gap) | (others[..., 1] >= b[..., 3] + gap))
    return apart.all(1)


def _scenes(g, y, n, height, width, count, background_class, threshold, gap, rng, tries):
    """n canvases at once: images (n, H, W), labels (n, H, W), boxes (n, count, 5) and which
    of the count glyphs found a place (n, count). Vectorised over the canvases."""
    h, w = g.shape[1:]
    picks = rng.integers(len(g), size=(n, count))
    chosen = _float(g[picks.ravel()]).reshape(n, count, h, w)
    ink = chosen > threshold
    rows, cols = ink.any(3), ink.any(2)
    inked = rows.any(2)  # a blank glyph would only add an empty box: it is never placed
    first = lambda m: m.argmax(2)  # noqa: E731 (index of the first True along the last axis)
    last = lambda m: m.shape[2] - m[:, :, ::-1].argmax(2)  # noqa: E731 (one past the last True)
    ink_boxes = np.stack([first(rows), first(cols), last(rows), last(cols)], -1)
    boxes = np.full((n, count, 4), -10 ** 6)  # far away until placed
    corner, placed = np.zeros((n, count, 2), np.int64), np.zeros((n, count), bool)
    for j in range(count):
        todo = np.flatnonzero(inked[:, j])
        for _ in range(tries):
            if not len(todo):
                break
            at = np.stack([rng.integers(0, height - h + 1, len(todo)), rng.integers(0, width - w + 1, len(todo))], 1)
            box = ink_boxes[todo, j] + np.tile(at, 2)
            ok = _separate(box, boxes[todo, :j], gap) if j else np.ones(len(todo), bool)
            done = todo[ok]
            boxes[done, j], corner[done, j], placed[done, j] = box[ok], at[ok], True
            todo = todo[~ok]
    images = np.zeros((n, height, width), np.float32)
    labels = np.full((n, height, width), background_class, np.int64)
    for j in range(count):
        i = np.flatnonzero(placed[:, j])
        r = (corner[i, j, 0][:, None] + np.arange(h))[:, :, None]
        c = (corner[i, j, 1][:, None] + np.arange(w))[:, None, :]
        at = (i[:, None, None], r, c)
        images[at] = np.maximum(images[at], chosen[i, j])
        labels[at] = np.where(ink[i, j], y[picks[i, j]][:, None, None], labels[at])
    return images, labels, np.concatenate([boxes, y[picks][..., None]], -1), placed


def _scene_arguments(func, glyphs, classes, size, count, background_class, threshold, gap, seed):
    g, y = _glyphs(glyphs, classes, func)
    height, width = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    height, width = check_int(height, "size", func, g.shape[1]), check_int(width, "size", func, g.shape[2])
    count, gap = check_int(count, "count", func, 0), check_int(gap, "gap", func, 0)
    background_class = check_int(background_class, "background_class", func, 0)
    if not 0 <= threshold < 1:
        raise ValueError(f"{func}: argument 'threshold' must be in [0, 1), got {threshold!r}.")
    return g, y, height, width, count, background_class, gap, np.random.default_rng(check_int(seed, "seed", func, 0))


def place_glyphs(glyphs, classes, size: int | tuple[int, int], count: int, *,
                 background_class: int, threshold: float = 0.5, gap: int = 2, seed: int = 0,
                 tries: int = 100) -> Canvas:
    """Up to ``count`` randomly chosen glyphs at random places on a blank ``size`` canvas.

    ``glyphs``: (N, h, w), uint8 or float in [0, 1]; ``classes``: (N,) their class indices.
    Glyphs never touch: their ink boxes stay ``gap`` pixels apart (a glyph that finds no free
    place in ``tries`` attempts is left out, so a crowded canvas may hold fewer). Pixels are
    combined with ``max``; ``labels`` is the glyph's class where its ink exceeds ``threshold`` and
    ``background_class`` elsewhere.

    >>> ones = np.ones((1, 2, 2), np.float32)
    >>> c = place_glyphs(ones, [3], 4, 1, background_class=9, seed=0)
    >>> int(c.image.sum()), sorted(set(c.labels.ravel().tolist())), c.boxes.shape
    (4, [3, 9], (1, 5))
    """
    g, y, height, width, count, background_class, gap, rng = _scene_arguments(
        "place_glyphs", glyphs, classes, size, count, background_class, threshold, gap, seed)
    images, labels, boxes, placed = _scenes(g, y, 1, height, width, count, background_class, threshold,
                                            gap, rng, tries)
    return Canvas(images[0], labels[0], boxes[0][placed[0]].astype(np.int64))


def make_canvases(glyphs, classes, n: int, size: int | tuple[int, int], count: int, *,
                  background_class: int, threshold: float = 0.5, gap: int = 2,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` canvases as :func:`place_glyphs` makes them, stacked and ready for a segmentation
    net: ``images`` (n, 1, H, W) float32 and ``labels`` (n, H, W) int64."""
    g, y, height, width, count, background_class, gap, rng = _scene_arguments(
        "make_canvases", glyphs, classes, size, count, background_class, threshold, gap, seed)
    n = check_int(n, "n", "make_canvases", 1)
    images, labels, _, _ = _scenes(g, y, n, height, width, count, background_class, threshold, gap, rng, 100)
    return images[:, None], labels


def _shifted(g: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Each glyph ``g[i]`` (n, h, w) moved by ``(dy[i], dx[i])`` pixels inside its own frame; what
    leaves the frame is lost, what comes in is blank. Rows first, then columns (a shift is
    separable), one slice per distinct shift: no loop over the glyphs."""
    n, h, w = g.shape
    rows = np.zeros_like(g)
    for d in np.unique(dy):
        i = np.flatnonzero(dy == d)
        rows[i, max(d, 0):h + min(d, 0)] = g[i, max(-d, 0):h - max(d, 0)]
    out = np.zeros_like(g)
    for d in np.unique(dx):
        i = np.flatnonzero(dx == d)
        out[i, :, max(d, 0):w + min(d, 0)] = rows[i, :, max(-d, 0):w - max(d, 0)]
    return out


def shifted_windows(glyphs, classes, n: int, *, background_class: int, max_shift: int = 2,
                    min_offset: int = 8, background_fraction: float = 0.4,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Training windows for a sliding-window classifier: ``(windows (n, h, w), labels (n,))``.

    A window is a glyph *centred* to within ``max_shift`` pixels (label: its class), or, for a
    ``background_fraction`` of them, nothing, one or two glyphs pushed at least ``min_offset``
    pixels off centre along one axis, so that only part of them shows (label:
    ``background_class``). A classifier trained on these answers "background" unless a glyph sits
    in the middle of its window, which makes its heat map over a canvas peak once per glyph.

    >>> w, y = shifted_windows(np.ones((1, 28, 28)), [7], 500, background_class=10, seed=0)
    >>> sorted(set(y.tolist())), bool((w[y == 7].sum((1, 2)) >= 26 * 26).all())
    ([7, 10], True)
    """
    func = "shifted_windows"
    g, y = _glyphs(glyphs, classes, func)
    n = check_int(n, "n", func, 1)
    max_shift, min_offset = check_int(max_shift, "max_shift", func, 0), check_int(min_offset, "min_offset", func, 1)
    background_class = check_int(background_class, "background_class", func, 0)
    if not 0 <= background_fraction <= 1:
        raise ValueError(f"{func}: argument 'background_fraction' must be in [0, 1], got {background_fraction!r}.")
    h, w = g.shape[1:]
    if not max_shift < min_offset < min(h, w):
        raise ValueError(f"{func}: argument 'min_offset' must lie between max_shift ({max_shift}) and the "
                         f"glyph size ({min(h, w)}), got {min_offset}.")
    rng = np.random.default_rng(check_int(seed, "seed", func, 0))
    background = rng.random(n) < background_fraction
    first, second = rng.integers(len(g), size=(2, n))
    shift = rng.integers(-max_shift, max_shift + 1, (2, n))
    windows = _shifted(g[first], *shift)  # in the glyphs' own type (uint8: 4x less memory)
    labels = np.where(background, background_class, y[first])
    glyphs_in = rng.integers(0, 3, n)  # a background window holds 0, 1 or 2 glyphs, all off centre
    for layer, k in ((1, first), (2, second)):
        far = rng.integers(min_offset, min(h, w) - 4, (2, n)) * rng.choice([-1, 1], (2, n))
        axis = rng.integers(2, size=n)  # off along this axis, anywhere near the centre along the other
        far[1 - axis, np.arange(n)] = rng.integers(-max_shift - 4, max_shift + 5, n)
        part = _shifted(g[k], *far)
        part[~background | (glyphs_in < layer)] = 0
        if layer == 1:
            windows[background] = 0
        np.maximum(windows, part, out=windows)
    return _float(windows), labels.astype(np.int64)


def shape_glyphs(n: int, size: int = 28, num_classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Generated stand-ins for digits when MNIST is not at hand: ``(glyphs (n, size, size) float32,
    labels (n,) int64)``, white shapes on black, one class per shape of
    :data:`course_lib.data.shapes.SHAPE_CLASSES`, centred to within 2 pixels, of radius 30-40 %
    of ``size``, tilted a little, with a random brightness of 0.7-1.

    >>> glyphs, labels = shape_glyphs(20, seed=0)
    >>> glyphs.shape, sorted(set(labels.tolist())) == list(range(10)), float(glyphs.max()) <= 1
    ((20, 28, 28), True, True)
    """
    func = "shape_glyphs"
    n, size = check_int(n, "n", func, 1), check_int(size, "size", func, 8)
    num_classes = check_int(num_classes, "num_classes", func, 1)
    if num_classes > 10:
        raise ValueError(f"{func}: argument 'num_classes' must be at most 10 (the shapes), got {num_classes}.")
    rng = np.random.default_rng(check_int(seed, "seed", func, 0))
    labels = rng.permutation(np.arange(n) % num_classes)
    radius = rng.uniform(0.3, 0.4, n)[:, None, None] * size
    centre = size / 2 + rng.uniform(-2, 2, (2, n))[:, :, None, None]
    angle = rng.uniform(-0.3, 0.3, n)[:, None, None]
    grid = np.arange(size) + 0.5
    dx, dy = (grid[None, None, :] - centre[0]) / radius, (grid[None, :, None] - centre[1]) / radius
    u, v = np.cos(angle) * dx + np.sin(angle) * dy, -np.sin(angle) * dx + np.cos(angle) * dy
    glyphs = np.zeros((n, size, size), np.float32)
    for label in range(num_classes):
        rows = labels == label
        freq, phase = np.full((rows.sum(), 1, 1), 2.0), np.zeros((rows.sum(), 1, 1))
        glyphs[rows] = shape_mask(label, u[rows], v[rows], freq, phase)
    return glyphs * rng.uniform(0.7, 1.0, (n, 1, 1)).astype(np.float32), labels.astype(np.int64)
