"""``ModelOutput``: the class body shared by both implementations.

Everything here is plain Python with transformers 5.x container semantics. It is the whole of the
pure-Python twin, and in the C++ implementation it is still what Dynamo reads and inlines: the core
swaps in native type slots and method descriptors after the class is created (see ``_accelerate``),
but leaves these functions in the class dict. Keep them traceable: no ``__new__``, no C calls Dynamo
cannot see through.
"""

from __future__ import annotations

import dataclasses
import reprlib
import sys
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from . import _torch
from ._compat import core
from ._tensors import is_tensor

_Meta: type = core.OutputMeta if core is not None else type


def _blocked(name: str, instance: Any) -> Exception:
    # A bare Exception on purpose: torch's collate/convert helpers fall back on TypeError only.
    return Exception(f"You cannot use ``{name}`` on a {type(instance).__name__} instance.")


def _mapping_equal(output: ModelOutput, other: object) -> Any:
    result = dict.__eq__(output, other)
    if result is True and isinstance(other, (ModelOutput, OrderedDict)):
        return list(output) == list(other)
    return result


_OBJECT_GETSTATE = getattr(object, "__getstate__", None)  # Python 3.11+


def _defines_getstate(cls: type) -> bool:
    """Whether the class says what its pickled state is (rather than object's attribute dict)."""
    getstate = getattr(cls, "__getstate__", None)
    return getstate is not None and getstate is not _OBJECT_GETSTATE


def _expand_first_field(self: ModelOutput, name: str, value: Any) -> None:
    """The first-field rule: a lone iterable first value is read as ``(key, value)`` pairs.

    Called once every other field is known to be ``None`` and ``value`` is no tensor.
    """
    if isinstance(value, dict):
        iterator: Iterator[Any] = iter(value.items())
    else:
        try:
            iterator = iter(value)
        except TypeError:  # not iterable: an ordinary value
            self[name] = value
            return
    setattr(self, name, None)
    dict.pop(self, name, None)
    for index, element in enumerate(iterator):
        is_pair = isinstance(element, (list, tuple)) and len(element) == 2 and isinstance(element[0], str)
        if not is_pair:
            if index == 0:
                self[name] = value
                return
            raise ValueError(f"Cannot set key/value for {element}. It needs to be a tuple (key, value).")
        setattr(self, element[0], element[1])
        if element[1] is not None:
            self[element[0]] = element[1]


