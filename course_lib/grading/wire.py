"""The data-only format that crosses between the grader and the student's kernel.

Only plain data crosses, in either direction: ``None``, booleans, integers, floats, strings,
lists, tuples and dicts of them, NumPy arrays and scalars, torch tensors, devices and dtypes.
Arrays travel as ``.npy`` bytes written and read with ``allow_pickle=False``; everything else is
JSON. Nothing is ever unpickled or executed on arrival, and every decoded value is built by the
receiver from its own types, so an object with a clever ``__eq__`` cannot come back.

Two kinds of reference cross too, and neither carries code:

* a **handle** names an object that stays in the kernel (a student's function or model); the
  grader can only ask the kernel to call it or to read an attribute of it;
* a **module spec** describes a small torch network the grader built (``nn.Sequential`` of
  standard layers, with its weights): the kernel rebuilds it from its own torch.

>>> decode(encode({"a": (1, 2.5, None), 3: [True, "x"]}))
{'a': (1, 2.5, None), 3: [True, 'x']}
>>> import numpy as np
>>> decode(encode(np.arange(3, dtype=np.int16))).dtype
dtype('int16')
"""
from __future__ import annotations

import base64
import io
import json
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_DEPTH = 32
MAX_MESSAGE_BYTES = 256 << 20  # a reply larger than this is refused, not parsed


class WireError(ValueError):
    """A value that cannot cross, or a message that is not in this format."""


@dataclass(frozen=True)
class Handle:
    """An object that stays in the kernel: its id there, and what the kernel says it is."""
    id: int
    type: str
    callable: bool
    is_module: bool


# --------------------------------------------------------------------------- arrays

def _npy(array: np.ndarray) -> str:
    if array.dtype.hasobject:
        raise WireError("arrays of Python objects cannot cross; use numbers")
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _from_npy(text: str) -> np.ndarray:
    array = np.load(io.BytesIO(base64.b64decode(text, validate=True)), allow_pickle=False)
    if type(array) is not np.ndarray:
        raise WireError("an array message did not hold a plain array")
    return array


# --------------------------------------------------------------------------- encode

def encode(value: Any, handle_of=None, modules: bool = False, depth: int = 0) -> Any:
    """``value`` as JSON-able tagged data.

    ``handle_of(obj)`` turns what is not data into a handle id (the kernel passes one); without
    it, such a value is a :class:`WireError`. ``modules=True`` (the grader) sends a torch network
    as a module spec. A grader-side proxy of a kernel object travels as its handle.
    """
    if depth > MAX_DEPTH:
        raise WireError(f"the value is nested more than {MAX_DEPTH} levels deep")
    again = (lambda v: encode(v, handle_of, modules, depth + 1))  # noqa: E731
    if getattr(type(value), "_remote_proxy", False):
        return {"t": "handle", "id": object.__getattribute__(value, "_handle").id}
    if value is None or isinstance(value, (bool, str)):
        return {"t": "v", "v": value}
    if isinstance(value, int):
        return {"t": "int", "v": str(int(value))}
    if isinstance(value, float):
        return {"t": "float", "v": repr(float(value))}
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        return {"t": type(value).__name__, "v": [again(v) for v in value]}
    if isinstance(value, dict) and type(value) is dict:
        return {"t": "dict", "v": [[again(k), again(v)] for k, v in value.items()]}
    if isinstance(value, np.ndarray):
        return {"t": "ndarray", "v": _npy(value)}
    if isinstance(value, np.generic):
        return {"t": "npscalar", "v": _npy(np.asarray(value))}
    if isinstance(value, Handle):
        return {"t": "handle", "id": value.id}
    torch = _torch_if_loaded()
    if torch is not None:
        if isinstance(value, torch.Tensor):
            return _encode_tensor(value, torch)
        if isinstance(value, torch.device):
            return {"t": "device", "v": str(value)}
        if isinstance(value, torch.dtype):
            return {"t": "dtype", "v": str(value).removeprefix("torch.")}
        if isinstance(value, torch.Size):
            return {"t": "tuple", "v": [encode(int(v)) for v in value]}
        if isinstance(value, torch.nn.Module) and modules:
            return {"t": "module", "v": module_spec(value)}
    if isinstance(value, (range, set, frozenset)) or _is_iterator(value):
        if handle_of is not None:  # the kernel answers with what an iterator yields
            return {"t": "list", "v": [again(v) for v in _take(value)]}
    if handle_of is not None:
        return {"t": "handle", "id": handle_of(value), "type": _type_name(value),
                "callable": callable(value), "is_module": _is_module(value)}
    raise WireError(f"a {_type_name(value)} cannot be sent to the kernel")


def _encode_tensor(tensor, torch) -> dict:
    data = tensor.detach()
    dtype = str(data.dtype).removeprefix("torch.")
    if data.dtype == torch.bfloat16:  # NumPy has no bfloat16: the values fit float32 exactly
        data = data.float()
    return {"t": "tensor", "v": _npy(data.cpu().numpy()), "dtype": dtype, "device": data.device.type}


def _take(iterable, limit: int = 100_000) -> list:
    items = []
    for item in iterable:
        items.append(item)
        if len(items) > limit:
            raise WireError(f"an iterator yielded more than {limit} items")
    return items


def _is_iterator(value: Any) -> bool:
    return hasattr(value, "__next__") and hasattr(value, "__iter__")


