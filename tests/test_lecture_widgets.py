"""The live demos of lectures 6-8 on small made-up inputs: they draw, respond to their
controls, and show what they were given (checked against the inputs, not our own output)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import widgets as W
from course_lib.data import augment
from course_lib.widgets.base import _mosaic
from course_lib.visualize import ReceptiveField, TopPatches

PNG = b"\x89PNG"


def test_mosaic_places_tiles_row_by_row():
    tiles = np.arange(6 * 2 * 2, dtype=float).reshape(6, 2, 2)
    out = _mosaic(tiles, cols=4, gap=1)
    assert out.shape == (2 * 3 - 1, 4 * 3 - 1)
    np.testing.assert_array_equal(out[0:2, 3:5], tiles[1])
    np.testing.assert_array_equal(out[3:5, 3:5], tiles[5])
    assert np.isnan(out[2]).all() and np.isnan(out[3:5, 6:]).all()  # gaps and the empty slots


@pytest.fixture
def digits():
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(5, 10, generator=g), 1)
    return (torch.rand(5, 28, 28, generator=g), np.arange(5), probs,
            torch.rand(5, 6, 28, 28, generator=g), torch.rand(5, 16, 10, 10, generator=g))


def test_digit_browser_shows_the_chosen_digit(digits):
    demo = W.DigitBrowserDemo(*digits, indices=[1, 3], ids=[10, 11, 12, 13, 14])
    assert demo.frame(i=1).startswith(PNG)
    np.testing.assert_array_equal(demo.digit.get_array(), digits[0][3].numpy())
    assert "#13" in demo.title.get_text()
    assert [b.get_height() for b in demo.bars] == pytest.approx(digits[2][3].tolist())


def test_digit_browser_refuses_an_empty_selection(digits):
    with pytest.raises(ValueError, match="indices"):
        W.DigitBrowserDemo(*digits, indices=[])


def test_ilsvrc_demo_marks_the_year():
    demo = W.ILSVRCDemo()
    assert demo.frame(year=2012).startswith(PNG)
    assert list(demo.marker.get_data()[1]) == [16.4]
    assert "2012" in demo.caption and "16.4" in demo.caption
    assert W.ILSVRC_TOP5_ERROR[2015][0] < W.HUMAN_TOP5_ERROR < W.ILSVRC_TOP5_ERROR[2014][0]


def test_augmentation_demo_without_transforms_repeats_the_image():
    images = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    demo = W.AugmentationDemo(images, augment.RandomCrop(12, 2), augment.RandomHorizontalFlip(),
                              augment.PCAColorJitter.from_data(images))
    demo.frame(index=1, crop=False, flip=False, colour=False, seed=0)
    tiles = demo.copies.get_array()
    np.testing.assert_allclose(tiles[:12, :12], images[1].permute(1, 2, 0).numpy())
    assert demo.frame(index=1, crop=True, flip=True, colour=True, seed=3).startswith(PNG)


def test_top_patches_demo_switches_channel():
    field = ReceptiveField(4, 1, 0)
    tops = [TopPatches(torch.full((9, 1, 4, 4), float(c)), torch.arange(9.0, 0, -1), torch.arange(9),
                       torch.zeros(9, 2, dtype=torch.long), field) for c in range(3)]
    demo = W.TopPatchesDemo(tops, "conv")
    demo.frame(channel=2)
    assert np.nanmin(demo.view.get_array()) == 1.0  # channel 2 is the brightest: 1 after scaling
    demo.frame(channel=0)
    assert np.nanmax(demo.view.get_array()) == 0.0


def test_occlusion_demo_covers_the_image_and_reads_the_map():
    image = torch.ones(1, 8, 8)
    probs = torch.rand(5, 5, 3, generator=torch.Generator().manual_seed(0))
    probs = probs / probs.sum(-1, keepdim=True)
    demo = W.OcclusionDemo(image, probs, 1, patch=4, stride=1, fill=0.0)
    assert demo.frame(row=2, col=3).startswith(PNG)
    shown = np.asarray(demo.shown.get_array())
    assert (shown[2:6, 3:7] == 0).all() and shown.sum() == 64 - 16
    assert [b.get_height() for b in demo.bars] == pytest.approx(probs[2, 3].tolist())
