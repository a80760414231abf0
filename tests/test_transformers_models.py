"""Real transformers models give the same results patched as unpatched.

Pins, on tiny models built from small configs with random weights (``torch.manual_seed`` first; nothing
is downloaded), that ``fastoutput.patch_transformers()`` changes nothing a model computes, only the class
of what it returns: each case runs the same model instance unpatched and then patched (``run_both``: the
model is built before the patch, as the issue requires of models created before the call) and compares
the two results with ``assert_same`` (same keys in the same order, ``torch.equal`` on every tensor, the
same types of nested values, output classes by module and qualified name, the patched ones
fastoutput-backed). The cases:

- BERT sequence classification, transformers' documentation example (``BertForSequenceClassification``
  with ``labels``, inputs from a ``BertTokenizer`` on a tiny vocabulary written to ``tmp_path``):
  ``loss``/``logits``, ``outputs[:2]``, the keys, ``hidden_states``/``attentions`` only when asked for,
  and the patched output is both a ``fastoutput.ModelOutput`` and an instance of the transformers class
  bound before patching.
- GPT-2 (``GPT2LMHeadModel``): a forward, a second forward on the returned cache, and ``generate``
  (greedy, and sampling under a fixed seed) returning ``GenerateDecoderOnlyOutput`` with scores.
- T5 (``T5ForConditionalGeneration``): a forward with labels and ``generate``.
- ViT image classification, Wav2Vec2 CTC (with labels: the CTC loss).
- CLIP (``CLIPModel``): the model-specific ``CLIPOutput``, whose ``to_tuple`` is overridden, with the
  nested text and vision model outputs.
- Llama (``LlamaForCausalLM``): a forward and a short ``generate``.
- Mixtral (``MixtralForCausalLM``) and Qwen2-MoE (``Qwen2MoeForCausalLM``) with
  ``output_router_logits=True``: router logits and ``aux_loss``.
- Every model once more built while patched, against the same model built unpatched from the same seed.

Every test leaves transformers unpatched. The models run on one torch thread; the file takes 5-8 s per
configuration on 2 busy cores.

Run: ``FASTOUTPUT_PURE_PYTHON=0 python -m pytest tests/test_transformers_models.py -q``
(and with ``FASTOUTPUT_PURE_PYTHON=1``, and under the hf5 venv: transformers 4.57.6 and 5.x).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

import fastoutput
from .transformers_support import assert_same, class_name, run_both

transformers: Any = importlib.import_module("transformers")
modeling_outputs: Any = importlib.import_module("transformers.modeling_outputs")

pytestmark = pytest.mark.transformers

# The transformers class, bound here (at import, unpatched) and never looked up again.
ORIGINAL_SEQUENCE_CLASSIFIER_OUTPUT: type = modeling_outputs.SequenceClassifierOutput

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", ",", "my", "dog", "is", "cute", "."]
Model = Any  # a transformers PreTrainedModel (an nn.Module with generate)
LAYERS = 2  # every model has this many hidden layers
EAGER = "eager"  # for the models asked for attentions: other attention implementations warn and return none


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """The tiny models run on one thread: more only wait on each other on a busy 2-core machine (4x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def left_unpatched() -> Iterator[None]:
    """Each test starts and ends with transformers unpatched."""
    assert not fastoutput.transformers_patched()
    yield
    assert not fastoutput.transformers_patched(), "the test left transformers patched"


def patched_output(value: Any) -> None:
    """``value`` is what a patched run returns: a fastoutput-backed output class of transformers' name."""
    assert isinstance(value, fastoutput.ModelOutput), type(value)
    assert class_name(type(value)).startswith("transformers."), class_name(type(value))


def token_ids(*shape: int, vocab_size: int = 100) -> torch.Tensor:
    """Random token ids, ids 0-2 (the tiny models' pad/eos/bos) left out, from a fixed generator."""
    generator = torch.Generator().manual_seed(1234)
    return torch.randint(3, vocab_size, shape, generator=generator)


def random_tensor(*shape: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(4321)
    return torch.randn(*shape, generator=generator)


# --------------------------------------------------------------------------------------------------
# Tiny models (eval mode: no dropout, no Wav2Vec2 masking), and what each case runs on them


def tiny_bert() -> Model:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=32,
        num_labels=2,
        attn_implementation=EAGER,
    )
    return transformers.BertForSequenceClassification(config).eval()


def tiny_gpt2() -> Model:
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=100, n_positions=32, n_embd=32, n_layer=LAYERS, n_head=4,
        bos_token_id=1,
        eos_token_id=1,
        attn_implementation=EAGER,
    )
    return transformers.GPT2LMHeadModel(config).eval()


