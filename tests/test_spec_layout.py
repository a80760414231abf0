"""Spec §2: type, import and class layout of ``fastoutput.ModelOutput``.

Deliberate difference from transformers (decided by the lead, see the final report): the base is a
``dict`` subclass, not an ``OrderedDict`` (being an OrderedDict cost more than 10 % of construction).
So ``isinstance(x, OrderedDict)`` is False and the MRO has no ``OrderedDict``; the OrderedDict-only
methods (``move_to_end``, ``popitem(last=False)``) are provided by the class itself.
"""

from __future__ import annotations

import dataclasses
import types
import weakref
from collections import OrderedDict
from collections.abc import Mapping, MutableMapping

import pytest

import fastoutput
from fastoutput import ModelOutput

from .spec_classes import MOT, Opt


def test_base_class_is_exported_from_package() -> None:
    """``fastoutput.ModelOutput`` is the base class, a class object."""
    assert isinstance(fastoutput.ModelOutput, type)
    assert "ModelOutput" in fastoutput.__all__


def test_implementation_flag_is_cpp_or_python() -> None:
    """``fastoutput.IMPLEMENTATION`` names the implementation in use."""
    assert fastoutput.IMPLEMENTATION in ("cpp", "python")


@pytest.mark.parametrize(
    "abc",
    [dict, Mapping, MutableMapping],
    ids=["dict", "Mapping", "MutableMapping"],
)
@pytest.mark.parametrize("make", [lambda: MOT(a=30, c=10), lambda: ModelOutput(a=1)], ids=["subclass", "base"])
def test_instance_is_a_mapping(make, abc) -> None:
    """§2: instances are dicts, Mappings and MutableMappings."""
    assert isinstance(make(), abc)


@pytest.mark.parametrize("make", [lambda: MOT(a=30, c=10), lambda: ModelOutput(a=1)], ids=["subclass", "base"])
def test_instance_is_not_a_tuple(make) -> None:
    """§2: ``isinstance(x, tuple)`` is False."""
    assert not isinstance(make(), tuple)


def test_dict_base_not_ordereddict() -> None:
    """Deliberate difference (1): a ``dict`` subclass, not an ``OrderedDict`` (spec §2 says OrderedDict)."""
    assert issubclass(ModelOutput, dict)
    assert not issubclass(ModelOutput, OrderedDict)
    assert not isinstance(MOT(a=30), OrderedDict)


def test_mro_shape() -> None:
    """§2 MRO ``MOT, ModelOutput, OrderedDict, dict, object``, minus OrderedDict (deliberate difference (1))."""
    assert MOT.__mro__ == (MOT, ModelOutput, dict, object)
    assert ModelOutput.__mro__ == (ModelOutput, dict, object)


def test_base_class_is_not_a_dataclass() -> None:
    """§2: the base class is not a dataclass, neither the class nor an instance."""
    assert not dataclasses.is_dataclass(ModelOutput)
    assert not dataclasses.is_dataclass(ModelOutput(a=1))
    assert "__dataclass_fields__" not in ModelOutput.__dict__


def test_base_class_declares_no_slots() -> None:
    """§2: the base class has no ``__slots__``."""
    assert "__slots__" not in ModelOutput.__dict__


@pytest.mark.parametrize("make", [lambda: MOT(a=30, c=10), lambda: ModelOutput(a=1)], ids=["subclass", "base"])
def test_instances_have_a_dict(make) -> None:
    """§2: instances have a ``__dict__`` (the attribute store of §1)."""
    obj = make()
    assert isinstance(obj.__dict__, dict)
    assert isinstance(vars(obj), dict)


@pytest.mark.parametrize("make", [lambda: MOT(a=30, c=10), lambda: ModelOutput(a=1)], ids=["subclass", "base"])
def test_instances_support_weakrefs(make) -> None:
    """§2: instances support weak references."""
    obj = make()
    ref = weakref.ref(obj)
    assert ref() is obj
    proxy = weakref.proxy(obj)
    assert proxy["a"] == obj["a"]


def test_class_subscription_gives_generic_alias() -> None:
    """§2: ``MOT[int]`` is a ``types.GenericAlias``."""
    alias = MOT[int]
    assert type(alias) is types.GenericAlias
    assert alias.__origin__ is MOT
    assert alias.__args__ == (int,)
    assert type(ModelOutput[str, int]) is types.GenericAlias


