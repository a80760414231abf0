"""The output classes of transformers' ``modeling_outputs``, on fastoutput's ``ModelOutput``.

Every class of transformers 4.57 is here with the same name, field order and ``None`` defaults,
together with the ``Multimodal*`` classes that transformers 5 added. Field names are the 4.57 ones:
the cache field is ``past_key_values`` everywhere, the 5.x-only classes included (5.x calls it
``cache``). ``MoECausalLMOutputWithPast`` and ``MoeCausalLMOutputWithPast`` stay two classes, as in
4.57 (5.x made the first an alias of the second).

Annotations are never evaluated, so importing this module imports no framework.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from ._model_output import ModelOutput

if TYPE_CHECKING:
    import torch
    from transformers.cache_utils import Cache, EncoderDecoderCache

__all__ = [
    "BaseModelOutput",
    "BaseModelOutputWithNoAttention",
    "BaseModelOutputWithPooling",
    "BaseModelOutputWithPoolingAndNoAttention",
    "BaseModelOutputWithPast",
    "BaseModelOutputWithCrossAttentions",
    "BaseModelOutputWithPoolingAndCrossAttentions",
    "BaseModelOutputWithPastAndCrossAttentions",
    "MoECausalLMOutputWithPast",
    "MoEModelOutput",
    "MoeModelOutputWithPast",
    "MoeCausalLMOutputWithPast",
    "MoEModelOutputWithPastAndCrossAttentions",
    "Seq2SeqModelOutput",
    "MultimodalModelOutput",
    "MultimodalBaseModelOutputWithPast",
    "MultimodalCausalLMOutputWithPast",
    "MultimodalMoeBaseModelOutputWithPast",
    "MultimodalMoeCausalLMOutputWithPast",
    "Seq2SeqMoEModelOutput",
    "CausalLMOutput",
    "CausalLMOutputWithPast",
    "CausalLMOutputWithCrossAttentions",
    "SequenceClassifierOutputWithPast",
    "MaskedLMOutput",
    "Seq2SeqLMOutput",
    "Seq2SeqMoEOutput",
    "NextSentencePredictorOutput",
    "SequenceClassifierOutput",
    "Seq2SeqSequenceClassifierOutput",
    "MultipleChoiceModelOutput",
    "TokenClassifierOutput",
    "QuestionAnsweringModelOutput",
    "Seq2SeqQuestionAnsweringModelOutput",
    "SemanticSegmenterOutput",
    "ImageClassifierOutput",
    "ImageClassifierOutputWithNoAttention",
    "DepthEstimatorOutput",
    "ImageSuperResolutionOutput",
    "Wav2Vec2BaseModelOutput",
    "XVectorOutput",
    "BackboneOutput",
    "BaseModelOutputWithPoolingAndProjection",
    "Seq2SeqSpectrogramOutput",
    "Seq2SeqTSModelOutput",
    "Seq2SeqTSPredictionOutput",
    "SampleTSPredictionOutput",
    "MaskedImageModelingOutput",
]

_MODALITY_OUTPUTS = frozenset({"image_outputs", "video_outputs", "audio_outputs"})
_LOGITS_DEPRECATION = (
    "logits attribute is deprecated and will be removed in version 5 of Transformers."
    " Please use the reconstruction attribute to retrieve the final output instead."
)


@dataclass
class BaseModelOutput(ModelOutput):
    """Encoder output: the final hidden states, with optional per-layer hidden states and attention maps."""

    last_hidden_state: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class BaseModelOutputWithNoAttention(ModelOutput):
    """Encoder output for models without attention layers (convolutional backbones, for instance)."""

    last_hidden_state: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class BaseModelOutputWithPooling(ModelOutput):
    """Encoder output that adds a pooled summary of the sequence (e.g. the processed first token)."""

    last_hidden_state: Optional[torch.FloatTensor] = None
    pooler_output: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class BaseModelOutputWithPoolingAndNoAttention(ModelOutput):
    """Pooled encoder output for models without attention layers."""

    last_hidden_state: Optional[torch.FloatTensor] = None
    pooler_output: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class BaseModelOutputWithPast(ModelOutput):
    """Decoder output that can carry the key/value cache used to speed up step-by-step generation."""

    last_hidden_state: Optional[torch.FloatTensor] = None
    past_key_values: Optional[Cache] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class BaseModelOutputWithCrossAttentions(ModelOutput):
    """Encoder or decoder output that also reports the cross-attention maps over the encoder states."""

    last_hidden_state: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    cross_attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class BaseModelOutputWithPoolingAndCrossAttentions(ModelOutput):
    """Pooled output of a model that may act as a decoder: cache and cross-attention maps included."""

    last_hidden_state: Optional[torch.FloatTensor] = None
    pooler_output: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    past_key_values: Optional[Cache] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    cross_attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class BaseModelOutputWithPastAndCrossAttentions(ModelOutput):
    """Decoder output with both a key/value cache and cross-attention maps."""

    last_hidden_state: Optional[torch.FloatTensor] = None
    past_key_values: Optional[Cache] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    cross_attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class MoECausalLMOutputWithPast(ModelOutput):
    """Language-modelling output of a mixture-of-experts decoder, with router z-loss and auxiliary loss."""

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    past_key_values: Optional[Cache] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    z_loss: Optional[torch.FloatTensor] = None
    aux_loss: Optional[torch.FloatTensor] = None
    router_logits: Optional[tuple[torch.FloatTensor]] = None


@dataclass
class MoEModelOutput(ModelOutput):
    """Mixture-of-experts encoder output, adding the router probabilities of each layer."""

    last_hidden_state: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    router_probs: Optional[tuple[torch.FloatTensor]] = None


@dataclass
class MoeModelOutputWithPast(ModelOutput):
    """Mixture-of-experts decoder output with a key/value cache and the router logits of each layer."""

    last_hidden_state: Optional[torch.FloatTensor] = None
    past_key_values: Optional[Cache] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    router_logits: Optional[tuple[torch.FloatTensor]] = None


@dataclass
class MoeCausalLMOutputWithPast(ModelOutput):
    """Language-modelling output of a mixture-of-experts decoder with its load-balancing auxiliary loss."""

    loss: Optional[torch.FloatTensor] = None
    aux_loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    past_key_values: Optional[Cache] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    router_logits: Optional[tuple[torch.FloatTensor]] = None


@dataclass
class MoEModelOutputWithPastAndCrossAttentions(ModelOutput):
    """Mixture-of-experts decoder output with cache, cross-attention maps and router probabilities."""

    last_hidden_state: Optional[torch.FloatTensor] = None
    past_key_values: Optional[Cache] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    cross_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    router_probs: Optional[tuple[torch.FloatTensor]] = None


@dataclass
class Seq2SeqModelOutput(ModelOutput):
    """Encoder-decoder output: the decoder's final states plus what both halves produced along the way."""

    last_hidden_state: Optional[torch.FloatTensor] = None
    past_key_values: Optional[EncoderDecoderCache] = None
    decoder_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    decoder_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    cross_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    encoder_last_hidden_state: Optional[torch.FloatTensor] = None
    encoder_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    encoder_attentions: Optional[tuple[torch.FloatTensor, ...]] = None


