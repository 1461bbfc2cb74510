"""The course's torch models: LeNet-5 (classic 1998 and modern) and AlexNet (2012 and small).

Every model is an ``nn.Sequential`` with named layers, so ``print(model)`` reads like the
paper's table, ``course_lib.size.from_torch`` can account it layer by layer, and each model
carries ``input_shape = (C, H, W)``, the size of one input image.

| model | input | params |
|---|---|---|
| ``LeNet5("modern")`` | (1, 28, 28) | 61,706 |
| ``LeNet5("classic")`` | (1, 32, 32) | 60,840 |
| ``AlexNet("2012")`` | (3, 227, 227) | 60,965,224 |
| ``AlexNet("small", input_size=32 or 64)`` | (3, 32, 32) / (3, 64, 64) | 1,790,154 |

Beyond the two classics, one room per lecture: :mod:`~course_lib.models.deep_colour` (lecture
08's deeper net), :mod:`~course_lib.models.modern` (lecture 09: small kernels, Inception blocks,
batch norm, residual blocks, transfer) and :mod:`~course_lib.models.dense` (lecture 10: the
fully convolutional net and an encoder-decoder for segmentation).

>>> sum(p.numel() for p in LeNet5("classic").parameters())
60840
"""
from course_lib.models.alexnet import AlexNet
from course_lib.models.deep_colour import DeepColourNet
from course_lib.models.dense import EncoderDecoder, to_fully_convolutional
from course_lib.models.lenet import LENET5_C3_TABLE, LeNet5, PartialConv2d, RBFOutput, Squash, TrainableSubsampling
from course_lib.models.modern import DeepNet, InceptionBlock, InceptionNet, KernelNet, ResidualBlock, TinyAlexNet, TransferNet

__all__ = ["LeNet5", "AlexNet", "Squash", "TrainableSubsampling", "PartialConv2d", "RBFOutput",
           "LENET5_C3_TABLE", "DeepColourNet", "KernelNet", "InceptionBlock", "InceptionNet", "ResidualBlock",
           "DeepNet", "TinyAlexNet", "TransferNet", "EncoderDecoder", "to_fully_convolutional"]
