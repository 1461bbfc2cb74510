"""Convolution in NumPy: the signal view and the layer view.

Three rooms, one import name (``from course_lib import conv``):

* :mod:`course_lib.conv.signal`: 1-D and 2-D convolution computed three ways (translate-and-scale,
  flip-and-filter, as a matrix) and cross-correlation, with ``np.convolve``'s modes;
* :mod:`course_lib.conv.layer`: the conv-net layer (channels, padding, stride, dilation, groups)
  as im2col plus one matrix product, and its backward pass through col2im;
* :mod:`course_lib.conv.transposed`: the transposed convolution, the gradient of a convolution
  with respect to its input, and its output size ``s(i - 1) + a + k - 2p``.

>>> conv1d_flip_filter([1, 2, 3], [0, 1, 0.5])
array([0. , 1. , 2.5, 4. , 1.5])
"""
from course_lib.conv.layer import *  # noqa: F401,F403
from course_lib.conv.layer import __all__ as _layer_all
from course_lib.conv.signal import *  # noqa: F401,F403
from course_lib.conv.signal import __all__ as _signal_all
from course_lib.conv.transposed import *  # noqa: F401,F403
from course_lib.conv.transposed import __all__ as _transposed_all

__all__ = [*_signal_all, *_layer_all, *_transposed_all]
