"""Training and evaluation: ``fit`` and ``evaluate``, short enough to read in one sitting.

Data is either a pair of tensors ``(x, y)`` (x float (N, C, H, W), y int64 (N,)) or any
iterable of ``(x, y)`` batches, such as a ``torch.utils.data.DataLoader``. Tensor pairs are
moved to the device once and shuffled there with a seeded generator: for datasets that fit in
memory (MNIST is 188 MB as float32) that is the fastest way, and there is no loader to tune.

The optimiser is SGD with momentum and weight decay, as in the lectures. The learning rate
follows one of these schedules (``schedule=``):

- ``"plateau"`` — the lectures' annealing: divide by 10 whenever the validation error has not
  improved for ``patience`` epochs (Krizhevsky et al. did this by hand, three times);
- ``"step"`` — divide by 10 every ``step_size`` epochs;
- ``"cosine"`` — a smooth decay from ``lr`` to 0 over the run;
- ``"onecycle"`` — warm up to ``lr`` then anneal to ~0, updated every batch (fast short runs);
- ``None`` — constant.

On CUDA, ``fit`` also uses bf16 autocast and the channels_last memory layout, and
``compile=True`` wraps the model in ``torch.compile``.
"""
from __future__ import annotations

import math
import os
import random
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Union

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib._checks import check_array, check_int
from course_lib.gpu.device import pick_device

__all__ = ["pick_device", "seed_everything", "History", "fit", "evaluate", "save_checkpoint",
           "load_checkpoint", "SCHEDULES"]

Data = Union[tuple, Iterable]
SCHEDULES = ("plateau", "step", "cosine", "onecycle", None)


# --------------------------------------------------------------------------- seeds

def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) generators; return a fresh seeded
    CPU ``torch.Generator`` for code that wants its own stream (shuffling, augmentation)."""
    seed = check_int(seed, "seed", "seed_everything", 0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- history

@dataclass
class History:
    """Per-epoch record of a run, for plots (``figures.learning_curves``).

    Errors are fractions in [0, 1]; ``val_*`` lists hold NaN for epochs without validation.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    val_top1_error: list[float] = field(default_factory=list)
    val_top5_error: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def append(self, **row: float) -> None:
        for name, value in row.items():
            getattr(self, name).append(value)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**{k: list(v) for k, v in d.items()})

    def __len__(self) -> int:
        return len(self.epoch)


# --------------------------------------------------------------------------- data

