"""Spec §3: declaring subclasses and constructing them (§3.1 to §3.8), table row by table row.

Every expected value, exception type and message comes from ``shared/spec/modeloutput.md`` (beside the repository).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import subprocess
import sys
import textwrap
from collections import OrderedDict, namedtuple
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import pytest
import torch
import torch.fx

from tests._helpers import IS_CPP, extras_of, fields_of, keys
import fastoutput
from fastoutput import ModelOutput

from .spec_classes import (
    MODULE,
    MOT,
    BaseLike,
    Child,
    ChildNoDataclass,
    FactoryDefault,
    Frozen,
    NoDataclass,
    NoFields,
    NonNoneDefault,
    One,
    OneReq,
    Opt,
    OwnPostInit,
    TwoRequired,
    field_names,
)

KEPT = object()  # marker: the first field keeps the very object that was passed


# ---------------------------------------------------------------------------------------------
# §3.1 Declaring
# ---------------------------------------------------------------------------------------------


def test_dataclass_init_replaces_base_init() -> None:
    """§3.1: ``@dataclass`` generates ``MOT.__init__`` (qualname ``MOT.__init__``), replacing the base one."""
    init = MOT.__dict__["__init__"]
    assert init.__qualname__ == "MOT.__init__"
    assert MOT.__init__ is not ModelOutput.__init__


def test_dataclass_adds_repr_eq_and_removes_hash() -> None:
    """§3.1: ``@dataclass`` adds ``__repr__`` and ``__eq__`` and sets ``__hash__ = None``."""
    assert "__repr__" in MOT.__dict__
    assert "__eq__" in MOT.__dict__
    assert MOT.__dict__["__hash__"] is None


def test_dataclass_match_args() -> None:
    """§3.1: ``__match_args__ == ('a', 'b', 'c')``; positional class patterns work."""
    assert MOT.__match_args__ == ("a", "b", "c")
    match MOT(a=30, c=10):
        case MOT(p, q, r):
            assert (p, q, r) == (30, None, 10)
        case _:  # pragma: no cover
            pytest.fail("positional class pattern did not match")


def test_dataclass_fields_and_params() -> None:
    """§3.1: ``__dataclass_fields__`` and ``__dataclass_params__`` (init/repr/eq True; order/unsafe_hash/frozen False)."""
    assert list(MOT.__dataclass_fields__) == ["a", "b", "c"]
    params = MOT.__dataclass_params__
    assert (params.init, params.repr, params.eq) == (True, True, True)
    assert (params.order, params.unsafe_hash, params.frozen) == (False, False, False)


def test_class_attributes_hold_none_defaults() -> None:
    """§3.1: ``MOT.b is None`` (class attributes hold the defaults).

    Implementations differ on purpose (deliberate difference (2)): the C++ core keeps declared
    fields in native slots with member descriptors, so class attribute access returns the
    descriptor; the field default stays recorded in ``dataclasses.fields``.
    """
    assert dataclasses.fields(MOT)[1].default is None
    assert dataclasses.fields(MOT)[2].default is None
    if IS_CPP:
        assert inspect.ismemberdescriptor(MOT.__dict__["b"])
        assert inspect.ismemberdescriptor(MOT.__dict__["c"])
    else:
        assert MOT.b is None
        assert MOT.c is None


def test_auto_generated_docstring() -> None:
    """§3.1: without a docstring, ``__doc__`` repeats the signature."""
    assert MOT.__doc__ == "MOT(a: float, b: Optional[float] = None, c: Optional[float] = None)"


def test_signature() -> None:
    """§3.1: ``inspect.signature(MOT)``."""
    assert str(inspect.signature(MOT)) == "(a: float, b: Optional[float] = None, c: Optional[float] = None) -> None"


def test_generated_init_goes_through_attribute_set_rule() -> None:
    """§3.1/§0.2: the generated ``__init__`` assigns through the attribute-set rule, so even a
    subclass whose own ``__post_init__`` skips the base one ends with keys ``['a','b']`` (5.x)."""
    out = OwnPostInit(a=1, b=2)
    assert out.post_init_ran is True
    assert keys(out) == ["a", "b"]
    assert (out.a, out.b) == (1, 2)


def test_own_post_init_none_fields_have_no_key() -> None:
    """§0.2: keys during ``__init__`` are the non-None fields only, in field order."""
    out = OwnPostInit(b=2)
    assert keys(out) == ["b"]
    assert OwnPostInit(b=2, a=1).keys() == {"a", "b"}
    assert keys(OwnPostInit(b=2, a=1)) == ["a", "b"]


def test_dataclass_child_appends_fields() -> None:
    """§3.1: ``Child(a=1, d=4)`` has fields ``a, b, c, d`` and keys ``['a', 'd']``."""
    out = Child(a=1, d=4)
    assert field_names(Child) == ["a", "b", "c", "d"]
    assert keys(out) == ["a", "d"]
    assert fields_of(out) == {"a": 1, "b": None, "c": None, "d": 4}


def test_undecorated_child_reuses_parent() -> None:
    """§3.1: a plain child of a dataclass subclass reuses init, fields and repr, with its own name."""
    assert dataclasses.is_dataclass(ChildNoDataclass)
    assert field_names(ChildNoDataclass) == ["a", "b", "c"]
    assert ChildNoDataclass.__init__ is MOT.__init__
    out = ChildNoDataclass(a=1)
    assert type(out) is ChildNoDataclass
    assert keys(out) == ["a"]
    assert repr(out) == "ChildNoDataclass(a=1, b=None, c=None)"


def test_undecorated_direct_subclass_can_be_declared() -> None:
    """§3.1: a direct subclass without ``@dataclass`` can be declared (it fails only when instantiated)."""

    class Plain(ModelOutput):
        a: Optional[float] = None

    assert issubclass(Plain, ModelOutput)


def test_init_subclass_rejects_keywords() -> None:
    """§3.1: ``class K(ModelOutput, foo=1)`` fails at class creation with the hook's TypeError."""
    with pytest.raises(TypeError) as info:

        class K(ModelOutput, foo=1):  # type: ignore[call-arg]
            pass

    assert type(info.value) is TypeError
    assert str(info.value) == "ModelOutput.__init_subclass__() got an unexpected keyword argument 'foo'"


