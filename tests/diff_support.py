"""Machinery of the differential tests (``tests/test_differential.py``).

The same operation runs on a transformers output and on a fastoutput output, and everything
observable is compared after each step. This module holds what that needs:

* ``load_models`` declares the test classes twice (``tests/diff_models.py`` explains how);
* value specifications: inert tuples, turned into a fresh Python value for each side (``realize``), so
  that generators, iterators and mutable containers are never shared between the two sides;
* ``norm``, ``outcome`` and ``observe``, which turn results, exceptions and object states into
  comparable data (the module names of the two declarations and memory addresses are normalised);
* ``KNOWN_DIFFERENCES``: **the one place** where the behaviour that fastoutput deliberately does not
  share with the installed transformers is written down, next to the narrow code that applies each
  entry (``hf_setattr_as_specified``, ``settle_deleted_field``, ``flatten_with_path_as_specified``).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import importlib.util
import re
import sys
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import fastoutput
import numpy as np
import torch
from torch.utils import _pytree as pytree

from tests._helpers import IS_CPP, transformers_major

HF_MAJOR = transformers_major()

# --------------------------------------------------------------------------------------------------
# The two declarations of the test classes

_MODELS_FILE = Path(__file__).with_name("diff_models.py")
HF_MODULE = "tests.diff_models_hf"
FO_MODULE = "tests.diff_models_fo"


def _load(module_name: str, base: type) -> ModuleType:
    existing = sys.modules.get(module_name)
    if existing is not None:
        return existing
    spec = importlib.util.spec_from_file_location(module_name, _MODELS_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    module.ModelOutput = base  # type: ignore[attr-defined]
    sys.modules[module_name] = module  # dataclasses and pickle look classes up here
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def load_models() -> dict[str, ModuleType]:
    """``{"hf": classes on transformers' ModelOutput, "fo": the same on fastoutput's}``."""
    from transformers.utils import ModelOutput as HFModelOutput

    return {"hf": _load(HF_MODULE, HFModelOutput), "fo": _load(FO_MODULE, fastoutput.ModelOutput)}


MODELS = load_models()
HF_BASE: type = MODELS["hf"].Base
FO_BASE: type = MODELS["fo"].Base
OUTPUT_BASES = (HF_BASE, FO_BASE)

# --------------------------------------------------------------------------------------------------
# Values. A spec is a tuple ``(kind, payload)``; ``realize`` builds a fresh value from it per side.


class S(str):
    """A ``str`` subclass: still a string key, still the first item of a pair."""

    __slots__ = ()


class TPair(tuple):  # type: ignore[type-arg]
    """A ``tuple`` subclass (not a named tuple): still a pair for the first-field rule."""

    __slots__ = ()


class Boom:
    """Iterable whose ``__iter__`` raises something other than ``TypeError``."""

    def __iter__(self) -> Any:
        raise RuntimeError("boom")

    def __repr__(self) -> str:
        return "Boom()"


class Opaque:
    """Not iterable, compared by identity."""

    def __repr__(self) -> str:
        return "Opaque()"


def realize(spec: tuple[Any, ...], side: str) -> Any:
    """The value ``spec`` describes, built afresh for ``side`` ("hf" or "fo")."""
    kind, payload = spec
    if kind == "lit":
        return payload
    if kind in ("list", "tuple", "tpair", "gen", "iter"):
        items = [realize(item, side) for item in payload]
        if kind == "list":
            return items
        if kind == "tuple":
            return tuple(items)
        if kind == "tpair":
            return TPair(items)
        if kind == "gen":
            return (item for item in items)
        return iter(items)
    if kind == "dict":
        return {realize(key, side): realize(value, side) for key, value in payload}
    if kind == "str":
        return S(payload)
    if kind == "boom":
        return Boom()
    if kind == "opaque":
        return Opaque()
    if kind == "tensor":
        return torch.tensor(payload)
    if kind == "ndarray":
        return np.array(payload)
    if kind == "size":
        return torch.Size(payload)
    if kind == "np_int":
        return np.int64(payload)
    if kind == "slice":
        return slice(*payload)
    if kind == "out":
        class_name, kwargs = payload
        cls = getattr(MODELS[side], class_name)
        return cls(**{name: realize(value, side) for name, value in kwargs})
    raise AssertionError(f"unknown value spec {spec!r}")


# --------------------------------------------------------------------------------------------------
# Comparable forms

_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def normalise_text(text: str) -> str:
    """Messages and reprs with the declaring module and memory addresses made side-independent."""
    for module in (
        HF_MODULE,
        FO_MODULE,
        "transformers.modeling_outputs",
        "fastoutput.modeling_outputs",
    ):
        text = text.replace(module, "<module>")
    return _ADDRESS.sub("0x?", text)


def field_names(obj_or_cls: Any) -> tuple[str, ...]:
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    if not dataclasses.is_dataclass(cls):
        return ()
    return tuple(field.name for field in dataclasses.fields(cls))


def norm_array(value: Any) -> tuple[Any, ...] | None:
    """Tensors, arrays, numpy scalars and sizes as comparable data; None for anything else."""
    if isinstance(value, torch.Tensor):
        return ("Tensor", str(value.dtype), value.tolist())
    if isinstance(value, np.ndarray):
        return ("ndarray", str(value.dtype), value.tolist())
    if isinstance(value, np.generic):
        return ("np." + type(value).__name__, value.item())
    if isinstance(value, torch.Size):
        return ("Size", list(value))
    return None


def norm(value: Any, depth: int = 0) -> Any:
    """A side-independent, comparable description of ``value``.

    Known difference "dict-not-ordereddict": views and iterators are compared by content and kind
    (keys/values/items), never by type (``odict_keys`` vs ``dict_keys``).
    """
    if depth > 12:
        return ("DEEP",)
    d = depth + 1
    if isinstance(value, OUTPUT_BASES):
        names = field_names(value)
        attrs = [(name, outcome(lambda name=name: getattr(value, name), d)) for name in names]
        extras = sorted(
            (str(key), norm(item, d)) for key, item in vars(value).items() if key not in names
        )
        items = [(norm(key, d), norm(item, d)) for key, item in list(value.items())]
        return ("OUT", type(value).__name__, items, attrs, extras)
    if value is None or type(value) in (int, float, bool, bytes, complex):
        return (type(value).__name__, value)
    if type(value) is str:  # results such as str(o) may embed addresses and module names
        return ("str", normalise_text(value))
    if isinstance(value, str):
        return (type(value).__name__, str(value))
    array = norm_array(value)
    if array is not None:
        return array
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, [norm(item, d) for item in value])
    if isinstance(value, dict):  # plain dicts and OrderedDicts that are not outputs
        return (type(value).__name__, [(norm(k, d), norm(v, d)) for k, v in value.items()])
    for view, tag in (
        (collections.abc.KeysView, "keys-view"),
        (collections.abc.ValuesView, "values-view"),
        (collections.abc.ItemsView, "items-view"),
    ):
        if isinstance(value, view):
            return (tag, [norm(item, d) for item in value])
    if isinstance(value, collections.abc.Iterator):
        return (
            "iterator",
            type(value).__name__ if isinstance(value, collections.abc.Generator) else "",
        )
    if isinstance(value, pytree.TreeSpec):
        return ("TreeSpec", normalise_text(str(value)))
    if isinstance(value, BaseException):
        return ("exception", type(value), normalise_text(str(value)))
    return (type(value).__name__, normalise_text(repr(value)))


def outcome(fn: Callable[[], Any], depth: int = 0) -> tuple[Any, ...]:
    """``("ok", norm(result))`` or ``("raise", exception type, normalised message)``."""
    try:
        result = fn()
    except Exception as error:  # noqa: BLE001 - every exception is an observable
        return ("raise", type(error), normalise_text(str(error)))
    return ("ok", norm(result, depth))


def raw_outcome(fn: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    """``(result, None)`` or ``(None, exception)``: for results that are used afterwards."""
    try:
        return fn(), None
    except Exception as error:  # noqa: BLE001
        return None, error


def error_form(error: BaseException | None) -> tuple[Any, ...] | None:
    return None if error is None else ("raise", type(error), normalise_text(str(error)))


def observe(obj: Any) -> dict[str, Any]:
    """Every observable of an output's state, in comparable form."""
    names = field_names(obj)
    seen: dict[str, Any] = {
        "type": type(obj).__name__,
        "keys": outcome(lambda: list(obj.keys())),
        "iter": outcome(lambda: list(obj)),
        "values": outcome(lambda: list(obj.values())),
        "extra vars": outcome(lambda: {k: v for k, v in vars(obj).items() if k not in names}),
        "repr": outcome(lambda: normalise_text(repr(obj))),
        "len": outcome(lambda: len(obj)),
        "bool": outcome(lambda: bool(obj)),
    }
    for name in names:
        seen[f"attribute {name}"] = outcome(lambda name=name: getattr(obj, name))
    # Whether each str key's value is the very object its attribute holds (copy shares, deepcopy
    # keeps the sharing through its memo, a stale key does not).
    seen["key is attribute"] = outcome(
        lambda: [
            (key, getattr(obj, key, _MISSING) is item)
            for key, item in obj.items()
            if isinstance(key, str)
        ]
    )
    return seen


