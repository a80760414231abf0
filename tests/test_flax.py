"""``fastoutput.modeling_flax_outputs``: the Flax output classes behave as transformers 4.57.6's
``@flax.struct.dataclass`` subclasses of ``ModelOutput`` do.

Pinned here:

1. the catalogue: 19 classes and the ``FlaxCausalLMOutput`` alias, with 4.57.6's names, field order and
   ``None`` defaults, and the dataclass/flax markers (frozen, ``replace``, ``_flax_dataclass``);
2. frozen instances: attribute assignment and deletion raise ``dataclasses.FrozenInstanceError``,
   item assignment and the other container operations do what they do on transformers' frozen
   classes, and ``replace(**changes)`` returns a new instance of the same class with the keys
   transformers' gives;
3. JAX pytrees: ``tree_flatten``/``tree_unflatten``/``tree_map``/``tree_flatten_with_path`` (every field
   a child, ``None`` included, under ``GetAttrKey`` paths) keep the class;
4. ``jax.jit``, ``jax.vmap`` and ``jax.grad`` (``has_aux=True`` with the output as aux, and gradients with
   respect to an output) over functions that build and return outputs; the first-field rule counts
   JAX arrays and tracers as tensors, so a lone first-field tracer stays that field's value;
5. a user's own ``@flax.struct.dataclass`` on ``fastoutput.ModelOutput`` behaves as the same
   declaration on transformers' ``ModelOutput``;
6. laziness (in subprocesses): importing fastoutput and the module imports neither jax nor flax, and
   the classes become pytree nodes once jax is imported (in either order).

Under transformers 4.57.6 every behaviour is also compared with transformers' own Flax classes (the
``*_as_transformers`` tests). transformers 5 removed ``modeling_flax_outputs``: there those comparisons
skip, and the fastoutput tests still run against the catalogue embedded below (generated once from
4.57.6) and the expectations each test writes down. The user-declared class of (5) is compared with
transformers' ``ModelOutput`` under both lines; 5.x dropped JAX tensor detection (spec D4), so there a
lone JAX first field makes transformers' frozen output raise while fastoutput's keeps the value.
``flax.serialization`` state dicts and bytes round-trip both libraries' classes (fastoutput registers
its classes when flax.serialization is imported, as ``flax.struct.dataclass`` does at decoration).
``tests/conftest.py`` sets ``USE_FLAX=0``; the fixture ``transformers_sees_flax`` gives transformers 4.57.6
back the flax availability its Flax classes rely on.

Run: ``FASTOUTPUT_PURE_PYTHON=0 python -m pytest tests/test_flax.py -q`` and ``FASTOUTPUT_PURE_PYTHON=1 ...``,
under transformers 4.57.6 and 5.x (jax, jaxlib and flax installed).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import os
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple, Optional

import numpy as np
import pytest

# jax and flax come with the `frameworks` extra, which tools/test.sh installs in every leg.
pytest.importorskip("jax")
pytest.importorskip("flax")

import flax  # noqa: E402
import flax.serialization  # noqa: E402
import flax.struct  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax.tree_util import GetAttrKey, SequenceKey  # noqa: E402
from transformers.utils.generic import ModelOutput as HFModelOutput

import fastoutput
from fastoutput import modeling_flax_outputs as FO_FLAX
from ._helpers import field_names, fields_of, transformers_major

HF_MAJOR = transformers_major()
# 4.57.6 must have the module (a broken import there fails the run instead of skipping); 5.x removed it.
HF_FLAX: ModuleType | None = (
    importlib.import_module("transformers.modeling_flax_outputs") if HF_MAJOR == 4 else None
)
needs_hf_flax = pytest.mark.skipif(HF_FLAX is None, reason="transformers 5 removed modeling_flax_outputs")

FrozenInstanceError = dataclasses.FrozenInstanceError


@pytest.fixture(autouse=True)
def transformers_sees_flax(monkeypatch: pytest.MonkeyPatch) -> None:
    """transformers 4.57.6 as its Flax users have it: with flax available.

    ``tests/conftest.py`` sets ``USE_FLAX=0``, which 4.57.6 reads at import into ``is_flax_available()``;
    its ``is_tensor`` then counts no JAX array or tracer as a tensor, and its frozen Flax outputs fail on
    a lone JAX first field. The reference for these classes is transformers with flax available.
    """
    if HF_MAJOR == 4:
        from transformers.utils import import_utils

        monkeypatch.setattr(import_utils, "_flax_available", True)


# --------------------------------------------------------------------------------------------------
# The catalogue of transformers 4.57.6 ``modeling_flax_outputs`` (every default is None), generated once
# from that release; under 4.57.6 test_catalogue_as_transformers checks it against the real module.

CATALOGUE: dict[str, str] = {
    "FlaxBaseModelOutput": "last_hidden_state hidden_states attentions",
    "FlaxBaseModelOutputWithNoAttention": "last_hidden_state hidden_states",
    "FlaxBaseModelOutputWithPoolingAndNoAttention": "last_hidden_state pooler_output hidden_states",
    "FlaxImageClassifierOutputWithNoAttention": "logits hidden_states",
    "FlaxBaseModelOutputWithPast": "last_hidden_state past_key_values hidden_states attentions",
    "FlaxBaseModelOutputWithPooling": "last_hidden_state pooler_output hidden_states attentions",
    "FlaxBaseModelOutputWithPoolingAndCrossAttentions": (
        "last_hidden_state pooler_output hidden_states past_key_values attentions cross_attentions"
    ),
    "FlaxBaseModelOutputWithPastAndCrossAttentions": (
        "last_hidden_state past_key_values hidden_states attentions cross_attentions"
    ),
    "FlaxSeq2SeqModelOutput": (
        "last_hidden_state past_key_values decoder_hidden_states decoder_attentions cross_attentions"
        " encoder_last_hidden_state encoder_hidden_states encoder_attentions"
    ),
    "FlaxCausalLMOutputWithCrossAttentions": "logits past_key_values hidden_states attentions cross_attentions",
    "FlaxMaskedLMOutput": "logits hidden_states attentions",
    "FlaxSeq2SeqLMOutput": (
        "logits past_key_values decoder_hidden_states decoder_attentions cross_attentions"
        " encoder_last_hidden_state encoder_hidden_states encoder_attentions"
    ),
    "FlaxNextSentencePredictorOutput": "logits hidden_states attentions",
    "FlaxSequenceClassifierOutput": "logits hidden_states attentions",
    "FlaxSeq2SeqSequenceClassifierOutput": (
        "logits past_key_values decoder_hidden_states decoder_attentions cross_attentions"
        " encoder_last_hidden_state encoder_hidden_states encoder_attentions"
    ),
    "FlaxMultipleChoiceModelOutput": "logits hidden_states attentions",
    "FlaxTokenClassifierOutput": "logits hidden_states attentions",
    "FlaxQuestionAnsweringModelOutput": "start_logits end_logits hidden_states attentions",
    "FlaxSeq2SeqQuestionAnsweringModelOutput": (
        "start_logits end_logits past_key_values decoder_hidden_states decoder_attentions cross_attentions"
        " encoder_last_hidden_state encoder_hidden_states encoder_attentions"
    ),
}
ALIASES: dict[str, str] = {"FlaxCausalLMOutput": "FlaxMaskedLMOutput"}
CLASS_NAMES = sorted(CATALOGUE)
ALL_NAMES = sorted([*CATALOGUE, *ALIASES])

X = jnp.arange(3.0)  # JAX arrays are immutable: both sides can share them


def module_of(side: str) -> ModuleType:
    """The Flax output module of ``side``: "fo" (fastoutput) or "hf" (transformers 4.57.6)."""
    if side == "fo":
        return FO_FLAX
    assert HF_FLAX is not None
    return HF_FLAX


# --------------------------------------------------------------------------------------------------
# Comparable descriptions (module-independent: classes by name)

OUTPUT_BASES = (fastoutput.ModelOutput, HFModelOutput)


def describe(value: Any) -> Any:
    """``value`` as comparable data: an output as its class name, its keys in order with their values,
    every field's attribute and the extra attributes; an array by dtype, shape and values; a tracer by
    kind, dtype and shape."""
    if isinstance(value, OUTPUT_BASES):
        names: list[str] = field_names(value) if dataclasses.is_dataclass(value) else []
        return (
            "output",
            type(value).__name__,
            [(key, describe(value[key])) for key in list(value.keys())],
            [(name, describe(getattr(value, name, "<unset>"))) for name in names],
            sorted((key, describe(item)) for key, item in vars(value).items() if key not in names),
        )
    if isinstance(value, jax.core.Tracer):
        return ("tracer", str(value.dtype), tuple(value.shape))
    if isinstance(value, (jax.Array, np.ndarray)):
        return ("array", str(value.dtype), tuple(value.shape), np.asarray(value).tolist())
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, [describe(item) for item in value])
    if isinstance(value, dict):
        return ("dict", [(key, describe(item)) for key, item in value.items()])
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return ("repr", repr(value))


def outcome(action: Callable[[], Any]) -> tuple[Any, ...]:
    """What ``action()`` does, as comparable data."""
    try:
        result = action()
    except Exception as error:
        return ("raised", f"{type(error).__module__}.{type(error).__qualname__}", str(error))
    return ("returned", describe(result))


def assert_same_array(actual: Any, expected: Any) -> None:
    assert isinstance(actual, jax.Array) and not isinstance(actual, jax.core.Tracer)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    np.testing.assert_array_equal(np.asarray(actual), np.asarray(expected))


# --------------------------------------------------------------------------------------------------
# 1. The catalogue


@pytest.mark.parametrize("name", ALL_NAMES)
def test_catalogue(name: str) -> None:
    """Every 4.57.6 name exists with its fields, in order, all defaulting to None; the alias is the same
    object; each class is a frozen dataclass marked as flax's (so that ``flax.struct.dataclass`` leaves it
    as it is) with a ``replace`` method, defined in fastoutput's module."""
    canonical = ALIASES.get(name, name)
    cls = getattr(FO_FLAX, name)
    assert cls is getattr(FO_FLAX, canonical)
    assert cls.__name__ == cls.__qualname__ == canonical
    assert cls.__module__ == "fastoutput.modeling_flax_outputs"
    assert issubclass(cls, fastoutput.ModelOutput)
    assert field_names(cls) == CATALOGUE[canonical].split()
    for field in dataclasses.fields(cls):
        assert field.default is None and field.default_factory is dataclasses.MISSING
    params = cls.__dataclass_params__
    assert (params.init, params.repr, params.eq, params.order, params.frozen) == (True, True, True, False, True)
    assert cls.__dict__["_flax_dataclass"] is True
    assert callable(cls.replace)
    assert flax.struct.dataclass(cls) is cls
    assert name in FO_FLAX.__all__


