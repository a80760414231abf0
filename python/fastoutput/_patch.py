"""``patch_transformers()``: every transformers output becomes a fastoutput one.

Each ``ModelOutput`` subclass transformers defines (``transformers.utils.ModelOutput`` itself, the
``modeling_outputs`` and generation classes, the classes model files declare) gets a counterpart built
on ``fastoutput.ModelOutput``: a *stand-in* with the same module, qualified name, fields, defaults and
methods. Patching rebinds every name that holds an original, in every loaded transformers module, to
its stand-in, and an import hook does the same to transformers modules imported later. Model code
looks its output classes up in its module's globals at call time, so models built before the call
return stand-ins too.

The original class objects stay wherever users and libraries hold them. Patching gives them a
metaclass whose instance and subclass checks also accept their stand-ins, so
``isinstance(out, <original>)`` keeps holding (also after unpatching, for outputs made meanwhile).
Unpatching rebinds the original classes; a class first defined while patched (in a transformers
module imported then) gets a transformers-based counterpart built the same way. Counterparts are made once and reused, so
patching again gives the same classes.

Under transformers 5.x the stand-ins behave as 5.x's classes do: their fields are 5.x's (``cache``),
and the old names ``past_key_values``/``cache_params`` are renamed by transformers' own functions
(keywords, item get/set, ``in``, ``get``, attribute set, and the read-only properties).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

from . import _imports
from ._compat import core
from ._model_output import BASES, ModelOutput

_PACKAGE = "transformers"
_GENERIC = "transformers.utils.generic"
# What @dataclass adds to a class, or the type machinery does: made again for the counterpart.
_GENERATED_NAMES = frozenset({"__dict__", "__weakref__", "__dataclass_fields__", "__dataclass_params__", "__match_args__"})

_lock = threading.RLock()
_patched = False
_original_root: type | None = None  # transformers' own ModelOutput, once seen
_stand_in_of: dict[type, type] = {}  # transformers class -> its fastoutput counterpart
_original_of: dict[type, type] = {}  # fastoutput counterpart -> transformers class
_checking_metaclasses: dict[type, type] = {}  # metaclass -> its subclass that accepts stand-ins


# --- the 5.x cache rename -------------------------------------------------------------------


def _renaming_init(init: Callable[..., None]) -> Callable[..., None]:
    """``init`` with ``past_key_values=``/``cache_params=`` renamed to ``cache`` first, by 5.x's function."""
    rename_keywords = sys.modules[_GENERIC]._rename_kwargs_for_bc

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        rename_keywords(kwargs)
        init(self, *args, **kwargs)

    return __init__


class _RenamingMeta(type(ModelOutput)):  # type: ignore[misc]
    """Metaclass of the 5.x stand-ins: the ``__init__`` that @dataclass sets is wrapped with the
    keyword renaming (as 5.x's own metaclass does). The C++ core recognises the wrapper by its code:
    it binds field names itself and hands any other call to the wrapper."""

    renaming_init_code = next(
        const for const in _renaming_init.__code__.co_consts if isinstance(const, types.CodeType)
    )  # the nested __init__'s, shared by every wrapper

    def __setattr__(cls, name: str, value: Any) -> None:
        if name == "__init__":
            value = _renaming_init(value)
        super().__setattr__(name, value)


def _contains(self: Any, key: Any) -> bool:
    return dict.__contains__(self, self._replace_old_cache_name(key))


def _get(self: Any, key: Any, default: Any = None) -> Any:
    return dict.get(self, self._replace_old_cache_name(key), default)


def _stand_in_root(original: type) -> type:
    """The counterpart of transformers' ``ModelOutput``: fastoutput's, under transformers' name."""
    namespace: dict[str, Any] = {
        "__module__": original.__module__,
        "__qualname__": original.__qualname__,
        "__doc__": original.__doc__,
    }
    metaclass: type = type(ModelOutput)
    if "_replace_old_cache_name" in original.__dict__:  # 5.x: its renaming method and properties serve as they are
        for name in ("_replace_old_cache_name", "past_key_values", "cache_params"):
            namespace[name] = original.__dict__[name]
        namespace.update(__contains__=_contains, get=_get)
        metaclass = _RenamingMeta
    root: type = metaclass(original.__name__, (ModelOutput,), namespace)
    BASES.add(root)
    return root


# --- counterparts ---------------------------------------------------------------------------


def _made_by_dataclass(value: Any) -> bool:
    """Whether @dataclass generated ``value`` (it compiles its methods from source text; wrappers
    such as its recursive-repr guard or 5.x's keyword renaming keep ``__wrapped__``)."""
    if not callable(value):
        return False
    code = getattr(inspect.unwrap(value), "__code__", None)
    return code is not None and code.co_filename == "<string>"


def _field_copy(field: dataclasses.Field[Any]) -> Any:
    options: dict[str, Any] = {
        "init": field.init,
        "repr": field.repr,
        "hash": field.hash,
        "compare": field.compare,
        "metadata": field.metadata,
        "kw_only": field.kw_only,
    }
    if field.default is not dataclasses.MISSING:
        options["default"] = field.default
    if field.default_factory is not dataclasses.MISSING:
        options["default_factory"] = field.default_factory
    return dataclasses.field(**options)


