"""The libraries around transformers keep working on patched outputs (``fastoutput.patch_transformers``).

Each test runs the same code unpatched and patched (``run_both``) and compares the two results with
``assert_same`` (same keys in the same order, equal tensors, output classes of the same name, the
patched ones fastoutput-backed), so transformers' own behaviour is the reference throughout:

* ``Trainer``: two training steps, ``evaluate``, ``predict`` and ``prediction_step`` (with and without
  ``ignore_keys``) of a tiny BERT classifier on CPU give exactly the same losses, logits and weights,
  in full precision and under bf16 mixed precision (where accelerate converts the model's outputs
  back to fp32); a forward hook checks that the patched run's model really returned fastoutput
  outputs.
* ``pipeline("text-classification")`` over a tiny model and tokenizer saved to a local folder, built
  before and after patching, gives the same labels and scores.
* accelerate's ``send_to_device``, ``recursively_apply``, ``concatenate``, ``convert_outputs_to_fp32``
  (on a model forward under autocast, as ``Accelerator.prepare`` wraps it), ``find_batch_size``,
  ``gather`` and ``pad_across_processes`` (single process) keep the stand-in class, the values and
  the key order of a patched output.

Nothing is downloaded: models are built from small configs with seeded random weights, the
tokenizer from a vocabulary file written here. Run it with
``FASTOUTPUT_PURE_PYTHON=0 python -m pytest tests/test_transformers_integration.py -q``
(and with ``FASTOUTPUT_PURE_PYTHON=1``, and under transformers 5.x).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import MethodType
from typing import Any

import pytest

import torch
import transformers.modeling_outputs
from accelerate import PartialState  # type: ignore[import-untyped]
from accelerate.utils import (  # type: ignore[import-untyped]
    concatenate,
    convert_outputs_to_fp32,
    find_batch_size,
    gather,
    pad_across_processes,
    recursively_apply,
    send_to_device,
)

import fastoutput
from .transformers_support import assert_same, class_name, run_both

pytestmark = pytest.mark.transformers

# transformers' own class (this module is imported unpatched): patched runs must still pass isinstance
# checks against it while the patch is on
CLASSIFIER_OUTPUT: type = transformers.modeling_outputs.SequenceClassifierOutput
assert not issubclass(CLASSIFIER_OUTPUT, fastoutput.ModelOutput)

SEQ_LEN = 8
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + (
    "the a cat dog bird sat ran flew on under mat rug tree fast slow good bad very not is was and".split()
)
LABELS = {0: "negative", 1: "neutral", 2: "positive"}
SENTENCES = ["the cat sat on the mat", "a dog ran very fast", "the bird was not good", "and", "zebra"]


def tiny_bert_config(**overrides: Any) -> Any:
    """The smallest BERT classifier config worth running (random weights; nothing downloaded)."""
    from transformers import BertConfig

    config_class: Any = BertConfig  # untyped in some transformers versions
    settings: dict[str, Any] = {
        "vocab_size": len(VOCAB),
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 37,
        "max_position_embeddings": 16,
        "initializer_range": 0.2,  # wide enough for labels and scores to differ between inputs
        "num_labels": len(LABELS),
        "id2label": dict(LABELS),
        "label2id": {name: index for index, name in LABELS.items()},
    }
    settings.update(overrides)
    return config_class(**settings)


def tiny_bert(seed: int = 0, **overrides: Any) -> Any:
    """A BertForSequenceClassification with the weights ``seed`` gives."""
    from transformers import BertForSequenceClassification

    model_class: Any = BertForSequenceClassification
    torch.manual_seed(seed)
    return model_class(tiny_bert_config(**overrides))


def rows(count: int, seed: int) -> list[dict[str, torch.Tensor]]:
    """A tiny in-memory dataset: token ids (some padded), attention masks and class labels."""
    generator = torch.Generator().manual_seed(seed)
    data = []
    for index in range(count):
        length = SEQ_LEN - index % 3
        input_ids = torch.zeros(SEQ_LEN, dtype=torch.long)
        input_ids[:length] = torch.randint(5, len(VOCAB), (length,), generator=generator)
        attention_mask = (input_ids != 0).long()
        data.append({"input_ids": input_ids, "attention_mask": attention_mask, "labels": torch.tensor(index % 3)})
    return data


@contextmanager
def recording_outputs(model: Any) -> Iterator[list[Any]]:
    """Every value ``model(...)`` returns while the ``with`` body runs (a forward hook, so what the
    caller receives: after accelerate's fp32 conversion, where the forward was wrapped with it),
    each checked at once to be an instance of transformers' SequenceClassifierOutput."""
    seen: list[Any] = []

    def hook(module: Any, args: Any, output: Any) -> None:
        assert isinstance(output, CLASSIFIER_OUTPUT), type(output)
        seen.append(output)

    handle = model.register_forward_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


def assert_patched_outputs(unpatched: list[Any], patched: list[Any]) -> None:
    """The unpatched run's model returned transformers' classes, the patched run's the fastoutput
    stand-ins of the same names."""
    assert unpatched, "the model was never called"
    assert len(patched) == len(unpatched)
    for original, stand_in in zip(unpatched, patched):
        assert not isinstance(original, fastoutput.ModelOutput), type(original)
        assert isinstance(stand_in, fastoutput.ModelOutput), type(stand_in)
        assert type(stand_in) is not type(original)
        assert class_name(type(stand_in)) == class_name(type(original))


# --------------------------------------------------------------------------------------------------
# Trainer


def without_timings(metrics: dict[str, Any]) -> dict[str, Any]:
    """Trainer metrics less the wall-clock ones (runtime, samples and steps per second)."""
    return {key: value for key, value in metrics.items() if not key.endswith(("_runtime", "_per_second"))}


def numpy_as_torch(value: Any) -> Any:
    """``predict`` gives numpy arrays (``assert_same`` compares tensors): the same nesting, as tensors."""
    if isinstance(value, (tuple, list)):
        return type(value)(numpy_as_torch(item) for item in value)
    return torch.from_numpy(value) if type(value).__module__ == "numpy" else value


def train_and_evaluate(output_dir: Path, precision: str) -> dict[str, Any]:
    """Builds its own model and Trainer (the seed fixes weights, dropout and sampling), trains two
    steps, evaluates, predicts and calls ``prediction_step``; returns everything that came out."""
    from transformers import Trainer, TrainingArguments, default_data_collator

    model = tiny_bert(output_hidden_states=True)  # a third key, so that ignore_keys has work to do
    args = TrainingArguments(
        output_dir=str(output_dir),
        max_steps=2,
        per_device_train_batch_size=2,
        per_device_eval_batch_size=2,
        report_to=[],
        use_cpu=True,
        bf16=precision == "bf16",
        seed=0,
        save_strategy="no",
        logging_strategy="steps",
        logging_steps=1,
        disable_tqdm=True,
    )
    eval_rows = rows(3, seed=2)  # an odd count: the last evaluation batch is short
    trainer = Trainer(model=model, args=args, train_dataset=rows(4, seed=1), eval_dataset=eval_rows)
    batch = default_data_collator(eval_rows[:2])
    with recording_outputs(model) as outputs:
        train_output = trainer.train()
        metrics = trainer.evaluate()
        prediction = trainer.predict(eval_rows)  # type: ignore[arg-type,unused-ignore]
        step_default = trainer.prediction_step(model, batch, prediction_loss_only=False)
        step_ignoring = trainer.prediction_step(
            model, batch, prediction_loss_only=False, ignore_keys=["hidden_states"]
        )
        step_loss_only = trainer.prediction_step(model, batch, prediction_loss_only=True)
    return {
        "log_history": [without_timings(entry) for entry in trainer.state.log_history],
        "training_loss": train_output.training_loss,
        "global_step": train_output.global_step,
        "eval_metrics": without_timings(metrics),
        "predictions": numpy_as_torch(prediction.predictions),
        "label_ids": numpy_as_torch(prediction.label_ids),
        "predict_metrics": without_timings(prediction.metrics or {}),
        "prediction_step": step_default,
        "prediction_step_ignoring": step_ignoring,
        "prediction_step_loss_only": step_loss_only,
        "weights": {name: tensor.detach().clone() for name, tensor in model.state_dict().items()},
        "outputs": outputs,
    }


@pytest.fixture(scope="module", params=["fp32", "bf16"])
def trainer_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """``train_and_evaluate`` unpatched, then patched (two Trainers per precision, shared by the tests)."""
    precision: str = request.param
    unpatched_dir = tmp_path_factory.mktemp(f"trainer-{precision}-unpatched")
    patched_dir = tmp_path_factory.mktemp(f"trainer-{precision}-patched")
    directories = iter([unpatched_dir, patched_dir])
    unpatched, patched = run_both(lambda: train_and_evaluate(next(directories), precision))
    for directory in (unpatched_dir, patched_dir):
        assert not any(directory.iterdir()), "save_strategy='no' wrote a checkpoint"
    return unpatched, patched


def test_trainer_model_returns_fastoutput_outputs(trainer_runs: tuple[Any, Any]) -> None:
    """Under the patch every forward the Trainer makes (training, evaluation, prediction, the
    prediction steps; after accelerate's fp32 conversion under bf16) returns the fastoutput stand-in
    of SequenceClassifierOutput, with the same keys and tensors as the unpatched run's output."""
    unpatched, patched = trainer_runs
    assert_patched_outputs(unpatched["outputs"], patched["outputs"])
    assert {class_name(type(output)) for output in patched["outputs"]} == {
        "transformers.modeling_outputs.SequenceClassifierOutput"
    }
    assert_same(unpatched["outputs"], patched["outputs"])
    for output in patched["outputs"]:
        assert list(output.keys()) == ["loss", "logits", "hidden_states"]
        assert output.logits.dtype == torch.float32  # bf16 logits were converted back by accelerate


def test_trainer_training_losses_are_identical(trainer_runs: tuple[Any, Any]) -> None:
    """Two training steps log exactly the same losses, gradient norms and learning rates, report the
    same training loss, and leave exactly the same weights, patched and unpatched."""
    unpatched, patched = trainer_runs
    assert unpatched["global_step"] == 2
    assert [entry["step"] for entry in unpatched["log_history"] if "loss" in entry] == [1, 2]
    assert unpatched["log_history"][0]["loss"] != unpatched["log_history"][1]["loss"]
    assert patched["log_history"] == unpatched["log_history"]
    assert patched["training_loss"] == unpatched["training_loss"]
    assert_same(unpatched["weights"], patched["weights"])


def test_trainer_evaluate_and_predict_are_identical(trainer_runs: tuple[Any, Any]) -> None:
    """``evaluate`` gives the same loss, and ``predict`` the same predictions (logits and every hidden
    state, concatenated over batches, the last one short), labels and metrics."""
    unpatched, patched = trainer_runs
    assert "eval_loss" in unpatched["eval_metrics"]
    assert patched["eval_metrics"] == unpatched["eval_metrics"]
    assert patched["predict_metrics"] == unpatched["predict_metrics"]
    logits, hidden_states = unpatched["predictions"]  # the outputs' values less the loss, in key order
    assert logits.shape == (3, len(LABELS)) and len(hidden_states) == 3
    assert_same(unpatched["predictions"], patched["predictions"])
    assert_same(unpatched["label_ids"], patched["label_ids"])


def test_trainer_prediction_step_with_and_without_ignore_keys(trainer_runs: tuple[Any, Any]) -> None:
    """``prediction_step`` returns the same (loss, logits, labels) patched and unpatched: with no
    ``ignore_keys`` the logits are every non-loss value of the output in key order, with
    ``ignore_keys=["hidden_states"]`` the logits tensor alone, with ``prediction_loss_only`` no logits."""
    unpatched, patched = trainer_runs
    loss, logits, labels = unpatched["prediction_step"]
    assert loss.shape == () and labels.shape == (2,)
    assert isinstance(logits, tuple) and len(logits) == 2
    assert isinstance(unpatched["prediction_step_ignoring"][1], torch.Tensor)
    assert torch.equal(unpatched["prediction_step_ignoring"][1], logits[0])
    assert unpatched["prediction_step_loss_only"][1] is None
    for key in ("prediction_step", "prediction_step_ignoring", "prediction_step_loss_only"):
        assert_same(unpatched[key], patched[key], key)


# --------------------------------------------------------------------------------------------------
# pipeline


@pytest.fixture(scope="module")
def saved_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT classifier and its tokenizer (from a vocabulary file written here), saved together
    with ``save_pretrained`` to a local folder."""
    from transformers import BertTokenizer

    tokenizer_class: Any = BertTokenizer
    root = tmp_path_factory.mktemp("classifier")
    vocab_file = root / "vocab.txt"
    vocab_file.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    folder = root / "model"
    tiny_bert(seed=5).save_pretrained(folder)
    tokenizer_class(vocab_file=str(vocab_file)).save_pretrained(folder)
    return folder


def text_classifier(folder: Path) -> Any:
    from transformers import pipeline

    return pipeline("text-classification", model=str(folder), tokenizer=str(folder), device="cpu")


def classify(classifier: Any) -> dict[str, Any]:
    """What the pipeline answers: the best label per sentence (batched, so padded), every label's
    score, raw logits for one sentence, and the types of the outputs its model returned."""
    with recording_outputs(classifier.model) as outputs:
        answers = {
            "best": classifier(SENTENCES, batch_size=2),
            "all_scores": classifier(SENTENCES[:2], top_k=None),
            "raw": classifier(SENTENCES[0], function_to_apply="none"),
        }
    return {"answers": answers, "outputs": outputs}


def check_classifications(unpatched: dict[str, Any], patched: dict[str, Any]) -> None:
    assert len({answer["label"] for answer in unpatched["answers"]["best"]}) > 1, "labels do not vary"
    assert len(unpatched["answers"]["all_scores"][0]) == len(LABELS)
    assert_patched_outputs(unpatched["outputs"], patched["outputs"])
    assert_same(unpatched["outputs"], patched["outputs"])
    assert patched["answers"] == unpatched["answers"]


def test_pipeline_built_before_patching(saved_classifier: Path) -> None:
    """A text-classification pipeline built before the patch gives the same labels and scores
    afterwards, its (already loaded) model now returning fastoutput outputs."""
    classifier = text_classifier(saved_classifier)
    unpatched, patched = run_both(lambda: classify(classifier))
    check_classifications(unpatched, patched)


def test_pipeline_built_after_patching(saved_classifier: Path) -> None:
    """A text-classification pipeline built (model and tokenizer loaded from the folder) under the
    patch gives the labels and scores one built without it gives."""
    unpatched, patched = run_both(lambda: classify(text_classifier(saved_classifier)))
    check_classifications(unpatched, patched)


# --------------------------------------------------------------------------------------------------
# accelerate


def reordered_output() -> Any:
    """A BaseModelOutputWithPoolingAndCrossAttentions of the current state (transformers' class
    unpatched, the stand-in patched) whose keys are not in field order: attentions (fp16, batch 5),
    then last_hidden_state (bf16, batch 2), then pooler_output (fp32) and cross_attentions (int64)."""
    import transformers.modeling_outputs as outputs

    generator = torch.Generator().manual_seed(7)
    output = outputs.BaseModelOutputWithPoolingAndCrossAttentions()
    output["attentions"] = (
        torch.randn(5, 2, 3, 3, generator=generator).half(),
        torch.randn(5, 2, 3, 3, generator=generator).half(),
    )
    output["last_hidden_state"] = torch.randn(2, 3, 4, generator=generator).bfloat16()
    output["pooler_output"] = torch.randn(2, 4, generator=generator)
    output["cross_attentions"] = (torch.arange(6).reshape(2, 3),)
    assert list(output.keys()) == ["attentions", "last_hidden_state", "pooler_output", "cross_attentions"]
    return output


def describe(value: Any) -> Any:
    """The structure of ``value`` with every tensor replaced by its device, dtype and shape (meta
    tensors cannot be compared by value), output classes by their module and qualified name."""
    if isinstance(value, torch.Tensor):
        return ("tensor", value.device.type, value.dtype, tuple(value.shape))
    if isinstance(value, (dict, list, tuple)):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        return (class_name(type(value)), [(key, describe(item)) for key, item in items])
    return value


def keeps_class(function: Callable[[Any], Any]) -> Callable[[], dict[str, Any]]:
    """Runs ``function`` on a fresh ``reordered_output()``: the result, and whether its class (or, in
    a list, the class of each element) is the input's own class object."""

    def run() -> dict[str, Any]:
        source = reordered_output()
        result = function(source)
        results = result if isinstance(result, list) else [result]
        return {"result": result, "same_class": [type(item) is type(source) for item in results]}

    return run


def check_kept(unpatched: dict[str, Any], patched: dict[str, Any]) -> None:
    assert unpatched["same_class"] and all(unpatched["same_class"])
    assert patched["same_class"] == unpatched["same_class"]
    assert_same(unpatched["result"], patched["result"])


def test_accelerate_send_to_device() -> None:
    """``send_to_device`` (to cpu, with ``skip_keys``, nested in a list and a dict) keeps the stand-in
    class, the key order and the values; to the meta device every tensor moves, the keys stay."""

    def send(output: Any) -> Any:
        return [
            send_to_device(output, "cpu"),
            send_to_device(output, torch.device("cpu"), skip_keys="pooler_output"),
            *send_to_device([output], "cpu"),
            send_to_device({"out": output}, "cpu")["out"],
        ]

    check_kept(*run_both(keeps_class(send)))

    unpatched, patched = run_both(keeps_class(lambda output: send_to_device(output, "meta")))
    assert unpatched["same_class"] == patched["same_class"] == [True]
    assert describe(patched["result"]) == describe(unpatched["result"])
    assert {device for _, device, *_ in _tensors(describe(patched["result"]))} == {"meta"}
    assert isinstance(patched["result"], fastoutput.ModelOutput)


def _tensors(described: Any) -> Iterator[tuple[Any, ...]]:
    """The tensor descriptions inside a ``describe`` result."""
    if isinstance(described, tuple) and described and described[0] == "tensor":
        yield described
    elif isinstance(described, (tuple, list)):
        for item in described:
            yield from _tensors(item)


def is_of(value: Any, dtype: torch.dtype) -> bool:
    return isinstance(value, torch.Tensor) and value.dtype == dtype


def test_accelerate_recursively_apply() -> None:
    """``recursively_apply`` rebuilds the output as ``type(data)({...})``: the stand-in class, the key
    order and the transformed values, also with a ``test_type`` that picks some tensors only."""

    def apply(output: Any) -> Any:
        return [
            recursively_apply(lambda tensor: tensor * 2, output),
            recursively_apply(lambda tensor: tensor + 1, output, test_type=lambda v: is_of(v, torch.int64)),
            recursively_apply(lambda tensor: tensor.float(), output, test_type=lambda v: is_of(v, torch.bfloat16)),
        ]

    check_kept(*run_both(keeps_class(apply)))


def test_accelerate_concatenate() -> None:
    """``concatenate`` of two outputs (as when gathering per-batch outputs) gives one output of the
    same class and key order, each tensor (also inside the tuples) concatenated along dim 0."""

    def concat(output: Any) -> Any:
        doubled = concatenate([output, output])
        assert doubled["last_hidden_state"].shape[0] == 4
        return [doubled, concatenate([output, output, output], dim=1)]

    check_kept(*run_both(keeps_class(concat)))


def test_accelerate_convert_outputs_to_fp32_on_an_output() -> None:
    """A forward wrapped with ``convert_outputs_to_fp32`` returns the output with its fp16 and bf16
    tensors turned into fp32 and the rest untouched: same class, key order and values as unpatched."""

    def convert(output: Any) -> Any:
        converted = convert_outputs_to_fp32(lambda: output)()
        assert converted["last_hidden_state"].dtype == torch.float32
        assert converted["cross_attentions"][0].dtype == torch.int64
        return converted

    check_kept(*run_both(keeps_class(convert)))


def test_accelerate_convert_outputs_to_fp32_on_a_mixed_precision_forward() -> None:
    """A model whose forward is wrapped as ``Accelerator.prepare`` does under bf16 mixed precision
    (autocast, then ``convert_outputs_to_fp32``) returns the fastoutput stand-in with fp32 tensors,
    equal to what the unpatched model returns; the forward without the conversion gives bf16 logits."""

    model = tiny_bert(output_hidden_states=True).eval()
    autocast_forward = torch.autocast(device_type="cpu", dtype=torch.bfloat16)(model.forward.__func__)
    raw_forward = MethodType(autocast_forward, model)
    model.forward = MethodType(convert_outputs_to_fp32(autocast_forward), model)
    batch = {key: torch.stack([row[key] for row in rows(2, seed=4)]) for key in ("input_ids", "attention_mask")}
    batch["labels"] = torch.tensor([0, 2])

    def forward() -> dict[str, Any]:
        with torch.no_grad(), recording_outputs(model) as outputs:
            converted = model(**batch)
            raw = raw_forward(**batch)
        assert len(outputs) == 1 and outputs[0] is converted
        return {"raw": raw, "converted": converted}

    unpatched, patched = run_both(forward)
    assert unpatched["raw"].logits.dtype == torch.bfloat16
    assert unpatched["converted"].logits.dtype == torch.float32
    assert all(state.dtype == torch.float32 for state in unpatched["converted"].hidden_states)
    assert_patched_outputs([unpatched["raw"], unpatched["converted"]], [patched["raw"], patched["converted"]])
    assert_same(unpatched, patched)


def test_accelerate_find_batch_size_reads_the_first_key() -> None:
    """``find_batch_size`` reads the first key's value: 5 from the attentions the reordered output
    holds first (not the 2 of last_hidden_state, the first field), patched as unpatched."""

    def sizes() -> tuple[bool, list[int]]:
        output = reordered_output()
        found = [find_batch_size(output), find_batch_size([output]), find_batch_size({"out": output})]
        return isinstance(output, fastoutput.ModelOutput), found

    (unpatched_is_fastoutput, unpatched), (patched_is_fastoutput, patched) = run_both(sizes)
    assert not unpatched_is_fastoutput and patched_is_fastoutput
    assert unpatched == [5, 5, 5]
    assert patched == unpatched


def test_accelerate_gather_and_pad_across_processes() -> None:
    """In a single process ``gather`` hands the output back as it is and ``pad_across_processes``
    rebuilds it unchanged (same class, key order and values), patched as unpatched."""

    assert PartialState(cpu=True).num_processes == 1

    def collect(output: Any) -> Any:
        gathered = gather(output)
        assert gathered is output
        return [gathered, pad_across_processes(output), pad_across_processes(output, dim=1, pad_first=True)]

    check_kept(*run_both(keeps_class(collect)))
