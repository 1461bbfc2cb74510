"""A generated colour-image classification set, for tests and offline demos.

Ten classes of shapes and textures, drawn with random colours, sizes, positions, tilts and
noise: hard enough that a linear model on raw pixels struggles (the position varies), easy
enough that a small conv net learns it in seconds. Use it where CIFAR-10 is not at hand.
"""
from __future__ import annotations

import numpy as np

from course_lib._checks import check_int

__all__ = ["SHAPE_CLASSES", "synthetic_shapes", "shape_mask"]

#: The classes of :func:`synthetic_shapes`, in label order.
SHAPE_CLASSES: tuple[str, ...] = ("disk", "square", "triangle", "ring", "frame", "plus", "cross",
                                  "horizontal stripes", "vertical stripes", "checkerboard")


def shape_mask(label: int, u: np.ndarray, v: np.ndarray, freq: np.ndarray,
               phase: np.ndarray) -> np.ndarray:
    """Where class ``label`` is drawn, in shape coordinates ``(u, v)`` (radius 1, centred).

    ``freq`` (stripes per unit of u or v) and ``phase`` only matter for the textured classes.
    """
    box = np.maximum(np.abs(u), np.abs(v))
    rho = np.hypot(u, v)
    if label == 0:
        return rho <= 1.0
    if label == 1:
        return box <= 0.8
    if label == 2:  # apex at the top (v = -1), base at v = 0.7
        return (v <= 0.7) & (np.abs(u) <= 0.55 * (v + 1.0))
    if label == 3:
        return (rho >= 0.55) & (rho <= 1.0)
    if label == 4:
        return (box >= 0.5) & (box <= 0.85)
    if label in (5, 6):
        if label == 6:  # the plus turned by 45 degrees
            u, v = (u + v) / np.sqrt(2), (u - v) / np.sqrt(2)
        return ((np.abs(u) <= 0.25) & (np.abs(v) <= 1.0)) | ((np.abs(v) <= 0.25) & (np.abs(u) <= 1.0))
    wave_v = np.cos(2 * np.pi * freq * v + phase) > 0
    wave_u = np.cos(2 * np.pi * freq * u + phase) > 0
    pattern = {7: wave_v, 8: wave_u, 9: wave_u ^ wave_v}[label]
    return pattern & (box <= 1.0)


def synthetic_shapes(n: int, image_size: int = 32, num_classes: int = 10,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A generated colour-image classification set: ``(images, labels)``.

    Shapes: ``images`` is ``(n, 3, image_size, image_size)`` uint8 (NCHW, like
    :func:`load_cifar10`), ``labels`` is ``(n,)`` uint8, an index into ``SHAPE_CLASSES``
    (the first ``num_classes`` of them), balanced to within one image per class.

    Each image is one shape or texture patch (disk, square, triangle, ring, frame, plus, cross,
    horizontal or vertical stripes, checkerboard) of random size (radius 22-38 % of the image),
    position, small rotation, stripe width and colours, light on dark or dark on light, plus
    Gaussian pixel noise (sigma 12). The same ``seed`` gives the same set. A small conv net learns
    it far above chance in seconds, which makes it a stand-in for CIFAR-10 in tests and offline.
    """
    func = "synthetic_shapes"
    n = check_int(n, "n", func, 1)
    size = check_int(image_size, "image_size", func, 8)
    num_classes = check_int(num_classes, "num_classes", func, 2)
    seed = check_int(seed, "seed", func, 0)
    if num_classes > len(SHAPE_CLASSES):
        raise ValueError(f"{func}: argument 'num_classes' must be at most {len(SHAPE_CLASSES)} "
                         f"(the classes are {', '.join(SHAPE_CLASSES)}), got {num_classes}.")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % num_classes).astype(np.uint8)
    radius = (rng.uniform(0.22, 0.38, n) * size).astype(np.float32)
    cx, cy = (rng.uniform(radius, size - radius).astype(np.float32) for _ in range(2))
    angle = rng.uniform(-0.3, 0.3, n).astype(np.float32)  # radians: a tilt, not a new class
    # Stripe period: half to 0.8 of the radius (2.5 to 4 periods across a patch), at least 3 px.
    freq = radius / np.maximum(3.0, radius * rng.uniform(0.5, 0.8, n).astype(np.float32))
    phase = rng.uniform(0, 2 * np.pi, n).astype(np.float32)
    dark = rng.uniform(0, 90, (n, 3)).astype(np.float32)
    light = rng.uniform(150, 255, (n, 3)).astype(np.float32)
    swap = rng.random(n) < 0.5
    fg = np.where(swap[:, None], dark, light)
    bg = np.where(swap[:, None], light, dark)

    grid = np.arange(size, dtype=np.float32) + 0.5  # pixel centres
    dx = (grid[None, None, :] - cx[:, None, None]) / radius[:, None, None]
    dy = (grid[None, :, None] - cy[:, None, None]) / radius[:, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy
    mask = np.zeros((n, size, size), dtype=bool)
    for label in range(num_classes):
        rows = labels == label
        mask[rows] = shape_mask(label, u[rows], v[rows], freq[rows, None, None],
                                 phase[rows, None, None])

    images = np.where(mask[:, None], fg[:, :, None, None], bg[:, :, None, None])
    images += 12.0 * rng.standard_normal(images.shape, dtype=np.float32)
    np.clip(images, 0, 255, out=images)
    return (images + 0.5).astype(np.uint8), labels  # + 0.5 then truncate: round to nearest
