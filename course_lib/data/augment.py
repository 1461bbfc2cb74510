"""AlexNet's data augmentation, on batches of tensors (no torchvision needed).

Krizhevsky et al. (2012) fought overfitting with label-preserving transformations computed
on the fly, so the enlarged training set never has to be stored:

- random crops (224×224 patches of the 256×256 images; here any size, optionally after
  zero-padding, which is how small images such as CIFAR-10 are usually cropped),
- horizontal flips,
- "fancy PCA" colour jitter: add to every pixel of an image the same random mix of the
  principal components of the training set's RGB colours.

Each transform is a callable ``t(x, generator=None) -> x`` on a (N, C, H, W) float batch,
with every random number drawn from ``generator`` (a CPU ``torch.Generator``) so that runs
repeat exactly. :class:`Compose` chains them, and ``fit(..., augment=...)`` applies the chain
to each training batch on the device.

For full-size images kept as uint8 (N, H, W, 3), :func:`crop_flip_jitter` does all three and the
normalisation in one gather and one multiply-add on the device, so only the bytes of the crops
are read and a float copy of the whole 256×256 batch is never made; :func:`center_view` is its
test-time twin.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F

from course_lib._checks import check_array, check_int

__all__ = ["random_crop", "center_crop", "horizontal_flip", "RandomCrop", "RandomHorizontalFlip",
           "PCAColorJitter", "Compose", "crop_flip_jitter", "center_view"]


def random_crop(x: torch.Tensor, size: int, padding: int = 0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """A different random ``size``×``size`` window of each image, after zero-padding by
    ``padding`` on every side.

    Shapes: (N, C, H, W) -> (N, C, size, size); needs ``size <= H + 2*padding`` (and W).
    """
    check_array(x, "x", "random_crop", ndim=4, what="(N, C, H, W) batch")
    size = check_int(size, "size", "random_crop", 1)
    padding = check_int(padding, "padding", "random_crop", 0)
    if padding:
        x = F.pad(x, (padding,) * 4)
    n, _, h, w = x.shape
    if size > h or size > w:
        raise ValueError(f"random_crop: argument 'size' ({size}) must fit in the (padded) images, "
                         f"which are {h}×{w}.")
    top = torch.randint(0, h - size + 1, (n,), generator=generator).to(x.device)
    left = torch.randint(0, w - size + 1, (n,), generator=generator).to(x.device)
    offsets = torch.arange(size, device=x.device)
    rows = (top[:, None] + offsets)[:, None, :, None]     # (N, 1, size, 1)
    cols = (left[:, None] + offsets)[:, None, None, :]    # (N, 1, 1, size)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return x[batch, channel, rows, cols]


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``size``×``size`` window (AlexNet's test-time view). (N, C, H, W) -> (N, C, size, size)."""
    check_array(x, "x", "center_crop", ndim=4, what="(N, C, H, W) batch")
    size = check_int(size, "size", "center_crop", 1)
    h, w = x.shape[-2:]
    if size > h or size > w:
        raise ValueError(f"center_crop: argument 'size' ({size}) must fit in the images, which are {h}×{w}.")
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top:top + size, left:left + size]


