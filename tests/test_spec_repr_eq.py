"""Spec §6: ``repr``, equality and hashing."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest
import torch

from fastoutput import ModelOutput

from .spec_classes import MOT, Child, ChildNoDataclass, Frozen, Opt


def _odict_repr(*args: Any, **kwargs: Any) -> str:
    """The running interpreter's ordered-dict repr, renamed: the base class must follow it (§6)."""
    return repr(OrderedDict(*args, **kwargs)).replace("OrderedDict", "ModelOutput", 1)


# ---------------------------------------------------------------------------------------------
# repr
# ---------------------------------------------------------------------------------------------


def _after_writes() -> MOT:
    y = MOT(a=30)
    y["zzz"] = 1
    y.b = 2
    return y


def _self_reference() -> Opt:
    o = Opt()
    o.a = o
    return o


REPR_ROWS = [
    ("MOT(a=30,c=10)", lambda: MOT(a=30, c=10), "MOT(a=30, b=None, c=10)"),
    ("MOT(a=None)", lambda: MOT(a=None), "MOT(a=None, b=None, c=None)"),
    ("extra-key-not-shown", _after_writes, "MOT(a=30, b=2, c=None)"),
    ("Child(a=1,d=2)", lambda: Child(a=1, d=2), "Child(a=1, b=None, c=None, d=2)"),
    ("ChildNoDataclass", lambda: ChildNoDataclass(a=1), "ChildNoDataclass(a=1, b=None, c=None)"),
    ("self-reference", _self_reference, "Opt(a=..., b=None, c=None)"),
    ("attribute-wins-over-key", lambda: _with_attr_none(), "MOT(a=None, b=None, c=10)"),
    ("key-order-ignored", lambda: MOT({"c": 3, "a": 1}), "MOT(a=1, b=None, c=3)"),
    ("str-values", lambda: Opt(a="x"), "Opt(a='x', b=None, c=None)"),
    ("Frozen", lambda: Frozen(a=1), "Frozen(a=1, b=None)"),
]


def _with_attr_none() -> MOT:
    y = MOT(a=30, c=10)
    y.a = None
    return y


@pytest.mark.parametrize(("make", "expected"), [row[1:] for row in REPR_ROWS], ids=[row[0] for row in REPR_ROWS])
def test_dataclass_repr(make, expected: str) -> None:
    """§6: subclasses use the dataclass repr over every field attribute (None included); the
    mapping store is not used; ``str()`` gives the same."""
    out = make()
    assert repr(out) == expected
    assert str(out) == expected


def test_dataclass_repr_uses_qualname() -> None:
    """§6: the dataclass repr starts with the class ``__qualname__``."""
    from dataclasses import dataclass

    @dataclass
    class Local(ModelOutput):
        a: Any = None

    assert repr(Local(a=1)) == f"{Local.__qualname__}(a=1)"
    assert "<locals>" in Local.__qualname__


BASE_REPR_ROWS = [
    ("one-key", lambda: ModelOutput(a=1), [("a", 1)]),
    ("empty", lambda: ModelOutput(), []),
    ("None-value", lambda: ModelOutput(a=1, b=None), [("a", 1), ("b", None)]),
    ("insertion-order", lambda: ModelOutput(b=2, a=1), [("b", 2), ("a", 1)]),
]


@pytest.mark.parametrize(
    ("make", "items"), [row[1:] for row in BASE_REPR_ROWS], ids=[row[0] for row in BASE_REPR_ROWS]
)
def test_base_repr_follows_ordereddict(make, items) -> None:
    """§6: the base class uses the running Python's ordered-dict repr (on 3.11
    ``ModelOutput([('a', 1)])`` and ``ModelOutput()``)."""
    out = make()
    assert repr(out) == _odict_repr(items)
    assert str(out) == repr(out)


def test_base_repr_literal_py311() -> None:
    """§6: the literal 3.11 forms ``"ModelOutput([('a', 1)])"`` and ``'ModelOutput()'``."""
    import sys

    assert repr(ModelOutput()) == "ModelOutput()"
    if sys.version_info < (3, 12):
        assert repr(ModelOutput(a=1)) == "ModelOutput([('a', 1)])"
    else:  # pragma: no cover - 3.12 changed the ordered-dict repr
        assert repr(ModelOutput(a=1)) == "ModelOutput({'a': 1})"


