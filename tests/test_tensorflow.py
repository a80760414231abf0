"""``fastoutput.modeling_tf_outputs`` where TensorFlow users put its outputs.

What this file pins, for the 27 TensorFlow output classes of transformers 4.57.6:

1. The classes: same names, field names, order and ``None`` defaults, no members beyond the fields
   except ``TFMaskedImageModelingOutput.logits``, the read-only alias of ``reconstruction`` that warns
   (``FutureWarning``) on each read.
2. Values: ``tf.Tensor``s are held by reference, and the first-field rule counts a ``tf.Tensor`` as a
   value (never iterates it looking for ``(key, value)`` pairs), eager or symbolic (inside
   ``tf.function``).
3. ``tf.function``: an output returned from one comes back as the same class (TensorFlow rebuilds
   mappings), with the keys in the traced instance's order and ``None`` fields left out; an output
   passed in is seen as its class inside the trace.
4. ``tf.nest``: ``flatten`` (leaves in sorted-key order), ``pack_sequence_as`` and ``map_structure``
   keep the class, the keys and their order; ``None`` fields stay out.
5. Keras 3: a tiny ``keras.Model`` subclass whose ``call`` returns an output, called eagerly, called on
   a symbolic ``keras.Input`` and run through ``model.predict``.

Every scenario is a function of the module holding the classes. The fastoutput half runs everywhere and
checks the expected results explicitly. Under transformers 4.57.6 the same function also runs on
``transformers.modeling_tf_outputs`` and the two results must be equal (``norm``: classes by their name
in their own module, tensors by dtype, shape and values, errors by type and message). transformers 5.x
removed its TF classes, so there the comparison tests are skipped and the class list checked is the one
embedded below (``TF_CLASSES``, written from 4.57.6's module; the 4.57.6 run checks it still matches).

Two things of transformers' own make a difference to what is compared:

* ``tests/conftest.py`` sets ``USE_TF=0``, so transformers' ``is_tensor`` does not recognise
  ``tf.Tensor`` and its first-field rule iterates one (finding no pairs, it ends in the same state).
  fastoutput counts ``tf.Tensor`` as a tensor regardless (spec D4); that part is checked on fastoutput
  alone.
* Keras 3's ``predict`` (and its symbolic call) works on ``keras.tree`` (optree), which does not know
  transformers' ``ModelOutput``: both raise for transformers 4.57.6's classes, and fastoutput's must
  raise the same.

Run it with ``FASTOUTPUT_PURE_PYTHON=0 python -m pytest tests/test_tensorflow.py -q`` (and with
``FASTOUTPUT_PURE_PYTHON=1``), under transformers 4.57.6 and 5.x.
"""

from __future__ import annotations

import os

# Quiets TensorFlow's C++ start-up lines (oneDNN, CPU features); they go to stderr, not to warnings.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import dataclasses
import importlib
import re
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any, cast

import numpy as np
import pytest

import fastoutput
from ._helpers import field_names, keys, transformers_major

# The ``frameworks`` extra, which tools/test.sh installs in every leg.
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

# Used as a module (typed ModuleType): the classes' annotations, copied from transformers, say
# ``hidden_states: tuple[tf.Tensor] | None`` (one-element tuples), which the tests do not mean to check.
FO_TF: ModuleType = importlib.import_module("fastoutput.modeling_tf_outputs")

# transformers 4.57.6's TF classes; transformers 5.x removed the module.
HF_TF: ModuleType | None = (
    importlib.import_module("transformers.modeling_tf_outputs") if (transformers_major() or 5) < 5 else None
)

# The comparison half of each scenario (the fastoutput half runs everywhere).
needs_hf_tf = pytest.mark.skipif(
    HF_TF is None, reason="transformers 5.x has no modeling_tf_outputs (compared under 4.57.6)"
)