def test_catalogue_has_nothing_else() -> None:
    """The module's output classes and ``__all__`` are exactly the catalogue and the alias."""
    exported = {
        key
        for key, value in vars(FO_FLAX).items()
        if isinstance(value, type) and issubclass(value, fastoutput.ModelOutput)
    }
    assert exported - {"ModelOutput"} == set(ALL_NAMES)
    assert sorted(FO_FLAX.__all__) == ALL_NAMES


def class_traits(cls: Any) -> dict[str, Any]:
    """What a class declares, as comparable data (annotations excepted: fastoutput keeps them as strings)."""
    return {
        "name": (cls.__name__, cls.__qualname__),
        "fields": [
            (f.name, f.default, f.default_factory is dataclasses.MISSING, f.init, f.repr, f.compare, f.hash)
            + (f.kw_only, dict(f.metadata))
            for f in dataclasses.fields(cls)
        ],
        "params": repr(cls.__dataclass_params__),
        "match_args": cls.__match_args__,
        "flax_marker": getattr(cls, "_flax_dataclass", None),
        "replace": callable(getattr(cls, "replace", None)),
        "restruct_is_identity": flax.struct.dataclass(cls) is cls,
        "hash_is_dataclass_hash": hash(cls()) == hash((None,) * len(dataclasses.fields(cls))),
    }


