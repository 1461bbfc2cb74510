"""Widget callback latency: every live demo of the lectures against the 50 ms budget.

Claim (issue 4, "live speed"): a widget callback computes in no more than 50 ms, so a lecturer's
slider feels live.

What is timed, for each demo of ``course_lib.widgets``, over a sweep of slider values:

* ``update``: the computation and the changes to the figure's artists;
* ``frame``: ``update`` plus rendering the PNG that the browser shows, i.e. the whole callback
  (what a lecturer waits for; the browser then only swaps an image);
* beside it, the reference: the same update followed by a naive full redraw
  (``fig.savefig``, which lays out and draws every axis, tick and label again), the way a
  straightforward matplotlib callback would do it.

Each demo is built with the same inputs as in its notebook (the real photo where the notebook
uses one). Run: ``.venv/bin/python benchmarks/widget_latency.py [--repeats N]``. The last line
reads ``widget_latency worst_frame_ms=X budget_ms=50 ok=True|False``.
"""
from __future__ import annotations

import argparse
import io
import itertools
import statistics
import time

import matplotlib

matplotlib.use("Agg")

from course_lib import data, figures, widgets  # noqa: E402

BUDGET_MS = 50.0


def demos() -> dict[str, tuple[widgets.LiveDemo, list[dict]]]:
    """Each demo with the values its sliders sweep through (as a lecturer would move them)."""
    photo = data.sample_photo("grace_hopper.jpg", gray=True)
    sobel = figures.GALLERY_KERNELS["Sobel (vertical edges)"]
    return {
        "01 flip-and-filter": (widgets.FlipAndFilterDemo([2, -1, 1], [1, 1, 2]),
                               [dict(t=t) for t in range(5)]),
        "02 filter gallery": (widgets.FilterGalleryDemo(photo[120:376, 128:384]),
                              [dict(kernel=k) for k in figures.GALLERY_KERNELS]
                              + [dict(kernel=sobel.T), dict(kernel=sobel * 2)]),
        "03 output size": (widgets.OutputSizeDemo(),
                           [dict(n=n, kernel_size=k, stride=s, padding=p)
                            for n, k, s, p in itertools.product((7, 16), (3, 7), (1, 2), (0, 3))]),
        "03 equivariance": (widgets.EquivarianceDemo(photo[120:248:2, 150:278:2], sobel),
                            [dict(dy=d, dx=2 * d % 13) for d in range(13)]),
        "04 pooling shift": (widgets.PoolingShiftDemo(length=16, seed=0),
                             [dict(shift=s, kernel_size=k) for s in range(7) for k in (2, 3, 4)]),
        "05 layer size": (widgets.LayerSizeDemo(),
                          [dict(W=w, H=w, K=k) for w in (28, 56, 224) for k in (1, 3, 5, 11)]),
        "transposed conv": (widgets.TransposedConvDemo(),
                            [dict(stride=s, padding=p, kernel_size=k)
                             for s, p, k in itertools.product((1, 2, 3), (0, 1), (2, 3, 4))]),
    }


def time_ms(call, values: list[dict], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        for v in values:
            start = time.perf_counter()
            call(**v)
            times.append(1000 * (time.perf_counter() - start))
    return times


def full_redraw(demo: widgets.LiveDemo):
    def call(**values):
        demo.update(**values)
        demo.fig.savefig(io.BytesIO(), format="png")
    return call


def report(label: str, demos: dict, repeats: int) -> None:
    """Time every demo's update, whole callback (frame) and a full-redraw reference; print a table."""
    print(f"{'demo':<20} {'update ms':>16} {'frame ms (callback)':>22} {'full redraw ms (ref.)':>24}")
    print(f"{'':<20} {'median / max':>16} {'median / max':>22} {'median / max':>24}")
    worst = 0.0
    for name, (demo, values) in demos.items():
        demo.frame(**values[0])  # warm-up: first-use costs (font cache, imports) are not live
        update = time_ms(demo.update, values, repeats)
        frame = time_ms(demo.frame, values, repeats)
        for artist in getattr(demo, "moving", []):  # the reference redraws the moving artists too
            artist.set_animated(False)
        reference = time_ms(full_redraw(demo), values[:8], max(1, repeats // 2))
        worst = max(worst, max(frame))
        cells = [f"{statistics.median(t):6.1f} / {max(t):6.1f}" for t in (update, frame, reference)]
        flag = "ok" if max(frame) <= BUDGET_MS else "OVER BUDGET"
        print(f"{name:<20} {cells[0]:>16} {cells[1]:>22} {cells[2]:>24}   {flag}")
    print(f"{label} worst_frame_ms={worst:.1f} budget_ms={BUDGET_MS:.0f} ok={worst <= BUDGET_MS}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="sweeps over each demo's values")
    args = parser.parse_args()
    report("widget_latency", demos(), args.repeats)


if __name__ == "__main__":
    main()
