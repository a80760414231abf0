"""Spec §4: reading an output (attributes, item access, ``to_tuple()``, the mapping protocol).

``x`` is ``MOT(a=30, c=10)`` throughout, as in the spec.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import numpy as np
import pytest
import torch

from fastoutput import ModelOutput

from .spec_classes import MOT, BaseLike, Opt


def make_x() -> MOT:
    return MOT(a=30, c=10)


# ---------------------------------------------------------------------------------------------
# §4.1 Attributes
# ---------------------------------------------------------------------------------------------


def test_attribute_reads() -> None:
    """§4.1: ``x.a, x.b, x.c`` give ``(30, None, 10)``."""
    x = make_x()
    assert (x.a, x.b, x.c) == (30, None, 10)


def test_missing_attribute_error() -> None:
    """§4.1: ``x.d`` raises ``AttributeError: 'MOT' object has no attribute 'd'``."""
    x = make_x()
    with pytest.raises(AttributeError) as info:
        x.d  # noqa: B018
    assert type(info.value) is AttributeError
    assert str(info.value) == "'MOT' object has no attribute 'd'"
    assert getattr(x, "d", "dflt") == "dflt"
    assert not hasattr(x, "d")


def test_no_fallback_from_attributes_to_mapping_store() -> None:
    """§4.1: attributes never fall back to the mapping store: a key stored behind the class's
    back (``dict.__setitem__``) is not an attribute."""
    x = make_x()
    dict.__setitem__(x, "q", 5)
    assert x["q"] == 5
    assert not hasattr(x, "q")
    base = ModelOutput(a=1)
    dict.__setitem__(base, "q", 5)
    assert not hasattr(base, "q")


def test_item_set_key_readable_as_attribute() -> None:
    """§4.1: keys added by item set are readable as attributes because item set writes both stores."""
    x = make_x()
    x["zzz"] = 7
    assert x.zzz == 7


# ---------------------------------------------------------------------------------------------
# §4.2 Item access
# ---------------------------------------------------------------------------------------------


class S(str):
    """A ``str`` subclass: looked up in the mapping store like a str."""


ITEM_ROWS = [
    ("str-a", "a", 30),
    ("int-0", 0, 30),
    ("int-1", 1, 10),
    ("int-minus-1", -1, 10),
    ("slice-:1", slice(None, 1), (30,)),
    ("slice-::-1", slice(None, None, -1), (10, 30)),
    ("slice-5:", slice(5, None), ()),
    ("slice-0:2", slice(0, 2), (30, 10)),
    ("np.int64(1)", np.int64(1), 10),
    ("torch.tensor(1)", torch.tensor(1), 10),
    ("True", True, 10),
    ("False", False, 30),
    ("str-subclass", S("a"), 30),
]


@pytest.mark.parametrize(("key", "expected"), [row[1:] for row in ITEM_ROWS], ids=[row[0] for row in ITEM_ROWS])
def test_item_access(key: Any, expected: Any) -> None:
    """§4.2 table: ``str`` keys look up the mapping store; anything else indexes ``to_tuple()``."""
    result = make_x()[key]
    assert result == expected
    assert type(result) is type(expected)


ITEM_ERRORS = [
    ("missing-field-b", "b", KeyError, "'b'"),
    ("missing-zzz", "zzz", KeyError, "'zzz'"),
    ("int-out-of-range", 2, IndexError, "tuple index out of range"),
    ("negative-out-of-range", -3, IndexError, "tuple index out of range"),
    ("float", 1.5, TypeError, "tuple indices must be integers or slices, not float"),
    ("None", None, TypeError, "tuple indices must be integers or slices, not NoneType"),
    ("bytes", b"a", TypeError, "tuple indices must be integers or slices, not bytes"),
    ("tuple", (0,), TypeError, "tuple indices must be integers or slices, not tuple"),
]


@pytest.mark.parametrize(
    ("key", "exc_type", "message"), [row[1:] for row in ITEM_ERRORS], ids=[row[0] for row in ITEM_ERRORS]
)
def test_item_access_errors(key: Any, exc_type: type, message: str) -> None:
    """§4.2 table: exact exception type and message for failed item access."""
    with pytest.raises(exc_type) as info:
        make_x()[key]
    assert type(info.value) is exc_type
    assert str(info.value) == message


def test_item_access_missing_key_error_args() -> None:
    """§4.2: ``x['b']`` raises a KeyError whose only argument is the key."""
    with pytest.raises(KeyError) as info:
        make_x()["b"]
    assert info.value.args == ("b",)


def test_item_with_none_value_after_item_set() -> None:
    """§4.2: ``y['c'] = None; y['c']`` is None: the key exists, with the value None."""
    y = make_x()
    y["c"] = None
    assert y["c"] is None
    assert "c" in y


def test_positions_follow_insertion_order() -> None:
    """§4.2: positions count over the mapping store in insertion order, not field order."""
    y = MOT({"c": 3, "a": 1})
    assert list(y.keys()) == ["c", "a"]
    assert (y[0], y[1]) == (3, 1)
    y.b = 2
    assert y[-1] == 2
    assert y[:] == (3, 1, 2)


def test_custom_index_object() -> None:
    """§4.2: any object with ``__index__`` indexes into ``to_tuple()``."""

    class Idx:
        def __index__(self) -> int:
            return 1

    assert make_x()[Idx()] == 10


# ---------------------------------------------------------------------------------------------
# §4.3 to_tuple()
# ---------------------------------------------------------------------------------------------


def test_to_tuple_plain_tuple_in_insertion_order() -> None:
    """§4.3: ``to_tuple()`` is a plain tuple of the mapping store's values in insertion order."""
    x = make_x()
    result = x.to_tuple()
    assert type(result) is tuple
    assert result == (30, 10)
    y = MOT({"c": 3, "a": 1})
    assert y.to_tuple() == (3, 1)


