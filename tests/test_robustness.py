"""Bad input never crashes: every misuse ends in the Python exception transformers raises.

The suite runs under both implementations (C++ core, and the twin with ``FASTOUTPUT_PURE_PYTHON=1``).
It has five parts:

1. Bad calls: wrong or non-``str`` keywords, too many positional arguments, keys and indices of the
   wrong type, ``__index__`` that raises or returns garbage, dunder methods called with the wrong
   arguments.
2. Odd declarations: 0, 1 and 1,000 fields, fields named like mapping methods, factories and
   non-``None`` defaults, ``ClassVar``/``InitVar``, redeclared fields, undecorated children,
   ``frozen``/``slots``/``eq=False``/``repr=False``, Python overrides of ``__init__``,
   ``__post_init__``, ``__setattr__``, ``__getitem__``, ``__setitem__`` and ``to_tuple``, multiple
   inheritance and ``__class__`` assignment, and classes changed after instances exist (including
   while a native path is walking the class's field table).
3. Values whose ``__eq__``, ``__hash__``, ``__iter__``, ``__len__``, ``__bool__`` or ``__repr__``
   raise, used as field values, as first-field iterables and as keys.
4. Reference counts and the garbage collector. Every operation, error paths included, leaves a
   payload's reference count where it was. Outputs are GC-tracked, cycles through them (fields, extra
   keys and attributes, the mapping part, their class) are collected and release what they held,
   and ``gc.get_referents`` sees every value they hold. Freed memory that is reused never shows
   stale data.
5. Class objects: user subclasses that are created and then dropped are freed.

Expected exceptions come from ``shared/spec/modeloutput.md`` (beside the repository) where the spec gives them.
Otherwise the same operation runs against transformers' ``ModelOutput``, with the same classes
declared on both bases by ``declare``, and fastoutput must raise the same type with the same
message. Cases that could take the interpreter down run in a subprocess.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import gc
import os
import pickle
import re
import subprocess
import sys
import textwrap
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import InitVar, dataclass, field, make_dataclass
from types import MemberDescriptorType, SimpleNamespace
from typing import Any, ClassVar

import pytest

from fastoutput import IMPLEMENTATION, ModelOutput

from ._helpers import IS_CPP, EqualsAllStr, Hash42Str, transformers_major

# ---------------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------------


def keys(obj: Any) -> list[Any]:
    return list(dict.keys(obj))


def values(obj: Any) -> list[Any]:
    return list(dict.values(obj))


def field_values(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def summary(value: Any) -> Any:
    """Something comparable across fastoutput and transformers: outputs become (class, keys, values)."""
    if isinstance(value, dict) and hasattr(type(value), "__post_init__"):
        return ("output", type(value).__name__, keys(value), [summary(v) for v in values(value)])
    if isinstance(value, (tuple, list)):
        return type(value)(summary(v) for v in value)
    if isinstance(value, dict):
        return {k: summary(v) for k, v in value.items()}
    return value


def outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    """("ok", summary of the result), or (exception type, message)."""
    try:
        result = call()
    except Exception as error:  # noqa: BLE001 - the point is to compare any exception
        return (type(error), str(error))
    return ("ok", summary(result))


def assert_raises_exactly(call: Callable[[], Any], exc_type: type[BaseException], message: str) -> None:
    with pytest.raises(BaseException) as info:  # noqa: PT011 - the exact type is checked below
        call()
    assert type(info.value) is exc_type, f"{type(info.value).__name__}: {info.value}"
    assert str(info.value) == message


def raising(exc_type: type[BaseException], call: Callable[[], Any]) -> None:
    """Run ``call``, which must raise ``exc_type``; used by the reference-count operations."""
    try:
        call()
    except exc_type:
        return
    raise AssertionError(f"expected {exc_type.__name__}")


@contextlib.contextmanager
def young_objects_only() -> Iterator[None]:
    """Pause automatic collection: everything made inside stays in generation 0, so `gc.collect(0)`
    finds any cycle among it in a fraction of the time a full collection takes."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run_python(source: str) -> subprocess.CompletedProcess[str]:
    """Run ``source`` in a fresh interpreter of this venv, with the implementation of this run."""
    return subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        check=False,
    )


def forget_class(cls: type) -> None:
    """Drop the torch pytree registries' references to ``cls`` (transformers keeps the same ones):
    torch's own, and optree's, where torch registers too when optree is installed (keras needs it)."""
    pytree = sys.modules.get("torch.utils._pytree")
    if pytree is not None and cls in pytree.SUPPORTED_NODES:
        pytree._deregister_pytree_node(cls)
    optree = sys.modules.get("optree")
    if optree is not None:
        with contextlib.suppress(ValueError):  # not registered there
            optree.unregister_pytree_node(cls, namespace="torch")


# ---------------------------------------------------------------------------------------------------
# Odd objects used as keys, indices and values
# ---------------------------------------------------------------------------------------------------


class Str(str):
    """A plain str subclass."""


class EqRaisesStr(str):
    __hash__ = str.__hash__

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("str eq boom")


class HashRaisesStr(str):
    __eq__ = str.__eq__

    def __hash__(self) -> int:
        raise RuntimeError("str hash boom")


class RaisingIndex:
    def __init__(self, payload: Any = None) -> None:
        self.payload = payload

    def __index__(self) -> int:
        raise RuntimeError("index boom")


class GarbageIndex:
    def __index__(self) -> Any:
        return "x"


class HugeIndex:
    def __index__(self) -> int:
        return 2**100


class Evil:
    """Every dunder named in ``bad`` raises RuntimeError('<name> boom')."""

    ALL = ("eq", "hash", "iter", "len", "bool", "repr", "str")

    def __init__(self, *bad: str) -> None:
        self.bad = frozenset(bad or self.ALL)

    def _check(self, name: str) -> None:
        if name in self.bad:
            raise RuntimeError(f"{name} boom")

    def __eq__(self, other: object) -> bool:
        self._check("eq")
        return self is other

    def __hash__(self) -> int:
        self._check("hash")
        return 1

    def __iter__(self) -> Iterator[Any]:
        self._check("iter")
        return iter(())

    def __len__(self) -> int:
        self._check("len")
        return 0

    def __bool__(self) -> bool:
        self._check("bool")
        return True

    def __repr__(self) -> str:
        self._check("repr")
        return "Evil()"

    def __str__(self) -> str:
        self._check("str")
        return "Evil"


class Payload:
    """A value whose reference count the leak tests watch."""


class RaisingIterable:
    def __init__(self, payload: Any = None) -> None:
        self.payload = payload

    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("iter boom")


class LenRaisesList(list):  # type: ignore[type-arg]
    def __len__(self) -> int:
        raise RuntimeError("len boom")


class GetitemRaisesTuple(tuple):  # type: ignore[type-arg]
    def __getitem__(self, index: Any) -> Any:
        raise RuntimeError("getitem boom")


class IterRaisesTuple(tuple):  # type: ignore[type-arg]
    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("iter boom")


class LenSaysTwoTuple(tuple):  # type: ignore[type-arg]
    def __len__(self) -> int:
        return 2


# ---------------------------------------------------------------------------------------------------
# Classes. Module-level ones carry the names the spec's messages use; `declare` builds the same set on
# any base, so that fastoutput and transformers can be compared class for class (same qualnames).
# ---------------------------------------------------------------------------------------------------


@dataclass
class MOT(ModelOutput):
    a: Any
    b: Any = None
    c: Any = None


@dataclass
class Opt(ModelOutput):
    a: Any = None
    b: Any = None
    c: Any = None


@dataclass
class One(ModelOutput):
    a: Any = None


@dataclass
class OneReq(ModelOutput):
    a: Any


@dataclass
class NoFields(ModelOutput):
    pass


@dataclass
class TwoRequired(ModelOutput):
    a: Any
    b: Any


@dataclass
class NonNoneDefault(ModelOutput):
    a: Any
    b: int = 0


@dataclass
class FactoryDefault(ModelOutput):
    a: Any
    b: list[Any] = field(default_factory=list)


class NoDataclass(ModelOutput):
    pass


@dataclass(frozen=True)
class Frozen(ModelOutput):
    a: Any = None
    b: Any = None


@dataclass(slots=True)
class Slotted(ModelOutput):
    a: Any = None
    b: Any = None


@dataclass(slots=True, frozen=True)
class SlottedFrozen(ModelOutput):
    a: Any = None
    b: Any = None


class PlainChild(Opt):
    """An undecorated child of a dataclass output."""


@dataclass
class WithPostInit(ModelOutput):
    a: Any = None
    b: Any = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.extra = "post"


@dataclass
class WithSetattr(ModelOutput):
    a: Any = None
    b: Any = None

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)


Wide = make_dataclass("Wide", [(f"f{i}", Any, field(default=None)) for i in range(40)], bases=(ModelOutput,))
Wide.__module__ = __name__


def declare(base: type) -> SimpleNamespace:
    """The comparison classes, declared on ``base`` (fastoutput's or transformers' ModelOutput)."""

    @dataclass
    class MOT(base):  # type: ignore[valid-type,misc]
        a: Any
        b: Any = None
        c: Any = None

    @dataclass
    class Opt(base):  # type: ignore[valid-type,misc]
        a: Any = None
        b: Any = None
        c: Any = None

    @dataclass
    class One(base):  # type: ignore[valid-type,misc]
        a: Any = None

    @dataclass
    class OneReq(base):  # type: ignore[valid-type,misc]
        a: Any

    @dataclass
    class NoFields(base):  # type: ignore[valid-type,misc]
        pass

    @dataclass
    class Names(base):  # type: ignore[valid-type,misc]
        keys: Any = None
        to_tuple: Any = None
        items: Any = None
        get: Any = None
        update: Any = None
        copy: Any = None
        values: Any = None
        pop: Any = None

    @dataclass
    class FirstFactory(base):  # type: ignore[valid-type,misc]
        a: list[Any] = field(default_factory=list)
        b: Any = None

    @dataclass
    class FirstDefault(base):  # type: ignore[valid-type,misc]
        a: Any = 5
        b: Any = None

    @dataclass
    class WithInitVar(base):  # type: ignore[valid-type,misc]
        a: Any = None
        z: InitVar[Any] = None

    @dataclass
    class P(base):  # type: ignore[valid-type,misc]
        a: Any = None
        b: Any = None

    class Plain(P):
        pass

    @dataclass(eq=False)
    class NoEq(base):  # type: ignore[valid-type,misc]
        a: Any = None

    @dataclass(repr=False)
    class NoRepr(base):  # type: ignore[valid-type,misc]
        a: Any = None

    @dataclass(init=False)
    class NoInit(base):  # type: ignore[valid-type,misc]
        a: Any = None

    @dataclass(order=True)
    class Ordered(base):  # type: ignore[valid-type,misc]
        a: Any = None

    @dataclass(unsafe_hash=True)
    class Hashed(base):  # type: ignore[valid-type,misc]
        a: Any = None

    @dataclass(kw_only=True)
    class KwOnly(base):  # type: ignore[valid-type,misc]
        a: Any = None
        b: Any = None

    @dataclass
    class Overrides(base):  # type: ignore[valid-type,misc]
        """__getitem__ answers 'A' for key 'a'; transformers reads every value through it."""

        a: Any = None
        b: Any = None

        def __getitem__(self, key: Any) -> Any:
            if key == "a":
                return "A"
            return super().__getitem__(key)

    classes = {name: value for name, value in locals().items() if isinstance(value, type) and name != "base"}
    return SimpleNamespace(base=base, **classes)


FO = declare(ModelOutput)


@pytest.fixture(scope="module")
def tf() -> SimpleNamespace:
    """The same classes on transformers' ModelOutput."""
    utils = pytest.importorskip("transformers.utils")
    return declare(utils.ModelOutput)


def assert_like_transformers(case: Callable[[SimpleNamespace], Any], tf: SimpleNamespace) -> None:
    """``case`` run on the fastoutput classes has the outcome it has on the transformers classes."""
    expected = outcome(lambda: case(tf))
    actual = outcome(lambda: case(FO))
    assert actual == expected


# ===================================================================================================
# 1. Bad calls
# ===================================================================================================

SPEC_CALL_ERRORS = [
    pytest.param(
        lambda: MOT(30, 1, 2, 3),
        TypeError,
        "MOT.__init__() takes from 2 to 4 positional arguments but 5 were given",
        id="too-many-positional",
    ),
    pytest.param(
        lambda: MOT(a=30, d=1), TypeError, "MOT.__init__() got an unexpected keyword argument 'd'", id="wrong-keyword"
    ),
    pytest.param(
        lambda: MOT(), TypeError, "MOT.__init__() missing 1 required positional argument: 'a'", id="missing-required"
    ),
    pytest.param(
        lambda: MOT(30, a=30), TypeError, "MOT.__init__() got multiple values for argument 'a'", id="positional-and-keyword"
    ),
    pytest.param(
        lambda: One(1, 2),
        TypeError,
        "One.__init__() takes from 1 to 2 positional arguments but 3 were given",
        id="one-optional-field-two-positional",
    ),
    pytest.param(
        lambda: OneReq(1, 2),
        TypeError,
        "OneReq.__init__() takes 2 positional arguments but 3 were given",
        id="one-required-field-two-positional",
    ),
    pytest.param(lambda: NoFields(), ValueError, "NoFields has no fields.", id="no-fields"),
    pytest.param(
        lambda: TwoRequired(1, 2), ValueError, "TwoRequired should not have more than one required field.", id="two-required"
    ),
    pytest.param(
        lambda: NonNoneDefault(1),
        ValueError,
        "NonNoneDefault should not have more than one required field.",
        id="non-none-default",
    ),
    pytest.param(
        lambda: FactoryDefault(1),
        ValueError,
        "FactoryDefault should not have more than one required field.",
        id="default-factory",
    ),
    pytest.param(
        lambda: NoDataclass(a=1),
        TypeError,
        f"{__name__}.NoDataclass is not a dataclass. This is a subclass of ModelOutput and so must use the @dataclass decorator.",
        id="undecorated-direct-subclass",
    ),
    pytest.param(lambda: NoDataclass(1), TypeError, "'int' object is not iterable", id="undecorated-with-bad-argument"),
    pytest.param(lambda: ModelOutput(1), TypeError, "'int' object is not iterable", id="base-class-not-iterable"),
]