def _check_data(data: Data, name: str, func: str) -> Data:
    """Accept (x, y) tensors or an iterable of batches; refuse anything else clearly."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        x, y = data
        check_array(x, f"{name}[0]", func, ndim=(2, 3, 4, 5), what="batch of inputs (N, ...)")
        if not isinstance(y, torch.Tensor) or y.ndim != 1 or y.dtype.is_floating_point:
            raise TypeError(f"{func}: argument '{name}[1]' must be a 1-D integer tensor of class labels, "
                            f"got {type(y).__name__} {getattr(y, 'dtype', '')} {tuple(getattr(y, 'shape', ()))}.")
        if len(x) != len(y):
            raise ValueError(f"{func}: argument '{name}' has {len(x)} inputs but {len(y)} labels; "
                             "they must match one to one.")
        if not x.dtype.is_floating_point:
            raise TypeError(f"{func}: argument '{name}[0]' must be a float tensor, got {x.dtype}. "
                            "Scale images first, e.g. x.float() / 255 (or use data.mnist_tensors).")
        return x, y.long()
    if isinstance(data, (torch.Tensor, np.ndarray, str)) or not hasattr(data, "__iter__"):
        raise TypeError(f"{func}: argument '{name}' must be a pair (x, y) of tensors or a DataLoader "
                        f"yielding (x, y) batches, got {type(data).__name__}.")
    return data


def _batches(data: Data, batch_size: int, device: torch.device, shuffle: bool,
             generator: torch.Generator | None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    if isinstance(data, tuple):
        x, y = data
        order = torch.randperm(len(x), generator=generator) if shuffle else torch.arange(len(x))
        order = order.to(x.device)  # once per epoch, not once per batch
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            yield x[idx].to(device, non_blocking=True), y[idx].to(device, non_blocking=True)
    else:
        for xb, yb in data:
            yield xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)


def _num_batches(data: Data, batch_size: int) -> int | None:
    if isinstance(data, tuple):
        return math.ceil(len(data[0]) / batch_size)
    return len(data) if hasattr(data, "__len__") else None


# --------------------------------------------------------------------------- evaluate

@torch.no_grad()
def evaluate(model: nn.Module, data: Data, *, batch_size: int = 1000, device: torch.device | str | None = None,
             loss_fn: Callable | None = None, transform: Callable | None = None) -> dict[str, float]:
    """Mean loss, accuracy, top-1 and top-5 error of ``model`` on ``data``.

    Top-k error: the fraction of examples whose true class is not among the k largest logits
    (k = min(5, number of classes)), so top-5 error <= top-1 error = 1 - accuracy.
    ``transform`` (e.g. ``augment.center_crop``) is applied to each batch on the device.
    """
    data = _check_data(data, "data", "evaluate")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    loss_fn = loss_fn or nn.CrossEntropyLoss(reduction="sum")
    was_training = model.training
    model.eval()
    total = loss = top1 = top5 = 0.0
    for xb, yb in _batches(data, batch_size, device, shuffle=False, generator=None):
        if transform is not None:
            xb = transform(xb)
        with _autocast(device):
            logits = model(_layout(xb, device)).float()
        loss += float(loss_fn(logits, yb)) if getattr(loss_fn, "reduction", "") == "sum" \
            else float(loss_fn(logits, yb)) * len(yb)
        k = min(5, logits.shape[1])
        topk = logits.topk(k, dim=1).indices
        top1 += float((topk[:, 0] == yb).sum())
        top5 += float((topk == yb[:, None]).any(1).sum())
        total += len(yb)
    model.train(was_training)
    return {"loss": loss / total, "accuracy": top1 / total,
            "top1_error": 1 - top1 / total, "top5_error": 1 - top5 / total}


def _autocast(device: torch.device):
    # bf16 keeps fp32's exponent range, so no loss scaling is needed (unlike fp16).
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" \
        else torch.autocast("cpu", enabled=False)


def _layout(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    # Tensor cores want NHWC; on the CPU the default layout is as fast for small nets.
    return x.contiguous(memory_format=torch.channels_last) if device.type == "cuda" and x.ndim == 4 else x


# --------------------------------------------------------------------------- schedule

def _make_schedule(optimizer, schedule, epochs: int, steps_per_epoch: int | None, lr: float,
                   patience: int, step_size: int):
    if schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.1,
                                                          patience=patience)
    if schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=0.1)
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if schedule == "onecycle":
        if steps_per_epoch is None:
            raise ValueError("fit: schedule='onecycle' needs data with a known length "
                             "(tensors or a DataLoader), got an iterable without len().")
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=epochs,
                                                   steps_per_epoch=steps_per_epoch, pct_start=0.25)
    return None


# --------------------------------------------------------------------------- fit

def fit(model: nn.Module, train_data: Data, val_data: Data | None = None, *, epochs: int = 10,
        batch_size: int = 128, lr: float = 0.05, momentum: float = 0.9, weight_decay: float = 5e-4,
        nesterov: bool = False, schedule: str | None = "plateau", patience: int = 1, step_size: int = 10,
        augment: Callable | None = None, eval_transform: Callable | None = None,
        device: torch.device | str | None = None, compile: bool = False, seed: int = 0,
        checkpoint: str | os.PathLike | None = None, progress: bool = True,
        loss_fn: Callable | None = None) -> History:
    """Train ``model`` with SGD (momentum, weight decay) and return its :class:`History`.

    ``train_data``/``val_data``: ``(x, y)`` tensors or an iterable of ``(x, y)`` batches.
    ``augment(x, generator)`` transforms each training batch on the device (see
    ``course_lib.data.augment``); ``eval_transform(x)`` each evaluation batch.
    ``schedule``: one of :data:`SCHEDULES` (see the module docstring); ``"plateau"`` watches
    the validation top-1 error, or the training loss when there is no validation data.
    ``checkpoint``: a path, written atomically after every epoch (:func:`save_checkpoint`).
    ``seed`` seeds shuffling, augmentation and dropout; the initial weights come from whatever
    seeded the model's construction (call :func:`seed_everything` before building it).
    ``device``: default :func:`pick_device`; ``compile``: wrap the model in ``torch.compile``.

    Update rule (torch's SGD): ``v = momentum * v + (g + weight_decay * w);  w = w - lr * v``.
    """
    func = "fit"
    epochs = check_int(epochs, "epochs", func, 1)
    batch_size = check_int(batch_size, "batch_size", func, 1)
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"{func}: argument 'lr' must be a positive number, got {lr!r}.")
    if schedule not in SCHEDULES:
        raise ValueError(f"{func}: argument 'schedule' must be one of {SCHEDULES}, got {schedule!r}.")
    train_data = _check_data(train_data, "train_data", func)
    val_data = _check_data(val_data, "val_data", func) if val_data is not None else None

    device = torch.device(device) if device is not None else pick_device()
    generator = seed_everything(seed)
    model.to(device)
    if isinstance(train_data, tuple):  # once, not every batch
        train_data = tuple(t.to(device) for t in train_data)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    step_model = torch.compile(model) if compile else model
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                                weight_decay=weight_decay, nesterov=nesterov)
    steps = _num_batches(train_data, batch_size)
    scheduler = _make_schedule(optimizer, schedule, epochs, steps, lr, patience, step_size)
    history = History()

    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        seen, loss_sum, correct = 0, torch.zeros((), device=device), torch.zeros((), device=device)
        bar = tqdm(_batches(train_data, batch_size, device, True, generator), total=steps,
                   desc=f"epoch {epoch}/{epochs}", disable=not progress, leave=False)
        for i, (xb, yb) in enumerate(bar):
            if augment is not None:
                xb = augment(xb, generator)
            with _autocast(device):
                logits = step_model(_layout(xb, device))
                loss = loss_fn(logits.float(), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if schedule == "onecycle":
                scheduler.step()
            # Accumulate on the device: a .item() per batch would stall a GPU every step.
            loss_sum += loss.detach() * len(yb)
            correct += (logits.argmax(1) == yb).sum()
            seen += len(yb)
            if progress and i % 20 == 0:
                bar.set_postfix(loss=f"{float(loss_sum) / seen:.4f}", acc=f"{float(correct) / seen:.4f}")
        if not math.isfinite(float(loss_sum)):
            raise FloatingPointError(f"{func}: the training loss became {float(loss_sum)} in epoch {epoch}. "
                                     f"The learning rate ({lr}) is probably too large: try dividing it by 10.")
        train_loss, train_acc = float(loss_sum) / seen, float(correct) / seen
        val = evaluate(model, val_data, device=device, transform=eval_transform) if val_data is not None \
            else dict.fromkeys(("loss", "accuracy", "top1_error", "top5_error"), float("nan"))
        history.append(epoch=epoch, train_loss=train_loss, train_acc=train_acc, val_loss=val["loss"],
                       val_acc=val["accuracy"], val_top1_error=val["top1_error"],
                       val_top5_error=val["top5_error"], lr=optimizer.param_groups[0]["lr"],
                       seconds=time.perf_counter() - start)
        if schedule == "plateau":
            scheduler.step(val["top1_error"] if val_data is not None else train_loss)
        elif scheduler is not None and schedule != "onecycle":
            scheduler.step()
        if progress:
            tqdm.write(f"epoch {epoch}: train loss {train_loss:.4f} acc {train_acc:.4f}"
                       + (f" | val loss {val['loss']:.4f} acc {val['accuracy']:.4f}" if val_data is not None else "")
                       + f" | lr {history.lr[-1]:.3g} | {history.seconds[-1]:.1f} s")
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, epoch=epoch, history=history)
    return history


# --------------------------------------------------------------------------- checkpoints

def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    *, epoch: int = 0, history: History | None = None) -> Path:
    """Write model (and optimiser) state atomically: to a temporary file in the same folder,
    verified by loading it back, then ``os.replace``-d over ``path``. A crash or a failed
    write leaves any previous checkpoint at ``path`` untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"model": model.state_dict(), "epoch": int(epoch),
             "optimizer": optimizer.state_dict() if optimizer is not None else None,
             "history": history.as_dict() if history is not None else None}
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        back = torch.load(tmp, map_location="cpu", weights_only=True)
        if back["model"].keys() != state["model"].keys() or not all(
                torch.equal(back["model"][k], v.cpu()) for k, v in state["model"].items()):
            raise OSError(f"save_checkpoint: the file written to {tmp} does not read back identically.")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None = None) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` into ``model`` (and ``optimizer``).

    Returns ``{"epoch": int, "history": History | None}``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_checkpoint: no checkpoint at {path}. "
                                "fit(..., checkpoint=path) writes one after every epoch.")
    device = next(model.parameters()).device
    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    history = History.from_dict(state["history"]) if state.get("history") else None
    return {"epoch": state["epoch"], "history": history}
