"""Looking at what a network computes for real inputs: feature maps, receptive fields, top patches.

Every function takes a torch model and inputs exactly as the model sees them (normalised float
tensors, one image ``(C, H, W)`` or a batch ``(N, C, H, W)``) and returns tensors on the CPU. The
model is put in eval mode for the call (no dropout) and left as it was. The private helpers here
(``_evaluating``, ``_image``, ``_batch``, ``_label``) are shared by the other modules of
:mod:`course_lib.visualize`.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from course_lib._checks import check_array, check_int

__all__ = ["get_layer", "predict_proba", "feature_maps", "ReceptiveField", "receptive_field", "TopPatches",
           "top_activating_patches"]


# --------------------------------------------------------------------------- plumbing

@contextlib.contextmanager
def _evaluating(model: nn.Module) -> Iterator[torch.device]:
    """Eval mode (dropout off) for the duration; yields the model's device."""
    was_training = model.training
    model.eval()
    try:
        yield next(model.parameters()).device
    finally:
        model.train(was_training)


def _image(x: torch.Tensor, name: str, func: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{func}: argument '{name}' must be a torch tensor (C, H, W), got {type(x).__name__}. "
                        "Convert it with torch.as_tensor(...).float().")
    check_array(x, name, func, ndim=3, what="image (C, H, W)")
    return x.float()


