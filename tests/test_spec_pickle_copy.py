"""Spec §7: pickle, ``copy`` and ``deepcopy``, including the cases where the two stores disagree."""

from __future__ import annotations

import copy
import io
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
import torch

from tests._helpers import keys
from fastoutput import ModelOutput

from .spec_classes import MOT, BaseLike, Child, ChildNoDataclass, Frozen, Opt

PROTOCOLS = list(range(pickle.HIGHEST_PROTOCOL + 1))
assert PROTOCOLS == [0, 1, 2, 3, 4, 5]


def snapshot(obj: Any) -> tuple:
    return type(obj), list(obj.items()), dict(vars(obj))


# ---------------------------------------------------------------------------------------------
# __reduce__ / __reduce_ex__
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [None, *PROTOCOLS], ids=["__reduce__"] + [f"__reduce_ex__({p})" for p in PROTOCOLS])
def test_reduce_five_tuple(protocol: int | None) -> None:
    """§7: ``(MOT, (30, None, 10), {'a': 30, 'b': None, 'c': 10}, None, <items iterator>)`` for every protocol."""
    x = MOT(a=30, c=10)
    reduced = x.__reduce__() if protocol is None else x.__reduce_ex__(protocol)
    assert len(reduced) == 5
    cls, args, state, list_items, dict_items = reduced
    assert cls is MOT
    assert args == (30, None, 10)
    assert type(args) is tuple
    assert state == {"a": 30, "b": None, "c": 10}
    assert list_items is None
    assert isinstance(dict_items, Iterator)
    assert list(dict_items) == [("a", 30), ("c", 10)]


def test_reduce_args_are_attributes_in_field_order() -> None:
    """§7: the args are the attribute values of all fields, positionally, in field order (not keys)."""
    y = MOT({"c": 3, "a": 1})
    y.a = None
    cls, args, state, _, items = y.__reduce__()
    assert args == (None, None, 3)
    assert list(items) == [("c", 3), ("a", 1)]
    assert state == {"a": None, "b": None, "c": 3}


def test_reduce_state_includes_extra_attributes() -> None:
    """§7: the state is the instance ``__dict__``, extra attributes included."""
    y = MOT(a=30)
    y.zzz = 1
    y["q"] = 2
    _, _, state, _, items = y.__reduce__()
    assert state == {"a": 30, "b": None, "c": None, "zzz": 1, "q": 2}
    assert list(items) == [("a", 30), ("q", 2)]


@pytest.mark.parametrize("protocol", [None, *PROTOCOLS], ids=["__reduce__"] + [f"__reduce_ex__({p})" for p in PROTOCOLS])
def test_reduce_base_class(protocol: int | None) -> None:
    """§7: a base-class instance gives the ordered dict's reduction ``(ModelOutput, (), {'a': 1}, None, <iterator>)``."""
    m = ModelOutput(a=1)
    reduced = m.__reduce__() if protocol is None else m.__reduce_ex__(protocol)
    assert len(reduced) == 5
    cls, args, state, list_items, dict_items = reduced
    assert cls is ModelOutput
    assert args == ()
    assert state == {"a": 1}
    assert list_items is None
    assert list(dict_items) == [("a", 1)]


# ---------------------------------------------------------------------------------------------
# Round trips of normally built objects
# ---------------------------------------------------------------------------------------------

ROUND_TRIP = [
    ("MOT(a=30,c=10)", lambda: MOT(a=30, c=10)),
    ("MOT(30,10)", lambda: MOT(30, 10)),
    ("MOT(a=None)", lambda: MOT(a=None)),
    ("Opt()", lambda: Opt()),
    ("Opt(b=2)", lambda: Opt(b=2)),
    ("Child(a=1,d=4)", lambda: Child(a=1, d=4)),
    ("ChildNoDataclass", lambda: ChildNoDataclass(a=1, c=2)),
    ("Frozen(a=1,b=2)", lambda: Frozen(a=1, b=2)),
    ("base", lambda: ModelOutput(a=1, b=None)),
    ("base-empty", lambda: ModelOutput()),
    ("nested", lambda: MOT(a=Opt(a=1), b=(1, 2), c=[3])),
    ("tensor", lambda: BaseLike(last_hidden_state=torch.ones(2), hidden_states=(torch.zeros(1),))),
]


