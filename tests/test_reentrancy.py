"""Re-entrancy: hostile objects that act on the very output an operation is reading or writing.

``tests/test_robustness.py`` covers dunders that *raise*, odd declarations and Python overrides. This
file covers the ones that *act*: a key's ``__eq__``, an index's ``__index__``, a first-field iterable's
``__iter__``/``__next__``, a value's ``__del__``, ``__eq__`` or ``__repr__`` that, in the middle of an
operation, adds or removes keys, sets or deletes attributes, clears or replaces the attribute dict of
the output being read or written, or drops the last reference to it. Parts:

1. Keys (``str`` subclasses) whose ``__eq__`` acts on the output during a lookup: item get/set/delete,
   ``in``, ``get``, attribute get/set/delete, keyword construction, ``==``/``!=`` with another output.
2. Keys stored in the output: the operations that read the mapping store never look them up; those
   that rebuild the attribute dict (C++ core) may, and stay consistent.
3. ``__index__`` that acts during ``out[i]`` and slicing; a ``__getitem__`` override that acts during
   ``to_tuple()``.
4. The first-field rule: iterables whose ``__iter__``/``__next__`` act on the output being built, and
   pairs whose key acts on it.
5. Values whose ``__del__`` acts while the output is being written, or while the collector frees it.
6. ``__eq__`` that returns garbage, ``__repr__`` that returns garbage or acts, recursive reprs, and
   ``str`` subclasses with odd ``__eq__``/``__hash__`` as keyword and attribute names.
7. Metaclass conflicts: an output class combined with classes that have another metaclass.
8. Dropping the last reference to the output from inside an operation on it.
9. Scenarios that once took the C++ core down (use after free, heap overflow, all fixed): each runs
   in a subprocess with ``PYTHONMALLOC=debug``, so that a regression fails every time, and without
   taking the test run with it.

The reference is transformers: the same classes are declared on fastoutput's and on transformers'
``ModelOutput`` (``declare``), the same scenario runs on both, and the result (value, or exception
type and message), the final state of the output (keys, values, field attributes, extra attributes)
and what the hostile object saw must agree. Where fastoutput differs by a documented rule
(docs/compatibility.md, spec §0.2) or on purpose, the test names the rule and pins fastoutput's
result. Everything except part 9 runs in-process.

Run: ``FASTOUTPUT_PURE_PYTHON=0 python -m pytest tests/test_reentrancy.py -q`` (C++ core), and the
same with ``FASTOUTPUT_PURE_PYTHON=1`` (pure-Python twin).
"""

from __future__ import annotations

import abc
import copy
import dataclasses
import gc
import json
import os
import pickle
import subprocess
import sys
import textwrap
import types
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, runtime_checkable

import pytest

from fastoutput import ModelOutput

from ._helpers import IS_CPP, EqualsAllStr, Hash42Str, transformers_major

if TYPE_CHECKING:
    from typing import Self  # Python 3.11; annotations are not evaluated at run time

HF_MAJOR = transformers_major()

# ---------------------------------------------------------------------------------------------------
# Classes, declared on either base
# ---------------------------------------------------------------------------------------------------

# `Overrides.__getitem__` runs (once) the hook registered here for the instance before reading.
GETITEM_HOOKS: dict[int, Callable[[Any], Any]] = {}


def declare(base: type, module_name: str) -> SimpleNamespace:
    """The classes of this file, declared on ``base`` (fastoutput's or transformers' ModelOutput). They
    get the same ``__qualname__`` on both bases and live in a module of their own (``module_name``,
    registered in ``sys.modules``), so that pickle finds them."""

    @dataclass
    class Opt(base):  # type: ignore[misc]
        a: Any = None
        b: Any = None
        c: Any = None

    @dataclass
    class Overrides(base):  # type: ignore[misc]
        a: Any = None
        b: Any = None
        c: Any = None

        def __getitem__(self, key: Any) -> Any:
            hook = GETITEM_HOOKS.pop(id(self), None)
            if hook is not None:
                hook(self)
            return super().__getitem__(key)

    module = types.ModuleType(module_name)
    for cls in (Opt, Overrides):
        cls.__qualname__ = cls.__name__
        cls.__module__ = module_name
        setattr(module, cls.__name__, cls)
    sys.modules[module_name] = module
    return SimpleNamespace(base=base, Opt=Opt, Overrides=Overrides)


FO = declare(ModelOutput, "tests._reentrancy_fastoutput")


@pytest.fixture(scope="module")
def tf() -> SimpleNamespace:
    """The same classes on transformers' ModelOutput."""
    utils = pytest.importorskip("transformers.utils")
    return declare(utils.ModelOutput, "tests._reentrancy_transformers")


@pytest.fixture(scope="module")
def tf5(tf: SimpleNamespace) -> SimpleNamespace:
    """transformers, for scenarios that act while the dataclass ``__init__`` runs: there 4.57 has no keys
    yet and 5.x has them (spec §0.2), and fastoutput follows 5.x."""
    if HF_MAJOR is None or HF_MAJOR < 5:
        pytest.skip("the reference is transformers 5.x: keys exist while __init__ runs (spec §0.2)")
    return tf


# ---------------------------------------------------------------------------------------------------
# Hostile objects. Each acts at most once, and every one made is disarmed before the state of an
# output is read (so that observing never triggers anything) and when the test ends.
# ---------------------------------------------------------------------------------------------------

# How to reach each hostile object made so far: a weak reference where the type allows one (a
# strong one must not keep a value alive whose __del__ is the point), else the object itself.
ARMED: list[Callable[[], Any]] = []


def arm(hostile: Any) -> None:
    try:
        ARMED.append(weakref.ref(hostile))
    except TypeError:  # str subclasses
        ARMED.append(lambda: hostile)


def disarm_all() -> None:
    for reach in ARMED:
        hostile = reach()
        if hostile is not None:
            hostile.action = None
    ARMED.clear()


def fire(hostile: Any) -> None:
    """Run the hostile object's action, once."""
    action, hostile.action = hostile.action, None
    if action is not None:
        action()


def logged(seen: list[str], action: Callable[[], Any]) -> Callable[[], None]:
    """``action``, noting in ``seen`` that it ran."""

    def run() -> None:
        seen.append("fired")
        action()

    return run


class Trigger(str):
    """A ``str`` (key, keyword or attribute name) that acts the first time a dict or set lookup compares
    it with a ``str`` of the same hash. It hashes as ``hash_as`` (default: its own text), so it can
    also collide with another name. Comparisons with strings of another hash (transformers 5.x checks
    every name against ``("past_key_values", "cache_params")``) do not fire it. Pickles as a plain str."""

    action: Callable[[], Any] | None
    hash_as: str

    def __new__(cls, text: str, action: Callable[[], Any] | None = None, *, hash_as: str | None = None) -> Self:
        self = super().__new__(cls, text)
        self.action = action
        self.hash_as = str(text if hash_as is None else hash_as)
        arm(self)
        return self

    def __hash__(self) -> int:
        return hash(self.hash_as)

    def __eq__(self, other: object) -> Any:
        if isinstance(other, str) and hash(other) == hash(self):
            fire(self)
        return str.__eq__(self, other)

    def __reduce__(self) -> Any:
        return (str, (str(self),))


class ActingIndex:
    """An index whose ``__index__`` acts (once), then returns ``value``."""

    def __init__(self, value: int, action: Callable[[], Any]) -> None:
        self.value = value
        self.action: Callable[[], Any] | None = action
        arm(self)

    def __index__(self) -> int:
        fire(self)
        return self.value


class OnDel:
    """A value whose ``__del__`` acts; an exception from the action is recorded in ``log``."""

    owner: Any = None  # what a test wants the value to hold on to

    def __init__(self, label: str, action: Callable[[], Any], log: list[Any]) -> None:
        self.label = label
        self.action: Callable[[], Any] | None = action
        self.log = log
        arm(self)

    def __del__(self) -> None:
        action, self.action = self.action, None
        if action is None:
            return
        self.log.append("del")
        try:
            action()
        except Exception as error:  # noqa: BLE001 - recorded, compared across the two libraries
            self.log.append((type(error), str(error)))


