"""The output classes of transformers 4.57's ``modeling_flax_outputs``, on fastoutput's ``ModelOutput``.

Every class is here with transformers' name, field order and ``None`` defaults (transformers 5 removed
the module), and with what ``@flax.struct.dataclass`` gives transformers' classes: frozen (attribute
assignment raises ``dataclasses.FrozenInstanceError``), ``replace(**changes)``, and registration as
a JAX pytree node whose children are every field (``None`` included) under ``GetAttrKey`` paths,
rebuilt by calling the class with every field as a keyword. JAX arrays and tracers count as tensors
for the first-field rule.

Neither flax nor jax is imported here: the pytree registration happens when jax is imported, the
registration with ``flax.serialization`` (state dicts, ``to_bytes``) when that is (or at once, if they
already are). Annotations are never evaluated.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Optional, TypeVar

from . import _imports
from ._model_output import ModelOutput

if TYPE_CHECKING:
    import jax.numpy as jnp

_Output = TypeVar("_Output", bound=type)
_STRUCTS: list[type] = []  # registered with JAX once it is imported


def _replace(self: Any, **changes: Any) -> Any:
    """A copy with ``changes`` applied (``dataclasses.replace``), as flax's ``replace``."""
    return dataclasses.replace(self, **changes)


def _struct_dataclass(cls: _Output) -> _Output:
    """What ``flax.struct.dataclass`` does to a ModelOutput subclass, minus importing flax and jax."""
    struct: Any = dataclass(frozen=True)(cls)
    struct.replace = _replace
    struct._flax_dataclass = True  # flax.struct.dataclass then leaves it as is
    _STRUCTS.append(struct)
    return struct  # type: ignore[no-any-return]


def _field_names(struct: type) -> list[str]:
    return [field.name for field in dataclasses.fields(struct)]


def _register_with_jax(jax: ModuleType) -> None:
    for struct in _STRUCTS:
        jax.tree_util.register_dataclass(struct, data_fields=_field_names(struct), meta_fields=[])


def _register_with_flax(serialization: ModuleType) -> None:
    """State-dict conversion as flax.struct.dataclass registers it: one entry per field."""

    def to_state_dict(output: Any) -> dict[str, Any]:
        return {name: serialization.to_state_dict(getattr(output, name)) for name in _field_names(type(output))}

    def from_state_dict(output: Any, state: dict[str, Any]) -> Any:
        remaining = dict(state)
        updates = {}
        for name in _field_names(type(output)):
            if name not in remaining:
                raise ValueError(
                    f"Missing field {name} in state dict while restoring an instance of {type(output).__name__},"
                    f" at path {serialization.current_path()}"
                )
            updates[name] = serialization.from_state_dict(getattr(output, name), remaining.pop(name), name=name)
        if remaining:
            raise ValueError(
                f'Unknown field(s) "{",".join(remaining)}" in state dict while restoring an instance of'
                f" {type(output).__name__} at path {serialization.current_path()}"
            )
        return output.replace(**updates)

    for struct in _STRUCTS:
        serialization.register_serialization_state(struct, to_state_dict, from_state_dict)

__all__ = [
    "FlaxBaseModelOutput",
    "FlaxBaseModelOutputWithPast",
    "FlaxBaseModelOutputWithPooling",
    "FlaxBaseModelOutputWithPastAndCrossAttentions",
    "FlaxSeq2SeqModelOutput",
    "FlaxCausalLMOutputWithCrossAttentions",
    "FlaxMaskedLMOutput",
    "FlaxSeq2SeqLMOutput",
    "FlaxNextSentencePredictorOutput",
    "FlaxSequenceClassifierOutput",
    "FlaxSeq2SeqSequenceClassifierOutput",
    "FlaxMultipleChoiceModelOutput",
    "FlaxTokenClassifierOutput",
    "FlaxQuestionAnsweringModelOutput",
    "FlaxSeq2SeqQuestionAnsweringModelOutput",
    "FlaxBaseModelOutputWithNoAttention",
    "FlaxBaseModelOutputWithPoolingAndNoAttention",
    "FlaxImageClassifierOutputWithNoAttention",
    "FlaxBaseModelOutputWithPoolingAndCrossAttentions",
    "FlaxCausalLMOutput",
]


@_struct_dataclass
class FlaxBaseModelOutput(ModelOutput):
    """Flax counterpart of ``fastoutput.modeling_outputs.BaseModelOutput``."""

    last_hidden_state: Optional[jnp.ndarray] = None
    hidden_states: Optional[tuple[jnp.ndarray, ...]] = None
    attentions: Optional[tuple[jnp.ndarray, ...]] = None


@_struct_dataclass
class FlaxBaseModelOutputWithPast(ModelOutput):
    """Flax counterpart of ``fastoutput.modeling_outputs.BaseModelOutputWithPast``."""

    last_hidden_state: Optional[jnp.ndarray] = None
    past_key_values: Optional[dict[str, jnp.ndarray]] = None
    hidden_states: Optional[tuple[jnp.ndarray, ...]] = None
    attentions: Optional[tuple[jnp.ndarray, ...]] = None