def test_to_tuple_is_public() -> None:
    """§2: ``to_tuple()`` is the public method beyond the mapping API."""
    assert callable(ModelOutput.to_tuple)
    assert MOT(a=30, c=10).to_tuple() == (30, 10)


@pytest.mark.parametrize(
    "name",
    [
        "__getitem__",
        "__setitem__",
        "__delitem__",
        "pop",
        "setdefault",
        "update",
        "__reduce__",
        "__setattr__",
        "__init__",
        "__post_init__",
        "__init_subclass__",
    ],
)
def test_base_overrides_mapping_method(name: str) -> None:
    """§2: the base class overrides item get/set/delete, pop, setdefault, update, __reduce__,
    attribute set, __init__, __post_init__ and __init_subclass__ (not inherited from dict)."""
    assert name in ModelOutput.__dict__
    assert getattr(ModelOutput, name) is not getattr(dict, name, None)


def test_move_to_end_behaves_like_ordereddict() -> None:
    """The OrderedDict-only ``move_to_end`` still exists and reorders keys only (§5.3)."""
    y = MOT(a=30, c=10)
    assert y.move_to_end("a") is None
    assert list(y.keys()) == ["c", "a"]
    assert (y.a, y.b, y.c) == (30, None, 10)
    y.move_to_end("a", last=False)
    assert list(y.keys()) == ["a", "c"]
    with pytest.raises(KeyError) as info:
        y.move_to_end("zzz")
    assert info.value.args == ("zzz",)


def test_popitem_last_false_behaves_like_ordereddict() -> None:
    """The OrderedDict-only ``popitem(last=False)`` pops the first key (§5.3)."""
    y = Opt(a=1, b=2, c=3)
    assert y.popitem(last=False) == ("a", 1)
    assert y.popitem() == ("c", 3)
    assert list(y.keys()) == ["b"]
    assert (y.a, y.b, y.c) == (1, 2, 3)


def test_views_are_plain_dict_views() -> None:
    """Deliberate difference (1): views are ``dict_keys``/``dict_values``/``dict_items``
    (transformers: ``odict_keys`` etc.); they behave the same (ordered, set-like keys/items)."""
    x = MOT(a=30, c=10)
    assert type(x.keys()) is type({}.keys())
    assert type(x.values()) is type({}.values())
    assert type(x.items()) is type({}.items())
    assert x.keys() == {"a", "c"}
    assert list(x.values()) == [30, 10]
    assert list(reversed(x.keys())) == ["c", "a"]


def test_instance_dict_write_through() -> None:
    """§1/§2: the attribute store is the instance ``__dict__``: it shows every field (declaration
    order, None included) then the extras, and writes, updates and deletes made through
    ``vars(out)`` are seen by attribute access (fields and extras), never by the mapping store.

    (In the C++ core ``vars(out)`` is a write-through ``dict`` subclass built on each access, see
    docs/compatibility.md; the observable results pinned here are the same for both.)
    """
    y = MOT(a=30)
    y.zzz = 0
    assert vars(y) == {"a": 30, "b": None, "c": None, "zzz": 0}
    assert list(vars(y)) == ["a", "b", "c", "zzz"]
    assert isinstance(vars(y), dict)
    vars(y)["b"] = 4
    vars(y)["zzz"] = 1
    vars(y)["q"] = 2
    assert (y.b, y.zzz, y.q) == (4, 1, 2)
    y.__dict__.update(a=5, r=6)
    assert (y.a, y.r) == (5, 6)
    del vars(y)["q"]
    assert not hasattr(y, "q")
    assert list(y.keys()) == ["a"]  # the mapping store is never touched
    assert y["a"] == 30


def test_instance_dict_assignment_replaces_attributes() -> None:
    """§1/§2: assigning a whole new ``__dict__`` replaces the attribute store (both
    implementations); the mapping store is not touched."""
    y = MOT(a=30, c=10)
    y.__dict__ = {"a": 1, "b": 2, "c": None, "zzz": 3}
    assert (y.a, y.b, y.c, y.zzz) == (1, 2, None, 3)
    assert vars(y) == {"a": 1, "b": 2, "c": None, "zzz": 3}
    assert list(y.items()) == [("a", 30), ("c", 10)]