def test_init_subclass_does_not_chain_to_mixins() -> None:
    """§3.1: the subclass hook does not call ``super().__init_subclass__()``: a mixin after ModelOutput is skipped."""
    calls: list[str] = []

    class Mixin:
        def __init_subclass__(cls, **kwargs: Any) -> None:
            calls.append(cls.__name__)
            super().__init_subclass__(**kwargs)

    class K(ModelOutput, Mixin):
        pass

    assert calls == []
    assert issubclass(K, Mixin)


# ---------------------------------------------------------------------------------------------
# §3.2 Keyword and positional construction
# ---------------------------------------------------------------------------------------------

CONSTRUCTION_ROWS = [
    ("MOT(a=30)", lambda: MOT(a=30), ["a"], {"a": 30, "b": None, "c": None}),
    ("MOT(a=30,c=10)", lambda: MOT(a=30, c=10), ["a", "c"], {"a": 30, "b": None, "c": 10}),
    ("MOT(30,10)", lambda: MOT(30, 10), ["a", "b"], {"a": 30, "b": 10, "c": None}),
    ("MOT(30,None,10)", lambda: MOT(30, None, 10), ["a", "c"], {"a": 30, "b": None, "c": 10}),
    ("Opt(c=3,a=1)-field-order", lambda: Opt(c=3, a=1), ["a", "c"], {"a": 1, "b": None, "c": 3}),
    ("MOT(a=0,b=False,c='')-falsy-kept", lambda: MOT(a=0, b=False, c=""), ["a", "b", "c"], {"a": 0, "b": False, "c": ""}),
    ("MOT(a=None)", lambda: MOT(a=None), [], {"a": None, "b": None, "c": None}),
    ("MOT(a=None,b=2)", lambda: MOT(a=None, b=2), ["b"], {"a": None, "b": 2, "c": None}),
    ("Opt()", lambda: Opt(), [], {"a": None, "b": None, "c": None}),
    ("OneReq(sequences=None)-style", lambda: OneReq(a=None), [], {"a": None}),
]


@pytest.mark.parametrize(
    ("make", "expected_keys", "expected_fields"),
    [row[1:] for row in CONSTRUCTION_ROWS],
    ids=[row[0] for row in CONSTRUCTION_ROWS],
)
def test_keyword_and_positional_construction(make: Callable[[], Any], expected_keys: list, expected_fields: dict) -> None:
    """§3.2 table: keys (only non-None fields, in field order) and attributes after construction."""
    out = make()
    assert keys(out) == expected_keys
    assert fields_of(out) == expected_fields
    assert extras_of(out) == {}
    assert dict(out) == {k: expected_fields[k] for k in expected_keys}


def _local_class() -> type:
    @dataclass
    class Old(ModelOutput):
        a: Optional[float] = None

    return Old


ARGUMENT_ERRORS = [
    ("too-many-positional", lambda: MOT(30, 1, 2, 3), "MOT.__init__() takes from 2 to 4 positional arguments but 5 were given"),
    ("unexpected-keyword", lambda: MOT(a=30, d=1), "MOT.__init__() got an unexpected keyword argument 'd'"),
    ("missing-required", lambda: MOT(), "MOT.__init__() missing 1 required positional argument: 'a'"),
    ("multiple-values", lambda: MOT(30, a=30), "MOT.__init__() got multiple values for argument 'a'"),
    (
        "BaseModelOutput(1,2,3,4)-style",
        lambda: BaseLike(1, 2, 3, 4),
        "BaseLike.__init__() takes from 1 to 4 positional arguments but 5 were given",
    ),
    ("One(1,2)-optional", lambda: One(1, 2), "One.__init__() takes from 1 to 2 positional arguments but 3 were given"),
    ("OneReq(1,2)-required", lambda: OneReq(1, 2), "OneReq.__init__() takes 2 positional arguments but 3 were given"),
    ("OneReq()-missing", lambda: OneReq(), "OneReq.__init__() missing 1 required positional argument: 'a'"),
    ("Opt-too-many", lambda: Opt(1, 2, 3, 4), "Opt.__init__() takes from 1 to 4 positional arguments but 5 were given"),
    (
        "local-class-qualname",
        lambda: _local_class()(1, 2),
        "_local_class.<locals>.Old.__init__() takes from 1 to 2 positional arguments but 3 were given",
    ),
    ("Child-unexpected", lambda: Child(a=1, e=2), "Child.__init__() got an unexpected keyword argument 'e'"),
    ("unexpected-keyword-before-too-many", lambda: MOT(30, 1, 2, 3, d=1), "MOT.__init__() got an unexpected keyword argument 'd'"),
    ("multiple-values-later-field", lambda: MOT(30, 1, 2, c=3), "MOT.__init__() got multiple values for argument 'c'"),
    ("missing-with-other-keyword", lambda: MOT(b=1), "MOT.__init__() missing 1 required positional argument: 'a'"),
    ("unexpected-before-missing", lambda: MOT(d=1), "MOT.__init__() got an unexpected keyword argument 'd'"),
    ("Opt-multiple-values", lambda: Opt(1, 2, 3, a=4), "Opt.__init__() got multiple values for argument 'a'"),
    ("TwoRequired()-missing-2", lambda: TwoRequired(), "TwoRequired.__init__() missing 2 required positional arguments: 'a' and 'b'"),
    ("non-str-keyword", lambda: MOT(**{1: 2}), "keywords must be strings"),
]