@needs_hf_flax
@pytest.mark.parametrize("name", ALL_NAMES)
def test_catalogue_as_transformers(name: str) -> None:
    """Each class (and the alias) has transformers 4.57.6's name, fields, dataclass parameters and flax
    markers; the embedded catalogue is that module's."""
    canonical = ALIASES.get(name, name)
    hf_cls = getattr(module_of("hf"), name)
    assert hf_cls is getattr(module_of("hf"), canonical)
    assert class_traits(getattr(FO_FLAX, name)) == class_traits(hf_cls)
    assert field_names(hf_cls) == CATALOGUE[canonical].split()


@needs_hf_flax
def test_catalogue_is_transformers_whole_module() -> None:
    """transformers 4.57.6's module has no output class that the catalogue misses."""
    hf = module_of("hf")
    names = {
        key for key, value in vars(hf).items() if isinstance(value, type) and issubclass(value, HFModelOutput)
    }
    assert names - {"ModelOutput"} == set(ALL_NAMES)


# --------------------------------------------------------------------------------------------------
# 2. Frozen instances and the container operations

SAMPLE = "FlaxBaseModelOutputWithPooling"
TWO_KEYS = ["last_hidden_state", "pooler_output"]
NOT_CHECKED: Any = object()


def sample(module: ModuleType) -> Any:
    """A frozen output with two keys (a JAX array first) and two None fields."""
    return getattr(module, SAMPLE)(last_hidden_state=X, pooler_output=X + 1)


def no_use(method: str) -> tuple[type[BaseException], str]:
    return Exception, f"You cannot use ``{method}`` on a {SAMPLE} instance."


def frozen(verb: str, name: str) -> tuple[type[BaseException], str]:
    return FrozenInstanceError, f"cannot {verb} field '{name}'"


def cannot_assign(name: str) -> tuple[type[BaseException], str]:
    return frozen("assign to", name)


def _set_item(key: str, value: Any) -> Callable[[Any], Any]:
    def action(out: Any) -> None:
        out[key] = value

    return action


def _del_item(out: Any) -> None:
    del out["pooler_output"]


def _in_place_or(out: Any) -> Any:
    out |= {"extra": 1}
    return out


class Op(NamedTuple):
    """An operation on ``sample(...)`` and what fastoutput must do: raise ``raises`` (type, message; a
    None message is not checked), or return ``returns`` (unless NOT_CHECKED); then hold the keys
    ``keys`` and the attributes of ``changed`` (the other fields keep their values)."""

    id: str
    action: Callable[[Any], Any]
    raises: Optional[tuple[type[BaseException], Optional[str]]]
    keys: list[str]
    changed: dict[str, Any]
    returns: Any = NOT_CHECKED


OPS: list[Op] = [
    Op("set-field", lambda o: setattr(o, "pooler_output", 1), cannot_assign("pooler_output"), TWO_KEYS, {}),
    Op("set-none-field", lambda o: setattr(o, "hidden_states", (X,)), cannot_assign("hidden_states"), TWO_KEYS, {}),
    Op("set-new-name", lambda o: setattr(o, "extra", 1), cannot_assign("extra"), TWO_KEYS, {}),
    Op("set-to-none", lambda o: setattr(o, "pooler_output", None), cannot_assign("pooler_output"), TWO_KEYS, {}),
    Op("del-field", lambda o: delattr(o, "pooler_output"), frozen("delete", "pooler_output"), TWO_KEYS, {}),
    Op("del-new-name", lambda o: delattr(o, "extra"), frozen("delete", "extra"), TWO_KEYS, {}),
    Op("item-set-field", _set_item("pooler_output", 1), None, TWO_KEYS, {"pooler_output": 1}, None),
    Op("item-set-none-field", _set_item("hidden_states", 1), None, [*TWO_KEYS, "hidden_states"],
       {"hidden_states": 1}),
    Op("item-set-new-key", _set_item("extra", 1), None, [*TWO_KEYS, "extra"], {"extra": 1}),
    Op("item-set-to-none", _set_item("pooler_output", None), None, TWO_KEYS, {"pooler_output": None}),
    Op("item-del", _del_item, no_use("__delitem__"), TWO_KEYS, {}),
    Op("pop", lambda o: o.pop("pooler_output"), no_use("pop"), TWO_KEYS, {}),
    Op("setdefault", lambda o: o.setdefault("extra", 1), no_use("setdefault"), TWO_KEYS, {}),
    Op("update", lambda o: o.update(extra=1), no_use("update"), TWO_KEYS, {}),
    Op("in-place-or", _in_place_or, None, [*TWO_KEYS, "extra"], {"extra": 1}),
    Op("or", lambda o: o | {"extra": 1}, cannot_assign("last_hidden_state"), TWO_KEYS, {}),
    Op("popitem", lambda o: o.popitem()[0], None, ["last_hidden_state"], {}, "pooler_output"),
    Op("popitem-first", lambda o: o.popitem(last=False)[0], None, ["pooler_output"], {}, "last_hidden_state"),
    Op("move-to-end", lambda o: o.move_to_end("last_hidden_state"), None, ["pooler_output", "last_hidden_state"], {}),
    Op("clear", lambda o: o.clear(), None, [], {}),
    Op("index", lambda o: o[1] is o.pooler_output, None, TWO_KEYS, {}, True),
    Op("to-tuple", lambda o: len(o.to_tuple()), None, TWO_KEYS, {}, 2),
    Op("hash", lambda o: hash(type(o)(1, 2)) == hash((1, 2, None, None)), None, TWO_KEYS, {}, True),
    Op("hash-array", lambda o: hash(o), (TypeError, None), TWO_KEYS, {}),
    Op("eq-same-arrays", lambda o: o == o.replace(), None, TWO_KEYS, {}, True),
    Op("eq-new-arrays", lambda o: o == type(o)(X + 0, X + 1), (ValueError, None), TWO_KEYS, {}),
    Op("repr", lambda o: repr(type(o)(hidden_states=1)), None, TWO_KEYS, {},
       f"{SAMPLE}(last_hidden_state=None, pooler_output=None, hidden_states=1, attentions=None)"),
    Op("copy", lambda o: list(copy.copy(o).keys()), None, TWO_KEYS, {}, TWO_KEYS),
    Op("deepcopy", lambda o: list(copy.deepcopy(o).keys()), None, TWO_KEYS, {}, TWO_KEYS),
    Op("pickle", lambda o: list(pickle.loads(pickle.dumps(o)).keys()), None, TWO_KEYS, {}, TWO_KEYS),
    Op("construct-positional", lambda o: list(type(o)(X, None, (X,)).keys()), None, TWO_KEYS, {},
       ["last_hidden_state", "hidden_states"]),
    Op("construct-lone-array", lambda o: list(type(o)(X).keys()), None, TWO_KEYS, {}, ["last_hidden_state"]),
    Op("construct-lone-numpy", lambda o: list(type(o)(np.ones(2)).keys()), None, TWO_KEYS, {}, ["last_hidden_state"]),
    Op("construct-lone-list", lambda o: type(o)([1, 2]), cannot_assign("last_hidden_state"), TWO_KEYS, {}),
    Op("construct-dict", lambda o: type(o)({"pooler_output": 1}), cannot_assign("last_hidden_state"), TWO_KEYS, {}),
    Op("construct-pairs", lambda o: type(o)([("pooler_output", 1)]), cannot_assign("last_hidden_state"), TWO_KEYS, {}),
    Op("construct-too-many", lambda o: type(o)(1, 2, 3, 4, 5),
       (TypeError, f"{SAMPLE}.__init__() takes from 1 to 5 positional arguments but 6 were given"), TWO_KEYS, {}),
]
OP_IDS = [op.id for op in OPS]
OPS_BY_ID = {op.id: op for op in OPS}