# Every class of transformers 4.57.6's modeling_tf_outputs, in its module's order: field names in
# order (every default is None). Written once from that module; test_embedded_list_is_transformers_4_57_6
# checks it under 4.57.6.
TF_CLASSES: dict[str, str] = {
    "TFBaseModelOutput": "last_hidden_state hidden_states attentions",
    "TFBaseModelOutputWithNoAttention": "last_hidden_state hidden_states",
    "TFBaseModelOutputWithPooling": "last_hidden_state pooler_output hidden_states attentions",
    "TFBaseModelOutputWithPoolingAndNoAttention": "last_hidden_state pooler_output hidden_states",
    "TFBaseModelOutputWithPoolingAndCrossAttentions":
        "last_hidden_state pooler_output past_key_values hidden_states attentions cross_attentions",
    "TFBaseModelOutputWithPast": "last_hidden_state past_key_values hidden_states attentions",
    "TFBaseModelOutputWithCrossAttentions": "last_hidden_state hidden_states attentions cross_attentions",
    "TFBaseModelOutputWithPastAndCrossAttentions":
        "last_hidden_state past_key_values hidden_states attentions cross_attentions",
    "TFSeq2SeqModelOutput": "last_hidden_state past_key_values decoder_hidden_states decoder_attentions"
        " cross_attentions encoder_last_hidden_state encoder_hidden_states encoder_attentions",
    "TFCausalLMOutput": "loss logits hidden_states attentions",
    "TFCausalLMOutputWithPast": "loss logits past_key_values hidden_states attentions",
    "TFCausalLMOutputWithCrossAttentions": "loss logits past_key_values hidden_states attentions cross_attentions",
    "TFMaskedLMOutput": "loss logits hidden_states attentions",
    "TFSeq2SeqLMOutput": "loss logits past_key_values decoder_hidden_states decoder_attentions cross_attentions"
        " encoder_last_hidden_state encoder_hidden_states encoder_attentions",
    "TFNextSentencePredictorOutput": "loss logits hidden_states attentions",
    "TFSequenceClassifierOutput": "loss logits hidden_states attentions",
    "TFSeq2SeqSequenceClassifierOutput": "loss logits past_key_values decoder_hidden_states decoder_attentions"
        " cross_attentions encoder_last_hidden_state encoder_hidden_states encoder_attentions",
    "TFSemanticSegmenterOutput": "loss logits hidden_states attentions",
    "TFSemanticSegmenterOutputWithNoAttention": "loss logits hidden_states",
    "TFImageClassifierOutput": "loss logits hidden_states attentions",
    "TFMultipleChoiceModelOutput": "loss logits hidden_states attentions",
    "TFTokenClassifierOutput": "loss logits hidden_states attentions",
    "TFQuestionAnsweringModelOutput": "loss start_logits end_logits hidden_states attentions",
    "TFSeq2SeqQuestionAnsweringModelOutput": "loss start_logits end_logits past_key_values decoder_hidden_states"
        " decoder_attentions encoder_last_hidden_state encoder_hidden_states encoder_attentions",
    "TFSequenceClassifierOutputWithPast": "loss logits past_key_values hidden_states attentions",
    "TFImageClassifierOutputWithNoAttention": "loss logits hidden_states",
    "TFMaskedImageModelingOutput": "loss reconstruction hidden_states attentions",
}
# Members other than the fields and dunders: only the deprecated alias.
TF_EXTRA_MEMBERS: dict[str, set[str]] = {"TFMaskedImageModelingOutput": {"logits"}}

LOGITS_WARNING = (
    "logits attribute is deprecated and will be removed in version 5 of Transformers."
    " Please use the reconstruction attribute to retrieve the final output instead."
)


# --------------------------------------------------------------------------------------------------
# Helpers


def output_base(module: ModuleType) -> type:
    """The ``ModelOutput`` base of the classes in ``module``."""
    if module is FO_TF:
        return fastoutput.ModelOutput
    from transformers.utils.generic import ModelOutput

    return ModelOutput