@pytest.mark.parametrize(
    ("call", "message"), [row[1:] for row in ARGUMENT_ERRORS], ids=[row[0] for row in ARGUMENT_ERRORS]
)
def test_argument_errors(call: Callable[[], Any], message: str) -> None:
    """§3.2: argument errors are the dataclass ``__init__``'s, with the class ``__qualname__``."""
    with pytest.raises(TypeError) as info:
        call()
    assert type(info.value) is TypeError
    assert str(info.value) == message


# ---------------------------------------------------------------------------------------------
# §3.3 / §3.4 The first-field special case
# ---------------------------------------------------------------------------------------------


def _gen_pairs():
    yield ("c", 3)


class _PairsIterable:
    """A custom iterable (not a list/tuple/dict) yielding ``(name, value)`` pairs."""

    def __init__(self, *pairs: tuple) -> None:
        self.pairs = pairs

    def __iter__(self):
        return iter(self.pairs)


class _ItemsDict(dict):
    """A dict subclass: the first-field rule iterates over its ``items()``."""

    def items(self):  # type: ignore[override]
        return iter([("b", 99)])


class _NoIter:
    """An object without ``__iter__``."""


class _PairTensor(torch.Tensor):
    """A torch tensor whose iteration would yield a pair: a tensor must never be iterated."""

    def __iter__(self):
        return iter([("b", 1)])


class _PairArray(np.ndarray):
    """A numpy array whose iteration would yield a pair: an array must never be iterated."""

    def __iter__(self):
        return iter([("b", 1)])


FIRST_FIELD_ROWS = [
    # (id, make first value, keys, fields, extras)
    ("dict-a-b", lambda: {"a": 30, "b": 10}, ["a", "b"], {"a": 30, "b": 10, "c": None}, {}),
    ("dict-b-a-pair-order", lambda: {"b": 10, "a": 30}, ["b", "a"], {"a": 30, "b": 10, "c": None}, {}),
    ("dict-b-None", lambda: {"a": 30, "b": None}, ["a"], {"a": 30, "b": None, "c": None}, {}),
    ("dict-without-a-resets-a", lambda: {"b": 10}, ["b"], {"a": None, "b": 10, "c": None}, {}),
    ("empty-dict", lambda: {}, [], {"a": None, "b": None, "c": None}, {}),
    ("empty-list", lambda: [], [], {"a": None, "b": None, "c": None}, {}),
    ("empty-tuple", lambda: (), [], {"a": None, "b": None, "c": None}, {}),
    ("empty-str", lambda: "", [], {"a": None, "b": None, "c": None}, {}),
    ("str-abc-kept", lambda: "abc", ["a"], {"a": KEPT, "b": None, "c": None}, {}),
    ("dict-extra-key", lambda: {"a": 1, "zzz": 2}, ["a", "zzz"], {"a": 1, "b": None, "c": None}, {"zzz": 2}),
    ("dict-non-str-key-kept", lambda: {1: 2}, ["a"], {"a": KEPT, "b": None, "c": None}, {}),
    ("dict-nested-dict", lambda: {"a": {"a": 1}}, ["a"], {"a": {"a": 1}, "b": None, "c": None}, {}),
    ("list-of-tuples", lambda: [("a", 30), ("b", 10)], ["a", "b"], {"a": 30, "b": 10, "c": None}, {}),
    ("list-of-lists", lambda: [["a", 30], ["b", 10]], ["a", "b"], {"a": 30, "b": 10, "c": None}, {}),
    ("tuple-of-one-pair", lambda: (("a", 30),), ["a"], {"a": 30, "b": None, "c": None}, {}),
    ("iterator-of-pairs", lambda: iter([("c", 3)]), ["c"], {"a": None, "b": None, "c": 3}, {}),
    ("generator-of-pairs", _gen_pairs, ["c"], {"a": None, "b": None, "c": 3}, {}),
    ("pairs-b-a", lambda: [("b", 2), ("a", 1)], ["b", "a"], {"a": 1, "b": 2, "c": None}, {}),
    ("pair-with-None", lambda: [("a", None), ("b", 2)], ["b"], {"a": None, "b": 2, "c": None}, {}),
    ("pair-extra-name", lambda: [("x", 30)], ["x"], {"a": None, "b": None, "c": None}, {"x": 30}),
    ("tuple-of-ints-kept", lambda: (30, 30), ["a"], {"a": KEPT, "b": None, "c": None}, {}),
    ("one-pair-tuple-kept", lambda: ("x", 30), ["a"], {"a": KEPT, "b": None, "c": None}, {}),
    ("list-of-ints-kept", lambda: [1, 2, 3], ["a"], {"a": KEPT, "b": None, "c": None}, {}),
    ("int-kept", lambda: 5, ["a"], {"a": KEPT, "b": None, "c": None}, {}),
    ("no-__iter__-kept", lambda: _NoIter(), ["a"], {"a": KEPT, "b": None, "c": None}, {}),
    ("torch-tensor-kept", lambda: torch.ones(2), ["a"], {"a": KEPT, "b": None, "c": None}, {}),
    ("numpy-array-kept", lambda: np.ones(2), ["a"], {"a": KEPT, "b": None, "c": None}, {}),
    ("another-instance", lambda: MOT(a=1, b=2), ["a", "b"], {"a": 1, "b": 2, "c": None}, {}),
    ("namedtuple-pair", lambda: [namedtuple("P", "k v")("b", 2)], ["b"], {"a": None, "b": 2, "c": None}, {}),
    ("str-subclass-key", lambda: [(type("S", (str,), {})("b"), 2)], ["b"], {"a": None, "b": 2, "c": None}, {}),
    ("custom-iterable", lambda: _PairsIterable(("c", 1)), ["c"], {"a": None, "b": None, "c": 1}, {}),
    ("list-subclass-pair", lambda: [type("L", (list,), {})(["b", 1])], ["b"], {"a": None, "b": 1, "c": None}, {}),
    ("list-of-str-kept", lambda: ["ab", "cd"], ["a"], {"a": KEPT, "b": None, "c": None}, {}),
    ("ordereddict-pair-order", lambda: OrderedDict([("c", 1), ("a", 2)]), ["c", "a"], {"a": 2, "b": None, "c": 1}, {}),
    ("dict-subclass-uses-items", lambda: _ItemsDict(a=1), ["b"], {"a": None, "b": 99, "c": None}, {}),
    ("pair-with-None-later", lambda: [("a", 1), ("b", None)], ["a"], {"a": 1, "b": None, "c": None}, {}),
]