@pytest.mark.parametrize("op_id", OP_IDS)
def test_frozen_container_operation(op_id: str) -> None:
    """Attribute assignment/deletion raise FrozenInstanceError (spec §3.7's messages); item assignment
    sets key and attribute; the blocked mutators raise transformers' bare Exception; the OrderedDict
    operations, hashing, equality, copies, pickle and construction behave as on a frozen output; the
    first-field rule counts a JAX array as a tensor (a list is expanded and so fails on a frozen class)."""
    op = OPS_BY_ID[op_id]
    out = sample(FO_FLAX)
    before = fields_of(out)
    if op.raises is not None:
        error_type, message = op.raises
        with pytest.raises(error_type) as caught:
            op.action(out)
        assert type(caught.value) is error_type
        if message is not None:
            assert str(caught.value) == message
    else:
        result = op.action(out)
        if op.returns is not NOT_CHECKED:
            assert result == op.returns
    assert list(out.keys()) == op.keys
    after = {name: getattr(out, name) for name in vars(out)}
    for name, value in {**before, **op.changed}.items():
        assert after[name] is value or (after[name] == value and type(after[name]) is type(value)), name
    assert set(after) == set(before) | set(op.changed)
    assert all(out[key] is after[key] for key in out.keys())


@needs_hf_flax
@pytest.mark.parametrize("op_id", OP_IDS)
def test_frozen_container_operation_as_transformers(op_id: str) -> None:
    """Each operation has transformers 4.57.6's outcome (result or exception type and message) and
    leaves the output in the same state (keys, field attributes, extra attributes)."""
    op = OPS_BY_ID[op_id]
    states = {}
    for side in ("fo", "hf"):
        out = sample(module_of(side))
        states[side] = (outcome(lambda: op.action(out)), describe(out))
    assert states["fo"] == states["hf"]


REPLACEMENTS: list[tuple[str, str, dict[str, Any], Any]] = [
    # (id, how the source is prepared, changes, fastoutput's keys or the exception's (type, message))
    ("nothing", "plain", {}, TWO_KEYS),
    ("add-none-field", "plain", {"hidden_states": (X,)}, [*TWO_KEYS, "hidden_states"]),
    ("change-field", "plain", {"pooler_output": X * 2}, TWO_KEYS),
    ("to-none", "plain", {"pooler_output": None}, ["last_hidden_state"]),
    ("first-to-none", "plain", {"last_hidden_state": None}, ["pooler_output"]),
    ("all-to-none", "plain", {"last_hidden_state": None, "pooler_output": None}, []),
    ("mixed", "plain", {"attentions": (X,), "pooler_output": None}, ["last_hidden_state", "attentions"]),
    ("first-pairs", "plain", {"last_hidden_state": [("a", 1)], "pooler_output": None},
     cannot_assign("last_hidden_state")),
    ("unknown", "plain", {"bogus": 1},
     (TypeError, f"{SAMPLE}.__init__() got an unexpected keyword argument 'bogus'")),
    ("drops-extra-key", "item-set-extra", {"hidden_states": 1}, [*TWO_KEYS, "hidden_states"]),
    ("after-clear", "cleared", {}, TWO_KEYS),
    ("after-item-set-none", "item-set-none", {}, ["last_hidden_state"]),
]
REPLACE_IDS = [case[0] for case in REPLACEMENTS]


def replace_source(module: ModuleType, how: str) -> Any:
    out = sample(module)
    if how == "item-set-extra":
        out["extra"] = 1
    elif how == "cleared":
        out.clear()
    elif how == "item-set-none":
        out["pooler_output"] = None
    return out