def tiny_t5() -> Model:
    torch.manual_seed(0)
    config = transformers.T5Config(
        vocab_size=100,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=LAYERS,
        num_heads=4,
        relative_attention_num_buckets=8,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        attn_implementation=EAGER,
    )
    return transformers.T5ForConditionalGeneration(config).eval()


def tiny_vit() -> Model:
    torch.manual_seed(0)
    config = transformers.ViTConfig(
        image_size=16,
        patch_size=8,
        num_channels=3,
        hidden_size=32,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        intermediate_size=64,
        num_labels=3,
    )
    return transformers.ViTForImageClassification(config).eval()


def tiny_wav2vec2() -> Model:
    torch.manual_seed(0)
    config = transformers.Wav2Vec2Config(
        vocab_size=12,
        hidden_size=32,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        intermediate_size=64,
        conv_dim=(16, 16),
        conv_stride=(4, 2),
        conv_kernel=(8, 4),
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2,
        pad_token_id=0,
        ctc_loss_reduction="mean",
    )
    return transformers.Wav2Vec2ForCTC(config).eval()


def tiny_clip() -> Model:
    torch.manual_seed(0)
    layers = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": LAYERS, "num_attention_heads": 4}
    config = transformers.CLIPConfig(
        text_config={"vocab_size": 100, "max_position_embeddings": 16, **layers},
        vision_config={"image_size": 16, "patch_size": 8, **layers},
        projection_dim=16,
        attn_implementation=EAGER,
    )
    return transformers.CLIPModel(config).eval()


# What the three decoders share: a Llama-shaped stack, with 4 experts routing 2 tokens for the MoE ones.
DECODER = {
    "vocab_size": 100,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": LAYERS,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 64,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 2,
}


def tiny_llama() -> Model:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(**DECODER, attn_implementation=EAGER)
    return transformers.LlamaForCausalLM(config).eval()


def tiny_mixtral() -> Model:
    torch.manual_seed(0)
    config = transformers.MixtralConfig(**DECODER, num_local_experts=4, num_experts_per_tok=2, output_router_logits=True)
    return transformers.MixtralForCausalLM(config).eval()


def tiny_qwen2_moe() -> Model:
    torch.manual_seed(0)
    config = transformers.Qwen2MoeConfig(
        **DECODER,
        moe_intermediate_size=32,
        shared_expert_intermediate_size=32,
        num_experts=4,
        num_experts_per_tok=2,
        decoder_sparse_step=1,
        output_router_logits=True,
    )
    return transformers.Qwen2MoeForCausalLM(config).eval()


def bert_forward(model: Model) -> Any:
    ids = token_ids(1, 8, vocab_size=len(VOCAB))
    return model(input_ids=ids, labels=torch.tensor([1]), output_hidden_states=True, output_attentions=True)


def gpt2_forward_twice(model: Model) -> tuple[Any, Any]:
    """A forward, then one more token on the cache the first returned."""
    first = model(token_ids(2, 6), labels=token_ids(2, 6), output_hidden_states=True, output_attentions=True)
    second = model(token_ids(2, 1), past_key_values=first.past_key_values, output_hidden_states=True)
    return first, second


def gpt2_generate(model: Model, sample: bool = False) -> Any:
    torch.manual_seed(7)
    ids = token_ids(1, 5)
    return model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=4,
        do_sample=sample,
        return_dict_in_generate=True,
        output_scores=True,
        pad_token_id=0,
    )


def t5_forward(model: Model) -> Any:
    ids = token_ids(2, 7)
    return model(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        labels=token_ids(2, 5),
        output_hidden_states=True,
        output_attentions=True,
    )