def _type_name(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _is_module(value: Any) -> bool:
    torch = _torch_if_loaded()
    return torch is not None and isinstance(value, torch.nn.Module)


def _torch_if_loaded():
    # Nothing can be a tensor or a module unless torch is already imported; importing it here
    # would cost seconds per kernel in ps1-ps3, which never use it.
    return sys.modules.get("torch")


def _torch():
    try:
        import torch
    except ImportError:  # the wire works without torch; tensors then cannot cross
        return None
    return torch


# --------------------------------------------------------------------------- decode

def decode(data: Any, resolve=None, depth: int = 0, modules: bool = True) -> Any:
    """The value ``data`` encodes, built from this process's own types.

    ``resolve(handle)`` maps a handle to an object: the kernel passes its table, the grader a
    function that makes a proxy. Anything that does not follow the format is a WireError, and
    so is a torch module when ``modules`` is false (the grader reading a kernel's reply).
    """
    if depth > MAX_DEPTH or not isinstance(data, dict) or not isinstance(data.get("t"), str):
        raise WireError("malformed message")
    tag, value, nxt = data["t"], data.get("v"), depth + 1
    if tag == "v" and (value is None or type(value) in (bool, str)):
        return value
    if tag == "int" and type(value) is str and len(value) <= 4300:
        return int(value)
    if tag == "float" and type(value) is str:
        return float(value)
    if tag in ("list", "tuple") and type(value) is list:
        items = [decode(v, resolve, nxt, modules) for v in value]
        return items if tag == "list" else tuple(items)
    if tag == "dict" and type(value) is list:
        out = {}
        for pair in value:
            if type(pair) is not list or len(pair) != 2:
                raise WireError("malformed dict")
            key = decode(pair[0], resolve, nxt, modules)
            if type(key) not in (str, int, float, bool, tuple) and key is not None:
                raise WireError("a dict key must be a number, a string or a tuple")
            out[key] = decode(pair[1], resolve, nxt, modules)
        return out
    if tag == "ndarray" and type(value) is str:
        return _from_npy(value)
    if tag == "npscalar" and type(value) is str:
        return _from_npy(value)[()]
    torch = _torch() if tag in ("tensor", "device", "dtype", "module") else None
    if tag == "tensor" and type(value) is str and torch is not None:
        tensor = torch.from_numpy(_from_npy(value).copy())
        dtype = getattr(torch, str(data.get("dtype")), None)
        tensor = tensor.to(dtype) if isinstance(dtype, torch.dtype) else tensor
        return tensor.to("cuda") if data.get("device") == "cuda" and torch.cuda.is_available() else tensor
    if tag == "device" and type(value) is str and torch is not None:
        return torch.device(value)
    if tag == "dtype" and type(value) is str and torch is not None:
        dtype = getattr(torch, value, None)
        if isinstance(dtype, torch.dtype):
            return dtype
    if tag == "module" and torch is not None and modules:
        return build_module(value, torch)
    if tag == "handle" and type(data.get("id")) is int and resolve is not None:
        return resolve(Handle(data["id"], str(data.get("type", "")), bool(data.get("callable")),
                              bool(data.get("is_module"))))
    raise WireError(f"malformed message (tag {tag!r})")


def dumps(value: Any, handle_of=None, modules: bool = False) -> str:
    return json.dumps(encode(value, handle_of, modules), separators=(",", ":"))


def loads(text: str, resolve=None) -> Any:
    if len(text) > MAX_MESSAGE_BYTES:
        raise WireError(f"the message is larger than {MAX_MESSAGE_BYTES >> 20} MB")
    return decode(json.loads(text), resolve)


# --------------------------------------------------------------------------- torch networks

# The layers a grader may hand to student code, with the constructor arguments that rebuild them.
_LAYERS = {
    "Linear": ("in_features", "out_features"),
    "Conv2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
               "groups"),
    "ReLU": (), "Tanh": (), "Sigmoid": (), "Flatten": ("start_dim", "end_dim"),
    "Dropout": ("p",), "MaxPool2d": ("kernel_size", "stride", "padding"),
    "AvgPool2d": ("kernel_size", "stride", "padding"), "AdaptiveMaxPool2d": ("output_size",),
    "AdaptiveAvgPool2d": ("output_size",), "BatchNorm2d": ("num_features",),
}


def module_spec(module) -> dict:
    """A grader-built network as data: layer types, constructor arguments, weights, mode."""
    import torch

    kind = type(module).__name__
    if type(module) is torch.nn.Sequential:
        layers = [module_spec(child) for child in module]
        return {"kind": "Sequential", "layers": layers, "training": module.training}
    if kind not in _LAYERS or type(module) is not getattr(torch.nn, kind):
        raise WireError(f"a {kind} cannot be sent to the kernel: only nn.Sequential of "
                        f"{sorted(_LAYERS)}")
    args = {name: getattr(module, name) for name in _LAYERS[kind]}
    if kind in ("Linear", "Conv2d"):
        args["bias"] = module.bias is not None
    state = {name: encode(t) for name, t in module.state_dict().items()}
    return {"kind": kind, "args": encode(args), "state": state, "training": module.training}


def build_module(spec: Any, torch) -> Any:
    """Rebuild a network from :func:`module_spec`'s data with this process's torch."""
    if not isinstance(spec, dict) or spec.get("kind") not in (*_LAYERS, "Sequential"):
        raise WireError("malformed module spec")
    if spec["kind"] == "Sequential":
        module = torch.nn.Sequential(*(build_module(s, torch) for s in spec["layers"]))
        module.training = bool(spec.get("training"))  # each layer keeps its own mode
        return module
    args = decode(spec["args"])
    if not isinstance(args, dict) or set(args) - {*_LAYERS[spec["kind"]], "bias"}:
        raise WireError("malformed module spec")
    module = getattr(torch.nn, spec["kind"])(**args)
    module.load_state_dict({name: decode(t) for name, t in spec["state"].items()})
    return module.train(bool(spec.get("training")))
