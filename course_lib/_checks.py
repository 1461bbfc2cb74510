"""Argument checks shared by the NumPy (conv, pool) and torch (gpu) sides.

Every public function validates its arguments with these helpers, so a student who passes
the wrong thing gets the same kind, specific message everywhere: which function, which
argument, what was expected, what was got. The helpers work on NumPy arrays and on torch
tensors alike (they only look at ``.ndim``, ``.shape`` and ``.dtype``).

Besides shapes and types: finite numbers (a learning rate of NaN or ``True`` is refused), finite
data, sizes (an array the computation would build past :data:`MAX_ELEMENTS` values or
:data:`MAX_BYTES` is refused up front, naming the argument), the dtypes sums are taken in
(:func:`sum_dtype`: int64 for integers, float32 for float16), and training data for ``train``.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import numpy as np

MODES = ("full", "valid", "same")


def _describe(x: Any) -> str:
    shape = getattr(x, "shape", None)
    if shape is not None:
        return f"{type(x).__name__} with shape {tuple(shape)} and dtype {getattr(x, 'dtype', '?')}"
    return f"{type(x).__name__} {x!r}"


def _is_numeric_dtype(dtype: Any) -> bool:
    """True for integer, float and complex dtypes of NumPy or torch; False for bool, str, object."""
    try:  # torch dtypes
        import torch

        if isinstance(dtype, torch.dtype):
            return dtype != torch.bool
    except ImportError:  # pragma: no cover - torch is a dependency, but conv needs only NumPy
        pass
    return np.issubdtype(dtype, np.number)


def check_array(x: Any, name: str, func: str, ndim: int | Sequence[int] | None = None,
                what: str = "array") -> None:
    """Check that ``x`` is a non-empty numeric array (or tensor) with the expected rank.

    ``ndim`` is an int or a tuple of allowed ranks; ``what`` describes the layout for the
    message (for example ``"(N, C, H, W) batch"``).
    """
    if not hasattr(x, "ndim") or not hasattr(x, "dtype"):
        raise TypeError(f"{func}: argument '{name}' must be an array, got {_describe(x)}.")
    if not _is_numeric_dtype(x.dtype):
        raise TypeError(f"{func}: argument '{name}' must hold numbers (int or float), "
                        f"got dtype {x.dtype}. Convert it first, e.g. with .astype(float).")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{func}: argument '{name}' must be a {want} {what}, "
                             f"got a {x.ndim}-D array with shape {tuple(x.shape)}.")
    if any(s == 0 for s in x.shape):
        raise ValueError(f"{func}: argument '{name}' must not be empty, "
                         f"got shape {tuple(x.shape)}.")


def to_numeric_array(x: Any, name: str, func: str, ndim: int | Sequence[int] | None = None,
                     what: str = "array") -> np.ndarray:
    """``np.asarray(x)`` followed by :func:`check_array`; lists and tuples are welcome."""
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{func}: argument '{name}' must be an array of numbers, got {_describe(x)}.")
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as err:  # ragged lists and the like
        raise TypeError(f"{func}: argument '{name}' could not be read as an array ({err}).") from None
    check_array(arr, name, func, ndim, what)
    return arr


def check_mode(mode: Any, func: str) -> str:
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"{func}: argument 'mode' must be one of {', '.join(map(repr, MODES))}, "
                         f"got {mode!r}.")
    return mode


def check_int(value: Any, name: str, func: str, minimum: int) -> int:
    """A plain int that is at least ``minimum`` (bools are refused: ``True`` is not a stride)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{func}: argument '{name}' must be an int, got {_describe(value)}.")
    value = int(value)
    if value < minimum:
        bound = "positive" if minimum == 1 else ("non-negative" if minimum == 0 else f">= {minimum}")
        raise ValueError(f"{func}: argument '{name}' must be {bound}, got {value}.")
    return value


def check_tuple(value: Any, name: str, func: str, n: int, minimum: int) -> tuple[int, ...]:
    """Accept an int or a length-``n`` sequence of ints (torch's convention); return a tuple."""
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ValueError(f"{func}: argument '{name}' must be an int or a sequence of {n} ints, "
                             f"got {value!r} (length {len(value)}).")
        return tuple(check_int(v, name, func, minimum) for v in value)
    return (check_int(value, name, func, minimum),) * n


def result_dtype(*arrays: np.ndarray) -> np.dtype:
    """The dtype NumPy's own convolution would return: ints stay exact, floats keep their width."""
    return np.result_type(*arrays)


