"""torch integration, done lazily: importing fastoutput never imports torch.

Every output class is registered as a torch pytree node. A class created while torch is loaded is
registered at once; otherwise it waits in ``_pending`` and an import hook registers every waiting class
the moment ``import torch`` completes, before any instance can reach a torch API. The same hook lets the
C++ core register its Dynamo stand-ins once ``torch._dynamo`` is imported.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable
from functools import partial
from types import ModuleType
from typing import Any

from . import _imports

_pending: list[weakref.ref[type]] = []
# Called with the ``torch._dynamo`` module once it is imported (the C++ core adds its stand-ins here).
dynamo_callbacks: list[Callable[[ModuleType], None]] = []


def _flatten(output: Any) -> tuple[list[Any], list[Any]]:
    return list(output.values()), list(output.keys())


def _flatten_with_keys(output: Any) -> tuple[list[tuple[Any, Any]], list[Any]]:
    from torch.utils._pytree import MappingKey

    return [(MappingKey(key), value) for key, value in output.items()], list(output.keys())


def _unflatten(values: Any, context: Any, output_type: type) -> Any:
    return output_type(**dict(zip(context, values)))


def _register(cls: type) -> None:
    from torch.utils import _pytree

    if cls in _pytree.SUPPORTED_NODES:
        return
    _pytree.register_pytree_node(
        cls,
        _flatten,
        partial(_unflatten, output_type=cls),
        serialized_type_name=f"{cls.__module__}.{cls.__name__}",
        flatten_with_keys_fn=_flatten_with_keys,
    )


def register_class(cls: type) -> None:
    """Make ``cls`` a torch pytree node, now if torch is loaded, else as soon as it is."""
    if _imports.module_ready("torch"):
        _register(cls)
        return
    if len(_pending) >= 64 and len(_pending) & (len(_pending) - 1) == 0:
        _pending[:] = [ref for ref in _pending if ref() is not None]  # drop classes that died
    _pending.append(weakref.ref(cls))


def _on_torch_loaded(_module: ModuleType) -> None:
    waiting = [ref() for ref in _pending]
    _pending.clear()
    for cls in waiting:
        if cls is not None:
            _register(cls)


def _traced_is_tensor(value: Any) -> bool:
    """What Dynamo traces in place of ``_tensors.is_tensor``. Inside a torch graph only torch values
    can be tensors, and the real test reads ``sys.modules``, on which Dynamo would then guard: every
    later import anywhere would recompile the graph."""
    import torch

    return isinstance(value, (torch.Tensor, torch.fx.Proxy))


def _add_tensor_stand_in(dynamo: ModuleType) -> None:
    from ._tensors import is_tensor

    dynamo.substitute_in_graph(is_tensor, skip_signature_check=True)(_traced_is_tensor)


def _on_dynamo_loaded(module: ModuleType) -> None:
    for callback in dynamo_callbacks:
        callback(module)


def on_dynamo_loaded(callback: Callable[[ModuleType], None]) -> None:
    """Run ``callback(torch._dynamo)`` now if Dynamo is loaded, else right after it is imported."""
    dynamo_callbacks.append(callback)
    if _imports.module_ready("torch._dynamo"):
        callback(sys.modules["torch._dynamo"])


_imports.on_import("torch", _on_torch_loaded)
_imports.on_import("torch._dynamo", _on_dynamo_loaded)
on_dynamo_loaded(_add_tensor_stand_in)
