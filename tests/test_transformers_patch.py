"""``patch_transformers()`` itself: which classes are replaced, how, and that unpatching undoes it.

Pins, on both transformers lines: every ModelOutput subclass transformers defines (``modeling_outputs``,
generation outputs, model-specific classes, the base under every exported name) is replaced by a
fastoutput-backed class with the same module, qualified name and fields; references to the originals
taken before patching still accept the new outputs (``isinstance``/``issubclass``); patching works
before ``import transformers`` too, is idempotent, and ``unpatch_transformers()`` restores every
original. Under transformers 5.x, the stand-ins behave as 5.x's classes in every row of the spec's
§11.2 (the ``cache`` rename), compared with the real 5.x classes.

The whole suite runs against both implementations (``tools/test.sh``); the real-model proofs are in
``test_transformers_models.py``, ``test_transformers_integration.py`` and ``test_transformers_compile.py``.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import logging
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from torch.utils import _pytree

import fastoutput

from ._helpers import IS_CPP, transformers_major

pytestmark = pytest.mark.transformers

# Typed as Any: transformers' modules are untyped for mypy.
for _module in ("generation.utils", "modeling_outputs", "models.clip.modeling_clip", "utils.generic"):
    importlib.import_module(f"transformers.{_module}")
transformers: Any = importlib.import_module("transformers")

MAJOR = transformers_major()
ORIGINAL_ROOT = transformers.utils.ModelOutput
GENERATION_NAMES = [
    "GenerateDecoderOnlyOutput",
    "GenerateEncoderDecoderOutput",
    "GenerateBeamDecoderOnlyOutput",
    "GenerateBeamEncoderDecoderOutput",
]


def output_classes(module: Any) -> dict[str, type]:
    """The ModelOutput subclasses ``module`` binds, by name (aliases included)."""
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, (ORIGINAL_ROOT, fastoutput.ModelOutput))
    }


ORIGINAL_MODELING_OUTPUTS = output_classes(transformers.modeling_outputs)
ORIGINAL_GENERATION = {name: getattr(transformers.generation.utils, name) for name in GENERATION_NAMES}
ORIGINAL_CLIP_OUTPUT = transformers.models.clip.modeling_clip.CLIPOutput


def field_spec(cls: type) -> list[tuple[str, Any]]:
    return [(field.name, field.default) for field in dataclasses.fields(cls)]


@pytest.fixture(autouse=True)
def _left_unpatched() -> Iterator[None]:
    assert not fastoutput.transformers_patched()
    yield
    fastoutput.unpatch_transformers()


def test_every_modeling_output_is_replaced_by_a_stand_in_of_the_same_name_and_fields() -> None:
    """Each class of transformers.modeling_outputs (aliases too) becomes a fastoutput class with the
    original's module, qualified name and field list (names, order, defaults)."""
    assert len(ORIGINAL_MODELING_OUTPUTS) > 40
    with fastoutput.patch_transformers():
        for name, original in ORIGINAL_MODELING_OUTPUTS.items():
            stand_in = getattr(transformers.modeling_outputs, name)
            assert stand_in is not original, name
            assert issubclass(stand_in, fastoutput.ModelOutput), name
            assert (stand_in.__module__, stand_in.__qualname__) == (original.__module__, original.__qualname__)
            assert dataclasses.is_dataclass(stand_in) == dataclasses.is_dataclass(original), name
            if dataclasses.is_dataclass(original):
                assert field_spec(stand_in) == field_spec(original), name
    for name, original in ORIGINAL_MODELING_OUTPUTS.items():
        assert getattr(transformers.modeling_outputs, name) is original, name


def test_the_base_class_is_replaced_under_every_name_transformers_exports_it() -> None:
    """``transformers.utils.ModelOutput``, ``transformers.utils.generic.ModelOutput``, the name in
    ``modeling_outputs`` and the old ``transformers.file_utils`` path are one stand-in: fastoutput's
    ModelOutput under transformers' name."""
    with fastoutput.patch_transformers():
        root = transformers.utils.ModelOutput
        assert root is not ORIGINAL_ROOT
        assert root is transformers.utils.generic.ModelOutput is transformers.modeling_outputs.ModelOutput
        assert importlib.import_module("transformers.file_utils").ModelOutput is root  # the old import path
        assert root.__bases__ == (fastoutput.ModelOutput,)
        assert (root.__module__, root.__qualname__) == ("transformers.utils.generic", "ModelOutput")
    assert transformers.utils.ModelOutput is ORIGINAL_ROOT


