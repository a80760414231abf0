"""torch.compile and torch.export of real transformers models with the drop-in patch on.

Pins, on tiny random-weight models (GPT-2 ``GPT2LMHeadModel`` with its cache, BERT
``BertForSequenceClassification`` with labels), that patching transformers keeps them compilable and
exportable:

- ``torch.compile(model, fullgraph=True)`` traces each model in exactly one graph (a graph break fails
  the compile; the frame-counting backends of ``torch._dynamo.testing`` count the graphs), returns the
  fastoutput-backed class transformers holds while patched, and gives what eager gives (bitwise with
  ``aot_eager``, close with inductor) and what the same compile gives unpatched on transformers' own
  classes. A model compiled before patching follows the patch (Dynamo guards on the output class).
- ``torch.export.export`` of a patched model records the patched class in its output spec under the
  same serialized name as transformers' (``transformers.modeling_outputs.<Name>``), so
  ``torch.export.save``/``torch.export.load`` round-trips, and a program exported unpatched runs patched
  and the other way round, each returning the class transformers holds when it is loaded.

Every case resets Dynamo before and after, and leaves transformers unpatched. Compiles are few (one per
model, backend and patch state): the file takes 25-60 s on 2 shared cores, most of it in the inductor
case (about 40 s more when inductor's on-disk cache is cold, on a loaded machine).

Run: ``FASTOUTPUT_PURE_PYTHON=0 python -m pytest tests/test_transformers_compile.py -q``
(and with ``FASTOUTPUT_PURE_PYTHON=1``, and under the hf5 venv).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import torch._dynamo
from torch import nn
from torch._dynamo.testing import CompileCounter, CompileCounterWithBackend
from torch.utils import _pytree as pytree

import fastoutput
from .transformers_support import assert_same, class_name, run_both

# Typed as Any: transformers' constructors are untyped for mypy.
transformers: Any = importlib.import_module("transformers")
modeling_outputs: Any = importlib.import_module("transformers.modeling_outputs")

pytestmark = [pytest.mark.transformers, pytest.mark.usefixtures("fresh_dynamo")]

GPT2_OUTPUT = "CausalLMOutputWithCrossAttentions"
BERT_OUTPUT = "SequenceClassifierOutput"


# --------------------------------------------------------------------------------------------------
# Tiny models


@dataclass
class Case:
    model: nn.Module
    inputs: dict[str, Any]
    output_name: str  # the output class, in transformers.modeling_outputs


def tiny_gpt2() -> Case:
    """GPT-2 LM head, eval mode, returning logits, its cache, hidden states and attentions."""
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=100,
        n_positions=16,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=0,
        eos_token_id=0,
        attn_implementation="eager",  # attentions are returned, by both lines, without a fallback
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    # No labels: the LM loss looks up its loss type through a logger.warning_once Dynamo cannot trace.
    inputs = {
        "input_ids": torch.randint(0, 100, (2, 8)),
        "use_cache": True,
        "output_hidden_states": True,
        "output_attentions": True,
    }
    return Case(model, inputs, GPT2_OUTPUT)


def tiny_bert() -> Case:
    """BERT sequence classifier, eval mode, with labels (so a loss), hidden states and attentions."""
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=16,
        num_labels=3,
        output_hidden_states=True,  # in the config, so torch.export sees tensors only as inputs
        output_attentions=True,
        attn_implementation="eager",
    )
    model = transformers.BertForSequenceClassification(config).eval()
    input_ids = torch.randint(0, 100, (2, 8))
    inputs = {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "labels": torch.tensor([0, 2]),
    }
    return Case(model, inputs, BERT_OUTPUT)


MODELS: dict[str, Callable[[], Case]] = {"gpt2": tiny_gpt2, "bert": tiny_bert}


def current_class(name: str) -> type:
    """The class ``transformers.modeling_outputs`` holds now (transformers' own, or the patched one)."""
    cls = getattr(modeling_outputs, name)
    assert isinstance(cls, type)
    return cls


def assert_patched_output(output: Any, original: type, patched_class: type) -> None:
    """``output`` is of ``patched_class``, the fastoutput-backed stand-in of transformers' ``original``
    (what ``transformers.modeling_outputs`` held while patched)."""
    assert patched_class is not original
    assert class_name(patched_class) == class_name(original)
    assert type(output) is patched_class
    assert isinstance(output, fastoutput.ModelOutput)
    assert isinstance(output, original)


def assert_output_matches(expected: Any, actual: Any, *, exact: bool = True) -> None:
    """Same class, keys and key order; the tensors (nested in tuples) equal, or only close where not
    ``exact``. For two outputs of one run, where ``assert_same`` (patched against unpatched) does not
    apply."""
    assert type(actual) is type(expected)
    assert list(actual.keys()) == list(expected.keys())
    tolerance = 0.0 if exact else None  # None: the dtype's default tolerances
    torch.testing.assert_close(actual.to_tuple(), expected.to_tuple(), rtol=tolerance, atol=tolerance)


# --------------------------------------------------------------------------------------------------
# torch.compile


@dataclass
class CompiledRun:
    eager: Any
    first: Any  # the first compiled call (traces)
    second: Any  # the same call again (must reuse the graph)
    graphs: int  # graphs the backend was handed
    output_class: type  # what transformers.modeling_outputs held during the run


def compile_and_run(case: Case, backend: str) -> CompiledRun:
    """Eager call, then two calls of ``torch.compile(model, fullgraph=True)``, after a Dynamo reset."""
    torch._dynamo.reset()  # run_both compiles twice in one test; fresh_dynamo resets after it
    # Eager first: transformers 5.x installs its output-capturing hooks on the first call, under a
    # threading.Lock Dynamo cannot enter (a graph break of transformers' own, patched or not).
    eager = case.model(**case.inputs)
    counter = CompileCounterWithBackend(backend)
    compiled = torch.compile(case.model, backend=counter, fullgraph=True)
    first = compiled(**case.inputs)
    second = compiled(**case.inputs)
    return CompiledRun(eager, first, second, counter.frame_count, current_class(case.output_name))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_compile_fullgraph_aot_eager(name: str) -> None:
    """aot_eager, fullgraph: one graph, the patched class out, bitwise equal to eager and to the same
    compile unpatched on transformers' own class (names, keys, order, nested types, tensors); the
    second call reuses the graph."""
    case = MODELS[name]()
    original = current_class(case.output_name)
    unpatched, patched_run = run_both(lambda: compile_and_run(case, "aot_eager"))

    assert unpatched.graphs == 1
    assert type(unpatched.first) is original

    assert patched_run.graphs == 1
    for output in (patched_run.eager, patched_run.first, patched_run.second):
        assert_patched_output(output, original, patched_run.output_class)
    assert_same(patched_run.eager, patched_run.first)
    assert_same(patched_run.eager, patched_run.second)
    assert_same(unpatched.eager, patched_run.eager)
    assert_same(unpatched.first, patched_run.first)  # hence also equal to unpatched eager
    assert_same(unpatched.second, patched_run.second)


def test_compile_fullgraph_inductor() -> None:
    """The default backend (inductor), fullgraph, on BERT: one graph, the patched class out, values
    close to eager (fused kernels round differently) and equal to the same compile unpatched."""
    case = tiny_bert()
    original = current_class(case.output_name)
    unpatched, patched_run = run_both(lambda: compile_and_run(case, "inductor"))

    assert unpatched.graphs == 1
    assert type(unpatched.first) is original
    assert patched_run.graphs == 1
    for output in (patched_run.first, patched_run.second):
        assert_patched_output(output, original, patched_run.output_class)
    assert_output_matches(patched_run.eager, patched_run.first, exact=False)
    assert_output_matches(patched_run.eager, patched_run.second, exact=False)
    assert_same(unpatched.first, patched_run.first)  # the same graph, hence the same kernels


def test_model_compiled_before_patching_follows_the_patch() -> None:
    """A model compiled unpatched, then called patched, returns the patched class (Dynamo's guard on
    the output class fails and it traces once more, again in one graph), and transformers' class
    once unpatched again, from the first graph (no third trace)."""
    case = tiny_bert()
    original = current_class(case.output_name)
    counter = CompileCounter()
    compiled = torch.compile(case.model, backend=counter, fullgraph=True)
    expected = case.model(**case.inputs)  # eager first (see compile_and_run)

    before = compiled(**case.inputs)
    assert counter.frame_count == 1
    with fastoutput.patch_transformers():
        during = compiled(**case.inputs)
        patched_class = current_class(case.output_name)
    after = compiled(**case.inputs)

    assert type(expected) is original
    assert_output_matches(expected, before)
    assert_output_matches(expected, after)
    assert_patched_output(during, original, patched_class)
    assert_same(expected, during)
    assert counter.frame_count == 2


# --------------------------------------------------------------------------------------------------
# torch.export (BERT: torch.export needs no cache object in the output)


@dataclass
class Exported:
    inputs: dict[str, Any]
    original: type  # transformers' own output class
    patched_class: type  # its stand-in while patched
    unpatched_eager: Any
    patched_eager: Any
    unpatched_program: torch.export.ExportedProgram
    patched_program: torch.export.ExportedProgram  # non-strict (the default)
    patched_strict_program: torch.export.ExportedProgram  # traced by Dynamo
    unpatched_path: Path  # unpatched_program, saved
    patched_path: Path  # patched_program, saved


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """BERT exported unpatched and patched (non-strict and strict), both default exports saved."""
    assert not fastoutput.transformers_patched()
    case = tiny_bert()
    directory = tmp_path_factory.mktemp("exported")
    original = current_class(case.output_name)
    unpatched_eager = case.model(**case.inputs)
    unpatched_program = torch.export.export(case.model, (), kwargs=case.inputs)
    with fastoutput.patch_transformers():
        patched_class = current_class(case.output_name)
        patched_eager = case.model(**case.inputs)
        patched_program = torch.export.export(case.model, (), kwargs=case.inputs)
        patched_strict_program = torch.export.export(case.model, (), kwargs=case.inputs, strict=True)
    torch._dynamo.reset()
    unpatched_path = directory / "unpatched.pt2"
    patched_path = directory / "patched.pt2"
    torch.export.save(unpatched_program, unpatched_path)
    torch.export.save(patched_program, patched_path)
    return Exported(
        case.inputs,
        original,
        patched_class,
        unpatched_eager,
        patched_eager,
        unpatched_program,
        patched_program,
        patched_strict_program,
        unpatched_path,
        patched_path,
    )


def serialized_type_name(spec: pytree.TreeSpec) -> str:
    """The type name ``torch.export.save`` writes for the spec's root node."""
    root = json.loads(pytree.treespec_dumps(spec))[1]
    name = root["type"]
    assert isinstance(name, str)
    return name


def test_export_patched_out_spec(exported: Exported) -> None:
    """The patched program's output spec holds the patched class, registered under transformers'
    serialized name, and serializes exactly as the unpatched program's does (strict export too)."""
    expected_name = f"transformers.modeling_outputs.{exported.original.__name__}"
    unpatched_spec = exported.unpatched_program.call_spec.out_spec
    assert unpatched_spec.type is exported.original
    assert serialized_type_name(unpatched_spec) == expected_name
    for program in (exported.patched_program, exported.patched_strict_program):
        spec = program.call_spec.out_spec
        assert spec.type is exported.patched_class
        assert issubclass(spec.type, fastoutput.ModelOutput)
        assert spec.context == list(exported.unpatched_eager.keys())
        assert serialized_type_name(spec) == expected_name
        assert pytree.treespec_dumps(spec) == pytree.treespec_dumps(unpatched_spec)
    assert pytree.SUPPORTED_SERIALIZED_TYPES[exported.patched_class].serialized_type_name == expected_name


def test_export_patched_program_runs(exported: Exported) -> None:
    """The patched programs (non-strict, strict) return the patched class with eager's values."""
    for program in (exported.patched_program, exported.patched_strict_program):
        with fastoutput.patch_transformers():
            result = program.module()(**exported.inputs)
        assert_patched_output(result, exported.original, exported.patched_class)
        assert_same(exported.patched_eager, result)
        assert_same(exported.unpatched_eager, result)


@pytest.fixture
def fresh_treespec_cache() -> Iterator[None]:
    """``torch.export.load`` resolves a serialized output spec through ``pytree.treespec_loads``,
    which caches by the serialized text: start each load test from an empty cache, so what it loads
    does not depend on what earlier tests loaded."""
    pytree.treespec_loads.cache_clear()
    yield
    pytree.treespec_loads.cache_clear()


def load_and_run(path: Path, inputs: dict[str, Any]) -> tuple[type, Any]:
    """Load a saved program: its output spec's class, and its output for ``inputs``."""
    loaded = torch.export.load(path)
    return loaded.call_spec.out_spec.type, loaded.module()(**inputs)


@pytest.mark.usefixtures("fresh_treespec_cache")
def test_export_save_load_patched(exported: Exported) -> None:
    """Saved and loaded while patched, a patched program's output unflattens to the patched class,
    with eager's values."""
    with fastoutput.patch_transformers():
        spec_type, result = load_and_run(exported.patched_path, exported.inputs)
        assert isinstance(result, exported.original)
    assert spec_type is exported.patched_class
    assert_patched_output(result, exported.original, exported.patched_class)
    assert_same(exported.unpatched_eager, result)


@pytest.mark.usefixtures("fresh_treespec_cache")
def test_export_unpatched_program_loaded_patched(exported: Exported) -> None:
    """A program exported and saved unpatched, loaded (unpatched, then again) patched, returns the
    patched class there (the serialized name resolves to what transformers holds at load time), with
    eager's values; the program exported unpatched, run in memory while patched, keeps transformers'
    class, which its spec holds."""
    spec_type, before = load_and_run(exported.unpatched_path, exported.inputs)
    assert spec_type is exported.original
    assert_output_matches(exported.unpatched_eager, before)
    with fastoutput.patch_transformers():
        spec_type, result = load_and_run(exported.unpatched_path, exported.inputs)
        in_memory = exported.unpatched_program.module()(**exported.inputs)
    assert spec_type is exported.patched_class
    assert_patched_output(result, exported.original, exported.patched_class)
    assert_same(exported.unpatched_eager, result)
    assert_output_matches(exported.unpatched_eager, in_memory)


@pytest.mark.usefixtures("fresh_treespec_cache")
def test_export_patched_program_loaded_unpatched(exported: Exported) -> None:
    """A program exported and saved patched, loaded (patched, then again) after unpatching, returns
    transformers' own class there (unpatching gives the serialized name back to it), with eager's
    values; so does the program saved unpatched."""
    with fastoutput.patch_transformers():
        spec_type, during = load_and_run(exported.patched_path, exported.inputs)
    assert spec_type is exported.patched_class
    assert_same(exported.unpatched_eager, during)
    for path in (exported.patched_path, exported.unpatched_path):
        spec_type, result = load_and_run(path, exported.inputs)
        assert spec_type is exported.original
        assert_output_matches(exported.unpatched_eager, result)