_MISSING = object()


def differences(hf: dict[str, Any], fo: dict[str, Any]) -> list[str]:
    lines = []
    for key in sorted(set(hf) | set(fo)):
        if hf.get(key) != fo.get(key):
            lines.append(
                f"  {key}:\n    transformers: {hf.get(key)!r}\n    fastoutput:   {fo.get(key)!r}"
            )
    return lines


# --------------------------------------------------------------------------------------------------
# Known deliberate differences: the only ones the comparison tolerates, each applied narrowly.


@dataclasses.dataclass(frozen=True)
class KnownDifference:
    applies: bool  # in this environment (transformers version, implementation)
    reason: str


KNOWN_DIFFERENCES: dict[str, KnownDifference] = {
    # --- transformers 4.57.6 versus the 5.x container semantics fastoutput follows (spec §0.2, D1)
    "hf4-attr-set-field-adds-key": KnownDifference(
        HF_MAJOR == 4,
        "attribute set of a non-None value to a declared field that has no key appends the key in "
        "fastoutput (5.x rule, spec §0.2 row 1) but only sets the attribute in 4.57.6",
    ),
    "hf4-attr-set-extra-key-kept": KnownDifference(
        HF_MAJOR == 4,
        "attribute set of a non-None value to a name that is a key but not a field leaves the key "
        "alone in fastoutput (5.x, spec §0.2 row 2); 4.57.6 also overwrites the key",
    ),
    "hf4-flatten-with-keys": KnownDifference(
        HF_MAJOR == 4,
        "tree_flatten_with_path works with dict-style MappingKey paths in fastoutput (5.x, spec §0.2, "
        "§9.4); 4.57.6 registers no flatten_with_keys_fn and raises ValueError",
    ),
    # --- fastoutput decisions that depart from the installed 5.x
    "hf5-base-attr-set": KnownDifference(
        HF_MAJOR is not None and HF_MAJOR >= 5,
        "attribute set on a bare ModelOutput keeps the 4.57.6 rule in fastoutput (D6: allowed, an "
        "existing key is updated when the value is not None); 5.x raises TypeError",
    ),
    "hf5-cache-names-not-generated": KnownDifference(
        HF_MAJOR is not None and HF_MAJOR >= 5,
        "past_key_values/cache_params are rewritten to cache by every 5.x output (spec §11.2) and by "
        "no fastoutput class (D2); the name pools of test_differential.py never include them",
    ),
    # --- implementation decisions, already taken
    "dict-not-ordereddict": KnownDifference(
        True,
        "fastoutput is a dict, not an OrderedDict: keys()/values()/items() and iter() give dict_* "
        "objects, so views and iterators are compared by content, never by type (norm)",
    ),
    "cpp-deleted-field-slot": KnownDifference(
        IS_CPP,
        "C++ core keeps fields in native slots: after `del o.<field>` reading it raises "
        "AttributeError where transformers falls back to the class default None",
    ),
}