@_struct_dataclass
class FlaxBaseModelOutputWithPooling(ModelOutput):
    """Flax counterpart of ``fastoutput.modeling_outputs.BaseModelOutputWithPooling``."""

    last_hidden_state: Optional[jnp.ndarray] = None
    pooler_output: Optional[jnp.ndarray] = None
    hidden_states: Optional[tuple[jnp.ndarray, ...]] = None
    attentions: Optional[tuple[jnp.ndarray, ...]] = None


@_struct_dataclass
class FlaxBaseModelOutputWithPastAndCrossAttentions(ModelOutput):
    """Flax counterpart of ``fastoutput.modeling_outputs.BaseModelOutputWithPastAndCrossAttentions``."""

    last_hidden_state: Optional[jnp.ndarray] = None
    past_key_values: Optional[tuple[tuple[jnp.ndarray, ...], ...]] = None
    hidden_states: Optional[tuple[jnp.ndarray, ...]] = None
    attentions: Optional[tuple[jnp.ndarray, ...]] = None
    cross_attentions: Optional[tuple[jnp.ndarray, ...]] = None


@_struct_dataclass
class FlaxSeq2SeqModelOutput(ModelOutput):
    """Flax counterpart of ``fastoutput.modeling_outputs.Seq2SeqModelOutput``."""

    last_hidden_state: Optional[jnp.ndarray] = None
    past_key_values: Optional[tuple[tuple[jnp.ndarray, ...], ...]] = None
    decoder_hidden_states: Optional[tuple[jnp.ndarray, ...]] = None
    decoder_attentions: Optional[tuple[jnp.ndarray, ...]] = None
    cross_attentions: Optional[tuple[jnp.ndarray, ...]] = None
    encoder_last_hidden_state: Optional[jnp.ndarray] = None
    encoder_hidden_states: Optional[tuple[jnp.ndarray, ...]] = None
    encoder_attentions: Optional[tuple[jnp.ndarray, ...]] = None


@_struct_dataclass
class FlaxCausalLMOutputWithCrossAttentions(ModelOutput):
    """Flax counterpart of ``fastoutput.modeling_outputs.CausalLMOutputWithCrossAttentions``."""

    logits: Optional[jnp.ndarray] = None
    past_key_values: Optional[tuple[tuple[jnp.ndarray, ...], ...]] = None
    hidden_states: Optional[tuple[jnp.ndarray, ...]] = None
    attentions: Optional[tuple[jnp.ndarray, ...]] = None
    cross_attentions: Optional[tuple[jnp.ndarray, ...]] = None


@_struct_dataclass
class FlaxMaskedLMOutput(ModelOutput):
    """Flax counterpart of ``fastoutput.modeling_outputs.MaskedLMOutput``."""

    logits: Optional[jnp.ndarray] = None
    hidden_states: Optional[tuple[jnp.ndarray, ...]] = None
    attentions: Optional[tuple[jnp.ndarray, ...]] = None


@_struct_dataclass
class FlaxSeq2SeqLMOutput(ModelOutput):
    """Flax counterpart of ``fastoutput.modeling_outputs.Seq2SeqLMOutput``."""

    logits: Optional[jnp.ndarray] = None
    past_key_values: Optional[tuple[tuple[jnp.ndarray, ...], ...]] = None
    decoder_hidden_states: Optional[tuple[jnp.ndarray, ...]] = None
    decoder_attentions: Optional[tuple[jnp.ndarray, ...]] = None
    cross_attentions: Optional[tuple[jnp.ndarray, ...]] = None
    encoder_last_hidden_state: Optional[jnp.ndarray] = None
    encoder_hidden_states: Optional[tuple[jnp.ndarray, ...]] = None
    encoder_attentions: Optional[tuple[jnp.ndarray, ...]] = None


@_struct_dataclass
class FlaxNextSentencePredictorOutput(ModelOutput):
    """Flax counterpart of ``fastoutput.modeling_outputs.NextSentencePredictorOutput``."""

    logits: Optional[jnp.ndarray] = None
    hidden_states: Optional[tuple[jnp.ndarray, ...]] = None
    attentions: Optional[tuple[jnp.ndarray, ...]] = None


@_struct_dataclass
class FlaxSequenceClassifierOutput(ModelOutput):
    """Flax counterpart of ``fastoutput.modeling_outputs.SequenceClassifierOutput``."""

    logits: Optional[jnp.ndarray] = None
    hidden_states: Optional[tuple[jnp.ndarray, ...]] = None
    attentions: Optional[tuple[jnp.ndarray, ...]] = None