def horizontal_flip(x: torch.Tensor, p: float = 0.5,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image left-right with probability ``p``. Shape unchanged."""
    check_array(x, "x", "horizontal_flip", ndim=4, what="(N, C, H, W) batch")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"horizontal_flip: argument 'p' must be a probability in [0, 1], got {p!r}.")
    flip = (torch.rand(x.shape[0], generator=generator) < p).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


class RandomCrop:
    """:func:`random_crop` as a transform: ``RandomCrop(32, padding=4)(x, generator)``."""

    def __init__(self, size: int, padding: int = 0) -> None:
        self.size = check_int(size, "size", "RandomCrop", 1)
        self.padding = check_int(padding, "padding", "RandomCrop", 0)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return random_crop(x, self.size, self.padding, generator)


class RandomHorizontalFlip:
    """:func:`horizontal_flip` as a transform."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return horizontal_flip(x, self.p, generator)


class PCAColorJitter:
    """Krizhevsky's "fancy PCA" colour augmentation.

    Fit: the 3×3 covariance of all RGB pixels of the training set, and its eigenvectors
    ``p_i`` (columns of ``eigenvectors``) and eigenvalues ``lambda_i``.
    Apply: for each image draw ``alpha_i ~ N(0, sigma^2)`` once, and add to every pixel
    ``sum_i alpha_i * sqrt(lambda_i) * p_i``.

    The paper writes ``alpha_i * lambda_i``; we scale by the standard deviation ``sqrt(lambda_i)``
    so the shift has the units of the pixels, and ``sigma = 0.1`` means "a tenth of the natural
    colour spread" whether pixels are in [0, 1] or [0, 255].
    """

    def __init__(self, eigenvalues: torch.Tensor, eigenvectors: torch.Tensor, sigma: float = 0.1) -> None:
        if tuple(eigenvalues.shape) != (3,) or tuple(eigenvectors.shape) != (3, 3):
            raise ValueError("PCAColorJitter: expected 3 eigenvalues and a 3×3 eigenvector matrix, got "
                             f"{tuple(eigenvalues.shape)} and {tuple(eigenvectors.shape)}.")
        if not sigma >= 0:
            raise ValueError(f"PCAColorJitter: argument 'sigma' must be >= 0, got {sigma!r}.")
        self.eigenvalues = eigenvalues.float().clamp(min=0)
        self.eigenvectors = eigenvectors.float()
        self.sigma = float(sigma)

    @classmethod
    def from_data(cls, x: torch.Tensor, sigma: float = 0.1) -> "PCAColorJitter":
        """Fit on a (N, 3, H, W) training set (or a large random subset of it)."""
        check_array(x, "x", "PCAColorJitter.from_data", ndim=4, what="(N, 3, H, W) batch")
        if x.shape[1] != 3:
            raise ValueError(f"PCAColorJitter.from_data: argument 'x' must have 3 (RGB) channels, "
                             f"got {x.shape[1]}.")
        pixels = x.permute(1, 0, 2, 3).reshape(3, -1).double()
        eigenvalues, eigenvectors = torch.linalg.eigh(torch.cov(pixels))
        return cls(eigenvalues, eigenvectors, sigma)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        check_array(x, "x", "PCAColorJitter", ndim=4, what="(N, 3, H, W) batch")
        if x.shape[1] != 3:
            raise ValueError(f"PCAColorJitter: argument 'x' must have 3 (RGB) channels, got {x.shape[1]}.")
        alpha = torch.randn(x.shape[0], 3, generator=generator) * self.sigma
        shift = (alpha * self.eigenvalues.sqrt()) @ self.eigenvectors.T   # (N, 3): sum_i a_i s_i p_i
        return x + shift.to(x.device, x.dtype)[:, :, None, None]


class Compose:
    """Apply transforms in order, passing the same generator: ``Compose(RandomCrop(32, 4), RandomHorizontalFlip())``."""

    def __init__(self, *transforms: Callable) -> None:
        self.transforms = transforms

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for t in self.transforms:
            x = t(x, generator)
        return x


# --------------------------------------------------------------------------- fused, on uint8 batches

def _crop_normalise(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, flip: torch.Tensor,
                    shift: torch.Tensor, size: int, mean, std, pad_to: int | None) -> torch.Tensor:
    """Gather each image's window (mirrored where ``flip``) from an NHWC uint8 batch, then
    ``(pixel / 255 + shift - mean) / std`` as one multiply-add; NCHW view of NHWC memory."""
    n, dev = x.shape[0], x.device
    offsets = torch.arange(size, device=dev)
    top, left, flip = top.to(dev, non_blocking=True), left.to(dev, non_blocking=True), flip.to(dev, non_blocking=True)
    rows = top[:, None] + offsets                                                # (N, size)
    cols = left[:, None] + torch.where(flip[:, None], size - 1 - offsets, offsets)  # mirrored: read backwards
    window = x[torch.arange(n, device=dev)[:, None, None], rows[:, :, None], cols[:, None, :]]  # (N, s, s, 3)
    mean = torch.as_tensor(mean, dtype=torch.float32, device=dev)
    std = torch.as_tensor(std, dtype=torch.float32, device=dev)
    scale = (1.0 / (255.0 * std))                                                # (3,)
    offset = (shift.to(dev, torch.float32, non_blocking=True) - mean) / std      # (N, 3)
    out = torch.addcmul(offset[:, None, None, :], window.float(), scale)         # (N, s, s, 3)
    out = out.permute(0, 3, 1, 2)                                                # channels_last NCHW
    if pad_to is not None and pad_to > size:
        before = (pad_to - size) // 2  # zeros after normalising: the mean colour
        after = pad_to - size - before
        out = F.pad(out, (before, after, before, after)).contiguous(memory_format=torch.channels_last)
    return out


def _check_uint8_batch(x: torch.Tensor, size: int, func: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.ndim != 4 or x.shape[-1] != 3:
        raise TypeError(f"{func}: argument 'x' must be a uint8 tensor (N, H, W, 3), got "
                        f"{getattr(x, 'dtype', type(x).__name__)} with shape {tuple(getattr(x, 'shape', ()))}.")
    if size > x.shape[1] or size > x.shape[2]:
        raise ValueError(f"{func}: argument 'size' ({size}) must fit in the images, which are "
                         f"{x.shape[1]}×{x.shape[2]}.")


def crop_flip_jitter(x: torch.Tensor, size: int, mean, std, colour: PCAColorJitter | None = None,
                     p_flip: float = 0.5, pad_to: int | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """AlexNet's training view of a uint8 batch, fused: a random ``size``×``size`` window,
    mirrored with probability ``p_flip``, shifted by ``colour``'s PCA jitter (pixels in [0, 1]),
    normalised by ``mean`` and ``std`` (3 values each, in [0, 1] units), zero-padded to
    ``pad_to`` if given (224 crops for the 227 network).

    Shapes: (N, H, W, 3) uint8 on any device -> (N, 3, size, size) float32, channels_last memory.
    Random numbers come from ``generator`` (CPU), in this order: tops, lefts, flips, then alpha.

    >>> x = torch.arange(2 * 4 * 4 * 3, dtype=torch.uint8).reshape(2, 4, 4, 3)
    >>> out = crop_flip_jitter(x, 2, (0, 0, 0), (1, 1, 1), generator=torch.Generator().manual_seed(0))
    >>> out.shape, out.is_contiguous(memory_format=torch.channels_last)
    (torch.Size([2, 3, 2, 2]), True)
    """
    func = "crop_flip_jitter"
    size = check_int(size, "size", func, 1)
    _check_uint8_batch(x, size, func)
    if not 0.0 <= p_flip <= 1.0:
        raise ValueError(f"{func}: argument 'p_flip' must be a probability in [0, 1], got {p_flip!r}.")
    n, h, w = x.shape[:3]
    top = torch.randint(0, h - size + 1, (n,), generator=generator)
    left = torch.randint(0, w - size + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < p_flip
    shift = torch.zeros(n, 3)
    if colour is not None:
        alpha = torch.randn(n, 3, generator=generator) * colour.sigma
        shift = (alpha * colour.eigenvalues.sqrt()) @ colour.eigenvectors.T
    return _crop_normalise(x, top, left, flip, shift, size, mean, std, pad_to)


def center_view(x: torch.Tensor, size: int, mean, std, pad_to: int | None = None) -> torch.Tensor:
    """The test-time view: the central ``size``×``size`` window, normalised, as in
    :func:`crop_flip_jitter` without the random parts. (N, H, W, 3) uint8 -> (N, 3, size, size).

    >>> x = torch.full((1, 6, 6, 3), 255, dtype=torch.uint8)
    >>> center_view(x, 4, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))[0, :, 0, 0].tolist()
    [2.0, 2.0, 2.0]
    """
    func = "center_view"
    size = check_int(size, "size", func, 1)
    _check_uint8_batch(x, size, func)
    n, h, w = x.shape[:3]
    top = torch.full((n,), (h - size) // 2)
    left = torch.full((n,), (w - size) // 2)
    return _crop_normalise(x, top, left, torch.zeros(n, dtype=torch.bool), torch.zeros(n, 3),
                           size, mean, std, pad_to)
