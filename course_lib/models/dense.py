"""Beyond one label per image: a classifier made fully convolutional, and a small encoder-decoder.

* :func:`to_fully_convolutional` turns every fully connected layer of a classifier into a
  convolution with the same weights. The first one, over a C×H×W map, becomes a conv with an H×W
  kernel; the ones after it become 1×1 convs. On an input of the original size the result has one
  output position and computes exactly what the classifier computes; on a larger input it
  computes the classifier at every window, ``stride`` pixels apart, in one pass (OverFeat).
* :func:`classify_windows` does the same the slow way, window by window: the reference.
* :class:`EncoderDecoder` labels every pixel (segmentation, as in FCN): it shrinks the image by
  4 with convs and pooling, then grows it back with ``upsample="transposed"`` (stride-2
  transposed convs) or ``"resize"`` (nearest-neighbour upsampling, then a conv).
* :func:`phase_means` measures checkerboard artefacts; :func:`segmentation_scores` scores labels.
"""
from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from course_lib._checks import check_choice, check_int, check_tensor

__all__ = ["to_fully_convolutional", "network_stride", "classify_windows", "EncoderDecoder",
           "phase_means", "segmentation_scores"]

_STRIDED = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _check_sequential(model, func: str) -> nn.Sequential:
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"{func}: argument 'model' must be an nn.Sequential (such as models.LeNet5), "
                        f"got {type(model).__name__}.")
    if not hasattr(model, "input_shape"):
        raise ValueError(f"{func}: argument 'model' needs an 'input_shape' attribute (C, H, W), "
                         "the size of one input image, as the course's models have.")
    return model


def to_fully_convolutional(model: nn.Sequential) -> nn.Sequential:
    """The classifier ``model`` with its fully connected layers as convolutions (weights copied).

    ``model``: an ``nn.Sequential`` with ``input_shape = (C, H, W)`` whose layers are convs,
    pooling, element-wise layers, one ``nn.Flatten`` and ``nn.Linear`` layers after it. The
    first Linear, over the flattened ``C'×H'×W'`` map, becomes ``Conv2d(C', out, (H', W'))`` with
    ``weight.reshape(out, C', H', W')``; every later Linear becomes a 1×1 conv. The Flatten goes.

    Shapes: on ``(N, C, H, W)`` the result gives ``(N, classes, 1, 1)`` equal to ``model``'s
    ``(N, classes)``; on a larger input ``(N, classes, H_out, W_out)``, one score map per class.

    >>> from course_lib.models.lenet import LeNet5
    >>> fcn = to_fully_convolutional(LeNet5()).eval()
    >>> fcn(torch.zeros(1, 1, 28, 28)).shape, fcn(torch.zeros(1, 1, 60, 92)).shape
    (torch.Size([1, 10, 1, 1]), torch.Size([1, 10, 9, 17]))
    """
    func = "to_fully_convolutional"
    model = _check_sequential(model, func)
    x = torch.zeros(1, *model.input_shape, dtype=next(model.parameters()).dtype)
    layers, shape = [], None
    with torch.no_grad():
        for name, layer in model.named_children():
            if isinstance(layer, nn.Flatten):
                shape = tuple(x.shape[1:])
                x = layer(x)
                continue
            if isinstance(layer, nn.Linear):
                if shape is None or layer.in_features != int(np.prod(shape)):
                    raise ValueError(f"{func}: layer '{name}' is Linear over {layer.in_features} features, but the map "
                                     f"before it is {shape} (an nn.Flatten must come first, over model.input_shape).")
                conv = nn.Conv2d(shape[0], layer.out_features, shape[1:], bias=layer.bias is not None)
                conv.weight.copy_(layer.weight.reshape(layer.out_features, *shape))
                if layer.bias is not None:
                    conv.bias.copy_(layer.bias)
                layers.append((name, conv.to(layer.weight.dtype)))
                x = layer(x)
                shape = (layer.out_features, 1, 1)  # the next Linear sees a 1×1 map
                continue
            if shape is not None and (any(True for _ in layer.parameters()) or isinstance(layer, _STRIDED)):
                raise TypeError(f"{func}: layer '{name}' ({type(layer).__name__}) comes after the Flatten; "
                                "only Linear and element-wise layers without weights (ReLU, Dropout, ...) can follow it.")
            layers.append((name, copy.deepcopy(layer)))
            x = layer(x)
    if shape is None:
        raise ValueError(f"{func}: argument 'model' has no nn.Flatten: it is fully convolutional already.")
    fcn = nn.Sequential(OrderedDict(layers))
    fcn.input_shape = model.input_shape
    return fcn.train(model.training)