@pytest.mark.parametrize(("call", "exc_type", "message"), SPEC_CALL_ERRORS)
def test_bad_call_raises_the_spec_error(call: Callable[[], Any], exc_type: type, message: str) -> None:
    """Spec §3.2 and §3.6: the argument and validation errors, type and text."""
    assert_raises_exactly(call, exc_type, message)


CALLS_LIKE_TRANSFORMERS = {
    "non-str-keyword": lambda ns: ns.MOT(**{1: 2}),
    "non-str-keyword-beside-a-valid-one": lambda ns: ns.MOT(a=1, **{1: 2}),
    "non-str-keyword-to-the-base-class": lambda ns: ns.base(**{1: 2}),
    "non-str-keyword-through-type-call": lambda ns: type.__call__(ns.MOT, **{1: 2}),
    "too-many-positional-and-unknown-keyword": lambda ns: ns.MOT(1, 2, 3, 4, zz=1),
    "too-many-positional-and-duplicate-keyword": lambda ns: ns.MOT(1, 2, 3, 4, a=1),
    "duplicate-keyword-then-unknown-keyword": lambda ns: ns.MOT(1, a=2, zz=3),
    "unknown-keyword-then-duplicate-keyword": lambda ns: ns.MOT(1, zz=3, a=2),
    "missing-required-and-unknown-keyword": lambda ns: ns.MOT(b=1, zz=2),
    "all-optional-too-many-positional": lambda ns: ns.Opt(1, 2, 3, 4, 5),
    "one-required-field-missing": lambda ns: ns.OneReq(),
    "no-fields-with-keyword": lambda ns: ns.NoFields(a=1),
    "no-fields-with-positional": lambda ns: ns.NoFields(1),
    "keyword-that-is-no-identifier": lambda ns: ns.MOT(1, **{"a b": 1}),
    "empty-keyword": lambda ns: ns.MOT(1, **{"": 1}),
    "very-long-keyword": lambda ns: ns.MOT(1, **{"x" * 10_000: 1}),
    "str-subclass-keyword-for-a-field": lambda ns: ns.MOT(**{Str("a"): 1}),
    "str-subclass-unknown-keyword": lambda ns: ns.MOT(1, **{Str("zz"): 1}),
    "str-subclass-keyword-whose-eq-raises": lambda ns: ns.MOT(1, **{EqRaisesStr("zz"): 1}),
    "str-subclass-keyword-equal-to-everything": lambda ns: ns.MOT(**{EqualsAllStr("zz"): 1}),
    "base-class-two-positional": lambda ns: ns.base(1, 2),
    "base-class-list-of-non-pairs": lambda ns: ns.base([1]),
    "base-class-triples": lambda ns: ns.base([(1, 2, 3)]),
    "base-class-non-str-key": lambda ns: ns.base({1: 2}),
    "generated-init-called-again-with-unknown-keyword": lambda ns: ns.MOT.__init__(ns.MOT(1), 5, zz=1),
    "first-field-dict-with-non-str-key-after-a-pair": lambda ns: ns.Opt({"a": 1, 2: 3}),
}


@pytest.mark.transformers
@pytest.mark.parametrize("case", list(CALLS_LIKE_TRANSFORMERS.values()), ids=list(CALLS_LIKE_TRANSFORMERS))
def test_bad_call_raises_what_transformers_raises(case: Callable[[SimpleNamespace], Any], tf: SimpleNamespace) -> None:
    """Constructor misuse outside the spec's tables: same exception type and message as transformers."""
    assert_like_transformers(case, tf)


SPEC_INDEX_ERRORS = [
    pytest.param(1.5, TypeError, "tuple indices must be integers or slices, not float", id="float"),
    pytest.param(None, TypeError, "tuple indices must be integers or slices, not NoneType", id="None"),
    pytest.param(b"a", TypeError, "tuple indices must be integers or slices, not bytes", id="bytes"),
    pytest.param((0,), TypeError, "tuple indices must be integers or slices, not tuple", id="tuple"),
    pytest.param(2, IndexError, "tuple index out of range", id="past-the-end"),
    pytest.param("zzz", KeyError, "'zzz'", id="unknown-key"),
    pytest.param("b", KeyError, "'b'", id="field-that-is-None"),
]


@pytest.mark.parametrize(("key", "exc_type", "message"), SPEC_INDEX_ERRORS)
def test_bad_key_raises_the_spec_error(key: Any, exc_type: type, message: str) -> None:
    """Spec §4.2: keys of the wrong type index into to_tuple() and fail as a tuple would."""
    x = MOT(a=30, c=10)
    assert_raises_exactly(lambda: x[key], exc_type, message)
    assert keys(x) == ["a", "c"]


INDEXING_LIKE_TRANSFORMERS = {
    "list": lambda x: x[[0]],
    "dict": lambda x: x[{}],
    "object": lambda x: x[object()],
    "ellipsis": lambda x: x[...],
    "complex": lambda x: x[1j],
    "huge-int": lambda x: x[2**100],
    "huge-negative-int": lambda x: x[-(2**100)],
    "negative-out-of-range": lambda x: x[-3],
    "negative-in-range": lambda x: x[-2],
    "bool": lambda x: x[True],
    "index-raises": lambda x: x[RaisingIndex()],
    "index-returns-str": lambda x: x[GarbageIndex()],
    "index-returns-huge-int": lambda x: x[HugeIndex()],
    "slice-start-index-raises": lambda x: x[RaisingIndex() :],
    "slice-stop-index-returns-str": lambda x: x[: GarbageIndex()],
    "slice-float-bound": lambda x: x[1.5:],
    "slice-huge-bounds": lambda x: x[2**100 : -(2**100)],
    "slice-huge-index-bound": lambda x: x[HugeIndex() :],
    "slice-zero-step": lambda x: x[::0],
    "slice-str-bounds": lambda x: x["a":"c"],
    "str-subclass-unknown-key": lambda x: x[Str("zzz")],
    "str-subclass-hash-raises": lambda x: x[HashRaisesStr("a")],
    "unhashable-str-lookalike": lambda x: x[bytearray(b"a")],
}


@pytest.mark.transformers
@pytest.mark.parametrize("case", list(INDEXING_LIKE_TRANSFORMERS.values()), ids=list(INDEXING_LIKE_TRANSFORMERS))
@pytest.mark.parametrize("empty", [False, True], ids=["two-keys", "no-keys"])
def test_bad_index_raises_what_transformers_raises(
    case: Callable[[Any], Any], empty: bool, tf: SimpleNamespace
) -> None:
    """Keys and indices outside the spec's table: same result, or same exception and message."""
    assert_like_transformers(lambda ns: case(ns.Opt() if empty else ns.MOT(a=30, c=10)), tf)


@pytest.mark.parametrize(
    "key", [0, 1.5, None, b"a", (0,), 2**100, frozenset(), Payload()], ids=lambda key: type(key).__name__
)
def test_item_set_with_non_str_key_raises_after_inserting_it(key: Any) -> None:
    """Spec §5.1 (`y[0] = 1`): the key is stored, then setting the attribute fails with TypeError."""
    y = MOT(a=30, c=10)
    assert_raises_exactly(
        lambda: y.__setitem__(key, 1), TypeError, f"attribute name must be string, not '{type(key).__name__}'"
    )
    assert keys(y) == ["a", "c", key]
    assert dict.__getitem__(y, key) == 1
    assert field_values(y) == {"a": 30, "b": None, "c": 10}


@pytest.mark.parametrize(
    ("key", "exc_type", "message"),
    [
        pytest.param([0], TypeError, "unhashable type: 'list'", id="list"),
        pytest.param({}, TypeError, "unhashable type: 'dict'", id="dict"),
        pytest.param(set(), TypeError, "unhashable type: 'set'", id="set"),
        pytest.param(MOT(a=1), TypeError, "unhashable type: 'MOT'", id="output"),
        pytest.param(Evil("hash"), RuntimeError, "hash boom", id="hash-raises"),
        pytest.param(HashRaisesStr("a"), RuntimeError, "str hash boom", id="str-subclass-hash-raises"),
    ],
)
def test_item_set_with_unhashable_key_changes_nothing(key: Any, exc_type: type, message: str) -> None:
    """An unhashable key (or one whose __hash__ raises) fails before anything is stored."""
    y = MOT(a=30, c=10)
    assert_raises_exactly(lambda: y.__setitem__(key, 1), exc_type, message)
    assert keys(y) == ["a", "c"]
    assert values(y) == [30, 10]
    assert vars(y) == {"a": 30, "b": None, "c": 10}


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda y: getattr(y, 1), id="getattr"),
        pytest.param(lambda y: setattr(y, 1, 2), id="setattr"),
        pytest.param(lambda y: setattr(y, 1, None), id="setattr-None"),
        pytest.param(lambda y: delattr(y, 1), id="delattr"),
        pytest.param(lambda y: y.__setattr__(1, 2), id="__setattr__-called-directly"),
        pytest.param(lambda y: y.__setattr__(1, None), id="__setattr__-called-directly-with-None"),
    ],
)
def test_non_str_attribute_name_raises_type_error(call: Callable[[Any], Any]) -> None:
    """An attribute name that is not a str: TypeError, and both stores are left alone."""
    y = MOT(a=30, c=10)
    assert_raises_exactly(lambda: call(y), TypeError, "attribute name must be string, not 'int'")
    assert keys(y) == ["a", "c"]
    assert vars(y) == {"a": 30, "b": None, "c": 10}


DUNDER_MISUSE_LIKE_TRANSFORMERS = {
    "to_tuple-with-an-argument": lambda ns: ns.MOT(1).to_tuple(1),
    "to_tuple-with-a-keyword": lambda ns: ns.MOT(1).to_tuple(a=1),
    "__setattr__-without-value": lambda ns: ns.MOT(1).__setattr__("b"),
    "__setattr__-with-three-arguments": lambda ns: ns.MOT(1).__setattr__("b", 1, 2),
    "__setattr__-by-keyword": lambda ns: ns.MOT(1).__setattr__(name="c", value=5),
    "__getitem__-without-key": lambda ns: ns.MOT(1).__getitem__(),
    "__setitem__-without-value": lambda ns: ns.MOT(1).__setitem__("b"),
    "__delitem__-without-key": lambda ns: ns.MOT(1).__delitem__(),
}


@pytest.mark.transformers
@pytest.mark.parametrize(
    "case", list(DUNDER_MISUSE_LIKE_TRANSFORMERS.values()), ids=list(DUNDER_MISUSE_LIKE_TRANSFORMERS)
)
def test_method_called_with_wrong_arguments_raises_what_transformers_raises(
    case: Callable[[SimpleNamespace], Any], tf: SimpleNamespace
) -> None:
    """Methods called with the wrong arguments: same exception type and message as transformers."""
    assert_like_transformers(case, tf)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: ModelOutput.to_tuple(1), id="to_tuple-on-int"),
        pytest.param(lambda: ModelOutput.to_tuple(object()), id="to_tuple-on-object"),
        pytest.param(lambda: ModelOutput.__setattr__({}, "a", 1), id="__setattr__-on-dict"),
        pytest.param(lambda: ModelOutput.__setattr__(object(), "a", 1), id="__setattr__-on-object"),
        pytest.param(lambda: ModelOutput.__getitem__({}, 0), id="__getitem__-on-dict"),
        pytest.param(lambda: ModelOutput.__setitem__({}, "a", 1), id="__setitem__-on-dict"),
        pytest.param(lambda: ModelOutput.__reduce__(OrderedDict()), id="__reduce__-on-ordereddict"),
        pytest.param(lambda: ModelOutput.__dict__["__dict__"].__get__({}, dict), id="__dict__-get-on-dict"),
        pytest.param(lambda: ModelOutput.__dict__["__dict__"].__set__({}, {}), id="__dict__-set-on-dict"),
        pytest.param(lambda: MOT.__post_init__({}), id="__post_init__-on-dict"),
        pytest.param(lambda: MOT.__init__({}, 1), id="generated-__init__-on-dict"),
    ],
)
def test_method_called_on_a_foreign_object_fails_cleanly(call: Callable[[], Any]) -> None:
    """Unbound methods handed an object of another type raise a Python error (or work), never crash."""
    try:
        call()
    except (TypeError, AttributeError, KeyError):
        pass


def test_blocked_mutators_raise_bare_exception_whatever_the_arguments() -> None:
    """Spec §5.2: pop/setdefault/update/__delitem__ raise a bare Exception for any arguments."""
    y = MOT(a=30, c=10)
    calls = {
        "__delitem__": [lambda: y.__delitem__("a"), lambda: y.__delitem__([1]), lambda: y.__delitem__(1, 2, k=3)],
        "pop": [lambda: y.pop(), lambda: y.pop([1]), lambda: y.pop("a", None, 3, k=1)],
        "setdefault": [lambda: y.setdefault(), lambda: y.setdefault({}, 1)],
        "update": [lambda: y.update(), lambda: y.update(5), lambda: y.update({"b": 1}, c=2)],
    }
    for name, variants in calls.items():
        for call in variants:
            assert_raises_exactly(call, Exception, f"You cannot use ``{name}`` on a MOT instance.")
    with pytest.raises(Exception) as info:  # noqa: PT011 - the statement form of __delitem__
        del y["zzz"]
    assert type(info.value) is Exception
    assert keys(y) == ["a", "c"]
    assert values(y) == [30, 10]


# ===================================================================================================
# 2. Odd declarations
# ===================================================================================================


def test_class_without_fields_fails_at_instantiation_only() -> None:
    """Spec §3.6: declaring a field-less class works; instantiating it raises ValueError."""

    @dataclass
    class Empty(ModelOutput):
        pass

    assert dataclasses.fields(Empty) == ()
    assert_raises_exactly(Empty, ValueError, "Empty has no fields.")
    assert_raises_exactly(lambda: Empty.__new__(Empty).__post_init__(), ValueError, "Empty has no fields.")