def t5_generate(model: Model) -> Any:
    ids = token_ids(2, 7)
    return model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=4,
        do_sample=False,
        return_dict_in_generate=True,
        output_scores=True,
    )


def vit_forward(model: Model) -> Any:
    return model(pixel_values=random_tensor(2, 3, 16, 16), labels=torch.tensor([0, 2]), output_hidden_states=True)


def wav2vec2_forward(model: Model) -> Any:
    # 400 samples -> (400 - 8) // 4 + 1 = 99 frames -> (99 - 4) // 2 + 1 = 48 frames, room for the labels
    labels = torch.tensor([[3, 4, 5, 6, 7], [8, 9, 10, -100, -100]])
    return model(input_values=random_tensor(2, 400), labels=labels, output_hidden_states=True)


def clip_forward(model: Model) -> Any:
    return model(
        input_ids=token_ids(2, 6),
        pixel_values=random_tensor(2, 3, 16, 16),
        return_loss=True,
        output_hidden_states=True,
        output_attentions=True,
    )


def llama_forward(model: Model) -> Any:
    return model(token_ids(2, 6), labels=token_ids(2, 6), output_hidden_states=True, output_attentions=True)


def llama_generate(model: Model) -> Any:
    ids = token_ids(1, 5)
    return model.generate(
        ids, attention_mask=torch.ones_like(ids), max_new_tokens=3, do_sample=False, return_dict_in_generate=True
    )


def moe_forward(model: Model) -> Any:
    return model(token_ids(2, 6), labels=token_ids(2, 6))


# name -> (build, run)
CASES: dict[str, tuple[Callable[[], Model], Callable[[Model], Any]]] = {
    "bert": (tiny_bert, bert_forward),
    "gpt2": (tiny_gpt2, gpt2_forward_twice),
    "gpt2-generate": (tiny_gpt2, gpt2_generate),
    "t5": (tiny_t5, t5_forward),
    "t5-generate": (tiny_t5, t5_generate),
    "vit": (tiny_vit, vit_forward),
    "wav2vec2": (tiny_wav2vec2, wav2vec2_forward),
    "clip": (tiny_clip, clip_forward),
    "llama": (tiny_llama, llama_forward),
    "llama-generate": (tiny_llama, llama_generate),
    "mixtral": (tiny_mixtral, moe_forward),
    "qwen2-moe": (tiny_qwen2_moe, moe_forward),
}


def compare(model: Model, run: Callable[[Model], Any]) -> Any:
    """``run(model)`` unpatched and patched, the results compared; the patched result."""
    unpatched, result = run_both(lambda: run(model))
    assert_same(unpatched, result)
    return result


# --------------------------------------------------------------------------------------------------
# BERT: the documentation's example


@pytest.fixture
def bert_inputs(tmp_path: Path) -> dict[str, torch.Tensor]:
    """``tokenizer("Hello, my dog is cute", return_tensors="pt")`` with a tokenizer on a tiny vocabulary."""
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tokenizer = transformers.BertTokenizer(str(vocab_file))
    inputs = tokenizer("Hello, my dog is cute", return_tensors="pt")
    assert inputs["input_ids"].tolist() == [[2, 5, 6, 7, 8, 9, 10, 3]]  # no [UNK]: the vocabulary covers it
    return dict(inputs)