class MultimodalModelOutput(ModelOutput):
    """Base of the multimodal outputs (not a dataclass itself: instantiate a subclass).

    The subclasses end with the ``image_outputs``, ``video_outputs`` and ``audio_outputs`` fields;
    ``to_tuple()`` turns each of those nested outputs into a tuple of its own.
    """

    def to_tuple(self) -> tuple[Any, ...]:
        """The values that are set, in key order, each modality output turned into its own tuple."""
        return tuple(
            getattr(self, key).to_tuple() if key in _MODALITY_OUTPUTS else value for key, value in self.items()
        )


@dataclass
class MultimodalBaseModelOutputWithPast(MultimodalModelOutput):
    """Multimodal backbone output: language-model states and cache, plus each modality's encoder output."""

    last_hidden_state: Optional[torch.FloatTensor] = None
    past_key_values: Optional[Cache] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    image_outputs: Optional[BaseModelOutputWithPooling] = None
    video_outputs: Optional[BaseModelOutputWithPooling] = None
    audio_outputs: Optional[BaseModelOutputWithPooling] = None


@dataclass
class MultimodalCausalLMOutputWithPast(MultimodalModelOutput):
    """Language-modelling output of a multimodal model, with the per-modality encoder outputs attached."""

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    past_key_values: Optional[Cache] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    image_outputs: Optional[BaseModelOutputWithPooling] = None
    video_outputs: Optional[BaseModelOutputWithPooling] = None
    audio_outputs: Optional[BaseModelOutputWithPooling] = None


@dataclass
class MultimodalMoeBaseModelOutputWithPast(MultimodalModelOutput):
    """Multimodal backbone output whose language model is a mixture of experts (router logits included)."""

    last_hidden_state: Optional[torch.FloatTensor] = None
    past_key_values: Optional[Cache] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    router_logits: Optional[tuple[torch.Tensor]] = None
    image_outputs: Optional[BaseModelOutputWithPooling] = None
    video_outputs: Optional[BaseModelOutputWithPooling] = None
    audio_outputs: Optional[BaseModelOutputWithPooling] = None