@pytest.mark.parametrize(
    ("call", "expected_keys", "expected_fields"),
    [
        pytest.param(lambda: OneReq(1), ["a"], {"a": 1}, id="required-positional"),
        pytest.param(lambda: OneReq(a=0), ["a"], {"a": 0}, id="required-falsy"),
        pytest.param(lambda: OneReq(None), [], {"a": None}, id="required-None"),
        pytest.param(lambda: OneReq({"a": 1, "z": 2}), ["a", "z"], {"a": 1}, id="required-dict"),
        pytest.param(lambda: OneReq([("z", 1)]), ["z"], {"a": None}, id="required-pairs"),
        pytest.param(lambda: OneReq([]), [], {"a": None}, id="required-empty-list"),
        pytest.param(lambda: One(), [], {"a": None}, id="optional-nothing"),
        pytest.param(lambda: One(1), ["a"], {"a": 1}, id="optional-positional"),
        pytest.param(lambda: One(a="abc"), ["a"], {"a": "abc"}, id="optional-str"),
        pytest.param(lambda: One({}), [], {"a": None}, id="optional-empty-dict"),
    ],
)
def test_single_field_class(call: Callable[[], Any], expected_keys: list[str], expected_fields: dict[str, Any]) -> None:
    """One field, required or optional: the usual construction rules, first-field expansion included."""
    out = call()
    assert keys(out) == expected_keys
    assert field_values(out) == expected_fields
    assert out.to_tuple() == tuple(dict.values(out))


def _declare_wide(count: int, style: str, first_required: bool) -> type:
    names = [f"f{i}" for i in range(count)]
    if style == "make_dataclass":
        spec: list[Any] = [(name, Any, field(default=None)) for name in names]
        if first_required:
            spec[0] = (names[0], Any)
        cls = make_dataclass("Big", spec, bases=(ModelOutput,))
    else:
        lines = [f"    {name}: Any{'' if first_required and i == 0 else ' = None'}" for i, name in enumerate(names)]
        source = "@dataclass\nclass Big(ModelOutput):\n" + "\n".join(lines) + "\n"
        namespace: dict[str, Any] = {"dataclass": dataclass, "ModelOutput": ModelOutput, "Any": Any}
        exec(source, namespace)  # noqa: S102 - a generated class body is the point
        cls = namespace["Big"]
    cls.__module__ = __name__
    return cls


@pytest.mark.parametrize("style", ["make_dataclass", "exec"])
@pytest.mark.parametrize("count", [31, 32, 33, 1000])
def test_many_fields(count: int, style: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Up to 1,000 fields (either side of 32, the constructor's on-stack limit): keys, values, errors."""
    cls = _declare_wide(count, style, first_required=False)
    monkeypatch.setattr(sys.modules[__name__], "Big", cls, raising=False)  # so that pickle finds it
    names = [f"f{i}" for i in range(count)]
    everything = cls(*range(count))
    assert keys(everything) == names
    assert everything.to_tuple() == tuple(range(count))
    assert everything[count - 1] == count - 1
    assert everything[-count] == 0
    by_keyword = cls(**{name: i for i, name in reversed(list(enumerate(names)))})
    assert keys(by_keyword) == names
    assert by_keyword == everything
    some = cls(**{name: i for i, name in enumerate(names) if i % 7 == 3})
    assert keys(some) == names[3::7]
    assert [getattr(some, name) for name in names] == [i if i % 7 == 3 else None for i in range(count)]
    mixed = cls(0, 1, **{names[-1]: "last"})
    assert keys(mixed) == ["f0", "f1", names[-1]]
    nothing = cls()
    assert keys(nothing) == []
    assert vars(nothing) == dict.fromkeys(names)
    last_only = cls(**{names[-1]: "x"})
    assert keys(last_only) == [names[-1]]
    assert last_only[0] == "x"
    assert last_only.f0 is None
    assert keys(cls({"f5": 5, "extra": 6})) == ["f5", "extra"]
    assert keys(pickle.loads(pickle.dumps(some))) == keys(some)
    assert copy.deepcopy(everything) == everything
    assert repr(cls(f0=1)).startswith("Big(f0=1, f1=None, ")
    assert_raises_exactly(
        lambda: cls(*range(count + 1)),
        TypeError,
        f"Big.__init__() takes from 1 to {count + 1} positional arguments but {count + 2} were given",
    )
    assert_raises_exactly(
        lambda: cls(**{f"f{count}": 1}), TypeError, f"Big.__init__() got an unexpected keyword argument 'f{count}'"
    )
    assert_raises_exactly(
        lambda: cls(*range(count), **{names[-1]: 1}),
        TypeError,
        f"Big.__init__() got multiple values for argument '{names[-1]}'",
    )


@pytest.mark.parametrize("style", ["make_dataclass", "exec"])
def test_many_fields_first_required(style: str) -> None:
    """1,000 fields with a required first one: the missing-argument error and normal construction."""
    cls = _declare_wide(1000, style, first_required=True)
    assert_raises_exactly(
        lambda: cls(f999=1), TypeError, "Big.__init__() missing 1 required positional argument: 'f0'"
    )
    assert keys(cls(1, f500=2)) == ["f0", "f500"]
    assert keys(cls(None, f999=2)) == ["f999"]


NAMES_LIKE_TRANSFORMERS = {
    "int-index": lambda o: o[0],
    "slice": lambda o: o[1:3],
    "deepcopy": copy.deepcopy,
    "pickle": lambda o: pickle.dumps(o) and "pickled",
    "replace": dataclasses.replace,
    "len": len,
    "contains": lambda o: "get" in o,
    "iteration": list,
    "repr": repr,
    "vars": vars,
    "asdict": dataclasses.asdict,
}


@pytest.mark.transformers
@pytest.mark.skipif((transformers_major() or 0) < 5, reason="4.57.6 cannot even build these (its __setattr__ calls self.keys())")
@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda ns: ns.Names(*range(1, 9)), id="all-set"),
        pytest.param(lambda ns: ns.Names(), id="none-set"),
        pytest.param(lambda ns: ns.Names(get=1), id="get-set"),
    ],
)
@pytest.mark.parametrize("case", list(NAMES_LIKE_TRANSFORMERS.values()), ids=list(NAMES_LIKE_TRANSFORMERS))
def test_fields_named_like_mapping_methods_like_transformers(
    case: Callable[[Any], Any], build: Callable[[SimpleNamespace], Any], tf: SimpleNamespace
) -> None:
    """Fields keys/to_tuple/items/get/update/copy/values/pop shadow the methods as in transformers 5.x:
    what needs the shadowed method (`out[0]` needs to_tuple, pickle needs items) fails the same way."""
    assert_like_transformers(lambda ns: case(build(ns)), tf)


def test_fields_named_like_mapping_methods_hold_their_values() -> None:
    """Fields named keys, to_tuple, items, ...: the attributes are the values, the keys are the names."""
    out = FO.Names(*range(1, 9))
    names = ["keys", "to_tuple", "items", "get", "update", "copy", "values", "pop"]
    assert [getattr(out, name) for name in names] == list(range(1, 9))
    assert keys(out) == names
    assert [out[name] for name in names] == list(range(1, 9))
    assert dict(out) == dict(zip(names, range(1, 9)))


@pytest.mark.parametrize(
    "names",
    [
        pytest.param(["x", "_fo_x"], id="field-and-field-with-internal-prefix"),
        pytest.param(["_fo_x", "x"], id="field-with-internal-prefix-first"),
        pytest.param(["_fo_"], id="internal-prefix-alone"),
        pytest.param(["self", "b"], id="self"),
        pytest.param(["a", "self"], id="self-second"),
        pytest.param(["a", "__weakref__"], id="__weakref__"),
        pytest.param(["a", "__module__"], id="__module__"),
        pytest.param(["a", "__doc__"], id="__doc__"),
        pytest.param(["a", "__getitem__"], id="__getitem__"),
        pytest.param(["a", "__hash__"], id="__hash__"),
        pytest.param(["a", "_K__private"], id="mangled-private"),
        pytest.param(["a", "\u015d"], id="non-ascii"),
    ],
)
def test_unusual_field_names_work(names: list[str]) -> None:
    """Valid identifiers transformers accepts as field names give an ordinary output."""
    cls = make_dataclass("K", [(name, Any, field(default=None)) for name in names], bases=(ModelOutput,))
    out = cls(*range(1, len(names) + 1))
    assert keys(out) == names
    assert [getattr(out, name) for name in names] == list(range(1, len(names) + 1))
    assert vars(out) == dict(zip(names, range(1, len(names) + 1)))
    assert keys(cls(**{names[-1]: "v"})) == [names[-1]]


@pytest.mark.parametrize(
    "name",
    ["__class__", "__init__", "__post_init__", "__dataclass_fields__", "__slots__", "__qualname__", "__dict__"],
)
def test_absurd_dunder_field_names_fail_cleanly(name: str) -> None:
    """Dunder field names that break dataclasses or the class: a Python error (or a class), never a crash."""
    try:
        cls = make_dataclass("K", [("a", Any, field(default=None)), (name, Any, field(default=None))], bases=(ModelOutput,))
        out = cls(1, 2)
        repr(out)
        keys(out)
        vars(out)
    except Exception:  # noqa: BLE001, S110 - any Python exception is acceptable here
        pass


@pytest.mark.transformers
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(lambda ns: ns.FirstFactory(), id="first-field-factory-nothing"),
        pytest.param(lambda ns: ns.FirstFactory([1]), id="first-field-factory-value"),
        pytest.param(lambda ns: ns.FirstFactory(b=2), id="first-field-factory-other-field"),
        pytest.param(lambda ns: ns.FirstDefault(), id="first-field-non-None-default"),
        pytest.param(lambda ns: ns.FirstDefault(b=1), id="first-field-non-None-default-other-field"),
        pytest.param(lambda ns: ns.WithInitVar(1), id="InitVar-default"),
        pytest.param(lambda ns: ns.WithInitVar(1, 2), id="InitVar-given"),
        pytest.param(lambda ns: [f.name for f in dataclasses.fields(ns.WithInitVar)], id="InitVar-fields"),
    ],
)
def test_unusual_defaults_like_transformers(case: Callable[[SimpleNamespace], Any], tf: SimpleNamespace) -> None:
    """First-field factories, non-None first defaults and InitVar fields behave as in transformers."""
    assert_like_transformers(case, tf)


@dataclass
class WithClassVars(ModelOutput):
    scale: ClassVar[int] = 3
    a: Any = None
    label: ClassVar[str] = "q"
    b: Any = None


def test_classvar_annotations_are_not_fields() -> None:
    """ClassVar annotations mixed with fields: not fields, not keys, not constructor arguments."""
    assert [f.name for f in dataclasses.fields(WithClassVars)] == ["a", "b"]
    out = WithClassVars(1, 2)
    assert keys(out) == ["a", "b"]
    assert (out.scale, out.label, WithClassVars.scale) == (3, "q", 3)
    assert vars(out) == {"a": 1, "b": 2}
    assert_raises_exactly(
        lambda: WithClassVars(scale=1), TypeError, "WithClassVars.__init__() got an unexpected keyword argument 'scale'"
    )
    assert_raises_exactly(
        lambda: WithClassVars(1, 2, 3),
        TypeError,
        "WithClassVars.__init__() takes from 1 to 3 positional arguments but 4 were given",
    )


def test_assigning_a_classvar_on_an_instance_adds_no_key() -> None:
    """`out.scale = 5` for a ClassVar: an instance attribute only; a ClassVar is no field, so no key (5.x)."""
    out = WithClassVars(1)
    out.scale = 5
    assert keys(out) == ["a"]
    assert out.scale == 5
    assert WithClassVars.scale == 3
    assert out.to_tuple() == (1,)


@dataclass
class Parent(ModelOutput):
    a: Any = None
    b: Any = None


@dataclass
class Redeclares(Parent):
    a: str = None  # type: ignore[assignment]
    c: Any = None


def test_subclass_redeclaring_a_parent_field() -> None:
    """A redeclared field keeps its position in the field order; keys follow that order."""
    assert [f.name for f in dataclasses.fields(Redeclares)] == ["a", "b", "c"]
    out = Redeclares(1, 2, 3)
    assert keys(out) == ["a", "b", "c"]
    assert values(out) == [1, 2, 3]
    assert keys(Redeclares(c=3, a="x")) == ["a", "c"]
    assert repr(Redeclares(c=3, a="x")) == "Redeclares(a='x', b=None, c=3)"


def test_undecorated_child_of_a_dataclass_output() -> None:
    """Spec §3.1: a plain child reuses the parent's fields and __init__; its repr shows its own name."""
    out = PlainChild(1, 2)
    assert keys(out) == ["a", "b"]
    assert repr(out) == "PlainChild(a=1, b=2, c=None)"
    expanded = PlainChild({"a": 1, "zz": 3})
    assert keys(expanded) == ["a", "zz"]
    assert expanded.zz == 3
    assert_raises_exactly(
        lambda: PlainChild(1, 2, 3, 4), TypeError, "Opt.__init__() takes from 1 to 4 positional arguments but 5 were given"
    )

    class GrandChild(PlainChild):
        extra: int = 5  # a class attribute: not a field of an undecorated class

    grand = GrandChild(1)
    assert (keys(grand), grand.extra, repr(grand)) == (["a"], 5, f"{GrandChild.__qualname__}(a=1, b=None, c=None)")


FROZEN_ROWS = [
    pytest.param(lambda: Frozen(a=1, b=2), ["a", "b"], None, id="keywords"),
    pytest.param(lambda: Frozen({"a": 1, "b": 2}), None, "cannot assign to field 'a'", id="first-field-dict"),
    pytest.param(lambda: Frozen(a=(1, 2)), None, "cannot assign to field 'a'", id="first-field-tuple"),
    pytest.param(lambda: dataclasses.replace(Frozen(a=1), b=2), ["a", "b"], None, id="replace"),
    pytest.param(lambda: copy.deepcopy(Frozen(a=1, b=2)), ["a", "b"], None, id="deepcopy"),
    pytest.param(lambda: copy.copy(Frozen(a=1, b=2)), ["a", "b"], None, id="copy"),
    pytest.param(lambda: pickle.loads(pickle.dumps(Frozen(a=1, b=2))), ["a", "b"], None, id="pickle"),
]