def exact_dtype(dtype: Any) -> Any:
    """What a layer returns (NumPy or torch dtype): int64 for integers, so that sums are exact
    (uint8 wraps at 256 otherwise; NumPy's uint64 stays uint64, as int64 would wrap it); floats
    and complex as they are."""
    if not isinstance(dtype, np.dtype) and not isinstance(dtype, type):  # a torch dtype
        import torch

        return dtype if dtype.is_floating_point or dtype.is_complex else torch.int64
    dtype = np.dtype(dtype)
    return np.dtype(np.int64) if dtype.kind in "iub" and dtype != np.uint64 else dtype


def sum_dtype(dtype: Any) -> Any:
    """What to add up in: :func:`exact_dtype`, but float32 for float16 and bfloat16, whose sums
    overflow (float16 at 65504, four values of 30000), as torch does."""
    dtype = exact_dtype(dtype)
    if isinstance(dtype, np.dtype):
        return np.dtype(np.float32) if dtype == np.float16 else dtype
    import torch

    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def check_real(x: Any, name: str, func: str) -> None:
    """Real numbers only (pooling compares and averages them): complex arrays or tensors refused."""
    if "complex" in str(x.dtype):
        raise TypeError(f"{func}: argument '{name}' must hold real numbers, got dtype {x.dtype}: "
                        f"a maximum of complex numbers is not defined. Pool x.real and x.imag.")


def check_shape(x: Any, expected: Sequence[int], name: str, func: str, why: str = "") -> None:
    """Check that ``x`` has exactly the shape ``expected``; ``why`` says where that shape comes from."""
    if tuple(x.shape) != tuple(expected):
        because = f" ({why})" if why else ""
        raise ValueError(f"{func}: argument '{name}' must have shape {tuple(expected)}{because}, "
                         f"got shape {tuple(x.shape)}.")


def check_finite_number(value: Any, name: str, func: str, minimum: float = 0.0,
                        strict: bool = False) -> float:
    """A finite real number ``>= minimum`` (``> minimum`` when ``strict``): a hyperparameter such as
    a learning rate. Bools, strings, NaN and inf are refused: ``lr=True`` is not a number."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{func}: argument '{name}' must be a number, got {_describe(value)}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{func}: argument '{name}' must be a finite number, got {value}.")
    if value < minimum or (strict and value == minimum):
        bound = f"greater than {minimum:g}" if strict else f"at least {minimum:g}"
        if minimum == 0:
            bound = "positive" if strict else "non-negative"
        raise ValueError(f"{func}: argument '{name}' must be {bound}, got {value:g}.")
    return value


# One array the code would make may hold at most this many values and bytes: beyond, the call is
# refused up front, naming the argument, instead of running out of memory half-way.
MAX_ELEMENTS = 2 ** 31
MAX_BYTES = 2 ** 33


def check_size(count: int, itemsize: int, name: str, func: str, what: str, hint: str = "") -> None:
    """Refuse a call whose ``what`` (an array the computation must build) would hold ``count``
    values of ``itemsize`` bytes, past :data:`MAX_ELEMENTS` or :data:`MAX_BYTES`."""
    count, nbytes = int(count), int(count) * int(itemsize)
    if count > MAX_ELEMENTS or nbytes > MAX_BYTES:
        raise ValueError(f"{func}: argument '{name}' is too large: {what} would hold {count:,} values "
                         f"({nbytes / 2 ** 30:,.1f} GiB), more than the {MAX_ELEMENTS:,} values or "
                         f"{MAX_BYTES // 2 ** 30} GiB one array may take here.{' ' + hint if hint else ''}")


def first_nonfinite(x: Any) -> tuple[int, ...] | None:
    """Index of the first NaN or inf in a NumPy array or torch tensor, or None if all are finite."""
    try:
        import torch

        if isinstance(x, torch.Tensor):
            if not (x.is_floating_point() or x.is_complex()) or bool(torch.isfinite(x).all()):
                return None
            return tuple(int(i) for i in torch.nonzero(~torch.isfinite(x))[0])
    except ImportError:  # pragma: no cover
        pass
    x = np.asarray(x)
    if x.dtype.kind not in "fc" or np.isfinite(x).all():
        return None
    return tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])


def check_finite(x: Any, name: str, func: str, why: str = "") -> None:
    """Every value of ``x`` must be finite: NaN or inf here would silently poison the result."""
    where = first_nonfinite(x)
    if where is not None:
        raise ValueError(f"{func}: argument '{name}' holds NaN or inf (the first at index {where}, "
                         f"value {x[where]}).{' ' + why if why else ''}")


def check_positive_number(value: Any, name: str, func: str) -> float:
    """A real number greater than zero (``float('inf')`` allowed; bools and NaN refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{func}: argument '{name}' must be a number, got {_describe(value)}.")
    value = float(value)
    if not value > 0:  # also catches NaN
        raise ValueError(f"{func}: argument '{name}' must be positive, got {value}.")
    return value


def check_pool_padding(padding: Sequence[int], kernel_size: Sequence[int], func: str) -> None:
    """torch's pooling rule: padding at most half the kernel, so no window lies wholly in the padding."""
    for p, k in zip(padding, kernel_size):
        if 2 * p > k:
            raise ValueError(f"{func}: argument 'padding' must be at most half of 'kernel_size' "
                             f"(a window must never lie wholly in the padding), got "
                             f"padding={tuple(padding)} with kernel_size={tuple(kernel_size)}.")


def check_kernel_fits(size: Sequence[int], kernel_size: Sequence[int], padding: Sequence[int],
                      func: str, name: str = "x", dilation: Sequence[int] | None = None) -> None:
    """The (dilated) kernel must fit inside the padded input at least once: ``n + 2p >= d(k-1)+1``."""
    dilation = tuple(dilation) if dilation is not None else (1,) * len(kernel_size)
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel_size, dilation))
    padded = tuple(n + 2 * p for n, p in zip(size, padding))
    if any(s > n for s, n in zip(span, padded)):
        raise ValueError(f"{func}: the kernel (spatial extent {span}) is larger than the padded input "
                         f"{padded} of argument '{name}' (spatial size {tuple(size)} with padding "
                         f"{tuple(padding)}). Use a smaller kernel_size or more padding.")