@dataclass
class MultimodalMoeCausalLMOutputWithPast(MultimodalModelOutput):
    """Language-modelling output of a multimodal mixture-of-experts model, auxiliary loss included."""

    loss: Optional[torch.Tensor] = None
    aux_loss: Optional[torch.Tensor] = None
    logits: Optional[torch.Tensor] = None
    past_key_values: Optional[Cache] = None
    hidden_states: Optional[tuple[torch.Tensor, ...]] = None
    attentions: Optional[tuple[torch.Tensor, ...]] = None
    router_logits: Optional[tuple[torch.Tensor]] = None
    image_outputs: Optional[BaseModelOutputWithPooling] = None
    video_outputs: Optional[BaseModelOutputWithPooling] = None
    audio_outputs: Optional[BaseModelOutputWithPooling] = None


@dataclass
class Seq2SeqMoEModelOutput(ModelOutput):
    """Encoder-decoder output of a mixture-of-experts model, with router logits for each half."""

    last_hidden_state: Optional[torch.FloatTensor] = None
    past_key_values: Optional[EncoderDecoderCache] = None
    decoder_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    decoder_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    decoder_router_logits: Optional[tuple[torch.FloatTensor]] = None
    cross_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    encoder_last_hidden_state: Optional[torch.FloatTensor] = None
    encoder_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    encoder_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    encoder_router_logits: Optional[tuple[torch.FloatTensor]] = None


@dataclass
class CausalLMOutput(ModelOutput):
    """Output of a next-token prediction head: optional loss and the vocabulary scores."""

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class CausalLMOutputWithPast(ModelOutput):
    """Next-token prediction output that can carry the key/value cache for further generation."""

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    past_key_values: Optional[Cache] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class CausalLMOutputWithCrossAttentions(ModelOutput):
    """Next-token prediction output of a decoder that attends to an encoder, cache included."""

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    past_key_values: Optional[Cache] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    cross_attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class SequenceClassifierOutputWithPast(ModelOutput):
    """Sequence classification output of a decoder-only model, which may return its cache."""

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    past_key_values: Optional[Cache] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class MaskedLMOutput(ModelOutput):
    """Output of a masked-token prediction head: optional loss and the vocabulary scores."""

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class Seq2SeqLMOutput(ModelOutput):
    """Language-modelling output of an encoder-decoder model."""

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    past_key_values: Optional[EncoderDecoderCache] = None
    decoder_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    decoder_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    cross_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    encoder_last_hidden_state: Optional[torch.FloatTensor] = None
    encoder_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    encoder_attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class Seq2SeqMoEOutput(ModelOutput):
    """Language-modelling output of an encoder-decoder mixture of experts, with both halves' router losses."""

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    encoder_z_loss: Optional[torch.FloatTensor] = None
    decoder_z_loss: Optional[torch.FloatTensor] = None
    encoder_aux_loss: Optional[torch.FloatTensor] = None
    decoder_aux_loss: Optional[torch.FloatTensor] = None
    past_key_values: Optional[EncoderDecoderCache] = None
    decoder_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    decoder_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    decoder_router_logits: Optional[tuple[torch.FloatTensor]] = None
    cross_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    encoder_last_hidden_state: Optional[torch.FloatTensor] = None
    encoder_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    encoder_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    encoder_router_logits: Optional[tuple[torch.FloatTensor]] = None


