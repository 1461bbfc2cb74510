"""Lecture 09's figures and live demo: what they draw is what they were given (receptive fields
checked against torch models via visualize), and they are projector-ready and described."""
from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from test_projector import assert_projector_ready
from torch import nn

from course_lib.figures import after_alexnet as fig09
from course_lib.figures import style
from course_lib.train import History
from course_lib.visualize import receptive_field
from course_lib.widgets.after_alexnet import ReceptiveFieldDemo

PNG = b"\x89PNG"


def _history(losses, accs):
    return History(epoch=list(range(1, len(losses) + 1)), train_loss=list(losses), train_acc=list(accs))


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("scheme", fig09.RF_SCHEMES)
def test_receptive_fields_by_depth_match_a_torch_stack(k, scheme):
    layers, names = [], []
    for i in range(1, 7):
        if scheme == fig09.RF_SCHEMES[1] and i > 1 and i % 2 == 1:
            layers.append(nn.MaxPool2d(2))
        layers.append(nn.Conv2d(1, 1, k, stride=2 if scheme == fig09.RF_SCHEMES[2] else 1, padding=k // 2))
        names.append(str(len(layers) - 1))
    model = nn.Sequential(*layers)
    expected = [receptive_field(model, name, (1, 256, 256)).size for name in names]
    assert fig09.receptive_field_by_depth(6, k, scheme) == expected


def test_receptive_field_by_depth_refuses_an_unknown_scheme():
    with pytest.raises(ValueError, match="'scheme'"):
        fig09.receptive_field_by_depth(3, scheme="dilated")


FIGURES = {
    "receptive_field_growth": lambda: fig09.receptive_field_growth(10),
    "compare_runs": lambda: fig09.compare_runs({"three 3×3": _history([2.0, 1.0, 0.5], [0.3, 0.7, 0.9]),
                                                "one 7×7": _history([2.1, 1.2, 0.7], [0.2, 0.6, 0.8])},
                                               title="a race"),
    "ablation_bars": lambda: fig09.ablation_bars({"fc7": -0.4, "conv3 and conv4": 2.0},
                                                 {"fc7": 1.1, "conv3 and conv4": 3.0}),
    "accuracy_vs_labels": lambda: fig09.accuracy_vs_labels([10, 100, 1000], {"pretrained": [0.6, 0.8, 0.9],
                                                                             "scratch": [0.3, 0.6, 0.85]}, chance=0.2),
}


@pytest.mark.parametrize("name", FIGURES)
def test_figures_are_projector_ready_and_described(name):
    fig = FIGURES[name]()
    FigureCanvasAgg(fig).draw()
    assert_projector_ready(fig, name)
    assert len(style.alt_text(fig)) > 20


def test_compare_runs_draws_each_run_with_its_own_marker_and_style():
    fig = FIGURES["compare_runs"]()
    lines = fig.axes[0].get_lines()
    assert [list(line.get_ydata()) for line in lines] == [[2.0, 1.0, 0.5], [2.1, 1.2, 0.7]]
    assert lines[0].get_marker() != lines[1].get_marker() and lines[0].get_linestyle() != lines[1].get_linestyle()
    assert "0.500" in lines[0].get_label() and "80.0%" in fig.axes[1].get_lines()[1].get_label()


def test_ablation_bars_use_hatches_and_show_the_values():
    fig = FIGURES["ablation_bars"]()
    hatches = {p.get_hatch() for p in fig.axes[0].patches}
    assert hatches == {"///", ".."}
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"1.1", "3.0", "-0.4", "2.0"} <= texts


def test_accuracy_vs_labels_refuses_curves_of_the_wrong_length():
    with pytest.raises(ValueError, match="scratch"):
        fig09.accuracy_vs_labels([10, 100], {"scratch": [0.1]})


def test_receptive_field_demo_draws_the_window_of_the_chosen_stack():
    demo = ReceptiveFieldDemo(max_layers=8, canvas=64)
    assert demo.frame(layers=3, kernel_size=3, scheme=fig09.RF_SCHEMES[0]).startswith(PNG)
    assert demo.window.get_width() == 7 and "7×7" in demo.caption
    assert "27 weights" in demo.caption and "49" in demo.caption  # 3·9 against 7·7 per channel pair
    demo.update(layers=8, kernel_size=7, scheme=fig09.RF_SCHEMES[2])
    field = fig09.receptive_field_by_depth(8, 7, fig09.RF_SCHEMES[2])[-1]
    assert field > 64 and demo.window.get_width() == 64 and "clipped" in demo.side.get_text()
    np.testing.assert_array_equal(demo.marker.get_ydata(), [field])
    assert not re.search(r"<[a-z/]", demo.alt) and str(field) in demo.alt


@pytest.mark.parametrize("values", [dict(layers=1, kernel_size=5, scheme=fig09.RF_SCHEMES[1]),
                                    dict(layers=10, kernel_size=7, scheme=fig09.RF_SCHEMES[2])])
def test_receptive_field_demo_frames_are_projector_ready(values):
    demo = ReceptiveFieldDemo()
    demo.frame(**values)
    assert_projector_ready(demo.fig, f"receptive field demo {values}")
    assert demo.fig.dpi >= 110


@pytest.mark.parametrize("values, match", [(dict(layers=11), "'layers'"), (dict(kernel_size=4), "'kernel_size'"),
                                           (dict(scheme="none"), "'scheme'")])
def test_receptive_field_demo_refuses_bad_values(values, match):
    with pytest.raises(ValueError, match=match):
        ReceptiveFieldDemo(max_layers=10).update(**values)


def test_compare_runs_needs_a_run():
    with pytest.raises(ValueError, match="'runs'"):
        fig09.compare_runs({})
