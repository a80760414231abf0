"""The output classes of transformers 4.57's ``modeling_tf_outputs``, on fastoutput's ``ModelOutput``.

Every class is here with transformers' name, field order and ``None`` defaults (transformers 5 removed
the module). They hold ``tf.Tensor``s by reference, and the first-field rule counts a ``tf.Tensor`` as
a tensor. TensorFlow rebuilds them as it rebuilds any mapping: ``tf.nest`` calls the class with no
arguments and sets the items, a ``tf.function`` returns them through the pairs constructor.

Annotations are never evaluated, so importing this module imports no framework.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import modeling_outputs
from ._model_output import ModelOutput

if TYPE_CHECKING:
    import tensorflow as tf  # type: ignore[import-untyped]

__all__ = [
    "TFBaseModelOutput",
    "TFBaseModelOutputWithPooling",
    "TFBaseModelOutputWithPoolingAndCrossAttentions",
    "TFBaseModelOutputWithPast",
    "TFBaseModelOutputWithPastAndCrossAttentions",
    "TFSeq2SeqModelOutput",
    "TFCausalLMOutput",
    "TFCausalLMOutputWithCrossAttentions",
    "TFCausalLMOutputWithPast",
    "TFMaskedLMOutput",
    "TFSeq2SeqLMOutput",
    "TFNextSentencePredictorOutput",
    "TFSequenceClassifierOutput",
    "TFSeq2SeqSequenceClassifierOutput",
    "TFMultipleChoiceModelOutput",
    "TFTokenClassifierOutput",
    "TFQuestionAnsweringModelOutput",
    "TFSeq2SeqQuestionAnsweringModelOutput",
    "TFBaseModelOutputWithNoAttention",
    "TFBaseModelOutputWithPoolingAndNoAttention",
    "TFBaseModelOutputWithCrossAttentions",
    "TFSemanticSegmenterOutput",
    "TFSemanticSegmenterOutputWithNoAttention",
    "TFImageClassifierOutput",
    "TFSequenceClassifierOutputWithPast",
    "TFImageClassifierOutputWithNoAttention",
    "TFMaskedImageModelingOutput",
]


@dataclass
class TFBaseModelOutput(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.BaseModelOutput``."""

    last_hidden_state: tf.Tensor | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None
    attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFBaseModelOutputWithPooling(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.BaseModelOutputWithPooling``."""

    last_hidden_state: tf.Tensor | None = None
    pooler_output: tf.Tensor | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None
    attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFBaseModelOutputWithPoolingAndCrossAttentions(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.BaseModelOutputWithPoolingAndCrossAttentions``."""

    last_hidden_state: tf.Tensor | None = None
    pooler_output: tf.Tensor | None = None
    past_key_values: list[tf.Tensor] | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None
    attentions: tuple[tf.Tensor, ...] | None = None
    cross_attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFBaseModelOutputWithPast(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.BaseModelOutputWithPast``."""

    last_hidden_state: tf.Tensor | None = None
    past_key_values: list[tf.Tensor] | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None
    attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFBaseModelOutputWithPastAndCrossAttentions(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.BaseModelOutputWithPastAndCrossAttentions``."""

    last_hidden_state: tf.Tensor | None = None
    past_key_values: list[tf.Tensor] | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None
    attentions: tuple[tf.Tensor, ...] | None = None
    cross_attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFSeq2SeqModelOutput(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.Seq2SeqModelOutput``."""

    last_hidden_state: tf.Tensor | None = None
    past_key_values: list[tf.Tensor] | None = None
    decoder_hidden_states: tuple[tf.Tensor, ...] | None = None
    decoder_attentions: tuple[tf.Tensor, ...] | None = None
    cross_attentions: tuple[tf.Tensor, ...] | None = None
    encoder_last_hidden_state: tf.Tensor | None = None
    encoder_hidden_states: tuple[tf.Tensor, ...] | None = None
    encoder_attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFCausalLMOutput(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.CausalLMOutput``."""

    loss: tf.Tensor | None = None
    logits: tf.Tensor | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None
    attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFCausalLMOutputWithCrossAttentions(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.CausalLMOutputWithCrossAttentions``."""

    loss: tf.Tensor | None = None
    logits: tf.Tensor | None = None
    past_key_values: list[tf.Tensor] | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None
    attentions: tuple[tf.Tensor, ...] | None = None
    cross_attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFCausalLMOutputWithPast(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.CausalLMOutputWithPast``."""

    loss: tf.Tensor | None = None
    logits: tf.Tensor | None = None
    past_key_values: list[tf.Tensor] | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None
    attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFMaskedLMOutput(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.MaskedLMOutput``."""

    loss: tf.Tensor | None = None
    logits: tf.Tensor | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None
    attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFSeq2SeqLMOutput(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.Seq2SeqLMOutput``."""

    loss: tf.Tensor | None = None
    logits: tf.Tensor | None = None
    past_key_values: list[tf.Tensor] | None = None
    decoder_hidden_states: tuple[tf.Tensor, ...] | None = None
    decoder_attentions: tuple[tf.Tensor, ...] | None = None
    cross_attentions: tuple[tf.Tensor, ...] | None = None
    encoder_last_hidden_state: tf.Tensor | None = None
    encoder_hidden_states: tuple[tf.Tensor, ...] | None = None
    encoder_attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFNextSentencePredictorOutput(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.NextSentencePredictorOutput``."""

    loss: tf.Tensor | None = None
    logits: tf.Tensor | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None
    attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFSequenceClassifierOutput(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.SequenceClassifierOutput``."""

    loss: tf.Tensor | None = None
    logits: tf.Tensor | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None
    attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFSeq2SeqSequenceClassifierOutput(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.Seq2SeqSequenceClassifierOutput``."""

    loss: tf.Tensor | None = None
    logits: tf.Tensor | None = None
    past_key_values: list[tf.Tensor] | None = None
    decoder_hidden_states: tuple[tf.Tensor, ...] | None = None
    decoder_attentions: tuple[tf.Tensor, ...] | None = None
    cross_attentions: tuple[tf.Tensor, ...] | None = None
    encoder_last_hidden_state: tf.Tensor | None = None
    encoder_hidden_states: tuple[tf.Tensor, ...] | None = None
    encoder_attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFMultipleChoiceModelOutput(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.MultipleChoiceModelOutput``."""

    loss: tf.Tensor | None = None
    logits: tf.Tensor | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None
    attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFTokenClassifierOutput(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.TokenClassifierOutput``."""

    loss: tf.Tensor | None = None
    logits: tf.Tensor | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None
    attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFQuestionAnsweringModelOutput(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.QuestionAnsweringModelOutput``."""

    loss: tf.Tensor | None = None
    start_logits: tf.Tensor | None = None
    end_logits: tf.Tensor | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None
    attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFSeq2SeqQuestionAnsweringModelOutput(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.Seq2SeqQuestionAnsweringModelOutput``."""

    loss: tf.Tensor | None = None
    start_logits: tf.Tensor | None = None
    end_logits: tf.Tensor | None = None
    past_key_values: list[tf.Tensor] | None = None
    decoder_hidden_states: tuple[tf.Tensor, ...] | None = None
    decoder_attentions: tuple[tf.Tensor, ...] | None = None
    encoder_last_hidden_state: tf.Tensor | None = None
    encoder_hidden_states: tuple[tf.Tensor, ...] | None = None
    encoder_attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFBaseModelOutputWithNoAttention(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.BaseModelOutputWithNoAttention``."""

    last_hidden_state: tf.Tensor | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFBaseModelOutputWithPoolingAndNoAttention(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.BaseModelOutputWithPoolingAndNoAttention``."""

    last_hidden_state: tf.Tensor | None = None
    pooler_output: tf.Tensor | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFBaseModelOutputWithCrossAttentions(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.BaseModelOutputWithCrossAttentions``."""

    last_hidden_state: tf.Tensor | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None
    attentions: tuple[tf.Tensor, ...] | None = None
    cross_attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFSemanticSegmenterOutput(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.SemanticSegmenterOutput``."""

    loss: tf.Tensor | None = None
    logits: tf.Tensor | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None
    attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFSemanticSegmenterOutputWithNoAttention(ModelOutput):
    """TFSemanticSegmenterOutputWithNoAttention of transformers 4.57.6 (TensorFlow)."""

    loss: tf.Tensor | None = None
    logits: tf.Tensor | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFImageClassifierOutput(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.ImageClassifierOutput``."""

    loss: tf.Tensor | None = None
    logits: tf.Tensor | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None
    attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFSequenceClassifierOutputWithPast(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.SequenceClassifierOutputWithPast``."""

    loss: tf.Tensor | None = None
    logits: tf.Tensor | None = None
    past_key_values: list[tf.Tensor] | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None
    attentions: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFImageClassifierOutputWithNoAttention(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.ImageClassifierOutputWithNoAttention``."""

    loss: tf.Tensor | None = None
    logits: tf.Tensor | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None


@dataclass
class TFMaskedImageModelingOutput(ModelOutput):
    """TensorFlow counterpart of ``fastoutput.modeling_outputs.MaskedImageModelingOutput``."""

    loss: tf.Tensor | None = None
    reconstruction: tf.Tensor | None = None
    hidden_states: tuple[tf.Tensor, ...] | None = None
    attentions: tuple[tf.Tensor, ...] | None = None

    # The deprecated alias of ``reconstruction`` (not a field), as in the PyTorch class.
    logits = modeling_outputs.MaskedImageModelingOutput.__dict__["logits"]
