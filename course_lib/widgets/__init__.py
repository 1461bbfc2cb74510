"""Every live demo of the course, under one import name: ``from course_lib import widgets``.

Each demo is split in two so that it is fast, testable and never blocks a headless run:

* ``update(**values) -> Figure`` does the whole computation. It moves artists drawn once in
  ``__init__`` (``set_data``, ``set_text``, ...) instead of redrawing, and sets ``caption`` (a
  line of HTML). Tests and the widget-latency benchmarks call it directly.
* ``show()`` is a thin ipywidgets wrapper; ``frame(**values)`` (update + image bytes) is what one
  slider step costs, and it must stay within a lecturer's 50 ms.

The rooms, one per lecture or topic:

* :mod:`~course_lib.widgets.base`: :class:`LiveDemo` and the image helpers the demos share;
* :mod:`~course_lib.widgets.convolution`: lectures 01-02 (flip-and-filter, the filter gallery);
* :mod:`~course_lib.widgets.layers`: lecture 03 (output size, equivariance);
* :mod:`~course_lib.widgets.transposed`: the transposed convolution as a convolution's gradient;
* :mod:`~course_lib.widgets.pooling`: lecture 04 (pooling and a shifted input);
* :mod:`~course_lib.widgets.network_size`: lecture 05 (conv against dense layers);
* :mod:`~course_lib.widgets.training`: lectures 06-07 (digits, ILSVRC, augmentation);
* :mod:`~course_lib.widgets.learned`: lecture 08 (top patches, occlusion, a deeper net's patches);
* :mod:`~course_lib.widgets.after_alexnet`: lecture 09 (receptive field against depth);
* :mod:`~course_lib.widgets.dense`: lecture 10 (a detection heat map per class).
"""
from course_lib.widgets.after_alexnet import ReceptiveFieldDemo
from course_lib.widgets.base import LiveDemo
from course_lib.widgets.convolution import FilterGalleryDemo, FlipAndFilterDemo
from course_lib.widgets.layers import EquivarianceDemo, OutputSizeDemo, shift_image
from course_lib.widgets.dense import HeatMapDemo
from course_lib.widgets.learned import DeepPatchesDemo, OcclusionDemo, TopPatchesDemo
from course_lib.widgets.network_size import LayerSizeDemo
from course_lib.widgets.pooling import PoolingShiftDemo
from course_lib.widgets.training import (HUMAN_TOP5_ERROR, ILSVRC_TOP5_ERROR, AugmentationDemo, DigitBrowserDemo,
                                         ILSVRCDemo)
from course_lib.widgets.transposed import TransposedConvDemo

__all__ = ["LiveDemo", "FlipAndFilterDemo", "FilterGalleryDemo", "OutputSizeDemo", "EquivarianceDemo",
           "shift_image", "PoolingShiftDemo", "LayerSizeDemo", "DigitBrowserDemo", "ILSVRCDemo",
           "AugmentationDemo", "ILSVRC_TOP5_ERROR", "HUMAN_TOP5_ERROR", "TopPatchesDemo", "OcclusionDemo",
           "TransposedConvDemo", "DeepPatchesDemo", "ReceptiveFieldDemo", "HeatMapDemo"]
