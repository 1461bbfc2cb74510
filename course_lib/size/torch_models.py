"""Accounting of any torch model: :func:`from_torch` walks it with forward hooks.

Known layers (convolutions, linear, pooling, LRN, dropout, activations, flatten) are turned into
the specs of :mod:`course_lib.size` and counted by the same rules as :func:`course_lib.size.account`.
A layer we do not know, but which has parameters, is probed: its links are the nonzeros of its
Jacobian. So the params total always equals ``sum(p.numel() for p in model.parameters())``.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from course_lib._checks import _describe
from course_lib.size.layers import (ShapeOnly, _input_shape, act, adaptive_pool, conv, dropout, fc,
                                    flatten, lrn, pool)
from course_lib.size.table import Row, SizeTable

__all__ = ["from_torch"]
_PROBE_LIMIT = 2 ** 27  # Jacobian entries we are willing to probe for one unknown layer


def _spec_from_module(module: Any) -> Any:
    """The spec that counts a torch layer, or None for a module we do not know."""
    from torch import nn

    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return conv(module.in_channels, module.out_channels, module.kernel_size, module.stride, module.padding,
                    module.dilation, module.groups, module.bias is not None)
    if isinstance(module, nn.Linear):
        return fc(module.in_features, module.out_features, module.bias is not None)
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
        return pool(module.kernel_size, module.stride, module.padding, module.dilation, "max",
                    ceil_mode=module.ceil_mode)
    if isinstance(module, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        return pool(module.kernel_size, module.stride, module.padding, 1, "avg", ceil_mode=module.ceil_mode)
    for cls, mode, dims in ((nn.AdaptiveAvgPool1d, "avg", 1), (nn.AdaptiveAvgPool2d, "avg", 2),
                            (nn.AdaptiveMaxPool1d, "max", 1), (nn.AdaptiveMaxPool2d, "max", 2)):
        if isinstance(module, cls):
            return adaptive_pool(module.output_size, mode, dims)
    if any(True for _ in module.parameters()):
        return None  # PReLU, BatchNorm, custom layers: their weights are probed instead
    if isinstance(module, (nn.LocalResponseNorm, nn.CrossMapLRN2d)):
        return lrn()
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return dropout()
    if isinstance(module, (nn.Flatten, nn.Unflatten)):
        return flatten()
    activations = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
                   nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardsigmoid, nn.Hardswish, nn.Softplus, nn.Softsign,
                   nn.Softmax, nn.LogSoftmax, nn.Tanhshrink, nn.Threshold, nn.Identity)
    return act() if isinstance(module, activations) else None


def _probe_links(module: Any, in_shape: tuple[int, ...], like: Any) -> int:
    """Input-to-output links of an unknown layer: the nonzeros of its Jacobian d output / d input.

    Probed at a random input with random parameter values (seeded), so a link is missed only
    where the derivative happens to vanish (e.g. behind a ReLU inside the layer).
    """
    import warnings

    import torch
    from torch.func import functional_call, vjp, vmap

    gen = torch.Generator().manual_seed(0)
    rand = lambda shape: torch.randn(shape, generator=gen, dtype=torch.float64).to(like)  # noqa: E731
    params = {n: rand(p.shape) for n, p in module.named_parameters()}
    out, pullback = vjp(lambda x: functional_call(module, params, (x,)).reshape(-1), rand((1, *in_shape)))
    n_in, n_out = math.prod(in_shape), out.numel()
    if n_in * n_out > _PROBE_LIMIT:
        warnings.warn(f"from_torch: layer {type(module).__name__} is unknown and too large to probe "
                      f"({n_out} x {n_in} Jacobian); its connections are counted as 0.", stacklevel=3)
        return 0
    links, chunk = 0, max(1, 2 ** 22 // n_in)
    for start in range(0, n_out, chunk):
        basis = torch.eye(n_out, dtype=out.dtype, device=out.device)[start:start + chunk]
        try:
            (grads,) = vmap(pullback)(basis)
        except RuntimeError:  # an op without a batching rule: one output at a time
            grads = torch.stack([pullback(b)[0] for b in basis])
        links += int((grads != 0).sum())
    return links


def _rows_from_calls(calls: list, model: Any, like: Any, func: str) -> list[Row]:
    """One row per recorded layer call, then one for parameters no call used."""
    rows, seen = [], set()
    for name, module, in_shape, out_shape in calls:
        own = dict(module.named_parameters(recurse=False))
        new = {n: p for n, p in own.items() if id(p) not in seen}
        seen.update(id(p) for p in new.values())
        biases = sum(p.numel() for n, p in new.items() if "bias" in n)
        weights = sum(p.numel() for p in new.values()) - biases
        is_leaf = next(module.children(), None) is None
        spec = _spec_from_module(module) if is_leaf and in_shape is not None else None
        label = name or type(module).__name__
        if spec is not None:
            row = spec.count(in_shape, f"{func} (layer {label!r})")
            if not isinstance(spec, ShapeOnly) and row.output_shape != out_shape:
                raise RuntimeError(f"{func}: layer {label!r} gave shape {out_shape}, the count expects "
                                   f"{row.output_shape}; please report this.")
            kind, units, connections, madds = row.kind, row.units, row.connections, row.multiply_adds
        elif own and is_leaf and in_shape is not None:
            kind, units = "other", math.prod(out_shape)
            madds = _probe_links(module, in_shape, like)
            connections = madds + (units if any("bias" in n for n in own) else 0)
        else:  # a parameter-free unknown layer is taken as shape-only, like an activation
            kind, units, connections, madds = "other", 0, 0, 0
        rows.append(Row(label, kind, out_shape, units, weights, biases, connections, madds))
    unused = [(n, p) for n, p in model.named_parameters() if id(p) not in seen]
    if unused:
        biases = sum(p.numel() for n, p in unused if "bias" in n.rsplit(".", 1)[-1])
        rows.append(Row("(never called)", "other", (), 0, sum(p.numel() for _, p in unused) - biases,
                        biases, 0, 0))
    return rows


def from_torch(model: Any, input_shape: Sequence[int] | None = None, title: str = "") -> SizeTable:
    """Account any ``nn.Module`` by running one zero input of ``input_shape`` (no batch axis;
    by default the model's own ``input_shape`` attribute, which course_lib's models have)
    through it with forward hooks on every layer, in call order.

    Known layers (Conv1d/2d/3d with groups and dilation, Linear, Max/Avg/AdaptivePool,
    LocalResponseNorm, Dropout, Flatten, activations) are counted with the same specs as
    :func:`account`. Any other layer with parameters is kind ``"other"``: its units are its
    outputs, its links are probed from its Jacobian (each counted as a multiply-add), and a
    parameter whose name holds ``"bias"`` is a bias (one more link per unit).

    Parameters are counted once even when shared or called twice, and parameters never called
    appear in a last row, so ``total("params") == sum(p.numel() for p in model.parameters())``
    always. Only modules are seen: pooling or flattening done with ``torch.nn.functional``
    inside a forward is not. The model runs in eval mode (batch-norm statistics stay as they
    are) and every module's mode is put back afterwards.

    >>> import torch.nn as nn
    >>> model = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 28 * 28, 10))
    >>> t = from_torch(model, (1, 32, 32))
    >>> t.total("params"), t.total("connections")
    (47206, 169354)
    """
    import torch
    from torch import nn

    func = "from_torch"
    if not isinstance(model, nn.Module):
        raise TypeError(f"{func}: argument 'model' must be a torch nn.Module, got {_describe(model)}.")
    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
        if input_shape is None:
            raise TypeError(f"{func}: argument 'input_shape' is needed, as {type(model).__name__} has no "
                            "input_shape attribute; give the (C, H, W) of one input, e.g. (1, 28, 28).")
    shape = _input_shape(input_shape, func)
    calls: list[tuple[str, Any, Any, tuple[int, ...]]] = []

    def recorder(name: str) -> Any:
        def record(module: Any, args: tuple, output: Any) -> None:
            x = next((a for a in args if isinstance(a, torch.Tensor)), None)
            y = output if isinstance(output, torch.Tensor) else next(
                (o for o in output if isinstance(o, torch.Tensor)), None) if isinstance(output, (tuple, list)) else None
            calls.append((name, module, None if x is None else tuple(x.shape[1:]),
                          () if y is None else tuple(y.shape[1:])))
        return record

    handles = [m.register_forward_hook(recorder(n)) for n, m in model.named_modules()
               if next(m.children(), None) is None or next(m.parameters(recurse=False), None) is not None]
    like = next(model.parameters(), torch.zeros(()))
    like = like if like.is_floating_point() else torch.zeros((), device=like.device)
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()  # no batch-norm statistics change, and probes see eval behaviour too
        try:
            with torch.no_grad():
                model(torch.zeros((1, *shape), dtype=like.dtype, device=like.device))
        except (RuntimeError, ValueError, TypeError) as err:
            raise ValueError(f"{func}: the model did not run on one input of argument 'input_shape' "
                             f"{shape} (batch shape {(1, *shape)}). Is that the (C, H, W) this model "
                             f"expects? torch said: {err}") from err
        finally:
            for handle in handles:
                handle.remove()
        rows = _rows_from_calls(calls, model, like, func)
    finally:
        for m, mode in modes.items():
            m.training = mode
    return SizeTable(tuple(rows), shape, title)