def test_to_tuple_includes_none_valued_keys() -> None:
    """§4.3: a key stored with the value None shows up as None."""
    y = make_x()
    y["c"] = None
    assert y.to_tuple() == (30, None)


def test_to_tuple_does_not_convert_nested_outputs() -> None:
    """§4.3: nested outputs and tuples are kept as they are."""
    t = torch.ones(2)
    inner = Opt(a=1)
    out = BaseLike(last_hidden_state=t, hidden_states=(t,), attentions=inner)
    result = out.to_tuple()
    assert result[0] is t
    assert result[1] == (t,)
    assert result[2] is inner


def test_to_tuple_return_dict_false_shape() -> None:
    """§4.3: ``BaseModelOutput(last_hidden_state=1, hidden_states=(1,)).to_tuple() == (1, (1,))``."""
    assert BaseLike(last_hidden_state=1, hidden_states=(1,)).to_tuple() == (1, (1,))


def test_to_tuple_empty() -> None:
    """§4.3: an output with no keys gives ``()``."""
    assert Opt().to_tuple() == ()
    assert ModelOutput().to_tuple() == ()


# ---------------------------------------------------------------------------------------------
# §4.4 Mapping protocol
# ---------------------------------------------------------------------------------------------

MAPPING_ROWS = [
    ("'a' in x", lambda x: "a" in x, True),
    ("'b' in x", lambda x: "b" in x, False),
    ("0 in x", lambda x: 0 in x, False),
    ("x.get('b')", lambda x: x.get("b"), None),
    ("x.get('b', 5)", lambda x: x.get("b", 5), 5),
    ("x.get('a')", lambda x: x.get("a"), 30),
    ("len(x)", lambda x: len(x), 2),
    ("bool(x)", lambda x: bool(x), True),
    ("list(x)", lambda x: list(x), ["a", "c"]),
    ("tuple(x)", lambda x: tuple(x), ("a", "c")),
    ("reversed(x)", lambda x: list(reversed(x)), ["c", "a"]),
    ("list(keys())", lambda x: list(x.keys()), ["a", "c"]),
    ("list(values())", lambda x: list(x.values()), [30, 10]),
    ("list(items())", lambda x: list(x.items()), [("a", 30), ("c", 10)]),
    ("dict(x)", lambda x: dict(x), {"a": 30, "c": 10}),
    ("{**x}", lambda x: {**x}, {"a": 30, "c": 10}),
    ("items()==dict.items()", lambda x: x.items() == {"a": 30, "c": 10}.items(), True),
    ("keys()==set", lambda x: x.keys() == {"a", "c"}, True),
    ("json.dumps", lambda x: json.dumps(x), '{"a": 30, "c": 10}'),
    ("vars(x)", lambda x: vars(x), {"a": 30, "b": None, "c": 10}),
]


@pytest.mark.parametrize(("name", "expr", "expected"), MAPPING_ROWS, ids=[row[0] for row in MAPPING_ROWS])
def test_mapping_protocol(name, expr, expected) -> None:
    """§4.4 table: the mapping protocol works over the mapping store."""
    result = expr(make_x())
    assert result == expected
    if name == "vars(x)":
        # the C++ core returns a write-through dict subclass (docs/compatibility.md); the value is what §4.4 pins
        assert isinstance(result, dict)
    else:
        assert type(result) is type(expected)


def test_bool_of_empty_output_is_false() -> None:
    """§4.4: ``bool(MOT(a=None))`` is False: an output with no keys is falsy."""
    assert bool(MOT(a=None)) is False
    assert bool(Opt()) is False
    assert bool(ModelOutput()) is False


def test_unpacking_yields_keys() -> None:
    """§4.4: ``p, q = x`` unpacks the keys, not the values."""
    p, q = make_x()
    assert (p, q) == ("a", "c")


def test_ordereddict_of_output() -> None:
    """§4.4: ``OrderedDict(x) == OrderedDict([('a', 30), ('c', 10)])``, order kept."""
    od = OrderedDict(make_x())
    assert type(od) is OrderedDict
    assert list(od.items()) == [("a", 30), ("c", 10)]
    assert od == OrderedDict([("a", 30), ("c", 10)])


def test_views_are_dict_views() -> None:
    """§4.4 view types: transformers gives ``odict_keys``/``odict_values``/``odict_items``;
    fastoutput is a ``dict`` subclass (deliberate difference (1)) and gives the plain dict views."""
    x = make_x()
    assert type(x.keys()).__name__ == "dict_keys"
    assert type(x.values()).__name__ == "dict_values"
    assert type(x.items()).__name__ == "dict_items"


def test_json_dumps_small() -> None:
    """§4.4: ``json.dumps(MOT(a=1, c=2)) == '{"a": 1, "c": 2}'``."""
    assert json.dumps(MOT(a=1, c=2)) == '{"a": 1, "c": 2}'


def test_mapping_store_order_is_insertion_order() -> None:
    """§1/§4.4: iteration order is insertion order, not field order."""
    y = MOT({"c": 3, "a": 1})
    assert list(y) == ["c", "a"]
    assert dict(y) == {"c": 3, "a": 1}
    assert list(dict(y)) == ["c", "a"]
