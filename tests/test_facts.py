"""The numbers the lectures and problem sets state, recomputed here and found in the notebook text.

Each test computes a fact with course_lib.size, torch or NumPy and checks that the notebook says it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from course_lib import conv, size
from course_lib.grading.probes import probed_call
from course_lib.widgets.training import ILSVRC_TOP5_ERROR

ROOT = Path(__file__).resolve().parents[1]


def text(path: str) -> str:
    cells = json.loads((ROOT / path).read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells)


L01, L02, L03 = "lectures/01_convolution_1d.ipynb", "lectures/02_convolution_2d_filters.ipynb", "lectures/03_conv_layers.ipynb"
L05, L06, L07 = "lectures/05_size_of_a_conv_net.ipynb", "lectures/06_lenet_mnist.ipynb", "lectures/07_alexnet_gpu.ipynb"
PS2 = "solutions/ps2_conv_layer_pooling/ps2_conv_layer_pooling.ipynb"
L09 = "lectures/09_after_alexnet.ipynb"
PS3, PS4 = "solutions/ps3_network_size/ps3_network_size.ipynb", "solutions/ps4_lenet/ps4_lenet.ipynb"


def test_e1_lenet_shares_depend_on_where_c5_is_counted():
    paper = size.lenet5_1998()
    share = lambda field, names: sum(getattr(paper[n], field) for n in names) / paper.total(field)  # noqa: E731
    assert paper["C5"].params == paper["C5"].connections  # one weight per link: fully connected
    t = text(L06)
    assert f"{share('connections', ['C1', 'C3']):.0%}".replace("%", " %") in t
    assert f"{share('params', ['C1', 'C3']):.0%}".replace("%", " %") in t
    assert f"{share('params', ['C5']):.0%}".replace("%", " %") in t
    fc = share("params", ["C5", "F6", "output"])
    assert f"hold {fc:.0%}".replace("%", " %") in t
    assert "sum(paper[n].params for n in first_two)" in t  # the cell computes it, next to the text


def test_e2_one_cycle_momentum_and_final_learning_rate():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=200, pct_start=0.25)
    momenta, lrs = [], []
    for _ in range(200):
        momenta.append(opt.param_groups[0]["momentum"])
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert (max(momenta), min(momenta), momenta[-1]) == pytest.approx((0.95, 0.85, 0.95))
    ratio = round(0.1 / lrs[-1])
    assert ratio == 25 * 10_000
    for path in (L06, L07, PS4):
        t = text(path)
        assert f"{ratio:,}" in t and "0.95" in t and "0.85" in t, path
    assert "100 to 1000\ntimes smaller\", done automatically" not in text(L06)


def test_e3_lenet5_accuracy_matches_the_paper():
    error = 0.95  # LeCun et al. 1998, figure 9, LeNet-5 without distortions
    accuracy = f"{100 - error:.2f} %"
    assert accuracy in text(L06) and "LeNet-4" in text(L06)
    assert accuracy.replace(" ", "") in text(PS4) and "0.95% test error" in text(PS4)


def test_e4_googlenet_against_alexnet():
    def c(i, o, k):
        return nn.Conv2d(i, o, k).weight.numel() + o
    n = c(3, 64, 7) + c(64, 64, 1) + c(64, 192, 3) + 1024 * 1000 + 1000
    for i, a, b, cc, d, e, f in [(192, 64, 96, 128, 16, 32, 32), (256, 128, 128, 192, 32, 96, 64),
                                 (480, 192, 96, 208, 16, 48, 64), (512, 160, 112, 224, 24, 64, 64),
                                 (512, 128, 128, 256, 24, 64, 64), (512, 112, 144, 288, 32, 64, 64),
                                 (528, 256, 160, 320, 32, 128, 128), (832, 256, 160, 320, 32, 128, 128),
                                 (832, 384, 192, 384, 48, 128, 128)]:  # Szegedy et al. 2015, table 1
        n += c(i, a, 1) + c(i, b, 1) + c(b, cc, 3) + c(i, d, 1) + c(d, e, 5) + c(i, f, 1)
    assert round(n / 1e6, 1) == 7.0
    factor = size.alexnet2012().total("params") / n
    assert round(factor) == 9
    for path in (L05, PS3, L09):
        t = text(path)
        assert "6.8 million" in t and "9 times fewer" in t.replace("nine times", "9 times"), path
        assert "12 times fewer" in t, path  # the paper's figure is named and explained
    assert "2 million parameters" not in text(PS3)
    assert "9×" in ILSVRC_TOP5_ERROR[2014][1]


def test_e6_ablation_table_counts_lecture_07s_alexnet():
    """Zeiler and Fergus's ablation (lecture 09): the parameters each removal drops, in the
    AlexNet the course counts (fc7 4096x4096, fc6 9216x4096, conv3 ungrouped, conv4 in 2 groups)."""
    params = {row.name: row.params for row in size.alexnet2012().rows}
    million = lambda *names: f"{sum(params[n] for n in names) / 1e6:.1f} million"  # noqa: E731
    t = text(L09)
    assert f"| {million('fc7')} |" in t
    assert f"| {million('fc6', 'fc7')} |" in t
    assert f"| {million('conv3', 'conv4')} |" in t


def test_e5_sobel_convolved_is_right_minus_left():
    image = np.tile(np.arange(6.0), (5, 1))  # brighter to the right
    sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], float)
    out = conv.conv2d_flip_filter(image, sobel, mode="valid")
    assert np.all(out > 0)
    assert "right column minus left column" in text(L02)


def test_e6_padding_corner_and_centre_counts():
    windows = F.conv_transpose2d(torch.ones(1, 1, 7, 7), torch.ones(1, 1, 3, 3), padding=1)[0, 0]
    corner, edge, centre = int(windows[0, 0]), int(windows[0, 3]), int(windows[3, 3])
    assert (corner, edge, centre) == (4, 6, 9)
    t = text(L03)
    assert f"corner pixel\n  falls in {corner} windows, an edge pixel in {edge} and a centre pixel in {centre}" in t


def test_e7_i_outputs_j_inputs_everywhere():
    assert "W H I" in text(PS3) and "`in_shape = (J, H_in, W_in)`" in text(PS3)
    assert "with $I$ channels, from an input with $J$ channels" in text(L05)


def test_e8_deck_001_lenet_table_corrected():
    fc4 = sum(p.numel() for p in nn.Linear(120, 84).parameters())
    out = sum(p.numel() for p in nn.Linear(84, 10).parameters())
    assert f"{fc4:,} parameters, not 10,081" in text(L05)
    assert f"{out:,}, not 841" in text(L05)


def test_e9_relu_hint_points_at_dout():
    dout, x = np.array([-1.0, 2.0]), np.array([1.0, 1.0])
    assert not np.allclose(np.maximum(dout, 0) * (x > 0), dout * (x > 0))  # C differs through dout
    assert "using a dout" in text(PS2) and "values between -1 and 0" not in text(PS2)


def test_e10_ilsvrc_footnote_names_each_deck():
    t = text(L07)
    for figure in ("15.3 %", "26.2 %", "25.8 %", "6.7 %", "7.3 %", "Deck 002", "Decks 000 and 001"):
        assert figure in t, figure


def test_e11_alexnet_227_against_224():
    layer = nn.Conv2d(3, 96, 11, stride=4).to("meta")
    assert layer(torch.empty(1, 3, 227, 227, device="meta")).shape[-1] == 55
    assert layer(torch.empty(1, 3, 224, 224, device="meta")).shape[-1] == 54
    assert "needs $n = 227$" in text(L07) and "gives $\\lfloor 213/4 \\rfloor + 1 = 54$" in text(L07)


def test_e12_torch_lrn_alpha_is_the_papers_times_n():
    a = torch.rand(8) * 50
    lrn = nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2)(a.view(1, 8, 1, 1)).flatten()
    paper = torch.stack([a[i] / (2 + 1e-4 * (a[max(i - 2, 0):i + 3] ** 2).sum()) ** 0.75 for i in range(8)])
    assert torch.allclose(lrn, paper)
    assert "`alpha=5e-4` in torch" in text(L07)


def test_e13_same_mode_length_is_max_n_k():
    assert len(np.convolve(np.ones(3), np.ones(7), "same")) == 7
    assert "$\\max(n, k)$" in text(L01)


def test_e14_laplacian_sign_footnote():
    assert "`[[0,1,0],[1,-4,1],[0,1,0]]`" in text(L02) and "Deck 001" in text(L02)


def test_ps4_accuracy_probe_catches_backward():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 4, generator=g), torch.randint(0, 3, (40,), generator=g)

    def leaky_accuracy(model, x, y, batch_size=1000):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return float((model(x).argmax(1) == y).float().mean())

    def good_accuracy(model, x, y, batch_size=1000):
        model.eval()
        with torch.no_grad():
            return float((model(x).argmax(1) == y).float().mean())

    assert probed_call(leaky_accuracy, nn.Sequential(nn.Linear(4, 3)), x, y)[1]["has_grads"]
    assert not probed_call(good_accuracy, nn.Sequential(nn.Linear(4, 3)), x, y)[1]["has_grads"]
    assert 'call_probed(accuracy' in text(PS4) and 'not seen["has_grads"]' in text(PS4)


def test_ps4_pass_mark_leaves_a_margin():
    t = text(PS4)
    assert "assert measured >= 0.985" in t and "needed: 0.9850" in t and "0.989" not in t


def test_ps2_pooling_has_a_leftover_row_and_float32_tolerance():
    t = text(PS2)
    assert "((1, 2, 7, 8), 2, 2)" in t
    ceil_rows = -(-(7 - 2) // 2) + 1
    floor_rows = (7 - 2) // 2 + 1
    assert ceil_rows != floor_rows == torch.nn.functional.max_pool2d(torch.zeros(1, 1, 7, 8), 2).shape[2]
    assert "rtol=1e-5 if single else 1e-6" in t and "single=True)" in t
    assert np.isclose(np.float32(0.343831), 0.34383, rtol=1e-5) and not np.isclose(0.343831, 0.34383, rtol=1e-6, atol=1e-8)