def _batch(x: torch.Tensor, name: str, func: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{func}: argument '{name}' must be a torch tensor (N, C, H, W), got {type(x).__name__}.")
    check_array(x, name, func, ndim=4, what="batch (N, C, H, W)")
    return x.float()


def _label(label, num_classes: int, name: str, func: str) -> int:
    label = check_int(int(label) if isinstance(label, torch.Tensor) else label, name, func, 0)
    if label >= num_classes:
        raise ValueError(f"{func}: argument '{name}' must be a class index below {num_classes}, got {label}.")
    return label


def get_layer(model: nn.Module, layer: str | nn.Module) -> nn.Module:
    """The sub-module called ``layer`` (a name from ``model.named_modules()``, e.g. ``"c3"``)."""
    if isinstance(layer, nn.Module):
        return layer
    named = dict(model.named_modules())
    if not isinstance(layer, str) or layer not in named or layer == "":
        names = [n for n in named if n]
        raise ValueError(f"get_layer: argument 'layer' must name a layer of the model, one of {names}, "
                         f"got {layer!r}.")
    return named[layer]


@torch.no_grad()
def predict_proba(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Softmax probabilities. Shapes: (N, C, H, W) -> (N, K)."""
    x = _batch(x, "x", "predict_proba")
    with _evaluating(model) as device:
        return torch.cat([F.softmax(model(x[i:i + batch_size].to(device)).float(), 1).cpu()
                          for i in range(0, len(x), batch_size)])


# --------------------------------------------------------------------------- feature maps

@torch.no_grad()
def feature_maps(model: nn.Module, x: torch.Tensor, layer: str | nn.Module, batch_size: int = 500) -> torch.Tensor:
    """The output of ``layer`` when ``model`` sees ``x``, caught by a forward hook.

    Shapes: (N, C, H, W) -> whatever the layer gives, e.g. (N, 16, 10, 10) for LeNet-5's ``c3``.
    """
    x = _batch(x, "x", "feature_maps")
    module, caught = get_layer(model, layer), []
    # clone: an in-place ReLU after the layer would otherwise change what we caught.
    handle = module.register_forward_hook(lambda m, args, out: caught.append(out.detach().float().cpu().clone()))
    try:
        with _evaluating(model) as device:
            for i in range(0, len(x), batch_size):
                model(x[i:i + batch_size].to(device))
    finally:
        handle.remove()
    return torch.cat(caught)


@dataclass(frozen=True)
class ReceptiveField:
    """Unit ``(row, col)`` of a layer sees input pixels ``offset + stride*row`` to
    ``offset + stride*row + size - 1`` (and the same for columns); ``offset`` < 0 means padding."""
    size: int
    stride: int
    offset: int

    def box(self, row: int, col: int) -> tuple[int, int]:
        """Top-left input pixel ``(top, left)`` of the unit's ``size`` × ``size`` window."""
        return self.offset + self.stride * row, self.offset + self.stride * col


def _first(v) -> int:
    return int(v[0] if isinstance(v, (tuple, list)) else v)


def receptive_field(model: nn.Module, layer: str | nn.Module, input_shape: Sequence[int]) -> ReceptiveField:
    """The receptive field of one unit of ``layer``, composed layer by layer in the order they run.

    For a layer with kernel k (dilation d), stride s and padding p, after layers with field
    ``size``, ``stride`` (jump) and ``offset``: ``size += d(k - 1) * stride``,
    ``offset -= p * stride``, ``stride *= s``. Layers without a kernel (ReLU, LRN, dropout)
    change nothing. Square kernels are assumed. LeNet-5's ``c3``:

    >>> from course_lib.models import LeNet5
    >>> receptive_field(LeNet5(), "c3", (1, 28, 28))
    ReceptiveField(size=14, stride=2, offset=-2)
    """
    target, order = get_layer(model, layer), []
    hooks = [m.register_forward_hook(lambda m, a, o: order.append(m)) for m in model.modules()
             if m is target or not list(m.children())]
    try:
        with torch.no_grad(), _evaluating(model) as device:
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in hooks:
            h.remove()
    size, stride, offset = 1, 1, 0
    for m in order[:order.index(target) + 1]:
        if m is target and list(m.children()):
            break  # a block: its children have been counted already
        if hasattr(m, "kernel_size") and hasattr(m, "stride"):
            k, s = _first(m.kernel_size), _first(m.stride or m.kernel_size)
            p, d = getattr(m, "padding", 0), _first(getattr(m, "dilation", 1))
            p = {"valid": 0, "same": d * (k - 1) // 2}[p] if isinstance(p, str) else _first(p)
            size, offset, stride = size + d * (k - 1) * stride, offset - p * stride, stride * s
    return ReceptiveField(size, stride, offset)


@dataclass(frozen=True)
class TopPatches:
    """The k strongest responses of one feature map over a dataset, strongest first."""
    patches: torch.Tensor       # (k, C, S, S) input crops, S = field.size
    activations: torch.Tensor   # (k,) the unit's value
    image_index: torch.Tensor   # (k,) which image
    position: torch.Tensor      # (k, 2) (row, col) of the unit in the feature map
    field: ReceptiveField


def _crop(images: torch.Tensor, index: torch.Tensor, position: torch.Tensor, field: ReceptiveField,
          pad_value: float) -> torch.Tensor:
    """Receptive-field crops; the part outside the image is ``pad_value``."""
    s = field.size
    padded = F.pad(images[index], (s, s, s, s), value=pad_value)
    crops = [padded[i, :, s + t:s + t + s, s + l:s + l + s]
             for i, (t, l) in enumerate(field.box(int(r), int(c)) for r, c in position)]
    return torch.stack(crops)


def top_activating_patches(model: nn.Module, images: torch.Tensor, layer: str | nn.Module,
                           channel: int | Sequence[int], k: int = 9, batch_size: int = 500,
                           pad_value: float | None = None) -> TopPatches | list[TopPatches]:
    """The ``k`` images whose strongest unit in feature map ``channel`` of ``layer`` is largest,
    each cropped to that unit's receptive field (one patch per image, as Zeiler & Fergus did).

    For image n the unit is ``argmax_(i,j) A[n, channel, i, j]``; the images are ranked by that
    maximum. ``images``: (N, C, H, W); patches (k, C, S, S) padded with ``pad_value``
    (default: the smallest pixel, the background of a digit). A list of channels gives a list.
    """
    func = "top_activating_patches"
    images = _batch(images, "images", func)
    k = check_int(k, "k", func, 1)
    maps = _layer_maps(model, images, layer, batch_size, func)
    field = receptive_field(model, layer, images.shape[1:])
    pad = float(images.min()) if pad_value is None else float(pad_value)
    results = [_top_patches(images, maps, c, k, field, pad, func)
               for c in ([channel] if isinstance(channel, int) else list(channel))]
    return results[0] if isinstance(channel, int) else results


def _layer_maps(model: nn.Module, images: torch.Tensor, layer: str | nn.Module, batch_size: int, func: str) -> torch.Tensor:
    """:func:`feature_maps`, refusing a layer that does not give (N, C, H, W) maps."""
    maps = feature_maps(model, images, layer, batch_size)
    if maps.ndim != 4:
        raise ValueError(f"{func}: argument 'layer' must give feature maps (N, C, H, W), got shape {tuple(maps.shape)}.")
    return maps


def _top_patches(images: torch.Tensor, maps: torch.Tensor, channel: int, k: int, field: ReceptiveField,
                 pad: float, func: str) -> TopPatches:
    """The top ``k`` images of one map, ranked by their strongest unit, and its receptive-field crops."""
    c = check_int(channel, "channel", func, 0)
    if c >= maps.shape[1]:
        raise ValueError(f"{func}: argument 'channel' must be below {maps.shape[1]} (the layer's maps), got {c}.")
    best, where = maps[:, c].flatten(1).max(1)
    values, index = best.topk(min(k, len(best)))
    position = torch.stack([where[index] // maps.shape[3], where[index] % maps.shape[3]], 1)
    return TopPatches(_crop(images, index, position, field, pad), values, index, position, field)