def _with_class_cell(function: Any, cells: list[types.CellType]) -> Any:
    """``function`` again, with a fresh ``__class__`` cell (zero-argument super()) filled in later."""
    if isinstance(function, (classmethod, staticmethod)):
        return type(function)(_with_class_cell(function.__func__, cells))
    if isinstance(function, property):
        accessors = (_with_class_cell(f, cells) for f in (function.fget, function.fset, function.fdel))
        return property(*accessors, function.__doc__)  # type: ignore[call-arg]
    if not isinstance(function, types.FunctionType) or "__class__" not in function.__code__.co_freevars:
        return function
    cell = types.CellType()
    cells.append(cell)
    closure = tuple(
        cell if name == "__class__" else old
        for name, old in zip(function.__code__.co_freevars, function.__closure__ or ())
    )
    copy = types.FunctionType(function.__code__, function.__globals__, function.__name__, function.__defaults__, closure)
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__qualname__ = function.__qualname__
    copy.__doc__ = function.__doc__
    copy.__dict__.update(function.__dict__)
    copy.__annotations__ = function.__annotations__
    return copy


def _rebuild(cls: type, bases: tuple[type, ...]) -> type:
    """A class like ``cls`` on other bases: same names, module, own fields, methods and dataclass options."""
    params = cls.__dict__.get("__dataclass_params__")
    own_fields = []
    if params is not None:
        annotations = cls.__dict__.get("__annotations__", {})
        own_fields = [field for field in dataclasses.fields(cls) if field.name in annotations]
    field_names = {field.name for field in own_fields}
    cells: list[types.CellType] = []
    namespace: dict[str, Any] = {"__qualname__": cls.__qualname__}
    for name, value in cls.__dict__.items():
        if name in _GENERATED_NAMES or name in field_names:
            continue
        if params is not None and (_made_by_dataclass(value) or (name == "__hash__" and value is None)):
            continue
        namespace[name] = _with_class_cell(value, cells)
    for field in own_fields:
        namespace[field.name] = _field_copy(field)
    counterpart = types.new_class(cls.__name__, bases, exec_body=lambda body: body.update(namespace))
    if params is not None:
        options = {name: getattr(params, name) for name in ("init", "repr", "eq", "order", "unsafe_hash", "frozen")}
        counterpart = dataclasses.dataclass(**options)(counterpart)
    for cell in cells:
        cell.cell_contents = counterpart
    return counterpart


def _is_transformers_class(value: type, root: type | None) -> bool:
    """Whether ``value`` derives from ``root`` and is defined in a transformers module."""
    module = value.__dict__.get("__module__")
    return (
        root is not None
        and root in type.__dict__["__mro__"].__get__(value)
        and isinstance(module, str)
        and (module == _PACKAGE or module.startswith(_PACKAGE + "."))
    )


def _stand_in(cls: Any) -> Any:
    """The fastoutput counterpart of a transformers output class; any other value as it is."""
    global _original_root
    if not isinstance(cls, type):
        return cls
    known = _stand_in_of.get(cls)
    if known is not None:
        _accept_stand_ins(cls)
        return known
    if _original_root is None and cls.__module__ == _GENERIC and cls.__name__ == "ModelOutput" and cls not in _original_of:
        _original_root = cls
    if not _is_transformers_class(cls, _original_root):
        return cls
    if cls is _original_root:
        counterpart = _stand_in_root(cls)
    else:
        counterpart = _rebuild(cls, tuple(_stand_in(base) for base in cls.__bases__))
    _stand_in_of[cls] = counterpart
    _original_of[counterpart] = cls
    _accept_stand_ins(cls)
    return counterpart


def _original(cls: Any) -> Any:
    """The transformers counterpart of a fastoutput class in a transformers module; any other value as it is."""
    if not isinstance(cls, type):
        return cls
    known = _original_of.get(cls)
    if known is not None:
        return known
    if not _is_transformers_class(cls, ModelOutput):
        return cls
    counterpart = _rebuild(cls, tuple(_original(base) for base in cls.__bases__))
    _original_of[cls] = counterpart
    _stand_in_of[counterpart] = cls
    return counterpart


# --- instance checks on the originals -------------------------------------------------------


def _checking_metaclass(metaclass: Any) -> type:
    """``metaclass`` with instance and subclass checks that also accept the class's stand-in."""
    known = _checking_metaclasses.get(metaclass)
    if known is not None:
        return known

    def __instancecheck__(cls: type, instance: Any) -> bool:
        if metaclass.__instancecheck__(cls, instance):
            return True
        stand_in = _stand_in_of.get(cls)
        return stand_in is not None and isinstance(instance, stand_in)

    def __subclasscheck__(cls: type, subclass: Any) -> bool:
        if metaclass.__subclasscheck__(cls, subclass):
            return True
        stand_in = _stand_in_of.get(cls)
        return stand_in is not None and issubclass(subclass, stand_in)

    namespace = {"__slots__": (), "__module__": __name__, "__instancecheck__": __instancecheck__, "__subclasscheck__": __subclasscheck__}
    checking: type = type(metaclass)(metaclass.__name__, (metaclass,), namespace)
    _checking_metaclasses[metaclass] = checking
    return checking


