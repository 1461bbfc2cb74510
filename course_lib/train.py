"""Training and evaluation: ``fit`` and ``evaluate``, short enough to read in one sitting.

Data is either a pair of tensors ``(x, y)`` (x float (N, C, H, W), y int64 (N,)) or any
iterable of ``(x, y)`` batches, such as a ``torch.utils.data.DataLoader``. Tensor pairs are
moved to the device once and shuffled there with a seeded generator: for datasets that fit in
memory (MNIST is 188 MB as float32) that is the fastest way, and there is no loader to tune.

The optimiser is SGD with momentum and weight decay, as in the lectures. ``schedule=`` sets the
learning rate: ``"plateau"`` divides it by 10 whenever the validation error has not improved for
``patience`` epochs (the lectures' annealing, which Krizhevsky et al. did by hand), ``"step"``
every ``step_size`` epochs; ``"cosine"`` decays it smoothly to 0; ``"onecycle"`` warms up to
``lr`` and anneals to ~0, every batch (fast short runs); ``None`` keeps it constant.

On CUDA, ``fit`` uses bf16 autocast and channels_last. Bad data and hyperparameters are refused up
front; a run whose loss or weights become NaN or inf stops and names the likely causes.
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

from course_lib._checks import (_describe, check_bool, check_device, check_finite_number, check_int,
                                check_label_range, check_labelled_data, check_model)
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


def _rng_state(generator: torch.Generator) -> dict:
    """Every random state a run draws from, as tensors and numbers (``weights_only``-safe)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"generator": generator.get_state(), "torch": torch.get_rng_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss]}


def _set_rng_state(state: dict, generator: torch.Generator) -> None:
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


# --------------------------------------------------------------------------- history

@dataclass
class History:
    """Per-epoch record of a run, for plots (``figures.learning_curves``). Errors are fractions
    in [0, 1]; ``val_*`` lists hold NaN for epochs without validation."""

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

    @classmethod  # the inverse of as_dict
    def from_dict(cls, d: dict) -> "History":
        return cls(**{k: list(v) for k, v in d.items()})

    def __len__(self) -> int:
        return len(self.epoch)


# --------------------------------------------------------------------------- data

def _batches(data: Data, batch_size: int, device: torch.device, dtype: torch.dtype, shuffle: bool,
             generator: torch.Generator | None, name: str, func: str
             ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches on ``device``, inputs in the model's float type (float64 data, float32 model)."""
    if isinstance(data, tuple):
        x, y = data
        order = (torch.randperm(len(x), generator=generator) if shuffle else torch.arange(len(x))).to(x.device)
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            yield x[idx].to(device, dtype, non_blocking=True), y[idx].to(device, non_blocking=True)
        return
    for i, batch in enumerate(data):
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise TypeError(f"{func}: argument '{name}' must yield (x, y) pairs, got {_describe(batch)}.")
        on_cpu = not isinstance(batch[0], torch.Tensor) or batch[0].device.type == "cpu"
        xb, yb = check_labelled_data(batch, f"{name}[{i}]", func) if on_cpu else batch  # no GPU sync
        yield xb.to(device, dtype, non_blocking=True), yb.to(device, non_blocking=True)


# --------------------------------------------------------------------------- evaluate

@torch.no_grad()
def evaluate(model: nn.Module, data: Data, *, batch_size: int = 1000, device: torch.device | str | None = None,
             loss_fn: Callable | None = None, transform: Callable | None = None) -> dict[str, float]:
    """Mean loss, accuracy, top-1 and top-5 error of ``model`` on ``data``.
    Top-k error: the fraction of examples whose true class is not among the k largest logits
    (k = min(5, number of classes)), so top-5 error <= top-1 error = 1 - accuracy.
    ``transform`` (e.g. ``augment.center_crop``) is applied to each batch on the device.
    """
    func = "evaluate"
    dtype = check_model(model, func)
    batch_size = check_int(batch_size, "batch_size", func, 1)
    data = check_labelled_data(data, "data", func, once=True)
    device = check_device(device, func) if device is not None else next(model.parameters()).device
    loss_fn = loss_fn or nn.CrossEntropyLoss(reduction="sum")
    was_training = model.training
    model.eval()
    total = loss = top1 = top5 = 0.0
    for xb, yb in _batches(data, batch_size, device, dtype, False, None, "data", func):
        if transform is not None:
            xb = transform(xb)
        with _autocast(device):
            logits = model(_layout(xb, device)).float()
        check_label_range(yb, logits.shape[1], "data", func)
        loss += float(loss_fn(logits, yb)) * (1 if getattr(loss_fn, "reduction", "") == "sum" else len(yb))
        topk = logits.topk(min(5, logits.shape[1]), dim=1).indices
        top1 += float((topk[:, 0] == yb).sum())
        top5 += float((topk == yb[:, None]).any(1).sum())
        total += len(yb)
    model.train(was_training)
    if not total:
        raise ValueError(f"{func}: argument 'data' holds no examples.")
    return {"loss": loss / total, "accuracy": top1 / total,
            "top1_error": 1 - top1 / total, "top5_error": 1 - top5 / total}


def _autocast(device: torch.device):
    # bf16 keeps fp32's exponent range, so no loss scaling is needed (unlike fp16).
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)