def module_classes(module: ModuleType) -> dict[str, Any]:
    """The output classes defined in ``module``, in definition order."""
    base = output_base(module)
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, base) and value.__module__ == module.__name__
    }


def traced(function: Callable[..., Any]) -> Callable[..., Any]:
    """``tf.function(function)`` (``tf.function`` is untyped)."""
    return cast("Callable[..., Any]", tf.function(function))


def norm(value: Any, module: ModuleType) -> Any:
    """Comparable form of ``value`` (outputs of ``module``'s classes by class name, keys and fields)."""
    if isinstance(value, output_base(module)):
        cls: Any = type(value)
        relation = "class of the module" if getattr(module, cls.__name__, None) is cls else cls.__qualname__
        return (
            "output",
            cls.__name__,
            relation,
            [(key, norm(item, module)) for key, item in cast(Any, value).items()],
            [(name, norm(getattr(value, name), module)) for name in field_names(cls)],
        )
    if isinstance(value, tf.Tensor):
        return ("tf.Tensor", value.dtype.name, tuple(value.shape), value.numpy().tolist())
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, value.tolist())
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, [norm(item, module) for item in value])
    if isinstance(value, dict):
        return (type(value).__name__, [(key, norm(item, module)) for key, item in value.items()])
    return value


_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def error_form(error: BaseException, module: ModuleType) -> tuple[str, str]:
    """An exception's type and message, with the classes' module name and addresses normalised."""
    message = _ADDRESS.sub("0x?", str(error)).replace(module.__name__, "<tf outputs>")
    return type(error).__name__, message


def outcome(fn: Callable[[], Any], module: ModuleType) -> tuple[Any, ...]:
    """``("ok", norm(result))`` or ``("raises", type, message)``."""
    try:
        result = fn()
    except Exception as error:  # noqa: BLE001 - the outcome is what is compared
        return ("raises", *error_form(error, module))
    return ("ok", norm(result, module))


def assert_same_in_both(scenario: Callable[[ModuleType], Any]) -> None:
    """``scenario`` gives equal results on fastoutput's classes and on transformers 4.57.6's."""
    assert HF_TF is not None
    assert scenario(FO_TF) == scenario(HF_TF)


def const(*shape: int, start: float = 0.0) -> Any:
    """A float32 eager tensor of ``shape`` holding start, start+1, ..."""
    size = int(np.prod(shape)) if shape else 1
    return tf.reshape(tf.range(start, start + size, dtype=tf.float32), shape)


# --------------------------------------------------------------------------------------------------
# 1. The classes


@pytest.mark.parametrize("name", list(TF_CLASSES))
def test_class_has_the_4_57_6_name_fields_and_defaults(name: str) -> None:
    """Each class is a plain (non-frozen) dataclass on fastoutput's ``ModelOutput`` with 4.57.6's name,
    field names and order, ``None`` defaults, and no members beyond the fields (except the alias)."""
    cls: Any = getattr(FO_TF, name)
    assert cls.__name__ == cls.__qualname__ == name
    assert cls.__module__ == "fastoutput.modeling_tf_outputs"
    assert cls.__bases__ == (fastoutput.ModelOutput,)
    assert keys(cls()) == []
    assert not cls.__dataclass_params__.frozen
    assert dataclasses.is_dataclass(cls)
    fields = dataclasses.fields(cls)
    assert [f.name for f in fields] == TF_CLASSES[name].split()
    assert all(f.default is None and f.default_factory is dataclasses.MISSING and f.init for f in fields)
    members = {m for m in vars(cls) if not m.startswith("__")} - {f.name for f in fields}
    assert members == TF_EXTRA_MEMBERS.get(name, set())


def test_module_holds_exactly_the_4_57_6_classes() -> None:
    """The module defines and exports the 27 classes of transformers 4.57.6, and no other output class."""
    assert sorted(module_classes(FO_TF)) == sorted(TF_CLASSES)
    assert sorted(FO_TF.__all__) == sorted(TF_CLASSES)