def check_bool(value: Any, name: str, func: str) -> bool:
    """``value`` itself if it is True or False; strings such as ``'no'`` are refused, not read as True."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{func}: argument '{name}' must be True or False, got {_describe(value)}.")
    return bool(value)


def check_rng(rng: Any, func: str) -> np.random.Generator:
    """A numpy Generator from a Generator, an int seed, or None (fresh entropy)."""
    if rng is None or isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.Generator):
        return rng
    raise TypeError(f"{func}: argument 'rng' must be a numpy Generator, an int seed or None, "
                    f"got {type(rng).__name__}.")


def check_choice(value: Any, choices: Sequence[str], name: str, func: str) -> str:
    """A string from a fixed set, e.g. ``padding`` in ``("valid", "same")``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{func}: argument '{name}' must be one of {', '.join(map(repr, choices))}, "
                         f"got {value!r}.")
    return value


def check_groups(groups: int, in_channels: int, out_channels: int, func: str) -> None:
    """torch's rule for grouped convolution: ``groups`` divides both channel counts."""
    for count, which in ((in_channels, "input channels x.shape[1]"),
                         (out_channels, "output channels weight.shape[0]")):
        if count % groups:
            raise ValueError(f"{func}: argument 'groups' must divide the {which} = {count}, "
                             f"got groups={groups}.")


def check_multiple(value: int, factor: int, name: str, func: str, what: str) -> None:
    """``value`` (``what``, a size read from argument ``name``) must be a multiple of ``factor``."""
    if value % factor:
        raise ValueError(f"{func}: argument '{name}' must have {what} a multiple of {factor}, "
                         f"got {value}.")


def check_valid_overlap(shape_a: Sequence[int], shape_b: Sequence[int], names: tuple[str, str],
                        func: str) -> None:
    """scipy's rule for 2-D mode 'valid': one input is at least as large as the other in every axis."""
    a_covers = all(m >= n for m, n in zip(shape_a, shape_b))
    b_covers = all(n >= m for m, n in zip(shape_a, shape_b))
    if not (a_covers or b_covers):
        raise ValueError(f"{func}: with mode='valid', one of arguments '{names[0]}' and '{names[1]}' "
                         f"must be at least as large as the other in every dimension (as in "
                         f"scipy.signal.convolve2d), got shapes {tuple(shape_a)} and {tuple(shape_b)}. "
                         f"Use mode='full' or 'same' instead.")


