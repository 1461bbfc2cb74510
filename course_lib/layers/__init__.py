"""NumPy layer components beyond convolution and pooling, each with its backward pass.

Import the module you need: ``from course_lib.layers import batchnorm``. Every forward
function returns ``(out, cache)`` and every backward takes ``(dout, cache)``, as in CS231n's
``layers.py``; :mod:`course_lib.gradcheck` checks them.
"""
