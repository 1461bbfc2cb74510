"""Which parts of an input a decision rests on: occlusion (Zeiler & Fergus) and saliency
(input gradients, Simonyan et al.)."""
from __future__ import annotations

import torch
from torch import nn

from course_lib._checks import check_int
from course_lib.visualize.activations import _evaluating, _image, _label, predict_proba

__all__ = ["occlusion_positions", "occlusion_probabilities", "occlusion_map", "class_score_gradient", "saliency"]


# --------------------------------------------------------------------------- occlusion

def occlusion_positions(size: int, patch: int, stride: int) -> torch.Tensor:
    """Top-left corners of a ``patch``-wide square stepping by ``stride`` and staying inside
    ``size`` pixels; the last one touches the edge. ``occlusion_positions(28, 8, 4)`` ->
    0, 4, ..., 20."""
    steps = torch.arange(0, size - patch + 1, stride)
    return steps if steps[-1] == size - patch else torch.cat([steps, torch.tensor([size - patch])])


def _fill_value(image: torch.Tensor, fill: str | float | torch.Tensor) -> torch.Tensor:
    if isinstance(fill, str):
        if fill != "mean":
            raise ValueError(f"occlusion_map: argument 'fill' must be 'mean', a number or a (C,) tensor, got {fill!r}.")
        return image.mean((1, 2), keepdim=True)
    return torch.as_tensor(fill, dtype=image.dtype).reshape(-1, 1, 1).expand(image.shape[0], 1, 1)


@torch.no_grad()
def occlusion_probabilities(model: nn.Module, image: torch.Tensor, patch: int = 8, stride: int = 2,
                            fill: str | float | torch.Tensor = "mean", batch_size: int = 256) -> torch.Tensor:
    """Class probabilities with a ``patch`` × ``patch`` square of ``fill`` over the image, for
    every square position. Shapes: (C, H, W) -> (P_rows, P_cols, K), positions from
    :func:`occlusion_positions`. All occluded copies go through the model in batches.

    ``fill``: ``"mean"`` (the image's mean per channel), or a value in the model's input units;
    for normalised inputs a mid-grey square is ``(0.5 - mean) / std``.
    """
    func = "occlusion_probabilities"
    image = _image(image, "image", func)
    patch, stride = check_int(patch, "patch", func, 1), check_int(stride, "stride", func, 1)
    if patch > min(image.shape[1:]):
        raise ValueError(f"{func}: argument 'patch' ({patch}) must fit in the image {tuple(image.shape[1:])}.")
    value = _fill_value(image, fill)
    rows, cols = occlusion_positions(image.shape[1], patch, stride), occlusion_positions(image.shape[2], patch, stride)
    corners = [(int(r), int(c)) for r in rows for c in cols]
    probs = []
    for start in range(0, len(corners), batch_size):
        chunk = corners[start:start + batch_size]
        batch = image.expand(len(chunk), *image.shape).clone()
        for b, (r, c) in enumerate(chunk):
            batch[b, :, r:r + patch, c:c + patch] = value
        probs.append(predict_proba(model, batch, batch_size))
    return torch.cat(probs).reshape(len(rows), len(cols), -1)


def occlusion_map(model: nn.Module, image: torch.Tensor, label: int, patch: int = 8, stride: int = 2,
                  fill: str | float | torch.Tensor = "mean", batch_size: int = 256) -> torch.Tensor:
    """p(label) for every position of the occluding square (Zeiler & Fergus's experiment):
    low values mark the regions the network relies on. Shapes: (C, H, W) -> (P_rows, P_cols)."""
    probs = occlusion_probabilities(model, image, patch, stride, fill, batch_size)
    return probs[..., _label(label, probs.shape[-1], "label", "occlusion_map")]


# --------------------------------------------------------------------------- input gradients

def class_score_gradient(model: nn.Module, image: torch.Tensor, label: int) -> torch.Tensor:
    """``d z_label / d image``, the gradient of the class's logit (the score before softmax).
    Shapes: (C, H, W) -> (C, H, W)."""
    image = _image(image, "image", "class_score_gradient")
    with _evaluating(model) as device:
        x = image[None].to(device).requires_grad_(True)
        logits = model(x)
        label = _label(label, logits.shape[1], "label", "class_score_gradient")
        (grad,) = torch.autograd.grad(logits[0, label], x)
    return grad[0].detach().cpu()


def saliency(model: nn.Module, image: torch.Tensor, label: int) -> torch.Tensor:
    """Simonyan et al.'s saliency map: ``max_c |d z_label / d image[c]|`` per pixel, the pixels
    whose small change would move the class score most. Shapes: (C, H, W) -> (H, W)."""
    return class_score_gradient(model, image, label).abs().amax(0)
