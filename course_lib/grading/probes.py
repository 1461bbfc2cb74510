"""Questions a test asks about a torch network that must be answered where the network lives.

A student's model stays in the kernel when grading, so a forward hook set by the grader could
not see it. These two functions run wherever the model is (the bridge calls them in the kernel
for a model there) and answer with data only.
"""
from __future__ import annotations

from typing import Any, Callable

TRACED = ("Conv2d", "MaxPool2d", "Linear", "Dropout")


def layer_trace(model: Any, x: Any) -> list[tuple]:
    """(type, output shape, groups or dropout p) of each conv, pool, linear and dropout call."""
    import torch

    seen: list[tuple] = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(
                 (type(m).__name__, tuple(o.shape[1:]), getattr(m, "groups", getattr(m, "p", None)))))
             for m in model.modules() if type(m).__name__ in TRACED]
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def probed_call(func: Callable, model: Any, *args: Any, layer: int | None = None,
                **kwargs: Any) -> tuple[Any, dict[str, Any]]:
    """``func(model, *args, **kwargs)``, and what happened to ``model`` meanwhile: the dtypes
    that layer ``layer`` produced, the parameters' dtypes after, and whether gradients appeared."""
    dtypes: list[str] = []
    hook = None
    if layer is not None:
        hook = model[layer].register_forward_hook(
            lambda m, i, o: dtypes.append(str(o.dtype).removeprefix("torch.")))
    try:
        result = func(model, *args, **kwargs)
    finally:
        if hook is not None:
            hook.remove()
    params = list(model.parameters())
    return result, {"layer_dtypes": dtypes,
                    "param_dtypes": [str(p.dtype).removeprefix("torch.") for p in params],
                    "has_grads": any(p.grad is not None for p in params)}