def known(key: str) -> bool:
    """Whether the known difference ``key`` is in force here."""
    return KNOWN_DIFFERENCES[key].applies


def _applied(key: str) -> None:
    """Record (for ``--hypothesis-show-statistics``) that a known difference was applied."""
    from hypothesis import event
    from hypothesis.control import currently_in_test_context

    if currently_in_test_context():
        event("known difference applied", key)


def hf_setattr_as_specified(
    hf_obj: Any, name: str, value: Any, before: list[tuple[Any, Any]], error: BaseException | None
) -> BaseException | None:
    """After ``setattr(hf_obj, name, value)`` (which raised ``error`` or not), bring transformers'
    object to the state fastoutput is specified to reach, for the known differences only.

    Returns the error fastoutput is expected to raise (``None`` for success).
    """
    before_keys = dict(before)
    is_bare_base = type(hf_obj) is HF_BASE
    if is_bare_base and known("hf5-base-attr-set"):
        assert isinstance(error, TypeError), error
        assert str(error) == "must be called with a dataclass type or instance", error
        assert list(hf_obj.items()) == before  # 5.x raised before changing anything
        _applied("hf5-base-attr-set")
        object.__setattr__(hf_obj, name, value)  # the 4.57.6 rule (D6)
        if value is not None and name in before_keys:
            OrderedDict.__setitem__(hf_obj, name, value)
        return None
    if error is not None or value is None or is_bare_base:
        return error
    names = field_names(hf_obj)
    if name in names and name not in before_keys and known("hf4-attr-set-field-adds-key"):
        _applied("hf4-attr-set-field-adds-key")
        OrderedDict.__setitem__(hf_obj, name, value)
    if name not in names and name in before_keys and known("hf4-attr-set-extra-key-kept"):
        _applied("hf4-attr-set-extra-key-kept")
        OrderedDict.__setitem__(hf_obj, name, before_keys[name])
    return error