def test_generation_and_model_specific_outputs_are_replaced() -> None:
    """Generation outputs (with 4.57's legacy aliases pointing at the same stand-in) and a class a
    model file declares itself (CLIP's, with its own to_tuple) are stand-ins too."""
    with fastoutput.patch_transformers():
        for name, original in ORIGINAL_GENERATION.items():
            stand_in = getattr(transformers.generation.utils, name)
            assert issubclass(stand_in, fastoutput.ModelOutput) and stand_in.__qualname__ == original.__qualname__
            assert field_spec(stand_in) == field_spec(original)
        if MAJOR == 4:
            utils = transformers.generation.utils
            assert utils.GreedySearchDecoderOnlyOutput is utils.GenerateDecoderOnlyOutput
            assert utils.BeamSampleEncoderDecoderOutput is utils.GenerateBeamEncoderDecoderOutput
        clip_output = transformers.models.clip.modeling_clip.CLIPOutput
        assert issubclass(clip_output, fastoutput.ModelOutput)
        assert clip_output.to_tuple.__code__ is ORIGINAL_CLIP_OUTPUT.to_tuple.__code__
        vision = transformers.modeling_outputs.BaseModelOutputWithPooling(last_hidden_state=torch.ones(1))
        out = clip_output(logits_per_image=torch.zeros(1), vision_model_output=vision)
        assert len(out.to_tuple()) == 2 and out.to_tuple()[1] == vision.to_tuple()


def test_outputs_of_stand_ins_pass_checks_against_the_original_classes() -> None:
    """References taken before patching keep working: isinstance/issubclass against the original
    base and the original class hold for stand-in outputs (also after unpatching, for outputs made
    while patched), and not for unrelated classes."""
    original = ORIGINAL_MODELING_OUTPUTS["BaseModelOutputWithPast"]
    with fastoutput.patch_transformers():
        stand_in = transformers.modeling_outputs.BaseModelOutputWithPast
        out = stand_in(last_hidden_state=torch.ones(1))
        assert isinstance(out, ORIGINAL_ROOT) and isinstance(out, original)
        assert issubclass(stand_in, ORIGINAL_ROOT) and issubclass(stand_in, original)
        assert isinstance(out, fastoutput.ModelOutput) and isinstance(out, stand_in)
        assert not isinstance(out, ORIGINAL_MODELING_OUTPUTS["CausalLMOutputWithPast"])
        assert not isinstance({}, ORIGINAL_ROOT)
        assert isinstance(original(last_hidden_state=torch.ones(1)), original)  # the originals still work
    # Outputs made while patched outlive the patch: the originals keep accepting them.
    assert isinstance(out, original) and isinstance(out, ORIGINAL_ROOT)
    assert not isinstance(out, ORIGINAL_MODELING_OUTPUTS["CausalLMOutputWithPast"])
    assert transformers.modeling_outputs.BaseModelOutputWithPast is original


def test_patching_is_idempotent_and_gives_the_same_classes_each_time() -> None:
    """A second patch changes nothing; patch, unpatch, patch gives the same stand-in objects; the
    context manager restores what it found (nested inside a patch it leaves the patch in place)."""
    handle = fastoutput.patch_transformers()
    first = transformers.modeling_outputs.CausalLMOutputWithPast
    fastoutput.patch_transformers()
    assert transformers.modeling_outputs.CausalLMOutputWithPast is first
    with fastoutput.patch_transformers():
        pass
    assert fastoutput.transformers_patched()
    with handle:  # entered after it patched: it was the one that patched
        pass
    assert not fastoutput.transformers_patched()
    assert transformers.modeling_outputs.CausalLMOutputWithPast is ORIGINAL_MODELING_OUTPUTS["CausalLMOutputWithPast"]
    with fastoutput.patch_transformers():
        assert transformers.modeling_outputs.CausalLMOutputWithPast is first
    fastoutput.unpatch_transformers()  # a no-op when not patched
    assert not fastoutput.transformers_patched()