@pytest.mark.transformers
@needs_hf_tf
def test_embedded_list_is_transformers_4_57_6() -> None:
    """The embedded list is transformers 4.57.6's module: same classes in the same order, same fields
    and defaults, same extra members, same dataclass parameters as fastoutput's classes."""
    assert HF_TF is not None
    hf_classes = module_classes(HF_TF)
    assert {name: " ".join(field_names(cls)) for name, cls in hf_classes.items()} == TF_CLASSES
    assert list(hf_classes) == list(TF_CLASSES)
    for name, hf_cls in hf_classes.items():
        fo_cls = getattr(FO_TF, name)
        assert all(f.default is None for f in dataclasses.fields(hf_cls)), name
        hf_members = {m for m in vars(hf_cls) if not m.startswith("__")} - set(field_names(hf_cls))
        assert hf_members == TF_EXTRA_MEMBERS.get(name, set()), name
        assert repr(fo_cls.__dataclass_params__) == repr(hf_cls.__dataclass_params__), name
        assert hf_cls.__bases__ == (output_base(HF_TF),), name


def logits_alias_ops(module: ModuleType) -> list[Any]:
    """What reading, writing and deleting ``logits`` do, with the warnings each raises."""
    cls = module.TFMaskedImageModelingOutput
    reconstruction = const(1, 2)
    out = cls(reconstruction=reconstruction)
    empty = cls(loss=const(1))
    results = []
    operations: list[Callable[[], Any]] = [
        lambda: out.logits is reconstruction,
        lambda: empty.logits,
        lambda: (out.logits, out.logits)[0] is reconstruction,  # warns on each read
        lambda: setattr(out, "logits", const(1)),
        lambda: delattr(out, "logits"),
        lambda: out["logits"],
        lambda: "logits" in out,
        lambda: keys(out),
        lambda: out.to_tuple()[0] is reconstruction,
        lambda: cls(logits=reconstruction),
        lambda: type(out).logits.fset,
    ]
    for operation in operations:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = outcome(operation, module)
        results.append((result, [(w.category.__name__, str(w.message)) for w in caught]))
    return results


def test_masked_image_modeling_logits_is_a_read_only_alias() -> None:
    """``TFMaskedImageModelingOutput.logits`` returns ``reconstruction`` (the same object) with a
    ``FutureWarning`` on every read; it is no field and no key, and cannot be set, deleted or passed."""
    cls = FO_TF.TFMaskedImageModelingOutput
    reconstruction = const(1, 2)
    out = cls(reconstruction=reconstruction)
    with pytest.warns(FutureWarning, match=re.escape(LOGITS_WARNING)) as caught:
        reads = (out.logits, out.logits)
    assert reads[0] is reads[1] is reconstruction
    assert [type(w.message) for w in caught] == [FutureWarning, FutureWarning]
    with pytest.warns(FutureWarning, match=re.escape(LOGITS_WARNING)):
        assert cls().logits is None
    with pytest.raises(AttributeError, match="logits"):
        out.logits = const(1)
    with pytest.raises(AttributeError, match="logits"):
        del out.logits
    with pytest.raises(KeyError):
        out["logits"]
    with pytest.raises(TypeError, match="logits"):
        cls(logits=reconstruction)
    assert keys(out) == ["reconstruction"] and "logits" not in out
    assert out.reconstruction is reconstruction


@pytest.mark.transformers
@needs_hf_tf
def test_logits_alias_same_as_transformers() -> None:
    """Reading, setting, deleting and passing ``logits`` give transformers 4.57.6's results, errors
    and warnings."""
    assert_same_in_both(logits_alias_ops)


# --------------------------------------------------------------------------------------------------
# 2. Values held by reference; the first-field rule on tf.Tensor