@_struct_dataclass
class FlaxSeq2SeqSequenceClassifierOutput(ModelOutput):
    """Flax counterpart of ``fastoutput.modeling_outputs.Seq2SeqSequenceClassifierOutput``."""

    logits: Optional[jnp.ndarray] = None
    past_key_values: Optional[tuple[tuple[jnp.ndarray, ...], ...]] = None
    decoder_hidden_states: Optional[tuple[jnp.ndarray, ...]] = None
    decoder_attentions: Optional[tuple[jnp.ndarray, ...]] = None
    cross_attentions: Optional[tuple[jnp.ndarray, ...]] = None
    encoder_last_hidden_state: Optional[jnp.ndarray] = None
    encoder_hidden_states: Optional[tuple[jnp.ndarray, ...]] = None
    encoder_attentions: Optional[tuple[jnp.ndarray, ...]] = None


@_struct_dataclass
class FlaxMultipleChoiceModelOutput(ModelOutput):
    """Flax counterpart of ``fastoutput.modeling_outputs.MultipleChoiceModelOutput``."""

    logits: Optional[jnp.ndarray] = None
    hidden_states: Optional[tuple[jnp.ndarray, ...]] = None
    attentions: Optional[tuple[jnp.ndarray, ...]] = None


@_struct_dataclass
class FlaxTokenClassifierOutput(ModelOutput):
    """Flax counterpart of ``fastoutput.modeling_outputs.TokenClassifierOutput``."""

    logits: Optional[jnp.ndarray] = None
    hidden_states: Optional[tuple[jnp.ndarray, ...]] = None
    attentions: Optional[tuple[jnp.ndarray, ...]] = None


@_struct_dataclass
class FlaxQuestionAnsweringModelOutput(ModelOutput):
    """Flax counterpart of ``fastoutput.modeling_outputs.QuestionAnsweringModelOutput``."""

    start_logits: Optional[jnp.ndarray] = None
    end_logits: Optional[jnp.ndarray] = None
    hidden_states: Optional[tuple[jnp.ndarray, ...]] = None
    attentions: Optional[tuple[jnp.ndarray, ...]] = None


@_struct_dataclass
class FlaxSeq2SeqQuestionAnsweringModelOutput(ModelOutput):
    """Flax counterpart of ``fastoutput.modeling_outputs.Seq2SeqQuestionAnsweringModelOutput``."""

    start_logits: Optional[jnp.ndarray] = None
    end_logits: Optional[jnp.ndarray] = None
    past_key_values: Optional[tuple[tuple[jnp.ndarray, ...], ...]] = None
    decoder_hidden_states: Optional[tuple[jnp.ndarray, ...]] = None
    decoder_attentions: Optional[tuple[jnp.ndarray, ...]] = None
    cross_attentions: Optional[tuple[jnp.ndarray, ...]] = None
    encoder_last_hidden_state: Optional[jnp.ndarray] = None
    encoder_hidden_states: Optional[tuple[jnp.ndarray, ...]] = None
    encoder_attentions: Optional[tuple[jnp.ndarray, ...]] = None


@_struct_dataclass
class FlaxBaseModelOutputWithNoAttention(ModelOutput):
    """Flax counterpart of ``fastoutput.modeling_outputs.BaseModelOutputWithNoAttention``."""

    last_hidden_state: Optional[jnp.ndarray] = None
    hidden_states: Optional[tuple[jnp.ndarray, ...]] = None


@_struct_dataclass
class FlaxBaseModelOutputWithPoolingAndNoAttention(ModelOutput):
    """Flax counterpart of ``fastoutput.modeling_outputs.BaseModelOutputWithPoolingAndNoAttention``."""

    last_hidden_state: Optional[jnp.ndarray] = None
    pooler_output: Optional[jnp.ndarray] = None
    hidden_states: Optional[tuple[jnp.ndarray, ...]] = None


@_struct_dataclass
class FlaxImageClassifierOutputWithNoAttention(ModelOutput):
    """Flax counterpart of ``fastoutput.modeling_outputs.ImageClassifierOutputWithNoAttention``."""

    logits: Optional[jnp.ndarray] = None
    hidden_states: Optional[tuple[jnp.ndarray, ...]] = None


@_struct_dataclass
class FlaxBaseModelOutputWithPoolingAndCrossAttentions(ModelOutput):
    """Flax counterpart of ``fastoutput.modeling_outputs.BaseModelOutputWithPoolingAndCrossAttentions``."""

    last_hidden_state: Optional[jnp.ndarray] = None
    pooler_output: Optional[jnp.ndarray] = None
    hidden_states: Optional[tuple[jnp.ndarray, ...]] = None
    past_key_values: Optional[tuple[tuple[jnp.ndarray, ...], ...]] = None
    attentions: Optional[tuple[jnp.ndarray, ...]] = None
    cross_attentions: Optional[tuple[jnp.ndarray, ...]] = None


FlaxCausalLMOutput = FlaxMaskedLMOutput


_imports.call_when_imported("jax", _register_with_jax)
_imports.call_when_imported("flax.serialization", _register_with_flax)
