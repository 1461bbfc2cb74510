"""The course's datasets: MNIST and CIFAR-10 (verified, downloaded with pooch, offline first),
a generated colour-shapes set for tests and offline demos, and a sample photograph.

Where the files are looked for, and where downloads go, is described in
:mod:`course_lib.data.download`: the ``root`` argument, then ``$COURSE_DATA_DIR/mnist`` (or
``/cifar10``), then the download cache (``$COURSE_CACHE_DIR``, by default
``~/.cache/cnn-course/`` on Linux). Every file is checked against a published checksum before
use; a damaged one is reported (a warning) and never used.
"""
from course_lib.data.cifar import CIFAR10_CLASSES, load_cifar10
from course_lib.data.download import DatasetCorruptError, DatasetNotFoundError
from course_lib.data.idx import read_idx
from course_lib.data.mnist import MNIST_MEAN, MNIST_STD, load_mnist, mnist_dataset, mnist_tensors
from course_lib.data.photo import SAMPLE_PHOTOS, sample_photo
from course_lib.data.shapes import SHAPE_CLASSES, synthetic_shapes

__all__ = ["load_mnist", "mnist_tensors", "mnist_dataset", "load_cifar10", "synthetic_shapes",
           "sample_photo", "read_idx", "DatasetNotFoundError", "DatasetCorruptError",
           "MNIST_MEAN", "MNIST_STD", "CIFAR10_CLASSES", "SHAPE_CLASSES", "SAMPLE_PHOTOS"]