class ModelOutput(dict, metaclass=_Meta):  # type: ignore[type-arg,metaclass]
    """Base class of every model output: a dict of the fields that are not ``None``.

    Subclasses are declared with ``@dataclass``. Fields are read as attributes (``out.logits``), by
    name (``out["logits"]``) or by position among the fields that are set (``out[0]``, ``out[:2]``).
    """

    # Stand-ins for transformers 5.x classes (fastoutput._patch) set this to a method mapping the old
    # cache names to `cache`; item get/set and attribute set go through it for str names.
    _replace_old_cache_name: Any = None

    def __init_subclass__(cls) -> None:
        _torch.register_class(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Only the base class and undecorated subclasses get here; @dataclass replaces __init__.
        # OrderedDict parses the arguments, so its errors are the ones transformers users see.
        for key, value in OrderedDict(*args, **kwargs).items():
            self[key] = value
        cls = type(self)
        if cls not in BASES and not dataclasses.is_dataclass(self):
            raise TypeError(
                f"{cls.__module__}.{cls.__name__} is not a dataclass."
                " This is a subclass of ModelOutput and so must use the @dataclass decorator."
            )

    def __post_init__(self) -> None:
        cls = type(self)
        class_fields = dataclasses.fields(self)  # type: ignore[arg-type]
        if not class_fields:
            raise ValueError(f"{cls.__name__} has no fields.")
        if not all(field.default is None for field in class_fields[1:]):
            raise ValueError(f"{cls.__name__} should not have more than one required field.")
        first = class_fields[0].name
        first_value = getattr(self, first)
        others_unset = all(getattr(self, field.name) is None for field in class_fields[1:])
        if others_unset and first_value is not None and not is_tensor(first_value):
            _expand_first_field(self, first, first_value)
            return
        for field in class_fields:
            value = getattr(self, field.name)
            if value is not None:
                self[field.name] = value

    # Item access. ``*_`` keeps CPython from inlining this function for ``out[k]`` (it only inlines
    # two-argument __getitem__), so eager code reaches the native slot; Dynamo still reads this.
    def __getitem__(self, k: Any, *_: Any) -> Any:
        if isinstance(k, str):
            if self._replace_old_cache_name is not None:
                k = self._replace_old_cache_name(k)
            if not dict.__contains__(self, k):  # a KeyError, as transformers gives, even with a __missing__
                raise KeyError(k)
            return dict.__getitem__(self, k)
        return self.to_tuple()[k]

    def __setitem__(self, key: Any, value: Any) -> None:
        if self._replace_old_cache_name is not None and isinstance(key, str):
            key = self._replace_old_cache_name(key)
        dict.__setitem__(self, key, value)
        object.__setattr__(self, key, value)

    def __setattr__(self, name: str, value: Any) -> None:
        # 5.x: a declared field that is not None is stored as a key too; the bare base class keeps
        # 4.57's rule (only keys that exist are updated).
        if self._replace_old_cache_name is not None and isinstance(name, str):
            name = self._replace_old_cache_name(name)
        declared = getattr(type(self), "__dataclass_fields__", None)
        if declared is not None:
            # what `name in {f.name for f in fields(self)}` says (ClassVars and InitVars are no fields),
            # without building the set on every assignment
            field = declared.get(name)
            stores = field is not None and field._field_type is dataclasses._FIELD  # type: ignore[attr-defined]
        else:
            stores = name in self
        if stores and value is not None:
            dict.__setitem__(self, name, value)
        object.__setattr__(self, name, value)

    def to_tuple(self) -> tuple[Any, ...]:
        """The values that are set, in key order (nested outputs are kept as they are)."""
        if type(self).__getitem__ is ModelOutput.__getitem__:
            return tuple(dict.values(self))
        return tuple(self[k] for k in self.keys())  # an overridden __getitem__ decides, as in transformers

    def __delitem__(self, *args: Any, **kwargs: Any) -> None:
        raise _blocked("__delitem__", self)

    def pop(self, *args: Any, **kwargs: Any) -> Any:
        raise _blocked("pop", self)

    def setdefault(self, *args: Any, **kwargs: Any) -> Any:
        raise _blocked("setdefault", self)

    def update(self, *args: Any, **kwargs: Any) -> None:
        raise _blocked("update", self)

    # OrderedDict's remaining behaviour, on top of a plain dict (docs/compatibility.md says why).
    def popitem(self, last: bool = True) -> tuple[Any, Any]:
        if not self:
            raise KeyError("dictionary is empty")
        key = next(reversed(self)) if last else next(iter(self))
        return key, dict.pop(self, key)

    def move_to_end(self, key: Any, last: bool = True) -> None:
        if key not in self:
            raise KeyError(key)
        key = next(stored for stored in self if stored == key)  # keep the key object that is stored
        value = dict.pop(self, key)
        if last:
            dict.__setitem__(self, key, value)
            return
        rest = list(dict.items(self))
        dict.clear(self)
        dict.__setitem__(self, key, value)
        for other_key, other_value in rest:
            dict.__setitem__(self, other_key, other_value)

    def copy(self) -> Any:
        new = type(self)()
        for key, value in self.items():
            new[key] = value
        return new

    def __ior__(self, other: Any) -> Any:
        for key, value in OrderedDict(other).items():
            self[key] = value
        return self

    def __or__(self, other: Any) -> Any:
        if not isinstance(other, dict):
            return NotImplemented
        new = type(self)(self)
        return new.__ior__(other)

    def __ror__(self, other: Any) -> Any:
        if not isinstance(other, dict):
            return NotImplemented
        new = type(self)(other)
        return new.__ior__(self)

    # Mapping comparison, order-sensitive between two ordered mappings. The dataclass __eq__ of
    # subclasses replaces __eq__ but not __ne__, so there `!=` compares the mapping stores, as in
    # transformers (where it is OrderedDict's).
    def __eq__(self, other: object) -> Any:
        return _mapping_equal(self, other)

    def __ne__(self, other: object) -> Any:
        equal = _mapping_equal(self, other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        name = type(self).__name__
        if not self:
            return f"{name}()"
        if sys.version_info >= (3, 12):
            return f"{name}({dict(self.items())!r})"
        return f"{name}({list(self.items())!r})"

    def __reduce__(self) -> Any:
        if _defines_getstate(type(self)):
            state = self.__getstate__()  # e.g. @dataclass(frozen=True, slots=True): what its __setstate__ reads
        else:
            state = dict(self.__dict__) or None
        items = iter(self.items())
        if not dataclasses.is_dataclass(self):
            return type(self), (), state, None, items
        args = tuple(getattr(self, field.name) for field in dataclasses.fields(self))
        return type(self), args, state, None, items

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)


# The classes that may be instantiated without being dataclasses: this one, and its stand-in for
# transformers' own ModelOutput (fastoutput._patch).
BASES: set[type] = {ModelOutput}

if core is not None:
    from ._accelerate import accelerate

    accelerate(ModelOutput, _expand_first_field)
else:
    _torch.register_class(ModelOutput)
