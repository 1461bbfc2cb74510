"""What a unit deep in the network responds to: Zeiler & Fergus's deconvnet projections (and
guided backpropagation), shown beside the unit's top patches.

A unit's top patches show *where* it fires strongly; they do not say which pixels of the patch
made it fire. Zeiler & Fergus (2013) answered that by running the network backwards from one
activation: keep that activation, set every other unit of the layer to zero, and send the
signal down layer by layer to the pixels. Going down

* through a convolution: convolve with the same filters, transposed (exactly the convolution's
  backward pass);
* through max pooling: put the signal back where each maximum came from (the "switches"
  recorded on the way up: again the backward pass);
* through a ReLU: this is where the methods differ. With ``s`` the signal coming down and ``a``
  the ReLU's input on the way up:

  ===============  =========================  =========================================
  rule             new signal                 passes a negative signal?  ignores ``a``?
  ===============  =========================  =========================================
  ``"gradient"``   ``s * (a > 0)``            yes (the plain gradient)   no
  ``"deconvnet"``  ``relu(s)``                no                         yes
  ``"guided"``     ``relu(s) * (a > 0)``      no                         no
  ===============  =========================  =========================================

So a deconvnet projection is the backward pass with one rule changed, and "guided
backpropagation" (Springenberg et al. 2015) applies both masks. The result is an image of the
input's size that shows the structures in the input that excite the unit.

The model must be a chain of layers (an ``nn.Sequential``, as every course model is) and the
layer one of its direct children, e.g. ``"relu3"``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from course_lib._checks import check_choice, check_int
from course_lib.visualize.activations import (TopPatches, _batch, _crop, _evaluating, _layer_maps, _top_patches,
                                              receptive_field)

__all__ = ["PROJECTION_RULES", "project_to_pixels", "ProjectedPatches", "projected_top_patches"]

PROJECTION_RULES = ("gradient", "deconvnet", "guided")


def _chain_to(model: nn.Module, layer: str, func: str) -> list[nn.Module]:
    """The model's layers from the input up to and including ``layer``."""
    children = list(model.named_children())
    names = [name for name, _ in children]
    if not isinstance(model, nn.Sequential) or layer not in names:
        raise ValueError(f"{func}: argument 'layer' must name a layer of an nn.Sequential model, one of "
                         f"{names}, got {layer!r}.")
    return [m for _, m in children[:names.index(layer) + 1]]


def _relu_down(signal: torch.Tensor, a: torch.Tensor, rule: str) -> torch.Tensor:
    if rule == "gradient":
        return signal * (a > 0)
    if rule == "deconvnet":
        return F.relu(signal)
    return F.relu(signal) * (a > 0)


def project_to_pixels(model: nn.Module, images: torch.Tensor, layer: str, units: torch.Tensor,
                      rule: str = "deconvnet") -> torch.Tensor:
    """Send one unit per image down to the pixels (see the module docstring for ``rule``).

    ``images`` (N, C, H, W) in model units; ``units`` (N, 3) integer ``(channel, row, col)`` of
    the unit of ``layer`` to project for each image. The signal starts as that unit's activation,
    every other unit of the layer set to zero. Returns (N, C, H, W) on the CPU.
    """
    func = "project_to_pixels"
    images = _batch(images, "images", func)
    rule = check_choice(rule, PROJECTION_RULES, "rule", func)
    units = torch.as_tensor(units, dtype=torch.long)
    if units.shape != (len(images), 3):
        raise ValueError(f"{func}: argument 'units' must have shape ({len(images)}, 3): one (channel, row, col) "
                         f"per image, got {tuple(units.shape)}.")
    chain = _chain_to(model, layer, func)
    with _evaluating(model) as device, torch.no_grad():
        h, inputs = images.to(device), []
        for m in chain:
            inputs.append(h)
            h = F.relu(h) if isinstance(m, nn.ReLU) else m(h)  # never in place: inputs must stay as they were
        if h.ndim != 4:
            raise ValueError(f"{func}: argument 'layer' must give feature maps (N, C, H, W), got shape {tuple(h.shape)}.")
        c, r, col = units.to(device).T
        n = torch.arange(len(h), device=device)
        signal = torch.zeros_like(h)
        signal[n, c, r, col] = h[n, c, r, col]
        for m, a in zip(reversed(chain), reversed(inputs)):
            if isinstance(m, nn.ReLU):
                signal = _relu_down(signal, a, rule)
                continue
            with torch.enable_grad():  # any other layer: its own backward pass (vector-Jacobian product)
                a = a.detach().requires_grad_(True)
                (signal,) = torch.autograd.grad(m(a), a, signal)
    return signal.cpu()


def _distinct_channels(maps: torch.Tensor, count: int, k: int) -> list[int]:
    best = maps.amax((2, 3))                              # (N, C): each image's strongest unit
    k = min(k, len(best))
    order = best.topk(k, dim=0).values[-1].argsort(descending=True).tolist()
    tops = {c: set(best[:, c].topk(k).indices.tolist()) for c in order}
    chosen: list[int] = []
    for c in order:
        if all(len(tops[c] & tops[d]) <= k // 3 for d in chosen):
            chosen.append(c)
        if len(chosen) == count:
            return chosen
    return chosen + [c for c in order if c not in chosen][:count - len(chosen)]


@dataclass(frozen=True)
class ProjectedPatches:
    """One feature map's top patches and, for each, the projection of its unit to the pixels."""
    layer: str
    channel: int
    top: TopPatches
    projections: torch.Tensor   # (k, C, S, S): the same crops as top.patches, of the projections
    rule: str


def projected_top_patches(model: nn.Module, images: torch.Tensor, layer: str,
                          channels: Sequence[int] | None = None, *, count: int = 4, k: int = 9,
                          rule: str = "deconvnet", batch_size: int = 500,
                          pad_value: float = 0.0) -> list[ProjectedPatches]:
    """Zeiler & Fergus's figure for one layer: for each chosen feature map, the ``k`` images whose
    strongest unit responds most (as :func:`top_activating_patches`), cropped to the unit's
    receptive field, and the projection of that unit to the pixels (:func:`project_to_pixels`),
    cropped the same way.

    ``channels``: the feature maps to show; default: ``count`` maps that respond strongly to many
    images (ranked by their ``k``-th strongest response, so one outlier image does not count),
    skipping a map whose top images are mostly those of a map already chosen (two maps that
    love the same images would show the same picture twice).
    ``pad_value``: what shows outside the image when the receptive field is larger than it
    (0: the mean colour, for inputs normalised to mean 0).
    """
    func = "projected_top_patches"
    images = _batch(images, "images", func)
    k, count = check_int(k, "k", func, 1), check_int(count, "count", func, 1)
    _chain_to(model, layer, func)
    maps = _layer_maps(model, images, layer, batch_size, func)
    if channels is None:
        channels = _distinct_channels(maps, count, k)
    field = receptive_field(model, layer, images.shape[1:])
    results = []
    for c in channels:
        top = _top_patches(images, maps, int(c), k, field, float(pad_value), func)
        units = torch.cat([torch.full((len(top.image_index), 1), int(c)), top.position], 1)
        whole = project_to_pixels(model, images[top.image_index], layer, units, rule)
        crops = _crop(whole, torch.arange(len(whole)), top.position, field, 0.0)
        results.append(ProjectedPatches(layer, int(c), top, crops, rule))
    return results