def test_stand_ins_take_the_native_constructor() -> None:
    """The C++ core builds stand-ins natively on both lines (5.x's keyword renaming wrapper is
    recognised), which is where the speed of a patched model comes from."""
    if not IS_CPP:
        pytest.skip("the twin has no native constructor")  # the cpp runs of the suite check this
    from fastoutput import _core

    with fastoutput.patch_transformers():
        for name in ("BaseModelOutputWithPast", "CausalLMOutputWithPast", "SequenceClassifierOutput"):
            assert _core.build_mode(getattr(transformers.modeling_outputs, name)) == "native", name
        assert _core.build_mode(transformers.generation.utils.GenerateDecoderOnlyOutput) == "native"


def test_pickles_and_serialized_type_names_stay_valid() -> None:
    """A stand-in pickles under transformers' name: loaded while patched it is the stand-in, loaded
    after unpatching it is transformers' class, and a pickle made unpatched loads as the stand-in.
    torch.export's serialized type name is transformers' and names the stand-in while patched."""
    original = ORIGINAL_MODELING_OUTPUTS["CausalLMOutputWithPast"]
    name = "transformers.modeling_outputs.CausalLMOutputWithPast"
    unpatched_pickle = pickle.dumps(original(logits=torch.ones(2)))
    with fastoutput.patch_transformers():
        stand_in = transformers.modeling_outputs.CausalLMOutputWithPast
        out = stand_in(logits=torch.ones(2), loss=torch.zeros(()))
        data = pickle.dumps(out)
        assert type(pickle.loads(data)) is stand_in and type(copy.deepcopy(out)) is stand_in
        assert type(pickle.loads(unpatched_pickle)) is stand_in
        assert _pytree.SUPPORTED_SERIALIZED_TYPES[stand_in].serialized_type_name == name
        assert _pytree.SERIALIZED_TYPE_TO_PYTHON_TYPE[name] is stand_in
        leaves, spec = _pytree.tree_flatten(out)
        assert type(_pytree.tree_unflatten(leaves, spec)) is stand_in
    loaded: Any = pickle.loads(data)
    assert list(loaded.keys()) == ["loss", "logits"]
    assert type(loaded) is original
    assert _pytree.SERIALIZED_TYPE_TO_PYTHON_TYPE[name] is original


