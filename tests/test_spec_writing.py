"""Spec §5: writing (attribute set and item set, blocked mutators, mutators that are not blocked).

``y`` is a fresh ``MOT(a=30, c=10)`` for each row, as in the spec. Container semantics follow
transformers 5.x (D1).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import MutableMapping

import pytest

from tests._helpers import IS_CPP, extras_of, fields_of, keys

from .spec_classes import MOT, Child, Frozen, Opt


def make_y() -> MOT:
    return MOT(a=30, c=10)


# ---------------------------------------------------------------------------------------------
# §5.1 Attribute set and item set
# ---------------------------------------------------------------------------------------------


def _steps(*steps):
    def run(y: MOT) -> None:
        for kind, name, value in steps:
            if kind == "attr":
                setattr(y, name, value)
            else:
                y[name] = value

    return run


WRITE_ROWS = [
    # (id, operation, keys after, values after, fields after, extras after)
    ("y.b=5-appended", _steps(("attr", "b", 5)), ["a", "c", "b"], [30, 10, 5], {"a": 30, "b": 5, "c": 10}, {}),
    ("y['b']=5-appended", _steps(("item", "b", 5)), ["a", "c", "b"], [30, 10, 5], {"a": 30, "b": 5, "c": 10}, {}),
    ("y.a=None-stores-disagree", _steps(("attr", "a", None)), ["a", "c"], [30, 10], {"a": None, "b": None, "c": 10}, {}),
    ("y['a']=None", _steps(("item", "a", None)), ["a", "c"], [None, 10], {"a": None, "b": None, "c": 10}, {}),
    ("y.a=1-position-kept", _steps(("attr", "a", 1)), ["a", "c"], [1, 10], {"a": 1, "b": None, "c": 10}, {}),
    ("y['a']=1-position-kept", _steps(("item", "a", 1)), ["a", "c"], [1, 10], {"a": 1, "b": None, "c": 10}, {}),
    ("y.b=5;y['b']=6", _steps(("attr", "b", 5), ("item", "b", 6)), ["a", "c", "b"], [30, 10, 6], {"a": 30, "b": 6, "c": 10}, {}),
    ("y.a=None;y.a=7", _steps(("attr", "a", None), ("attr", "a", 7)), ["a", "c"], [7, 10], {"a": 7, "b": None, "c": 10}, {}),
    ("y['a']=None;y.a=7", _steps(("item", "a", None), ("attr", "a", 7)), ["a", "c"], [7, 10], {"a": 7, "b": None, "c": 10}, {}),
    ("y['c']=None", _steps(("item", "c", None)), ["a", "c"], [30, None], {"a": 30, "b": None, "c": None}, {}),
    ("y.zzz=1-attribute-only", _steps(("attr", "zzz", 1)), ["a", "c"], [30, 10], {"a": 30, "b": None, "c": 10}, {"zzz": 1}),
    ("y['zzz']=1", _steps(("item", "zzz", 1)), ["a", "c", "zzz"], [30, 10, 1], {"a": 30, "b": None, "c": 10}, {"zzz": 1}),
    (
        "y['zzz']=1;y.zzz=2-key-stays",
        _steps(("item", "zzz", 1), ("attr", "zzz", 2)),
        ["a", "c", "zzz"],
        [30, 10, 1],
        {"a": 30, "b": None, "c": 10},
        {"zzz": 2},
    ),
    ("y.c=None-key-kept", _steps(("attr", "c", None)), ["a", "c"], [30, 10], {"a": 30, "b": None, "c": None}, {}),
    ("y.b=None-no-key", _steps(("attr", "b", None)), ["a", "c"], [30, 10], {"a": 30, "b": None, "c": 10}, {}),
    ("y.b=0-falsy-added", _steps(("attr", "b", 0)), ["a", "c", "b"], [30, 10, 0], {"a": 30, "b": 0, "c": 10}, {}),
    ("y.b=False-falsy-added", _steps(("attr", "b", False)), ["a", "c", "b"], [30, 10, False], {"a": 30, "b": False, "c": 10}, {}),
    ("y['b']=None-key-added", _steps(("item", "b", None)), ["a", "c", "b"], [30, 10, None], {"a": 30, "b": None, "c": 10}, {}),
]


@pytest.mark.parametrize(
    ("operation", "expected_keys", "expected_values", "expected_fields", "expected_extras"),
    [row[1:] for row in WRITE_ROWS],
    ids=[row[0] for row in WRITE_ROWS],
)
def test_attribute_and_item_set(operation, expected_keys, expected_values, expected_fields, expected_extras) -> None:
    """§5.1 table: keys, values and attributes after attribute set / item set (5.x rules)."""
    y = make_y()
    operation(y)
    assert keys(y) == expected_keys
    assert list(y.values()) == expected_values
    assert y.to_tuple() == tuple(expected_values)
    assert len(y) == len(expected_keys)
    assert fields_of(y) == expected_fields
    assert extras_of(y) == expected_extras


def test_attribute_none_leaves_key_value() -> None:
    """§5.1 row ``y.a = None``: ``y.a is None`` but ``y['a'] == 30``, ``y[0] == 30``, ``len(y) == 2``."""
    y = make_y()
    y.a = None
    assert y.a is None
    assert y["a"] == 30
    assert y[0] == 30
    assert len(y) == 2
    assert y.to_tuple() == (30, 10)


def test_item_set_appends_any_hashable_then_fails_for_non_str() -> None:
    """§5.1 row ``y[0] = 1``: the key is inserted, then ``TypeError: attribute name must be string,
    not 'int'`` is raised, and key ``0`` stays."""
    y = make_y()
    with pytest.raises(TypeError) as info:
        y[0] = 1
    assert type(info.value) is TypeError
    assert str(info.value) == "attribute name must be string, not 'int'"
    assert keys(y) == ["a", "c", 0]
    assert dict.__getitem__(y, 0) == 1
    assert fields_of(y) == {"a": 30, "b": None, "c": 10}
    # Deliberate difference (docs/compatibility.md #4): transformers' to_tuple() reads each key back
    # through item access and recurses on the int key until RecursionError; fastoutput returns the
    # values, and a non-str key still indexes to_tuple() (§4.2).
    assert y.to_tuple() == (30, 10, 1)
    assert y[0] == 30


def test_attribute_set_field_on_child() -> None:
    """§5.1: a field declared in a parent counts as a declared field of the child."""
    out = Child(a=1)
    out.c = 3
    out.d = 4
    assert keys(out) == ["a", "c", "d"]


def test_attribute_set_via_setattr_builtin() -> None:
    """§5.1: ``setattr`` follows the same rule as the statement form."""
    y = make_y()
    setattr(y, "b", 5)
    assert keys(y) == ["a", "c", "b"]
    object.__setattr__(y, "b", 6)  # the plain object hook bypasses the class rule
    assert y["b"] == 5


def test_del_attribute_of_field_with_default() -> None:
    """§5.1 row ``del y.c``: keys unchanged, ``y['c']`` still 10.

    Spec: ``y.c`` then falls back to the class default None. Implementations differ on purpose
    (deliberate difference (2)): the C++ core stores declared fields in native slots with member
    descriptors, so after ``del y.c`` reading ``y.c`` raises AttributeError.
    """
    y = make_y()
    del y.c
    assert keys(y) == ["a", "c"]
    assert list(y.values()) == [30, 10]
    assert y["c"] == 10
    if IS_CPP:
        with pytest.raises(AttributeError):
            y.c  # noqa: B018
        assert not hasattr(y, "c")
    else:
        assert y.c is None


def test_del_attribute_of_required_field() -> None:
    """§5.1 row ``del y.a``: keys unchanged; ``hasattr(y, 'a')`` is False (no class default)."""
    y = make_y()
    del y.a
    assert keys(y) == ["a", "c"]
    assert list(y.values()) == [30, 10]
    assert not hasattr(y, "a")
    assert y["a"] == 30


def test_del_extra_attribute() -> None:
    """§5.1: deleting an extra attribute leaves the mapping store alone."""
    y = make_y()
    y["zzz"] = 1
    del y.zzz
    assert not hasattr(y, "zzz")
    assert y["zzz"] == 1


def test_model_style_late_keys_are_appended() -> None:
    """§5.1: models store extra outputs after construction (``outputs[key] = value``): key order is insertion order."""
    out = Opt(b=2)
    out["c"] = 3
    out.a = 1
    assert keys(out) == ["b", "c", "a"]
    assert out.to_tuple() == (2, 3, 1)


# ---------------------------------------------------------------------------------------------
# §5.2 Blocked mutators
# ---------------------------------------------------------------------------------------------

BLOCKED = [
    ("del-y['a']", lambda y: y.__delitem__("a"), "__delitem__"),
    ("del-y['zzz']-no-KeyError", lambda y: y.__delitem__("zzz"), "__delitem__"),
    ("pop('a')", lambda y: y.pop("a"), "pop"),
    ("pop('zzz',None)", lambda y: y.pop("zzz", None), "pop"),
    ("pop()", lambda y: y.pop(), "pop"),
    ("setdefault('b',1)", lambda y: y.setdefault("b", 1), "setdefault"),
    ("setdefault('a')", lambda y: y.setdefault("a"), "setdefault"),
    ("update({'b':1})", lambda y: y.update({"b": 1}), "update"),
    ("update()", lambda y: y.update(), "update"),
    ("update(b=1)", lambda y: y.update(b=1), "update"),
    ("MutableMapping.pop", lambda y: MutableMapping.pop(y, "a"), "__delitem__"),
]


@pytest.mark.parametrize(("operation", "name"), [row[1:] for row in BLOCKED], ids=[row[0] for row in BLOCKED])
def test_blocked_mutators(operation, name: str) -> None:
    """§5.2: a bare ``Exception`` (never a subclass), whatever the arguments; the object is unchanged."""
    y = make_y()
    y["zzz"] = 1
    before = (keys(y), list(y.values()), dict(vars(y)))
    with pytest.raises(Exception) as info:
        operation(y)
    assert type(info.value) is Exception
    assert str(info.value) == f"You cannot use ``{name}`` on a MOT instance."
    assert (keys(y), list(y.values()), dict(vars(y))) == before


def test_blocked_del_statement() -> None:
    """§5.2: the ``del y['a']`` statement form raises the same bare Exception."""
    y = make_y()
    with pytest.raises(Exception) as info:
        del y["a"]
    assert type(info.value) is Exception
    assert str(info.value) == "You cannot use ``__delitem__`` on a MOT instance."


@pytest.mark.parametrize("cls", [Opt, Child, Frozen], ids=lambda c: c.__name__)
def test_blocked_message_names_the_class(cls) -> None:
    """§5.2: the name in the message is ``type(obj).__name__``."""
    out = cls(a=1)
    for call, name in ((lambda: out.pop("a"), "pop"), (lambda: out.update(), "update")):
        with pytest.raises(Exception) as info:
            call()
        assert type(info.value) is Exception
        assert str(info.value) == f"You cannot use ``{name}`` on a {cls.__name__} instance."


def test_blocked_is_not_a_typeerror() -> None:
    """§5.2: the error must not be a TypeError (torch's collate helpers fall back only on TypeError)."""
    y = make_y()
    try:
        y.update({"b": 1})
    except TypeError:  # pragma: no cover
        pytest.fail("update raised a TypeError")
    except Exception as exc:  # noqa: BLE001
        assert not isinstance(exc, TypeError)


# ---------------------------------------------------------------------------------------------
# §5.3 Mutators that are not blocked
# ---------------------------------------------------------------------------------------------


def test_popitem() -> None:
    """§5.3: ``y.popitem()`` returns ``('c', 10)``; keys ``['a']``; attribute ``c`` still 10."""
    y = make_y()
    assert y.popitem() == ("c", 10)
    assert keys(y) == ["a"]
    assert y.c == 10


def test_popitem_first() -> None:
    """§5.3: ``y.popitem(last=False)`` returns ``('a', 30)``; keys ``['c']``; attribute a still 30."""
    y = make_y()
    assert y.popitem(last=False) == ("a", 30)
    assert keys(y) == ["c"]
    assert y.a == 30


def test_popitem_empty() -> None:
    """§5.3 (ordered-dict behaviour): popitem on an empty output raises ``KeyError: 'dictionary is empty'``."""
    for last in (True, False):
        with pytest.raises(KeyError) as info:
            Opt().popitem(last=last)
        assert info.value.args == ("dictionary is empty",)


def test_clear() -> None:
    """§5.3: ``y.clear()`` empties the keys; attributes unchanged."""
    y = make_y()
    assert y.clear() is None
    assert keys(y) == []
    assert fields_of(y) == {"a": 30, "b": None, "c": 10}


def test_move_to_end() -> None:
    """§5.3: ``y.move_to_end('a')`` gives keys ``['c','a']``; values and attributes unchanged."""
    y = make_y()
    y.move_to_end("a")
    assert keys(y) == ["c", "a"]
    assert y.to_tuple() == (10, 30)
    assert fields_of(y) == {"a": 30, "b": None, "c": 10}


def test_move_to_end_first_and_missing() -> None:
    """§5.3 (ordered-dict behaviour): ``move_to_end(k, last=False)`` moves to the front; a missing key raises KeyError."""
    y = make_y()
    y.move_to_end("c", last=False)
    assert keys(y) == ["c", "a"]
    with pytest.raises(KeyError) as info:
        y.move_to_end("zzz")
    assert info.value.args == ("zzz",)
    assert keys(y) == ["c", "a"]


def test_inplace_or() -> None:
    """§5.3: ``y |= {'b': 1}`` gives keys ``['a','c','b']`` and attribute b=1 (item set per entry)."""
    y = make_y()
    original = y
    y |= {"b": 1}
    assert y is original
    assert keys(y) == ["a", "c", "b"]
    assert y.b == 1


def test_inplace_or_extra_key() -> None:
    """§5.3: ``|=`` with a non-field key goes through item set: key and attribute."""
    y = make_y()
    y |= {"zzz": 2}
    assert keys(y) == ["a", "c", "zzz"]
    assert y.zzz == 2


def test_or_returns_new_output() -> None:
    """§5.3: ``y | {'b': 1}`` is a new MOT with keys ``['a','c','b']``; ``y`` is unchanged."""
    y = make_y()
    z = y | {"b": 1}
    assert type(z) is MOT
    assert z is not y
    assert keys(z) == ["a", "c", "b"]
    assert fields_of(z) == {"a": 30, "b": 1, "c": 10}
    assert keys(y) == ["a", "c"]
    assert y.b is None


def test_reflected_or() -> None:
    """§5.3: ``{'b': 1} | y`` is ``MOT(a=30, b=1, c=10)`` with keys ``['b','a','c']``."""
    y = make_y()
    z = {"b": 1} | y
    assert type(z) is MOT
    assert z == MOT(a=30, b=1, c=10)
    assert keys(z) == ["b", "a", "c"]
    assert keys(y) == ["a", "c"]


def test_or_with_non_mapping_is_unsupported() -> None:
    """§5.3 (ordered-dict behaviour): ``y | 1`` is a TypeError from the operator protocol."""
    y = make_y()
    with pytest.raises(TypeError):
        y | 1  # noqa: B018
    with pytest.raises(TypeError):
        1 | y  # noqa: B018


def test_copy_with_required_field_fails() -> None:
    """§5.3: ``y.copy()`` calls the class with no arguments: ``TypeError: MOT.__init__() missing 1
    required positional argument: 'a'``."""
    with pytest.raises(TypeError) as info:
        make_y().copy()
    assert type(info.value) is TypeError
    assert str(info.value) == "MOT.__init__() missing 1 required positional argument: 'a'"


def test_copy_all_optional() -> None:
    """§5.3: ``Opt(a=1, c=3).copy()`` is a new Opt with keys ``['a','c']``."""
    o = Opt(a=1, c=3)
    z = o.copy()
    assert type(z) is Opt
    assert z is not o
    assert keys(z) == ["a", "c"]
    assert fields_of(z) == {"a": 1, "b": None, "c": 3}


def test_copy_keeps_insertion_order_and_extra_keys() -> None:
    """§5.3: copy is no-argument construction then item set for each entry, in key order."""
    o = Opt(c=3)
    o["zzz"] = 9
    o.a = 1
    z = o.copy()
    assert keys(z) == ["c", "zzz", "a"]
    assert z.zzz == 9


def test_fromkeys_required_field_fails() -> None:
    """§5.3: ``MOT.fromkeys(['a'])`` raises ``TypeError: MOT.__init__() missing 1 required positional argument: 'a'``."""
    with pytest.raises(TypeError) as info:
        MOT.fromkeys(["a"])
    assert type(info.value) is TypeError
    assert str(info.value) == "MOT.__init__() missing 1 required positional argument: 'a'"


def test_fromkeys_all_optional() -> None:
    """§5.3: ``Opt.fromkeys(['a'], 1)`` gives keys ``['a']`` and a=1."""
    o = Opt.fromkeys(["a"], 1)
    assert type(o) is Opt
    assert keys(o) == ["a"]
    assert o.a == 1


def test_mutablemapping_update_bypasses_block() -> None:
    """§5.3 ``OrderedDict.update(y, b=1)`` bypasses the block: keys ``['a','c','b']``, attribute b=1.

    fastoutput is not an OrderedDict (deliberate difference (1)), so the spec's spelling is a
    TypeError from the descriptor; the generic ``MutableMapping.update`` (which is what
    ``OrderedDict.update`` is in CPython) gives the spec's result.
    """
    y = make_y()
    MutableMapping.update(y, b=1)
    assert keys(y) == ["a", "c", "b"]
    assert y.b == 1
    y2 = make_y()
    with pytest.raises(TypeError):
        OrderedDict.update(y2, b=1)
    assert keys(y2) == ["a", "c"]


def test_dict_update_bypasses_block_keys_only() -> None:
    """§5.3 (dict methods bypass the block): ``dict.update(y, b=1)`` adds the key behind the
    class's back; being the raw dict primitive it does not write the attribute store."""
    y = make_y()
    dict.update(y, b=1)
    assert keys(y) == ["a", "c", "b"]
    assert y["b"] == 1
    assert y.b is None


def test_dict_delitem_bypasses_block() -> None:
    """§5.3: ``OrderedDict.__delitem__(y, 'a')`` bypasses the block (here ``dict.__delitem__``, as
    the base is a dict): keys ``['c']``; attribute a is still 30."""
    y = make_y()
    dict.__delitem__(y, "a")
    assert keys(y) == ["c"]
    assert y.a == 30
    with pytest.raises(TypeError):
        OrderedDict.__delitem__(make_y(), "a")


def test_dict_pop_and_setdefault_bypass_block() -> None:
    """§5.3 (dict methods bypass the block): ``dict.pop``/``dict.setdefault`` act on the mapping store only."""
    y = make_y()
    assert dict.pop(y, "c") == 10
    assert keys(y) == ["a"]
    assert y.c == 10
    assert dict.setdefault(y, "b", 4) == 4
    assert keys(y) == ["a", "b"]
    assert y.b is None