@pytest.mark.parametrize("how", ["positional", "keyword"])
@pytest.mark.parametrize(
    ("make", "expected_keys", "expected_fields", "expected_extras"),
    [row[1:] for row in FIRST_FIELD_ROWS],
    ids=[row[0] for row in FIRST_FIELD_ROWS],
)
def test_first_field_special_case(make, expected_keys, expected_fields, expected_extras, how) -> None:
    """§3.4 table: a lone iterable first value is expanded as ``(key, value)`` pairs, or kept."""
    value = make()
    out = MOT(value) if how == "positional" else MOT(a=value)
    assert type(out) is MOT
    assert keys(out) == expected_keys
    actual = fields_of(out)
    for name, expected in expected_fields.items():
        if expected is KEPT:
            assert actual[name] is value
            assert out[name] is value
        else:
            assert actual[name] == expected
    assert extras_of(out) == expected_extras
    for key in expected_keys:
        assert out[key] is getattr(out, key)


FIRST_FIELD_ERRORS = [
    ("dict-non-str-later-key", lambda: {"a": 1, 2: 3}, "Cannot set key/value for (2, 3). It needs to be a tuple (key, value)."),
    ("non-str-later-pair", lambda: [("a", 30), (10, 10)], "Cannot set key/value for (10, 10). It needs to be a tuple (key, value)."),
    ("triple-later", lambda: [("a", 30), ("b", 1, 2)], "Cannot set key/value for ('b', 1, 2). It needs to be a tuple (key, value)."),
    ("str-later", lambda: [("a", 1), "x"], "Cannot set key/value for x. It needs to be a tuple (key, value)."),
]


@pytest.mark.parametrize(
    ("make", "message"), [row[1:] for row in FIRST_FIELD_ERRORS], ids=[row[0] for row in FIRST_FIELD_ERRORS]
)
def test_first_field_later_non_pair_raises(make, message) -> None:
    """§3.4: an element after index 0 that is not a pair raises ValueError with ``str(element)``."""
    with pytest.raises(ValueError) as info:
        MOT(make())
    assert type(info.value) is ValueError
    assert str(info.value) == message


def test_first_field_generator_of_ints_consumes_first_item() -> None:
    """§3.4: a generator of ints is kept as the value, but its first item has been consumed."""
    gen = (i for i in [1, 2, 3])
    out = MOT(gen)
    assert keys(out) == ["a"]
    assert out.a is gen
    assert out["a"] is gen
    assert list(gen) == [2, 3]


def test_first_field_iter_error_propagates() -> None:
    """§3.4/§3.3: an exception other than TypeError from ``iter()`` propagates (``RuntimeError: boom``)."""

    class Boom:
        def __iter__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError) as info:
        MOT(Boom())
    assert type(info.value) is RuntimeError
    assert str(info.value) == "boom"


def test_first_field_error_during_iteration_propagates() -> None:
    """§3.3: an error raised while walking the elements propagates (the half-built object is dropped)."""

    def pairs():
        yield ("a", 1)
        raise RuntimeError("mid")

    with pytest.raises(RuntimeError, match="^mid$"):
        MOT(pairs())


def test_first_field_iter_typeerror_means_not_iterable() -> None:
    """§3.3: a TypeError from ``iter()`` means "not iterable": the value is stored as it is."""

    class NotIterable:
        def __iter__(self):
            raise TypeError("nope")

    value = NotIterable()
    out = MOT(value)
    assert keys(out) == ["a"]
    assert out.a is value