@pytest.mark.parametrize(("call", "expected_keys", "frozen_message"), FROZEN_ROWS)
def test_frozen_dataclass_construction(
    call: Callable[[], Any], expected_keys: list[str] | None, frozen_message: str | None
) -> None:
    """Spec §3.7: frozen outputs build through the normal path; the first-field expansion fails."""
    if frozen_message is not None:
        assert_raises_exactly(call, dataclasses.FrozenInstanceError, frozen_message)
        return
    out = call()
    assert keys(out) == expected_keys
    assert field_values(out) == {"a": 1, "b": 2}


def test_frozen_dataclass_writes() -> None:
    """Spec §3.7: attribute writes and deletes fail, item set succeeds, the hash is the dataclass one."""
    out = Frozen(a=1)
    assert_raises_exactly(lambda: setattr(out, "a", 3), dataclasses.FrozenInstanceError, "cannot assign to field 'a'")
    assert_raises_exactly(lambda: setattr(out, "b", 3), dataclasses.FrozenInstanceError, "cannot assign to field 'b'")
    assert_raises_exactly(lambda: delattr(out, "a"), dataclasses.FrozenInstanceError, "cannot delete field 'a'")
    assert (keys(out), out.a, out.b) == (["a"], 1, None)
    out["a"] = 3
    out["zz"] = 4
    assert (keys(out), values(out), out.a, out.zz) == (["a", "zz"], [3, 4], 3, 4)
    assert hash(Frozen(a=1)) == hash((1, None))


def test_slots_dataclass() -> None:
    """`@dataclass(slots=True)` works: construction, expansion, attribute set adding keys, copies.

    transformers accepts it too; its instances still have a __dict__ (the base has no __slots__).
    """
    assert Slotted.__slots__ == ("a", "b")
    out = Slotted(1, 2)
    assert (keys(out), values(out), out.a, out.b) == (["a", "b"], [1, 2], 1, 2)
    expanded = Slotted({"a": 1, "zz": 2})
    assert (keys(expanded), expanded.a, expanded.b, expanded.zz) == (["a", "zz"], 1, None, 2)
    late = Slotted(1)
    late.b = 5
    late.extra = 6
    assert (keys(late), late.b, late.extra) == (["a", "b"], 5, 6)
    for clone in (copy.copy(out), copy.deepcopy(out), pickle.loads(pickle.dumps(out)), dataclasses.replace(out)):
        assert (type(clone), keys(clone), clone.a, clone.b) == (Slotted, ["a", "b"], 1, 2)
    assert weakref.ref(out)() is out
    assert dataclasses.asdict(out) == {"a": 1, "b": 2}
    assert repr(out) == "Slotted(a=1, b=2)"


def test_slots_frozen_dataclass_keeps_every_field() -> None:
    """`@dataclass(slots=True, frozen=True)`: keys ['a', 'b'], no value dropped.

    transformers 4.57.6 gives this too; 5.x drops 'b' (it looks the other fields up in the instance
    __dict__, which holds none of them for a slots class). The test pins the version that keeps the data
    (docs/compatibility.md 6).
    """
    out = SlottedFrozen(1, 2)
    assert (keys(out), out.a, out.b) == (["a", "b"], 1, 2)
    assert_raises_exactly(lambda: setattr(out, "a", 3), dataclasses.FrozenInstanceError, "cannot assign to field 'a'")


DATACLASS_OPTIONS_LIKE_TRANSFORMERS = {
    "eq-False-equal": lambda ns: ns.NoEq(1) == ns.NoEq(1),
    "eq-False-unequal": lambda ns: ns.NoEq(1) == ns.NoEq(2),
    "eq-False-against-dict": lambda ns: ns.NoEq(1) == {"a": 1},
    "eq-False-hash": lambda ns: hash(ns.NoEq(1)),
    "repr-False": lambda ns: repr(ns.NoRepr(1)),
    "repr-False-empty": lambda ns: repr(ns.NoRepr()),
    "init-False-keywords": lambda ns: ns.NoInit(a=1),
    "init-False-dict": lambda ns: ns.NoInit({"a": 1}),
    "init-False-not-iterable": lambda ns: ns.NoInit(1),
    "order-True": lambda ns: ns.Ordered(1) < ns.Ordered(2),
    "order-True-mixed-types": lambda ns: ns.Ordered(1) < ns.Ordered("x"),
    "unsafe_hash-True": lambda ns: hash(ns.Hashed(1)) == hash((1,)),
    "kw_only-keywords": lambda ns: ns.KwOnly(b=2),
    "kw_only-positional": lambda ns: ns.KwOnly(1),
    "plain-child-keys": lambda ns: ns.Plain(1, 2),
    "plain-child-too-many": lambda ns: ns.Plain(1, 2, 3),
    "plain-child-repr": lambda ns: repr(ns.Plain(1)),
}


@pytest.mark.transformers
@pytest.mark.parametrize(
    "case", list(DATACLASS_OPTIONS_LIKE_TRANSFORMERS.values()), ids=list(DATACLASS_OPTIONS_LIKE_TRANSFORMERS)
)
def test_dataclass_options_like_transformers(case: Callable[[SimpleNamespace], Any], tf: SimpleNamespace) -> None:
    """eq=False, repr=False, init=False, order=True, unsafe_hash=True, kw_only=True, undecorated child."""
    assert_like_transformers(case, tf)


def _family(base: type) -> SimpleNamespace:
    """Output classes for the multiple-inheritance and __class__-assignment cases, on ``base``."""

    @dataclass
    class A(base):  # type: ignore[valid-type,misc]
        a: Any = None
        b: Any = None

    @dataclass
    class A2(base):  # type: ignore[valid-type,misc]
        a: Any = None
        b: Any = None

    @dataclass
    class B(base):  # type: ignore[valid-type,misc]
        x: Any = None

    class PlainA(A):
        pass

    class Mixin:
        def hello(self) -> str:
            return "hi"

    class Other:
        pass

    return SimpleNamespace(base=base, A=A, A2=A2, B=B, PlainA=PlainA, Mixin=Mixin, Other=Other)


def _two_output_bases(ns: SimpleNamespace) -> Any:
    @dataclass
    class C(ns.A, ns.B):  # type: ignore[misc]
        c: Any = None

    out = C(1, 2, 3, 4)
    return out, vars(out), [f.name for f in dataclasses.fields(C)]


def _diamond(ns: SimpleNamespace) -> Any:
    @dataclass
    class C(ns.PlainA, ns.A2):  # type: ignore[misc]
        c: Any = None

    out = C(1, 2, 3)
    return out, vars(out)


def _output_and_mixin(ns: SimpleNamespace) -> Any:
    @dataclass
    class C(ns.A, ns.Mixin):  # type: ignore[misc]
        c: Any = None

    out = C(1, 2, 3)
    return out, vars(out), out.hello()


def _assign_class(target: str) -> Callable[[SimpleNamespace], Any]:
    def case(ns: SimpleNamespace) -> Any:
        out = ns.A(1, 2)
        out.__class__ = getattr(ns, target)
        return out, out.a, vars(out)

    return case


# How each case ends under the C++ core: "same" as transformers; "refused", CPython's layout TypeError
# (output classes with fields have a native slot layout); "unsupported", accepted by CPython but unsupported.
@pytest.mark.transformers
@pytest.mark.parametrize(
    ("case", "under_cpp"),
    [
        pytest.param(_two_output_bases, "refused", id="two-output-bases"),
        pytest.param(_diamond, "refused", id="two-output-bases-one-undecorated"),
        pytest.param(_output_and_mixin, "same", id="output-and-plain-mixin"),
        pytest.param(_assign_class("A2"), "unsupported", id="__class__-to-class-with-same-fields"),
        pytest.param(_assign_class("PlainA"), "same", id="__class__-to-undecorated-child"),
        pytest.param(_assign_class("B"), "refused", id="__class__-to-class-with-other-fields"),
        pytest.param(_assign_class("base"), "refused", id="__class__-to-base-class"),
        pytest.param(_assign_class("Other"), "refused", id="__class__-to-unrelated-class"),
    ],
)
def test_multiple_inheritance_and_class_assignment_like_transformers(
    case: Callable[[SimpleNamespace], Any], under_cpp: str, tf: SimpleNamespace
) -> None:
    """Output classes combined by multiple inheritance, and `out.__class__ = X`: same result or error
    as transformers (whose outputs are plain OrderedDict subclasses without slots), except where the
    C++ core's slot layout makes CPython refuse the class (docs/compatibility.md)."""
    if IMPLEMENTATION == "cpp" and under_cpp == "refused":
        # docs/compatibility.md 8 (C++ only): output classes with fields have a native slot layout
        actual = outcome(lambda: case(_family(ModelOutput)))
        assert actual[0] is TypeError, actual
        assert re.search(r"lay-?out|deallocator", actual[1]), actual
        return
    if IMPLEMENTATION == "cpp" and under_cpp == "unsupported":
        # docs/compatibility.md 8 (C++ only): __class__ to a class with the same layout is unsupported
        _assert_same_layout_class_assignment_does_not_crash()
        return
    expected = outcome(lambda: case(_family(tf.base)))
    assert outcome(lambda: case(_family(ModelOutput))) == expected