@pytest.mark.parametrize("case_id", REPLACE_IDS)
def test_replace(case_id: str) -> None:
    """``replace(**changes)`` returns a new instance of the same class built from every field (extra
    keys and key-store changes are not carried), with None fields keyless; the source is unchanged."""
    _, how, changes, expected = REPLACEMENTS[REPLACE_IDS.index(case_id)]
    out = replace_source(FO_FLAX, how)
    state_before = describe(out)
    if isinstance(expected, tuple):
        error_type, message = expected
        with pytest.raises(error_type) as caught:
            out.replace(**changes)
        assert type(caught.value) is error_type and str(caught.value) == message
    else:
        new = out.replace(**changes)
        assert type(new) is type(out) and new is not out
        assert list(new.keys()) == expected
        values = fields_of(out) | changes
        assert all(getattr(new, name) is value for name, value in values.items())
        assert not {key for key in vars(new) if key not in values}
    assert describe(out) == state_before


@needs_hf_flax
@pytest.mark.parametrize("case_id", REPLACE_IDS)
def test_replace_as_transformers(case_id: str) -> None:
    """``replace`` gives what transformers 4.57.6's gives (class, keys, attributes, or the exception),
    and leaves the source as transformers' does."""
    _, how, changes, _ = REPLACEMENTS[REPLACE_IDS.index(case_id)]
    results = {}
    for side in ("fo", "hf"):
        out = replace_source(module_of(side), how)
        results[side] = (outcome(lambda: out.replace(**changes)), describe(out))
    assert results["fo"] == results["hf"]


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_every_class_is_frozen_and_replaces(name: str) -> None:
    """On every class, each field refuses assignment and deletion, and ``replace`` of the first field
    returns the same class with that one key."""
    cls = getattr(FO_FLAX, name)
    out = cls()
    first = field_names(cls)[0]
    for field in field_names(cls):
        with pytest.raises(FrozenInstanceError, match=f"^cannot assign to field '{field}'$"):
            setattr(out, field, X)
        with pytest.raises(FrozenInstanceError, match=f"^cannot delete field '{field}'$"):
            delattr(out, field)
    new = out.replace(**{first: X})
    assert type(new) is cls and list(new.keys()) == [first] and getattr(new, first) is X
    assert list(out.keys()) == [] and getattr(out, first) is None


# --------------------------------------------------------------------------------------------------
# 3. JAX pytrees


def pytree_sample(module: ModuleType, name: str) -> Any:
    """An instance with a JAX array first, a tuple of two arrays second and None in the other fields."""
    cls = getattr(module, name)
    first, second = field_names(cls)[:2]
    return cls(**{first: X, second: (X + 1, X + 2)})


def pytree_observations(out: Any) -> dict[str, Any]:
    """Flatten, flatten with paths, unflatten and tree_map of ``out``, as comparable data."""
    treedef: Any
    leaves, treedef = jax.tree_util.tree_flatten(out)
    with_path, treedef_with_path = jax.tree_util.tree_flatten_with_path(out)
    empty = type(out)()
    none_leaves, none_def = jax.tree_util.tree_flatten(empty, is_leaf=lambda value: value is None)
    return {
        "leaves": describe(leaves),
        "treedef": str(treedef),
        "same_def_with_path": treedef_with_path == treedef,
        "paths": [(tuple(path), jax.tree_util.keystr(path)) for path, _ in with_path],
        "unflattened": describe(jax.tree_util.tree_unflatten(treedef, leaves)),
        "mapped": describe(jax.tree_util.tree_map(lambda leaf: leaf * 10, out)),
        "empty_leaves": jax.tree_util.tree_leaves(empty),
        "none_leaves": none_leaves,
        "none_rebuilt": describe(jax.tree_util.tree_unflatten(none_def, [None] * len(none_leaves))),
        "none_filled": describe(jax.tree_util.tree_unflatten(none_def, [X] * len(none_leaves))),
    }


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_pytree(name: str) -> None:
    """Every class is a JAX pytree node: every field is a child (None fields as empty subtrees, or as
    leaves under ``is_leaf``), leaves come in field order under ``GetAttrKey`` paths, and unflatten and
    tree_map rebuild the same class with the keys of its non-None fields."""
    cls = getattr(FO_FLAX, name)
    out = pytree_sample(FO_FLAX, name)
    names = field_names(cls)
    first, second = names[:2]
    treedef: Any
    leaves, treedef = jax.tree_util.tree_flatten(out)
    assert leaves[0] is X and leaves[1] is out[second][0] and leaves[2] is out[second][1] and len(leaves) == 3
    assert treedef.node_data() is not None and treedef.node_data()[0] is cls
    assert [str(child) for child in treedef.children()] == (
        ["PyTreeDef(*)", "PyTreeDef((*, *))"] + ["PyTreeDef(None)"] * (len(names) - 2)
    )
    paths = [path for path, _ in jax.tree_util.tree_flatten_with_path(out)[0]]
    assert paths == [
        (GetAttrKey(first),),
        (GetAttrKey(second), SequenceKey(0)),
        (GetAttrKey(second), SequenceKey(1)),
    ]
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert type(rebuilt) is cls and describe(rebuilt) == describe(out)
    mapped = jax.tree_util.tree_map(lambda leaf: leaf * 10, out)
    assert type(mapped) is cls and list(mapped.keys()) == [first, second]
    assert_same_array(mapped[first], X * 10)
    assert_same_array(mapped[second][1], (X + 2) * 10)
    empty = cls()
    assert jax.tree_util.tree_leaves(empty) == []
    none_leaves, none_def = jax.tree_util.tree_flatten(empty, is_leaf=lambda value: value is None)
    assert none_leaves == [None] * len(names)
    refilled = jax.tree_util.tree_unflatten(none_def, [X] * len(names))
    assert type(refilled) is cls and list(refilled.keys()) == names
    assert list(jax.tree_util.tree_unflatten(none_def, none_leaves).keys()) == []


