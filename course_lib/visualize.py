"""What a trained conv net has learned, and how easily it is fooled.

Every compute function takes a torch model and inputs exactly as the model sees them
(normalised float tensors, one image ``(C, H, W)`` or a batch ``(N, C, H, W)``) and returns
tensors on the CPU. The model is put in eval mode for the call (no dropout) and left as it was.
The ``plot_*`` helpers (in :mod:`course_lib.figures.learned`, imported from :mod:`course_lib.figures`) draw those
results and return a ``matplotlib.figure.Figure``.

- :func:`feature_maps` — the output of any named layer (a forward hook);
- :func:`top_activating_patches` — the k images of a dataset that excite one feature map most,
  cropped to the receptive field of the winning unit (Zeiler & Fergus's "top 9");
- :func:`occlusion_map` — the true class's probability while a square covers part of the image;
- :func:`saliency` — how much each pixel can move the class score (input gradients);
- :func:`activation_maximization` — gradient ascent on the image for a class or a unit;
- :func:`adversarial_example` — a tiny, bounded change that flips the prediction (FGSM and its
  iterative version).

The functions assume what every course model is: layers called one after another. Only
:func:`receptive_field` relies on it.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from course_lib._checks import check_array, check_int, check_positive_number

__all__ = ["get_layer", "feature_maps", "ReceptiveField", "receptive_field", "TopPatches",
           "top_activating_patches", "occlusion_positions", "occlusion_probabilities", "occlusion_map",
           "class_score_gradient", "saliency", "AscentResult", "activation_maximization", "class_model",
           "Adversarial", "adversarial_example", "predict_proba"]


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
    maps = feature_maps(model, images, layer, batch_size)
    if maps.ndim != 4:
        raise ValueError(f"{func}: argument 'layer' must give feature maps (N, C, H, W), got shape {tuple(maps.shape)}.")
    field = receptive_field(model, layer, images.shape[1:])
    pad = float(images.min()) if pad_value is None else float(pad_value)
    results = []
    for c in ([channel] if isinstance(channel, int) else list(channel)):
        c = check_int(c, "channel", func, 0)
        if c >= maps.shape[1]:
            raise ValueError(f"{func}: argument 'channel' must be below {maps.shape[1]} (the layer's maps), got {c}.")
        best, where = maps[:, c].flatten(1).max(1)
        values, index = best.topk(min(k, len(best)))
        position = torch.stack([where[index] // maps.shape[3], where[index] % maps.shape[3]], 1)
        results.append(TopPatches(_crop(images, index, position, field, pad), values, index, position, field))
    return results[0] if isinstance(channel, int) else results


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


# --------------------------------------------------------------------------- gradient ascent

@dataclass(frozen=True)
class AscentResult:
    image: torch.Tensor     # (C, H, W) the optimised input
    scores: list[float]     # the objective (without the penalty) before each step, then at the end


def activation_maximization(model: nn.Module, target: int, layer: str | nn.Module | None = None, *,
                            input_shape: Sequence[int] | None = None, steps: int = 200, lr: float = 0.1,
                            l2: float = 1e-3, jitter: int = 1, seed: int = 0,
                            bounds: tuple[float, float] | None = None,
                            init: torch.Tensor | None = None) -> AscentResult:
    """Gradient ascent on the image: maximise ``f(x) - l2 * |x|^2``, starting from faint noise.

    ``f`` is the logit of class ``target`` (``layer=None``), or the centre unit of feature map
    ``target`` of ``layer`` (unit ``target`` for a fully connected layer). Pick the layer before
    its ReLU: a unit that starts switched off has a zero gradient and would never move. Each step rolls the image by a random shift of up to ``jitter``
    pixels (so no single pixel pattern can win), then moves it by
    ``lr * g / mean|g|`` (a normalised gradient step) and clips it to ``bounds``.
    ``input_shape`` defaults to ``model.input_shape``. Every random number comes from ``seed``.
    """
    func = "activation_maximization"
    steps, jitter = check_int(steps, "steps", func, 1), check_int(jitter, "jitter", func, 0)
    lr = check_positive_number(lr, "lr", func)
    shape = tuple(input_shape or getattr(model, "input_shape", ()))
    if len(shape) != 3:
        raise ValueError(f"{func}: pass input_shape=(C, H, W); the model has no 'input_shape' attribute.")
    g = torch.Generator().manual_seed(seed)
    x = (init.float().clone() if init is not None else 0.01 * torch.randn(shape, generator=g))
    module = get_layer(model, layer) if layer is not None else None
    caught: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda m, a, out: caught.append(out)) if module is not None else None

    def objective(img: torch.Tensor) -> torch.Tensor:
        caught.clear()
        logits = model(img[None])
        if module is None:
            return logits[0, _label(target, logits.shape[1], "target", func)]
        maps = caught[0][0]
        c = _label(target, maps.shape[0], "target", func)
        return maps[c] if maps.ndim == 1 else maps[c, maps.shape[1] // 2, maps.shape[2] // 2]

    scores = []
    try:
        with _evaluating(model) as device:
            x = x.to(device)
            for _ in range(steps):
                dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=g))
                shifted = x.roll((dy, dx), (1, 2)).requires_grad_(True)
                score = objective(shifted)
                (grad,) = torch.autograd.grad(score - l2 * (shifted ** 2).sum(), shifted)
                scores.append(float(score.detach()))
                with torch.no_grad():
                    x = x + lr * grad.roll((-dy, -dx), (1, 2)) / (grad.abs().mean() + 1e-12)
                    if bounds is not None:
                        x = x.clamp(*bounds)
            with torch.no_grad():
                scores.append(float(objective(x)))
    finally:
        if handle is not None:
            handle.remove()
    return AscentResult(x.detach().cpu(), scores)


def class_model(model: nn.Module, target_class: int, **kwargs) -> AscentResult:
    """An image the network finds maximally ``target_class``: :func:`activation_maximization`
    of the class's logit (Simonyan et al. 2013's "class model")."""
    return activation_maximization(model, target_class, None, **kwargs)


# --------------------------------------------------------------------------- adversarial examples

@dataclass(frozen=True)
class Adversarial:
    original: torch.Tensor           # (C, H, W)
    adversarial: torch.Tensor        # (C, H, W)
    perturbation: torch.Tensor       # adversarial - original, |.| <= eps everywhere
    label: int
    target: int | None
    original_probs: torch.Tensor     # (K,)
    adversarial_probs: torch.Tensor  # (K,)

    @property
    def prediction(self) -> int:
        return int(self.adversarial_probs.argmax())

    @property
    def fooled(self) -> bool:
        """Misclassified (untargeted), or classified as ``target`` (targeted)."""
        return self.prediction != self.label if self.target is None else self.prediction == self.target


def adversarial_example(model: nn.Module, image: torch.Tensor, label: int, target: int | None = None, *,
                        eps: float = 0.1, steps: int = 10, step_size: float | None = None,
                        bounds: tuple[float, float] | None = None) -> Adversarial:
    """Nudge ``image`` within an L-infinity ball of radius ``eps`` until the model errs.

    Each step moves every pixel by ``step_size`` in the direction of the sign of the gradient:
    up the loss of the true ``label`` (``target=None``), or down the loss of ``target``. Then
    it projects back: ``x = original + clip(x - original, -eps, eps)``, and clips to ``bounds``.
    ``steps=1`` with ``step_size=eps`` is the fast gradient sign method (FGSM); more steps are
    its iterative version. Default ``step_size``: ``2.5 * eps / steps``.
    """
    func = "adversarial_example"
    image = _image(image, "image", func)
    eps, steps = check_positive_number(eps, "eps", func), check_int(steps, "steps", func, 1)
    alpha = 2.5 * eps / steps if step_size is None else check_positive_number(step_size, "step_size", func)
    with _evaluating(model) as device:
        original = image.to(device)
        x = original.clone()
        for _ in range(steps):
            x.requires_grad_(True)
            logits = model(x[None])
            goal = _label(label if target is None else target, logits.shape[1], "label/target", func)
            loss = F.cross_entropy(logits, torch.tensor([goal], device=device))
            (grad,) = torch.autograd.grad(loss, x)
            with torch.no_grad():
                step = alpha * grad.sign()
                x = x + step if target is None else x - step
                x = original + (x - original).clamp(-eps, eps)
                if bounds is not None:
                    x = x.clamp(*bounds)
    x = x.detach()
    probs = predict_proba(model, torch.stack([original, x]))
    return Adversarial(original.cpu(), x.cpu(), (x - original).cpu(), int(label), target, probs[0], probs[1])