def _same(a: Any, b: Any) -> None:
    assert type(a) is type(b)
    assert keys(a) == keys(b)
    assert dict(vars(a)).keys() == dict(vars(b)).keys()
    for (ka, va), (kb, vb) in zip(a.items(), b.items()):
        assert ka == kb
        if isinstance(va, torch.Tensor):
            assert torch.equal(va, vb)
        elif isinstance(va, tuple) and va and isinstance(va[0], torch.Tensor):
            assert all(torch.equal(p, q) for p, q in zip(va, vb))
        else:
            assert va == vb
    if not isinstance(a, BaseLike):
        assert vars(a) == vars(b)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("make", [row[1] for row in ROUND_TRIP], ids=[row[0] for row in ROUND_TRIP])
def test_pickle_round_trip(make, protocol: int) -> None:
    """§7: protocols 0 to 5 round-trip a normally built object exactly (class, keys, values, attributes)."""
    original = make()
    loaded = pickle.loads(pickle.dumps(original, protocol=protocol))
    _same(original, loaded)


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy], ids=["copy", "deepcopy"])
@pytest.mark.parametrize("make", [row[1] for row in ROUND_TRIP], ids=[row[0] for row in ROUND_TRIP])
def test_copy_round_trip(make, copier) -> None:
    """§7: ``copy.copy``/``copy.deepcopy`` reproduce a normally built object."""
    original = make()
    copied = copier(original)
    assert copied is not original
    _same(original, copied)


# ---------------------------------------------------------------------------------------------
# The drift table
# ---------------------------------------------------------------------------------------------


def _drift(*steps: Any) -> Any:
    def make() -> MOT:
        y = MOT(a=30, c=10)
        for step in steps:
            step(y)
        return y

    return make


def _setattr(name: str, value: Any) -> Any:
    return lambda y: setattr(y, name, value)


def _setitem(name: str, value: Any) -> Any:
    def run(y: MOT) -> None:
        y[name] = value

    return run


# (id, make, keys after, values after (None: not checked), attributes after pickle, attributes after copy)
DRIFT_ROWS = [
    ("y.b=5", _drift(_setattr("b", 5)), ["a", "b", "c"], [30, 5, 10], {"a": 30, "b": 5, "c": 10}, {"a": 30, "b": 5, "c": 10}),
    ("y['b']=5", _drift(_setitem("b", 5)), ["a", "b", "c"], [30, 5, 10], {"a": 30, "b": 5, "c": 10}, {"a": 30, "b": 5, "c": 10}),
    ("y.a=None", _drift(_setattr("a", None)), ["c", "a"], [10, 30], {"a": None, "b": None, "c": 10}, {"a": 30, "b": None, "c": 10}),
    ("y['a']=None", _drift(_setitem("a", None)), ["c", "a"], [10, None], {"a": None, "b": None, "c": 10}, {"a": None, "b": None, "c": 10}),
    (
        "y['zzz']=1",
        _drift(_setitem("zzz", 1)),
        ["a", "c", "zzz"],
        [30, 10, 1],
        {"a": 30, "b": None, "c": 10, "zzz": 1},
        {"a": 30, "b": None, "c": 10, "zzz": 1},
    ),
    (
        "y.zzz=1",
        _drift(_setattr("zzz", 1)),
        ["a", "c"],
        [30, 10],
        {"a": 30, "b": None, "c": 10, "zzz": 1},
        {"a": 30, "b": None, "c": 10, "zzz": 1},
    ),
    ("y.clear()", _drift(lambda y: y.clear()), ["a", "c"], [30, 10], {"a": 30, "b": None, "c": 10}, {"a": 30, "b": None, "c": 10}),
    ("y.popitem()", _drift(lambda y: y.popitem()), ["a", "c"], [30, 10], {"a": 30, "b": None, "c": 10}, {"a": 30, "b": None, "c": 10}),
    (
        "y.move_to_end('a')",
        _drift(lambda y: y.move_to_end("a")),
        ["a", "c"],
        [30, 10],
        {"a": 30, "b": None, "c": 10},
        {"a": 30, "b": None, "c": 10},
    ),
    ("MOT({'b':1,'a':2})", lambda: MOT({"b": 1, "a": 2}), ["a", "b"], [2, 1], {"a": 2, "b": 1, "c": None}, {"a": 2, "b": 1, "c": None}),
    ("MOT(a=[('x',1)])", lambda: MOT(a=[("x", 1)]), ["x"], [1], {"a": None, "b": None, "c": None, "x": 1}, {"a": None, "b": None, "c": None, "x": 1}),
]

COPIERS = [(f"pickle-p{p}", (lambda p: lambda o: pickle.loads(pickle.dumps(o, protocol=p)))(p)) for p in PROTOCOLS] + [
    ("copy", copy.copy),
    ("deepcopy", copy.deepcopy),
]


