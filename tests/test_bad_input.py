"""Bad input, the way students pass it, to the public functions of conv, pool, gpu, size,
gradcheck and train. The contract, for every call:

* a **clear error**: a ``TypeError`` or ``ValueError`` whose message names the function and one
  of its arguments (``"conv2d_layer: argument 'x' ..."``), or, by the same rule, the
  ``FileNotFoundError`` of a missing checkpoint and the ``FloatingPointError`` of a training run
  that diverged; or
* a **correct result**: equal to an independent reference (``np.convolve``, ``scipy.signal``,
  ``torch.nn.functional``, a direct formula), NaN and inf in the same places.

Anything else is *obscure* (an error from deep inside NumPy or torch, or one that names no
argument) or *silent* (a wrong result, or a result where the input had to be refused).

One set of generators serves every function: :func:`arrays` mutates a valid array argument into a
wrong type, a wrong rank, an empty or zero-size axis, NaN/inf entries, extreme values, any dtype
(bool, uint8, ..., float16, complex), a non-contiguous view or a huge (zero-memory) view; scalar
arguments get wrong types, bools for numbers, strings for bools, NaN and out-of-range values.
``benchmarks/bad_input_survey.py`` runs the same generators and counts the three outcomes.
"""
from __future__ import annotations

import contextlib
import inspect
import math
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings, strategies as st
from scipy import linalg, signal
from torch import nn

from course_lib import conv, gpu, gradcheck, pool, size, train

try:
    import resource
except ImportError:  # pragma: no cover - Windows: no address-space cap
    resource = None

GOOD, OBSCURE, SILENT = "good", "obscure", "silent"
EXAMPLES = 30  # per function; derandomized, so CI sees the same inputs every run
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))

DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64",
          "complex64", "complex128")
INEXACT = ("float16", "float32", "float64", "complex64", "complex128")
EXTREME = {"uint8": (200, 1, 0), "int8": (100, -100, 1), "int16": (20000, -20000, 1),
           "int32": (10 ** 6, -10 ** 6, 1), "float16": (30000.0, -30000.0, 20000.0, 1.0)}
WRONG_TYPES = (None, "abc", 2.5, [[1.0, 2.0], [3.0]], {"x": 1}, np.array(["a", "b"]),
               np.array([1, None], dtype=object))


# --------------------------------------------------------------------------- arguments

@dataclass(frozen=True)
class Arg:
    """One argument: what is passed, its NumPy form for the references, and whether the
    contract says it must be refused."""
    value: Any
    kind: str
    refuse: bool = False
    ref: Any = None

    @property
    def reference(self) -> Any:
        return self.value if self.ref is None else self.ref


def fine(value: Any) -> Arg:
    return Arg(value, "fine", False, None)


def _fill(draw, shape, dtype: str) -> np.ndarray:
    n = math.prod(shape)
    if dtype == "bool":
        elements = st.booleans()
    elif dtype.startswith("uint"):
        elements = st.integers(0, 8)
    else:
        elements = st.integers(-4, 4)
    return np.array(draw(st.lists(elements, min_size=n, max_size=n)), dtype=dtype).reshape(shape)


def _as_torch(a: Any) -> Any:
    if isinstance(a, np.ndarray) and a.dtype.kind in "biufc":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # read-only views
            return torch.from_numpy(a)
    return a


@st.composite
def arrays(draw, shape: tuple[int, ...], ranks: tuple[int, ...], side: str = "numpy",
           mutate: bool = True, huge: tuple[int, ...] | None = None, dtype: str = "float64") -> Arg:
    """A valid array of ``shape`` (``dtype``, small integer values), or, with ``mutate``, one of
    the ways students get it wrong. ``side="torch"`` hands it over as a tensor."""
    kind = "fine"
    if mutate:
        choices = ("nonfinite", "dtype", "extreme", "view", "nonfinite", "dtype", "list", "type",
                   "rank", "empty", "extreme", "fine") + (("huge", "huge") if huge else ())
        kind = draw(st.sampled_from(choices))
    refuse = False
    if kind == "type":
        options = WRONG_TYPES + ((_fill(draw, shape, dtype),) if side == "torch" else ())
        value = draw(st.sampled_from(options))
        return Arg(value, kind, True)
    if kind == "rank":
        ndim = draw(st.sampled_from([d for d in range(0, 7) if d not in ranks]))
        new = tuple(shape[-ndim:]) if ndim <= len(shape) else (1,) * (ndim - len(shape)) + tuple(shape)
        arr = _fill(draw, new[:ndim] if ndim else (), dtype)
        refuse = True
    elif kind == "empty":
        axis = draw(st.integers(0, len(shape) - 1))
        arr = np.zeros(tuple(0 if i == axis else s for i, s in enumerate(shape)), dtype)
        refuse = True
    elif kind == "huge":
        arr = np.broadcast_to(np.float64(1.0), huge)
        value = torch.ones(()).double().expand(huge) if side == "torch" else arr
        return Arg(value, kind, True, arr)
    elif kind == "dtype":
        dtype = draw(st.sampled_from(DTYPES))
        arr = _fill(draw, shape, dtype)
    elif kind == "nonfinite":
        arr = _fill(draw, shape, draw(st.sampled_from(INEXACT)))
        spots = draw(st.lists(st.integers(0, arr.size - 1), min_size=1, max_size=3))
        for spot in spots:
            arr.flat[spot] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    elif kind == "extreme":
        dtype = draw(st.sampled_from(sorted(EXTREME)))
        n = math.prod(shape)
        values = draw(st.lists(st.sampled_from(EXTREME[dtype]), min_size=n, max_size=n))
        arr = np.array(values, dtype=dtype).reshape(shape)
    elif kind == "view":
        wide = _fill(draw, tuple(shape[:-1]) + (2 * shape[-1],), draw(st.sampled_from(DTYPES[1:])))
        arr = wide[..., ::2]  # every other column: a strided, non-contiguous view
    else:
        arr = _fill(draw, shape, dtype)
    if kind == "list":
        return Arg(arr.tolist(), kind, side == "torch", arr)
    if arr.dtype.kind == "b":
        refuse = True
    return Arg(_as_torch(arr) if side == "torch" else arr, kind, refuse, arr)


@st.composite
def scalars(draw, valid: list, invalid: list, mutate: bool = True) -> Arg:
    if mutate and invalid and draw(st.booleans()):
        return Arg(draw(st.sampled_from(invalid)), "scalar", True)
    return Arg(draw(st.sampled_from(valid)), "fine")


BOOLS = ([True, False, np.bool_(True)], ["no", "yes", 1, 0, None, "False"])


def window_arg(valid: list) -> tuple[list, list]:
    return valid, [0, -1, 2.5, True, "2", (1, 1, 1)] + ([] if None in valid else [None])


# --------------------------------------------------------------------------- a call and its verdict