@pytest.mark.parametrize("output_attentions", [False, True], ids=["no-attentions", "attentions"])
@pytest.mark.parametrize("output_hidden_states", [False, True], ids=["no-hidden", "hidden"])
def test_bert_sequence_classification_documentation_example(
    bert_inputs: dict[str, torch.Tensor], output_hidden_states: bool, output_attentions: bool
) -> None:
    """transformers' own example: ``BertForSequenceClassification(**inputs, labels=labels)`` gives the same
    ``loss``, ``logits`` and ``outputs[:2]`` patched; its keys are ``loss``, ``logits`` and only the
    optional outputs asked for (tuples of one tensor per layer); the patched output is fastoutput-backed
    and still an instance of the ``SequenceClassifierOutput`` bound before patching."""
    model = tiny_bert()
    labels = torch.tensor([1]).unsqueeze(0)

    instance_of_original: list[bool] = []

    def classify() -> Any:
        outputs = model(
            **bert_inputs,
            labels=labels,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
        )
        instance_of_original.append(isinstance(outputs, ORIGINAL_SEQUENCE_CLASSIFIER_OUTPUT))  # checked while patched
        return outputs

    unpatched, outputs = run_both(classify)
    assert_same(unpatched, outputs)
    assert_same(unpatched[:2], outputs[:2])
    assert_same(unpatched.to_tuple(), outputs.to_tuple())

    assert instance_of_original == [True, True]
    assert type(unpatched) is ORIGINAL_SEQUENCE_CLASSIFIER_OUTPUT
    patched_output(outputs)  # fastoutput-backed
    assert type(outputs) is not ORIGINAL_SEQUENCE_CLASSIFIER_OUTPUT
    assert class_name(type(outputs)) == "transformers.modeling_outputs.SequenceClassifierOutput"

    expected_keys = ["loss", "logits"]
    expected_keys += ["hidden_states"] if output_hidden_states else []
    expected_keys += ["attentions"] if output_attentions else []
    assert list(outputs.keys()) == expected_keys
    loss, logits = outputs.loss, outputs.logits
    assert loss is outputs["loss"] and logits is outputs["logits"]
    assert loss.shape == () and logits.shape == (1, 2)
    head = outputs[:2]
    assert type(head) is tuple and len(head) == 2
    assert head[0] is loss and head[1] is logits
    for name, asked in (("hidden_states", output_hidden_states), ("attentions", output_attentions)):
        value = getattr(outputs, name)
        if not asked:
            assert value is None, name
            continue
        assert type(value) is tuple and len(value) == LAYERS + (name == "hidden_states"), name
        assert all(isinstance(tensor, torch.Tensor) for tensor in value), name
        assert value is outputs[name]


# --------------------------------------------------------------------------------------------------
# The other models, built before patching


@pytest.mark.parametrize("sample", [False, True], ids=["greedy", "sampling"])
def test_gpt2_generate(sample: bool) -> None:
    """GPT-2 ``generate`` (greedy, and sampling under a fixed seed) with ``return_dict_in_generate`` and
    ``output_scores`` returns the same ``GenerateDecoderOnlyOutput`` patched: same sequences, scores and
    cache."""
    result = compare(tiny_gpt2(), lambda model: gpt2_generate(model, sample))
    patched_output(result)
    assert type(result).__name__ == "GenerateDecoderOnlyOutput"
    assert result.sequences.shape == (1, 9)
    assert type(result.scores) is tuple and len(result.scores) == 4


def test_gpt2_cached_forward() -> None:
    """A second GPT-2 forward on the cache the first returned (``past_key_values=out.past_key_values``,
    read from the patched output) continues as it does unpatched."""
    first, second = compare(tiny_gpt2(), gpt2_forward_twice)
    patched_output(first)
    patched_output(second)
    assert second.logits.shape == (2, 1, 100)
    assert first.past_key_values is second.past_key_values  # the cache is updated in place
    assert second.past_key_values.get_seq_length() == 7


def test_t5_forward_and_generate() -> None:
    """T5: a forward with labels (``Seq2SeqLMOutput`` with loss, encoder and decoder states) and
    ``generate`` (``GenerateEncoderDecoderOutput``) give the same results patched."""
    model = tiny_t5()
    output = compare(model, t5_forward)
    patched_output(output)
    assert type(output).__name__ == "Seq2SeqLMOutput"
    assert output.loss is not None and output.encoder_last_hidden_state is not None
    assert len(output.decoder_attentions) == len(output.cross_attentions) == LAYERS
    generated = compare(model, t5_generate)
    patched_output(generated)
    assert type(generated).__name__ == "GenerateEncoderDecoderOutput"
    assert generated.sequences.shape[0] == 2 and len(generated.scores) == generated.sequences.shape[1] - 1