def by_reference(module: ModuleType) -> dict[str, Any]:
    """For every class, built with a distinct tensor in every field (tuples of tensors for the
    tuple-typed ones), by keyword and positionally: the keys, and whether every access path returns
    the very objects passed in."""
    report: dict[str, Any] = {}
    for name, fields in TF_CLASSES.items():
        cls = getattr(module, name)
        values: list[Any] = [
            (const(1, 2, start=i), const(1, 2, start=-i))
            if field.endswith(("states", "attentions"))
            else const(1, 2, start=i)
            for i, field in enumerate(fields.split())
        ]
        for out in (cls(**dict(zip(fields.split(), values, strict=True))), cls(*values)):
            identical = all(
                getattr(out, field) is value and out[field] is value and out[i] is value
                for i, (field, value) in enumerate(zip(fields.split(), values, strict=True))
            )
            identical = identical and all(a is b for a, b in zip(out.to_tuple(), values, strict=True))
            identical = identical and all(a is b for a, b in zip(out.values(), values, strict=True))
            report.setdefault(name, []).append((keys(out), identical))
    return report


def test_tensors_are_held_by_reference() -> None:
    """Every class holds the ``tf.Tensor``s (and tuples of them) it is given by reference: attribute,
    key, index, ``to_tuple()`` and ``values()`` return the objects passed in, keyword or positional."""
    for name, results in by_reference(FO_TF).items():
        assert results == [(TF_CLASSES[name].split(), True)] * 2, name


@pytest.mark.transformers
@needs_hf_tf
def test_tensors_by_reference_same_as_transformers() -> None:
    """Keys and identities of every class built from tensors are transformers 4.57.6's."""
    assert_same_in_both(by_reference)


FIRST_FIELDS: dict[str, Callable[[], Any]] = {
    "matrix": lambda: const(2, 3),
    "scalar": lambda: tf.constant(3.0),
    "strings": lambda: tf.constant(["a", "b"]),
    "string pairs": lambda: tf.constant([["last_hidden_state", "x"], ["attentions", "y"]]),
}


class IterSpy:
    """Counts ``tf.Tensor.__iter__`` calls (eager and symbolic tensors) while installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        original = tf.Tensor.__iter__

        def spy(tensor: Any) -> Any:
            self.calls.append(type(tensor).__name__)
            return original(tensor)

        monkeypatch.setattr(tf.Tensor, "__iter__", spy)


def first_field_eager(module: ModuleType, make: Callable[[], Any]) -> Any:
    """An eager tensor as the only argument, and as the first of two positional arguments."""
    cls = module.TFBaseModelOutput
    value = make()
    alone = cls(value)
    hidden = (const(1),)
    two = cls(value, hidden)
    return (
        keys(alone), alone[0] is value, alone.last_hidden_state is value,
        keys(two), two[0] is value, two[1] is hidden,
    )


@pytest.mark.parametrize("kind", list(FIRST_FIELDS))
def test_eager_tensor_first_field_is_a_value(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An eager ``tf.Tensor`` first field (any shape or dtype, even rows of two strings that spell
    field names) is the field's value: one key, the same object, never iterated looking for pairs."""
    spy = IterSpy(monkeypatch)
    assert first_field_eager(FO_TF, FIRST_FIELDS[kind]) == (
        ["last_hidden_state"], True, True, ["last_hidden_state", "hidden_states"], True, True
    )
    assert spy.calls == []
    list(const(2))  # the spy does see an iteration
    assert spy.calls == ["EagerTensor"]


@pytest.mark.transformers
@needs_hf_tf
@pytest.mark.parametrize("kind", list(FIRST_FIELDS))
def test_eager_tensor_first_field_same_as_transformers(kind: str) -> None:
    """Keys and identities after an eager tensor first field are transformers 4.57.6's (which, with
    ``USE_TF=0``, iterates the tensor and finds no pairs)."""
    assert_same_in_both(lambda module: first_field_eager(module, FIRST_FIELDS[kind]))