@pytest.fixture(autouse=True)
def _deterministic_collector() -> Iterator[None]:
    """Hostile objects hold closures over the outputs they act on, so scenarios leave reference cycles.
    Automatic collection is paused (no finalizer may run in the middle of a later scenario); at the
    end every hostile object is disarmed and the test's young garbage collected."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        disarm_all()
        GETITEM_HOOKS.clear()
        gc.collect(0)
        if enabled:
            gc.enable()


# ---------------------------------------------------------------------------------------------------
# Observing: comparable data for both libraries
# ---------------------------------------------------------------------------------------------------


def norm_key(key: Any) -> Any:
    return key if type(key) is str else (type(key).__name__, str(key))


def is_output(value: Any) -> bool:
    return isinstance(value, dict) and hasattr(type(value), "to_tuple")


def norm(value: Any) -> Any:
    """Outputs become their state, labelled objects their label, containers are normalised inside."""
    if is_output(value):
        return ("output", type(value).__name__, *state(value))
    if hasattr(value, "label") and not isinstance(value, type):
        return f"<{value.label}>"
    if isinstance(value, (tuple, list)):
        return type(value)(norm(item) for item in value)
    if isinstance(value, dict):
        return {norm_key(key): norm(item) for key, item in value.items()}
    return value


def state(out: Any) -> tuple[Any, ...]:
    """(keys, values, field attributes, extra attributes). A field missing from the attribute store
    counts as ``None``, what transformers reads through the class default."""
    disarm_all()
    attributes = dict(vars(out))
    names = [f.name for f in dataclasses.fields(out)] if dataclasses.is_dataclass(out) else []
    fields = {name: norm(attributes.pop(name, None)) for name in names}
    extras = {norm_key(name): norm(value) for name, value in attributes.items()}
    return ([norm_key(key) for key in out], [norm(value) for value in out.values()], fields, extras)


def outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    """("ok", normalised result) or (exception type, message). Every hostile object is disarmed once
    the call returns, so that normalising and comparing never set one off."""
    try:
        result = call()
    except Exception as error:  # noqa: BLE001 - the point is to compare any exception
        disarm_all()
        return (type(error), str(error))
    disarm_all()
    return ("ok", norm(result))


def under_construction(cls: type) -> Any:
    """The instance of ``cls`` being built: the ``self`` of a calling frame (transformers'
    ``__post_init__``, fastoutput's first-field rule), as hostile code can find it."""
    frame = sys._getframe(1)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if type(candidate) is cls:
            return candidate
        frame = frame.f_back  # type: ignore[assignment]
    raise LookupError("no instance under construction")


# Actions on an output (item syntax, so that the C++ core's native slots run).
def _add_key(out: Any) -> None:
    out["zz"] = "Z"


def _replace_b(out: Any) -> None:
    out["b"] = "B"


def _set_c_item(out: Any) -> None:
    out["c"] = "C"


def _set_a_item(out: Any) -> None:
    out["a"] = "A"


ACTIONS: dict[str, Callable[[Any], Any]] = {
    "add-key": _add_key,
    "replace-value": _replace_b,
    "pop-last-key": lambda out: out.popitem(),
    "set-field": lambda out: setattr(out, "c", "C"),
    "set-field-None": lambda out: setattr(out, "c", None),
    "delete-field": lambda out: delattr(out, "c"),
    "assign-dict": lambda out: setattr(out, "__dict__", {"a": "A", "yy": "Y"}),
    "clear-attributes": lambda out: vars(out).clear(),
}


def _opt(ns: SimpleNamespace) -> Any:
    """Opt(1, 2, 3) with an extra key ``xx``: every field set, so attribute writes follow the same
    rule under 4.57 and 5.x."""
    out = ns.Opt(1, 2, 3)
    out["xx"] = "X"
    return out


# ===================================================================================================
# 1. Keys whose __eq__ acts on the output during a lookup
# ===================================================================================================


def _item_get(out: Any, key: Any) -> Any:
    return out[key]


def _item_set(out: Any, key: Any) -> None:
    out[key] = "V"


def _item_delete(out: Any, key: Any) -> None:
    del out[key]


KEY_OPERATIONS: dict[str, Callable[[Any, Any], Any]] = {
    "item-get": _item_get,
    "item-set": _item_set,
    "item-delete": _item_delete,
    "in": lambda out, key: key in out,
    "get": lambda out, key: out.get(key),
    "attribute-get": getattr,
    "attribute-set": lambda out, key: setattr(out, key, "V"),
    "attribute-delete": delattr,
    "keyword-construction": lambda out, key: type(out)(**{key: "V"}),
}

# What fastoutput's operation returns instead of transformers', the final state still agreeing.
# transformers' string item get looks the key up in a copy of the mapping store made first
# (`dict(self.items())[k]`), so it returns the value from before the key's __eq__ ran; fastoutput
# looks it up in the store itself and returns the value stored when the lookup ends.
KEY_RESULT_DIFFERENCES: dict[tuple[str, str], tuple[Any, ...]] = {
    ("item-get", "replace-value"): ("ok", "B"),
}
# docs/compatibility.md 8 (C++ only): a field deleted from the attribute store raises on reading
# (transformers reads the class default), and deleting it again raises CPython's slot error; a field
# missing from an assigned __dict__ holds its class default, which can be deleted once.
CPP_SLOT_DIFFERENCES: dict[tuple[str, str], tuple[Any, ...]] = {
    ("attribute-get", "clear-attributes"): (AttributeError, "'Opt' object has no attribute 'b'"),
    ("attribute-delete", "assign-dict"): ("ok", None),
    ("attribute-delete", "clear-attributes"): (AttributeError, "b"),
}


def _key_scenario(ns: SimpleNamespace, operation: str, action: str) -> tuple[Any, ...]:
    out = _opt(ns)
    seen: list[str] = []
    key = Trigger("b", logged(seen, lambda: ACTIONS[action](out)))
    result = outcome(lambda: KEY_OPERATIONS[operation](out, key))
    return result, state(out), seen


@pytest.mark.transformers
@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("operation", list(KEY_OPERATIONS))
def test_key_acting_during_a_lookup_like_transformers(operation: str, action: str, tf: SimpleNamespace) -> None:
    """A key equal to field ``b`` whose ``__eq__`` changes the output (adds or pops a key, replaces a
    value, sets, clears or deletes attributes, assigns ``__dict__``) in the middle of the lookup: same
    result or error, same final state, and the key acted when it did in transformers (never for the
    blocked ``del out[k]``). Exceptions: ``KEY_RESULT_DIFFERENCES`` and, under the C++ core,
    ``CPP_SLOT_DIFFERENCES`` (docs/compatibility.md 8)."""
    expected = _key_scenario(tf, operation, action)
    actual = _key_scenario(FO, operation, action)
    different = KEY_RESULT_DIFFERENCES.get((operation, action))
    if different is None and IS_CPP:
        different = CPP_SLOT_DIFFERENCES.get((operation, action))
    if different is not None:
        assert actual[0] == different
        assert actual[1:] == expected[1:]
        return
    assert actual == expected


def test_item_get_returns_the_value_stored_when_the_lookup_ends() -> None:
    """``out[k]`` where k's ``__eq__`` replaces the value being looked up, or pops that key: fastoutput
    reads the mapping store itself, so it returns the new value or raises ``KeyError``; transformers
    reads a copy made before the lookup and returns the old value either way (not yet listed in
    docs/compatibility.md)."""
    out = FO.Opt(1, 2)
    assert out[Trigger("b", lambda: _replace_b(out))] == "B"
    popped = FO.Opt(1, 2)
    with pytest.raises(KeyError, match="^'b'$"):
        popped[Trigger("b", lambda: popped.popitem())]
    assert list(popped.items()) == [("a", 1)]


@pytest.mark.transformers
@pytest.mark.parametrize("action", ["add-key", "replace-value", "pop-last-key", "delete-field", "clear-attributes"])
def test_key_acting_on_the_base_class_like_transformers(action: str, tf: SimpleNamespace) -> None:
    """The same for an instance of the base class, through item set, ``in`` and item get (attribute
    assignment on a base-class instance follows 4.57 by design, spec D6, so no action assigns one)."""

    def scenario(ns: SimpleNamespace) -> tuple[Any, ...]:
        results = []
        for operation in ("item-set", "in", "item-get"):
            out = ns.base(a=1, b=2, c=3)
            key = Trigger("b", lambda: ACTIONS[action](out))  # noqa: B023 - runs within this iteration
            results.append((outcome(lambda: KEY_OPERATIONS[operation](out, key)), state(out)))  # noqa: B023
        return tuple(results)

    expected = outcome(lambda: scenario(tf))
    actual = outcome(lambda: scenario(FO))
    if action == "replace-value":
        # as in test_item_get_returns_the_value_stored_when_the_lookup_ends
        assert actual[1][2][0] == ("ok", "B")
        assert actual[1][:2] + actual[1][2][1:] == expected[1][:2] + expected[1][2][1:]
        return
    assert actual == expected


@pytest.mark.transformers
@pytest.mark.parametrize("action", ["add-key", "replace-value", "pop-last-key", "set-field", "assign-dict"])
def test_keyword_acting_on_another_instance_during_construction_like_transformers(
    action: str, tf: SimpleNamespace
) -> None:
    """``Opt(**{k: v})`` where k equals field ``b`` and its ``__eq__`` changes another instance and builds
    a third one while the arguments are bound: the new instance, the changed one and the third are
    all as in transformers."""

    def scenario(ns: SimpleNamespace) -> tuple[Any, ...]:
        other = _opt(ns)
        made: list[Any] = []

        def act() -> None:
            ACTIONS[action](other)
            made.append(ns.Opt(7, b=8))

        key = Trigger("b", act)
        new = ns.Opt(**{key: "V"})
        return norm(new), state(other), norm(made)

    assert outcome(lambda: scenario(FO)) == outcome(lambda: scenario(tf))


COMPARISONS: dict[str, tuple[str, Callable[[Any, Any], Any]]] = {
    "base-class-eq": ("base", lambda left, right: left == right),
    "base-class-ne": ("base", lambda left, right: left != right),
    "base-class-eq-reflected": ("base", lambda left, right: right == left),
    "dataclass-ne": ("Opt", lambda left, right: left != right),  # the mapping comparison (spec §3.1)
}


@pytest.mark.transformers
@pytest.mark.parametrize("action", ["add-key", "replace-value", "pop-last-key", "clear-attributes"])
@pytest.mark.parametrize("comparison", list(COMPARISONS))
def test_key_of_the_other_output_acting_during_a_comparison_like_transformers(
    comparison: str, action: str, tf: SimpleNamespace
) -> None:
    """``left == right`` / ``!=`` between two mappings of the same size, where a key of ``right`` equal
    to ``b`` changes ``left`` when the comparison looks ``b`` up: same answer, same final state."""
    kind, compare = COMPARISONS[comparison]

    def scenario(ns: SimpleNamespace) -> tuple[Any, ...]:
        cls = ns.base if kind == "base" else ns.Opt
        left, right = cls(a=1, b=2, c=3), cls(a=1)
        seen: list[str] = []
        right[Trigger("b", logged(seen, lambda: ACTIONS[action](left)))] = 2
        right["c"] = 3
        return outcome(lambda: compare(left, right)), state(left), seen

    assert scenario(FO) == scenario(tf)


# ===================================================================================================
# 2. Keys stored in the output
# ===================================================================================================


def _int_index(out: Any) -> Any:
    return out[2]


def _slice(out: Any) -> Any:
    return out[1:]


MAPPING_READS: dict[str, Callable[[Any], Any]] = {
    "to_tuple": lambda out: out.to_tuple(),
    "int-index": _int_index,
    "slice": _slice,
    "list": list,
    "keys-values-items": lambda out: (list(out.keys()), list(out.values()), list(out.items())),
    "len-bool": lambda out: (len(out), bool(out)),
    "repr": repr,
    "not-equal-to-a-dict-of-another-size": lambda out: out != {"a": 1},
    "json": json.dumps,
}


@pytest.mark.parametrize("make", [lambda: FO.Opt(1, 2), lambda: FO.base(a=1, b=2)], ids=["dataclass", "base-class"])
@pytest.mark.parametrize("operation", list(MAPPING_READS.values()), ids=list(MAPPING_READS))
def test_reading_the_mapping_store_never_looks_a_stored_key_up(
    operation: Callable[[Any], Any], make: Callable[[], Any]
) -> None:
    """A stored key that hashes like ``b`` and would add a key when compared: iterating, ``to_tuple()``,
    indexing, slicing, printing and JSON read the store without looking keys up, so it never acts and
    the result is the one a plain key gives. (transformers' OrderedDict looks keys up while it iterates
    and its ``__getitem__`` copies the store, so there such a key can act. Building another dict from
    the output, ``popitem`` and ``copy()`` compare colliding keys in every library, as for any dict.)"""
    hostile, plain = make(), make()
    seen: list[str] = []
    key = Trigger("zz", hash_as="b")
    hostile[key] = 3
    plain[Trigger("zz", hash_as="b")] = 3  # never armed
    key.action = logged(seen, lambda: _add_key(hostile))
    result = outcome(lambda: operation(hostile))
    assert seen == []
    assert result == outcome(lambda: operation(plain))  # outcome() disarms before comparing
    assert state(hostile) == state(plain)


ATTRIBUTE_SNAPSHOTS: dict[str, Callable[[Any], Any]] = {
    "vars": vars,
    "pickle": lambda out: pickle.loads(pickle.dumps(out)),
    "copy": copy.copy,
    "deepcopy": copy.deepcopy,
    "replace": dataclasses.replace,
    "asdict": dataclasses.asdict,
}
SNAPSHOT_ACTIONS: dict[str, Callable[[Any], Any]] = {
    "add-key": _add_key,
    "set-field": lambda out: setattr(out, "c", "C"),
    "delete-extra": lambda out: delattr(out, "yy"),
    "add-extra": lambda out: setattr(out, "ww", "W"),
    "clear-attributes": lambda out: vars(out).clear(),
}


@pytest.mark.parametrize("action", list(SNAPSHOT_ACTIONS))
@pytest.mark.parametrize("operation", list(ATTRIBUTE_SNAPSHOTS))
def test_reading_the_attribute_store_with_a_hostile_attribute_name_stays_consistent(
    operation: str, action: str
) -> None:
    """An extra attribute whose name (a ``str`` subclass hashing like field ``b``) acts on the output when
    compared. Copies compare it when they set it on the new object (in every library), and under the
    C++ core ``vars``, pickle and copy also compare it while they rebuild the attribute dict from the
    field slots (docs/compatibility.md 8). Whenever it acts, the operation gives a Python result or
    error, and the output ends as if the action had run on its own (or not at all)."""
    out = FO.Opt(1, 2, 3)
    name = Trigger("zz", hash_as="b")
    setattr(out, name, "N")
    out.yy = "Y"
    seen: list[str] = []
    name.action = logged(seen, lambda: SNAPSHOT_ACTIONS[action](out))
    result = outcome(lambda: ATTRIBUTE_SNAPSHOTS[operation](out))
    assert result[0] == "ok" or result[0] in (RuntimeError, AttributeError), result
    reference = FO.Opt(1, 2, 3)
    setattr(reference, Trigger("zz", hash_as="b"), "N")  # never armed
    reference.yy = "Y"
    if seen:
        SNAPSHOT_ACTIONS[action](reference)
    assert state(out) == state(reference)


# ===================================================================================================
# 3. __index__ that acts during out[i] and slicing; __getitem__ overrides that act during to_tuple()
# ===================================================================================================

# (index value, action): each action paired with the index it changes the answer for
INDEX_CASES: dict[str, tuple[int, Callable[[Any], Any]]] = {
    "add-key": (4, _add_key),
    "replace-value": (1, _replace_b),
    "pop-last-key": (3, lambda out: out.popitem()),
    "set-field-None": (1, lambda out: setattr(out, "b", None)),
    "assign-dict": (1, lambda out: setattr(out, "__dict__", {"a": "A"})),
    "clear-attributes": (1, lambda out: vars(out).clear()),
}


def _index_with(index: Any) -> Callable[[Any], Any]:
    def read(out: Any) -> Any:
        return out[index]

    return read


INDEX_OPERATIONS: dict[str, Callable[[Any], Callable[[Any], Any]]] = {
    "int-index": _index_with,
    "slice-start": lambda index: _index_with(slice(index, None)),
    "slice-stop": lambda index: _index_with(slice(None, index)),
    "slice-step": lambda index: _index_with(slice(None, None, index)),
}

@pytest.mark.transformers
@pytest.mark.parametrize("operation", list(INDEX_OPERATIONS))
@pytest.mark.parametrize("action", list(INDEX_CASES))
def test_index_acting_during_item_access_like_transformers(operation: str, action: str, tf: SimpleNamespace) -> None:
    """``out[i]`` / ``out[i:]`` / ``out[:i]`` / ``out[::i]`` with an ``__index__`` that adds or pops a
    key, replaces a value, sets a field to ``None``, assigns or clears the attribute dict: same result
    or ``IndexError``, same final state."""
    value, act = INDEX_CASES[action]

    def scenario(ns: SimpleNamespace) -> tuple[Any, ...]:
        out = _opt(ns)
        index = ActingIndex(value, lambda: act(out))
        return outcome(lambda: INDEX_OPERATIONS[operation](index)(out)), state(out)

    assert scenario(FO) == scenario(tf)


# transformers' to_tuple is `tuple(self[k] for k in self.keys())`: a size change made by the override
# is caught by the keys iterator, worded by OrderedDict there and by dict in fastoutput
# (docs/compatibility.md 1).
ITERATION_MESSAGES = {"OrderedDict mutated during iteration": "dictionary changed size during iteration"}
GETITEM_ACTIONS: dict[str, Callable[[Any], Any]] = {
    "add-key": _add_key,
    "replace-value": _replace_b,
    "replace-a-later-value": _set_c_item,
    "pop-last-key": lambda out: out.popitem(),
    "assign-dict": lambda out: setattr(out, "__dict__", {}),
}
GETITEM_READS: dict[str, Callable[[Any], Any]] = {
    "to_tuple": lambda out: out.to_tuple(),
    "int-index": _int_index,
    "slice": _slice,
    "dict": dict,
}




@pytest.mark.transformers
@pytest.mark.parametrize("read", list(GETITEM_READS))
@pytest.mark.parametrize("action", list(GETITEM_ACTIONS))
def test_getitem_override_acting_during_reads_like_transformers(read: str, action: str, tf: SimpleNamespace) -> None:
    """A Python ``__getitem__`` override that changes the output the first time it runs, during
    ``to_tuple()``, ``out[i]``, slicing and ``dict(out)``: same result or error (the iteration message
    as dict words it), same final state. ``dict(out)`` reads the stored values past the override in
    fastoutput (docs/compatibility.md 5), so the override does not run there."""

    def scenario(ns: SimpleNamespace) -> tuple[Any, ...]:
        out = ns.Overrides(1, 2, 3)
        GETITEM_HOOKS[id(out)] = GETITEM_ACTIONS[action]
        result = outcome(lambda: GETITEM_READS[read](out))
        ran = id(out) not in GETITEM_HOOKS
        GETITEM_HOOKS.pop(id(out), None)
        return result, state(out), ran

    expected = scenario(tf)
    actual = scenario(FO)
    if read == "dict":
        assert actual == (("ok", {"a": 1, "b": 2, "c": 3}), state(FO.Overrides(1, 2, 3)), False)
        return
    if expected[0][0] is RuntimeError:
        expected = ((RuntimeError, ITERATION_MESSAGES.get(expected[0][1], expected[0][1])), *expected[1:])
    assert actual == expected


# ===================================================================================================
# 4. The first-field rule: iterables and pairs that act on the output being built
# ===================================================================================================


class ActingIterable:
    """Yields ``pairs``; runs ``action(output being built)`` in ``__iter__`` (when == "iter") or before
    yielding element ``when``."""

    label = "iterable"

    def __init__(self, cls: type, pairs: list[Any], when: str | int, action: Callable[[Any], Any] | None) -> None:
        self.cls, self.pairs, self.when, self.position = cls, pairs, when, 0
        self.action: Callable[[], Any] | None = None if action is None else lambda: action(under_construction(cls))
        arm(self)

    def __iter__(self) -> ActingIterable:
        if self.when == "iter":
            fire(self)
        return self

    def __next__(self) -> Any:
        if self.when == self.position:
            fire(self)
        if self.position >= len(self.pairs):
            raise StopIteration
        self.position += 1
        return self.pairs[self.position - 1]


FIRST_FIELD_VALUES: dict[str, list[Any]] = {
    "pairs": [("b", 1), ("zz", 2)],
    "first-element-not-a-pair": [5, 6],
    "second-element-not-a-pair": [("b", 1), 7],
    "empty": [],
}
# Actions on the output being built; item syntax only, since attribute writes to a field that is
# None follow different rules in 4.57 and 5.x (spec §0.2).
BUILD_ACTIONS: dict[str, Callable[[Any], Any]] = {
    "add-key": _add_key,
    "set-first-field": _set_a_item,
    "set-another-field": _set_c_item,
    "pop-last-key": lambda out: out.popitem(),
    "delete-first-field": lambda out: delattr(out, "a"),
    "assign-dict": lambda out: setattr(out, "__dict__", {"yy": "Y"}),
    "clear-attributes": lambda out: vars(out).clear(),
}


def _first_field_scenario(ns: SimpleNamespace, pairs: str, when: str | int, action: str | None) -> tuple[Any, ...]:
    act = None if action is None else BUILD_ACTIONS[action]
    iterable = ActingIterable(ns.Opt, FIRST_FIELD_VALUES[pairs], when, act)
    return outcome(lambda: state(ns.Opt(iterable)))


@pytest.mark.transformers
@pytest.mark.parametrize("action", list(BUILD_ACTIONS))
@pytest.mark.parametrize("when", [0, 1, 2])
@pytest.mark.parametrize("pairs", list(FIRST_FIELD_VALUES))
def test_first_field_iterable_acting_while_iterated_like_transformers(
    pairs: str, when: int, action: str, tf: SimpleNamespace
) -> None:
    """A lone first value iterated as ``(key, value)`` pairs whose ``__next__`` changes the output being
    built (reached from the calling frame) before yielding element 0, 1 or 2: same keys, attributes
    and errors as transformers, whose rule has then already reset the first field."""
    assert _first_field_scenario(FO, pairs, when, action) == _first_field_scenario(tf, pairs, when, action)


@pytest.mark.transformers
@pytest.mark.parametrize("action", list(BUILD_ACTIONS))
@pytest.mark.parametrize("pairs", list(FIRST_FIELD_VALUES))
def test_first_field_iterable_acting_in_iter_like_transformers_5(pairs: str, action: str, tf5: SimpleNamespace) -> None:
    """The same from ``__iter__``, which runs before the rule resets the first field (the key of the
    first field exists then: spec §0.2). One difference: when ``__iter__`` pops that key, transformers
    5.x fails with ``KeyError: 'a'`` (its reset deletes the key with ``del``); fastoutput's reset drops
    it only if present, so the result is as if ``__iter__`` had done nothing."""
    actual = _first_field_scenario(FO, pairs, "iter", action)
    if action == "pop-last-key":
        assert _first_field_scenario(tf5, pairs, "iter", action) == (KeyError, "'a'")
        assert actual == _first_field_scenario(FO, pairs, "iter", None)
        return
    assert actual == _first_field_scenario(tf5, pairs, "iter", action)


@pytest.mark.transformers
@pytest.mark.parametrize("action", list(BUILD_ACTIONS))
def test_first_field_pair_whose_key_acts_like_transformers_5(action: str, tf5: SimpleNamespace) -> None:
    """A pair ``(k, v)`` whose key k (equal to field ``b``) changes the output being built when the rule
    looks it up to set attribute ``b``: same end state as transformers 5.x (4.57 looks keys up
    differently, spec §0.2)."""

    def scenario(ns: SimpleNamespace) -> tuple[Any, ...]:
        building: list[Any] = []

        class Pairs:
            label = "pairs"

            def __iter__(self) -> Iterator[Any]:
                building.append(under_construction(ns.Opt))
                return iter([(Trigger("b", lambda: BUILD_ACTIONS[action](building[0])), 1), ("zz", 2)])

        return outcome(lambda: state(ns.Opt(Pairs())))

    assert scenario(FO) == scenario(tf5)


class _RewritesClass:
    """A lone first value whose ``__class__`` (which the tensor check reads through ``isinstance``)
    empties the class's field list once."""

    label = "first"

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.done = False

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # noqa: PLW0236 - what isinstance falls back to
        if not self.done:
            self.done = True
            self.cls.__dataclass_fields__ = {}  # type: ignore[attr-defined]
            dict.__new__(self.cls)  # the C++ core rebuilds its field table here
        return _RewritesClass


@pytest.mark.transformers
def test_first_value_whose_class_check_empties_the_fields_like_transformers(tf: SimpleNamespace) -> None:
    """The tensor check of the first-field rule reads the value's ``__class__``; if that empties the
    class's fields, the construction already under way still finishes with the fields it started with,
    as in transformers."""

    def scenario(ns: SimpleNamespace) -> tuple[Any, ...]:
        @dataclass
        class Emptied(ns.base):  # type: ignore[misc,name-defined]
            a: Any = None
            b: Any = None

        Emptied()
        fields = Emptied.__dataclass_fields__
        out = outcome(lambda: Emptied(_RewritesClass(Emptied)))
        Emptied.__dataclass_fields__ = fields
        return out

    pytest.importorskip("numpy")  # the tensor check only runs isinstance for the types of imported frameworks
    ours, theirs = scenario(FO), scenario(tf)
    if IS_CPP:
        # docs/compatibility.md 8: vars(out) lists the fields of the class's current table, which the
        # value's __class__ emptied; transformers' instance dict still holds them.
        ours, theirs = ours[1][:5], theirs[1][:5]
    assert ours == theirs


# ===================================================================================================
# 5. Values whose __del__ acts while the output is being written or collected
# ===================================================================================================


def _attribute_set(ns: SimpleNamespace, out: Any) -> None:
    out.b = "new"


def _attribute_set_none(ns: SimpleNamespace, out: Any) -> None:
    out.b = None


def _attribute_delete(ns: SimpleNamespace, out: Any) -> None:
    del out.b


def _item_set_b(ns: SimpleNamespace, out: Any) -> None:
    out["b"] = "new"


def _dict_assign(ns: SimpleNamespace, out: Any) -> None:
    out.__dict__ = {"a": 1, "b": "new"}


def _dict_assign_without_b(ns: SimpleNamespace, out: Any) -> None:
    out.__dict__ = {"a": 1}


def _vars_clear(ns: SimpleNamespace, out: Any) -> None:
    vars(out).clear()


def _vars_update(ns: SimpleNamespace, out: Any) -> None:
    vars(out).update(b="new")


def _setstate(ns: SimpleNamespace, out: Any) -> None:
    # transformers has no __setstate__: pickle then updates the instance dict (docs/compatibility.md 2)
    if ns is FO:
        out.__setstate__({"b": "new"})
    else:
        vars(out).update({"b": "new"})


def _popitem(ns: SimpleNamespace, out: Any) -> None:
    out.popitem()


# Each write releases the old value of b (the last for popitem), held by the attribute store only.
WRITES: dict[str, Callable[[SimpleNamespace, Any], None]] = {
    "attribute-set": _attribute_set,
    "attribute-set-None": _attribute_set_none,
    "attribute-delete": _attribute_delete,
    "item-set": _item_set_b,
    "dict-assign": _dict_assign,
    "dict-assign-without-the-field": _dict_assign_without_b,
    "vars-clear": _vars_clear,
    "vars-update": _vars_update,
    "setstate": _setstate,
    "popitem": _popitem,
}
DEL_ACTIONS: dict[str, Callable[[list[Any]], Any]] = {
    "drop-last-reference": lambda holder: holder.clear(),
    "clear-attributes": lambda holder: vars(holder[0]).clear(),
    "assign-dict": lambda holder: setattr(holder[0], "__dict__", {"a": "A", "yy": "Y"}),
    "set-another-field": lambda holder: _set_c_item(holder[0]),
    "set-the-same-field": lambda holder: setattr(holder[0], "b", "B"),
    "add-key": lambda holder: _add_key(holder[0]),
    "pop-last-key": lambda holder: holder[0].popitem(),
}




def _del_scenario(ns: SimpleNamespace, write: str, action: str) -> tuple[Any, ...]:
    holder: list[Any] = []
    log: list[Any] = []
    out = ns.Opt(1, 2, 3)
    old = OnDel("old", lambda: DEL_ACTIONS[action](holder), log)
    if write == "popitem":
        out["c"] = old  # in both stores, then the attribute lets go: only the key holds it
        out.c = None
    else:
        vars(out)["b"] = old  # the attribute store only (the key keeps 2)
    del old
    holder.append(out)
    alive = weakref.ref(out)
    del out
    result = outcome(lambda: WRITES[write](ns, holder[0]))
    out = alive()
    return result, "freed" if out is None else state(out), log


@pytest.mark.transformers
@pytest.mark.parametrize("write", list(WRITES))
@pytest.mark.parametrize("action", list(DEL_ACTIONS))
def test_finalizer_acting_during_a_write_like_transformers(write: str, action: str, tf: SimpleNamespace) -> None:
    """A write releases the old value of a field, whose ``__del__`` then drops the last reference to the
    output, clears or replaces its attribute dict, sets a field or a key, or pops a key: same result,
    same final state (or the output freed once the write returned), and the finalizer saw the same."""
    assert _del_scenario(FO, write, action) == _del_scenario(tf, write, action)


@pytest.mark.transformers
@pytest.mark.parametrize("action", ["read", "add-key", "set-field", "assign-dict", "clear-attributes", "resurrect"])
def test_finalizer_in_a_collected_cycle_sees_a_whole_output_like_transformers(
    action: str, tf: SimpleNamespace
) -> None:
    """An output in a reference cycle with a value whose ``__del__`` reads and changes it: the collector
    runs the finalizer on the intact output (same view as transformers), then frees both, or keeps the
    output the finalizer resurrected, intact. (Finalizers run before the collector clears anything, so
    no Python code that can reach the output runs inside its ``tp_clear``.)"""

    def scenario(ns: SimpleNamespace) -> tuple[Any, ...]:
        log: list[Any] = []
        kept: list[Any] = []
        out = ns.Opt(1, 2, 3)
        out["xx"] = "X"

        def act() -> None:
            finalizing = sys._getframe(1).f_locals["self"]  # the value, from its __del__ (no reference kept)
            target = finalizing.owner
            log.append(state(target))
            if action == "resurrect":
                kept.append(target)
            elif action != "read":
                ACTIONS[action](target)
                log.append(state(target))

        value = OnDel("cyclic", act, log)
        value.owner = out
        out.b = value
        alive = weakref.ref(out)
        del out, value
        gc.collect(0)
        survivor = alive()
        return log, None if survivor is None else state(survivor), len(kept)

    expected = scenario(tf)
    whole = (["a", "b", "c", "xx"], [1, "<cyclic>", 3, "X"], {"a": 1, "b": "<cyclic>", "c": 3}, {"xx": "X"})
    assert expected[0][:2] == ["del", whole]  # the finalizer ran, on the whole output
    assert scenario(FO) == expected


# ===================================================================================================
# 6. __eq__ returning garbage, __repr__ returning garbage or acting, odd str subclasses as names
# ===================================================================================================


class BoolRaises:
    def __bool__(self) -> bool:
        raise RuntimeError("bool boom")


GARBAGE: dict[str, Callable[[], Any]] = {
    "bool-raises": BoolRaises,
    "NotImplemented": lambda: NotImplemented,
    "truthy-non-bool": lambda: [1],
    "falsy-non-bool": list,
    "None": lambda: None,
}


class GarbageEq:
    """A value whose ``__eq__`` returns ``result()``."""

    label = "garbage-eq"

    def __init__(self, result: Callable[[], Any]) -> None:
        self.result = result

    def __eq__(self, other: object) -> Any:
        return self.result()

    __hash__ = object.__hash__


class GarbageEqStr(str):
    """A name whose ``__eq__`` returns ``result()`` when compared with a str of its hash (a dict, set or
    keyword lookup), and compares as a str otherwise."""

    result: Callable[[], Any]

    def __new__(cls, text: str, result: Callable[[], Any]) -> Self:
        self = super().__new__(cls, text)
        self.result = result
        return self

    __hash__ = str.__hash__

    def __eq__(self, other: object) -> Any:
        if isinstance(other, str) and hash(other) == hash(self):
            return self.result()
        return str.__eq__(self, other)


def _attribute_set_then(out: Any, name: str, value: Any) -> Any:
    setattr(out, name, value)
    return out


def _item_set_via_slot(out: Any, key: Any, value: Any) -> Any:
    out[key] = value
    return out


EQ_COMPARISONS: dict[str, Callable[[SimpleNamespace, Callable[[], Any]], Any]] = {
    "dataclass-eq": lambda ns, r: ns.Opt(1, GarbageEq(r)) == ns.Opt(1, GarbageEq(r)),
    "dataclass-ne": lambda ns, r: ns.Opt(1, GarbageEq(r)) != ns.Opt(1, GarbageEq(r)),
    "base-eq": lambda ns, r: ns.base(a=GarbageEq(r)) == ns.base(a=GarbageEq(r)),
    "base-ne": lambda ns, r: ns.base(a=GarbageEq(r)) != ns.base(a=GarbageEq(r)),
    "eq-dict": lambda ns, r: ns.Opt(1, GarbageEq(r)) == {"a": 1, "b": GarbageEq(r)},
    "value-in-values": lambda ns, r: GarbageEq(r) in ns.Opt(1, 2).values(),
    "item-get": lambda ns, r: ns.Opt(1, 2)[GarbageEqStr("b", r)],
    "in": lambda ns, r: GarbageEqStr("b", r) in ns.Opt(1, 2),
    "get": lambda ns, r: ns.Opt(1, 2).get(GarbageEqStr("b", r), "default"),
    "item-set": lambda ns, r: _item_set_via_slot(ns.Opt(1, 2), GarbageEqStr("b", r), 5),
    "attribute-set": lambda ns, r: _attribute_set_then(ns.Opt(1, 2), GarbageEqStr("b", r), 5),
    "attribute-get": lambda ns, r: getattr(ns.Opt(1, 2), GarbageEqStr("b", r)),
    "keyword": lambda ns, r: ns.Opt(**{GarbageEqStr("b", r): 5}),
}


@pytest.mark.transformers
@pytest.mark.parametrize("garbage", list(GARBAGE))
@pytest.mark.parametrize("comparison", list(EQ_COMPARISONS))
def test_eq_returning_garbage_like_transformers(comparison: str, garbage: str, tf: SimpleNamespace) -> None:
    """Values and names whose ``__eq__`` returns an object whose ``bool()`` raises, ``NotImplemented``
    or a non-bool, in ``==``/``!=`` and in key, attribute and keyword lookups: same result, error or
    final state as transformers. One exception under the C++ core (docs/compatibility.md 8): a field
    lives in a slot, not in the instance dict, so ``getattr(out, name)`` compares the name only with
    the class attribute, where CPython ignores errors, and reports the attribute missing where
    transformers' instance-dict lookup raises the ``bool()`` error."""
    call = EQ_COMPARISONS[comparison]
    actual = outcome(lambda: call(FO, GARBAGE[garbage]))
    if IS_CPP and (comparison, garbage) == ("attribute-get", "bool-raises"):
        assert actual == (AttributeError, "'Opt' object has no attribute 'b'")
        return
    assert actual == outcome(lambda: call(tf, GARBAGE[garbage]))


class Repr:
    """A value whose ``__repr__`` runs ``action()`` (once) and returns ``result``."""

    label = "repr"

    def __init__(self, result: Any, action: Callable[[], Any] | None = None) -> None:
        self.result = result
        self.action = action
        arm(self)

    def __repr__(self) -> Any:
        fire(self)
        return self.result


class ReprKey(str):
    """A key whose ``repr`` is ``result`` or raises."""

    result: Any

    def __new__(cls, text: str, result: Any) -> Self:
        self = super().__new__(cls, text)
        self.result = result
        return self

    __hash__ = str.__hash__
    __eq__ = str.__eq__

    def __repr__(self) -> Any:
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def _set_a_and_c(out: Any) -> None:
    out.a = "A"
    out.c = "C"


def _repr_acting(ns: SimpleNamespace, base: bool, action: Callable[[Any], Any]) -> tuple[Any, ...]:
    out = ns.base(a=1, b=2) if base else ns.Opt(1, 2, 3)
    out["b"] = Repr("R", lambda: action(out))
    return repr(out), state(out)


def _repr_cycle(ns: SimpleNamespace, kind: str) -> tuple[str, ...]:
    if kind == "own-field":
        out = ns.Opt(1)
        out.b = out
        return (repr(out),)
    if kind == "own-key":
        base = ns.base(a=1)
        base["b"] = base
        return (repr(base),)
    first, second = ns.Opt(1), ns.base(x=1)
    first.b = second
    second["y"] = first
    return repr(first), repr(second)


REPR_CASES: dict[str, Callable[[SimpleNamespace], Any]] = {
    "value-repr-returns-int": lambda ns: repr(ns.Opt(1, Repr(5))),
    "value-repr-returns-int-base-class": lambda ns: repr(ns.base(a=Repr(5))),
    "value-repr-returns-str-subclass": lambda ns: repr(ns.Opt(1, Repr(ReprKey("s", "r")))),
    "key-repr-raises-base-class": lambda ns: repr(
        _item_set_via_slot(ns.base(a=1), ReprKey("k", RuntimeError("key repr boom")), 2)
    ),
    "key-repr-returns-int-base-class": lambda ns: repr(_item_set_via_slot(ns.base(a=1), ReprKey("k", 5), 2)),
    "repr-adds-key": lambda ns: _repr_acting(ns, False, _add_key),
    "repr-sets-fields": lambda ns: _repr_acting(ns, False, _set_a_and_c),
    "repr-assigns-dict": lambda ns: _repr_acting(ns, False, lambda out: setattr(out, "__dict__", {"c": "C"})),
    "repr-clears-attributes": lambda ns: _repr_acting(ns, False, lambda out: vars(out).clear()),
    "repr-adds-key-base-class": lambda ns: _repr_acting(ns, True, _add_key),
    "repr-pops-key-base-class": lambda ns: _repr_acting(ns, True, lambda out: out.popitem()),
    "repr-replaces-value-base-class": lambda ns: _repr_acting(ns, True, lambda out: _set_a_item(out)),
    "cycle-own-field": lambda ns: _repr_cycle(ns, "own-field"),
    "cycle-own-key-base-class": lambda ns: _repr_cycle(ns, "own-key"),
    "cycle-through-another-output": lambda ns: _repr_cycle(ns, "mutual"),
}


@pytest.mark.transformers
@pytest.mark.parametrize("case", list(REPR_CASES.values()), ids=list(REPR_CASES))
def test_repr_with_hostile_values_like_transformers(
    case: Callable[[SimpleNamespace], Any], tf: SimpleNamespace
) -> None:
    """``repr(out)`` where a value's or key's ``__repr__`` returns a non-str, raises, or changes the output
    being printed, and outputs that contain themselves: same text or error, same final state."""
    expected = outcome(lambda: case(tf))
    actual = outcome(lambda: case(FO))
    if IS_CPP and case is REPR_CASES["repr-clears-attributes"]:
        # docs/compatibility.md 8 (C++ only): a deleted field raises on reading; transformers reads None
        assert actual == (AttributeError, "'Opt' object has no attribute 'c'")  # c is printed after b
        return
    assert actual == expected


class EqualsNoneStr(str):
    __hash__ = str.__hash__

    def __eq__(self, other: object) -> bool:
        return False


def _attribute_delete_then(out: Any, name: str) -> Any:
    delattr(out, name)
    return out


ODD_NAMES: dict[str, Callable[[], str]] = {
    "hashed-differently": lambda: Hash42Str("b"),
    "equal-to-everything": lambda: EqualsAllStr("zz"),
    "equal-to-nothing": lambda: EqualsNoneStr("b"),
}
NAME_OPERATIONS: dict[str, Callable[[SimpleNamespace, str], Any]] = {
    "keyword": lambda ns, name: ns.Opt(**{name: 5}),
    "keyword-after-positional": lambda ns, name: ns.Opt(1, **{name: 5}),
    "attribute-get": lambda ns, name: getattr(ns.Opt(1, 2), name, "missing"),
    "hasattr": lambda ns, name: hasattr(ns.Opt(1, 2), name),
    "item-get": lambda ns, name: outcome(lambda: ns.Opt(1, 2)[name]),
    "in-and-get": lambda ns, name: (name in ns.Opt(1, 2), ns.Opt(1, 2).get(name, "missing")),
    "attribute-delete": lambda ns, name: _attribute_delete_then(ns.Opt(1, 2), name),
}


@pytest.mark.transformers
@pytest.mark.parametrize("name", list(ODD_NAMES))
@pytest.mark.parametrize("operation", list(NAME_OPERATIONS))
def test_str_subclass_names_with_odd_eq_and_hash_like_transformers(
    operation: str, name: str, tf: SimpleNamespace
) -> None:
    """``str`` subclasses hashed unlike their text, equal to everything or to nothing, as keyword
    arguments (CPython's binding compares every parameter name, ``self`` first), attribute names and
    keys: same result or error as transformers."""
    call = NAME_OPERATIONS[operation]
    actual = outcome(lambda: call(FO, ODD_NAMES[name]()))
    if name == "equal-to-everything" and operation in ("item-get", "in-and-get") and (HF_MAJOR or 0) >= 5:
        # transformers 5.x rewrites a name equal to "past_key_values" to "cache" (spec §11.2); fastoutput
        # has no rename (spec D2), so the name is looked up as it is
        assert actual == ("ok", ((KeyError, "'zz'") if operation == "item-get" else (False, "missing")))
        return
    assert actual == outcome(lambda: call(tf, ODD_NAMES[name]()))


# ===================================================================================================
# 7. Metaclass conflicts
# ===================================================================================================


class AbstractMixin(abc.ABC):  # an ABC without abstract methods: the common mixin
    def hello(self) -> str:
        return "hello"


class AbstractMethodMixin(abc.ABC):
    @abc.abstractmethod
    def hello(self) -> str: ...


class CountingMeta(type):
    """A metaclass whose ``__call__`` marks every instance it makes."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        instance = super().__call__(*args, **kwargs)
        instance["made_by_meta"] = True
        return instance


class MetaMixin(metaclass=CountingMeta):
    def hello(self) -> str:
        return "hello"


@runtime_checkable
class Greeter(Protocol):
    def hello(self) -> str: ...


class ProtocolMixin(Greeter):
    def hello(self) -> str:
        return "hello"


T = TypeVar("T")


def _combined(first: type, second: type) -> type:
    return types.new_class("Combined", (first, second))


# name -> (bases of the class under test, given the output class; explicit metaclass or None)
METACLASS_CASES: dict[str, Callable[[type], tuple[tuple[Any, ...], Any]]] = {
    "abc-mixin": lambda out: ((out, AbstractMixin), None),
    "abc-mixin-first": lambda out: ((AbstractMixin, out), None),
    "abc-mixin-with-abstract-method": lambda out: ((out, AbstractMethodMixin), None),
    "custom-metaclass-mixin": lambda out: ((out, MetaMixin), None),
    "protocol-mixin": lambda out: ((out, ProtocolMixin), None),
    "generic": lambda out: ((out, Generic[T]), None),  # type: ignore[index]
    "metaclass-keyword-ABCMeta": lambda out: ((out,), abc.ABCMeta),
    "combined-metaclass-output-first": lambda out: ((out, AbstractMixin), _combined(type(out), abc.ABCMeta)),
    "combined-metaclass-abc-first": lambda out: ((out, AbstractMixin), _combined(abc.ABCMeta, type(out))),
    "combined-custom-metaclass-custom-first": lambda out: ((out, MetaMixin), _combined(CountingMeta, type(out))),
    "combined-custom-metaclass-output-first": lambda out: ((out, MetaMixin), _combined(type(out), CountingMeta)),
}


def _declare_combined(ns: SimpleNamespace, case: str) -> type:
    bases, metaclass = METACLASS_CASES[case](ns.Opt)
    keywords = {} if metaclass is None else {"metaclass": metaclass}

    def body(namespace: dict[str, Any]) -> None:
        namespace["__annotations__"] = {"d": Any}
        namespace["d"] = None
        namespace["__module__"] = __name__

    return dataclass(types.new_class("Combined", bases, keywords, body))


def _use_combined(ns: SimpleNamespace, case: str) -> tuple[Any, ...]:
    cls = _declare_combined(ns, case)
    out = cls(1, 2, d=4)
    out["c"] = 3
    mixins = [base for base in METACLASS_CASES[case](ns.Opt)[0] if base is not ns.Opt]
    return (
        state(out),
        [isinstance(out, mixin) for mixin in mixins if isinstance(mixin, type)],
        isinstance(out, ns.Opt),
        out.hello() if hasattr(out, "hello") and not getattr(out.hello, "__isabstractmethod__", False) else None,
    )


def _resolves(ns: SimpleNamespace, case: str) -> tuple[Any, ...]:
    """What CPython's metaclass resolution says about the bases (and the combined metaclass, if any):
    ("ok", None) or (TypeError, message)."""

    def resolve() -> None:
        bases, metaclass = METACLASS_CASES[case](ns.Opt)
        keywords = {} if metaclass is None else {"metaclass": metaclass}
        types.prepare_class("Combined", types.resolve_bases(bases), keywords)

    return outcome(resolve)






@pytest.mark.parametrize("case", list(METACLASS_CASES))
def test_output_class_combined_with_another_metaclass(case: str) -> None:
    """An output class combined with an ABC, a class with its own metaclass, a Protocol, ``Generic[T]``,
    or an explicit (combined) metaclass: when CPython's metaclass resolution refuses the bases (the
    implementation's metaclass is not part of the contract, spec §0.2), the class statement raises
    exactly that ``TypeError``; otherwise the class works like the output class without the mixin
    (keys, attributes), the mixin's methods, ``isinstance`` and the other metaclass's ``__call__`` included."""
    resolved = _resolves(FO, case)
    result = outcome(lambda: _use_combined(FO, case))
    if resolved[0] != "ok":  # prepare_class failed: the class statement fails the same way
        assert result == resolved
        return
    keys, values, fields, _extras = result[1][0]
    made_by_meta = "made_by_meta" in keys
    plain = FO.Opt(1, 2)
    plain["c"] = 3
    marked = [("made_by_meta", True)] if made_by_meta else []  # CountingMeta.__call__ runs before out["c"] = 3
    assert list(zip(keys, values)) == [("a", 1), ("b", 2), ("d", 4), *marked, ("c", 3)]
    assert fields == {**state(plain)[2], "d": 4}
    uses_counting_meta = issubclass(type(_declare_combined(FO, case)), CountingMeta)
    assert made_by_meta == uses_counting_meta
    assert all(result[1][1]) and result[1][2]


@pytest.mark.transformers
@pytest.mark.parametrize("case", list(METACLASS_CASES))
def test_output_class_combined_with_another_metaclass_like_transformers(case: str, tf: SimpleNamespace) -> None:
    """Where fastoutput's and transformers' metaclasses resolve the same way (both refuse the bases, or
    both accept them), the class statement and the instance behave the same."""
    if (_resolves(FO, case)[0] == "ok") != (_resolves(tf, case)[0] == "ok"):
        pytest.skip("the metaclasses resolve differently here (spec §0.2: the metaclass is not part of the contract)")
    assert outcome(lambda: _use_combined(FO, case)) == outcome(lambda: _use_combined(tf, case))


# ===================================================================================================
# 8. Dropping the last reference to the output from inside an operation on it
# ===================================================================================================


class DropsHolder:
    """A value whose ``__repr__``, ``__eq__``, ``__deepcopy__`` and ``__reduce_ex__`` empty ``holder``
    (where the only reference to the output lives) the first time one of them runs."""

    label = "drops-holder"

    def __init__(self, holder: list[Any]) -> None:
        self.action: Callable[[], Any] | None = holder.clear
        arm(self)

    def __repr__(self) -> str:
        fire(self)
        return "DropsHolder()"

    def __eq__(self, other: object) -> bool:
        fire(self)
        return self is other

    __hash__ = object.__hash__

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        fire(self)
        return "deep copy"

    def __reduce_ex__(self, protocol: Any) -> Any:
        fire(self)
        return (str, ("pickled",))


def _drop_read(holder: list[Any]) -> Any:
    return holder[0][Trigger("b", holder.clear)]


def _drop_write(holder: list[Any]) -> None:
    holder[0][Trigger("b", holder.clear)] = "V"


def _drop_attribute_delete(holder: list[Any]) -> None:
    delattr(holder[0], Trigger("c", holder.clear))


def _drop_index(holder: list[Any]) -> Any:
    return holder[0][ActingIndex(1, holder.clear)]


def _drop_copy(holder: list[Any]) -> Any:
    name = Trigger("zz", hash_as="b")  # compared when the copy's attributes are set
    setattr(holder[0], name, 1)
    name.action = holder.clear
    return copy.copy(holder[0])


def _drop_to_tuple(holder: list[Any]) -> Any:
    GETITEM_HOOKS[id(holder[0])] = lambda out: holder.clear()
    return holder[0].to_tuple()


DROPPING: dict[str, Callable[[list[Any]], Any]] = {
    "item-get": _drop_read,
    "item-set": _drop_write,
    "in": lambda holder: Trigger("b", holder.clear) in holder[0],
    "attribute-get": lambda holder: getattr(holder[0], Trigger("b", holder.clear)),
    "attribute-set": lambda holder: setattr(holder[0], Trigger("b", holder.clear), "V"),
    "attribute-delete": _drop_attribute_delete,
    "int-index": _drop_index,
    "to_tuple-through-override": _drop_to_tuple,
    "repr": lambda holder: repr(holder[0]),
    "equality": lambda holder: holder[0] == type(holder[0])(1, 2, 3),
    "copy": _drop_copy,
    "deepcopy": lambda holder: copy.deepcopy(holder[0]),
    "pickle": lambda holder: pickle.loads(pickle.dumps(holder[0])),
}


@pytest.mark.transformers
@pytest.mark.parametrize("operation", list(DROPPING))
def test_dropping_the_last_reference_mid_operation_like_transformers(operation: str, tf: SimpleNamespace) -> None:
    """The only reference to the output lives in a list that a key, an attribute name, an index, a
    ``__getitem__`` override or a value empties in the middle of a read, write, delete, ``to_tuple()``,
    ``repr``, ``==``, copy, deep copy or pickle: the operation completes with transformers' result (the
    caller's reference keeps the output alive until it returns) and the output is freed right after."""

    def scenario(ns: SimpleNamespace) -> tuple[Any, ...]:
        holder: list[Any] = []
        cls = ns.Overrides if operation == "to_tuple-through-override" else ns.Opt
        out = cls(1, DropsHolder(holder), 3)
        holder.append(out)
        alive = weakref.ref(out)
        del out
        result = outcome(lambda: DROPPING[operation](holder))
        return result, holder == [], alive() is None

    expected = scenario(tf)
    assert expected[1:] == (True, True)  # the list was emptied mid-operation, and the output is gone
    assert scenario(FO) == expected


# ===================================================================================================
# 9. Core bugs that take the interpreter down (subprocess; expected failures under the C++ core)
# ===================================================================================================


def assert_survives(source: str, expected_output: set[str]) -> None:
    """Run ``source`` in a fresh interpreter of this venv, with the implementation of this run and
    CPython's debug allocator (freed memory is overwritten, so reading it misbehaves every time):
    it must exit normally and print one of ``expected_output``."""
    result = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONMALLOC": "debug"},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() in expected_output, result.stdout




def test_attribute_name_whose_eq_rebuilds_the_field_table_does_not_crash() -> None:
    """``setattr(out, name, v)`` where name equals field ``a`` and its ``__eq__`` changes the class so
    that the core rebuilds its field table. The C++ core once tested ``name in fields`` on the table's
    frozenset without holding a reference, and the rebuild freed it mid-lookup (use after free in
    ``setattr_method`` / ``is_field``; ``meta_setattro`` has the same pattern). transformers and the twin
    build or look up their own set and end with ``a = 5``."""
    assert_survives(
        """
        from dataclasses import dataclass
        from typing import Any
        from fastoutput import ModelOutput

        @dataclass
        class K(ModelOutput):
            a: Any = None
            b: Any = None

        out = K(1)
        fired, junk = [], []

        class Name(str):
            __hash__ = str.__hash__

            def __eq__(self, other):
                if not fired:
                    fired.append(True)
                    fields = K.__dataclass_fields__
                    K.__dataclass_fields__ = None  # the next rebuild fails after freeing the old table
                    try:
                        K.a = K.__dict__["a"]  # a field name: the core rebuilds its table at once
                    except Exception:
                        pass
                    junk.extend(bytes([255]) * n for n in range(100, 300) for _ in range(20))
                    K.__dataclass_fields__ = fields
                return str.__eq__(self, other)

        setattr(out, Name("a"), 5)
        print(list(out.items()), out.a)
        """,
        {"[('a', 5)] 5"},
    )


def test_attribute_name_whose_eq_replaces_the_attribute_dict_during_vars_does_not_crash() -> None:
    """``vars(out)`` under the C++ core copies the field slots into a new dict, then merges the extra
    attributes into it through a borrowed pointer to the instance's dict. An extra attribute named by
    a ``str`` subclass that hashes like a field makes the merge compare names; its ``__eq__`` assigns
    ``out.__dict__``, which freed the dict being merged (once a use after free in ``attributes_snapshot``,
    also reached by pickle and copy). transformers and the twin return the real dict, comparing
    nothing; a fixed core may also give the snapshot or a ``RuntimeError``, and must end with the
    assigned attributes."""
    assert_survives(
        """
        from dataclasses import dataclass
        from typing import Any
        from fastoutput import ModelOutput

        @dataclass
        class K(ModelOutput):
            a: Any = None
            b: Any = None

        class Name(str):
            action = None

            def __hash__(self):
                return hash("b")

            def __eq__(self, other):
                action, Name.action = Name.action, None
                if action is not None:
                    action()
                return str.__eq__(self, other)

        junk = []

        def replace_dict():
            out.__dict__ = {"a": 5}
            junk.extend([[0xDEAD] * 8 for _ in range(10000)])  # reuse the freed memory

        out = K(1, 2)
        setattr(out, Name("zz"), 3)
        for i in range(6):
            setattr(out, f"extra{i}", [i] * 8)
        Name.action = replace_dict
        everything = sorted(["a", "b", "zz"] + [f"extra{i}" for i in range(6)])
        try:
            snapshot = vars(out)
        except RuntimeError as error:  # the core reading the freed dict: its size looks changed
            snapshot = error
        Name.action = None
        print(
            not isinstance(snapshot, RuntimeError)
            and len(repr(snapshot)) > 0
            and sorted(snapshot) in (["a", "b"], everything)
            and sorted(vars(out)) in (["a", "b"], everything)
        )
        """,
        {"True"},
    )


def test_keyword_whose_eq_grows_the_field_table_does_not_overflow() -> None:
    """``W(**{k: 1, "g230": 2})`` on a 40-field class, where keyword k equals field ``f5`` and its
    ``__eq__`` adds 200 fields to the class (rebuilding the core's table) while the arguments are
    bound. The C++ core once sized its argument buffer for 40 fields and then wrote the index of
    ``g230`` found in the rebuilt table (heap buffer overflow in ``bind_arguments``; without the
    sanitizer it reads garbage and reports "multiple values"). The dataclass ``__init__`` still has
    40 parameters: transformers and the twin raise the "unexpected keyword argument" error."""
    assert_survives(
        """
        import dataclasses
        from dataclasses import field, make_dataclass
        from typing import Any
        from fastoutput import ModelOutput

        W = make_dataclass("W", [(f"f{i}", Any, field(default=None)) for i in range(40)], bases=(ModelOutput,))
        W()
        fired = []

        class Name(str):
            __hash__ = str.__hash__

            def __eq__(self, other):
                if not fired:
                    fired.append(True)
                    grown = dict(W.__dataclass_fields__)
                    for i in range(200):
                        late = dataclasses.field(default=None)
                        late.name, late._field_type = f"g{i + 40}", dataclasses._FIELD
                        grown[late.name] = late
                    W.__dataclass_fields__ = grown
                    W.__new__(W)
                return str.__eq__(self, other)

        try:
            W(**{Name("f5"): 1, "g230": 2})
        except TypeError as error:
            print(error)
        """,
        {"W.__init__() got an unexpected keyword argument 'g230'"},
    )


def test_getattribute_that_grows_the_field_table_during_reduce_does_not_overflow() -> None:
    """``out.__reduce__()`` (pickle, copy) reads each field with ``getattr``; a ``__getattribute__``
    override adds 50 fields (and their attributes) to the class while that runs. The C++ core once sized the
    tuple of field values before the loop and kept filling it from the rebuilt table (heap buffer
    overflow in ``field_values``). transformers and the twin list the fields once, before reading them."""
    assert_survives(
        """
        import dataclasses
        from dataclasses import dataclass
        from typing import Any
        from fastoutput import ModelOutput

        grown = []

        @dataclass
        class K(ModelOutput):
            a: Any = None
            b: Any = None

            def __getattribute__(self, name):
                if name == "b" and not grown:
                    grown.append(True)
                    fields = dict(type(self).__dataclass_fields__)
                    for i in range(50):
                        late = dataclasses.field(default=None)
                        late.name, late._field_type = f"g{i}", dataclasses._FIELD
                        fields[late.name] = late
                        object.__setattr__(self, late.name, i)
                    K.__dataclass_fields__ = fields
                    K.__new__(K)
                return object.__getattribute__(self, name)

        out = K(1, 2)
        try:
            reduced = out.__reduce__()
            print(reduced[1][:2] == (1, 2))
        except Exception as error:
            print(type(error).__name__)
        """,
        {"True", "AttributeError", "RuntimeError", "TypeError"},
    )