@pytest.mark.parametrize(("how", "copier"), COPIERS, ids=[c[0] for c in COPIERS])
@pytest.mark.parametrize(
    ("make", "expected_keys", "expected_values", "attrs_pickle", "attrs_copy"),
    [row[1:] for row in DRIFT_ROWS],
    ids=[row[0] for row in DRIFT_ROWS],
)
def test_drift_table(make, expected_keys, expected_values, attrs_pickle, attrs_copy, how, copier) -> None:
    """§7 drift table: loading calls the class with the attribute values (``__post_init__`` runs
    again), then pickle replays items and then the state, while copy/deepcopy apply the state
    first and then replay items (so an item overwrites its attribute)."""
    original = make()
    before = snapshot(original)
    loaded = copier(original)
    assert type(loaded) is MOT
    assert keys(loaded) == expected_keys
    assert list(loaded.values()) == expected_values
    expected_attrs = attrs_pickle if how.startswith("pickle") else attrs_copy
    assert dict(vars(loaded)) == expected_attrs
    assert snapshot(original) == before  # the source is never changed


def test_drift_attr_none_pickle_detail() -> None:
    """§7 row ``y.a = None``: after pickle, ``y['a'] == 30`` but attribute a is None."""
    y = MOT(a=30, c=10)
    y.a = None
    z = pickle.loads(pickle.dumps(y))
    assert z["a"] == 30
    assert z.a is None
    w = copy.deepcopy(y)
    assert w["a"] == 30
    assert w.a == 30


# ---------------------------------------------------------------------------------------------
# Sharing and memo identity
# ---------------------------------------------------------------------------------------------


def test_copy_shares_values() -> None:
    """§7: ``copy.copy`` shares the values (``z.a is t``)."""
    t = torch.ones(2)
    y = MOT(a=t, b=[1])
    z = copy.copy(y)
    assert z.a is t
    assert z["a"] is t
    assert z.b is y.b


def test_deepcopy_copies_values_and_keeps_memo_identity() -> None:
    """§7: ``deepcopy`` copies the values, and the memo keeps ``w.a is w['a']``."""
    value = [1, 2]
    t = torch.ones(2)
    y = MOT(a=value, c=t)
    w = copy.deepcopy(y)
    assert w.a == value
    assert w.a is not value
    assert w.a is w["a"]
    assert w.c is not t
    assert w.c is w["c"]
    assert torch.equal(w.c, t)


def test_pickle_keeps_shared_identity() -> None:
    """§7: after pickle the attribute and the key hold the same object (pickle's memo)."""
    y = MOT(a=[1, 2])
    z = pickle.loads(pickle.dumps(y))
    assert z.a is z["a"]


# ---------------------------------------------------------------------------------------------
# torch.save / torch.load
# ---------------------------------------------------------------------------------------------


def _saved(obj: Any) -> io.BytesIO:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return buffer


def test_torch_save_load_round_trip() -> None:
    """§7: ``torch.save`` then ``torch.load(weights_only=False)`` round-trips."""
    out = BaseLike(last_hidden_state=torch.arange(3.0), attentions=(torch.ones(1),))
    loaded = torch.load(_saved(out), weights_only=False)
    assert type(loaded) is BaseLike
    assert keys(loaded) == ["last_hidden_state", "attentions"]
    assert torch.equal(loaded.last_hidden_state, torch.arange(3.0))
    assert loaded.hidden_states is None
    assert loaded["attentions"] is loaded.attentions


def test_torch_save_load_base_class() -> None:
    """§7: the base class round-trips through ``torch.save``/``torch.load(weights_only=False)``."""
    loaded = torch.load(_saved(ModelOutput(a=torch.ones(1), b=None)), weights_only=False)
    assert type(loaded) is ModelOutput
    assert keys(loaded) == ["a", "b"]
    assert loaded.b is None


def test_torch_load_weights_only_fails() -> None:
    """§7: with ``weights_only=True`` (the default) loading fails with ``pickle.UnpicklingError``."""
    with pytest.raises(pickle.UnpicklingError):
        torch.load(_saved(MOT(a=torch.ones(1))), weights_only=True)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(_saved(MOT(a=torch.ones(1))))


def test_torch_load_weights_only_fails_when_allow_listed() -> None:
    """§7: it still fails (``pickle.UnpicklingError``) after the class is allow-listed."""
    with torch.serialization.safe_globals([MOT]), pytest.raises(pickle.UnpicklingError):
        torch.load(_saved(MOT(a=torch.ones(1))), weights_only=True)
