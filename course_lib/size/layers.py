"""Layer specs for the size accounting: what one layer does to a shape, and what it counts.

Build a network from :func:`conv`, :func:`pool`, :func:`adaptive_pool`, :func:`fc`, :func:`rbf`
and the shape-only layers (:func:`flatten`, :func:`lrn`, :func:`dropout`, :func:`act`), then
:func:`account` for it from an input shape. The conventions are in :mod:`course_lib.size`.

>>> table = account([conv(1, 6, 5, bias=False), pool(2), flatten(), fc(1176, 10, bias=False)], (1, 32, 32))
>>> [(r.name, r.units, r.weights, r.connections) for r in table.rows]
[('conv1', 4704, 150, 117600), ('pool1', 1176, 0, 4704), ('flatten1', 0, 0, 0), ('fc1', 10, 11760, 11760)]
"""
from __future__ import annotations

import math

import numpy as np
from dataclasses import dataclass, replace
from typing import Any, Sequence

from course_lib._checks import (_describe, check_bool, check_choice, check_int, check_kernel_fits,
                                check_pool_padding, check_shape, check_tuple)
from course_lib.size.table import Row, SizeTable

__all__ = ["Conv", "Pool", "AdaptivePool", "FC", "RBF", "ShapeOnly", "SPECS",
           "conv", "pool", "adaptive_pool", "fc", "rbf", "flatten", "lrn", "dropout", "act", "account"]


def _out_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool = False) -> int:
    """torch's output length: floor((n + 2p - d(k-1) - 1) / s) + 1 (ceil for ceil_mode pools)."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:  # torch: the last window must start inside the input
        out -= 1
    return out


def _spatial_dims(in_shape: tuple[int, ...], where: str, n: int | None = None) -> int:
    """The number of spatial axes of a (C, L) / (C, H, W) / (C, D, H, W) input, checked."""
    if len(in_shape) < 2 or (n is not None and len(in_shape) != n + 1):
        want = f"{n} spatial axes" if n else "at least one spatial axis, like (C, H, W)"
        raise ValueError(f"{where}: expects an input with {want}, got shape {in_shape}.")
    return len(in_shape) - 1


def _as_tuple(value: Any) -> Any:
    """Lists become tuples, so that specs stay frozen and hashable."""
    return tuple(value) if isinstance(value, (tuple, list)) else value


# --------------------------------------------------------------------------- layer specs

@dataclass(frozen=True)
class Conv:
    """A convolution (made by :func:`conv`); ``kernel_size`` etc. are tuples or ints."""
    in_channels: int
    out_channels: int
    kernel_size: int | tuple[int, ...]
    stride: int | tuple[int, ...] = 1
    padding: int | tuple[int, ...] | str = 0
    dilation: int | tuple[int, ...] = 1
    groups: int = 1
    bias: str = "tied"
    connection_table: tuple[tuple[bool, ...], ...] | None = None
    name: str | None = None
    kind = "conv"

    def inputs_per_map(self) -> list[int]:
        """How many input maps each output map sees (the groups or the connection table)."""
        if self.connection_table is not None:
            return [sum(row) for row in self.connection_table]
        return [self.in_channels // self.groups] * self.out_channels

    def count(self, in_shape: tuple[int, ...], where: str) -> Row:
        if in_shape[0] != self.in_channels:
            raise ValueError(f"{where}: expects {self.in_channels} input channels, got an input of "
                             f"shape {in_shape}. Check its argument 'in_channels', and 'input_shape' "
                             f"or the layer before it.")
        n = _spatial_dims(in_shape, where)
        k, s, d = (check_tuple(v, a, where, n, 1) for v, a in
                   ((self.kernel_size, "kernel_size"), (self.stride, "stride"), (self.dilation, "dilation")))
        size = in_shape[1:]
        if self.padding == "same":
            out = size
        else:
            p = (0,) * n if self.padding == "valid" else check_tuple(self.padding, "padding", where, n, 0)
            check_kernel_fits(size, k, p, where, "layers", d)
            out = tuple(_out_size(*a) for a in zip(size, k, s, p, d))
        positions, taps = math.prod(out), math.prod(k)
        weights = taps * sum(self.inputs_per_map())
        units = self.out_channels * positions
        biases = {"tied": self.out_channels, "untied": units, "none": 0}[self.bias]
        links = positions * weights  # a shared weight is used once per output position
        return Row(self.name or "", "conv", (self.out_channels, *out), units, weights, biases,
                   links + (units if biases else 0), links)


@dataclass(frozen=True)
class Pool:
    """Max or average pooling (made by :func:`pool`), optionally LeNet-5's trainable kind."""
    kernel_size: int | tuple[int, ...]
    stride: int | tuple[int, ...] | None = None
    padding: int | tuple[int, ...] = 0
    dilation: int | tuple[int, ...] = 1
    mode: str = "max"
    trainable: bool = False
    ceil_mode: bool = False
    name: str | None = None
    kind = "pool"

    def count(self, in_shape: tuple[int, ...], where: str) -> Row:
        n = _spatial_dims(in_shape, where)
        k = check_tuple(self.kernel_size, "kernel_size", where, n, 1)
        s = k if self.stride is None else check_tuple(self.stride, "stride", where, n, 1)
        p = check_tuple(self.padding, "padding", where, n, 0)
        d = check_tuple(self.dilation, "dilation", where, n, 1)
        check_pool_padding(p, k, where)
        check_kernel_fits(in_shape[1:], k, p, where, "layers", d)
        out = tuple(_out_size(*a, self.ceil_mode) for a in zip(in_shape[1:], k, s, p, d))
        channels, units = in_shape[0], in_shape[0] * math.prod(out)
        coef = channels if self.trainable else 0  # one coefficient and one bias per map
        links = units * math.prod(k)
        return Row(self.name or "", "pool", (channels, *out), units, coef, coef,
                   links + (units if self.trainable else 0), 0)