@needs_hf_flax
@pytest.mark.parametrize("name", CLASS_NAMES)
def test_pytree_as_transformers(name: str) -> None:
    """Flatten (leaves and tree definition), key paths, unflatten, tree_map and None handling equal
    transformers 4.57.6's for the same instance."""
    fo = pytree_observations(pytree_sample(FO_FLAX, name))
    assert fo == pytree_observations(pytree_sample(module_of("hf"), name))


def tree_map_after_item_set(module: ModuleType) -> Any:
    out = sample(module)
    out["extra"] = 1
    out["hidden_states"] = (X,)
    return jax.tree_util.tree_map(lambda leaf: leaf, out)


def test_pytree_reads_fields_not_keys() -> None:
    """Flattening reads every field's attribute: a key added by item set that is no field is dropped
    by a round trip, and a field set by item set is kept."""
    mapped = tree_map_after_item_set(FO_FLAX)
    assert list(mapped.keys()) == [*TWO_KEYS, "hidden_states"]
    assert "extra" not in vars(mapped)


@needs_hf_flax
def test_pytree_reads_fields_not_keys_as_transformers() -> None:
    """The round trip after item sets gives what transformers 4.57.6's gives."""
    assert describe(tree_map_after_item_set(FO_FLAX)) == describe(tree_map_after_item_set(module_of("hf")))


# --------------------------------------------------------------------------------------------------
# 4. jit, vmap and grad. Each scenario takes the module whose classes it uses and returns its result.

LM = "FlaxMaskedLMOutput"


def jit_build(module: ModuleType) -> Any:
    cls = getattr(module, LM)
    return jax.jit(lambda a: cls(logits=a * 2, hidden_states=(a, a + 1)))(X)


def jit_lone_first_field(module: ModuleType) -> Any:
    cls = getattr(module, LM)
    seen: list[Any] = []

    def build(a: jax.Array) -> Any:
        out = cls(logits=a)
        seen.append((describe(out), out[0] is a, out.logits is a, isinstance(a, jax.core.Tracer)))
        return out

    return jax.jit(build)(X), seen


def jit_lone_scalar(module: ModuleType) -> Any:
    cls = getattr(module, LM)
    return jax.jit(lambda a: cls(logits=a.sum()))(X)


def jit_output_in_and_out(module: ModuleType) -> Any:
    cls = getattr(module, LM)
    return jax.jit(lambda out: out.replace(logits=out.logits + 1, attentions=None))(cls(logits=X, attentions=(X,)))


def jit_only_later_fields(module: ModuleType) -> Any:
    cls = getattr(module, LM)
    return jax.jit(lambda a: cls(hidden_states=(a,), attentions=(a * 2,)))(X)


def vmap_build(module: ModuleType) -> Any:
    cls = getattr(module, LM)
    return jax.vmap(lambda a: cls(logits=a.sum(), hidden_states=(a,)))(jnp.ones((4, 3)))


def vmap_lone_first_field(module: ModuleType) -> Any:
    cls = getattr(module, LM)
    return jax.vmap(lambda a: cls(logits=a * 2))(jnp.arange(6.0).reshape(2, 3))


def grad_output_as_aux(module: ModuleType) -> Any:
    cls = getattr(module, LM)

    def loss(a: jax.Array) -> tuple[jax.Array, Any]:
        out = cls(logits=a * a, hidden_states=(a,))
        return out.logits.sum(), out

    return jax.grad(loss, has_aux=True)(X)


def grad_lone_first_field_aux(module: ModuleType) -> Any:
    cls = getattr(module, LM)

    def loss(a: jax.Array) -> tuple[jax.Array, Any]:
        out = cls(logits=jnp.tanh(a))
        return out["logits"].sum(), out

    return jax.value_and_grad(loss, has_aux=True)(X)


def grad_of_output(module: ModuleType) -> Any:
    cls = getattr(module, LM)
    return jax.grad(lambda out: (out.logits * out.hidden_states[0]).sum())(cls(logits=X, hidden_states=(X + 1,)))


TRANSFORMS: dict[str, Callable[[ModuleType], Any]] = {
    "jit-build": jit_build,
    "jit-lone-first-field": jit_lone_first_field,
    "jit-lone-scalar": jit_lone_scalar,
    "jit-output-in-and-out": jit_output_in_and_out,
    "jit-only-later-fields": jit_only_later_fields,
    "vmap-build": vmap_build,
    "vmap-lone-first-field": vmap_lone_first_field,
    "grad-output-as-aux": grad_output_as_aux,
    "grad-lone-first-field-aux": grad_lone_first_field_aux,
    "grad-of-output": grad_of_output,
}


def check_lm(out: Any, expected: dict[str, Any]) -> None:
    """``out`` is a concrete FlaxMaskedLMOutput whose keys and values are ``expected`` (arrays or tuples
    of arrays), the other fields None."""
    assert type(out) is FO_FLAX.FlaxMaskedLMOutput
    assert list(out.keys()) == list(expected)
    for name in field_names(out):
        value, want = getattr(out, name), expected.get(name)
        if want is None:
            assert value is None, name
        elif isinstance(want, tuple):
            assert isinstance(value, tuple) and len(value) == len(want), name
            for item, want_item in zip(value, want):
                assert_same_array(item, want_item)
        else:
            assert_same_array(value, want)
        assert name not in expected or out[name] is value


def test_jit_builds_outputs() -> None:
    """A jitted function that builds an output returns it with the class, keys and values."""
    check_lm(jit_build(FO_FLAX), {"logits": X * 2, "hidden_states": (X, X + 1)})
    check_lm(jit_only_later_fields(FO_FLAX), {"hidden_states": (X,), "attentions": (X * 2,)})