@dataclass
class Case:
    target: "Target"
    args: dict[str, Arg]
    extra: dict = field(default_factory=dict)     # fixed, valid arguments (a model, a callable)
    context: dict = field(default_factory=dict)   # what the comparison needs besides the result

    @property
    def refuse(self) -> bool:
        return any(a.refuse for a in self.args.values())

    def call(self) -> Any:
        return self.target.func(**self.extra, **{k: a.value for k, a in self.args.items()})

    def expected(self) -> Any:
        return self.target.reference(**self.extra, **{k: a.reference for k, a in self.args.items()})

    def describe(self) -> str:
        def short(v: Any) -> str:
            if isinstance(v, (np.ndarray, torch.Tensor)):
                return f"{type(v).__name__}{tuple(v.shape)} {v.dtype}"
            if isinstance(v, (tuple, list)) and any(isinstance(e, (np.ndarray, torch.Tensor, tuple)) for e in v):
                return f"{type(v).__name__}({', '.join(short(e) for e in v)})"
            return repr(v)[:80]
        shown = ", ".join(f"{k}={short(a.value)} [{a.kind}]" for k, a in self.args.items())
        return f"{self.target.name}({shown})"


@dataclass
class Target:
    name: str
    func: Callable
    reference: Callable | None
    cases: Callable[[], st.SearchStrategy]
    compare: Callable[[Any, Any, Case], bool] | None = None
    names: tuple[str, ...] = ()   # other names its messages may use (the layer in account)

    def __post_init__(self) -> None:
        self.params = set(inspect.signature(self.func).parameters)
        self.names = (self.name, *self.names)


_QUOTED = re.compile(r"'([A-Za-z_]\w*)(?:\[[^\]]*\])*'")   # 'x', 'train_data[0]', 'data[3][1]'


def is_clear(err: BaseException, target: Target) -> bool:
    message = str(err)
    named_function = any(re.search(rf"\b{re.escape(n)}\b", message) for n in target.names)
    named_argument = any(q in target.params for q in _QUOTED.findall(message))
    return named_function and named_argument