def _assert_same_layout_class_assignment_does_not_crash() -> None:
    """`out.__class__ = A2` where A2 has the same slots as A: CPython allows it; every operation
    afterwards may give any result or Python error, but the interpreter survives, the collector included."""
    result = run_python(
        """
        import copy, dataclasses, gc, pickle
        from dataclasses import dataclass
        from typing import Any
        from fastoutput import ModelOutput

        @dataclass
        class A(ModelOutput):
            a: Any = None
            b: Any = None

        @dataclass
        class A2(ModelOutput):
            a: Any = None
            b: Any = None

        class PlainA(A):
            pass

        operations = [
            lambda o: o.a, lambda o: o.b, vars, repr, list, lambda o: o["a"], lambda o: o[0], lambda o: o[:],
            lambda o: o.to_tuple(), lambda o: setattr(o, "a", 5), lambda o: setattr(o, "zz", 6),
            lambda o: o.__setitem__("b", 7), lambda o: delattr(o, "a"), lambda o: o == A2(1, 2), copy.copy,
            copy.deepcopy, lambda o: pickle.loads(pickle.dumps(o)), dataclasses.asdict, dataclasses.replace,
            gc.get_referents, lambda o: setattr(o, "__class__", A), lambda o: o.a, vars,
        ]
        for source, target in ((A, A2), (A, PlainA), (PlainA, A2)):
            for stop in range(len(operations) + 1):
                out = source(1, 2)
                out.extra = "x"
                out.__class__ = target
                for operation in operations[:stop]:
                    try:
                        operation(out)
                    except Exception:
                        pass
                del out
                gc.collect()
        print("survived")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "survived"


def test_field_with_init_false_reads_its_class_default() -> None:
    """`b: Any = field(default=None, init=False)`: __init__ never assigns b, so b is the class default None."""

    @dataclass
    class InitFalseField(ModelOutput):
        a: Any = None
        b: Any = field(default=None, init=False)

    out = InitFalseField(1)
    assert (keys(out), out.a, out.b) == (["a"], 1, None)
    assert repr(out) == "test_field_with_init_false_reads_its_class_default.<locals>.InitFalseField(a=1, b=None)"
    out.b = 2
    assert (keys(out), out.b) == (["a", "b"], 2)


def assert_class_reads_field(cls: type, name: str, value: Any) -> None:
    """`cls.<name>` for a declared field reads ``value`` (the class attribute transformers keeps)."""
    if IMPLEMENTATION == "cpp":
        # docs/compatibility.md 8 (C++ only): `Cls.field` on the class is the slot descriptor
        descriptor = getattr(cls, name)
        assert isinstance(descriptor, MemberDescriptorType), descriptor
        assert descriptor.__name__ == name
    else:
        assert getattr(cls, name) == value


def test_class_default_stays_readable_on_the_class() -> None:
    """Spec §3.1: the dataclass leaves the None defaults as class attributes (`MOT.b is None`), always
    (under the C++ core, once the class has made an instance, the slot descriptor instead)."""

    @dataclass
    class K(ModelOutput):
        a: Any
        b: Any = None

    assert K.b is None
    assert not hasattr(K, "a")
    K(1)
    K(1, 2)
    assert_class_reads_field(K, "b", None)
    if IMPLEMENTATION == "cpp":
        # docs/compatibility.md 8 (C++ only): a required field's slot descriptor is on the class too
        assert_class_reads_field(K, "a", None)
    else:
        assert not hasattr(K, "a")
    assert [f.default for f in dataclasses.fields(K)] == [dataclasses.MISSING, None]


def test_deleting_a_field_attribute_falls_back_to_the_class_default() -> None:
    """Spec §5.1: `del y.c` leaves the key; `y.c` then reads the class default None (under the C++ core
    it raises AttributeError, docs/compatibility.md)."""
    y = MOT(a=30, c=10)
    del y.c
    if IMPLEMENTATION == "cpp":
        # docs/compatibility.md 8 (C++ only): after `del out.field`, reading it raises AttributeError
        assert_raises_exactly(lambda: y.c, AttributeError, "'MOT' object has no attribute 'c'")
    else:
        assert y.c is None
    assert (keys(y), values(y)) == (["a", "c"], [30, 10])
    # deleting it again fails; under the C++ core with CPython's slot message (docs/compatibility.md 8)
    message = "c" if IMPLEMENTATION == "cpp" else "'MOT' object has no attribute 'c'"
    assert_raises_exactly(lambda: delattr(y, "c"), AttributeError, message)
    del y.a
    assert not hasattr(y, "a")
    assert_raises_exactly(lambda: y.a, AttributeError, "'MOT' object has no attribute 'a'")
    y.c = 5
    assert (y.c, keys(y), values(y)) == (5, ["a", "c"], [30, 5])


def test_instance_made_by_new_alone_reads_class_defaults() -> None:
    """`MOT.__new__(MOT)` runs no __init__: no keys, required field missing, optional ones read None."""
    out = MOT.__new__(MOT)
    assert keys(out) == []
    assert_raises_exactly(lambda: out.a, AttributeError, "'MOT' object has no attribute 'a'")
    assert out.b is None
    out.__init__(1, 2)
    assert (keys(out), field_values(out)) == (["a", "b"], {"a": 1, "b": 2, "c": None})


def _own_init_class(base: type) -> type:
    @dataclass
    class OwnInit(base):  # type: ignore[valid-type,misc]
        a: Any = None
        b: Any = None

        def __init__(self, x: Any, y: Any = None) -> None:
            super().__init__(a=x, b=y)  # @dataclass kept this __init__: super() is the base one

    return OwnInit


@pytest.mark.transformers
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(lambda cls: cls(1, 2), id="two-values"),
        pytest.param(lambda cls: cls(1), id="one-value"),
        pytest.param(lambda cls: cls({"a": 1, "zz": 2}), id="dict"),
        pytest.param(lambda cls: field_values(cls(1)), id="attributes"),
        pytest.param(lambda cls: cls(), id="missing-argument"),
        pytest.param(lambda cls: cls(1, 2, 3), id="too-many-arguments"),
    ],
)
def test_own_init_that_calls_super_init_like_transformers(case: Callable[[type], Any], tf: SimpleNamespace) -> None:
    """A subclass __init__ forwarding keywords to super().__init__ reaches the base (mapping) __init__:
    every keyword becomes a key, None included, as in transformers."""
    expected = outcome(lambda: case(_own_init_class(tf.base)))
    assert outcome(lambda: case(_own_init_class(ModelOutput))) == expected


def test_own_init_that_sets_some_fields_and_calls_post_init() -> None:
    """A hand-written __init__ that assigns only `a`: `b` reads the class default, keys are right."""

    @dataclass
    class K(ModelOutput):
        a: Any = None
        b: Any = None

        def __init__(self, x: Any) -> None:
            self.a = x
            self.__post_init__()

    out = K(1)
    assert (keys(out), out.a, out.b) == (["a"], 1, None)
    expanded = K({"a": 1, "q": 2})
    assert (keys(expanded), expanded.q) == (["a", "q"], 2)


def test_post_init_that_calls_super() -> None:
    """A subclass __post_init__ that calls the base one, then adds an attribute."""
    out = WithPostInit(1, 2)
    assert (keys(out), out.extra, vars(out)) == (["a", "b"], "post", {"a": 1, "b": 2, "extra": "post"})
    expanded = WithPostInit({"a": 1, "z": 2})
    assert (keys(expanded), expanded.z, expanded.extra) == (["a", "z"], 2, "post")


def test_post_init_that_skips_super() -> None:
    """Spec §0.2 (5.x): without the base __post_init__, __init__ alone has inserted the non-None fields."""

    @dataclass
    class K(ModelOutput):
        a: Any = None
        b: Any = None

        def __post_init__(self) -> None:
            pass

    assert keys(K(1, 2)) == ["a", "b"]
    assert keys(K(None, 2)) == ["b"]
    out = K({"a": 1})
    assert (keys(out), out.a) == (["a"], {"a": 1})


def test_post_init_that_raises_propagates() -> None:
    """An exception from a subclass __post_init__ reaches the caller unchanged."""

    @dataclass
    class K(ModelOutput):
        a: Any = None

        def __post_init__(self) -> None:
            raise RuntimeError("post boom")

    assert_raises_exactly(lambda: K(1), RuntimeError, "post boom")


def test_setattr_override_sees_every_assignment() -> None:
    """A Python __setattr__ override is called for each field in __init__, in the first-field expansion
    and afterwards, and the keys come out as without it."""
    calls: list[tuple[str, Any]] = []

    @dataclass
    class K(ModelOutput):
        a: Any = None
        b: Any = None

        def __setattr__(self, name: str, value: Any) -> None:
            calls.append((name, value))
            super().__setattr__(name, value)

    out = K(1, 2)
    out.b = 3
    out["a"] = 5  # item set bypasses __setattr__
    assert calls == [("a", 1), ("b", 2), ("b", 3)]
    assert (keys(out), values(out), field_values(out)) == (["a", "b"], [5, 3], {"a": 5, "b": 3})
    calls.clear()
    expanded = K({"a": 1, "z": 2})
    assert calls == [("a", {"a": 1, "z": 2}), ("b", None), ("a", None), ("a", 1), ("z", 2)]
    assert keys(expanded) == ["a", "z"]


def test_setattr_override_that_skips_super() -> None:
    """A __setattr__ that writes the attribute only: __post_init__ still inserts the keys; later writes add none."""

    @dataclass
    class K(ModelOutput):
        a: Any = None
        b: Any = None

        def __setattr__(self, name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

    out = K(1, 2)
    assert keys(out) == ["a", "b"]
    late = K(1)
    late.b = 2
    assert (keys(late), late.b) == (["a"], 2)


def test_getitem_override_answers_item_access() -> None:
    """A Python __getitem__ override answers `out[k]` for str keys, ints and slices."""
    calls: list[Any] = []

    @dataclass
    class K(ModelOutput):
        a: Any = None
        b: Any = None

        def __getitem__(self, key: Any) -> Any:
            calls.append(key)
            if key == "magic":
                return 42
            return super().__getitem__(key)

    out = K(1, 2)
    assert (out["magic"], out["a"], out[1], out[0:1]) == (42, 1, 2, (1,))
    assert calls[0] == "magic"
    assert "a" in calls
    assert 1 in calls
    assert slice(0, 1) in calls


@pytest.mark.transformers
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(lambda o: o.to_tuple(), id="to_tuple"),
        pytest.param(lambda o: o[0], id="int-index"),
        pytest.param(lambda o: o[:], id="slice"),
        pytest.param(lambda o: o.get("a"), id="get"),
        pytest.param(lambda o: list(o.values()), id="values"),
    ],
)
def test_getitem_override_feeds_positional_reads_like_transformers(
    case: Callable[[Any], Any], tf: SimpleNamespace
) -> None:
    """transformers' to_tuple reads each value through `self[key]`, so a __getitem__ override shows
    in to_tuple(), `out[0]` and slices (get and values() stay with the dict)."""
    assert_like_transformers(lambda ns: case(ns.Overrides(1, 2)), tf)


@pytest.mark.transformers
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(lambda o: OrderedDict(o), id="OrderedDict"),
    ],
)
def test_getitem_override_feeds_dict_conversion_like_transformers(
    case: Callable[[Any], Any], tf: SimpleNamespace
) -> None:
    """`OrderedDict(out)` reads keys() then `out[key]`: a __getitem__ override shows in the copy."""
    assert_like_transformers(lambda ns: case(ns.Overrides(1, 2)), tf)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(dict, id="dict"),
        pytest.param(lambda o: {**o}, id="unpacking"),
    ],
)
def test_dict_conversion_reads_the_stored_values_past_a_getitem_override(case: Callable[[Any], Any]) -> None:
    """`dict(out)` and `{**out}` copy the dict part directly, past a __getitem__ override (transformers'
    OrderedDict base goes through `out[key]`)."""
    # docs/compatibility.md 5 (both implementations): the dict base is copied without __getitem__
    out = FO.Overrides(1, 2)
    assert out["a"] == "A"
    result = case(out)
    assert type(result) is dict
    assert list(result.items()) == [("a", 1), ("b", 2)]


def test_to_tuple_override_feeds_int_index_and_slices() -> None:
    """A Python to_tuple override is what `out[0]` and slices index into."""

    @dataclass
    class K(ModelOutput):
        a: Any = None
        b: Any = None

        def to_tuple(self) -> tuple[Any, ...]:
            return ("custom", *dict.values(self))

    out = K(1, 2)
    assert (out.to_tuple(), out[0], out[1:], out[-1], out["a"]) == (("custom", 1, 2), "custom", (1, 2), 2, 1)
    assert_raises_exactly(lambda: out[3], IndexError, "tuple index out of range")


def test_setitem_and_delitem_overrides_are_called() -> None:
    """__setitem__ overrides see every key stored by construction and item set; __delitem__ overrides
    replace the blocked one."""
    calls: list[Any] = []

    @dataclass
    class K(ModelOutput):
        a: Any = None
        b: Any = None

        def __setitem__(self, key: Any, value: Any) -> None:
            calls.append((key, value))
            super().__setitem__(key, value)

        def __delitem__(self, key: Any) -> None:
            calls.append(("del", key))

    out = K(1, 2)
    out["z"] = 3
    del out["a"]
    assert calls == [("a", 1), ("b", 2), ("z", 3), ("del", "a")]
    assert (keys(out), vars(out)) == (["a", "b", "z"], {"a": 1, "b": 2, "z": 3})
    calls.clear()
    assert keys(K({"a": 1, "q": 2})) == ["a", "q"]
    assert calls == [("a", 1), ("q", 2)]


def _fresh_class() -> type:
    @dataclass
    class Fresh(ModelOutput):
        a: Any = None
        b: Any = None

    return Fresh


def test_replacing_init_after_class_creation() -> None:
    """Assigning Cls.__init__ later: new instances use the new one; restoring it restores the behaviour."""
    cls = _fresh_class()
    before = cls(1)
    original = cls.__init__

    def wrapped(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.b = 99

    cls.__init__ = wrapped
    out = cls(1)
    assert (keys(out), values(out)) == (["a", "b"], [1, 99])
    cls.__init__ = original
    assert (keys(cls(1)), cls(1).b) == (["a"], None)
    assert (keys(before), before.b) == (["a"], None)


def test_replacing_init_with_one_that_skips_post_init() -> None:
    """A replacement __init__ that only assigns attributes: 5.x attribute set adds the non-None fields as keys."""
    cls = _fresh_class()
    cls(1)

    def bare(self: Any, a: Any = None, b: Any = None) -> None:
        self.a = a
        self.b = b

    cls.__init__ = bare
    assert keys(cls(1)) == ["a"]
    assert keys(cls(1, 2)) == ["a", "b"]
    assert keys(cls({"a": 1})) == ["a"]  # no __post_init__: no first-field expansion
    assert_raises_exactly(
        lambda: cls(1, 2, 3), TypeError, "test_replacing_init_with_one_that_skips_post_init.<locals>.bare() takes from 1 to 3 positional arguments but 4 were given"
    )


def test_deleting_init_falls_back_to_the_base_init() -> None:
    """`del Cls.__init__`: the base __init__ parses the arguments like an OrderedDict."""
    cls = _fresh_class()
    cls(1)
    del cls.__init__
    assert_raises_exactly(lambda: cls(1), TypeError, "'int' object is not iterable")
    out = cls({"a": 1, "zz": 2})
    assert (keys(out), out.zz) == (["a", "zz"], 2)


def test_class_attribute_set_after_instances_exist() -> None:
    """`Cls.b = 7` once instances exist: their own b stays None, the class reads 7 (the slot descriptor
    under the C++ core), new instances get None."""
    cls = _fresh_class()
    old = cls(1)
    cls.b = 7
    assert old.b is None
    assert vars(old) == {"a": 1, "b": None}
    assert_class_reads_field(cls, "b", 7)
    new = cls(1)
    assert new.b is None
    assert_class_reads_field(cls, "b", 7)
    new.b = 3
    assert (new.b, old.b, keys(new)) == (3, None, ["a", "b"])
    cls.zz = "class"
    assert (old.zz, new.zz, keys(old)) == ("class", "class", ["a"])


def test_methods_assigned_to_the_class_after_instances_exist() -> None:
    """__getitem__, __setattr__, to_tuple and __post_init__ assigned later take effect at once, and
    deleting them restores the inherited behaviour."""
    cls = _fresh_class()
    out = cls(1, 2)
    assert out[0] == 1

    cls.__getitem__ = lambda self, key: ("patched", key)
    assert (out[0], out["a"]) == (("patched", 0), ("patched", "a"))
    del cls.__getitem__
    assert (out[0], out["a"]) == (1, 1)

    seen: list[str] = []

    def logging_setattr(self: Any, name: str, value: Any) -> None:
        seen.append(name)
        ModelOutput.__setattr__(self, name, value)

    cls.__setattr__ = logging_setattr
    out.b = 3
    assert (seen, out.b, values(out)) == (["b"], 3, [1, 3])
    del cls.__setattr__
    out.b = 4
    assert (seen, values(out)) == (["b"], [1, 4])

    cls.to_tuple = lambda self: ("t",)
    assert (out[0], out[:]) == ("t", ("t",))
    del cls.to_tuple
    assert out[:] == (1, 4)

    def post_init(self: Any) -> None:
        ModelOutput.__post_init__(self)
        self.marker = True

    cls.__post_init__ = post_init
    assert cls(1).marker is True
    del cls.__post_init__
    assert not hasattr(cls(1), "marker")


def test_dict_of_an_instance_writes_through() -> None:
    """Writes to `vars(out)` (`out.__dict__`) change the attributes, as for any Python object."""
    out = Opt(1)
    out.__dict__["b"] = 5
    assert out.b == 5
    vars(out).update(c=6, zz=7)
    assert (out.c, out.zz) == (6, 7)
    assert keys(out) == ["a"]  # writing the attribute store never touches the keys


def test_dict_of_an_instance_sees_later_writes() -> None:
    """`d = vars(out)` stays the attribute store: attribute writes made afterwards show in `d` (the C++
    core's `d` is a snapshot that does not; writes through it still reach the output)."""
    out = Opt(1)
    attributes = vars(out)
    out.b = 5
    out.zz = 6
    out["yy"] = 7
    if IMPLEMENTATION == "cpp":
        # docs/compatibility.md 8 (C++ only): vars(out) is a snapshot built on each access
        assert attributes == {"a": 1, "b": None, "c": None}
    else:
        assert attributes == {"a": 1, "b": 5, "c": None, "zz": 6, "yy": 7}
    assert vars(out) == {"a": 1, "b": 5, "c": None, "zz": 6, "yy": 7}
    attributes["c"] = 8  # writes through the earlier dict still reach the output
    assert out.c == 8


def test_replacing_the_dict_of_an_instance() -> None:
    """`out.__dict__ = {...}` replaces every attribute; a non-dict fails; fields not in it read the class default."""
    out = Opt(1, 2)
    out.__dict__ = {"a": 7, "zz": 8}
    assert (out.a, out.b, out.zz, keys(out), values(out)) == (7, None, 8, ["a", "b"], [1, 2])
    assert_raises_exactly(
        lambda: setattr(out, "__dict__", 5), TypeError, "__dict__ must be set to a dictionary, not a 'int'"
    )
    if IMPLEMENTATION == "python":
        # docs/compatibility.md 7 (Python twin only): `del out.__dict__` succeeds, as for a dict subclass
        del out.__dict__
        assert (out.a, out.b, vars(out), keys(out), values(out)) == (None, None, {}, ["a", "b"], [1, 2])
        assert_raises_exactly(lambda: out.zz, AttributeError, "'Opt' object has no attribute 'zz'")
        return
    assert_raises_exactly(lambda: delattr(out, "__dict__"), TypeError, "cannot delete __dict__")
    assert out.a == 7


# ===================================================================================================
# 3. Values and keys whose dunder methods raise
# ===================================================================================================

# Operations that must never call a value's __eq__, __hash__, __iter__, __len__, __bool__, __repr__ or
# __str__: each gets an output holding the misbehaving value `v` as field b (and must not raise).
UNTOUCHED_VALUE_OPERATIONS: dict[str, Callable[[Any, Any], Any]] = {
    "construct-positional": lambda v, o: Opt(1, v),
    "construct-keywords": lambda v, o: Opt(a=1, b=v),
    "construct-first-field-with-another-field": lambda v, o: Opt(v, 1),
    "construct-first-field-dict": lambda v, o: Opt({"a": 1, "b": v}),
    "construct-first-field-pairs": lambda v, o: Opt([("b", v), ("zz", v)]),
    "construct-base-class": lambda v, o: ModelOutput(a=v),
    "construct-frozen": lambda v, o: Frozen(1, v),
    "construct-wide": lambda v, o: Wide(*([v] * 40)),
    "attribute-read": lambda v, o: o.b,
    "attribute-write": lambda v, o: setattr(o, "c", v),
    "item-read": lambda v, o: o["b"],
    "item-write": lambda v, o: o.__setitem__("zz", v),
    "int-index": lambda v, o: o[1],
    "slice": lambda v, o: o[:],
    "to_tuple": lambda v, o: o.to_tuple(),
    "keys-values-items": lambda v, o: (list(o.keys()), list(o.values()), list(o.items())),
    "contains-key": lambda v, o: "b" in o,
    "get": lambda v, o: o.get("b"),
    "len": lambda v, o: len(o),
    "bool": lambda v, o: bool(o),
    "equal-to-itself": lambda v, o: o == o,  # noqa: PLR0124 - identity decides each field
    "equal-to-a-copy-sharing-the-value": lambda v, o: o == copy.copy(o),
    "copy": lambda v, o: copy.copy(o),
    "deepcopy": lambda v, o: copy.deepcopy(o),
    "pickle": lambda v, o: pickle.loads(pickle.dumps(o)),
    "asdict": lambda v, o: dataclasses.asdict(o),
    "astuple": lambda v, o: dataclasses.astuple(o),
    "replace": lambda v, o: dataclasses.replace(o, c=v),
    "vars": lambda v, o: vars(o),
    "dict": lambda v, o: dict(o),
    "popitem": lambda v, o: o.popitem(),
    "or": lambda v, o: o | {"zz": v},
    "get_referents": lambda v, o: gc.get_referents(o),
}


@pytest.mark.parametrize(
    "operation", list(UNTOUCHED_VALUE_OPERATIONS.values()), ids=list(UNTOUCHED_VALUE_OPERATIONS)
)
def test_value_with_raising_dunders_is_never_touched(operation: Callable[[Any, Any], Any]) -> None:
    """Storing, reading, copying and pickling a value never calls its __eq__/__hash__/__iter__/__len__/
    __bool__/__repr__/__str__ (the first-field rule only iterates a lone first value)."""
    value = Evil()
    out = Opt(1, value)
    operation(value, out)
    assert out.b is value


@pytest.mark.parametrize(
    ("call", "exc_type", "message"),
    [
        pytest.param(lambda v: repr(Opt(1, v)), RuntimeError, "repr boom", id="repr-of-dataclass-output"),
        pytest.param(lambda v: str(Opt(1, v)), RuntimeError, "repr boom", id="str-of-dataclass-output"),
        pytest.param(lambda v: repr(ModelOutput(a=v)), RuntimeError, "repr boom", id="repr-of-base-class-output"),
        pytest.param(lambda v: Opt(1, v) == Opt(1, Evil()), RuntimeError, "eq boom", id="equality"),
        pytest.param(lambda v: Opt(1, v) != Opt(1, Evil()), RuntimeError, "eq boom", id="inequality"),
        pytest.param(lambda v: Opt(1, v) == {"a": 1, "b": Evil()}, RuntimeError, "eq boom", id="equality-with-dict"),
        pytest.param(lambda v: v in Opt(1, v).values(), RuntimeError, "eq boom", id="value-membership"),
        pytest.param(lambda v: hash(Frozen(1, v)), RuntimeError, "hash boom", id="hash-of-frozen-output"),
        pytest.param(lambda v: Opt(v), RuntimeError, "iter boom", id="lone-first-field"),
        pytest.param(lambda v: v in Opt(1), RuntimeError, "hash boom", id="value-as-key-lookup"),
    ],
)
def test_value_dunder_errors_propagate(call: Callable[[Any], Any], exc_type: type, message: str) -> None:
    """Where an operation must use the value's dunder, its exception reaches the caller unchanged."""
    assert_raises_exactly(lambda: call(Evil()), exc_type, message)


def test_lone_first_field_iterable_is_iterated_without_other_dunders() -> None:
    """Spec §3.3: only iter() is used on a lone first value (an empty one leaves no keys)."""
    value = Evil("eq", "hash", "len", "bool", "repr", "str")
    out = Opt(value)
    assert (keys(out), out.a) == ([], None)


def test_lone_first_field_raising_type_error_from_iter_counts_as_not_iterable() -> None:
    """Spec §3.3: a TypeError from iter() means "not iterable": the value is kept as it is."""

    class IterTypeError:
        def __iter__(self) -> Iterator[Any]:
            raise TypeError("custom")

    value = IterTypeError()
    out = Opt(value)
    assert (keys(out), out.a) == (["a"], value)


def _raising_generator() -> Iterator[Any]:
    yield ("b", 1)
    raise RuntimeError("gen boom")


class _NextRaises:
    def __iter__(self) -> Any:
        return self

    def __next__(self) -> Any:
        raise RuntimeError("next boom")


FIRST_FIELD_LIKE_TRANSFORMERS = {
    "generator-raising-after-a-pair": lambda ns: ns.Opt(_raising_generator()),
    "iterator-whose-next-raises": lambda ns: ns.Opt(_NextRaises()),
    "pair-whose-len-raises": lambda ns: ns.Opt([LenRaisesList(["b", 1])]),
    "second-pair-whose-len-raises": lambda ns: ns.Opt([("b", 1), LenRaisesList(["c", 1])]),
    "pair-whose-getitem-raises": lambda ns: ns.Opt([GetitemRaisesTuple(("b", 1))]),
    "pair-whose-iter-raises": lambda ns: ns.Opt([IterRaisesTuple(("b", 1))]),
    "pair-whose-len-lies-long": lambda ns: ns.Opt([LenSaysTwoTuple(("b", 1, 3))]),
    "pair-whose-len-lies-short": lambda ns: ns.Opt([LenSaysTwoTuple(("b",))]),
    "non-pair-whose-str-raises": lambda ns: ns.Opt([("b", 1), Evil("str", "repr")]),
    "pair-key-str-subclass": lambda ns: ns.Opt([(Str("b"), 1)]),
    "pair-key-not-an-identifier": lambda ns: ns.Opt([("not an identifier", 1)]),
    "pair-key-empty": lambda ns: ns.Opt([("", 1)]),
    "pair-key-__class__": lambda ns: ns.Opt([("__class__", 1)]),
    "pair-key-shadowing-a-method": lambda ns: ns.Opt([("to_tuple", 1)]),
    "pair-key-hash-raises": lambda ns: ns.Opt([(HashRaisesStr("b"), 1)]),
    "dict-subclass-whose-items-raise": lambda ns: ns.Opt(_ItemsRaiseDict(b=1)),
}


class _ItemsRaiseDict(dict):  # type: ignore[type-arg]
    def items(self) -> Any:
        raise RuntimeError("items boom")


@pytest.mark.transformers
@pytest.mark.parametrize("case", list(FIRST_FIELD_LIKE_TRANSFORMERS.values()), ids=list(FIRST_FIELD_LIKE_TRANSFORMERS))
def test_misbehaving_first_field_iterable_like_transformers(
    case: Callable[[SimpleNamespace], Any], tf: SimpleNamespace
) -> None:
    """Iterables and pairs that raise or lie in the first-field expansion: same result or error as transformers."""
    assert_like_transformers(lambda ns: (lambda out: (out, vars(out)))(case(ns)), tf)


@pytest.mark.parametrize(
    ("key", "expected_keys", "a_attribute"),
    [
        pytest.param(Str("a"), ["a", "b"], 5, id="str-subclass-same-key"),
        pytest.param(Hash42Str("a"), ["a", "b", "a"], 1, id="str-subclass-other-hash-is-another-key"),
        pytest.param(EqualsAllStr("zz"), ["a", "b", "zz"], 1, id="str-subclass-equal-to-everything-new-key"),
    ],
)
def test_item_set_with_str_subclass_key(key: str, expected_keys: list[str], a_attribute: Any) -> None:
    """Item set with str subclass keys follows dict hashing; the attribute is set under the same name."""
    out = Opt(1, 2)
    out[key] = 5
    assert keys(out) == expected_keys
    assert out.a == a_attribute
    assert out[key] == 5


def test_item_set_with_key_whose_eq_raises_on_collision() -> None:
    """A str subclass key whose __eq__ raises: the error propagates when the dict compares; nothing changes."""
    out = Opt(1, 2)
    assert_raises_exactly(lambda: out.__setitem__(EqRaisesStr("a"), 5), RuntimeError, "str eq boom")
    assert (keys(out), values(out), vars(out)) == (["a", "b"], [1, 2], {"a": 1, "b": 2, "c": None})
    out[EqRaisesStr("zz")] = 3  # no collision, no comparison
    assert [type(key) for key in keys(out)] == [str, str, EqRaisesStr]


def test_attribute_set_with_a_differently_hashed_str_subclass_name_adds_no_key() -> None:
    """`setattr(out, Hash42Str('b'), 5)`: the field lookup (a dict lookup, as in 5.x) does not find 'b',
    so no key is added; the attribute store gets a separate entry."""
    out = Opt(1)
    setattr(out, Hash42Str("b"), 5)
    assert keys(out) == ["a"]
    assert out.to_tuple() == (1,)


# ===================================================================================================
# 4. Reference counts and the garbage collector
# ===================================================================================================

def _build(p: Any) -> Any:
    return Opt(a=p, b=p)


# Every operation takes the payload `p`; each is run 1,000 times and p's reference count must come back.
REFCOUNT_OPERATIONS: dict[str, Callable[[Any], Any]] = {
    # construction, every form
    "construct-keywords": lambda p: MOT(a=p, b=p, c=p),
    "construct-positional": lambda p: MOT(p, p, p),
    "construct-positional-and-keyword": lambda p: MOT(p, c=p),
    "construct-one-dict": lambda p: Opt({"a": p, "zz": p}),
    "construct-pairs": lambda p: Opt([("b", p), ("zz", p)]),
    "construct-generator": lambda p: Opt((name, p) for name in ("b", "zz")),
    "construct-first-field-kept-list": lambda p: Opt([p, p]),
    "construct-first-field-not-iterable": lambda p: Opt(p),
    "construct-first-field-with-other-field": lambda p: Opt(p, p),
    "construct-another-output": lambda p: Opt(_build(p)),
    "construct-base-class-keywords": lambda p: ModelOutput(a=p, b=p),
    "construct-base-class-dict": lambda p: ModelOutput({"a": p}, b=p),
    "construct-plain-child": lambda p: PlainChild(p, p),
    "construct-frozen": lambda p: Frozen(p, p),
    "construct-slots": lambda p: Slotted(p, p),
    "construct-custom-post-init": lambda p: WithPostInit(p, p),
    "construct-custom-setattr": lambda p: WithSetattr(p, p),
    "construct-wide-positional": lambda p: Wide(*([p] * 40)),
    "construct-wide-keywords": lambda p: Wide(**{f"f{i}": p for i in range(40)}),
    "construct-new-then-init": lambda p: MOT.__new__(MOT).__init__(p, p),
    "construct-fromkeys": lambda p: Opt.fromkeys(["a", "zz"], p),
    # reading and writing
    "attribute-read": lambda p: _build(p).a,
    "attribute-write-field": lambda p: setattr(_build(None), "c", p),
    "attribute-write-None-over-value": lambda p: setattr(_build(p), "a", None),
    "attribute-write-extra": lambda p: setattr(_build(p), "zz", p),
    "attribute-write-base-class": lambda p: setattr(ModelOutput(a=p), "a", p),
    "attribute-delete": lambda p: delattr(_build(p), "a"),
    "item-read": lambda p: _build(p)["a"],
    "item-write-existing": lambda p: _build(p).__setitem__("a", p),
    "item-write-new": lambda p: _build(p).__setitem__("zz", p),
    "item-write-frozen": lambda p: Frozen(p).__setitem__("b", p),
    "int-index": lambda p: (lambda o: (o[0], o[-1]))(_build(p)),
    "slices": lambda p: (lambda o: (o[:], o[::-1], o[1:]))(_build(p)),
    "to_tuple": lambda p: _build(p).to_tuple(),
    "keys-values-items": lambda p: (lambda o: (list(o.keys()), list(o.values()), list(o.items())))(_build(p)),
    "iteration": lambda p: list(_build(p)),
    "reversed": lambda p: list(reversed(_build(p))),
    "contains": lambda p: ("a" in _build(p), p in _build(p)),
    "get": lambda p: (_build(p).get("a"), _build(p).get("zz", p)),
    "len-bool": lambda p: (len(_build(p)), bool(_build(p))),
    "repr-str": lambda p: (repr(_build(p)), str(_build(p)), repr(ModelOutput(a=p))),
    "equality": lambda p: (_build(p) == _build(p), _build(p) != _build(p), _build(p) == {"a": p, "b": p}),
    "dict-conversion": lambda p: (dict(_build(p)), {**_build(p)}, OrderedDict(_build(p))),
    "pickle": lambda p: pickle.loads(pickle.dumps(_build(p))),
    "pickle-drifted-stores": lambda p: pickle.loads(pickle.dumps((lambda o: (setattr(o, "zz", p), o)[1])(_build(p)))),
    "reduce-ex": lambda p: _build(p).__reduce_ex__(2),
    "copy": lambda p: copy.copy(_build(p)),
    "copy-drifted-stores": lambda p: copy.copy((lambda o: (o.__setitem__("zz", p), o)[1])(_build(p))),
    "deepcopy": lambda p: copy.deepcopy(_build(p)),
    "copy-method": lambda p: _build(p).copy(),
    "asdict-astuple": lambda p: (dataclasses.asdict(_build(p)), dataclasses.astuple(_build(p))),
    "replace": lambda p: dataclasses.replace(_build(p), c=p),
    "fields": lambda p: dataclasses.fields(_build(p)),
    "vars": lambda p: vars((lambda o: (setattr(o, "zz", p), o)[1])(_build(p))),
    "dict-assignment": lambda p: setattr(_build(None), "__dict__", {"a": p, "zz": p}),
    "or-operators": lambda p: (_build(p) | {"zz": p}, {"zz": p} | _build(p)),
    "in-place-or": lambda p: _build(p).__ior__({"zz": p}),
    "popitem-move_to_end-clear": lambda p: (lambda o: (o.move_to_end("a"), o.popitem(), o.clear()))(_build(p)),
    "dict-update-bypass": lambda p: dict.update(_build(p), zz=p),
    "get_referents": lambda p: gc.get_referents(_build(p)),
    # error paths
    "error-too-many-positional": lambda p: raising(TypeError, lambda: MOT(p, p, p, p)),
    "error-unknown-keyword": lambda p: raising(TypeError, lambda: MOT(p, zz=p)),
    "error-duplicate-argument": lambda p: raising(TypeError, lambda: MOT(p, a=p)),
    "error-missing-required": lambda p: raising(TypeError, lambda: MOT(b=p, c=p)),
    "error-non-str-keyword": lambda p: raising(TypeError, lambda: MOT(p, **{1: p})),
    "error-wide-too-many-positional": lambda p: raising(TypeError, lambda: Wide(*([p] * 41))),
    "error-non-pair-after-pair": lambda p: raising(ValueError, lambda: Opt([("b", p), p])),
    "error-first-field-iter-raises": lambda p: raising(RuntimeError, lambda: Opt(RaisingIterable(p))),
    "error-frozen-expansion": lambda p: raising(dataclasses.FrozenInstanceError, lambda: Frozen({"a": p})),
    "error-frozen-setattr": lambda p: raising(dataclasses.FrozenInstanceError, lambda: setattr(Frozen(p), "a", p)),
    "error-no-fields": lambda p: raising(ValueError, lambda: NoFields()),
    "error-two-required": lambda p: raising(ValueError, lambda: TwoRequired(p, p)),
    "error-factory-default": lambda p: raising(ValueError, lambda: FactoryDefault(p)),
    "error-undecorated": lambda p: raising(TypeError, lambda: NoDataclass(a=p)),
    "error-blocked-pop": lambda p: raising(Exception, lambda: _build(p).pop("a", p)),
    "error-blocked-update": lambda p: raising(Exception, lambda: _build(p).update({"a": p})),
    "error-blocked-setdefault": lambda p: raising(Exception, lambda: _build(p).setdefault("a", p)),
    "error-blocked-delitem": lambda p: raising(Exception, lambda: _build(p).__delitem__("a")),
    "error-item-set-non-str-key": lambda p: raising(TypeError, lambda: _build(p).__setitem__(p, p)),
    "error-item-set-unhashable-key": lambda p: raising(TypeError, lambda: _build(p).__setitem__([p], p)),
    "error-index-of-wrong-type": lambda p: raising(TypeError, lambda: _build(p)[p]),
    "error-index-raises": lambda p: raising(RuntimeError, lambda: _build(p)[RaisingIndex(p)]),
    "error-index-out-of-range": lambda p: raising(IndexError, lambda: _build(p)[5]),
    "error-missing-key": lambda p: raising(KeyError, lambda: _build(p)["zz"]),
    "error-missing-attribute": lambda p: raising(AttributeError, lambda: _build(p).zz),
    "error-setattr-non-str-name": lambda p: raising(TypeError, lambda: _build(p).__setattr__(1, p)),
    "error-to_tuple-arguments": lambda p: raising(TypeError, lambda: _build(p).to_tuple(p)),
    "error-replace-unknown-field": lambda p: raising(TypeError, lambda: dataclasses.replace(_build(p), zz=p)),
    "error-pickle-unpicklable-value": lambda p: raising(Exception, lambda: pickle.dumps(Opt(p, lambda: 0))),
    "error-dict-assignment-non-dict": lambda p: raising(TypeError, lambda: setattr(_build(p), "__dict__", [p])),
    "error-foreign-self": lambda p: raising((TypeError, AttributeError), lambda: ModelOutput.to_tuple(p)),
}


@pytest.mark.parametrize("operation", list(REFCOUNT_OPERATIONS.values()), ids=list(REFCOUNT_OPERATIONS))
def test_operation_keeps_payload_refcount_balanced(operation: Callable[[Any], Any]) -> None:
    """Run the operation 1,000 times on a payload: its reference count ends where it started."""
    payload = Payload()
    _assert_balanced(payload, lambda: operation(payload))


def _assert_balanced(watched: Any, operation: Callable[[], Any]) -> None:
    """Run ``operation`` 1,000 times: ``watched``'s reference count ends where it started."""
    with young_objects_only():
        operation()  # warm-up: first-use caches
        gc.collect(0)
        before = sys.getrefcount(watched)
        for _ in range(1000):
            operation()
        gc.collect(0)
        after = sys.getrefcount(watched)
    assert after - before == 0


# Operations on instances of `cls`: each instance holds a reference to its class.
CLASS_REFCOUNT_OPERATIONS: dict[str, Callable[[type], Any]] = {
    "construct": lambda cls: cls(1, 2),
    "construct-first-field-dict": lambda cls: cls({"a": 1, "zz": 2}),
    "construct-then-drop-many": lambda cls: [cls(i) for i in range(40)],
    "dict-new": lambda cls: dict.__new__(cls),
    "copy": lambda cls: copy.copy(cls(1)),
    "deepcopy": lambda cls: copy.deepcopy(cls(1)),
    "pickle": lambda cls: pickle.loads(pickle.dumps(cls(1))),
    "replace": lambda cls: dataclasses.replace(cls(1), b=2),
    "or": lambda cls: cls(1) | {"b": 2},
    "repr-vars-reduce": lambda cls: (repr(cls(1)), vars(cls(1)), cls(1).__reduce_ex__(2)),
    "cycle": lambda cls: (lambda o: o.__setitem__("zz", o))(cls(1)),
    "error-too-many-positional": lambda cls: raising(TypeError, lambda: cls(1, 2, 3, 4, 5)),
    "error-unknown-keyword": lambda cls: raising(TypeError, lambda: cls(zz=1)),
    "error-non-pair-after-pair": lambda cls: raising(ValueError, lambda: cls([("b", 1), 2])),
    "error-blocked-mutator": lambda cls: raising(Exception, lambda: cls(1).pop("a")),
}


@pytest.mark.parametrize("operation", list(CLASS_REFCOUNT_OPERATIONS.values()), ids=list(CLASS_REFCOUNT_OPERATIONS))
@pytest.mark.parametrize("cls", [Opt, PlainChild, WithPostInit], ids=lambda cls: cls.__name__)
def test_operation_keeps_class_refcount_balanced(cls: type, operation: Callable[[type], Any]) -> None:
    """Instances take and give back exactly one reference to their class, however they are made or fail."""
    _assert_balanced(cls, lambda: operation(cls))


# Operations that use the str `k` as a key or attribute name.
KEY_REFCOUNT_OPERATIONS: dict[str, Callable[[str], Any]] = {
    "item-set": lambda k: Opt(1).__setitem__(k, 1),
    "item-get": lambda k: (lambda o: (o.__setitem__(k, 1), o[k]))(Opt(1)),
    "item-get-missing": lambda k: raising(KeyError, lambda: Opt(1)[k]),
    "contains-get": lambda k: (k in Opt(1), Opt(1).get(k)),
    "attribute-set": lambda k: setattr(Opt(1), k, 1),
    "attribute-get-missing": lambda k: raising(AttributeError, lambda: getattr(Opt(1), k)),
    "first-field-dict": lambda k: Opt({k: 1}),
    "first-field-pairs": lambda k: Opt([(k, 1)]),
    "base-class-keyword": lambda k: ModelOutput(**{k: 1}),
    "unknown-keyword": lambda k: raising(TypeError, lambda: MOT(1, **{k: 1})),
    "replace-unknown-field": lambda k: raising(TypeError, lambda: dataclasses.replace(Opt(1), **{k: 1})),
    "pickle-and-copy": lambda k: (lambda o: (pickle.loads(pickle.dumps(o)), copy.copy(o)))(Opt({k: 1})),
    "vars": lambda k: vars(Opt({k: 1})),
}


@pytest.mark.parametrize("operation", list(KEY_REFCOUNT_OPERATIONS.values()), ids=list(KEY_REFCOUNT_OPERATIONS))
def test_operation_keeps_key_refcount_balanced(operation: Callable[[str], Any]) -> None:
    """A str used as key or attribute name is given back as often as it is taken."""
    key = "".join(("dyn", "amic_key"))  # a str of its own, not a shared constant
    _assert_balanced(key, lambda: operation(key))


TRACKED_OUTPUTS: dict[str, Callable[[], Any]] = {
    "ints-only": lambda: Opt(1, 2),
    "empty": lambda: Opt(),
    "required-None": lambda: MOT(None),
    "first-field-dict": lambda: Opt({"a": 1}),
    "base-class": lambda: ModelOutput(a=1),
    "base-class-empty": lambda: ModelOutput(),
    "plain-child": lambda: PlainChild(1),
    "frozen": lambda: Frozen(1),
    "slots": lambda: Slotted(1),
    "wide": lambda: Wide(*range(40)),
    "new-without-init": lambda: MOT.__new__(MOT),
    "dict-new": lambda: dict.__new__(Opt),
    "pickle": lambda: pickle.loads(pickle.dumps(Opt(1))),
    "copy": lambda: copy.copy(Opt(1)),
    "deepcopy": lambda: copy.deepcopy(Opt(1)),
    "replace": lambda: dataclasses.replace(Opt(1)),
    "or": lambda: Opt(1) | {"b": 2},
    "fromkeys": lambda: Opt.fromkeys(["a"], 1),
}


@pytest.mark.parametrize("make", list(TRACKED_OUTPUTS.values()), ids=list(TRACKED_OUTPUTS))
def test_output_is_gc_tracked(make: Callable[[], Any]) -> None:
    """Every output, however it is made and even holding only atoms, is tracked by the GC."""
    with young_objects_only():
        out = make()
        assert gc.is_tracked(out)
        gc.collect(0)  # a collection untracks exact dicts holding only atoms; outputs must stay tracked
        assert gc.is_tracked(out)


class Holder:
    def __init__(self) -> None:
        self.ref: Any = None


def _cycle_field(out_cls: type = Opt) -> Any:
    out = out_cls(1)
    out.b = out
    return out


CYCLES: dict[str, Callable[[], Any]] = {
    "own-field-by-attribute": _cycle_field,
    "own-field-by-item": lambda: (lambda o: (o.__setitem__("b", o), o)[1])(Opt(1)),
    "own-extra-key": lambda: (lambda o: (o.__setitem__("zz", o), o)[1])(Opt(1)),
    "own-extra-attribute": lambda: (lambda o: (setattr(o, "zz", o), o)[1])(Opt(1)),
    "list-held-by-a-field": lambda: (lambda lst: (lambda o: (lst.append(o), o)[1])(Opt(1, lst)))([]),
    "list-as-lone-first-field": lambda: (lambda lst: (lambda o: (lst.append(o), o)[1])(Opt(lst)))([]),
    "object-held-by-a-field": lambda: (lambda h: (lambda o: (setattr(h, "ref", o), o)[1])(Opt(1, h)))(Holder()),
    "field-only-in-attribute-store": lambda: (lambda o: (o.popitem(), o)[1])(_cycle_field()),
    "key-only-in-mapping-store": lambda: (lambda o: (dict.__setitem__(o, "zz", o), o)[1])(Opt(1)),
    "field-None-while-key-keeps-value": lambda: (lambda o: (setattr(o, "b", None), o)[1])(_cycle_field()),
    "frozen-by-item": lambda: (lambda o: (o.__setitem__("b", o), o)[1])(Frozen(1)),
    "slots": lambda: _cycle_field(Slotted),
    "base-class": lambda: (lambda o: (o.__setitem__("b", o), o)[1])(ModelOutput(a=1)),
    "plain-child": lambda: _cycle_field(PlainChild),
    "wide-last-field": lambda: (lambda o: (setattr(o, "f39", o), o)[1])(Wide()),
    "two-outputs": lambda: (lambda x, y: (setattr(x, "b", y), setattr(y, "b", x), x)[2])(Opt(1), Opt(2)),
    "dict-assignment": lambda: (lambda o: (setattr(o, "__dict__", {"a": o, "zz": o}), o)[1])(Opt(1)),
}


@pytest.mark.parametrize("make", list(CYCLES.values()), ids=list(CYCLES))
def test_reference_cycle_through_an_output_is_collected(make: Callable[[], Any]) -> None:
    """A cycle through an output's fields, keys or extra attributes is freed by gc.collect()."""
    with young_objects_only():
        out = make()
        dead = weakref.ref(out)
        del out
        gc.collect(0)
        assert dead() is None


@pytest.mark.parametrize("cls", [Opt, Slotted, Wide, ModelOutput], ids=lambda cls: cls.__name__)
def test_collecting_a_self_cycle_releases_every_value_the_output_held(cls: type) -> None:
    """An output whose only referrer is one of its own fields is freed by the collector clearing it
    (tp_clear), and that releases everything it held: field slots, mapping-only keys, extra attributes."""
    in_field, key_only, extra = Payload(), Payload(), Payload()
    with young_objects_only():
        out = cls()
        name = dataclasses.fields(cls)[-1].name if cls is not ModelOutput else "a"
        out[name] = in_field
        dict.__setitem__(out, "zz", key_only)
        object.__setattr__(out, "extra_attribute", extra)
        out["self"] = out
        if cls is not ModelOutput:
            setattr(out, dataclasses.fields(cls)[0].name, out)
        watched = [weakref.ref(value) for value in (out, in_field, key_only, extra)]
        del out, in_field, key_only, extra
        gc.collect(0)
        assert [ref() for ref in watched] == [None] * 4


def _held_values(out: Any) -> list[Any]:
    """What `out` references directly, plus the contents of the dicts it references (its attribute store)."""
    held = []
    for referent in gc.get_referents(out):
        held.append(referent)
        if type(referent) is dict:
            held.extend(referent.values())
    return held


@pytest.mark.parametrize("cls", [Opt, PlainChild, Frozen, Slotted, WithPostInit, Wide], ids=lambda cls: cls.__name__)
def test_get_referents_sees_every_held_value(cls: type) -> None:
    """gc.get_referents reaches every value an output holds: field values (also those without a key),
    mapping-store values (also those without an attribute) and extra attributes."""
    in_both, field_only, key_only, extra, stale_key = (Payload() for _ in range(5))
    second = dataclasses.fields(cls)[1].name
    out = cls(in_both, stale_key)
    object.__setattr__(out, second, field_only)  # the key keeps stale_key
    dict.__setitem__(out, "zz", key_only)
    object.__setattr__(out, "extra_attribute", extra)
    held = _held_values(out)
    for value in (in_both, field_only, key_only, extra, stale_key):
        assert any(item is value for item in held)


def test_base_class_get_referents_sees_every_held_value() -> None:
    """The same for an instance of the base class (keys and attributes, which item set keeps together)."""
    key_and_attribute, key_only, attribute_only = Payload(), Payload(), Payload()
    out = ModelOutput(a=key_and_attribute)
    dict.__setitem__(out, "k", key_only)
    out.extra = attribute_only
    held = _held_values(out)
    for value in (key_and_attribute, key_only, attribute_only):
        assert any(item is value for item in held)


@pytest.mark.parametrize("cls", [Opt, PlainChild, Slotted, Wide, ModelOutput], ids=lambda cls: cls.__name__)
def test_reused_memory_never_shows_stale_data(cls: type) -> None:
    """Outputs freed and made again (allocators may recycle the memory) start empty every time."""
    payload = Payload()
    for _ in range(100):
        old = cls()
        old["zz"] = payload
        old.extra = payload
        if cls is not ModelOutput:
            setattr(old, dataclasses.fields(cls)[0].name, payload)
        del old
        new = cls()
        assert keys(new) == []
        assert not hasattr(new, "extra")
        assert not hasattr(new, "zz")
        if cls is not ModelOutput:
            assert all(value is None for value in field_values(new).values())
        bare = dict.__new__(cls)
        assert keys(bare) == []
        assert not hasattr(bare, "extra")
        if cls is not ModelOutput and cls is not Wide:
            assert_raises_exactly(lambda bare=bare: bare.zz, AttributeError, f"'{cls.__name__}' object has no attribute 'zz'")
    assert sys.getrefcount(payload) == 2


def test_resurrecting_finalizer_keeps_the_output_intact() -> None:
    """A subclass __del__ that resurrects the instance: the object stays whole and usable."""
    kept: list[Any] = []

    class Resurrecting(Opt):
        def __del__(self) -> None:
            kept.append(self)

    out = Resurrecting(1, [2])
    out.extra = "x"
    out["zz"] = 3
    del out  # no cycle: __del__ runs right here
    (again,) = kept
    assert (keys(again), values(again), again.a, again.b, again.extra) == (["a", "b", "zz"], [1, [2], 3], 1, [2], "x")
    kept.clear()
    del again  # finalizers run once: this time it is freed
    fresh = Resurrecting()
    assert (keys(fresh), vars(fresh)) == ([], {"a": None, "b": None, "c": None})
    kept.clear()


def test_weakref_callback_runs_when_an_output_dies() -> None:
    """Weak references to outputs work; their callbacks run once the output is freed."""
    called: list[bool] = []
    out = Opt(1)
    ref = weakref.ref(out, lambda _ref: called.append(True))
    del out
    assert ref() is None
    assert called == [True]


class _FinalizerBomb:
    """Garbage in a cycle whose finalizer runs `action` when the collector frees it."""

    def __init__(self, action: Callable[[], None]) -> None:
        self.action = action
        self.cycle = self

    def __del__(self) -> None:
        self.action()


@contextlib.contextmanager
def finalizer_at_next_allocation(action: Callable[[], None]) -> Iterator[None]:
    """The next GC-tracked allocation runs the collector, which finds a `_FinalizerBomb` running `action`."""
    threshold = gc.get_threshold()
    gc.collect()
    _FinalizerBomb(action)
    gc.set_threshold(gc.get_count()[0])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


@pytest.mark.parametrize("read", [lambda o: o.to_tuple(), lambda o: o[1:]], ids=["to_tuple", "slice"])
def test_finalizer_adding_keys_while_to_tuple_allocates(read: Callable[[Any], Any]) -> None:
    """to_tuple() and slices allocate their tuple before copying the values; a finalizer that the
    collector runs in that allocation and that adds keys is seen: the result has every key's value."""
    out = Opt(a=1)
    for i in range(30):  # more than the interpreter keeps tuples of that size for reuse
        out[f"k{i}"] = i
    with finalizer_at_next_allocation(lambda: [out.__setitem__(f"new{i}", i) for i in range(100)]):
        result = read(out)
    assert len(out) == 131  # the finalizer ran during the read
    assert read(out) == result


def test_finalizer_creating_an_instance_while_the_constructor_allocates() -> None:
    """An instance made through the generic path (``Cls.__new__``) by a finalizer that runs while
    the native constructor allocates still reads its fields' class defaults."""
    made: list[Any] = []
    kept = Opt(a=0)  # the class's table is built and its instance stays alive
    with finalizer_at_next_allocation(lambda: made.append(Opt.__new__(Opt))):
        out = Opt(a=1)
    (victim,) = made
    assert (victim.a, victim.b, out.a, kept.a) == (None, None, 1, 0)


def test_deeply_nested_outputs_are_freed_without_overflowing_the_stack() -> None:
    """A chain of 100,000 outputs, each held by the next one's field, is freed without a crash."""
    result = run_python(
        """
        from dataclasses import dataclass
        from typing import Any
        from fastoutput import ModelOutput

        @dataclass
        class Node(ModelOutput):
            a: Any = None
            b: Any = None

        for build in (lambda prev: Node(prev, 1), lambda prev: ModelOutput(a=prev)):
            head = None
            for _ in range(100_000):
                head = build(head)
            del head
        print("freed")
        """
    )
    assert (result.returncode, result.stdout.strip()) == (0, "freed"), result.stderr[-2000:]


# ===================================================================================================
# 5. Class objects
# ===================================================================================================


def _exercise_class(kind: str) -> tuple[weakref.ref[type], list[type]]:
    """Create a class of the given kind, use it, and hand back a weak reference to it."""
    if kind == "wide":
        cls: type = make_dataclass("Made", [(f"f{i}", Any, field(default=None)) for i in range(40)], bases=(ModelOutput,))
    elif kind == "slots":

        @dataclass(slots=True)
        class Made(ModelOutput):
            a: Any = None
            b: Any = None

        cls = Made
    elif kind == "frozen":

        @dataclass(frozen=True)
        class Made(ModelOutput):  # type: ignore[no-redef]
            a: Any = None
            b: Any = None

        cls = Made
    else:

        @dataclass
        class Made(ModelOutput):  # type: ignore[no-redef]
            a: Any = None
            b: Any = None

            if kind == "overrides":

                def __getitem__(self, key: Any) -> Any:
                    return super().__getitem__(key)

                def __post_init__(self) -> None:
                    super().__post_init__()

        cls = Made
    made = [cls]
    child = type("Child", (cls,), {})  # an undecorated child
    made.append(child)
    for klass in (cls, child):
        out = klass(1, 2)
        out[0], out[:], out.to_tuple(), repr(out), vars(out), copy.copy(out), copy.deepcopy(out)
        if kind != "frozen":
            out.b = out  # a cycle through the class's instance
        out["zz"] = 3
        if kind != "frozen":
            klass({"a": 1, "q": 2})
        dict.__new__(klass)
        klass.prototype = klass(1, 2)  # a cycle through the class: it holds an instance, which holds it
        if kind == "changed":
            klass.extra_attribute = 1
            klass.__getitem__ = lambda self, key: key
            klass(1)[0]
        del out
    return weakref.ref(cls), made


@pytest.mark.parametrize("kind", ["dataclass", "wide", "slots", "frozen", "overrides", "changed"])
def test_dropped_subclasses_are_freed(kind: str) -> None:
    """User subclasses (and their undecorated children) that are created, used and dropped are freed:
    neither the metaclass nor the per-class tables keep them alive. torch's pytree registry holds every
    registered class, as it does transformers' classes, so that entry is removed first."""
    with young_objects_only():
        dead, made = _exercise_class(kind)
        while made:
            forget_class(made.pop())
        gc.collect(0)
        assert dead() is None


def test_creating_and_dropping_many_subclasses_does_not_grow_memory() -> None:
    """In a process without torch, 500 classes created, used and dropped leave no objects behind and
    all die (the pending pytree registrations must not pile up either)."""
    result = run_python(
        """
        import gc, sys, weakref
        from dataclasses import dataclass
        from typing import Any
        from fastoutput import ModelOutput

        def make():
            @dataclass
            class Made(ModelOutput):
                a: Any = None
                b: Any = None
            out = Made(1, 2)
            out[0], repr(out), vars(out), Made({"a": 1})
            return weakref.ref(Made)

        def run(count):
            refs = [make() for _ in range(count)]
            gc.collect()
            return sum(ref() is not None for ref in refs)

        run(50)
        gc.collect()
        before = len(gc.get_objects())
        alive = run(500)
        gc.collect()
        print(alive, len(gc.get_objects()) - before, "torch" in sys.modules)
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    alive, growth, torch_loaded = result.stdout.split()
    assert (alive, torch_loaded) == ("0", "False")
    assert int(growth) < 50


# ===================================================================================================
# Class tables rebuilt while a native path walks them (pathological, but must not crash)
# ===================================================================================================


def test_keyword_whose_eq_changes_the_class_fields_gives_a_python_error() -> None:
    """A keyword (str subclass) whose __eq__ redefines the class's fields mid-call: the call fails with
    the binding error CPython gives, never a SystemError or a crash."""
    result = run_python(
        """
        from dataclasses import dataclass
        from fastoutput import ModelOutput

        @dataclass
        class K(ModelOutput):
            a: int = None
            b: int = None
            c: int = None

        K()
        done = []

        class Evil(str):
            __hash__ = str.__hash__

            def __eq__(self, other):
                if not done:
                    done.append(True)
                    K.__dataclass_fields__ = {"a": K.__dataclass_fields__["a"]}
                    K()
                return False

        try:
            K(**{Evil("zz"): 1})
        except Exception as error:
            print(type(error).__name__, error)
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "TypeError K.__init__() got an unexpected keyword argument 'zz'"


def test_dict_assignment_whose_key_eq_changes_the_class_fields_does_not_crash() -> None:
    """`out.__dict__ = {k: v}` where k's __eq__ adds a field to the class mid-assignment: no crash."""
    result = run_python(
        """
        import dataclasses
        from dataclasses import dataclass
        from fastoutput import ModelOutput

        @dataclass
        class K(ModelOutput):
            a: int = None
            b: int = None

        out = K(1)
        done = []

        class EvilKey(str):
            __hash__ = str.__hash__

            def __eq__(self, other):
                if not done:
                    done.append(True)
                    late = dataclasses.field(default=None)
                    late.name = "late"
                    late._field_type = dataclasses._FIELD
                    K.__dataclass_fields__ = {**K.__dataclass_fields__, "late": late}
                    vars(K.__new__(K))  # rebuilds the class table
                return str.__eq__(self, other)

        try:
            out.__dict__ = {EvilKey("a"): 5}
        except Exception as error:
            print(type(error).__name__, error)
        print("survived", out.a)
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "survived 5"


def test_table_built_again_while_it_is_being_built_stays_whole() -> None:
    """Building a class's field table runs Python code (here the ``__get__`` of a class attribute
    that the build reads); an instance allocated from there builds the same table again, as another
    thread's first use of the class could. The class ends with one consistent table: construction
    fills each field once, with its own value."""
    allocated: list[Any] = []

    class Hook:
        def __get__(self, instance: Any, owner: type) -> Any:
            if instance is None and not allocated:
                allocated.append(None)  # once: the nested build reads this attribute too
                allocated[0] = dict.__new__(owner)
            return ModelOutput.__dict__["to_tuple"]

    @dataclass
    class Built(ModelOutput):
        a: Any = None
        b: Any = None
        to_tuple = Hook()  # type: ignore[assignment]

    out = Built(1, 2)
    assert (out.a, out.b, keys(out), field_values(out)) == (1, 2, ["a", "b"], {"a": 1, "b": 2})
    if IS_CPP:  # the twin has no table: nothing reads the attribute during construction
        assert (allocated[0].a, allocated[0].b) == (None, None)