def _set_metaclass_in_python(cls: Any, metaclass: Any) -> None:
    """What ``_core.set_metaclass`` does, for the pure-Python twin (CPython object layout)."""
    import ctypes

    def is_heap_type(candidate: Any) -> bool:  # Py_TPFLAGS_HEAPTYPE: its instances own a reference to it
        return bool(candidate.__flags__ & (1 << 9))

    if not isinstance(cls, type) or not is_heap_type(cls):
        raise TypeError("set_metaclass() needs a class defined in Python")
    if not isinstance(metaclass, type) or not issubclass(metaclass, type):
        raise TypeError("set_metaclass() needs a metaclass")
    old = type(cls)
    related = issubclass(metaclass, old) or issubclass(old, metaclass)
    if not related or (metaclass.__basicsize__, metaclass.__itemsize__) != (old.__basicsize__, old.__itemsize__):
        raise TypeError(f"set_metaclass(): {old.__name__} and {metaclass.__name__} differ in layout")
    if is_heap_type(metaclass):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(metaclass))
    ob_type = ctypes.c_void_p.from_address(id(cls) + ctypes.sizeof(ctypes.c_ssize_t))
    ob_type.value = id(metaclass)
    if is_heap_type(old):
        ctypes.pythonapi.Py_DecRef(ctypes.py_object(old))


_set_metaclass: Callable[[type, type], None] = core.set_metaclass if core is not None else _set_metaclass_in_python


def _accept_stand_ins(original: type) -> None:
    """From now on ``isinstance(x, original)`` also holds for instances of its stand-in. This stays
    after unpatching: outputs made while patched live on, and transformers' code (CLIP's to_tuple, for
    one) and users' code test them against the original classes."""
    if type(original) not in _checking_metaclasses.values():
        _set_metaclass(original, _checking_metaclass(type(original)))


# --- modules --------------------------------------------------------------------------------


def _transformers_modules() -> Iterator[types.ModuleType]:
    for name, module in list(sys.modules.items()):
        if (name == _PACKAGE or name.startswith(_PACKAGE + ".")) and isinstance(module, types.ModuleType):
            yield module


def _rebind(module: types.ModuleType, counterpart: Callable[[Any], Any]) -> None:
    for name, value in list(vars(module).items()):
        replacement = counterpart(value)
        if replacement is not value:
            setattr(module, name, replacement)


def _point_serialized_names(classes: list[type]) -> None:
    """torch.export's serialized type names (module + class name) name these classes from now on."""
    pytree = sys.modules.get("torch.utils._pytree")
    if pytree is None:
        return
    for cls in classes:
        if cls in pytree.SUPPORTED_NODES:
            pytree.SERIALIZED_TYPE_TO_PYTHON_TYPE[f"{cls.__module__}.{cls.__name__}"] = cls
    cache_clear = getattr(pytree.treespec_loads, "cache_clear", None)
    if cache_clear is not None:  # loaded specs are cached by their text, with the class they named then
        cache_clear()


def _patch_module(module: types.ModuleType) -> None:
    with _lock:
        if not _patched:
            return
        _rebind(module, _stand_in)


# --- the public functions -------------------------------------------------------------------


class TransformersPatch:
    """Returned by ``patch_transformers()``; as a context manager it restores the state it found."""

    def __init__(self, was_patched: bool) -> None:
        self._was_patched = was_patched

    def __enter__(self) -> TransformersPatch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self._was_patched:
            unpatch_transformers()


def patch_transformers() -> TransformersPatch:
    """Make every transformers output class fastoutput-backed, now and for modules imported later.

    Idempotent; works before or after ``import transformers``. ``with patch_transformers(): ...``
    undoes it on exit (unless transformers was already patched).
    """
    global _patched
    with _lock:
        handle = TransformersPatch(_patched)
        if not _patched:
            _patched = True
            _imports.on_package_import(_PACKAGE, _patch_module)
            generic = sys.modules.get(_GENERIC)
            if generic is not None:
                _patch_module(generic)  # the root first: every other class derives from it
            for module in _transformers_modules():
                _patch_module(module)
            _point_serialized_names(list(_original_of))
        return handle


def unpatch_transformers() -> None:
    """Put transformers' own classes back (a no-op when not patched)."""
    global _patched
    with _lock:
        if not _patched:
            return
        _patched = False
        _imports.remove_package_callback(_PACKAGE, _patch_module)
        for module in _transformers_modules():
            _rebind(module, _original)
        _point_serialized_names(list(_stand_in_of))


def transformers_patched() -> bool:
    """Whether transformers is patched now."""
    return _patched
