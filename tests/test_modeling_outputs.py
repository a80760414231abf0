"""``fastoutput.modeling_outputs``: the class catalogue, the class-specific members, and agreement
with the installed transformers.

The expected field lists are ``fastoutput_fields`` of the spec's class catalogue (``classes.json``):
transformers 4.57.6's names, ``past_key_values`` included, also in the ``Multimodal*`` classes that
only 5.x defines (5.x calls that field ``cache``).
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import re
import subprocess
import sys
import warnings
from importlib import metadata
from types import MemberDescriptorType, ModuleType
from typing import Any

import pytest
import torch
from torch.utils import _pytree

import fastoutput
import fastoutput.modeling_outputs as mo
from fastoutput import ModelOutput
from tests._helpers import IS_CPP

# name -> (base class, field names in declaration order), from classes.json: the fields are
# ``fastoutput_fields``; the base is the 4.57.6 one (the 5.24.0 one for classes only 5.x has).
CATALOGUE: dict[str, tuple[str, str]] = {
    "BaseModelOutput": ("ModelOutput", "last_hidden_state hidden_states attentions"),
    "BaseModelOutputWithPooling": ("ModelOutput", "last_hidden_state pooler_output hidden_states attentions"),
    "BaseModelOutputWithCrossAttentions": (
        "ModelOutput",
        "last_hidden_state hidden_states attentions cross_attentions",
    ),
    "BaseModelOutputWithPoolingAndCrossAttentions": (
        "ModelOutput",
        "last_hidden_state pooler_output hidden_states past_key_values attentions cross_attentions",
    ),
    "BaseModelOutputWithPast": ("ModelOutput", "last_hidden_state past_key_values hidden_states attentions"),
    "BaseModelOutputWithPastAndCrossAttentions": (
        "ModelOutput",
        "last_hidden_state past_key_values hidden_states attentions cross_attentions",
    ),
    "Seq2SeqModelOutput": (
        "ModelOutput",
        "last_hidden_state past_key_values decoder_hidden_states decoder_attentions cross_attentions "
        "encoder_last_hidden_state encoder_hidden_states encoder_attentions",
    ),
    "CausalLMOutput": ("ModelOutput", "loss logits hidden_states attentions"),
    "CausalLMOutputWithCrossAttentions": (
        "ModelOutput",
        "loss logits past_key_values hidden_states attentions cross_attentions",
    ),
    "CausalLMOutputWithPast": ("ModelOutput", "loss logits past_key_values hidden_states attentions"),
    "MaskedLMOutput": ("ModelOutput", "loss logits hidden_states attentions"),
    "Seq2SeqLMOutput": (
        "ModelOutput",
        "loss logits past_key_values decoder_hidden_states decoder_attentions cross_attentions "
        "encoder_last_hidden_state encoder_hidden_states encoder_attentions",
    ),
    "NextSentencePredictorOutput": ("ModelOutput", "loss logits hidden_states attentions"),
    "SequenceClassifierOutput": ("ModelOutput", "loss logits hidden_states attentions"),
    "Seq2SeqSequenceClassifierOutput": (
        "ModelOutput",
        "loss logits past_key_values decoder_hidden_states decoder_attentions cross_attentions "
        "encoder_last_hidden_state encoder_hidden_states encoder_attentions",
    ),
    "MultipleChoiceModelOutput": ("ModelOutput", "loss logits hidden_states attentions"),
    "TokenClassifierOutput": ("ModelOutput", "loss logits hidden_states attentions"),
    "QuestionAnsweringModelOutput": ("ModelOutput", "loss start_logits end_logits hidden_states attentions"),
    "Seq2SeqQuestionAnsweringModelOutput": (
        "ModelOutput",
        "loss start_logits end_logits past_key_values decoder_hidden_states decoder_attentions "
        "cross_attentions encoder_last_hidden_state encoder_hidden_states encoder_attentions",
    ),
    "Seq2SeqSpectrogramOutput": (
        "ModelOutput",
        "loss spectrogram past_key_values decoder_hidden_states decoder_attentions cross_attentions "
        "encoder_last_hidden_state encoder_hidden_states encoder_attentions",
    ),
    "SemanticSegmenterOutput": ("ModelOutput", "loss logits hidden_states attentions"),
    "ImageClassifierOutput": ("ModelOutput", "loss logits hidden_states attentions"),
    "ImageClassifierOutputWithNoAttention": ("ModelOutput", "loss logits hidden_states"),
    "DepthEstimatorOutput": ("ModelOutput", "loss predicted_depth hidden_states attentions"),
    "Wav2Vec2BaseModelOutput": ("ModelOutput", "last_hidden_state extract_features hidden_states attentions"),
    "XVectorOutput": ("ModelOutput", "loss logits embeddings hidden_states attentions"),
    "Seq2SeqTSModelOutput": (
        "ModelOutput",
        "last_hidden_state past_key_values decoder_hidden_states decoder_attentions cross_attentions "
        "encoder_last_hidden_state encoder_hidden_states encoder_attentions loc scale static_features",
    ),
    "Seq2SeqTSPredictionOutput": (
        "ModelOutput",
        "loss params past_key_values decoder_hidden_states decoder_attentions cross_attentions "
        "encoder_last_hidden_state encoder_hidden_states encoder_attentions loc scale static_features",
    ),
    "SampleTSPredictionOutput": ("ModelOutput", "sequences"),
    "BaseModelOutputWithNoAttention": ("ModelOutput", "last_hidden_state hidden_states"),
    "BaseModelOutputWithPoolingAndNoAttention": (
        "ModelOutput",
        "last_hidden_state pooler_output hidden_states",
    ),
    "MoECausalLMOutputWithPast": (
        "ModelOutput",
        "loss logits past_key_values hidden_states attentions z_loss aux_loss router_logits",
    ),
    "MoEModelOutput": ("ModelOutput", "last_hidden_state hidden_states attentions router_probs"),
    "MoeModelOutputWithPast": (
        "ModelOutput",
        "last_hidden_state past_key_values hidden_states attentions router_logits",
    ),
    "MoeCausalLMOutputWithPast": (
        "ModelOutput",
        "loss aux_loss logits past_key_values hidden_states attentions router_logits",
    ),
    "MoEModelOutputWithPastAndCrossAttentions": (
        "ModelOutput",
        "last_hidden_state past_key_values hidden_states attentions cross_attentions router_probs",
    ),
    "Seq2SeqMoEModelOutput": (
        "ModelOutput",
        "last_hidden_state past_key_values decoder_hidden_states decoder_attentions decoder_router_logits "
        "cross_attentions encoder_last_hidden_state encoder_hidden_states encoder_attentions "
        "encoder_router_logits",
    ),
    "SequenceClassifierOutputWithPast": (
        "ModelOutput",
        "loss logits past_key_values hidden_states attentions",
    ),
    "Seq2SeqMoEOutput": (
        "ModelOutput",
        "loss logits encoder_z_loss decoder_z_loss encoder_aux_loss decoder_aux_loss past_key_values "
        "decoder_hidden_states decoder_attentions decoder_router_logits cross_attentions "
        "encoder_last_hidden_state encoder_hidden_states encoder_attentions encoder_router_logits",
    ),
    "ImageSuperResolutionOutput": ("ModelOutput", "loss reconstruction hidden_states attentions"),
    "BackboneOutput": ("ModelOutput", "feature_maps hidden_states attentions"),
    "BaseModelOutputWithPoolingAndProjection": (
        "ModelOutput",
        "last_hidden_state pooler_output hidden_states attentions projection_state",
    ),
    "MaskedImageModelingOutput": ("ModelOutput", "loss reconstruction hidden_states attentions"),
    "MultimodalModelOutput": ("ModelOutput", ""),
    "MultimodalBaseModelOutputWithPast": (
        "MultimodalModelOutput",
        "last_hidden_state past_key_values hidden_states attentions image_outputs video_outputs "
        "audio_outputs",
    ),
    "MultimodalCausalLMOutputWithPast": (
        "MultimodalModelOutput",
        "loss logits past_key_values hidden_states attentions image_outputs video_outputs audio_outputs",
    ),
    "MultimodalMoeBaseModelOutputWithPast": (
        "MultimodalModelOutput",
        "last_hidden_state past_key_values hidden_states attentions router_logits image_outputs "
        "video_outputs audio_outputs",
    ),
    "MultimodalMoeCausalLMOutputWithPast": (
        "MultimodalModelOutput",
        "loss aux_loss logits past_key_values hidden_states attentions router_logits image_outputs "
        "video_outputs audio_outputs",
    ),
}
FIELDS = {name: tuple(fields.split()) for name, (_, fields) in CATALOGUE.items()}
DATACLASSES = [name for name in CATALOGUE if name != "MultimodalModelOutput"]
MULTIMODAL = [name for name in DATACLASSES if name.startswith("Multimodal")]
MODALITY_FIELDS = ("image_outputs", "video_outputs", "audio_outputs")
# Classes defined only by transformers 5.x; all the others are defined by 4.57.6.
ONLY_IN_5 = {"MultimodalModelOutput", *MULTIMODAL}
# classes.json ``field_changes_4_57_6_to_5_24_0``: 5.x renames the cache field and appends
# ``router_logits`` to two MoE outputs.
RENAMED_IN_5 = {"past_key_values": "cache"}
APPENDED_IN_5 = {
    "MoEModelOutput": ("router_logits",),
    "MoEModelOutputWithPastAndCrossAttentions": ("router_logits",),
}
# classes.json ``aliases`` of modeling_outputs: 5.x binds the first name to the second class.
# 4.57.6 has two classes with different fields, and fastoutput keeps both (spec §12, D2).
ALIASES_IN_5 = {"MoECausalLMOutputWithPast": "MoeCausalLMOutputWithPast"}
# Public members that are not fields (classes.json ``extra_members``, 4.57.6 and 5.x-only classes).
EXTRA_MEMBERS = {"MaskedImageModelingOutput": {"logits"}, "MultimodalModelOutput": {"to_tuple"}}
LOGITS_WARNING = (
    "logits attribute is deprecated and will be removed in version 5 of Transformers."
    " Please use the reconstruction attribute to retrieve the final output instead."
)
NO_LOGITS_SETTER = "property 'logits' of 'MaskedImageModelingOutput' object has no setter"


def distinct_values(names: tuple[str, ...]) -> dict[str, Any]:
    """One tensor per field; modality fields of the Multimodal outputs get a nested output."""
    values: dict[str, Any] = {}
    for index, name in enumerate(names):
        if name in MODALITY_FIELDS:
            values[name] = mo.BaseModelOutputWithPooling(
                last_hidden_state=torch.full((2,), float(index)), pooler_output=torch.zeros(1)
            )
        else:
            values[name] = torch.full((2,), float(index))
    return values


# The catalogue itself


def test_all_lists_exactly_the_catalogue_classes() -> None:
    assert len(mo.__all__) == len(set(mo.__all__))
    assert set(mo.__all__) == set(CATALOGUE)


@pytest.mark.parametrize("name", CATALOGUE)
def test_class_is_defined_here_under_its_own_name(name: str) -> None:
    """No name of the module is an alias: every class object has the name it is bound to."""
    cls = getattr(mo, name)
    assert isinstance(cls, type) and issubclass(cls, ModelOutput)
    assert (cls.__name__, cls.__qualname__, cls.__module__) == (name, name, "fastoutput.modeling_outputs")


@pytest.mark.parametrize("name", DATACLASSES)
def test_fields_names_order_and_none_defaults(name: str) -> None:
    cls = getattr(mo, name)
    fields = dataclasses.fields(cls)
    assert tuple(field.name for field in fields) == FIELDS[name]
    assert all(field.default is None and field.default_factory is dataclasses.MISSING for field in fields)
    assert all(field.init and field.repr and field.compare for field in fields)
    for field in fields:
        # the class attribute is the default, or, once the C++ core has built an instance, the field's
        # slot descriptor (docs/compatibility.md 8)
        attribute = getattr(cls, field.name)
        assert attribute is None or (IS_CPP and isinstance(attribute, MemberDescriptorType))
    assert cls.__match_args__ == FIELDS[name]
    assert not cls.__dataclass_params__.frozen


@pytest.mark.parametrize("name", DATACLASSES)
def test_annotations_are_strings_that_are_never_evaluated(name: str) -> None:
    """Postponed annotations are what keep torch out of ``import fastoutput.modeling_outputs``."""
    for field in dataclasses.fields(getattr(mo, name)):
        assert isinstance(field.type, str), field.name
        assert field.type.startswith("Optional["), field.name


@pytest.mark.parametrize("name", CATALOGUE)
def test_base_class_is_the_transformers_one(name: str) -> None:
    base_name = CATALOGUE[name][0]
    base = ModelOutput if base_name == "ModelOutput" else getattr(mo, base_name)
    assert getattr(mo, name).__bases__ == (base,)


@pytest.mark.parametrize("name", CATALOGUE)
def test_only_the_listed_extra_members_exist(name: str) -> None:
    """Public class members besides the fields: ``logits`` and the multimodal ``to_tuple`` only."""
    cls = getattr(mo, name)
    field_names = set(FIELDS[name])
    extra = {member for member in vars(cls) if not member.startswith("_") and member not in field_names}
    assert extra == EXTRA_MEMBERS.get(name, set())


@pytest.mark.parametrize("name", CATALOGUE)
def test_each_class_has_its_own_docstring(name: str) -> None:
    """Not the signature that @dataclass writes into ``__doc__`` when a class has none."""
    doc = vars(getattr(mo, name)).get("__doc__")
    assert doc and doc.strip()
    assert not doc.startswith(f"{name}(")


# Construction


@pytest.mark.parametrize("name", DATACLASSES)
def test_construction_without_arguments_has_no_keys(name: str) -> None:
    out = getattr(mo, name)()
    assert list(out.keys()) == [] and out.to_tuple() == ()
    assert repr(out) == f"{name}({', '.join(f'{field}=None' for field in FIELDS[name])})"


@pytest.mark.parametrize("name", DATACLASSES)
def test_tensor_in_one_field_makes_that_field_the_only_key(name: str) -> None:
    """Whichever field holds the tensor, the first one included (a tensor is never expanded)."""
    cls = getattr(mo, name)
    for field in FIELDS[name]:
        tensor = torch.ones(3)
        for out in (cls(**{field: tensor}), cls(*[tensor if f == field else None for f in FIELDS[name]])):
            assert list(out.keys()) == [field]
            assert out[field] is tensor and getattr(out, field) is tensor
            assert all(getattr(out, other) is None for other in FIELDS[name] if other != field)
            if field not in MODALITY_FIELDS:
                assert out[0] is tensor and out.to_tuple() == (tensor,)


@pytest.mark.parametrize("name", DATACLASSES)
def test_every_field_set_gives_keys_in_field_order(name: str) -> None:
    values = distinct_values(FIELDS[name])
    out = getattr(mo, name)(**values)
    assert list(out.keys()) == list(FIELDS[name])
    assert all(value is values[key] for key, value in out.items())


@pytest.mark.parametrize("name", DATACLASSES)
def test_pickle_round_trip_finds_the_class_by_name(name: str) -> None:
    cls = getattr(mo, name)
    first = FIELDS[name][0]
    out = cls(**{first: torch.arange(3)}, **{FIELDS[name][-1]: (1, 2)} if len(FIELDS[name]) > 1 else {})
    back = pickle.loads(pickle.dumps(out))
    assert type(back) is cls
    assert list(back.keys()) == list(out.keys())
    assert torch.equal(back[first], out[first])


# MaskedImageModelingOutput.logits (4.57.6 member, kept by fastoutput)


def test_masked_image_logits_reads_reconstruction_with_a_future_warning() -> None:
    reconstruction = torch.ones(2)
    out = mo.MaskedImageModelingOutput(reconstruction=reconstruction)
    with pytest.warns(FutureWarning) as record:
        assert out.logits is reconstruction
    assert [str(warning.message) for warning in record] == [LOGITS_WARNING]
    with pytest.warns(FutureWarning, match=re.escape(LOGITS_WARNING)):
        assert mo.MaskedImageModelingOutput().logits is None


def test_masked_image_logits_warning_obeys_the_warning_filters() -> None:
    out = mo.MaskedImageModelingOutput(reconstruction=1)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("ignore", FutureWarning)
        assert out.logits == 1
    assert record == []


def test_masked_image_logits_is_a_property_not_a_field_key_or_repr_entry() -> None:
    assert isinstance(vars(mo.MaskedImageModelingOutput)["logits"], property)
    out = mo.MaskedImageModelingOutput(loss=torch.zeros(()), reconstruction=torch.ones(2))
    assert "logits" not in [field.name for field in dataclasses.fields(out)]
    assert list(out.keys()) == ["loss", "reconstruction"] and "logits" not in out
    assert "logits" not in repr(out)
    assert "logits" not in dataclasses.asdict(out)
    with pytest.raises(KeyError, match="^'logits'$"):
        out["logits"]


def test_masked_image_logits_attribute_assignment_has_no_setter() -> None:
    out = mo.MaskedImageModelingOutput(reconstruction=1)
    for value in (2, None):
        with pytest.raises(AttributeError) as excinfo:
            out.logits = value
        assert str(excinfo.value) == NO_LOGITS_SETTER
    assert list(out.items()) == [("reconstruction", 1)]
    assert "logits" not in vars(out)


def test_masked_image_logits_item_assignment_inserts_the_key_then_raises() -> None:
    out = mo.MaskedImageModelingOutput(reconstruction=1)
    with pytest.raises(AttributeError) as excinfo:
        out["logits"] = 2
    assert str(excinfo.value) == NO_LOGITS_SETTER
    assert list(out.items()) == [("reconstruction", 1), ("logits", 2)]
    with pytest.warns(FutureWarning, match=re.escape(LOGITS_WARNING)):
        assert out.logits == 1  # the property still wins over the key


def test_other_reconstruction_outputs_have_no_logits() -> None:
    with pytest.raises(AttributeError, match="^'ImageSuperResolutionOutput' object has no attribute 'logits'$"):
        mo.ImageSuperResolutionOutput(reconstruction=1).logits  # noqa: B018


# The Multimodal outputs (5.x only; fastoutput has them with past_key_values)


def test_multimodal_base_is_not_a_dataclass_and_cannot_be_instantiated() -> None:
    assert not dataclasses.is_dataclass(mo.MultimodalModelOutput)
    message = (
        "fastoutput.modeling_outputs.MultimodalModelOutput is not a dataclass."
        " This is a subclass of ModelOutput and so must use the @dataclass decorator."
    )
    with pytest.raises(TypeError) as excinfo:
        mo.MultimodalModelOutput(last_hidden_state=1)
    assert str(excinfo.value) == message


@pytest.mark.parametrize("name", MULTIMODAL)
def test_multimodal_to_tuple_turns_modality_outputs_into_their_tuples(name: str) -> None:
    cls = getattr(mo, name)
    assert FIELDS[name][-3:] == MODALITY_FIELDS
    first, t0, t1, t2 = FIELDS[name][0], torch.zeros(1), torch.ones(1), torch.full((1,), 2.0)
    image = mo.BaseModelOutputWithPooling(last_hidden_state=t1, pooler_output=t0)
    audio = mo.BaseModelOutputWithPooling(pooler_output=t2, hidden_states=(t1,))
    out = cls(**{first: t2, "audio_outputs": audio, "image_outputs": image})
    assert list(out.keys()) == [first, "image_outputs", "audio_outputs"]
    assert out.to_tuple() == (t2, (t1, t0), (t2, (t1,)))
    assert out[1] == (t1, t0) and out[-1] == (t2, (t1,))
    assert out[1:] == ((t1, t0), (t2, (t1,)))
    # the mapping side keeps the nested outputs themselves
    assert out["image_outputs"] is image
    assert list(out.values()) == [t2, image, audio]


@pytest.mark.parametrize("name", MULTIMODAL)
def test_multimodal_to_tuple_follows_key_order_not_field_order(name: str) -> None:
    out = getattr(mo, name)(video_outputs=mo.BaseModelOutputWithPooling(pooler_output=1))
    out["hidden_states"] = (2,)
    assert out.to_tuple() == ((1,), (2,))


@pytest.mark.parametrize("name", MULTIMODAL)
def test_multimodal_to_tuple_needs_a_to_tuple_on_modality_values(name: str) -> None:
    """A modality key whose attribute is None or a plain tuple makes to_tuple (and out[i]) fail."""
    out = getattr(mo, name)(image_outputs=(1, 2))
    with pytest.raises(AttributeError, match="^'tuple' object has no attribute 'to_tuple'$"):
        out.to_tuple()
    with pytest.raises(AttributeError, match="^'tuple' object has no attribute 'to_tuple'$"):
        out[0]
    stale = getattr(mo, name)(audio_outputs=mo.BaseModelOutputWithPooling(pooler_output=1))
    stale.audio_outputs = None  # the key keeps its value; the attribute becomes None
    with pytest.raises(AttributeError, match="^'NoneType' object has no attribute 'to_tuple'$"):
        stale.to_tuple()
    by_item = getattr(mo, name)()
    by_item["video_outputs"] = None
    with pytest.raises(AttributeError, match="^'NoneType' object has no attribute 'to_tuple'$"):
        by_item.to_tuple()


@pytest.mark.parametrize("name", MULTIMODAL)
def test_multimodal_pytree_keeps_the_nested_output_as_a_subtree(name: str) -> None:
    cls = getattr(mo, name)
    t0, t1 = torch.zeros(1), torch.ones(1)
    out = cls(**{FIELDS[name][0]: t0, "image_outputs": mo.BaseModelOutputWithPooling(pooler_output=t1)})
    leaves, spec = _pytree.tree_flatten(out)
    assert len(leaves) == 2 and leaves[0] is t0 and leaves[1] is t1
    back = _pytree.tree_unflatten(leaves, spec)
    assert type(back) is cls and type(back["image_outputs"]) is mo.BaseModelOutputWithPooling
    assert back.to_tuple() == (t0, (t1,))


# Aliases


@pytest.mark.parametrize(("alias", "target"), ALIASES_IN_5.items())
def test_5x_alias_name_keeps_its_own_4_57_class(alias: str, target: str) -> None:
    alias_cls, target_cls = getattr(mo, alias), getattr(mo, target)
    assert alias_cls is not target_cls
    assert not issubclass(alias_cls, target_cls) and not issubclass(target_cls, alias_cls)
    assert [field.name for field in dataclasses.fields(alias_cls)] == list(FIELDS[alias])
    assert [field.name for field in dataclasses.fields(target_cls)] == list(FIELDS[target])


# Importing stays framework-free


def test_import_leaves_frameworks_unloaded() -> None:
    """``import fastoutput.modeling_outputs``, and using its classes, imports no framework."""
    code = """if True:
        import json, sys, warnings
        import fastoutput, fastoutput.modeling_outputs as mo
        for name in mo.__all__:
            if name != "MultimodalModelOutput":
                getattr(mo, name)(1).to_tuple()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mo.MaskedImageModelingOutput(reconstruction=1).logits
        frameworks = ("torch", "numpy", "jax", "tensorflow", "transformers")
        print(json.dumps([fastoutput.IMPLEMENTATION, [m for m in frameworks if m in sys.modules]]))
    """
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == [fastoutput.IMPLEMENTATION, []]


# Against the installed transformers


@pytest.fixture(scope="module")
def installed() -> tuple[ModuleType, str]:
    module = pytest.importorskip("transformers.modeling_outputs")
    return module, metadata.version("transformers")


def installed_fields(name: str, version: str) -> tuple[str, ...]:
    """The field list the installed transformers must have for fastoutput's class ``name``."""
    if version.startswith("4.57."):
        return FIELDS[name]
    if version.startswith("5."):
        return tuple(RENAMED_IN_5.get(field, field) for field in FIELDS[name]) + APPENDED_IN_5.get(name, ())
    pytest.skip(f"no field expectations recorded for transformers {version}")


