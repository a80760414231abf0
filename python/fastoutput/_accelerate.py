"""Hands ``ModelOutput`` to the C++ core.

The core replaces ``to_tuple`` and ``__setattr__`` with native method descriptors, points the item
slots and the constructor (type vectorcall) at native code and keeps the fields in native slots. The
Python versions stay reachable for Dynamo, which traces them in place of the native descriptors
(``substitute_in_graph``). Deciding whether a class may use the native constructor is cold and
subtle, so it is done here, once per class version, in ``describe``.
"""

from __future__ import annotations

import copy
import dataclasses
import types
from collections.abc import Callable
from typing import Any

from . import _torch
from ._compat import core
from ._tensors import is_tensor

assert core is not None


def _dataclass_init(cls: type, names: tuple[str, ...]) -> Any:
    """The ``__init__`` that @dataclass generated for exactly these fields, or None. A class that
    renames old cache keywords has it wrapped by its metaclass: the native constructor binds the
    field names itself and hands every other call to that wrapper."""
    for owner in cls.__mro__:
        init = owner.__dict__.get("__init__")
        if init is None:
            continue
        renaming_code = getattr(type(cls), "renaming_init_code", None)
        if renaming_code is not None and getattr(init, "__code__", None) is renaming_code:
            init = init.__wrapped__
        params = owner.__dict__.get("__dataclass_params__")
        if params is None or not params.init or not isinstance(init, types.FunctionType):
            return None
        code = init.__code__
        if init.__qualname__ != f"{owner.__qualname__}.__init__" or code.co_kwonlyargcount:
            return None
        if code.co_flags & (0x04 | 0x08) or code.co_varnames[1 : code.co_argcount] != names:
            return None  # *args/**kwargs, InitVar parameters or a different field list
        return init
    return None


# Methods that decide what copy.copy and pickle do; a class overriding any of them copies the slow way.
_COPY_PROTOCOL = ("__reduce__", "__reduce_ex__", "__setstate__", "__getstate__", "__copy__")


def copy_by_reduce(obj: Any) -> Any:
    """What copy.copy does for a class without __copy__: rebuild from ``__reduce_ex__(4)``, or from
    ``__reduce__()`` where an instance attribute set ``__reduce_ex__`` to None."""
    reduce_ex = getattr(obj, "__reduce_ex__", None)
    reduced = reduce_ex(4) if reduce_ex is not None else obj.__reduce__()
    return copy._reconstruct(obj, None, *reduced)  # type: ignore[attr-defined]


class AttributeDict(dict):  # type: ignore[type-arg]
    """``vars(out)`` when the fields live in native slots: a dict of the attributes whose writes
    (``vars(out)[name] = v``, ``del``, ``update``...) are applied to the output, as writes to a real
    instance ``__dict__`` would be. Dynamo relies on this when it replays attribute assignments."""

    __slots__ = ("_owner",)

    def __init__(self, owner: Any, attributes: dict[str, Any]) -> None:
        dict.__init__(self, attributes)
        self._owner = owner

    def __setitem__(self, name: str, value: Any) -> None:
        object.__setattr__(self._owner, name, value)
        dict.__setitem__(self, name, value)

    def __delitem__(self, name: str) -> None:
        object.__delattr__(self._owner, name)
        dict.__delitem__(self, name)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for name, value in dict(*args, **kwargs).items():
            self[name] = value

    def setdefault(self, name: str, default: Any = None) -> Any:
        if name not in self:
            self[name] = default
        return self[name]

    def pop(self, name: str, *default: Any) -> Any:
        if name not in self and default:
            return default[0]
        value = self[name]
        del self[name]
        return value

    def popitem(self) -> tuple[str, Any]:
        name = next(reversed(self))
        return name, self.pop(name)

    def clear(self) -> None:
        # Every attribute goes before any value is released (as dict.clear does): a value's finalizer
        # then sees the attributes already cleared, and what it writes stays.
        held = list(self.items())
        for name, _ in held:
            del self[name]
        del held

    def __ior__(self, other: Any) -> AttributeDict:  # type: ignore[misc]
        self.update(other)
        return self


def describe(cls: Any, root: Any) -> dict[str, Any]:
    """What the core needs to know about ``cls`` (``ClassLayout`` in csrc/output_meta.h)."""
    is_dataclass = dataclasses.is_dataclass(cls)
    fields = dataclasses.fields(cls) if is_dataclass else ()
    names = tuple(field.name for field in fields)
    declared_slots = cls.__dict__.get("__slots__", ())
    user_slots = {declared_slots} if isinstance(declared_slots, str) else set(declared_slots)
    init = _dataclass_init(cls, names) if is_dataclass else None
    first_required = bool(fields) and fields[0].default is dataclasses.MISSING
    frozen = is_dataclass and cls.__dataclass_params__.frozen
    native = (
        init is not None
        and bool(fields)
        and (fields[0].default is None or first_required)
        and fields[0].default_factory is dataclasses.MISSING
        and all(field.default is None for field in fields[1:])
        and cls.__post_init__ is root.__post_init__
        and cls.__setitem__ is root.__setitem__
        and (frozen or cls.__setattr__ is root.__setattr__)
    )
    return {
        "is_dataclass": is_dataclass,
        "names": names,
        # (default,) or () for a field without one; a default_factory is not a class default, and
        # a @dataclass(slots=True) class keeps none (its fields are slots)
        "defaults": tuple(
            () if field.default is dataclasses.MISSING or field.name in user_slots else (field.default,)
            for field in fields
        ),
        "first_required": first_required,
        "native": native,
        "init_qualname": init.__qualname__ if init is not None else f"{cls.__qualname__}.__init__",
        "native_to_tuple": cls.to_tuple is root.to_tuple,
        "native_getitem": cls.__getitem__ is root.__getitem__,
        "plain_copy": all(getattr(cls, name) is getattr(root, name) for name in _COPY_PROTOCOL),
        "renames_cache": getattr(cls, "_replace_old_cache_name", None) is not None,
    }


def accelerate(root: type, expand_first_field: Callable[..., None]) -> None:
    python_to_tuple = root.__dict__["to_tuple"]
    python_setattr = root.__dict__["__setattr__"]
    assert core is not None
    core.install(root, describe, expand_first_field, is_tensor, copy_by_reduce, AttributeDict)
    _torch.register_class(root)

    def add_stand_ins(dynamo: types.ModuleType) -> None:
        # Dynamo cannot look inside the native descriptors; it traces the Python versions instead.
        substitute = dynamo.substitute_in_graph
        substitute(root.__dict__["to_tuple"], skip_signature_check=True)(python_to_tuple)
        substitute(root.__dict__["__setattr__"], skip_signature_check=True)(python_setattr)

    _torch.on_dynamo_loaded(add_stand_ins)
