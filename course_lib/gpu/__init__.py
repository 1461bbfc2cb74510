"""torch twins of :mod:`course_lib.conv` and :mod:`course_lib.pool`: same names, same signatures.

Every function takes torch tensors and returns tensors on the device they came from (a GPU when
there is one); nothing is moved behind your back. Each one is built from the torch primitive that
mirrors its method rather than a call to ``F.conv2d``:

* translate-and-scale: slice-adds of shifted, scaled copies;
* flip-and-filter: ``Tensor.unfold`` of the padded input and the flipped kernel;
* the matrix method: a Toeplitz matrix gathered on the device, then one matrix product;
* the layer: ``F.unfold`` (im2col) plus one matrix product, and ``F.fold`` (col2im) backward;
* pooling: ``Tensor.unfold`` windows, then their maximum, mean or power sum.

Autograd flows through every forward pass; the ``*_backward`` functions write the same gradients
out by hand. Arguments are checked exactly as on the NumPy side, with the same messages. Integer
tensors give exact integer results where the NumPy side does.

>>> x = torch.tensor([[1., 3., 1.], [0., -1., 1.], [2., 2., -1.]], device=default_device())
>>> conv2d_flip_filter(x, torch.tensor([[1., 2.], [0., -1.]], device=x.device)).device == x.device
True

The code lives in five rooms: :mod:`~course_lib.gpu.conv` (1-D and 2-D convolution and
correlation), :mod:`~course_lib.gpu.conv_layer` (im2col, the layer and its backward pass),
:mod:`~course_lib.gpu.conv_transposed`, :mod:`~course_lib.gpu.pool`, and
:mod:`~course_lib.gpu.device` (cuda, then mps, then cpu).
"""
from __future__ import annotations

import torch  # noqa: F401  (the doctests use it)

from course_lib.gpu.device import pick_device
from course_lib.gpu.conv import (conv1d_flip_filter, conv1d_matrix, conv1d_translate_scale,
                                 conv2d_flip_filter, conv2d_matrix, conv2d_translate_scale,
                                 conv_matrix_1d, conv_matrix_2d, correlate1d, correlate2d)
from course_lib.gpu.conv_layer import (col2im, conv1d_layer, conv1d_layer_backward, conv2d_layer,
                                       conv2d_layer_backward, conv_output_size, im2col)
from course_lib.gpu.conv_transposed import (conv_transpose1d, conv_transpose1d_backward,
                                            conv_transpose2d, conv_transpose2d_backward,
                                            conv_transpose_output_size)
from course_lib.gpu.pool import (avg_pool1d, avg_pool1d_backward, avg_pool2d, avg_pool2d_backward,
                                 lp_pool2d, lp_pool2d_backward, max_pool1d, max_pool1d_backward,
                                 max_pool2d, max_pool2d_backward, max_pool_channels)

__all__ = [
    "default_device", "pick_device",
    "conv1d_translate_scale", "conv1d_flip_filter", "conv1d_matrix", "conv_matrix_1d",
    "conv2d_translate_scale", "conv2d_flip_filter", "conv2d_matrix", "conv_matrix_2d",
    "correlate1d", "correlate2d",
    "conv_output_size", "im2col", "col2im",
    "conv2d_layer", "conv2d_layer_backward", "conv1d_layer", "conv1d_layer_backward",
    "conv_transpose_output_size", "conv_transpose2d", "conv_transpose2d_backward",
    "conv_transpose1d", "conv_transpose1d_backward",
    "max_pool2d", "avg_pool2d", "lp_pool2d", "max_pool1d", "avg_pool1d",
    "max_pool2d_backward", "avg_pool2d_backward", "lp_pool2d_backward",
    "max_pool1d_backward", "avg_pool1d_backward", "max_pool_channels",
]

# The gpu package's name for the course's device choice (course_lib.gpu.device.pick_device).
default_device = pick_device