def first_field_symbolic(module: ModuleType, spy: IterSpy | None = None) -> Any:
    """A symbolic tensor as the first field inside ``tf.function``: what the trace saw, and the
    output the call returned."""
    cls = module.TFBaseModelOutput
    seen: list[Any] = []

    @traced
    def build(x: Any) -> Any:
        out = cls(x)
        two = cls(x * 2.0, (x,))
        seen.append((type(x).__name__, keys(out), out[0] is x, out.last_hidden_state is x, keys(two)))
        if spy is not None:
            seen.append(list(spy.calls))
        return out

    returned = build(const(2, 2))
    return seen, norm(returned, module)


def test_symbolic_tensor_first_field_is_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside ``tf.function`` a symbolic first field is the field's value (same object, one key, never
    iterated), and the output comes back from the call as the class with that key."""
    spy = IterSpy(monkeypatch)
    seen, returned = first_field_symbolic(FO_TF, spy)
    assert seen == [
        ("SymbolicTensor", ["last_hidden_state"], True, True, ["last_hidden_state", "hidden_states"]),
        [],
    ]
    assert returned == norm(FO_TF.TFBaseModelOutput(last_hidden_state=const(2, 2)), FO_TF)


@pytest.mark.transformers
@needs_hf_tf
def test_symbolic_tensor_first_field_same_as_transformers() -> None:
    """Inside ``tf.function`` the trace sees, and the call returns, what transformers 4.57.6 gives."""
    assert_same_in_both(first_field_symbolic)


# --------------------------------------------------------------------------------------------------
# 3. tf.function


def through_tf_function(module: ModuleType) -> Any:
    """Outputs returned from a ``tf.function`` (two calls of one trace), and an output passed in."""
    base_cls = module.TFBaseModelOutput
    qa_cls = module.TFQuestionAnsweringModelOutput

    @traced
    def forward(x: Any) -> Any:
        hidden = base_cls(last_hidden_state=x * 2.0, hidden_states=(x, x + 1.0))  # attentions None
        qa = qa_cls(start_logits=x[:, 0], end_logits=x[:, 1])
        qa["loss"] = tf.reduce_sum(x)  # added last: neither field order nor sorted order
        return hidden, qa

    seen: list[Any] = []

    @traced
    def loss(out: Any) -> Any:
        seen.append((type(out).__name__, getattr(module, type(out).__name__) is type(out), keys(out)))
        return tf.reduce_sum(out.last_hidden_state) + tf.reduce_sum(out["hidden_states"][1])

    first = forward(const(2, 2))
    second = forward(const(2, 2, start=10.0))
    losses = [loss(output).numpy().item() for output in (first[0], second[0])]
    return norm(first, module), norm(second, module), losses, seen


def test_tf_function_returns_the_class() -> None:
    """A ``tf.function`` returning outputs gives instances of the same classes back, call after call,
    with the traced keys in their order (a key set after construction stays last), ``None`` fields
    left out of the keys and ``None`` as attributes; an output passed in is its class in the trace."""
    first, second, losses, seen = through_tf_function(FO_TF)
    for got, start in ((first, 0.0), (second, 10.0)):
        x = const(2, 2, start=start)
        hidden = FO_TF.TFBaseModelOutput(last_hidden_state=x * 2.0, hidden_states=(x, x + 1.0))
        qa = FO_TF.TFQuestionAnsweringModelOutput(start_logits=x[:, 0], end_logits=x[:, 1])
        qa["loss"] = tf.reduce_sum(x)
        assert keys(hidden) == ["last_hidden_state", "hidden_states"]
        assert keys(qa) == ["start_logits", "end_logits", "loss"]
        assert got == norm((hidden, qa), FO_TF)  # same classes, keys in order, fields (None ones too), values
    # sum(2x) + sum(x + 1) over x = 0..3, then x = 10..13
    assert losses == [2 * 6 + 10, 2 * 46 + 50]
    assert seen == [("TFBaseModelOutput", True, ["last_hidden_state", "hidden_states"])]


@pytest.mark.transformers
@needs_hf_tf
def test_tf_function_same_as_transformers() -> None:
    """The same ``tf.function``s on transformers 4.57.6's classes return equal outputs (class, keys in
    order, fields, values) and trace once with the same view of the input."""
    assert_same_in_both(through_tf_function)


# --------------------------------------------------------------------------------------------------
# 4. tf.nest


def nest_leaves() -> tuple[Any, ...]:
    """hidden_states[0], hidden_states[1], start_logits, end_logits, loss."""
    return tuple(const(1, 2, start=4.0 * i) for i in range(5))


def nest_output(module: ModuleType, leaves: tuple[Any, ...]) -> Any:
    """A question-answering output with a ``None`` field (attentions) and a key set after construction
    (loss): keys start_logits, end_logits, hidden_states, loss."""
    h1, h2, start, end, loss = leaves
    out = module.TFQuestionAnsweringModelOutput(start_logits=start, end_logits=end, hidden_states=(h1, h2))
    out["loss"] = loss
    return out


def nest_round_trips(module: ModuleType) -> dict[str, Any]:
    """``flatten``, ``pack_sequence_as`` and ``map_structure`` on ``nest_output``."""
    leaves = nest_leaves()
    h1, h2, start, end, loss = leaves
    out = nest_output(module, leaves)
    flat = tf.nest.flatten(out)
    packed = tf.nest.pack_sequence_as(out, flat)
    tf.nest.assert_same_structure(out, packed)
    to_none = tf.nest.map_structure(lambda t: None, out)
    return {
        "is_nested": tf.nest.is_nested(out),
        "flat identities": [leaf is expected for leaf, expected in zip(flat, (end, h1, h2, loss, start), strict=True)],
        "composites": norm(tf.nest.flatten(out, expand_composites=True), module),
        "packed": norm(packed, module),
        "packed type": type(packed) is type(out),
        "packed identities": [a is b for a, b in zip(tf.nest.flatten(packed), flat, strict=True)],
        "mapped": norm(tf.nest.map_structure(lambda t: t * 10.0, out), module),
        "summed": norm(tf.nest.map_structure(tf.add, out, packed), module),
        "to None": norm(to_none, module),
        "to None attributes": [getattr(to_none, name) for name in field_names(type(out))],
    }


def test_tf_nest_round_trips_keep_the_class() -> None:
    """``tf.nest.flatten`` gives the very tensors in sorted-key order; ``pack_sequence_as`` and
    ``map_structure`` rebuild the same class with the keys in the instance's order (neither field nor
    sorted order here) and the ``None`` field left out; mapping every leaf to ``None`` keeps the keys,
    with ``None`` values."""
    got = nest_round_trips(FO_TF)
    assert got["is_nested"] is True
    assert got["flat identities"] == [True] * 5
    h1, h2, start, end, loss = nest_leaves()
    assert got["composites"] == norm([end, h1, h2, loss, start], FO_TF)
    assert got["packed type"] is True
    assert got["packed identities"] == [True] * 5
    assert got["packed"] == norm(nest_output(FO_TF, nest_leaves()), FO_TF)
    tenfold = tuple(leaf * 10.0 for leaf in nest_leaves())
    assert got["mapped"] == norm(nest_output(FO_TF, tenfold), FO_TF)
    doubled = tuple(leaf * 2.0 for leaf in nest_leaves())
    assert got["summed"] == norm(nest_output(FO_TF, doubled), FO_TF)
    order = ["start_logits", "end_logits", "hidden_states", "loss"]
    assert [key for key, _ in got["packed"][3]] == order
    assert dict(got["packed"][4])["attentions"] is None
    assert got["to None"][:4] == (
        "output",
        "TFQuestionAnsweringModelOutput",
        "class of the module",
        [("start_logits", None), ("end_logits", None), ("hidden_states", ("tuple", [None, None])), ("loss", None)],
    )
    # loss, start_logits, end_logits, hidden_states, attentions
    assert got["to None attributes"] == [None, None, None, (None, None), None]


@pytest.mark.transformers
@needs_hf_tf
def test_tf_nest_same_as_transformers() -> None:
    """``tf.nest`` flattens, packs and maps fastoutput's outputs exactly as transformers 4.57.6's."""
    assert_same_in_both(nest_round_trips)


# --------------------------------------------------------------------------------------------------
# 5. Keras 3


KerasModel: Any = keras.Model


class TinyModel(KerasModel):  # type: ignore[misc]
    """A Dense layer (all-ones kernel, zero bias) whose ``call`` returns ``output_cls``."""

    def __init__(self, output_cls: type) -> None:
        super().__init__(name="tiny")
        self.output_cls = output_cls
        self.dense = keras.layers.Dense(3, kernel_initializer="ones", bias_initializer="zeros", name="dense")

    def call(self, inputs: Any) -> Any:
        hidden = self.dense(inputs)
        return self.output_cls(last_hidden_state=hidden, hidden_states=(inputs, hidden))


KERAS_INPUT = np.arange(8, dtype="float32").reshape(4, 2)


def through_keras(module: ModuleType) -> dict[str, Any]:
    """The model called eagerly, called on a symbolic ``keras.Input``, and run through ``predict``
    in one batch and in two."""
    model = TinyModel(module.TFBaseModelOutput)
    eager = model(KERAS_INPUT)
    return {
        "eager": norm(eager, module),
        "eager type is the class": type(eager) is module.TFBaseModelOutput,
        "keras.tree nests it": keras.tree.is_nested(eager),
        "symbolic": outcome(lambda: model(keras.Input((2,), name="x")), module),
        "predict, one batch": outcome(lambda: model.predict(KERAS_INPUT, batch_size=4, verbose=0), module),
        "predict, two batches": outcome(lambda: model.predict(KERAS_INPUT, batch_size=2, verbose=0), module),
    }


def test_keras_model_returning_an_output() -> None:
    """Called eagerly, the model returns the class with the Dense output and the hidden states.
    Keras 3's tree (optree) knows no ``ModelOutput`` (a leaf, as transformers 4.57.6's classes are),
    so a symbolic call and ``predict`` raise the errors they raise for transformers' classes."""
    got = through_keras(FO_TF)
    hidden = KERAS_INPUT.sum(axis=1, keepdims=True).repeat(3, axis=1)
    expected = FO_TF.TFBaseModelOutput(
        last_hidden_state=tf.constant(hidden), hidden_states=(tf.constant(KERAS_INPUT), tf.constant(hidden))
    )
    assert got["eager"] == norm(expected, FO_TF)
    assert got["eager type is the class"] is True
    assert got["keras.tree nests it"] is False
    kind, error, message = got["symbolic"]
    assert (kind, error) == ("raises", "ValueError")
    assert message.startswith("All operation outputs must be tensors.")
    assert "Non-tensor received: TFBaseModelOutput(last_hidden_state=" in message
    assert got["predict, one batch"] == (
        "raises", "AttributeError", "'TFBaseModelOutput' object has no attribute 'numpy'"
    )
    kind, error, message = got["predict, two batches"]
    assert (kind, error) == ("raises", "ValueError")
    assert message.startswith("Attempt to convert a value (TFBaseModelOutput(last_hidden_state=<tf.Tensor")
    assert message.endswith("with an unsupported type (<class '<tf outputs>.TFBaseModelOutput'>) to a Tensor.")


@pytest.mark.transformers
@needs_hf_tf
def test_keras_same_as_transformers() -> None:
    """The same model returning transformers 4.57.6's class: the eager result is its class with equal
    keys and arrays, and the symbolic call and ``predict`` end the same way (same error, same message)."""
    assert_same_in_both(through_keras)