def test_clip_output() -> None:
    """CLIP's model-specific ``CLIPOutput``, whose ``to_tuple`` turns its nested text and vision model
    outputs into tuples, gives the same fields, ``to_tuple()`` and ``out[0]`` (the contrastive loss)
    patched; the nested outputs are fastoutput-backed too."""
    model = tiny_clip()

    def run() -> tuple[Any, tuple[Any, ...], Any]:
        output = clip_forward(model)
        return output, output.to_tuple(), output[0]  # read while (un)patched, as model code would

    unpatched, (output, as_tuple, first) = run_both(run)
    assert_same(unpatched, (output, as_tuple, first))
    assert class_name(type(output)) == "transformers.models.clip.modeling_clip.CLIPOutput"
    assert list(output.keys())[0] == "loss"
    assert first is output.loss
    assert len(as_tuple) == len(output.keys())
    for nested in ("text_model_output", "vision_model_output"):
        patched_output(output[nested])
        assert class_name(type(output[nested])) == "transformers.modeling_outputs.BaseModelOutputWithPooling"
        converted = as_tuple[list(output.keys()).index(nested)]
        assert type(converted) is tuple  # CLIPOutput.to_tuple's own doing
        assert len(converted) == len(output[nested].keys())
        for left, right in zip(converted, output[nested].values()):
            assert left is right


def test_vit_image_classification() -> None:
    """ViT image classification on random pixel values, with labels and hidden states, gives the same
    ``ImageClassifierOutput`` patched."""
    output = compare(tiny_vit(), vit_forward)
    patched_output(output)
    assert class_name(type(output)) == "transformers.modeling_outputs.ImageClassifierOutput"
    assert list(output.keys()) == ["loss", "logits", "hidden_states"]
    assert output.logits.shape == (2, 3) and len(output.hidden_states) == LAYERS + 1


def test_wav2vec2_ctc() -> None:
    """Wav2Vec2 CTC on random audio, with labels (the CTC loss), gives the same ``CausalLMOutput`` patched."""
    output = compare(tiny_wav2vec2(), wav2vec2_forward)
    patched_output(output)
    assert class_name(type(output)) == "transformers.modeling_outputs.CausalLMOutput"
    assert list(output.keys()) == ["loss", "logits", "hidden_states"]
    assert output.logits.shape == (2, 48, 12) and torch.isfinite(output.loss)


def test_llama_forward_and_generate() -> None:
    """Llama: a forward with labels, hidden states, attentions and its cache, and a short greedy
    ``generate``, give the same results patched."""
    model = tiny_llama()
    output = compare(model, llama_forward)
    patched_output(output)
    assert class_name(type(output)) == "transformers.modeling_outputs.CausalLMOutputWithPast"
    assert output.loss is not None and len(output.attentions) == LAYERS
    generated = compare(model, llama_generate)
    patched_output(generated)
    assert type(generated).__name__ == "GenerateDecoderOnlyOutput"
    assert generated.sequences.shape == (1, 8)


@pytest.mark.parametrize("case", ["mixtral", "qwen2-moe"])
def test_moe_router_logits(case: str) -> None:
    """A mixture-of-experts decoder (Mixtral, Qwen2-MoE) with ``output_router_logits=True``: the router
    logits (one tensor per layer) and the load-balancing ``aux_loss`` are present, and equal patched and
    unpatched."""
    build, run = CASES[case]
    model = build()
    unpatched, output = run_both(lambda: run(model))
    assert_same(unpatched, output)
    patched_output(output)
    assert class_name(type(output)) == "transformers.modeling_outputs.MoeCausalLMOutputWithPast"
    for result in (unpatched, output):
        assert "aux_loss" in result.keys() and "router_logits" in result.keys()
        assert isinstance(result.aux_loss, torch.Tensor) and result.aux_loss.shape == ()
        assert type(result.router_logits) is tuple and len(result.router_logits) == LAYERS
    assert torch.equal(unpatched.aux_loss, output.aux_loss)
    for left, right in zip(unpatched.router_logits, output.router_logits):
        assert torch.equal(left, right)


# --------------------------------------------------------------------------------------------------
# Every model, built while patched


@pytest.mark.parametrize("case", list(CASES))
def test_model_built_while_patched_gives_the_same_results(case: str) -> None:
    """A model built while transformers is patched returns what the same model (same config, same seed)
    built and run unpatched returns."""
    build, run = CASES[case]
    expected = run(build())
    with fastoutput.patch_transformers():
        result = run(build())
    assert_same(expected, result)
    for value in result if isinstance(result, tuple) else (result,):
        patched_output(value)