def _layout(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    # Tensor cores want NHWC. On the CPU the caller chooses: a channels_last model keeps it (lecture 06).
    return x.contiguous(memory_format=torch.channels_last) if device.type == "cuda" and x.ndim == 4 else x


# --------------------------------------------------------------------------- schedule

def _make_schedule(optimizer, schedule, epochs: int, steps_per_epoch: int | None, lr: float,
                   patience: int, step_size: int):
    if schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.1, patience=patience)
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
        checkpoint: str | os.PathLike | None = None, resume: bool = False, progress: bool = True,
        loss_fn: Callable | None = None) -> History:
    """Train ``model`` with SGD (momentum, weight decay) and return its :class:`History`.

    ``train_data``/``val_data``: ``(x, y)`` tensors (x float, no NaN or inf; y integer labels) or
    a list or DataLoader of ``(x, y)`` batches; inputs are cast to the model's float type.
    ``augment(x, generator)`` transforms each training batch on the device (see
    ``course_lib.data.augment``); ``eval_transform(x)`` each evaluation batch.
    ``schedule``: one of :data:`SCHEDULES` (see the module docstring); ``"plateau"`` watches
    the validation top-1 error, or the training loss when there is no validation data.
    ``checkpoint``: a path, written atomically after every epoch (:func:`save_checkpoint`); with
    ``resume=True`` a run continues from it, if it exists, exactly as if never interrupted.
    ``seed`` seeds shuffling, augmentation and dropout; the initial weights come from whatever
    seeded the model's construction (call :func:`seed_everything` before building it).
    ``device``: default :func:`pick_device`; ``compile``: wrap the model in ``torch.compile`` (if it fails, eager).
    A loss or weight that becomes NaN or inf raises ``FloatingPointError``, with likely causes.
    Update rule (torch's SGD): ``v = momentum * v + (g + weight_decay * w);  w = w - lr * v``.
    """
    func = "fit"
    dtype = check_model(model, func)
    epochs, batch_size, patience, step_size, seed = (check_int(v, n, func, low) for v, n, low in (
        (epochs, "epochs", 1), (batch_size, "batch_size", 1), (patience, "patience", 0),
        (step_size, "step_size", 1), (seed, "seed", 0)))
    lr = check_finite_number(lr, "lr", func, strict=True)
    if lr > torch.finfo(dtype).max:  # torch's SGD would fail converting it
        raise ValueError(f"{func}: argument 'lr' = {lr:g} does not fit in the model's {dtype}.")
    momentum, weight_decay = (check_finite_number(v, n, func) for v, n in ((momentum, "momentum"),
                                                                            (weight_decay, "weight_decay")))
    nesterov, compile, resume, progress = (check_bool(v, n, func) for v, n in (
        (nesterov, "nesterov"), (compile, "compile"), (resume, "resume"), (progress, "progress")))
    for bad, message in ((nesterov and momentum == 0, "'nesterov' needs a momentum above 0, got 0"),
                         (schedule not in SCHEDULES, f"'schedule' must be one of {SCHEDULES}, got {schedule!r}"),
                         (resume and checkpoint is None, "'resume' needs a 'checkpoint' path to resume from")):
        if bad:
            raise ValueError(f"{func}: argument {message}.")
    train_data = check_labelled_data(train_data, "train_data", func)
    val_data = check_labelled_data(val_data, "val_data", func) if val_data is not None else None

    device = check_device(device, func) if device is not None else pick_device()
    generator = seed_everything(seed)
    model.to(device)
    if isinstance(train_data, tuple):  # once, not every batch
        train_data = tuple(t.to(device) for t in train_data)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    try:  # torch.compile compiles at the first call, where the training loop catches a failure
        step_model = torch.compile(model) if compile else model
    except Exception as err:  # noqa: BLE001 - torch cannot compile here at all (an unsupported Python)
        step_model = _eager(model, err)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                                weight_decay=weight_decay, nesterov=nesterov)
    steps = math.ceil(len(train_data[0]) / batch_size) if isinstance(train_data, tuple) \
        else len(train_data) if hasattr(train_data, "__len__") else None
    scheduler = _make_schedule(optimizer, schedule, epochs, steps, lr, patience, step_size)
    history, done, first_loss = History(), 0, None

    def step(net: nn.Module, xb: torch.Tensor, yb: torch.Tensor, labels: torch.Tensor | None):
        with _autocast(device):  # forward, loss and backward of one batch, not the update
            logits = net(_layout(xb, device))
            if labels is not None:
                check_label_range(labels, logits.shape[1], "train_data", func)
            loss = loss_fn(logits.float(), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return logits, loss

    if resume and Path(checkpoint).is_file():
        state = load_checkpoint(checkpoint, model, optimizer, scheduler)
        history, done = state["history"] or History(), state["epoch"]
        if state["rng"]:
            _set_rng_state(state["rng"], generator)

    for epoch in range(done + 1, epochs + 1):
        start = time.perf_counter()
        model.train()
        seen, loss_sum, correct = 0, torch.zeros((), device=device), torch.zeros((), device=device)
        bar = tqdm(_batches(train_data, batch_size, device, dtype, True, generator, "train_data", func),
                   total=steps, desc=f"epoch {epoch}/{epochs}", disable=not progress, leave=False)
        for i, (xb, yb) in enumerate(bar):
            if augment is not None:
                xb = augment(xb, generator)
            # Labels are checked once per epoch (one sync); tensor data whole, in the first epoch.
            labels = None if i else train_data[1] if isinstance(train_data, tuple) and epoch == done + 1 else yb
            try:
                logits, loss = step(step_model, xb, yb, labels)
            except Exception as err:  # noqa: BLE001 - a compiler fails in many ways
                if step_model is model or i or epoch != done + 1 or isinstance(err, ValueError):
                    raise  # not the compiler's first step, or our own clear error
                step_model = _eager(model, err)
                logits, loss = step(model, xb, yb, labels)
            first_loss = loss.detach() if first_loss is None else first_loss
            optimizer.step()
            if schedule == "onecycle":
                scheduler.step()
            # Accumulate on the device: a .item() per batch would stall a GPU every step.
            loss_sum += loss.detach() * len(yb)
            correct += (logits.argmax(1) == yb).sum()
            seen += len(yb)
            if progress and i % 20 == 0:
                bar.set_postfix(loss=f"{float(loss_sum) / seen:.4f}", acc=f"{float(correct) / seen:.4f}")
        if not seen:
            raise ValueError(f"{func}: argument 'train_data' gave no batches in epoch {epoch}.")
        train_loss, train_acc = float(loss_sum) / seen, float(correct) / seen
        _check_training(model, train_loss, first_loss, epoch, lr, momentum, weight_decay, train_data, loss_fn)
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
            save_checkpoint(checkpoint, model, optimizer, epoch=epoch, history=history, scheduler=scheduler,
                            rng=_rng_state(generator))
    return history


def _eager(model: nn.Module, err: BaseException) -> nn.Module:
    """The model itself, after one line saying why ``torch.compile`` failed."""
    print(f"fit: torch.compile failed ({type(err).__name__}: {str(err).strip()[:160]!r}); "
          "training the model uncompiled.")
    return model


def _check_training(model, train_loss, first_loss, epoch, lr, momentum, weight_decay, train_data, loss_fn):
    """Stop if the loss or a weight became NaN or inf: say which, and the likely causes, from the
    evidence (the learning rate is one suspect, and none at all if the first loss was already bad)."""
    broken = [name for name, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    if math.isfinite(train_loss) and not broken:
        return
    what = [f"the training loss is {train_loss}"] if not math.isfinite(train_loss) else []
    what += [f"parameters {', '.join(broken[:4])}{', ...' if len(broken) > 4 else ''} hold NaN or inf"] if broken else []
    if first_loss is not None and not bool(torch.isfinite(first_loss)):  # not the learning rate, then
        causes = ["the loss was NaN or inf on the first batch, before any update: look at 'model' (its "
                  "initial weights, a log of 0 or a division by 0 in forward) and at 'loss_fn'"]
    else:
        scale = float(train_data[0].abs().max()) if isinstance(train_data, tuple) else 0.0
        causes = [f"'train_data' has large inputs (max |x| = {scale:.3g}): standardise them"] if scale > 1e3 else []
        causes += [f"argument 'momentum' = {momentum:g} is 1 or more, which makes SGD diverge"] if momentum >= 1 else []
        causes += [f"lr * weight_decay = {lr * weight_decay:g}: each step overshoots; lower "
                   f"'weight_decay'"] if lr * weight_decay >= 1 else []
        causes.append(f"argument 'lr' (the learning rate, {lr:g}) is too large for this model and data: try {lr / 10:g}")
        causes += [] if isinstance(loss_fn, nn.CrossEntropyLoss) else ["'loss_fn' gives NaN or inf (a log of 0?)"]
    raise FloatingPointError(f"fit: training broke down in epoch {epoch}: {'; '.join(what)}. Likely "
                             f"causes: " + "; ".join(f"({i}) {c}" for i, c in enumerate(causes, 1)) + ".")


# --------------------------------------------------------------------------- checkpoints

def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    *, epoch: int = 0, history: History | None = None, scheduler=None,
                    rng: dict | None = None) -> Path:
    """Write model, optimiser, schedule and random states atomically: to a temporary file in the
    same folder, verified by loading it back, then ``os.replace``-d over ``path``. Any failure, an
    interrupt included, deletes the temporary file and leaves an older checkpoint untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"model": model.state_dict(), "epoch": int(epoch), "rng": rng,
             "optimizer": optimizer.state_dict() if optimizer is not None else None,
             "scheduler": scheduler.state_dict() if scheduler is not None else None,
             "history": history.as_dict() if history is not None else None}
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            fd = None  # the file object owns (and closes) it now
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        back = torch.load(tmp, map_location="cpu", weights_only=True)
        if back["model"].keys() != state["model"].keys() or not all(
                torch.equal(back["model"][k], v.cpu()) for k, v in state["model"].items()):
            raise OSError(f"save_checkpoint: the file written to {tmp} does not read back identically.")
        os.replace(tmp, path)
    except BaseException:
        if fd is not None:
            os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler=None) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` into ``model`` (and ``optimizer``,
    ``scheduler``). A plain ``torch.save(model.state_dict(), path)`` loads too, as epoch 0.
    Returns ``{"epoch": int, "history": History | None, "rng": dict | None}``."""
    func, path = "load_checkpoint", Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{func}: no checkpoint at {path} (argument 'path'). "
                                "fit(..., checkpoint=path) writes one after every epoch.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - unpickling fails in many ways
        raise ValueError(f"{func}: argument 'path' ({path}) is not a file torch can load safely: "
                         f"{str(err).splitlines()[0]}") from None
    if isinstance(state, dict) and state and "model" not in state \
            and all(isinstance(v, torch.Tensor) for v in state.values()):
        state = {"model": state, "epoch": 0}  # a bare state_dict: the weights alone
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise ValueError(f"{func}: argument 'path' ({path}) holds {_describe(state)[:80]}, not a "
                         f"checkpoint: expected what save_checkpoint writes, or a model's state_dict.")
    try:
        check_model(model, func)
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise ValueError(f"{func}: argument 'model' does not fit the weights in {path}: "
                         f"{' '.join(str(err).split())[:300]}") from None
    for part, name in ((optimizer, "optimizer"), (scheduler, "scheduler")):
        if part is not None and state.get(name) is not None:
            part.load_state_dict(state[name])
    history = History.from_dict(state["history"]) if state.get("history") else None
    return {"epoch": state["epoch"], "history": history, "rng": state.get("rng")}