def _adaptive_links(n: int, o: int) -> int:
    """Total window length of torch's adaptive pooling: window i is [floor(i·n/o), ceil((i+1)·n/o))."""
    return sum(-(-(i + 1) * n // o) - (i * n) // o for i in range(o))


@dataclass(frozen=True)
class AdaptivePool:
    """Adaptive pooling to a fixed output size (made by :func:`adaptive_pool`)."""
    output_size: tuple[int | None, ...]
    mode: str = "avg"
    name: str | None = None
    kind = "pool"

    def count(self, in_shape: tuple[int, ...], where: str) -> Row:
        _spatial_dims(in_shape, where, len(self.output_size))
        size = in_shape[1:]
        out = tuple(n if o is None else o for n, o in zip(size, self.output_size))
        links = in_shape[0] * math.prod(_adaptive_links(n, o) for n, o in zip(size, out))
        return Row(self.name or "", "pool", (in_shape[0], *out), in_shape[0] * math.prod(out),
                   0, 0, links, 0)


@dataclass(frozen=True)
class FC:
    """A fully connected layer (made by :func:`fc`); it takes an input of any shape whole."""
    in_features: int
    out_features: int
    bias: bool = True
    name: str | None = None
    kind = "fc"

    def count(self, in_shape: tuple[int, ...], where: str) -> Row:
        if math.prod(in_shape) != self.in_features:
            raise ValueError(f"{where}: expects {self.in_features} input features, got an input "
                             f"of shape {in_shape} = {math.prod(in_shape)} units. Check its argument "
                             f"'in_features', and 'input_shape' or the layer before it.")
        links = self.in_features * self.out_features
        biases = self.out_features if self.bias else 0
        return Row(self.name or "", self.kind, (self.out_features,), self.out_features, links,
                   biases, links + biases, links)


@dataclass(frozen=True)
class RBF(FC):
    """LeNet-5's Euclidean RBF output: y_j = sum_i (x_i - w_ji)^2, one weight per link, no bias."""
    bias: bool = False
    kind = "rbf"


@dataclass(frozen=True)
class ShapeOnly:
    """A layer with no units, weights or connections of its own: flatten, LRN, dropout, act."""
    kind: str
    name: str | None = None

    def count(self, in_shape: tuple[int, ...], where: str) -> Row:
        out = (math.prod(in_shape),) if self.kind == "flatten" else in_shape
        return Row(self.name or "", self.kind, out, 0, 0, 0, 0, 0)


SPECS = (Conv, Pool, AdaptivePool, FC, ShapeOnly)


def _connection_table(table: Any, out_channels: int, in_channels: int) -> tuple[tuple[bool, ...], ...]:
    arr = np.asarray(table)
    if arr.dtype != bool and not (np.issubdtype(arr.dtype, np.number) and np.isin(arr, (0, 1)).all()):
        raise TypeError(f"conv: argument 'connection_table' must hold booleans (or 0/1), "
                        f"got {_describe(arr)}.")
    check_shape(arr, (out_channels, in_channels), "connection_table", "conv",
                "(out_channels, in_channels): row o lists the input maps output map o sees")
    if not arr.any(axis=1).all():
        raise ValueError(f"conv: argument 'connection_table' gives output map(s) "
                         f"{np.flatnonzero(~arr.any(axis=1)).tolist()} no input map at all.")
    return tuple(tuple(bool(v) for v in row) for row in arr)


def conv(in_channels: int, out_channels: int, kernel_size: int | Sequence[int], stride: int | Sequence[int] = 1,
         padding: int | Sequence[int] | str = 0, dilation: int | Sequence[int] = 1, groups: int = 1,
         bias: bool | str = True, connection_table: Any = None, name: str | None = None) -> Conv:
    """A convolution, with torch's argument names and order (1-D, 2-D or 3-D from the input).

    ``bias``: ``True``/``"tied"`` (one per output map), ``"untied"`` (one per output unit, as in
    LeCun 1989) or ``False``/``"none"``. ``connection_table``: an (out_channels, in_channels)
    boolean array for partial connectivity (LeNet-5's C3); row o lists the maps output map o sees.

    Counts (output W×H×J from I input maps, K×K kernel): K²IJ weights, W·H·K²·I·J connections
    (+ W·H·J for the biases).

    >>> account([conv(6, 16, 5, bias=False)], (6, 14, 14)).rows[0].connections  # the lecture's C3
    240000
    """
    func = "conv"
    in_channels, out_channels = (check_int(v, a, func, 1) for v, a in
                                 ((in_channels, "in_channels"), (out_channels, "out_channels")))
    for value, arg, low in ((kernel_size, "kernel_size", 1), (stride, "stride", 1), (dilation, "dilation", 1)):
        check_tuple(value, arg, func, len(value) if isinstance(value, (tuple, list)) else 1, low)
    if isinstance(padding, str):
        check_choice(padding, ("valid", "same"), "padding", func)
    else:
        check_tuple(padding, "padding", func, len(padding) if isinstance(padding, (tuple, list)) else 1, 0)
    groups = check_int(groups, "groups", func, 1)
    for count, which in ((in_channels, "in_channels"), (out_channels, "out_channels")):
        if count % groups:
            raise ValueError(f"conv: argument 'groups' must divide {which} = {count}, got groups={groups}.")
    if bias is True or bias is False or bias is None:
        bias = "tied" if bias else "none"
    check_choice(bias, ("tied", "untied", "none"), "bias", func)
    table = None
    if connection_table is not None:
        if groups != 1:
            raise ValueError("conv: use either argument 'groups' or 'connection_table', not both "
                             f"(got groups={groups}); a grouped conv is a block-diagonal table.")
        table = _connection_table(connection_table, out_channels, in_channels)
    return Conv(in_channels, out_channels, _as_tuple(kernel_size), _as_tuple(stride), _as_tuple(padding),
                _as_tuple(dilation), groups, bias, table, name)


def pool(kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None,
         padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1, mode: str = "max",
         trainable: bool = False, ceil_mode: bool = False, name: str | None = None) -> Pool:
    """Max or average pooling (``stride`` defaults to ``kernel_size``, as in torch).

    ``trainable=True`` is LeNet-5's subsampling: per map, the window sum times a trainable
    coefficient plus a trainable bias, so 2 params per map and K²+1 connections per unit.

    >>> account([pool(2, trainable=True)], (6, 28, 28)).rows[0].connections  # LeNet-5's S2
    5880
    """
    for value, arg, low in ((kernel_size, "kernel_size", 1), (padding, "padding", 0), (dilation, "dilation", 1),
                            *(((stride, "stride", 1),) if stride is not None else ())):
        check_tuple(value, arg, "pool", len(value) if isinstance(value, (tuple, list)) else 1, low)
    check_choice(mode, ("max", "avg"), "mode", "pool")
    return Pool(_as_tuple(kernel_size), _as_tuple(stride), _as_tuple(padding), _as_tuple(dilation), mode,
                check_bool(trainable, "trainable", "pool"), check_bool(ceil_mode, "ceil_mode", "pool"), name)


def adaptive_pool(output_size: int | Sequence[int | None], mode: str = "avg", dims: int = 2,
                  name: str | None = None) -> AdaptivePool:
    """torch's ``AdaptiveAvgPool``/``AdaptiveMaxPool``: ``None`` keeps that input size.

    Output unit i (per axis) pools the window [floor(i·n/o), ceil((i+1)·n/o)) of an input of
    length n, so windows may overlap or differ in size; connections add up their lengths.

    >>> account([adaptive_pool(3)], (2, 7, 5)).rows[0].connections  # 2 maps × (3+3+3) × (2+3+2)
    126
    """
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * dims
    for s in sizes:
        if s is not None:
            check_int(s, "output_size", "adaptive_pool", 1)
    check_choice(mode, ("max", "avg"), "mode", "adaptive_pool")
    return AdaptivePool(sizes, mode, name)


def fc(in_features: int, out_features: int, bias: bool = True, name: str | None = None) -> FC:
    """A fully connected layer: in·out weights and connections, + out biases (and bias links).

    >>> w, h, i, j = 4, 4, 3, 2  # the lecture's FC layer from W×H×I to W×H×J: W²H²IJ weights
    >>> account([fc(w * h * i, w * h * j, bias=False)], (i, h, w)).rows[0].weights == w**2 * h**2 * i * j
    True
    """
    return FC(check_int(in_features, "in_features", "fc", 1), check_int(out_features, "out_features", "fc", 1),
              check_bool(bias, "bias", "fc"), name)


def rbf(in_features: int, out_features: int, name: str | None = None) -> RBF:
    """LeNet-5's output: one Euclidean RBF unit per class, y_j = sum_i (x_i - w_ji)², so in·out
    weights (the class centres) and in·out connections, no bias.

    >>> account([rbf(84, 10)], (84,)).rows[0].params
    840
    """
    return RBF(check_int(in_features, "in_features", "rbf", 1), check_int(out_features, "out_features", "rbf", 1),
               False, name)


def flatten(name: str | None = None) -> ShapeOnly:
    """Reshape (C, H, W) to (C·H·W,): no units, weights or connections of its own."""
    return ShapeOnly("flatten", name)


def lrn(name: str | None = None) -> ShapeOnly:
    """Local response normalization (AlexNet): rescales the units it is given."""
    return ShapeOnly("lrn", name)


def dropout(name: str | None = None) -> ShapeOnly:
    """Dropout: masks the units it is given during training."""
    return ShapeOnly("dropout", name)


def act(name: str | None = None) -> ShapeOnly:
    """An activation function (ReLU, tanh, ...): part of the unit it follows."""
    return ShapeOnly("act", name)


def account(layers: Sequence[Any], input_shape: Sequence[int], title: str = "") -> SizeTable:
    """Walk ``layers`` (specs from :func:`conv`, :func:`pool`, :func:`fc`, ...) from an input of
    ``input_shape`` (C, H, W) — or (C, L), (C, D, H, W), (features,) — and count every layer.

    Layers without a name are called after their kind and position: conv1, pool1, conv2, ...
    """
    func = "account"
    shape = _input_shape(input_shape, func)
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
        raise TypeError(f"{func}: argument 'layers' must be a list of layer specs, got {_describe(layers)}.")
    rows, seen = [], {}
    for i, layer in enumerate(layers):
        if not isinstance(layer, SPECS):
            raise TypeError(f"{func}: argument 'layers' item {i} must be a layer made by conv(), pool(), "
                            f"adaptive_pool(), fc(), rbf(), flatten(), lrn(), dropout() or act(), got "
                            f"{_describe(layer)}. (For a torch model, use from_torch.)")
        seen[layer.kind] = seen.get(layer.kind, 0) + 1
        name = layer.name or f"{layer.kind}{seen[layer.kind]}"
        row = layer.count(shape, f"{func} (layer {i}, {name!r})")
        rows.append(replace(row, name=name))
        shape = row.output_shape
    return SizeTable(tuple(rows), _input_shape(input_shape, func), title)


def _input_shape(input_shape: Any, func: str) -> tuple[int, ...]:
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence) or not input_shape:
        raise TypeError(f"{func}: argument 'input_shape' must be a sequence of ints like (1, 32, 32), "
                        f"got {_describe(input_shape)}.")
    return tuple(check_int(n, "input_shape", func, 1) for n in input_shape)
