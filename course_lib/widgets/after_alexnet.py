"""Lecture 09's live demo: how far one unit sees as conv layers are stacked.

:class:`ReceptiveFieldDemo` draws a 64×64 input with the window that the centre unit of the
last layer sees, and the receptive field against depth for the chosen kernel size and
downsampling. The caption compares the stack's weights with one big kernel of the same field.
"""
from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from course_lib._checks import check_choice, check_int
from course_lib.figures.after_alexnet import RF_SCHEMES, receptive_field_by_depth
from course_lib.figures.style import COLORS, PAD_HATCH
from course_lib.widgets.base import LiveDemo, _slider

__all__ = ["ReceptiveFieldDemo"]


class ReceptiveFieldDemo(LiveDemo):
    """Sliders: ``layers`` (1 to ``max_layers``), ``kernel_size`` (3, 5 or 7) and ``scheme``
    (one of :data:`~course_lib.figures.after_alexnet.RF_SCHEMES`). Left: the centre unit's
    window on a ``canvas`` × ``canvas`` input (a field larger than that is clipped, and the
    caption says so). Right: receptive field against depth, the current depth marked.
    """

    def __init__(self, max_layers: int = 10, canvas: int = 64) -> None:
        self.max_layers = check_int(max_layers, "max_layers", "ReceptiveFieldDemo", 1)
        self.canvas = check_int(canvas, "canvas", "ReceptiveFieldDemo", 8)
        super().__init__(11, 4.8)
        left, right = self.fig.subplots(1, 2, width_ratios=[1, 1.3])
        n = self.canvas
        left.set(xlim=(-0.5, n - 0.5), ylim=(n - 0.5, -0.5), aspect="equal",
                 xlabel=f"the input ({n}×{n} pixels)", xticks=[0, n // 2, n - 1], yticks=[0, n // 2, n - 1])
        left.add_patch(Rectangle((-0.5, -0.5), n, n, facecolor="0.93", edgecolor="0.5"))
        left.plot([n // 2], [n // 2], "+", color="black", ms=14, mew=2)
        self.window = Rectangle((0, 0), 1, 1, facecolor=COLORS["a"], alpha=0.35, hatch=PAD_HATCH,
                                edgecolor=COLORS["hi"], lw=3)
        left.add_patch(self.window)
        # Placeholders as long as any later text, so that the frozen layout leaves room for them.
        self.side = left.set_title("one unit sees 0000×0000 pixels (clipped)")
        right.set(xlim=(0.5, self.max_layers + 0.5), ylim=(1, 10_000), yscale="log", xlabel="conv layers",
                  ylabel="receptive field (pixels)", xticks=range(1, self.max_layers + 1))
        right.axhline(n, color="0.5", ls="--", lw=1)
        right.text(0.7, n * 1.15, f"width of the input shown ({n})", color="0.3")
        right.grid(alpha=0.3, which="both")
        self.curve, = right.plot([], [], "o-", color=COLORS["a"], lw=2, ms=6, label="each depth")
        self.marker, = right.plot([], [], "s", color=COLORS["hi"], ms=14, mfc="none", mew=3, label="shown left")
        right.legend(loc="upper left", frameon=False)
        self.title = right.set_title(f"7×7 convs, {max(RF_SCHEMES, key=len)}")
        self._freeze_layout([self.window, self.side, self.curve, self.marker, self.title])

    def controls(self) -> dict[str, Any]:
        import ipywidgets as w

        return {"layers": _slider(3, 1, self.max_layers, "conv layers"),
                "kernel_size": w.Dropdown(options=[3, 5, 7], value=3, description="kernel"),
                "scheme": w.Dropdown(options=list(RF_SCHEMES), value=RF_SCHEMES[0], description="downsampling",
                                     style={"description_width": "initial"})}

    def update(self, layers: int = 3, kernel_size: int = 3, scheme: str = RF_SCHEMES[0]) -> Figure:
        func = "ReceptiveFieldDemo.update"
        layers = check_int(layers, "layers", func, 1)
        if layers > self.max_layers:
            raise ValueError(f"{func}: argument 'layers' must be at most {self.max_layers}, got {layers}.")
        k = check_int(kernel_size, "kernel_size", func, 1)
        if k not in (3, 5, 7):
            raise ValueError(f"{func}: argument 'kernel_size' must be 3, 5 or 7, got {k}.")
        scheme = check_choice(scheme, RF_SCHEMES, "scheme", func)
        fields = receptive_field_by_depth(self.max_layers, k, scheme)
        field = fields[layers - 1]
        self.fields = fields
        n, centre = self.canvas, self.canvas // 2
        shown = min(field, n)
        start = max(-0.5, centre - field / 2)
        self.window.set_bounds(start, start, shown, shown)
        self.side.set_text(f"one unit sees {field}×{field} pixels" + (" (clipped)" if field > n else ""))
        self.curve.set_data(range(1, self.max_layers + 1), fields)
        self.marker.set_data([layers], [field])
        self.title.set_text(f"{k}×{k} convs, {scheme}")
        stack, single = layers * k * k, field * field  # weights per (input, output) channel pair
        self.caption = (f"After <b>{layers}</b> {k}×{k} conv layer{'s' if layers > 1 else ''} ({scheme}) one unit "
                        f"sees <b>{field}×{field}</b> input pixels"
                        + (f", more than the {n}×{n} shown" if field > n else "")
                        + f". The stack has {stack} weights per pair of channels; one {field}×{field} kernel "
                        f"would have {single:,} ({single / stack:.1f}× as many).")
        return self.fig
