"""Making inputs with gradients: the image a unit or class wants most (gradient ascent), and the
small change that fools the network (adversarial examples)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from course_lib._checks import check_int, check_positive_number
from course_lib.visualize.activations import _evaluating, _image, _label, get_layer, predict_proba

__all__ = ["AscentResult", "activation_maximization", "class_model", "Adversarial", "adversarial_example"]


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