def network_stride(model: nn.Sequential) -> int:
    """How far apart, in input pixels, neighbouring output positions are: the product of the
    strides of the convs and pools (the same along both axes here).

    >>> from course_lib.models.lenet import LeNet5
    >>> network_stride(LeNet5())
    4
    """
    stride = 1
    for layer in model.modules():
        if isinstance(layer, _STRIDED):
            s = _pair(layer.stride)
            if s[0] != s[1]:
                raise ValueError(f"network_stride: a layer has different strides {s} along the axes.")
            stride *= s[0]
    return stride


@torch.no_grad()
def classify_windows(model: nn.Sequential, canvas: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """The classifier at every window of ``canvas``, one crop at a time: what the FCN of ``model``
    computes in one pass, done the slow way (the reference for :func:`to_fully_convolutional`).

    Shapes: ``canvas`` (N, C, H, W) -> scores (N, classes, H_out, W_out), as the FCN gives. The
    window of output (i, j) starts at input pixel ``(s*i, s*j)`` (s = :func:`network_stride`) and
    has the size of ``model.input_shape``. If the first conv pads by p, the classifier reads a
    frame of p pixels around its window too: zeros for a lone digit, the canvas's real pixels for
    the FCN. So each crop is cut with that frame (from the canvas padded by p with zeros) and
    classified by ``model`` with the padding switched off. Later layers must not pad.
    """
    func = "classify_windows"
    model = _check_sequential(model, func)
    check_tensor(canvas, "canvas", func, "torch")
    if canvas.ndim != 4 or canvas.shape[1] != model.input_shape[0]:
        raise ValueError(f"{func}: argument 'canvas' must be (N, {model.input_shape[0]}, H, W), got {tuple(canvas.shape)}.")
    batch_size = check_int(batch_size, "batch_size", func, 1)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if any(_pair(c.padding) != (0, 0) for c in convs[1:]):
        raise ValueError(f"{func}: only the first convolution of 'model' may pad; a later one pads too.")
    pad = _pair(convs[0].padding) if convs else (0, 0)
    plain = copy.deepcopy(model).eval()
    if convs:
        next(m for m in plain.modules() if isinstance(m, nn.Conv2d)).padding = (0, 0)
    _, h, w = model.input_shape
    s = network_stride(model)
    big = F.pad(canvas, (pad[1], pad[1], pad[0], pad[0]))
    kh, kw = h + 2 * pad[0], w + 2 * pad[1]
    if canvas.shape[2] < h or canvas.shape[3] < w:
        raise ValueError(f"{func}: argument 'canvas' ({tuple(canvas.shape[2:])}) is smaller than one window ({h}, {w}).")
    # (N, C, rows, cols, kh, kw): every window, a view into the padded canvas (no copies yet)
    crops = big.unfold(2, kh, s).unfold(3, kw, s)
    n, c, rows, cols = crops.shape[:4]
    crops = crops.permute(0, 2, 3, 1, 4, 5).reshape(-1, c, kh, kw)
    scores = torch.cat([plain(crops[i:i + batch_size]) for i in range(0, len(crops), batch_size)])
    return scores.reshape(n, rows, cols, -1).permute(0, 3, 1, 2)


class EncoderDecoder(nn.Sequential):
    """A small fully convolutional segmentation net: per-pixel class scores at the input's size.

    Encoder: conv 3×3 (``width``) + ReLU + 2×2 max pool, conv 3×3 (2·width) + ReLU + 2×2 max pool,
    conv 3×3 dilated by 2 (2·width) + ReLU: the image at a quarter of its size. Decoder, twice:
    ``upsample="transposed"``: ConvTranspose2d(k=3, stride 2, padding 1, output padding 1) + ReLU;
    ``"resize"``: nearest-neighbour upsampling by 2, then conv 3×3 (padding 1) + ReLU. A 1×1
    conv gives the ``num_classes`` scores.

    Shapes: (N, in_channels, H, W) -> (N, num_classes, H, W), H and W multiples of 4.

    >>> EncoderDecoder(num_classes=11)(torch.zeros(2, 1, 32, 48)).shape
    torch.Size([2, 11, 32, 48])
    """

    UPSAMPLING = ("transposed", "resize")

    def __init__(self, in_channels: int = 1, num_classes: int = 11, width: int = 16,
                 upsample: str = "transposed") -> None:
        func = "EncoderDecoder"
        in_channels, num_classes, width = (check_int(v, n, func, 1) for v, n in (
            (in_channels, "in_channels"), (num_classes, "num_classes"), (width, "width")))
        upsample = check_choice(upsample, self.UPSAMPLING, "upsample", func)
        w = width

        def up(name: str, cin: int, cout: int) -> list[tuple[str, nn.Module]]:
            if upsample == "transposed":
                return [(name, nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1))]
            return [(name + "_resize", nn.Upsample(scale_factor=2, mode="nearest")),
                    (name, nn.Conv2d(cin, cout, 3, padding=1))]

        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, w, 3, padding=1)), ("norm1", nn.BatchNorm2d(w)), ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(w, 2 * w, 3, padding=1)), ("norm2", nn.BatchNorm2d(2 * w)), ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(2)),
            ("conv3", nn.Conv2d(2 * w, 2 * w, 3, padding=2, dilation=2)), ("norm3", nn.BatchNorm2d(2 * w)),
            ("relu3", nn.ReLU()),
            *up("up1", 2 * w, w), ("norm4", nn.BatchNorm2d(w)), ("relu4", nn.ReLU()),
            *up("up2", w, w), ("norm5", nn.BatchNorm2d(w)), ("relu5", nn.ReLU()),
            ("classify", nn.Conv2d(w, num_classes, 1)),
        ]))
        self.upsample = upsample
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[2] % 4 or x.shape[3] % 4:
            raise ValueError(f"EncoderDecoder: the input must be (N, C, H, W) with H and W multiples of 4, "
                             f"got {tuple(x.shape)}.")
        return super().forward(x)