def installed_output_classes(module: ModuleType) -> dict[str, type]:
    from transformers.utils import ModelOutput as Base

    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, Base) and value is not Base
    }


@pytest.mark.transformers
def test_installed_transformers_classes_are_all_here(installed: tuple[ModuleType, str]) -> None:
    module, version = installed
    expected = set(CATALOGUE) - ONLY_IN_5 if version.startswith("4.") else set(CATALOGUE)
    assert set(installed_output_classes(module)) == expected


@pytest.mark.transformers
def test_installed_transformers_aliases_are_as_catalogued(installed: tuple[ModuleType, str]) -> None:
    module, version = installed
    for alias, target in ALIASES_IN_5.items():
        assert (getattr(module, alias) is getattr(module, target)) == version.startswith("5.")


@pytest.mark.transformers
@pytest.mark.parametrize("name", CATALOGUE)
def test_fields_and_bases_match_installed_transformers(installed: tuple[ModuleType, str], name: str) -> None:
    """4.57.x: same fields; 5.x: same after the cache rename and the two appended router_logits."""
    module, version = installed
    theirs = getattr(module, name, None)
    ours = getattr(mo, name)
    if theirs is None:
        assert name in ONLY_IN_5 and version.startswith("4.")
        return
    if theirs.__name__ != name:  # a 5.x alias: fastoutput keeps the 4.57.6 class instead
        assert ALIASES_IN_5[name] == theirs.__name__
        return
    assert [base.__name__ for base in theirs.__bases__] == [base.__name__ for base in ours.__bases__]
    assert dataclasses.is_dataclass(theirs) == dataclasses.is_dataclass(ours)
    if dataclasses.is_dataclass(theirs):
        their_fields = dataclasses.fields(theirs)
        assert tuple(field.name for field in their_fields) == installed_fields(name, version)
        assert all(field.default is None for field in their_fields)


def same_structure(a: Any, b: Any) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same_structure(x, y) for x, y in zip(a, b))
    return a is b


@pytest.mark.transformers
@pytest.mark.parametrize("name", DATACLASSES)
def test_construction_matches_installed_transformers(installed: tuple[ModuleType, str], name: str) -> None:
    """Built positionally with the same values: same keys (up to the rename) and same to_tuple."""
    module, version = installed
    theirs = getattr(module, name, None)
    if theirs is None or theirs.__name__ != name:
        assert name in ONLY_IN_5 or name in ALIASES_IN_5
        return
    values = list(distinct_values(FIELDS[name]).values())
    their_values = [
        module.BaseModelOutputWithPooling(*value.values()) if isinstance(value, ModelOutput) else value
        for value in values
    ]
    for count in (1, len(values)):  # the first field alone, then every field
        ours, theirs_out = getattr(mo, name)(*values[:count]), theirs(*their_values[:count])
        renamed = [RENAMED_IN_5.get(key, key) if version.startswith("5.") else key for key in ours.keys()]
        assert list(theirs_out.keys()) == renamed
        assert same_structure(ours.to_tuple(), theirs_out.to_tuple())