@contextlib.contextmanager
def memory_cap(extra: int = 3 * 2 ** 30):
    """Cap this process's address space at its current size + ``extra`` while a call runs, so a
    call that tries to allocate tens of GB fails with MemoryError instead of taking the machine."""
    if resource is None or not Path("/proc/self/statm").exists():
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    used = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    limit = used + extra if hard == resource.RLIM_INFINITY else min(used + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def judge(case: Case) -> tuple[str, str]:
    """(verdict, why) for one call."""
    target = case.target
    try:
        with memory_cap(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = case.call()
    except (TypeError, ValueError, FloatingPointError, FileNotFoundError) as err:
        if is_clear(err, target):
            return GOOD, f"{type(err).__name__}: {err}"
        return OBSCURE, f"{type(err).__name__} that names no argument of {target.name}: {err}"
    except Exception as err:  # noqa: BLE001 - anything else is obscure by definition
        return OBSCURE, f"{type(err).__name__} from inside: {err}"
    if case.refuse:
        return SILENT, "accepted an input that had to be refused"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = case.expected()
    except Exception as err:  # noqa: BLE001
        return SILENT, f"returned a result where the reference refuses: {type(err).__name__}: {err}"
    compare = target.compare or same
    if compare(got, expected, case):
        return GOOD, "correct result"
    return SILENT, f"wrong result:\n got {got!r}\n expected {expected!r}"


# --------------------------------------------------------------------------- comparing results

def as_numpy(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().resolve_conj().numpy()
    return x


def _tolerance(*arrays: np.ndarray) -> float:
    kinds = {np.dtype(a.dtype) for a in arrays}
    if kinds & {np.dtype("float16")}:
        return 2e-3
    if kinds & {np.dtype("float32"), np.dtype("complex64")}:
        return 2e-6
    return 1e-10


def _parts_equal(g: np.ndarray, e: np.ndarray, rtol: float) -> bool:
    if not np.array_equal(np.isnan(g), np.isnan(e)):
        return False
    if not np.array_equal(np.isposinf(g), np.isposinf(e)) or not np.array_equal(np.isneginf(g), np.isneginf(e)):
        return False
    ok = np.isfinite(g) & np.isfinite(e)
    return bool(np.allclose(g[ok], e[ok], rtol=rtol, atol=rtol))


def same(got: Any, expected: Any, case: Case | None = None) -> bool:
    """Equal shapes; NaN and ±inf in the same places; finite values close (tolerance of the
    lowest precision involved)."""
    if isinstance(expected, (tuple, list)):
        return (isinstance(got, (tuple, list)) and len(got) == len(expected)
                and all(same(g, e, case) for g, e in zip(got, expected)))
    got, expected = np.asarray(as_numpy(got)), np.asarray(as_numpy(expected))
    if got.shape != expected.shape or got.dtype.kind not in "biufc":
        return False
    rtol = _tolerance(got, expected)
    if np.iscomplexobj(got) or np.iscomplexobj(expected):
        # Products of complex infinities differ between libraries (inf+nanj or nan+nanj): ask
        # only for non-finite values in the same places, and close finite ones.
        g, e = got.astype(np.complex128), expected.astype(np.complex128)
        ok = np.isfinite(g) & np.isfinite(e)
        return bool(np.array_equal(np.isfinite(g), np.isfinite(e)) and np.allclose(g[ok], e[ok], rtol=rtol, atol=rtol))
    return _parts_equal(got.astype(np.float64), expected.astype(np.float64), rtol)


# --------------------------------------------------------------------------- references

def _np(a: Any) -> Any:
    return None if a is None else np.asarray(as_numpy(a))


def _wide(a: np.ndarray, complex_: bool = False) -> torch.Tensor:
    """float64 (complex128 for complex) tensor: the references compute exactly in it."""
    a = _np(a)
    wide = np.complex128 if complex_ or np.iscomplexobj(a) else np.float64
    return torch.from_numpy(np.ascontiguousarray(a, dtype=wide))


def ref_conv1d(kind: str):
    def reference(a, b, mode="full"):
        return (np.correlate if kind == "correlate" else np.convolve)(_np(a), _np(b), mode)
    return reference


def ref_conv2d(kind: str):
    def reference(A, B, mode="full"):
        A, B = _np(A), _np(B)
        op = signal.correlate2d if kind == "correlate" else signal.convolve2d
        if np.result_type(A, B) == np.float16:  # scipy has no float16: compute in float32
            return op(A.astype(np.float32), B.astype(np.float32), mode).astype(np.float16)
        return op(A, B, mode)
    return reference


def ref_conv_matrix_1d(b, n, mode="full"):
    return linalg.convolution_matrix(_np(b), n, mode)


def ref_conv_matrix_2d(B, shape, mode="full"):
    """M[(r, c), (s, t)] = B[r - s, c - t] inside the kernel, else 0: the definition, entry by entry."""
    B = _np(B)
    H, W = (shape, shape) if isinstance(shape, int) else shape
    kh, kw = B.shape
    rows = signal.convolve2d(np.zeros((H, W)), np.zeros(B.shape), mode).shape
    r0 = {"full": 0, "same": (kh - 1) // 2, "valid": min(H, kh) - 1}[mode]
    c0 = {"full": 0, "same": (kw - 1) // 2, "valid": min(W, kw) - 1}[mode]
    M = np.zeros(rows + (H, W), dtype=B.dtype)
    for r, c, s, t in np.ndindex(*rows, H, W):
        i, j = r + r0 - s, c + c0 - t
        if 0 <= i < kh and 0 <= j < kw:
            M[r, c, s, t] = B[i, j]
    return M.reshape(rows[0] * rows[1], H * W)


def ref_layer(dims: int):
    def reference(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        op = F.conv2d if dims == 2 else F.conv1d
        c = any(np.iscomplexobj(_np(a)) for a in (x, weight, bias) if a is not None)
        bias = None if bias is None else _wide(bias, c)
        return op(_wide(x, c), _wide(weight, c), bias, stride, padding, dilation, groups).numpy()
    return reference


def ref_layer_backward(dims: int):
    """Our backward is the plain transpose (no conjugate): conj(autograd(conj(dout)))."""
    def reference(dout, x, weight, stride=1, padding=0, dilation=1, groups=1):
        op = F.conv2d if dims == 2 else F.conv1d
        c = any(np.iscomplexobj(_np(a)) for a in (dout, x, weight))
        x, weight = _wide(x, c).requires_grad_(), _wide(weight, c).requires_grad_()
        bias = torch.zeros(weight.shape[0], dtype=x.dtype, requires_grad=True)
        op(x, weight, bias, stride, padding, dilation, groups).backward(_wide(dout, c).conj())
        return tuple(g.conj().resolve_conj().numpy() for g in (x.grad, weight.grad, bias.grad))
    return reference


def ref_im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    return F.unfold(_wide(x), kernel_size, dilation, padding, stride).numpy()


def ref_col2im(cols, output_size, kernel_size, stride=1, padding=0, dilation=1):
    return F.fold(_wide(cols), output_size, kernel_size, dilation, padding, stride).numpy()


def ref_conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    return F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, kernel_size), None, stride, padding,
                    dilation).shape[-1]


POOL_OPS = {"max_pool2d": F.max_pool2d, "max_pool1d": F.max_pool1d, "avg_pool2d": F.avg_pool2d,
            "avg_pool1d": F.avg_pool1d}


def _pool_forward(name: str, x: torch.Tensor, kw: dict) -> torch.Tensor:
    if name == "lp_pool2d":
        if kw["p"] == math.inf:
            return F.max_pool2d(x.abs(), kw["kernel_size"], kw["stride"])
        return F.lp_pool2d(x, kw["p"], kw["kernel_size"], kw["stride"])
    settings_ = {k: v for k, v in kw.items() if k in ("kernel_size", "stride", "padding")}
    if "count_include_pad" in kw:
        settings_["count_include_pad"] = bool(kw["count_include_pad"])
    return POOL_OPS[name](x, **settings_)


def ref_pool(name: str):
    def reference(x, **kw):
        x = _np(x)
        if np.iscomplexobj(x):
            raise TypeError("pooling is for real numbers")
        out = _pool_forward(name, _wide(x), kw).numpy()
        keeps = name.startswith("max") and x.dtype.kind in "iu"
        return out.astype(x.dtype if keeps or x.dtype.kind == "f" else np.float64)
    return reference


def ref_pool_backward(name: str):
    def reference(dout, x, **kw):
        x_t = _wide(x).requires_grad_()
        if torch.is_complex(x_t) or np.iscomplexobj(_np(dout)):
            raise TypeError("pooling is for real numbers")
        if name == "lp_pool2d":  # torch's x.pow(p) puts 0 * NaN on cells no window reads: crop them
            k, s = kw["kernel_size"], kw["stride"] or kw["kernel_size"]
            h, w = ((n - k) // s * s + k for n in x_t.shape[-2:])
            _pool_forward(name, x_t[..., :h, :w], kw).backward(_wide(dout))
            if kw["p"] == math.inf:  # the gradient at a NaN is NaN (torch: sign(NaN) = 0)
                return np.where(np.isnan(_np(x)), np.nan, x_t.grad.numpy())
            # A window summing to NaN passes NaN to its cells (torch: relu'(NaN) = 0 hides it).
            x4 = x_t.detach().reshape((-1, 1) + tuple(x_t.shape[-2:]))
            bad = F.avg_pool2d(x4 ** kw["p"], k, s).isnan().double()
            spread = F.conv_transpose2d(bad, torch.ones(1, 1, k, k, dtype=bad.dtype), stride=s,
                                        output_padding=(x4.shape[-2] - ((bad.shape[-2] - 1) * s + k),
                                                        x4.shape[-1] - ((bad.shape[-1] - 1) * s + k)))
            return np.where(spread.reshape(x_t.shape).numpy() > 0, np.nan, x_t.grad.numpy())
        else:
            _pool_forward(name, x_t, kw).backward(_wide(dout))
        return x_t.grad.numpy()
    return reference


def ref_max_pool_channels(x, group_size):
    x = _np(x)
    if np.iscomplexobj(x):
        raise TypeError("max is for real numbers")
    t = _wide(x)
    n, c = t.shape[:2]
    rest = t.shape[2:]
    lines = t.movedim(1, -1).reshape(-1, 1, c)
    out = F.max_pool1d(lines, group_size).reshape(n, *rest, c // group_size).movedim(-1, 1)
    return out.numpy().astype(x.dtype)


# --------------------------------------------------------------------------- conv and gpu cases

MODES = (["full", "same", "valid"], ["Full", "circular", None, 1])


def _side_module(side: str):
    return gpu if side == "torch" else conv


@st.composite
def signal_cases(draw, dims: int, side: str, matrix: bool = False):
    broken = draw(st.sampled_from(["a", "b", "mode"]))
    shape = lambda: tuple(draw(st.integers(1, 5)) for _ in range(dims))  # noqa: E731
    huge = (60000,) if dims == 1 else (300, 300)
    names = ("a", "b") if dims == 1 else ("A", "B")
    first = draw(arrays(shape(), (dims,), side, broken == "a", huge if matrix else None))
    second = draw(arrays(shape(), (dims,), side, broken == "b"))
    return {names[0]: first, names[1]: second, "mode": draw(scalars(*MODES, mutate=broken == "mode"))}


@st.composite
def matrix_cases(draw, dims: int, side: str):
    broken = draw(st.sampled_from(["kernel", "n", "mode"]))
    shape = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    kernel = draw(arrays(shape, (dims,), side, broken == "kernel"))
    sizes = [draw(st.integers(1, 4)) for _ in range(dims)]
    valid = sizes[0] if dims == 1 else tuple(sizes)
    invalid = [0, -1, 2.5, True, "3", None] + ([10 ** 5] if dims == 1 else [(300, 300), (2, 2, 2)])
    n = draw(scalars([valid], invalid, mutate=broken == "n"))
    mode = draw(scalars(*MODES, mutate=broken == "mode"))
    return {"b" if dims == 1 else "B": kernel, "n" if dims == 1 else "shape": n, "mode": mode}


@st.composite
def layer_cases(draw, dims: int, side: str, backward: bool = False):
    broken = draw(st.sampled_from(["x", "weight", "dout" if backward else "bias", "stride", "padding",
                                   "dilation", "groups"]))
    groups = draw(st.sampled_from([1, 2]))
    n, c_g, o_g = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    spatial = tuple(k + draw(st.integers(0, 3)) for k in kernel)
    huge_x, huge_w = ((1, 1, 1000, 1000), (1, 1, 100, 100)) if dims == 2 else ((1, 1, 10 ** 7), (1, 1, 500))
    x = draw(arrays((n, c_g * groups, *spatial), (dims + 2,), side, broken == "x", huge_x))
    settings_ = {
        "stride": draw(scalars(*window_arg([1, 2]), mutate=broken == "stride")),
        "padding": draw(scalars([0, 1, "valid", "same"], [-1, "full", 1.5, True], mutate=broken == "padding")),
        "dilation": draw(scalars(*window_arg([1, 2]), mutate=broken == "dilation")),
        "groups": draw(scalars([groups], [0, 3, True, 1.0], mutate=broken == "groups")),
    }
    if settings_["padding"].value == "same" and settings_["stride"].value != 1:
        settings_["padding"] = fine(0)
    if x.kind == "huge":  # a modest input whose column matrix would be tens of GB
        weight_shape = huge_w
        w = np.ones(huge_w)
        weight = Arg(_as_torch(w) if side == "torch" else w, "fine", False, w)
        settings_ = {k: fine(1 if k != "padding" else 0) for k in settings_}
    else:
        weight_shape = (o_g * groups, c_g, *kernel)
        weight = draw(arrays(weight_shape, (dims + 2,), side, broken == "weight"))
    args = {"x": x, "weight": weight}
    if backward:  # dout shaped like the forward output (as torch computes it), then maybe mutated
        try:
            zeros = np.zeros((1,) * len(np.shape(x.reference)) if x.kind == "huge" else np.shape(x.reference))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch's note on padding="same" with even kernels
                out_shape = ref_layer(dims)(zeros, np.zeros(weight_shape), None,
                                            *(s.value for s in settings_.values())).shape
        except Exception:  # noqa: BLE001 - an invalid geometry: any dout will do
            out_shape = (1, 1) + (1,) * dims
        if x.kind == "huge":
            out_shape = (1, 1) + tuple(n - k + 1 for n, k in zip(huge_x[2:], huge_w[2:]))
            d = np.broadcast_to(np.float64(1.0), out_shape)
            dout = Arg(torch.ones(()).double().expand(out_shape) if side == "torch" else d, "fine", False, d)
        else:
            dout = draw(arrays(out_shape, (dims + 2,), side, broken == "dout"))
        args = {"dout": dout, **args}
    else:
        args["bias"] = draw(st.one_of(st.just(fine(None)), arrays((o_g * groups,), (1,), side, broken == "bias")))
    return {**args, **settings_}


def ref_transposed(dims: int):
    def reference(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        op = F.conv_transpose2d if dims == 2 else F.conv_transpose1d
        c = any(np.iscomplexobj(_np(a)) for a in (x, weight, bias) if a is not None)
        bias = None if bias is None else _wide(bias, c)
        return op(_wide(x, c), _wide(weight, c), bias, stride, padding, output_padding, groups,
                  dilation).numpy()
    return reference


def ref_transposed_backward(dims: int):
    """As for the layer: the plain transpose, conj(autograd(conj(dout)))."""
    def reference(dout, x, weight, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        op = F.conv_transpose2d if dims == 2 else F.conv_transpose1d
        c = any(np.iscomplexobj(_np(a)) for a in (dout, x, weight))
        x, weight = _wide(x, c).requires_grad_(), _wide(weight, c).requires_grad_()
        bias = torch.zeros(weight.shape[1] * groups, dtype=x.dtype, requires_grad=True)
        op(x, weight, bias, stride, padding, output_padding, groups, dilation).backward(_wide(dout, c).conj())
        return tuple(g.conj().resolve_conj().numpy() for g in (x.grad, weight.grad, bias.grad))
    return reference


@st.composite
def transposed_cases(draw, dims: int, side: str, backward: bool = False):
    broken = draw(st.sampled_from(["x", "weight", "dout" if backward else "bias", "stride", "padding",
                                   "output_padding", "dilation", "groups"]))
    groups = draw(st.sampled_from([1, 2]))
    n, c_g, o_g = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    spatial = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    x = draw(arrays((n, c_g * groups, *spatial), (dims + 2,), side, broken == "x"))
    weight = draw(arrays((c_g * groups, o_g, *kernel), (dims + 2,), side, broken == "weight"))
    stride = draw(scalars(*window_arg([1, 2]), mutate=broken == "stride"))
    settings_ = {
        "stride": stride,
        "padding": draw(scalars([0, 1], [-1, "same", 1.5, True], mutate=broken == "padding")),
        # output_padding must stay below max(stride, dilation): 5 never is
        "output_padding": draw(scalars([0], [-1, 5, 1.5, True, "1"], mutate=broken == "output_padding")),
        "groups": draw(scalars([groups], [0, 3, True, 1.0], mutate=broken == "groups")),
        "dilation": draw(scalars(*window_arg([1, 2]), mutate=broken == "dilation")),
    }
    args = {"x": x, "weight": weight}
    if backward:
        try:
            out_shape = ref_transposed(dims)(np.zeros(np.shape(x.reference)), np.zeros(np.shape(weight.reference)),
                                             None, *(s.value for s in settings_.values())).shape
        except Exception:  # noqa: BLE001 - an invalid geometry: any dout will do
            out_shape = (1, 1) + (1,) * dims
        args = {"dout": draw(arrays(out_shape, (dims + 2,), side, broken == "dout")), **args}
    else:
        args["bias"] = draw(st.one_of(st.just(fine(None)),
                                      arrays((o_g * groups,), (1,), side, broken == "bias")))
    return {**args, **settings_}


@st.composite
def unfold_cases(draw, side: str, fold: bool):
    broken = draw(st.sampled_from(["x", "kernel_size", "stride", "padding", "dilation"]
                                  + (["output_size"] if fold else [])))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    hw = (k[0] + draw(st.integers(0, 3)), k[1] + draw(st.integers(0, 3)))
    c, n = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    settings_ = {"kernel_size": draw(scalars(*window_arg([k]), mutate=broken == "kernel_size")),
                 "stride": draw(scalars(*window_arg([1, 2]), mutate=broken == "stride")),
                 "padding": draw(scalars([0, 1], [-1, 1.5, True, "same"], mutate=broken == "padding")),
                 "dilation": draw(scalars(*window_arg([1]), mutate=broken == "dilation"))}
    if not fold:
        x = draw(arrays((n, c, *hw), (4,), side, broken == "x", (1, 1, 1000, 1000)))
        if x.kind == "huge":
            settings_["kernel_size"] = fine(100)
        return {"x": x, **settings_}
    if draw(st.booleans()) and broken == "output_size":  # huge: a 10**5 x 10**5 image
        cols = np.ones((1, 1, 1))
        return {"cols": fine(_as_torch(cols) if side == "torch" else cols),
                "output_size": Arg((10 ** 5, 10 ** 5), "huge", True), "kernel_size": fine(1),
                "stride": fine(10 ** 5)}
    try:
        L = ref_im2col(np.zeros((1, 1, *hw)), *(s.value for s in settings_.values())).shape[-1]
    except Exception:  # noqa: BLE001
        L = 1
    cols = draw(arrays((n, c * k[0] * k[1], L), (3,), side, broken == "x"))
    size_ = draw(scalars([hw], [0, (hw[0],), -2, "3", True], mutate=broken == "output_size"))
    return {"cols": cols, "output_size": size_, **settings_}


@st.composite
def output_size_cases(draw):
    ints = lambda low: ([low + 1, low + 3], [low - 1, 2.5, True, "3", None])  # noqa: E731
    return {"n": draw(scalars(*ints(1))), "kernel_size": draw(scalars(*ints(1))),
            "stride": draw(scalars(*ints(1))), "padding": draw(scalars(*ints(0))),
            "dilation": draw(scalars(*ints(1)))}


# --------------------------------------------------------------------------- pool cases

@st.composite
def pool_cases(draw, name: str, side: str, backward: bool = False):
    spatial = 1 if name.endswith("1d") else 2
    broken = draw(st.sampled_from(["x", "kernel_size", "stride"] + (["dout"] if backward else [])
                                  + (["p"] if name.startswith("lp") else ["padding"])
                                  + (["count_include_pad"] if name.startswith("avg") else [])))
    k = draw(st.integers(1, 3))
    size_ = tuple(k + draw(st.integers(0, 3)) for _ in range(spatial))
    lead = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))[: draw(st.integers(1, 2))]
    ranks = (spatial + 1, spatial + 2)
    huge = (1, 1, 1000, 1000) if spatial == 2 else (1, 1, 10 ** 8)
    x = draw(arrays((*lead, *size_), ranks, side, broken == "x", huge if backward else None))
    kw = {"kernel_size": draw(scalars(*window_arg([k]), mutate=broken == "kernel_size")),
          "stride": draw(scalars(*window_arg([None, 1, k]), mutate=broken == "stride"))}
    if x.kind == "huge":  # 941 x 941 windows of 60 x 60: 3.2e9 values to hand back
        kw = {"kernel_size": fine(60), "stride": fine(1)}
    if name.startswith("lp"):
        kw["p"] = draw(scalars([1, 2, 3, 2.5, math.inf], [0, -1, math.nan, True, "2"], mutate=broken == "p"))
        args = {"x": x}
    else:
        kw["padding"] = draw(scalars([0, k // 2], [-1, k + 1, 1.5, True], mutate=broken == "padding"))
        if name.startswith("avg"):
            kw["count_include_pad"] = draw(scalars(*BOOLS, mutate=broken == "count_include_pad"))
    if isinstance(x.reference, np.ndarray) and np.iscomplexobj(x.reference):
        x = Arg(x.value, x.kind, True, x.ref)
    args = {"x": x}
    if backward:
        try:
            out_shape = (1, 1) if x.kind == "huge" else ref_pool(name)(
                np.zeros(x.reference.shape), **{a: v.value for a, v in kw.items()}).shape
        except Exception:  # noqa: BLE001
            out_shape = (1, 1)
        if x.kind == "huge":
            out_shape = (1, 1, 941, 941) if spatial == 2 else (1, 1, 10 ** 8 - 59)
            dout = np.broadcast_to(np.float64(1.0), out_shape)
            value = torch.ones(()).double().expand(out_shape) if side == "torch" else dout
            args = {"dout": Arg(value, "fine", False, dout)}
        else:
            dout = draw(arrays(out_shape, (len(out_shape),), side, broken == "dout"))
            if isinstance(dout.reference, np.ndarray) and np.iscomplexobj(dout.reference):
                dout = Arg(dout.value, dout.kind, True, dout.ref)  # gradients of real pooling are real
            args = {"dout": dout}
        args["x"] = x
    return {**args, **kw}


@st.composite
def channel_pool_cases(draw, side: str):
    broken = draw(st.sampled_from(["x", "group_size"]))
    g, groups = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    x = draw(arrays((draw(st.integers(1, 2)), g * groups, draw(st.integers(1, 3))), (2, 3, 4, 5), side,
                    broken == "x"))
    if isinstance(x.reference, np.ndarray) and np.iscomplexobj(x.reference):
        x = Arg(x.value, x.kind, True, x.ref)
    return {"x": x, "group_size": draw(scalars([g], [0, -1, 2.5, True, "2", g * groups + 1],
                                                mutate=broken == "group_size"))}


# --------------------------------------------------------------------------- size cases

def _torch_pool_shape(kernel_size, stride, padding, dilation, mode, ceil_mode, shape):
    layer = (nn.MaxPool2d(kernel_size, stride, padding, dilation, ceil_mode=ceil_mode) if mode == "max"
             else nn.AvgPool2d(kernel_size, stride, padding, ceil_mode=ceil_mode))
    return tuple(layer(torch.zeros(1, *shape)).shape[1:])


INPUT = (3, 8, 8)


def size_conv(**kw):
    return size.account([size.conv(**kw)], INPUT).rows[0]


def ref_size_conv(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                  bias=True):
    layer = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                      bias=bias in (True, "tied"))
    out = tuple(layer(torch.zeros(1, *INPUT)).shape[1:])
    return out, layer.weight.numel(), 0 if layer.bias is None else layer.bias.numel()


def size_pool(**kw):
    return size.account([size.pool(**kw)], INPUT).rows[0]


def ref_size_pool(kernel_size, stride=None, padding=0, dilation=1, mode="max", trainable=False,
                  ceil_mode=False):
    if not isinstance(trainable, (bool, np.bool_)) or not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError("not a bool")
    out = _torch_pool_shape(kernel_size, stride, padding, dilation, mode, bool(ceil_mode), INPUT)
    return out, INPUT[0] if trainable else 0, INPUT[0] if trainable else 0


def size_fc(**kw):
    return size.account([size.fc(**kw)], (kw.get("in_features"),)).rows[0]


def ref_size_fc(in_features, out_features, bias=True):
    layer = nn.Linear(in_features, out_features, bias=bool(bias))
    return (out_features,), layer.weight.numel(), 0 if layer.bias is None else layer.bias.numel()


def compare_row(got, expected, case) -> bool:
    return (tuple(got.output_shape), got.weights, got.biases) == expected


@st.composite
def size_conv_cases(draw):
    broken = draw(st.sampled_from(["in_channels", "out_channels", "kernel_size", "stride", "padding",
                                   "dilation", "groups", "bias"]))
    ints = lambda valid, low=1: scalars(valid, [low - 1, 2.5, True, "3", None])  # noqa: E731
    args = {"in_channels": fine(INPUT[0]),
            "out_channels": draw(scalars([2, 4], [0, 2.5, True, "3"], mutate=broken == "out_channels")),
            "kernel_size": draw(ints([1, 3])) if broken == "kernel_size" else fine(3),
            "stride": draw(ints([1, 2])) if broken == "stride" else fine(1),
            "padding": draw(scalars([0, 1, "same", "valid"], [-1, "full", 1.5, True])) if broken == "padding" else fine(0),
            "dilation": draw(ints([1, 2])) if broken == "dilation" else fine(1),
            "groups": draw(scalars([1, 3], [0, 2, True, 1.0])) if broken == "groups" else fine(1),
            "bias": draw(scalars([True, False, "tied", "none"], ["no", "yes", 1, "False"], mutate=broken == "bias"))}
    if broken == "in_channels":
        args["in_channels"] = draw(scalars([3], [0, -3, 3.0, True, "3"]))
    return args


@st.composite
def size_pool_cases(draw):
    broken = draw(st.sampled_from(["kernel_size", "stride", "padding", "trainable", "ceil_mode", "mode"]))
    return {"kernel_size": draw(scalars(*window_arg([2, 3]), mutate=broken == "kernel_size")),
            "stride": draw(scalars([None, 1, 2], [0, -1, 2.5, True, "2"], mutate=broken == "stride")),
            "padding": draw(scalars([0, 1], [-1, 1.5, True, 5], mutate=broken == "padding")),
            "mode": draw(scalars(["max", "avg"], ["min", None, 1], mutate=broken == "mode")),
            "trainable": draw(scalars(*BOOLS, mutate=broken == "trainable")),
            "ceil_mode": draw(scalars(*BOOLS, mutate=broken == "ceil_mode"))}


@st.composite
def size_fc_cases(draw):
    broken = draw(st.sampled_from(["in_features", "out_features", "bias"]))
    return {"in_features": draw(scalars([4, 10], [0, 2.5, True, "4"], mutate=broken == "in_features")),
            "out_features": draw(scalars([1, 3], [0, -1, True, "3"], mutate=broken == "out_features")),
            "bias": draw(scalars(*BOOLS, mutate=broken == "bias"))}


TABLE = size.account([size.fc(4, 3)], (4,))


def ref_memory(table, batch_size=1, dtype="float32"):
    if isinstance(dtype, int) and not isinstance(dtype, bool):
        item = dtype
    elif isinstance(dtype, torch.dtype):
        item = dtype.itemsize
    elif dtype is None or np.dtype(dtype).kind not in "biufc":
        raise TypeError("not a numeric dtype")
    else:
        item = np.dtype(dtype).itemsize
    return ((table.input_units + table.total("units")) * batch_size * item, table.total("params") * item)


def compare_memory(got, expected, case) -> bool:
    return (got.activations, got.parameters) == expected


@st.composite
def memory_cases(draw):
    broken = draw(st.sampled_from(["table", "batch_size", "dtype"]))
    return {"table": draw(scalars([TABLE], [None, "table", [TABLE]], mutate=broken == "table")),
            "batch_size": draw(scalars([1, 64, 10 ** 12], [0, -1, 2.5, True, "64"], mutate=broken == "batch_size")),
            "dtype": draw(scalars(["float32", np.float16, torch.float64, np.dtype("int8"), 4, torch.bool],
                                  [str, "abc", None, object, np.void, bytes, 0, -2, True],
                                  mutate=broken == "dtype"))}


@st.composite
def account_cases(draw):
    broken = draw(st.sampled_from(["layers", "input_shape"]))
    layers = draw(scalars([[size.conv(1, 2, 3), size.pool(2), size.flatten(), size.fc(18, 3)]],
                          [None, "conv", [1, 2], size.conv(1, 2, 3), [nn.Conv2d(1, 2, 3)]],
                          mutate=broken == "layers"))
    shape = draw(scalars([(1, 8, 8)], [(1, 8), "abc", (1, 0, 8), (1, 8.5, 8), (True, 8, 8), None, (2, 8, 8)],
                         mutate=broken == "input_shape"))
    return {"layers": layers, "input_shape": shape}


def ref_account(layers, input_shape):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(18, 3))
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- gradcheck cases

def _square_sum(x: np.ndarray) -> float:
    return float(np.sum(np.asarray(x, dtype=np.float64) ** 2))


def ref_numerical_gradient(f, x, dout=None, h=1e-5):
    x = _np(x)
    if not isinstance(h, float) or not math.isfinite(h) or h <= 0 or x.dtype.kind != "f":
        raise ValueError("not a valid step or x")
    return 2 * x.astype(np.float64)


def compare_numerical(got, expected, case) -> bool:
    dtype = np.asarray(case.args["x"].reference).dtype
    rtol = {np.dtype("float16"): 5e-2, np.dtype("float32"): 1e-3}.get(dtype, 1e-6)
    got = np.asarray(got)
    return got.shape == expected.shape and bool(np.allclose(got, expected, rtol=rtol, atol=rtol * 8))


def ref_check_gradient(f, x, analytic_grad, dout=None, h=1e-5, rtol=1e-6):
    x = _np(x)
    right = np.allclose(np.asarray(analytic_grad, dtype=np.float64), 2 * x.astype(np.float64), atol=1e-12)
    return right, x.dtype == np.float64


def compare_check(got, expected, case) -> bool:
    right, exact = expected
    return bool(got.passed) == right if exact else (not got.passed or right)


@st.composite
def gradcheck_cases(draw, with_analytic: bool):
    broken = draw(st.sampled_from(["x", "h", "analytic_grad"] if with_analytic else ["x", "h"]))
    shape = draw(st.sampled_from([(3,), (2, 2)]))
    x = draw(arrays(shape, (1, 2, 3, 7), "numpy", broken == "x", (10 ** 7,)))
    h = draw(scalars([1e-5, 1e-4, 1e-3], [0, -1e-5, math.nan, math.inf, True, "1e-5", None, 1e-20, 1e-300],
                     mutate=broken == "h"))
    if h.value in (1e-20, 1e-300):   # a valid number, but too small to move x: judged on the result
        h = Arg(h.value, "tiny", False)
    if x.kind == "rank":      # any rank can be nudged, a 0-D array too
        x = Arg(x.value, x.kind, False, x.ref)
    elif x.kind in ("dtype", "view", "extreme") and x.reference.dtype.kind != "f" or x.kind in ("list", "nonfinite"):
        x = Arg(x.value, x.kind, True, x.ref)   # integers, complex, lists and NaN/inf: no gradient to check
    args = {"x": x, "h": h}
    if with_analytic:
        base = x.reference if isinstance(x.reference, np.ndarray) and x.reference.dtype.kind in "biuf" else np.ones(shape)
        right = 2 * base.astype(np.float64)
        grad = draw(scalars([right, np.zeros(shape), right + 1], [np.zeros(5), "abc", None], mutate=broken == "analytic_grad"))
        args["analytic_grad"] = grad
    return args


# --------------------------------------------------------------------------- train cases

def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 4))


def fit_quietly(model, train_data, **kw):
    return train.fit(model, train_data, progress=False, device="cpu", **kw)


def ref_fit(model, train_data, **kw):
    return kw.get("epochs", 10)


def compare_fit(history, epochs, case) -> bool:
    model = case.extra["model"]
    finite = all(math.isfinite(v) for v in history.train_loss)
    weights = all(bool(torch.isfinite(p).all()) for p in model.parameters())
    return len(history) == epochs and finite and weights


def evaluate_quietly(model, data, batch_size=1000):
    return train.evaluate(model, data, batch_size=batch_size, device="cpu")


def ref_evaluate(model, data, batch_size=1000):
    x, y = data
    with torch.no_grad():
        logits = model(torch.as_tensor(x).float())
    y = torch.as_tensor(y).long()
    return {"loss": float(F.cross_entropy(logits, y)), "accuracy": float((logits.argmax(1) == y).float().mean())}


def compare_evaluate(got, expected, case) -> bool:
    return all(math.isclose(got[k], v, rel_tol=1e-4, abs_tol=1e-6) for k, v in expected.items())


@st.composite
def data_cases(draw, name: str, mutate: bool = True):
    """(x, y) training data in the forms students pass it, each of its parts possibly mutated."""
    broken = draw(st.sampled_from(["x", "y", "form"])) if mutate else None
    x = draw(arrays((8, 3, 2, 2), (2, 3, 4, 5), "torch", broken == "x", dtype="float32"))
    not_float = isinstance(x.reference, np.ndarray) and x.reference.dtype.kind != "f"
    if x.kind == "nonfinite" or (x.kind in ("dtype", "view", "extreme") and not_float):
        x = Arg(x.value, x.kind, True, x.ref)   # NaN/inf, integer or complex images must be refused
    labels = np.array(draw(st.lists(st.integers(0, 3), min_size=8, max_size=8)))
    y = fine(torch.from_numpy(labels))
    if broken == "y":
        bad = draw(st.sampled_from(["float", "minus one", "too large", "short", "bool", "int8"]))
        value = {"float": labels.astype(np.float32), "minus one": np.r_[labels[:-1], -1],
                 "too large": np.r_[labels[:-1], 4], "short": labels[:5], "bool": labels > 1,
                 "int8": labels.astype(np.int8)}[bad]
        y = Arg(torch.from_numpy(value), bad, bad != "int8", value)
    form = draw(st.sampled_from(["pair", "pair", "list of batches", "numpy pair", "generator", "tensor"])) \
        if broken == "form" else "pair"
    data = (x.value, y.value)
    if form == "list of batches" and isinstance(x.value, torch.Tensor):
        data = [(x.value[:4], y.value[:4]), (x.value[4:], y.value[4:])]
    elif form == "numpy pair":
        data = (as_numpy(x.value), as_numpy(y.value))
    elif form == "generator":
        data = ((x.value[i:i + 4], y.value[i:i + 4]) for i in (0, 4))
    elif form == "tensor":
        data = x.value
    refuse = x.refuse or y.refuse or form in ("numpy pair", "generator", "tensor") and name == "fit" \
        or form in ("numpy pair", "tensor") and name == "evaluate"
    return Arg(data, form, refuse, (x.reference, y.reference))


@st.composite
def fit_cases(draw):
    broken = draw(st.sampled_from(["train_data", "lr", "momentum", "weight_decay", "batch_size", "epochs"]))
    data = draw(data_cases("fit", mutate=broken == "train_data"))
    return {"train_data": data,
            "lr": draw(scalars([0.01, 0.1], [0, -0.1, math.inf, math.nan, True, "0.1", None], mutate=broken == "lr")),
            "momentum": draw(scalars([0.0, 0.9], [math.nan, math.inf, -0.5, True, "0.9"], mutate=broken == "momentum")),
            "weight_decay": draw(scalars([0.0, 5e-4], [math.nan, math.inf, -1.0, True], mutate=broken == "weight_decay")),
            "batch_size": draw(scalars([3, 8, 100], [0, -1, 2.5, True], mutate=broken == "batch_size")),
            "epochs": draw(scalars([1, 2], [0, True, 1.5], mutate=broken == "epochs"))}


@st.composite
def evaluate_cases(draw):
    broken = draw(st.sampled_from(["data", "batch_size"]))
    data = draw(data_cases("evaluate", mutate=broken == "data"))
    return {"data": data, "batch_size": draw(scalars([3, 1000], [0, -2, 1.5, True, "10"], mutate=broken == "batch_size"))}


CHECKPOINT_KINDS = ("checkpoint", "state dict", "other model", "tensor", "dict", "garbage", "missing")


_FILES = tempfile.TemporaryDirectory(prefix="bad-input-")


def load_file(kind: str, model: nn.Module) -> Path:
    path = Path(_FILES.name) / f"{kind.replace(' ', '-')}-{len(list(Path(_FILES.name).iterdir()))}.pt"
    if kind == "checkpoint":
        train.save_checkpoint(path, model, epoch=3)
    elif kind == "state dict":
        torch.save(model.state_dict(), path)
    elif kind == "other model":
        torch.save(nn.Linear(3, 2).state_dict(), path)
    elif kind == "tensor":
        torch.save(torch.zeros(3), path)
    elif kind == "dict":
        torch.save({"weights": model.state_dict()}, path)
    elif kind == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    return path


def load_quietly(path, model):
    return train.load_checkpoint(path, model)


def ref_load(path, model):
    return None


def compare_load(got, expected, case) -> bool:
    saved = case.context["saved"]
    return all(torch.equal(p, saved[k]) for k, p in case.context["model"].state_dict().items())


@st.composite
def load_cases(draw):
    kind = draw(st.sampled_from(CHECKPOINT_KINDS))
    return {"path": Arg(kind, kind, kind not in ("checkpoint", "state dict"))}


# --------------------------------------------------------------------------- the targets

def _targets() -> list[Target]:
    out: list[Target] = []
    for side in ("numpy", "torch"):
        mod = _side_module(side)
        pmod = gpu if side == "torch" else pool
        tag = "gpu." if side == "torch" else ""
        for name, kind in (("conv1d_translate_scale", "convolve"), ("conv1d_flip_filter", "convolve"),
                           ("conv1d_matrix", "convolve"), ("correlate1d", "correlate")):
            out.append(Target(tag + name, getattr(mod, name), ref_conv1d(kind),
                              lambda s=side, n=name: signal_cases(1, s, matrix="matrix" in n)))
        for name, kind in (("conv2d_translate_scale", "convolve"), ("conv2d_flip_filter", "convolve"),
                           ("conv2d_matrix", "convolve"), ("correlate2d", "correlate")):
            out.append(Target(tag + name, getattr(mod, name), ref_conv2d(kind),
                              lambda s=side, n=name: signal_cases(2, s, matrix="matrix" in n)))
        out.append(Target(tag + "conv_matrix_1d", mod.conv_matrix_1d, ref_conv_matrix_1d, lambda s=side: matrix_cases(1, s)))
        out.append(Target(tag + "conv_matrix_2d", mod.conv_matrix_2d, ref_conv_matrix_2d, lambda s=side: matrix_cases(2, s)))
        for dims in (2, 1):
            out.append(Target(f"{tag}conv{dims}d_layer", getattr(mod, f"conv{dims}d_layer"), ref_layer(dims),
                              lambda s=side, d=dims: layer_cases(d, s)))
            out.append(Target(f"{tag}conv{dims}d_layer_backward", getattr(mod, f"conv{dims}d_layer_backward"),
                              ref_layer_backward(dims), lambda s=side, d=dims: layer_cases(d, s, backward=True)))
        for dims in (2, 1):
            out.append(Target(f"{tag}conv_transpose{dims}d", getattr(mod, f"conv_transpose{dims}d"),
                              ref_transposed(dims), lambda s=side, d=dims: transposed_cases(d, s)))
            out.append(Target(f"{tag}conv_transpose{dims}d_backward", getattr(mod, f"conv_transpose{dims}d_backward"),
                              ref_transposed_backward(dims), lambda s=side, d=dims: transposed_cases(d, s, backward=True)))
        out.append(Target(tag + "im2col", mod.im2col, ref_im2col, lambda s=side: unfold_cases(s, fold=False)))
        out.append(Target(tag + "col2im", mod.col2im, ref_col2im, lambda s=side: unfold_cases(s, fold=True)))
        for name in ("max_pool2d", "max_pool1d", "avg_pool2d", "avg_pool1d", "lp_pool2d"):
            out.append(Target(tag + name, getattr(pmod, name), ref_pool(name), lambda s=side, n=name: pool_cases(n, s)))
            out.append(Target(f"{tag}{name}_backward", getattr(pmod, f"{name}_backward"), ref_pool_backward(name),
                              lambda s=side, n=name: pool_cases(n, s, backward=True)))
        out.append(Target(tag + "max_pool_channels", pmod.max_pool_channels, ref_max_pool_channels,
                          lambda s=side: channel_pool_cases(s)))
    out.append(Target("conv_output_size", conv.conv_output_size, ref_conv_output_size, output_size_cases))
    for target in out:  # messages name the function without the "gpu." prefix
        target.names = (target.name.removeprefix("gpu."),)
    out += [
        Target("conv", size_conv, ref_size_conv, size_conv_cases, compare_row, ("account",)),
        Target("pool", size_pool, ref_size_pool, size_pool_cases, compare_row, ("account",)),
        Target("fc", size_fc, ref_size_fc, size_fc_cases, compare_row, ("account",)),
        Target("memory", size.memory, ref_memory, memory_cases, compare_memory),
        Target("account", size.account, ref_account, account_cases, lambda g, e, c: g.total("params") == e),
        Target("numerical_gradient", gradcheck.numerical_gradient, ref_numerical_gradient,
               lambda: gradcheck_cases(False), compare_numerical),
        Target("check_gradient", gradcheck.check_gradient, ref_check_gradient,
               lambda: gradcheck_cases(True), compare_check),
        Target("fit", fit_quietly, ref_fit, fit_cases, compare_fit),
        Target("evaluate", evaluate_quietly, ref_evaluate, evaluate_cases, compare_evaluate),
        Target("load_checkpoint", load_quietly, ref_load, load_cases, compare_load),
    ]
    for target in out:
        if target.func in (fit_quietly, evaluate_quietly, load_quietly):
            target.params = set(inspect.signature(getattr(train, target.name)).parameters)
        if target.name in ("conv", "pool", "fc"):
            target.params = set(inspect.signature(getattr(size, target.name)).parameters) | {"layers"}
    return out


TARGETS = {t.name: t for t in _targets()}


def build(target: Target, args: dict[str, Arg]) -> Case:
    """A Case; the train targets get a fresh model (and a file for load_checkpoint)."""
    if target.name in ("fit", "evaluate"):
        return Case(target, args, {"model": _model()})
    if target.name == "load_checkpoint":
        model, source = _model(), _model()
        with torch.no_grad():
            for p in source.parameters():
                p.add_(1.0)
        kind = args["path"].value
        path = load_file(kind, source)
        return Case(target, {"path": Arg(path, kind, args["path"].refuse)}, {"model": model},
                    {"model": model, "saved": source.state_dict()})
    if target.name in ("numerical_gradient", "check_gradient"):
        return Case(target, args, {"f": _square_sum})
    return Case(target, args)


def draw_case(target: Target):
    return target.cases().map(lambda args: build(target, args))


# --------------------------------------------------------------------------- the tests

SLOW = {"fit", "evaluate", "load_checkpoint"}


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_clear_error_or_correct_result(name):
    target = TARGETS[name]
    examples = 12 if name in SLOW else EXAMPLES

    @settings(SETTINGS, max_examples=examples)
    @given(case=draw_case(target))
    def check(case):
        verdict, why = judge(case)
        assert verdict == GOOD, f"{verdict}: {case.describe()}\n{why}"

    check()


def survey(examples: int = EXAMPLES) -> dict[str, dict[str, list[str]]]:
    """Run every target's generator without asserting; {target: {verdict: [descriptions]}}."""
    found: dict[str, dict[str, list[str]]] = {}
    for name, target in sorted(TARGETS.items()):
        verdicts: dict[str, list[str]] = {GOOD: [], OBSCURE: [], SILENT: []}

        @settings(SETTINGS, max_examples=12 if name in SLOW else examples)
        @given(case=draw_case(target))
        def record(case):
            verdict, why = judge(case)
            verdicts[verdict].append(f"{case.describe()}: {why.splitlines()[0][:200]}")

        record()
        found[name] = verdicts
    return found