# ---------------------------------------------------------------------------------------------
# Equality
# ---------------------------------------------------------------------------------------------


def _extra_key_pair() -> tuple[MOT, MOT]:
    p, q = MOT(a=30), MOT(a=30)
    q["zzz"] = 1
    return p, q


def _attr_none_pair() -> tuple[MOT, MOT]:
    p, q = MOT(a=30), MOT(a=30)
    q.a = None
    return p, q


EQ_ROWS = [
    ("MOT==MOT", lambda: MOT(a=30) == MOT(a=30), True),
    ("int==float-field", lambda: MOT(a=1) == MOT(a=1.0), True),
    ("different-values", lambda: MOT(a=30) == MOT(a=31), False),
    ("!=different-values", lambda: MOT(a=30) != MOT(a=31), True),
    ("!=same", lambda: MOT(a=30) != MOT(a=30), False),
    ("MOT==dict", lambda: MOT(a=30) == {"a": 30}, True),
    ("dict==MOT", lambda: {"a": 30} == MOT(a=30), True),
    ("MOT==OrderedDict", lambda: MOT(a=30) == OrderedDict(a=30), True),
    ("MOT!=dict-other", lambda: MOT(a=30) == {"a": 31}, False),
    ("MOT==Opt-different-class", lambda: MOT(a=30) == Opt(a=30), False),
    ("MOT==Child-subclass", lambda: MOT(a=30) == Child(a=30), False),
    ("Child==MOT", lambda: Child(a=30) == MOT(a=30), False),
    ("extra-key-==", lambda: (lambda p, q: p == q)(*_extra_key_pair()), True),
    ("extra-key-dict-compare", lambda: (lambda p, q: dict(p) == dict(q))(*_extra_key_pair()), False),
    ("attr-None-==", lambda: (lambda p, q: p == q)(*_attr_none_pair()), False),
    ("attr-None-dict-compare", lambda: (lambda p, q: dict(p) == dict(q))(*_attr_none_pair()), True),
    ("key-order-differs", lambda: MOT({"c": 3, "a": 1}) == MOT(a=1, c=3), True),
    ("base-order-sensitive", lambda: ModelOutput(a=1, b=2) == ModelOutput(b=2, a=1), False),
    ("base-same-order", lambda: ModelOutput(a=1, b=2) == ModelOutput(a=1, b=2), True),
    ("base-!=-order", lambda: ModelOutput(a=1, b=2) != ModelOutput(b=2, a=1), True),
    ("base==dict", lambda: ModelOutput(a=1) == {"a": 1}, True),
    ("dict==base", lambda: {"a": 1} == ModelOutput(a=1), True),
    ("base==dict-other-order", lambda: ModelOutput(a=1, b=2) == {"b": 2, "a": 1}, True),
    ("base==OrderedDict-other-order", lambda: ModelOutput(a=1, b=2) == OrderedDict(b=2, a=1), False),
    ("base==OrderedDict-same-order", lambda: ModelOutput(a=1, b=2) == OrderedDict(a=1, b=2), True),
    ("MOT==base-same-items", lambda: MOT(a=1) == ModelOutput(a=1), True),
    ("MOT==base-other-order", lambda: MOT(a=1, c=3) == ModelOutput(c=3, a=1), False),
    ("base==MOT-other-order", lambda: ModelOutput(c=3, a=1) == MOT(a=1, c=3), False),
    ("Frozen==Frozen", lambda: Frozen(a=1) == Frozen(a=1), True),
]


@pytest.mark.parametrize(("expr", "expected"), [row[1:] for row in EQ_ROWS], ids=[row[0] for row in EQ_ROWS])
def test_equality(expr, expected: bool) -> None:
    """§6 equality table: dataclass ``==`` over field attributes for the same class, otherwise
    ``NotImplemented`` and the dict comparison of the mapping store (ordered between ordered dicts)."""
    result = expr()
    assert result is expected