def test_jit_lone_first_field_tracer_stays_a_value() -> None:
    """Inside jit a lone first-field tracer is a tensor for the first-field rule: it stays the field's
    value and its only key (a non-tensor would be expanded and fail on the frozen class); 0-d tracers
    (not iterable) too."""
    result, seen = jit_lone_first_field(FO_FLAX)
    check_lm(result, {"logits": X})
    assert len(seen) == 1
    described, item_is_tracer, attribute_is_tracer, traced = seen[0]
    assert (item_is_tracer, attribute_is_tracer, traced) == (True, True, True)
    assert described[2] == [("logits", ("tracer", "float32", (3,)))]
    check_lm(jit_lone_scalar(FO_FLAX), {"logits": X.sum()})


def test_jit_takes_and_returns_outputs() -> None:
    """An output passed into jit comes in as the same class and ``replace`` inside works."""
    check_lm(jit_output_in_and_out(FO_FLAX), {"logits": X + 1})


def test_vmap_builds_outputs() -> None:
    """vmap over a function that builds an output stacks every leaf (batch tracers as first field included)."""
    check_lm(vmap_build(FO_FLAX), {"logits": jnp.full((4,), 3.0), "hidden_states": (jnp.ones((4, 3)),)})
    check_lm(vmap_lone_first_field(FO_FLAX), {"logits": jnp.arange(6.0).reshape(2, 3) * 2})


def test_grad_with_output_as_aux() -> None:
    """``jax.grad(has_aux=True)`` of a loss read from an output's field returns the gradient and the
    output as aux (built from JVP tracers, returned concrete)."""
    gradient, aux = grad_output_as_aux(FO_FLAX)
    assert_same_array(gradient, 2 * X)
    check_lm(aux, {"logits": X * X, "hidden_states": (X,)})
    (value, aux), gradient = grad_lone_first_field_aux(FO_FLAX)
    assert_same_array(value, jnp.tanh(X).sum())
    np.testing.assert_allclose(np.asarray(gradient), np.asarray(1 - jnp.tanh(X) ** 2), rtol=1e-6)
    check_lm(aux, {"logits": jnp.tanh(X)})


def test_grad_with_respect_to_an_output() -> None:
    """The gradient with respect to an output argument is an output of the same class."""
    check_lm(grad_of_output(FO_FLAX), {"logits": X + 1, "hidden_states": (X,)})


@needs_hf_flax
@pytest.mark.parametrize("scenario", list(TRANSFORMS))
def test_transforms_as_transformers(scenario: str) -> None:
    """jit, vmap and grad give what they give with transformers 4.57.6's classes in the same function
    (class, keys, attributes and values, and what is seen while tracing)."""
    run = TRANSFORMS[scenario]
    assert describe(run(FO_FLAX)) == describe(run(module_of("hf")))


# --------------------------------------------------------------------------------------------------
# 5. A user's own @flax.struct.dataclass output


def declare_user_output(base: type[Any]) -> type[Any]:
    """The same user declaration on ``base``."""

    @flax.struct.dataclass
    class UserOutput(base):  # type: ignore[misc]
        """A user's own Flax output."""

        scores: Any = None
        hidden: Optional[Any] = None
        extra: Optional[Any] = None

    return UserOutput


USER_CLASSES = {"fo": declare_user_output(fastoutput.ModelOutput), "hf": declare_user_output(HFModelOutput)}


def _user_item_set(cls: type[Any]) -> Any:
    out = cls(scores=X, extra=(X,))
    out["hidden"] = 2
    return out


def _user_set_attribute(cls: type[Any]) -> Any:
    out = cls(scores=X, extra=(X,))
    out.hidden = 2
    return out


def _user_paths(cls: type[Any]) -> Any:
    with_path, treedef = jax.tree_util.tree_flatten_with_path(cls(scores=X, extra=(X, X)))
    return [jax.tree_util.keystr(path) for path, _ in with_path], str(treedef)


class UserCase(NamedTuple):
    """A scenario on the user's class and fastoutput's result: the keys of the output it returns, an
    exception (type, message), or another value. ``lone_jax`` marks a lone JAX first field (spec D4)."""

    run: Callable[[type[Any]], Any]
    expected: Any
    lone_jax: bool = False


USER_CASES: dict[str, UserCase] = {
    "construct": UserCase(lambda cls: cls(scores=X, extra=(X,)), ["scores", "extra"]),
    "construct-empty": UserCase(lambda cls: cls(), []),
    "construct-first-none": UserCase(lambda cls: cls(hidden=1), ["hidden"]),
    "construct-positional": UserCase(lambda cls: cls(X, None, 3), ["scores", "extra"]),
    "construct-lone-array": UserCase(lambda cls: cls(scores=X), ["scores"], lone_jax=True),
    "construct-dict": UserCase(lambda cls: cls({"scores": 1}), cannot_assign("scores")),
    "set-attribute": UserCase(_user_set_attribute, cannot_assign("hidden")),
    "item-set": UserCase(_user_item_set, ["scores", "extra", "hidden"]),
    "replace": UserCase(lambda cls: cls(scores=X, extra=(X,)).replace(hidden=X), ["scores", "hidden", "extra"]),
    "replace-to-lone-array": UserCase(
        lambda cls: cls(scores=X, extra=(X,)).replace(extra=None), ["scores"], lone_jax=True
    ),
    "jit-round-trip": UserCase(
        lambda cls: jax.jit(lambda out: out.replace(scores=out.scores * 2))(cls(scores=X, extra=(X,))),
        ["scores", "extra"],
    ),
    "jit-build-lone": UserCase(lambda cls: jax.jit(lambda a: cls(scores=a))(X), ["scores"], lone_jax=True),
    "paths": UserCase(
        _user_paths, (["scores", "extra[0]", "extra[1]"], "PyTreeDef(CustomNode(UserOutput[()], [*, None, (*, *)]))")
    ),
}