def test_first_field_no_expansion_when_another_field_set() -> None:
    """§3.4: ``{'a': 30}`` together with ``b=1``: no expansion, because another field is set."""
    out = MOT({"a": 30}, b=1)
    assert keys(out) == ["a", "b"]
    assert out.a == {"a": 30}
    assert out.b == 1
    out = MOT({"a": 30}, None, 5)
    assert keys(out) == ["a", "c"]
    assert out.a == {"a": 30}


def test_first_field_tensor_subclass_never_iterated() -> None:
    """§3.4/§3.5: a torch tensor is kept, never iterated (even one whose iteration yields pairs)."""
    value = torch.ones(2).as_subclass(_PairTensor)
    out = MOT(value)
    assert keys(out) == ["a"]
    assert out.a is value
    assert out.b is None


def test_first_field_ndarray_subclass_never_iterated() -> None:
    """§3.4/§3.5: a numpy array is kept, never iterated (even one whose iteration yields pairs)."""
    value = np.ones(2).view(_PairArray)
    out = MOT(value)
    assert keys(out) == ["a"]
    assert out.a is value
    assert out.b is None


def test_first_field_torch_size_is_not_a_tensor() -> None:
    """§3.4: ``torch.Size`` as BaseModelOutput's first field is not a tensor; its ints are not pairs: kept."""
    size = torch.Size([2, 3])
    out = BaseLike(size)
    assert keys(out) == ["last_hidden_state"]
    assert out.last_hidden_state is size


def test_first_field_custom_iterable_for_base_like() -> None:
    """§3.4: a custom iterable yielding ``('attentions', 1)`` gives keys ``['attentions']``."""
    out = BaseLike(_PairsIterable(("attentions", 1)))
    assert keys(out) == ["attentions"]
    assert out.last_hidden_state is None
    assert out.attentions == 1


def test_real_class_dict_first_value_is_expanded() -> None:
    """§3.4: ``BaseModelOutput(last_hidden_state={'a': 1})``: keys ``['a']``, field None, extra attribute ``a``."""
    out = BaseLike(last_hidden_state={"a": 1})
    assert keys(out) == ["a"]
    assert out.last_hidden_state is None
    assert out.a == 1
    assert extras_of(out) == {"a": 1}


def test_real_class_empty_list_first_value_dropped() -> None:
    """§3.4: ``BaseModelOutput(last_hidden_state=[])`` has no keys."""
    out = BaseLike(last_hidden_state=[])
    assert keys(out) == []
    assert out.last_hidden_state is None


def test_real_class_tuple_of_str_pair_expanded() -> None:
    """§3.4: a first-field tuple whose first element is a ``(str, x)`` pair is expanded: ``(('x', t),)`` gives key ``x``."""
    t = torch.ones(1)
    out = BaseLike((("x", t),))
    assert keys(out) == ["x"]
    assert out["x"] is t
    assert out.x is t
    assert out.last_hidden_state is None


def test_caller_object_detection_pipeline() -> None:
    """§3.4 callers: a dict holding ``target_size`` then the output's items gives keys
    ``['target_size', 'last_hidden_state', 'attentions']``, ``target_size`` an extra attribute."""
    t = torch.ones(1)
    out = BaseLike(last_hidden_state=t, attentions=(t,))
    rebuilt = BaseLike({"target_size": (3, 4), **out})
    assert type(rebuilt) is BaseLike
    assert keys(rebuilt) == ["target_size", "last_hidden_state", "attentions"]
    assert rebuilt.target_size == (3, 4)
    assert rebuilt.last_hidden_state is t
    assert rebuilt.attentions == (t,)


def test_caller_accelerate_rebuild_keeps_class_and_order() -> None:
    """§3.4/§13: rebuilding with one positional dict in the old key order keeps the class and the order."""
    y = MOT(a=30, c=10)
    y.b = 5  # keys a, c, b
    rebuilt = type(y)({k: v * 2 for k, v in y.items()})
    assert type(rebuilt) is MOT
    assert keys(rebuilt) == ["a", "c", "b"]
    assert fields_of(rebuilt) == {"a": 60, "b": 10, "c": 20}


def test_caller_dataparallel_gather_generator() -> None:
    """§3.4/§13: one positional generator of ``(key, value)`` pairs keeps the class and the replica's
    order; a ``None`` gathered value drops its key."""
    replica = Opt(a=1, c=3)
    replica.b = 2  # keys a, c, b
    gathered = {"a": 10, "c": None, "b": 20}
    rebuilt = type(replica)((k, gathered[k]) for k in replica)
    assert type(rebuilt) is Opt
    assert keys(rebuilt) == ["a", "b"]
    assert fields_of(rebuilt) == {"a": 10, "b": 20, "c": None}


def test_caller_trainer_rebuild_with_dict() -> None:
    """§3.4/§13: Trainer's ``nested_detach`` style rebuild ``type(o)({k: f(v) ...})`` keeps field values."""
    t = torch.ones(2, requires_grad=True)
    out = BaseLike(last_hidden_state=t, hidden_states=(t, t))
    rebuilt = type(out)({k: v for k, v in out.items()})
    assert keys(rebuilt) == ["last_hidden_state", "hidden_states"]
    assert rebuilt.last_hidden_state is t


# ---------------------------------------------------------------------------------------------
# §3.5 What counts as a tensor
# ---------------------------------------------------------------------------------------------