def test_eq_returns_notimplemented_for_other_types() -> None:
    """§6: ``MOT(a=30).__eq__({'a': 30})`` and ``MOT(a=30).__eq__(Opt(a=30))`` are NotImplemented."""
    assert MOT(a=30).__eq__({"a": 30}) is NotImplemented
    assert MOT(a=30).__eq__(Opt(a=30)) is NotImplemented
    assert MOT(a=30).__eq__(Child(a=30)) is NotImplemented


def test_ordereddict_on_left_vs_base() -> None:
    """§6 ``OrderedDict(b=2, a=1) == ModelOutput(a=1, b=2)``: transformers (an OrderedDict
    subclass) gives False. fastoutput is a dict subclass (deliberate difference (1)), so the
    OrderedDict's own ``__eq__`` runs first and sees a plain mapping: order-insensitive True.
    The other direction stays order-sensitive (see ``base==OrderedDict-other-order``)."""
    assert (OrderedDict(b=2, a=1) == ModelOutput(a=1, b=2)) is True
    assert (OrderedDict(a=1, b=2) == ModelOutput(a=1, b=2)) is True


def test_subclass_vs_ordereddict_other_order() -> None:
    """Not a spec row, but an OrderedDict-dependent one: ``MOT(a=1, c=3) == OrderedDict(c=3, a=1)``.
    In transformers the dataclass ``__eq__`` gives NotImplemented and the OrderedDict's own
    comparison is order-sensitive between two ordered dicts: False. fastoutput is a dict subclass
    (deliberate difference (1)), so the OrderedDict compares it as a plain mapping: True."""
    assert (MOT(a=1, c=3) == OrderedDict(c=3, a=1)) is True
    assert (OrderedDict(c=3, a=1) == MOT(a=1, c=3)) is True
    assert (MOT(a=1, c=3) == OrderedDict(a=1, c=3)) is True


def test_eq_same_tensor_object() -> None:
    """§6: ``MOT(a=t) == MOT(a=t)`` with the same tensor object is True (identity short-circuits)."""
    t = torch.ones(3)
    assert (MOT(a=t) == MOT(a=t)) is True


def test_eq_equal_multi_element_tensors_ambiguous() -> None:
    """§6: ``MOT(a=t) == MOT(a=t.clone())`` with a multi-element tensor raises RuntimeError."""
    t = torch.ones(3)
    with pytest.raises(RuntimeError) as info:
        MOT(a=t) == MOT(a=t.clone())  # noqa: B015
    assert type(info.value) is RuntimeError
    assert str(info.value) == "Boolean value of Tensor with more than one value is ambiguous"


def test_eq_one_element_tensors() -> None:
    """§6: ``MOT(a=torch.ones(1)) == MOT(a=torch.ones(1))`` is True."""
    assert (MOT(a=torch.ones(1)) == MOT(a=torch.ones(1))) is True


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
def test_ordering_not_supported(op: str) -> None:
    """§6: ``MOT(a=1) < MOT(a=2)`` raises ``TypeError: '<' not supported between instances of 'MOT' and 'MOT'``."""
    left, right = MOT(a=1), MOT(a=2)
    with pytest.raises(TypeError) as info:
        eval(f"left {op} right")  # noqa: S307
    assert str(info.value) == f"'{op}' not supported between instances of 'MOT' and 'MOT'"


# ---------------------------------------------------------------------------------------------
# Hashing
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "name"),
    [(lambda: MOT(a=30, c=10), "MOT"), (lambda: ModelOutput(a=1), "ModelOutput"), (lambda: Opt(), "Opt")],
    ids=["MOT", "base", "Opt"],
)
def test_unhashable(make, name: str) -> None:
    """§6: ``__hash__`` is None, so ``hash(x)`` raises ``TypeError: unhashable type: '<Name>'``."""
    out = make()
    assert type(out).__hash__ is None
    with pytest.raises(TypeError) as info:
        hash(out)
    assert str(info.value) == f"unhashable type: '{name}'"


def test_frozen_is_hashable() -> None:
    """§6/§3.7: frozen subclasses get the dataclass field hash."""
    assert hash(Frozen(a=1, b=2)) == hash((1, 2))
    assert {Frozen(a=1): "x"}[Frozen(a=1)] == "x"