def test_a_class_defined_while_patched_gets_a_transformers_counterpart_on_unpatching() -> None:
    """A transformers module imported while patched declares its outputs on the stand-in base;
    unpatching rebinds them to transformers-based classes of the same name and fields, and patching
    again brings back the same fastoutput classes."""
    script = textwrap.dedent(
        """
        import dataclasses, sys
        import fastoutput
        fastoutput.patch_transformers()  # before transformers is imported at all
        import transformers
        from transformers.models.gpt2 import modeling_gpt2
        from transformers.utils import ModelOutput
        patched_class = modeling_gpt2.GPT2DoubleHeadsModelOutput
        assert issubclass(patched_class, fastoutput.ModelOutput) and ModelOutput.__bases__ == (fastoutput.ModelOutput,)
        assert issubclass(modeling_gpt2.CausalLMOutputWithCrossAttentions, fastoutput.ModelOutput)
        fields = [f.name for f in dataclasses.fields(patched_class)]
        fastoutput.unpatch_transformers()
        restored = modeling_gpt2.GPT2DoubleHeadsModelOutput
        assert not issubclass(restored, fastoutput.ModelOutput)
        assert issubclass(restored, transformers.utils.ModelOutput), restored.__mro__
        assert [f.name for f in dataclasses.fields(restored)] == fields
        assert restored.__qualname__ == patched_class.__qualname__ and restored.__module__ == patched_class.__module__
        fastoutput.patch_transformers()
        assert modeling_gpt2.GPT2DoubleHeadsModelOutput is patched_class
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def test_stand_ins_of_4_57_keep_their_class_specific_members() -> None:
    """MaskedImageModelingOutput.logits stays the deprecated read-only alias of ``reconstruction``
    (4.57); 5.x has no such member."""
    with fastoutput.patch_transformers():
        cls = transformers.modeling_outputs.MaskedImageModelingOutput
        out = cls(reconstruction=torch.ones(1))
        if MAJOR == 4:
            with pytest.warns(FutureWarning, match="logits attribute is deprecated"):
                assert out.logits is out.reconstruction
            assert "logits" not in [f.name for f in dataclasses.fields(cls)]
        else:
            with pytest.raises(AttributeError):
                out.logits  # noqa: B018


def test_set_metaclass_refuses_classes_it_cannot_change_safely() -> None:
    """The metaclass change behind the instance checks accepts only classes defined in Python, and a
    metaclass derived from (or the base of) the current one; the twin's ctypes version agrees."""
    set_metaclass: Callable[[type, type], None] = fastoutput._patch._set_metaclass

    class MetaA(type):
        pass

    class MetaB(type):
        pass

    class Plain(metaclass=MetaA):
        pass

    with pytest.raises(TypeError):
        set_metaclass(int, type)  # a static type
    with pytest.raises(TypeError):
        set_metaclass(Plain, int)  # not a metaclass
    with pytest.raises(TypeError):
        set_metaclass(Plain, MetaB)  # a sibling, not a base or a subclass
    set_metaclass(Plain, type)
    assert type(Plain) is type
    set_metaclass(Plain, MetaA)
    assert type(Plain) is MetaA and isinstance(Plain(), Plain)


# --- 5.x: the cache rename (spec §11.2), stand-ins against the real 5.x classes --------------------

needs_5 = pytest.mark.skipif(MAJOR != 5, reason="the cache rename exists in transformers 5.x only")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _observe(make: Callable[[dict[str, type]], Any], classes: dict[str, type]) -> tuple[Any, ...]:
    """What ``make(classes)`` does: result (keys, attributes) or exception, and the warnings logged."""
    logger = logging.getLogger("transformers.utils.generic")
    records = _Records()
    logger.addHandler(records)
    logging.Logger.warning_once.cache_clear()  # type: ignore[attr-defined]  # transformers' once-per-process cache
    try:
        try:
            result = make(classes)
        except Exception as error:  # noqa: BLE001 - the outcome is what is compared
            return ("raises", type(error).__name__, str(error), records.messages)
        if isinstance(result, dict):
            attributes = {name: getattr(result, name, "<missing>") for name in ("cache", "last_hidden_state")}
            return ("output", list(result.keys()), list(result.values()), attributes, records.messages)
        return ("value", result, records.messages)
    finally:
        logger.removeHandler(records)


class _Old:
    """Declares, on a given base, a 5.x user subclass with a field named past_key_values."""

    classes: dict[int, type] = {}

    @classmethod
    def on(cls, base: type) -> type:
        if id(base) not in cls.classes:

            @dataclasses.dataclass
            class Old(base):  # type: ignore[misc]
                last_hidden_state: Any = None
                past_key_values: Any = None

            cls.classes[id(base)] = Old
        return cls.classes[id(base)]


def _late_set(cls: type, name: str, how: str) -> Any:
    out = cls(last_hidden_state=1)
    if how == "attribute":
        setattr(out, name, "NEW")
    else:
        out[name] = "NEW"
    return out


RENAME_CASES: dict[str, Callable[[dict[str, type]], Any]] = {
    "keyword past_key_values": lambda c: c["B"](last_hidden_state=1, past_key_values="PKV"),
    "keyword cache_params": lambda c: c["B"](last_hidden_state=1, cache_params="PKV"),
    "keyword cache": lambda c: c["B"](cache=2),
    "positional": lambda c: c["B"](1, "PKV"),
    "both past_key_values and cache": lambda c: c["B"](past_key_values=1, cache=2),
    "both cache_params and cache": lambda c: c["B"](cache_params=1, cache=2),
    "past_key_values and cache_params": lambda c: c["B"](past_key_values=1, cache_params=2),
    "positional and past_key_values": lambda c: c["B"](1, 2, past_key_values=3),
    "no cache field": lambda c: c["BaseModelOutput"](past_key_values=1),
    "replace with an old name": lambda c: dataclasses.replace(c["B"](1, "PKV"), past_key_values="R"),
    "read past_key_values": lambda c: c["B"](last_hidden_state=1, cache="PKV").past_key_values,
    "read cache_params": lambda c: c["B"](last_hidden_state=1, cache="PKV").cache_params,
    "item past_key_values": lambda c: c["B"](last_hidden_state=1, cache="PKV")["past_key_values"],
    "item cache_params": lambda c: c["B"](last_hidden_state=1, cache="PKV")["cache_params"],
    "in": lambda c: ("past_key_values" in c["B"](last_hidden_state=1, cache="PKV"), "cache_params" in c["B"](1)),
    "get": lambda c: (c["B"](1, "PKV").get("past_key_values"), c["B"](1, "PKV").get("cache_params", 5)),
    "attribute set past_key_values": lambda c: _late_set(c["B"], "past_key_values", "attribute"),
    "item set past_key_values": lambda c: _late_set(c["B"], "past_key_values", "item"),
    "attribute set on a class without cache": lambda c: _late_set(c["BaseModelOutput"], "past_key_values", "attribute"),
    "item set on a class without cache": lambda c: _late_set(c["BaseModelOutput"], "cache_params", "item"),
    "missing cache read": lambda c: hasattr(c["BaseModelOutput"](), "past_key_values"),
    "missing cache item": lambda c: c["BaseModelOutput"](last_hidden_state=1)["past_key_values"],
    "base class with an old keyword": lambda c: c["ModelOutput"](past_key_values=1),
    "base class with an old key in a dict": lambda c: c["ModelOutput"]({"cache_params": 1}),
    "first field dict with an old key": lambda c: c["B"]({"last_hidden_state": 1, "past_key_values": 2}),
    "user subclass with past_key_values, keywords": lambda c: _Old.on(c["ModelOutput"])(last_hidden_state=1, past_key_values=2),
    "user subclass with past_key_values, positional": lambda c: _Old.on(c["ModelOutput"])(1.0, 2.0),
    "pytree round trip": lambda c: _pytree.tree_unflatten(*_pytree.tree_flatten(c["B"](torch.ones(1), "PKV"))),
    "pickle round trip": lambda c: pickle.loads(pickle.dumps(c["B"](1, "PKV"))),
}


def _five_classes() -> dict[str, type]:
    return {
        "B": transformers.modeling_outputs.BaseModelOutputWithPast,
        "BaseModelOutput": transformers.modeling_outputs.BaseModelOutput,
        "ModelOutput": transformers.utils.ModelOutput,
    }


@needs_5
@pytest.mark.parametrize("case", list(RENAME_CASES))
def test_5x_stand_ins_rename_the_cache_as_5x_does(case: str) -> None:
    """Every row of the spec's §11.2 gives the same result, error and warning on the stand-in as on
    transformers 5.x's own class (renamed keywords, both-names errors, item/attribute renaming, the
    read-only properties, `in`/`get`, the user subclass that still declares past_key_values)."""
    make = RENAME_CASES[case]
    expected = _observe(make, _five_classes())
    with fastoutput.patch_transformers():
        actual = _observe(make, _five_classes())
    assert actual == expected


@needs_5
def test_5x_bare_stand_in_base_keeps_fastoutputs_attribute_rule() -> None:
    """A bare stand-in ModelOutput (pipelines build them) accepts attribute assignment and updates an
    existing key, as fastoutput's base does; 5.x's own base raises (docs/compatibility.md 14)."""
    with pytest.raises(TypeError, match="must be called with a dataclass type or instance"):
        setattr(ORIGINAL_ROOT(a=1), "a", 2)
    with fastoutput.patch_transformers():
        out = transformers.utils.ModelOutput(a=1)
        out.a = 2
        out.z = 3
        assert list(out.items()) == [("a", 2)] and out.z == 3


@needs_5
def test_5x_warning_names_the_old_cache_names_and_is_logged_once() -> None:
    """The deprecation warning is transformers' own: logged on transformers.utils.generic, once for
    all sources together."""
    with fastoutput.patch_transformers():
        observed = _observe(
            lambda c: (c["B"](1, past_key_values=2).past_key_values, c["B"](1, "P")["cache_params"]), _five_classes()
        )
    assert observed == ("value", (2, "P"), ["`past_key_values`/`cache_params` are deprecated. Use `cache` instead."])