def check_tensor(x: Any, name: str, func: str, numpy_module: str) -> None:
    """``x`` must be a torch tensor (the ``gpu`` side). A NumPy array is pointed to its two roads:
    convert it with ``torch.as_tensor``, or call the same function in ``numpy_module``."""
    import torch

    if isinstance(x, torch.Tensor):
        return
    if isinstance(x, np.ndarray):
        raise TypeError(f"{func}: argument '{name}' must be a torch tensor, got a NumPy "
                        f"{_describe(x)}. Convert it with torch.as_tensor({name}) (add device=... "
                        f"to choose where it lives), or call {numpy_module}.{func}, which takes "
                        f"NumPy arrays.")
    raise TypeError(f"{func}: argument '{name}' must be a torch tensor, got {_describe(x)}. "
                    f"Make one with torch.as_tensor({name}).")


def check_labelled_data(data: Any, name: str, func: str, once: bool = False) -> Any:
    """Training data: a pair ``(x, y)`` of tensors (checked here; returned as ``(x, y.long())``),
    or an iterable of such batches that can be read again, a list or a DataLoader (with ``once``,
    a generator too). NumPy arrays, bare tensors and generators get a message saying what to do."""
    import torch

    if isinstance(data, (tuple, list)) and len(data) == 2 and not isinstance(data[0], (tuple, list)):
        x, y = data
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            raise TypeError(f"{func}: argument '{name}' must hold torch tensors, got NumPy arrays. Convert "
                            f"them: (torch.from_numpy(x).float(), torch.from_numpy(y).long()).")
        check_tensor(x, f"{name}[0]", func, "torch")
        check_array(x, f"{name}[0]", func, ndim=(2, 3, 4, 5), what="batch of inputs (N, ...)")
        if not x.dtype.is_floating_point:
            raise TypeError(f"{func}: argument '{name}[0]' must be a float tensor, got {x.dtype}. "
                            "Scale images first, e.g. x.float() / 255 (or use data.mnist_tensors).")
        if not isinstance(y, torch.Tensor) or y.ndim != 1 or y.dtype.is_floating_point or y.is_complex() \
                or y.dtype == torch.bool:
            raise TypeError(f"{func}: argument '{name}[1]' must be a 1-D integer tensor of class labels, "
                            f"got {_describe(y)}. Convert them with .long().")
        if len(x) != len(y):
            raise ValueError(f"{func}: argument '{name}' has {len(x)} inputs but {len(y)} labels; "
                             "they must match one to one.")
        check_finite(x, f"{name}[0]", func, "Training on it would make every weight NaN: clean the data.")
        if len(y) and int(y.min()) < 0:
            raise ValueError(f"{func}: argument '{name}[1]' holds the label {int(y.min())}; class labels "
                             f"are 0, 1, ..., number of classes - 1.")
        return x, y.long()
    if isinstance(data, (torch.Tensor, np.ndarray, str, bytes, dict)) or not hasattr(data, "__iter__"):
        raise TypeError(f"{func}: argument '{name}' must be a pair (x, y) of tensors or a DataLoader "
                        f"yielding (x, y) batches, got {_describe(data)}.")
    if not once and iter(data) is data:
        raise TypeError(f"{func}: argument '{name}' is a generator or iterator ({type(data).__name__}), "
                        f"which can be read only once, but {func} reads the data every epoch. Pass a "
                        f"list of (x, y) batches or a DataLoader.")
    return data


def check_model(model: Any, func: str) -> Any:
    """A torch ``nn.Module`` with parameters; returns the float dtype of its weights."""
    import torch

    if not isinstance(model, torch.nn.Module) or not any(True for _ in model.parameters()):
        raise TypeError(f"{func}: argument 'model' must be a torch nn.Module with parameters, got "
                        f"{_describe(model)}.")
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)


def check_device(device: Any, func: str) -> Any:
    """A ``torch.device`` from a device or a name such as ``"cuda:0"``."""
    import torch

    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"{func}: argument 'device' must be 'cpu', 'cuda', 'mps' or a torch.device, "
                         f"got {device!r} ({err}).") from None


def check_label_range(y: Any, classes: int, name: str, func: str) -> None:
    """Class labels must index the model's ``classes`` outputs (cross_entropy would fail deep
    inside otherwise, and on CUDA fatally)."""
    if int(y.max()) >= classes:
        raise ValueError(f"{func}: argument '{name}' holds the label {int(y.max())}, but the model "
                         f"has {classes} outputs: labels must be 0 ... {classes - 1}.")