@pytest.mark.parametrize("case_id", list(USER_CASES))
def test_user_struct_dataclass(case_id: str) -> None:
    """``@flax.struct.dataclass`` on a subclass of fastoutput's ModelOutput gives a frozen output that
    builds (a lone JAX first field included), refuses attribute assignment, accepts item set, replaces,
    and makes a jit round trip as a pytree node with ``GetAttrKey`` paths."""
    cls = USER_CLASSES["fo"]
    case = USER_CASES[case_id]
    expected = case.expected
    if isinstance(expected, tuple) and isinstance(expected[0], type):
        with pytest.raises(expected[0]) as caught:
            case.run(cls)
        assert type(caught.value) is expected[0] and str(caught.value) == expected[1]
        return
    result = case.run(cls)
    if case_id == "paths":
        paths, treedef = result
        assert [path.lstrip(".") for path in paths] == expected[0] and treedef == expected[1]
        return
    assert type(result) is cls and list(result.keys()) == expected
    if result.scores is not None:
        assert_same_array(result.scores, X * 2 if case_id == "jit-round-trip" else X)
    for key in result.keys():
        assert result[key] is getattr(result, key)


@pytest.mark.parametrize("case_id", list(USER_CASES))
def test_user_struct_dataclass_as_transformers(case_id: str) -> None:
    """The same declaration on transformers' ModelOutput gives the same result. Under transformers 5,
    which dropped JAX tensor detection (spec D4), a lone JAX first field makes transformers' frozen
    output try to assign the field and raise, where fastoutput keeps the 4.57.6 behaviour."""
    case = USER_CASES[case_id]
    fo = outcome(lambda: case.run(USER_CLASSES["fo"]))
    hf = outcome(lambda: case.run(USER_CLASSES["hf"]))
    if case.lone_jax and HF_MAJOR is not None and HF_MAJOR >= 5:
        assert fo[0] == "returned"
        assert hf == ("raised", "dataclasses.FrozenInstanceError", "cannot assign to field 'scores'")
    else:
        assert fo == hf


# --------------------------------------------------------------------------------------------------
# 6. Laziness


def run_python(code: str) -> Any:
    """Run ``code`` in a fresh interpreter (same implementation switch) and return its printed JSON."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


LAZY_CHECK = """
    import json, sys
    {first}
    loaded = sorted(m for m in ('jax', 'jaxlib', 'flax') if m in sys.modules)
    before = m.FlaxSeq2SeqLMOutput(logits=1.5, encoder_hidden_states=(2.5,))
    import jax
    out = m.FlaxSeq2SeqLMOutput(logits=jax.numpy.ones(2), past_key_values=((3.0,),))
    leaves, treedef = jax.tree_util.tree_flatten(out)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(out)[0]]
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    print(json.dumps({{
        "loaded_with_fastoutput": loaded,
        "flax_after_jax": "flax" in sys.modules,
        "implementation": fastoutput.IMPLEMENTATION,
        "leaves": [type(leaf).__name__ for leaf in leaves],
        "node_is_class": treedef.node_data()[0] is m.FlaxSeq2SeqLMOutput,
        "paths": paths,
        "rebuilt": [type(rebuilt).__name__, list(rebuilt.keys())],
        "earlier_instance": jax.tree_util.tree_leaves(before),
    }}))
"""
FASTOUTPUT_FIRST = "import fastoutput, fastoutput.modeling_flax_outputs as m"


@pytest.mark.parametrize("order", ["fastoutput-first", "jax-first"])
def test_lazy_jax_registration(order: str) -> None:
    """Importing fastoutput and its Flax module imports neither jax nor flax; the classes become JAX
    pytree nodes (children every field, ``GetAttrKey`` paths) once jax is imported, whether jax comes
    after (instances made before count too) or before them; flax is never imported by fastoutput."""
    first = FASTOUTPUT_FIRST if order == "fastoutput-first" else "import jax\n    " + FASTOUTPUT_FIRST
    code = LAZY_CHECK.format(first=first)
    report = run_python(code)
    assert report["implementation"] == fastoutput.IMPLEMENTATION
    assert report["loaded_with_fastoutput"] == ([] if order == "fastoutput-first" else ["jax", "jaxlib"])
    assert report["flax_after_jax"] is False
    assert report["leaves"] == ["ArrayImpl", "float"]
    assert report["node_is_class"] is True
    assert report["paths"] == [".logits", ".past_key_values[0][0]"]
    assert report["rebuilt"] == ["FlaxSeq2SeqLMOutput", ["logits", "past_key_values"]]
    assert report["earlier_instance"] == [1.5, 2.5]


# --------------------------------------------------------------------------------------------------
# Found while writing these tests: flax.struct.dataclass also registers the class with
# flax.serialization (state dicts, msgpack bytes); fastoutput's module does not.


def check_serialization(module: ModuleType) -> None:
    """``to_state_dict`` of an output is a dict of every field; ``to_bytes``/``from_bytes`` restore the
    class and the keys (msgpack gives numpy arrays back)."""
    cls = getattr(module, LM)
    out = cls(logits=X, hidden_states=(X + 1,))
    state = flax.serialization.to_state_dict(out)
    assert isinstance(state, dict) and list(state) == ["logits", "hidden_states", "attentions"]
    template = cls(logits=X * 0, hidden_states=(X * 0,))
    restored = flax.serialization.from_bytes(template, flax.serialization.to_bytes(out))
    assert type(restored) is cls and list(restored.keys()) == ["logits", "hidden_states"]
    np.testing.assert_array_equal(np.asarray(restored.logits), np.asarray(X))
    np.testing.assert_array_equal(np.asarray(restored.hidden_states[0]), np.asarray(X + 1))


def test_flax_serialization() -> None:
    """``flax.serialization`` state dicts and msgpack bytes round-trip an output to the same class, as for
    a class made by ``flax.struct.dataclass`` (transformers 4.57.6's pass ``check_serialization``)."""
    check_serialization(FO_FLAX)
