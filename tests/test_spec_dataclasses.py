"""Spec §8: the ``dataclasses`` module functions on outputs.

``x`` is ``MOT(a=30, c=10)`` as in the spec.
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING, asdict, astuple, fields, is_dataclass, replace

import pytest
import torch

from tests._helpers import keys
from fastoutput import ModelOutput

from .spec_classes import MOT, Child, ChildNoDataclass, Opt


def make_x() -> MOT:
    return MOT(a=30, c=10)


def test_fields_names_and_defaults() -> None:
    """§8: ``fields(MOT)`` names ``['a','b','c']`` with defaults ``[MISSING, None, None]``."""
    assert [f.name for f in fields(MOT)] == ["a", "b", "c"]
    assert [f.default for f in fields(MOT)] == [MISSING, None, None]
    assert [f.default_factory for f in fields(MOT)] == [MISSING, MISSING, MISSING]
    assert [f.name for f in fields(make_x())] == ["a", "b", "c"]


def test_fields_of_children() -> None:
    """§8/§3.1: a dataclass child lists the parent's fields first; an undecorated child inherits them."""
    assert [f.name for f in fields(Child)] == ["a", "b", "c", "d"]
    assert [f.name for f in fields(ChildNoDataclass(a=1))] == ["a", "b", "c"]


@pytest.mark.parametrize("target", [lambda: ModelOutput(), lambda: ModelOutput, lambda: ModelOutput(a=1)], ids=["instance", "class", "instance-with-key"])
def test_fields_of_base_raises(target) -> None:
    """§8: ``fields(ModelOutput())`` raises ``TypeError: must be called with a dataclass type or instance``."""
    with pytest.raises(TypeError) as info:
        fields(target())
    assert type(info.value) is TypeError
    assert str(info.value) == "must be called with a dataclass type or instance"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (lambda: ModelOutput, False),
        (lambda: ModelOutput(), False),
        (lambda: MOT, True),
        (make_x, True),
    ],
    ids=["ModelOutput", "ModelOutput()", "MOT", "x"],
)
def test_is_dataclass(target, expected: bool) -> None:
    """§8: ``is_dataclass`` is False for the base (class and instance), True for MOT and ``x``."""
    assert is_dataclass(target()) is expected


def test_asdict_reads_attributes() -> None:
    """§8: ``asdict(x) == {'a': 30, 'b': None, 'c': 10}``: read from attributes, None included."""
    result = asdict(make_x())
    assert result == {"a": 30, "b": None, "c": 10}
    assert type(result) is dict
    assert list(result) == ["a", "b", "c"]


def test_asdict_nested() -> None:
    """§8: nested outputs become dicts, tuples stay tuples, values are deep-copied."""
    t = torch.ones(2)
    inner = Opt(a=1)
    result = asdict(MOT(a=inner, b=(t,)))
    assert result["a"] == {"a": 1, "b": None, "c": None}
    assert type(result["a"]) is dict
    assert type(result["b"]) is tuple
    assert len(result["b"]) == 1
    assert result["b"][0] is not t
    assert torch.equal(result["b"][0], t)
    assert result["c"] is None
    assert list(result) == ["a", "b", "c"]


def test_astuple_vs_to_tuple() -> None:
    """§8: ``astuple(x) == (30, None, 10)``, whereas ``to_tuple()`` gives ``(30, 10)``."""
    x = make_x()
    assert astuple(x) == (30, None, 10)
    assert x.to_tuple() == (30, 10)


def test_asdict_ignores_mapping_store() -> None:
    """§8: extra keys are ignored and the attribute wins: ``{'a': None, 'b': None, 'c': None}``."""
    y = MOT(a=30)
    y["zzz"] = 1
    y.a = None
    assert asdict(y) == {"a": None, "b": None, "c": None}
    assert astuple(y) == (None, None, None)


@pytest.mark.parametrize(
    ("changes", "expected_keys", "expected_fields"),
    [
        ({"b": 5}, ["a", "b", "c"], (30, 5, 10)),
        ({"a": None}, ["c"], (None, None, 10)),
        ({}, ["a", "c"], (30, None, 10)),
        ({"c": None}, ["a"], (30, None, None)),
    ],
    ids=["replace(x,b=5)", "replace(x,a=None)", "replace(x)", "replace(x,c=None)"],
)
def test_replace(changes, expected_keys, expected_fields) -> None:
    """§8: ``replace`` goes through ``__init__`` and ``__post_init__``: keys in field order."""
    x = make_x()
    z = replace(x, **changes)
    assert type(z) is MOT
    assert z is not x
    assert keys(z) == expected_keys
    assert (z.a, z.b, z.c) == expected_fields
    assert keys(x) == ["a", "c"]


def test_replace_unknown_field() -> None:
    """§8: ``replace(x, zzz=1)`` raises ``TypeError: MOT.__init__() got an unexpected keyword argument 'zzz'``."""
    with pytest.raises(TypeError) as info:
        replace(make_x(), zzz=1)
    assert type(info.value) is TypeError
    assert str(info.value) == "MOT.__init__() got an unexpected keyword argument 'zzz'"


def test_replace_loses_expanded_extras() -> None:
    """§8: ``replace(MOT(a=[('x', 1)]))`` has keys ``[]``: the extra key and attribute are lost."""
    src = MOT(a=[("x", 1)])
    assert keys(src) == ["x"]
    z = replace(src)
    assert keys(z) == []
    assert not hasattr(z, "x")
    assert (z.a, z.b, z.c) == (None, None, None)


def test_replace_restores_field_order() -> None:
    """§8: replace rebuilds from the attributes, so keys come back in field order."""
    y = MOT({"c": 3, "a": 1})
    assert keys(y) == ["c", "a"]
    assert keys(replace(y)) == ["a", "c"]


def test_dataclass_fields_metadata_untouched() -> None:
    """§8: the Field objects are the standard ones (``dataclasses.Field``)."""
    assert all(isinstance(f, dataclasses.Field) for f in fields(MOT))