@dataclass
class NextSentencePredictorOutput(ModelOutput):
    """Output of a head that judges whether the second sentence follows the first."""

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class SequenceClassifierOutput(ModelOutput):
    """Output of a sequence classification (or regression) head."""

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class Seq2SeqSequenceClassifierOutput(ModelOutput):
    """Sequence classification output of an encoder-decoder model."""

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    past_key_values: Optional[EncoderDecoderCache] = None
    decoder_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    decoder_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    cross_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    encoder_last_hidden_state: Optional[torch.FloatTensor] = None
    encoder_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    encoder_attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class MultipleChoiceModelOutput(ModelOutput):
    """Output of a multiple-choice head: one score per candidate answer."""

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class TokenClassifierOutput(ModelOutput):
    """Output of a per-token classification head (tagging tasks such as NER)."""

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class QuestionAnsweringModelOutput(ModelOutput):
    """Output of an extractive question-answering head: start and end scores of the answer span."""

    loss: Optional[torch.FloatTensor] = None
    start_logits: Optional[torch.FloatTensor] = None
    end_logits: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class Seq2SeqQuestionAnsweringModelOutput(ModelOutput):
    """Span question-answering output of an encoder-decoder model."""

    loss: Optional[torch.FloatTensor] = None
    start_logits: Optional[torch.FloatTensor] = None
    end_logits: Optional[torch.FloatTensor] = None
    past_key_values: Optional[EncoderDecoderCache] = None
    decoder_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    decoder_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    cross_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    encoder_last_hidden_state: Optional[torch.FloatTensor] = None
    encoder_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    encoder_attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class SemanticSegmenterOutput(ModelOutput):
    """Output of a semantic segmentation head: per-pixel class scores, possibly at reduced resolution."""

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class ImageClassifierOutput(ModelOutput):
    """Output of an image classification head."""

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class ImageClassifierOutputWithNoAttention(ModelOutput):
    """Image classification output for models without attention layers."""

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class DepthEstimatorOutput(ModelOutput):
    """Output of a depth estimation head: the predicted depth map."""

    loss: Optional[torch.FloatTensor] = None
    predicted_depth: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class ImageSuperResolutionOutput(ModelOutput):
    """Output of an image super-resolution model: the upscaled reconstruction."""

    loss: Optional[torch.FloatTensor] = None
    reconstruction: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class Wav2Vec2BaseModelOutput(ModelOutput):
    """Speech encoder output that also returns the features of the convolutional front end."""

    last_hidden_state: Optional[torch.FloatTensor] = None
    extract_features: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class XVectorOutput(ModelOutput):
    """Speaker-verification output: classification scores and the utterance embeddings."""

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    embeddings: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class BackboneOutput(ModelOutput):
    """Output of a backbone used as a feature extractor: the feature maps of the selected stages."""

    feature_maps: Optional[tuple[torch.FloatTensor]] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class BaseModelOutputWithPoolingAndProjection(ModelOutput):
    """Pooled encoder output that also returns a projected representation."""

    last_hidden_state: Optional[torch.FloatTensor] = None
    pooler_output: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    projection_state: Optional[tuple[torch.FloatTensor]] = None


@dataclass
class Seq2SeqSpectrogramOutput(ModelOutput):
    """Output of an encoder-decoder model that predicts a spectrogram (text-to-speech)."""

    loss: Optional[torch.FloatTensor] = None
    spectrogram: Optional[torch.FloatTensor] = None
    past_key_values: Optional[EncoderDecoderCache] = None
    decoder_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    decoder_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    cross_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    encoder_last_hidden_state: Optional[torch.FloatTensor] = None
    encoder_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    encoder_attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class Seq2SeqTSModelOutput(ModelOutput):
    """Encoder-decoder output of a time-series model, with the scaling values and static features it used."""

    last_hidden_state: Optional[torch.FloatTensor] = None
    past_key_values: Optional[EncoderDecoderCache] = None
    decoder_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    decoder_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    cross_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    encoder_last_hidden_state: Optional[torch.FloatTensor] = None
    encoder_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    encoder_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    loc: Optional[torch.FloatTensor] = None
    scale: Optional[torch.FloatTensor] = None
    static_features: Optional[torch.FloatTensor] = None


@dataclass
class Seq2SeqTSPredictionOutput(ModelOutput):
    """Time-series prediction output: parameters of the predicted distribution, loss and scaling values."""

    loss: Optional[torch.FloatTensor] = None
    params: Optional[tuple[torch.FloatTensor, ...]] = None
    past_key_values: Optional[EncoderDecoderCache] = None
    decoder_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    decoder_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    cross_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    encoder_last_hidden_state: Optional[torch.FloatTensor] = None
    encoder_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    encoder_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    loc: Optional[torch.FloatTensor] = None
    scale: Optional[torch.FloatTensor] = None
    static_features: Optional[torch.FloatTensor] = None


@dataclass
class SampleTSPredictionOutput(ModelOutput):
    """Time-series forecasts drawn by sampling from the predicted distribution."""

    sequences: Optional[torch.FloatTensor] = None


@dataclass
class MaskedImageModelingOutput(ModelOutput):
    """Output of a masked image modelling head: the reconstructed pixel values.

    The deprecated ``logits`` property (not a field) still reads ``reconstruction``, with a
    ``FutureWarning``.
    """

    loss: Optional[torch.FloatTensor] = None
    reconstruction: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None

    @property
    def logits(self) -> Optional[torch.FloatTensor]:
        """Deprecated name of ``reconstruction``; reading it warns."""
        warnings.warn(_LOGITS_DEPRECATION, FutureWarning)
        return self.reconstruction