def phase_means(x, stride: int = 2, border: int = 2) -> np.ndarray:
    """The mean of ``x`` (..., H, W) over each of the ``stride × stride`` interleaved sub-grids
    ``x[..., a::stride, b::stride]``, leaving out ``border`` pixels at each edge: a (stride, stride)
    array. A checkerboard artefact of period ``stride`` makes the entries differ; a smooth or
    constant map makes them equal.

    >>> phase_means(np.tile([[1.0, 2.0], [2.0, 4.0]], (4, 4)), border=0)
    array([[1., 2.],
           [2., 4.]])
    """
    func = "phase_means"
    a = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, float)
    stride, border = check_int(stride, "stride", func, 1), check_int(border, "border", func, 0)
    if a.ndim < 2 or min(a.shape[-2:]) - 2 * border < stride:
        raise ValueError(f"{func}: argument 'x' must be (..., H, W) with H, W >= stride + 2*border "
                         f"= {stride + 2 * border}, got shape {a.shape}.")
    inner = a[..., border:a.shape[-2] - border, border:a.shape[-1] - border]
    # phases are counted from the full map's origin, so the border does not shift them
    return np.array([[inner[..., (r - border) % stride::stride, (c - border) % stride::stride].mean()
                      for c in range(stride)] for r in range(stride)])


def segmentation_scores(pred, truth, num_classes: int) -> dict:
    """Pixel accuracy and intersection over union (IoU) of predicted against true labels.

    ``pred``, ``truth``: integer label maps of the same shape. For each class c,
    ``IoU_c = |pred = c and truth = c| / |pred = c or truth = c|`` (NaN if c appears in neither);
    ``mean_iou`` averages the classes that appear.

    >>> s = segmentation_scores(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 2)
    >>> s["pixel_accuracy"], [round(v, 3) for v in s["iou"]], round(s["mean_iou"], 3)
    (0.75, [0.5, 0.667], 0.583)
    """
    func = "segmentation_scores"
    p = pred.cpu().numpy() if isinstance(pred, torch.Tensor) else np.asarray(pred)
    t = truth.cpu().numpy() if isinstance(truth, torch.Tensor) else np.asarray(truth)
    num_classes = check_int(num_classes, "num_classes", func, 1)
    if p.shape != t.shape:
        raise ValueError(f"{func}: arguments 'pred' {p.shape} and 'truth' {t.shape} must have the same shape.")
    for name, a in (("pred", p), ("truth", t)):
        if not np.issubdtype(a.dtype, np.integer) or (a.size and (a.min() < 0 or a.max() >= num_classes)):
            raise ValueError(f"{func}: argument '{name}' must hold integer labels 0..{num_classes - 1}.")
    both = np.bincount(num_classes * t.ravel() + p.ravel(), minlength=num_classes ** 2).reshape(num_classes, -1)
    hit = np.diag(both).astype(float)
    union = both.sum(0) + both.sum(1) - hit
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, hit / union, np.nan)
    return {"pixel_accuracy": float(hit.sum() / max(p.size, 1)), "iou": iou.tolist(),
            "mean_iou": float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")}
