"""The size table of a network, and what it costs to train and to hold in memory.

:func:`~course_lib.size.layers.account` and :func:`~course_lib.size.torch_models.from_torch`
fill a :class:`SizeTable`, one :class:`Row` per layer; :func:`memory` and
:func:`training_operations` turn its counts into bytes and multiply-adds.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np

from course_lib._checks import _describe, check_choice, check_int

__all__ = ["Row", "SizeTable", "Memory", "training_operations", "memory", "FIELDS"]

FIELDS = ("units", "weights", "biases", "params", "connections", "multiply_adds")


@dataclass(frozen=True)
class Row:
    """One layer of a :class:`SizeTable` (``params`` is computed: weights + biases)."""
    name: str
    kind: str
    output_shape: tuple[int, ...]
    units: int
    weights: int
    biases: int
    params: int = field(init=False)
    connections: int
    multiply_adds: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", self.weights + self.biases)



# --------------------------------------------------------------------------- the table

@dataclass(frozen=True)
class SizeTable:
    """Units, weights and connections of a network, one :class:`Row` per layer."""
    rows: tuple[Row, ...]
    input_shape: tuple[int, ...]
    title: str = ""

    @property
    def input_units(self) -> int:
        """The input image's values (not a layer, so not in ``total("units")``)."""
        return math.prod(self.input_shape)

    def total(self, field: str, kinds: Iterable[str] | None = None) -> int:
        """Sum of ``field`` over all rows, or over the rows whose kind is in ``kinds``.

        >>> from course_lib.size import account, conv, fc, flatten, pool
        >>> t = account([conv(1, 6, 5), pool(2), flatten(), fc(1176, 10)], (1, 32, 32))
        >>> t.total("params"), t.total("units", kinds=["conv", "fc"])
        (11926, 4714)
        """
        check_choice(field, FIELDS, "field", "SizeTable.total")
        wanted = None if kinds is None else set(kinds)
        return sum(getattr(r, field) for r in self.rows if wanted is None or r.kind in wanted)

    def share(self, field: str, kinds: Iterable[str]) -> float:
        """The fraction of ``total(field)`` in layers of the given kinds (0 if the total is 0)."""
        whole = self.total(field)
        return self.total(field, kinds) / whole if whole else 0.0

    def __getitem__(self, key: int | str) -> Row:
        if isinstance(key, str):
            for row in self.rows:
                if row.name == key:
                    return row
            raise KeyError(f"SizeTable: no layer named {key!r}; layers: {[r.name for r in self.rows]}")
        return self.rows[key]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        head = ["layer", "kind", "output", "units", "weights", "biases", "params", "connections", "mult-adds"]
        body = [[r.name, r.kind, "×".join(map(str, r.output_shape)), *(f"{getattr(r, f):,}" for f in FIELDS)]
                for r in self.rows]
        body.append(["total", "", f"input {'×'.join(map(str, self.input_shape))}",
                     *(f"{self.total(f):,}" for f in FIELDS)])
        return head, body

    def to_markdown(self) -> str:
        """The table as GitHub markdown (Jupyter shows it through ``_repr_markdown_``)."""
        head, body = self._cells()
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * 6) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return (f"**{self.title}**\n\n" if self.title else "") + "\n".join(lines)

    _repr_markdown_ = to_markdown

    def __str__(self) -> str:
        head, body = self._cells()
        widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
        fmt = lambda row: "  ".join(c.ljust(w) if i < 3 else c.rjust(w)  # noqa: E731
                                    for i, (c, w) in enumerate(zip(row, widths)))
        lines = [fmt(head), "  ".join("-" * w for w in widths), *map(fmt, body[:-1]),
                 "  ".join("-" * w for w in widths), fmt(body[-1])]
        return "\n".join(([self.title] if self.title else []) + lines)

    def plot(self, ax: Any = None) -> Any:
        """Bars of each layer's share of all units, params and connections; returns the Figure.

        Shares (not raw counts) put three very different scales on one axis, and show the
        rule of thumb: the conv layers hold most units and connections, the FC layers most weights.
        """
        from matplotlib.figure import Figure

        rows = [r for r in self.rows if r.units or r.params or r.connections]
        many = len(rows) > 10  # VGG-16 has 21: names turned, and a width a projector still shows
        if ax is None:
            # 110 dpi and 12-point text (the course's projector rule, tests/test_projector.py);
            # at most 12 inches wide, so a notebook never shrinks the figure to fit.
            width = min(12.0, max(7.0, (0.45 if many else 0.9) * len(rows) + 2.5))
            fig = Figure(figsize=(width, 5.2 if many else 4.4), dpi=110, layout="constrained")
            ax = fig.add_subplot()
        fig = ax.figure
        x = np.arange(len(rows))
        for i, (f, colour) in enumerate((("units", "tab:blue"), ("params", "tab:orange"),
                                         ("connections", "tab:green"))):
            whole = self.total(f) or 1
            ax.bar(x + (i - 1) * 0.27, [100 * getattr(r, f) / whole for r in rows], 0.27,
                   label=f"{f} ({self.total(f):,})", color=colour,
                   hatch=("", "///", "xxx")[i], edgecolor="black", linewidth=0.8)  # not colour alone
        if many:
            ax.set_xticks(x, [r.name for r in rows], rotation=60, ha="right", rotation_mode="anchor",
                          fontsize=12)
        else:
            ax.set_xticks(x, [f"{r.name}\n{r.kind}" for r in rows], fontsize=12)
        ax.tick_params(labelsize=12)
        ax.set_ylabel("share of the network's total (%)", fontsize=12)
        conv, dense = ("conv",), ("fc", "rbf")
        ax.set_title(f"{self.title or 'where the units, params and connections are'}\n"
                     f"conv layers: {self.share('units', conv):.0%} of units, "
                     f"{self.share('connections', conv):.0%} of connections; "
                     f"FC layers: {self.share('params', dense):.0%} of params", fontsize=13)
        ax.legend(frameon=False, fontsize=12)
        # The description that figures.style.alt_text reads (size/ sits below figures/, so it
        # sets the attribute instead of importing figures.style.describe).
        fig._course_alt = (f"Bar chart of {self.title or 'a network'}: each layer's share of all units, "
                           f"parameters and connections. Conv layers hold {self.share('units', conv):.0%} "
                           f"of the units and {self.share('connections', conv):.0%} of the connections; "
                           f"fully connected layers hold {self.share('params', dense):.0%} of the parameters.")
        return fig


