"""Which device to compute on: CUDA, then Apple's MPS, then the CPU. One place decides it."""
from __future__ import annotations

import torch

__all__ = ["pick_device"]


def pick_device() -> torch.device:
    """The fastest device here, in the course's order: ``cuda``, then ``mps`` (Apple), then ``cpu``.

    Code that follows this never hard-codes ``.cuda()``: it moves models and tensors with
    ``.to(pick_device())``, so the same notebook runs on a laptop, a Mac and a GPU server.

    >>> pick_device().type in ("cuda", "mps", "cpu")
    True
    """
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