def settle_deleted_field(hf_obj: Any, fo_obj: Any, name: str) -> str | None:
    """After a successful ``del obj.<name>`` on both sides: check the known difference
    "cpp-deleted-field-slot" and, where it applies, put ``None`` back on both sides so that the pair
    is comparable again (for transformers that changes nothing observable: it read the class
    default ``None`` already). Returns a description of an unexpected mismatch, or None."""
    if not known("cpp-deleted-field-slot") or name not in field_names(hf_obj):
        return None
    if getattr(type(hf_obj), name, dataclasses.MISSING) is not None:
        return None  # no class default: both sides must raise AttributeError, compared as usual
    hf_read = outcome(lambda: getattr(hf_obj, name))
    fo_read = outcome(lambda: getattr(fo_obj, name))
    slot_error = (
        "raise",
        AttributeError,
        f"'{type(fo_obj).__name__}' object has no attribute '{name}'",
    )
    if hf_read != ("ok", ("NoneType", None)) or fo_read not in (hf_read, slot_error):
        return f"after del .{name}: transformers read {hf_read!r}, fastoutput read {fo_read!r}"
    if fo_read == slot_error:
        _applied("cpp-deleted-field-slot")
    object.__setattr__(hf_obj, name, None)
    object.__setattr__(fo_obj, name, None)
    return None


def _plain(value: Any) -> Any:
    """transformers outputs as plain dicts, which 4.57.6 pytree can flatten with paths."""
    if isinstance(value, HF_BASE):
        return {key: _plain(item) for key, item in value.items()}
    if type(value) in (tuple, list):
        return type(value)(_plain(item) for item in value)
    if type(value) is dict:
        return {key: _plain(item) for key, item in value.items()}
    return value


def flatten_with_path(obj: Any) -> list[tuple[str, Any]]:
    leaves, _spec = pytree.tree_flatten_with_path(obj)
    return [(pytree.keystr(path), leaf) for path, leaf in leaves]


def flatten_with_path_as_specified(hf_obj: Any) -> tuple[Any, ...]:
    """What fastoutput's ``tree_flatten_with_path`` must give, from transformers' object."""
    if not known("hf4-flatten-with-keys"):
        return outcome(lambda: flatten_with_path(hf_obj))
    error = raw_outcome(lambda: flatten_with_path(hf_obj))[1]
    assert isinstance(error, ValueError) and "Did not find a flatten_with_keys_fn" in str(error), (
        error
    )
    _applied("hf4-flatten-with-keys")
    return outcome(lambda: flatten_with_path(_plain(hf_obj)))


# --------------------------------------------------------------------------------------------------
# Divergences found by these tests and not (yet) decided: reported to the lead, NOT accepted. Each is
# kept out of the state machine as narrowly as possible and shown by an xfail(strict) targeted test
# in test_differential.py, so the suite stays green while the decision is pending. Remove an entry
# once fastoutput is fixed (its xfail then fails, as a reminder) or move it to KNOWN_DIFFERENCES.

PENDING_DIVERGENCES: dict[str, str] = {
    "ordereddict-equality-order": (
        "an output compared with an OrderedDict holding the same items in another order: "
        "transformers is an OrderedDict, so the comparison is order-sensitive (False); fastoutput "
        "falls back to dict equality (True): for dataclass outputs in both operand orders, for the "
        "bare base class when the OrderedDict is the left operand"
    ),
    "cpp-delete-unset-field-message": (
        "C++ core only: deleting a field attribute that is already deleted (`y = MOT(a=1); del y.a; "
        "del y.a`) raises AttributeError('a'); transformers and the Python twin raise "
        "AttributeError(\"'MOT' object has no attribute 'a'\")"
    ),
    "non-str-key-aftermath": (
        "after `o[0] = v` (TypeError, key 0 stays), transformers' to_tuple looks each key up with "
        "o[k], so an int key recurses: to_tuple(), o[1], dict(o) raise RecursionError; "
        "fastoutput reads the values directly and succeeds (the state machine retires such pairs)"
    ),
}


def pending(key: str) -> bool:
    return key in PENDING_DIVERGENCES