# --------------------------------------------------------------------------- costs

def training_operations(connections: int, examples: int, epochs: int, ops_per_connection: int = 3) -> int:
    """The lectures' estimate of training work: connections × examples × epochs × ops.

    About 3 multiply-adds per connection and example: 1 in the forward pass, 2 in the backward
    pass (one for the input's gradient, one for the weight's).

    >>> training_operations(64_660, 7_291, 23)  # LeCun et al. 1989: 23 passes over 7,291 digits
    32529088140
    """
    func = "training_operations"
    values = [check_int(v, a, func, 0) for v, a in ((connections, "connections"), (examples, "examples"),
                                                    (epochs, "epochs"), (ops_per_connection, "ops_per_connection"))]
    return math.prod(values)


@dataclass(frozen=True)
class Memory:
    """Bytes for one training step: stored activations (input included) and the parameters."""
    activations: int
    parameters: int

    @property
    def total(self) -> int:
        return self.activations + self.parameters


def _itemsize(dtype: Any) -> int:
    """Bytes per value of a torch or NumPy dtype, a dtype name, or a byte size given as an int."""
    if isinstance(dtype, numbers.Integral) and not isinstance(dtype, (bool, np.bool_)):
        return check_int(dtype, "dtype", "memory", 1)
    size = getattr(dtype, "itemsize", None)  # torch.dtype and np.dtype both have it
    if isinstance(size, int) and not isinstance(dtype, np.dtype):
        return size  # a torch.dtype
    try:
        # np.dtype(None) would be float64; str, bytes, object and void hold no numbers
        numeric = dtype is not None and not isinstance(dtype, (bool, np.bool_)) \
            and np.dtype(dtype).kind in "biufc" and np.dtype(dtype).itemsize > 0
    except TypeError:
        numeric = False
    if not numeric:
        shown = dtype.__name__ if isinstance(dtype, type) else _describe(dtype)
        raise TypeError(f"memory: argument 'dtype' must be a numeric torch or NumPy dtype (such as "
                        f"'float32' or torch.float16), a dtype name or a byte size, got {shown}.")
    return np.dtype(dtype).itemsize


def memory(table: SizeTable, batch_size: int = 1, dtype: Any = "float32") -> Memory:
    """Activation bytes = (input units + units) × batch × itemsize; parameter bytes = params × itemsize.

    This is the lectures' count: one stored value per unit. Frameworks store somewhat more
    (e.g. ReLU and LRN outputs separately) and training also keeps a gradient for every
    parameter (and optimizer state: momentum adds another copy).

    >>> from course_lib.size import account, fc
    >>> m = memory(account([fc(784, 10)], (784,)), batch_size=100)
    >>> m.activations, m.parameters
    (317600, 31400)
    """
    if not isinstance(table, SizeTable):
        raise TypeError(f"memory: argument 'table' must be a SizeTable (from account or from_torch), "
                        f"got {_describe(table)}.")
    batch_size = check_int(batch_size, "batch_size", "memory", 1)
    size = _itemsize(dtype)
    return Memory((table.input_units + table.total("units")) * batch_size * size,
                  table.total("params") * size)