def _proxy() -> torch.fx.Proxy:
    graph = torch.fx.Graph()
    return torch.fx.Proxy(graph.placeholder("x"))


@pytest.mark.parametrize(
    ("make", "is_tensor"),
    [
        (lambda: torch.ones(2), True),
        (lambda: torch.ones(2).as_subclass(_PairTensor), True),
        (lambda: np.ones(2), True),
        (_proxy, True),
        (lambda: [("b", 1)], False),
        (lambda: 3, False),
    ],
    ids=["torch-tensor", "torch-subclass", "ndarray", "fx-proxy", "list", "int"],
)
def test_tensor_detection(make, is_tensor: bool) -> None:
    """§3.5: a tensor, an ndarray and an fx Proxy are tensors (kept, never iterated); a list and an int are not."""
    value = make()
    out = MOT(value)
    if is_tensor:
        assert keys(out) == ["a"]
        assert out.a is value
    elif isinstance(value, list):
        assert keys(out) == ["b"]  # a list was iterated and expanded
        assert out.a is None
    else:
        assert keys(out) == ["a"]  # not iterable: stored as it is
        assert out.a == value


def test_fx_proxy_first_field_is_kept() -> None:
    """§3.5: a torch.fx Proxy in the first field is stored as it is (iterating it would raise TraceError)."""
    proxy = _proxy()
    out = BaseLike(proxy)
    assert keys(out) == ["last_hidden_state"]
    assert out.last_hidden_state is proxy
    assert out["last_hidden_state"] is proxy
    assert out[0] is proxy


def test_fx_symbolic_trace_building_an_output() -> None:
    """§3.5: symbolic tracing of code that builds an output succeeds (the Proxy is not iterated)."""

    def fn(x: torch.Tensor) -> Any:
        out = BaseLike(last_hidden_state=x + 1)
        return out

    traced = torch.fx.symbolic_trace(fn)
    result = traced(torch.ones(2))
    assert isinstance(result, dict)
    assert list(result) == ["last_hidden_state"]
    assert torch.equal(result["last_hidden_state"], torch.full((2,), 2.0))


def _run_python(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=120
    )


