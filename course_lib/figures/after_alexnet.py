"""Figures of lecture 09 (after AlexNet): receptive fields against depth, training runs side by
side, a depth ablation beside the paper's, and transfer learning against the number of labels.

Every line has its own marker and line style and every bar its own hatch, with the names in a
legend or on the axis: colour is never the only cue.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from course_lib import size
from course_lib._checks import check_choice, check_int
from course_lib.figures.style import COLORS, describe, figure, projector

__all__ = ["RF_SCHEMES", "receptive_field_by_depth", "receptive_field_growth", "compare_runs",
           "ablation_bars", "accuracy_vs_labels"]

# Marker, line style and colour of the n-th run: three cues, any one of which tells them apart.
_LOOKS = [("o", "-", COLORS["a"]), ("s", "--", COLORS["b"]), ("^", ":", COLORS["out"]),
          ("D", "-.", COLORS["hi"]), ("v", (0, (5, 1, 1, 1)), "0.35")]

#: How a stack of convs shrinks its maps: never, a 2×2 max pool after every second conv (VGG),
#: or stride 2 in every conv.
RF_SCHEMES = ("no downsampling", "2×2 pool every 2 convs", "stride 2 in every conv")


def _looks(i: int) -> dict:
    marker, ls, colour = _LOOKS[i % len(_LOOKS)]
    return dict(marker=marker, ls=ls, color=colour, lw=2.2, ms=7)


def receptive_field_by_depth(depth: int, kernel_size: int = 3, scheme: str = RF_SCHEMES[0]) -> list[int]:
    """Receptive field (pixels along one side) of one unit after 1, 2, ..., ``depth`` convs of
    ``kernel_size``, computed by :func:`course_lib.size.receptive_field` on the layer specs.

    >>> receptive_field_by_depth(4)                  # 1 + 2L for 3×3 convs
    [3, 5, 7, 9]
    >>> receptive_field_by_depth(4, scheme="2×2 pool every 2 convs")
    [3, 5, 10, 14]
    """
    func = "receptive_field_by_depth"
    depth, k = check_int(depth, "depth", func, 1), check_int(kernel_size, "kernel_size", func, 1)
    scheme = check_choice(scheme, RF_SCHEMES, "scheme", func)
    layers, fields = [], []
    for i in range(1, depth + 1):
        if scheme == RF_SCHEMES[1] and i > 1 and i % 2 == 1:
            layers.append(size.pool(2))  # the pool after convs i-2 and i-1 acts before conv i
        layers.append(size.conv(1, 1, k, stride=2 if scheme == RF_SCHEMES[2] else 1, padding=k // 2))
        fields.append(size.receptive_field(layers))
    return fields


@projector
def receptive_field_growth(depth: int = 12, kernel_size: int = 3) -> Figure:
    """Receptive field against depth for stacks of small convs: linear without downsampling,
    much faster with pooling or strides (log scale)."""
    depth = check_int(depth, "depth", "receptive_field_growth", 1)
    fig = figure(8.5, 4.6)
    ax = fig.subplots()
    layers = np.arange(1, depth + 1)
    ends = []
    for i, scheme in enumerate(RF_SCHEMES):
        fields = receptive_field_by_depth(depth, kernel_size, scheme)
        ax.plot(layers, fields, label=scheme, **_looks(i))
        ends.append(f"{scheme}: {fields[-1]}")
    ax.axhline(28, color="0.5", lw=1, ls="--")
    ax.text(1, 28 * 1.1, "a whole MNIST digit (28 px)", color="0.3")
    ax.set(yscale="log", xlabel=f"number of {kernel_size}×{kernel_size} conv layers",
           ylabel="receptive field (pixels per side)", xticks=layers,
           title=f"How far one unit sees, {kernel_size}×{kernel_size} convs")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper left", frameon=False)
    return describe(fig, f"Receptive field against depth, log scale, for {kernel_size}×{kernel_size} convs. After "
                         f"{depth} layers: " + "; ".join(ends) + ".")


@projector
def compare_runs(runs: Mapping[str, object], title: str = "", metrics: Sequence[str] = ("train_loss", "train_acc")
                 ) -> Figure:
    """Training runs side by side, one panel per metric (per epoch), one marker and line style
    per run, with each run's last value written beside its name.

    ``runs`` maps a name to a ``train.History`` (or a dict of its lists).
    """
    if not runs:
        raise ValueError("compare_runs: argument 'runs' is empty; give at least one named History.")
    labels = {"train_loss": "training loss", "train_acc": "training accuracy", "val_loss": "validation loss",
              "val_acc": "validation accuracy"}
    for m in metrics:
        check_choice(m, tuple(labels), "metrics", "compare_runs")
    fig = figure(6.2 * len(metrics), 4.4)
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    words = []
    for i, (name, history) in enumerate(runs.items()):
        h = history.as_dict() if hasattr(history, "as_dict") else dict(history)
        for ax, metric in zip(axes, metrics):
            values = h[metric]
            shown = f"{values[-1]:.1%}" if "acc" in metric else f"{values[-1]:.3f}"
            ax.plot(h["epoch"], values, label=f"{name} ({shown})", **_looks(i))
        words.append(f"{name}: " + ", ".join(f"{labels[m]} {h[m][-1]:.3g}" for m in metrics))
    for ax, metric in zip(axes, metrics):
        ax.set(xlabel="epoch", ylabel=labels[metric])
        if "acc" in metric:
            ax.set_ylim(0, 1.02)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, title="last epoch in brackets")
    if title:
        fig.suptitle(title)
    return describe(fig, f"{title or 'Training runs'} per epoch. " + "; ".join(words) + ".")


@projector
def ablation_bars(ours: Mapping[str, float], paper: Mapping[str, float | None],
                  what: str = "accuracy lost (percentage points)") -> Figure:
    """The drop in performance when layers are removed: the paper's (hatched) beside ours (dotted),
    one pair of bars per removal, each bar labelled with its value."""
    if set(ours) != set(paper):
        raise ValueError(f"ablation_bars: 'ours' and 'paper' must name the same removals, got {list(ours)} "
                         f"and {list(paper)}.")
    names = list(ours)
    fig = figure(9.5, 1.1 * len(names) + 1.6)
    ax = fig.subplots()
    y = np.arange(len(names))
    for offset, values, label, hatch, colour in ((-0.2, paper, "the paper (ImageNet)", "///", COLORS["a"]),
                                                 (0.2, ours, "ours (14×14 images)", "..", COLORS["b"])):
        heights = [np.nan if values[n] is None else values[n] for n in names]
        bars = ax.barh(y + offset, np.nan_to_num(heights), 0.38, label=label, hatch=hatch, color=colour,
                       edgecolor="black")
        for bar, v in zip(bars, heights):
            ax.text(max(bar.get_width(), 0) + 0.4, bar.get_y() + bar.get_height() / 2,
                    "n/a" if np.isnan(v) else f"{v:.1f}", va="center")
    ax.set_yticks(y, [f"remove {n}" for n in names])
    ax.invert_yaxis()
    ax.set_xlabel(what)
    ax.set_xlim(min(0.0, min(ours.values()) - 2), max([*ours.values(), *(v or 0 for v in paper.values())]) * 1.2 + 2)
    ax.axvline(0, color="black", lw=1)
    ax.legend(loc="lower right", frameon=False)
    ax.grid(alpha=0.3, axis="x")
    return describe(fig, "Drop in performance when layers are removed, paper against ours: " + "; ".join(
        f"{n}: paper {paper[n] if paper[n] is not None else 'n/a'}, ours {ours[n]:.1f}" for n in names) + ".")


@projector
def accuracy_vs_labels(counts: Sequence[int], curves: Mapping[str, Sequence[float]], chance: float | None = None,
                       title: str = "") -> Figure:
    """Test accuracy against the number of labelled training examples (log axis), one marked
    line per method, each point labelled with its accuracy."""
    counts = [check_int(c, "counts", "accuracy_vs_labels", 1) for c in counts]
    fig = figure(8.5, 4.8)
    ax = fig.subplots()
    words = []
    for i, (name, accs) in enumerate(curves.items()):
        if len(accs) != len(counts):
            raise ValueError(f"accuracy_vs_labels: curve {name!r} has {len(accs)} values for {len(counts)} counts.")
        ax.plot(counts, accs, label=name, **_looks(i))
        for c, a in zip(counts, accs):
            ax.annotate(f"{a:.0%}", (c, a), textcoords="offset points", xytext=(0, 9 if i == 0 else -19),
                        ha="center", fontsize=12)
        words.append(f"{name}: " + ", ".join(f"{c} labels {a:.0%}" for c, a in zip(counts, accs)))
    if chance is not None:
        ax.axhline(chance, color="0.4", lw=1.2, ls="--")
        ax.text(counts[-1], chance + 0.02, "chance", ha="right", color="0.3")
    ax.set(xscale="log", xlabel="labelled training examples (all classes together)", ylabel="test accuracy",
           ylim=(0, 1.08), title=title or "What labels buy, with and without pretrained features")
    ax.set_xticks(counts, [str(c) for c in counts])
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right", frameon=False)
    return describe(fig, "Test accuracy against the number of labelled examples. " + "; ".join(words) + ".")
