"""Static figures of lecture 04: a pooling example and pooling across channels.

The numbers come from :mod:`course_lib.pool`; these functions only draw them.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from course_lib import conv, pool
from course_lib.figures.style import describe, equation, figure, projector, window_box

__all__ = ["pooling_example", "oriented_bar", "cross_channel_pooling"]

# ----------------------------------------------------------------------------- lecture 4
@projector
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
        rect = window_box(i * stride, j * stride, kernel_size, kernel_size)
        rect.set_edgecolor(f"C{k % 10}")
        rect.set_linestyle("--" if k % 2 else "-")
        ax0.add_patch(rect)
    return describe(fig, f"A {x.shape[0]}×{x.shape[1]} map pooled with {kernel_size}×{kernel_size} windows, "
                         f"stride {stride}: max {outs['max'].ravel().tolist()}, average and L2 pooling.")


def oriented_bar(angle_deg: float, size: int = 21, length: float = 7.0) -> np.ndarray:
    """A bright bar through the centre of a ``size`` × ``size`` image, ``angle_deg`` from vertical."""
    r = np.arange(size) - size // 2
    yy, xx = np.meshgrid(r, r, indexing="ij")
    t = np.deg2rad(angle_deg)
    along = yy * np.cos(t) + xx * np.sin(t)
    across = -yy * np.sin(t) + xx * np.cos(t)
    return ((np.abs(across) < 1.0) & (np.abs(along) <= length)).astype(float)


@projector
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
    fig = figure(12, 3.6)
    axes = fig.subplots(1, len(filters) + 1, width_ratios=[1] * len(filters) + [3])
    for k, (ax, f) in enumerate(zip(axes, filters)):
        ax.imshow(f, cmap="gray")
        ax.set_title(f"filter {k}: {filter_angles[k]}°")
        ax.axis("off")
    pooled = pool.max_pool_channels(responses, group_size=len(filters))[:, 0]
    axes[-1].plot(angles, pooled, color="0.2", lw=7, alpha=0.3, label="max over channels")
    for k in range(len(filters)):
        axes[-1].plot(angles, responses[:, k], ("--", ":", "-.")[k % 3], marker="osd^v"[k % 5], ms=4,
                      label=f"filter {k}")
    axes[-1].set_xlabel("angle of the input bar (degrees)")
    axes[-1].set_ylabel("strongest response")
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1, 1))
    return describe(fig, f"{len(filters)} oriented bar filters and their responses as the input bar rotates "
                         "from -70 to 70 degrees; the max over the channels stays high over the whole range.")