def test_detection_does_not_import_frameworks() -> None:
    """§3.5/D5: building outputs (first-field path included) never imports torch or numpy."""
    result = _run_python(
        """
        import sys
        from dataclasses import dataclass
        from typing import Optional
        import fastoutput
        from fastoutput import ModelOutput

        @dataclass
        class M(ModelOutput):
            a: Optional[object] = None
            b: Optional[object] = None

        assert list(M([('b', 1)]).keys()) == ['b']
        assert list(M(5).keys()) == ['a']
        assert list(M(a=1, b=2).keys()) == ['a', 'b']
        banned = [m for m in ('torch', 'numpy', 'tensorflow', 'jax', 'mlx') if m in sys.modules]
        assert not banned, banned
        print(fastoutput.IMPLEMENTATION)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == fastoutput.IMPLEMENTATION


def test_detection_keeps_tf_jax_mlx_types() -> None:
    """§3.5/D4: TF tensors, JAX arrays and tracers and MLX arrays count as tensors once their
    framework is imported. Checked with stand-in modules (in a subprocess, so nothing else sees
    them) whose tensor types iterate into pairs; a frozen subclass then must not raise (§3.7)."""
    result = _run_python(
        """
        import sys, types
        from dataclasses import dataclass
        from typing import Any, Optional
        import fastoutput
        from fastoutput import ModelOutput

        @dataclass
        class M(ModelOutput):
            a: Optional[Any] = None
            b: Optional[Any] = None

        @dataclass(frozen=True)
        class F(ModelOutput):
            a: Any
            b: Optional[Any] = None

        class PairIter:
            def __iter__(self):
                return iter([('b', 1)])

        before = M(PairIter())
        assert list(before.keys()) == ['b'], list(before.keys())  # an ordinary iterable is expanded

        specs = [('tensorflow', 'Tensor'), ('jax', 'Array'), ('jax._src.core', 'Tracer'), ('mlx.core', 'array')]
        for module_name, type_name in specs:
            module = sys.modules.get(module_name) or types.ModuleType(module_name)
            setattr(module, type_name, type(type_name, (PairIter,), {}))
            sys.modules[module_name] = module
        for module_name, type_name in specs:
            value = getattr(sys.modules[module_name], type_name)()
            out = M(value)
            assert list(out.keys()) == ['a'], (module_name, list(out.keys()))
            assert out.a is value and out.b is None
            frozen = F(value)
            assert list(frozen.keys()) == ['a'] and frozen.a is value
        print('ok')
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# ---------------------------------------------------------------------------------------------
# §3.6 Validation errors
# ---------------------------------------------------------------------------------------------

NOT_A_DATACLASS = (
    f"{MODULE}.NoDataclass is not a dataclass. This is a subclass of ModelOutput and so must use the @dataclass decorator."
)

VALIDATION_ERRORS = [
    ("NoFields()", lambda: NoFields(), ValueError, "NoFields has no fields."),
    ("TwoRequired(1,2)", lambda: TwoRequired(1, 2), ValueError, "TwoRequired should not have more than one required field."),
    ("NonNoneDefault(1)", lambda: NonNoneDefault(1), ValueError, "NonNoneDefault should not have more than one required field."),
    ("NonNoneDefault(1,None)", lambda: NonNoneDefault(1, None), ValueError, "NonNoneDefault should not have more than one required field."),
    ("FactoryDefault(1)", lambda: FactoryDefault(1), ValueError, "FactoryDefault should not have more than one required field."),
    ("NoDataclass(a=1)", lambda: NoDataclass(a=1), TypeError, NOT_A_DATACLASS),
    ("NoDataclass()", lambda: NoDataclass(), TypeError, NOT_A_DATACLASS),
    ("NoDataclass({'a':1})", lambda: NoDataclass({"a": 1}), TypeError, NOT_A_DATACLASS),
    ("NoDataclass(1)-args-first", lambda: NoDataclass(1), TypeError, "'int' object is not iterable"),
]


@pytest.mark.parametrize(
    ("call", "exc_type", "message"), [row[1:] for row in VALIDATION_ERRORS], ids=[row[0] for row in VALIDATION_ERRORS]
)
def test_validation_errors(call, exc_type, message) -> None:
    """§3.6: validation errors, raised at instantiation with exact type and message."""
    with pytest.raises(exc_type) as info:
        call()
    assert type(info.value) is exc_type
    assert str(info.value) == message


def test_validation_module_name_in_message() -> None:
    """§3.6: the NoDataclass message names the class's own module."""
    assert NoDataclass.__module__ == MODULE == "tests.spec_classes"


def test_validation_uses_name_not_qualname() -> None:
    """§3.6: the not-a-dataclass message uses ``__module__`` and ``__name__`` (not the qualname);
    the other messages use ``__name__`` too."""

    class Local(ModelOutput):
        pass

    @dataclass
    class LocalTwo(ModelOutput):
        a: float
        b: float

    with pytest.raises(TypeError) as info:
        Local()
    assert str(info.value) == (
        f"{__name__}.Local is not a dataclass. This is a subclass of ModelOutput and so must use the @dataclass decorator."
    )
    with pytest.raises(ValueError) as info2:
        LocalTwo(1, 2)
    assert str(info2.value) == "LocalTwo should not have more than one required field."


def test_validation_not_at_class_creation() -> None:
    """§3.1/§3.6: invalid declarations are accepted at class creation; the check runs at instantiation."""

    @dataclass
    class Bad(ModelOutput):
        a: float
        b: int = 3

    with pytest.raises(ValueError, match="^Bad should not have more than one required field.$"):
        Bad(1)


# ---------------------------------------------------------------------------------------------
# §3.7 Frozen subclasses
# ---------------------------------------------------------------------------------------------


def test_frozen_keyword_construction() -> None:
    """§3.7: ``Frozen(a=1, b=2)`` has keys ``['a','b']``."""
    f = Frozen(a=1, b=2)
    assert keys(f) == ["a", "b"]
    assert (f.a, f.b) == (1, 2)


@pytest.mark.parametrize(
    "call",
    [lambda: Frozen({"a": 1, "b": 2}), lambda: Frozen(a=(1, 2))],
    ids=["Frozen(dict)", "Frozen(a=tuple)"],
)
def test_frozen_first_field_special_case_raises(call) -> None:
    """§3.7: the special case assigns attributes, so it raises FrozenInstanceError."""
    with pytest.raises(dataclasses.FrozenInstanceError) as info:
        call()
    assert type(info.value) is dataclasses.FrozenInstanceError
    assert str(info.value) == "cannot assign to field 'a'"


def test_frozen_tensor_first_field_is_fine() -> None:
    """§3.7: a tensor first field with other fields None never takes the special case."""
    t = torch.ones(2)
    f = Frozen(t)
    assert keys(f) == ["a"]
    assert f.a is t


def test_frozen_attribute_set_raises() -> None:
    """§3.7: ``f.a = 3`` raises ``FrozenInstanceError: cannot assign to field 'a'``."""
    f = Frozen(a=1)
    with pytest.raises(dataclasses.FrozenInstanceError) as info:
        f.a = 3  # type: ignore[misc]
    assert str(info.value) == "cannot assign to field 'a'"
    assert f.a == 1
    assert f["a"] == 1


def test_frozen_attribute_delete_raises() -> None:
    """§3.7: ``del f.a`` raises ``FrozenInstanceError: cannot delete field 'a'``."""
    f = Frozen(a=1)
    with pytest.raises(dataclasses.FrozenInstanceError) as info:
        del f.a  # type: ignore[misc]
    assert str(info.value) == "cannot delete field 'a'"
    assert f.a == 1


def test_frozen_item_set_succeeds() -> None:
    """§3.7: ``f['a'] = 3`` succeeds; key and attribute both become 3."""
    f = Frozen(a=1)
    f["a"] = 3
    assert f["a"] == 3
    assert f.a == 3
    f["b"] = 4
    assert keys(f) == ["a", "b"]
    assert f.b == 4


def test_frozen_hash_is_field_hash() -> None:
    """§3.7: ``hash(Frozen(a=1)) == hash((1, None))``."""
    assert hash(Frozen(a=1)) == hash((1, None))
    assert hash(Frozen(a=1, b=2)) == hash((1, 2))


def test_frozen_replace() -> None:
    """§3.7: ``dataclasses.replace(Frozen(a=1), b=2)`` works; keys ``['a','b']``."""
    f = dataclasses.replace(Frozen(a=1), b=2)
    assert type(f) is Frozen
    assert keys(f) == ["a", "b"]
    assert (f.a, f.b) == (1, 2)


def test_frozen_deepcopy_and_pickle() -> None:
    """§3.7: ``copy.deepcopy`` and pickle of a frozen output work."""
    import copy
    import pickle

    f = Frozen(a=1, b=2)
    for g in (copy.deepcopy(f), copy.copy(f), pickle.loads(pickle.dumps(f))):
        assert type(g) is Frozen
        assert keys(g) == ["a", "b"]
        assert (g.a, g.b) == (1, 2)
        assert g == f


# ---------------------------------------------------------------------------------------------
# §3.8 The base class used directly
# ---------------------------------------------------------------------------------------------


def _odict_repr(*args: Any, **kwargs: Any) -> str:
    """The running interpreter's ordered-dict repr with the class name swapped in (§6)."""
    from collections import OrderedDict

    return repr(OrderedDict(*args, **kwargs)).replace("OrderedDict", "ModelOutput", 1)


def test_base_from_dict() -> None:
    """§3.8: ``ModelOutput({'a': 1.1})``: repr ``ModelOutput([('a', 1.1)])``, ``vars == {'a': 1.1}``."""
    m = ModelOutput({"a": 1.1})
    assert type(m) is ModelOutput
    assert repr(m) == _odict_repr({"a": 1.1})
    if sys.version_info < (3, 12):
        assert repr(m) == "ModelOutput([('a', 1.1)])"
    assert vars(m) == {"a": 1.1}
    assert m.a == 1.1


def test_base_keeps_none_values() -> None:
    """§3.8: ``ModelOutput(a=1, b=None)``: keys ``['a','b']``, ``to_tuple() == (1, None)``, ``m[0] == 1``."""
    m = ModelOutput(a=1, b=None)
    assert keys(m) == ["a", "b"]
    assert m.to_tuple() == (1, None)
    assert m[0] == 1
    assert m[1] is None
    assert vars(m) == {"a": 1, "b": None}


def test_base_positional_pairs_and_keywords() -> None:
    """§3.8: ``ModelOutput([('a', 1)], b=2)`` is ``ModelOutput([('a', 1), ('b', 2)])``."""
    m = ModelOutput([("a", 1)], b=2)
    assert keys(m) == ["a", "b"]
    assert repr(m) == _odict_repr([("a", 1), ("b", 2)])
    if sys.version_info < (3, 12):
        assert repr(m) == "ModelOutput([('a', 1), ('b', 2)])"
    assert (m.a, m.b) == (1, 2)


def test_base_empty() -> None:
    """§3.8: ``ModelOutput()`` has ``len == 0`` and repr ``'ModelOutput()'``."""
    m = ModelOutput()
    assert len(m) == 0
    assert repr(m) == "ModelOutput()"
    assert vars(m) == {}


def test_base_no_post_init_validation() -> None:
    """§3.8: no validation and no ``__post_init__``: a dict first value is not expanded and
    a lone pair list is plain ordered-dict construction."""
    m = ModelOutput(a={"b": 1})
    assert keys(m) == ["a"]
    assert m.a == {"b": 1}
    m = ModelOutput([("x", [("y", 1)])])
    assert keys(m) == ["x"]
    assert m.x == [("y", 1)]


def test_base_non_iterable_argument() -> None:
    """§3.8: ``ModelOutput(1)`` raises ``TypeError: 'int' object is not iterable``."""
    with pytest.raises(TypeError) as info:
        ModelOutput(1)
    assert type(info.value) is TypeError
    assert str(info.value) == "'int' object is not iterable"


def test_base_item_set_writes_key_and_attribute() -> None:
    """§3.8: ``m['z'] = 2`` stores a key and an attribute."""
    m = ModelOutput(a=1)
    m["z"] = 2
    assert keys(m) == ["a", "z"]
    assert m.z == 2
    assert vars(m) == {"a": 1, "z": 2}


def test_base_attribute_set_updates_existing_key() -> None:
    """§3.8 + D6: attribute assignment on a bare base instance is allowed (4.57.6 behaviour, not
    5.x's TypeError); an existing key is updated when the value is not None."""
    m = ModelOutput(a=1)
    m.a = 2
    assert keys(m) == ["a"]
    assert m["a"] == 2
    assert m.a == 2


def test_base_attribute_set_new_name_is_attribute_only() -> None:
    """§3.8 + D6: ``m.z = 2`` on a base instance sets the attribute only; no key is added."""
    m = ModelOutput(a=1)
    m.z = 2
    assert keys(m) == ["a"]
    assert m.z == 2
    assert "z" not in m


def test_base_attribute_set_none_keeps_key_value() -> None:
    """§3.8 + D6: ``m.a = None`` on a base instance sets the attribute; the key keeps its value."""
    m = ModelOutput(a=1)
    m.a = None
    assert m.a is None
    assert m["a"] == 1
    assert keys(m) == ["a"]


def test_base_pop_blocked() -> None:
    """§3.8: ``m.pop('a')`` raises a bare ``Exception`` naming ModelOutput."""
    m = ModelOutput(a=1)
    with pytest.raises(Exception) as info:
        m.pop("a")
    assert type(info.value) is Exception
    assert str(info.value) == "You cannot use ``pop`` on a ModelOutput instance."
    assert keys(m) == ["a"]


def test_base_json_dumps() -> None:
    """§3.8: ``json.dumps(ModelOutput(a=1, b=None)) == '{"a": 1, "b": null}'``."""
    assert json.dumps(ModelOutput(a=1, b=None)) == '{"a": 1, "b": null}'
