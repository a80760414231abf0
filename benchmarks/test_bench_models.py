"""The transformers drop-in on a whole model, under pytest-benchmark: the calls of
``fastoutput.bench_models`` on a tiny random-weight GPT-2, one torch thread, inference mode.

- decode step: one-token forward on a cache of 8 tokens, return_dict True/False, transformers
  unpatched/patched (the cache is cut back to the prompt before each round, untimed);
- generate 64 tokens, unpatched/patched;
- compiled decode step: the same four variants through ``torch.compile(model)`` (inductor when timed,
  aot_eager in the smoke run; the first case compiles all of them, 10-20 s with inductor when its
  on-disk cache is cold).

Every case first checks what it times (``bench_models.check_*``): the patched outputs are
fastoutput-backed, named as transformers' classes, with the same keys and equal tensors as the
unpatched ones (close ones for compiled against eager), so the smoke run checks each once. A benchmark
call is one model call: pytest-benchmark's times are µs per call (``operations`` = 1). Groups are
``"<model>: <benchmark>"``; ``extra_info`` holds impl (transformers for unpatched, fastoutput's
implementation for patched), subject and operation, as for the other cases. Every case leaves
transformers unpatched.

    pytest benchmarks/test_bench_models.py --benchmark-disable     # smoke run: every case once, checked
    pytest benchmarks/test_bench_models.py --benchmark-timer=time.thread_time   # timed

``python -m fastoutput.bench_models`` measures the same side by side, interleaved, with ratios.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import fastoutput
import pytest
from fastoutput import bench_models
from pytest_benchmark.fixture import BenchmarkFixture

pytest.importorskip("transformers")
torch: Any = pytest.importorskip("torch")

DECODE_ROUNDS = 300  # decode steps timed per case (~0.1-0.2 s), after WARMUP
GENERATE_ROUNDS = 10
WARMUP = 5
VARIANTS = [(patched, return_dict) for patched in (False, True) for return_dict in (True, False)]
VARIANT_IDS = [f"{'patched' if p else 'unpatched'}-return_dict={r}" for p, r in VARIANTS]


@pytest.fixture(autouse=True)
def settings() -> Iterator[None]:
    """One torch thread and inference mode for each case; transformers unpatched before and after."""
    assert not fastoutput.transformers_patched(), "a case left transformers patched"
    with bench_models.torch_settings():
        yield
    assert not fastoutput.transformers_patched(), "a case left transformers patched"


@pytest.fixture(scope="module")
def gpt2() -> bench_models.TinyGPT2:
    """The tiny GPT-2 with its cache, shared by the cases (each leaves the cache as it found it)."""
    with bench_models.torch_settings():
        return bench_models.tiny_gpt2()


@pytest.fixture(scope="module")
def compiled(request: pytest.FixtureRequest, gpt2: bench_models.TinyGPT2) -> Iterator[bench_models.Compiled]:
    """``torch.compile(model)``, its four variants compiled by the first case that checks it: with inductor
    when timed, with aot_eager in the smoke run (inductor's cold compile takes 10-20 s; the test suite's
    tests/test_transformers_compile.py covers inductor with the patch)."""
    config = request.config
    smoke = config.getoption("benchmark_disable") and not config.getoption("benchmark_enable")
    torch._dynamo.reset()
    yield bench_models.compile_model(gpt2, "aot_eager" if smoke else "inductor")
    torch._dynamo.reset()


def time_calls(benchmark: BenchmarkFixture, benchmark_name: str, patched: bool, return_dict: bool | None,
               call: Callable[[], Any], setup: Callable[[], None] | None, rounds: int) -> Any:
    """Times ``call`` (``setup`` before each round, untimed) with transformers patched or not; its last output."""
    benchmark.group = f"tiny GPT-2: {benchmark_name}"
    operation = benchmark_name if return_dict is None else f"{benchmark_name}, return_dict={return_dict}"
    benchmark.extra_info.update(impl=bench_models.impl_label(patched), subject=bench_models.MODEL,
                                operation=operation, operations=1)
    with bench_models.patch_state(patched):
        pedantic: Any = benchmark.pedantic  # untyped
        return pedantic(call, setup=setup, rounds=rounds, warmup_rounds=WARMUP)


def check_type(output: Any, patched: bool, return_dict: bool) -> None:
    """A tuple for return_dict=False; else a fastoutput-backed output exactly when patched."""
    if not return_dict:
        assert type(output) is tuple
    else:
        assert isinstance(output, fastoutput.ModelOutput) == patched, type(output)


@pytest.mark.parametrize(("patched", "return_dict"), VARIANTS, ids=VARIANT_IDS)
def test_decode_step(benchmark: BenchmarkFixture, gpt2: bench_models.TinyGPT2, patched: bool,
                     return_dict: bool) -> None:
    """One-token decode step: the four variants agree (patched outputs fastoutput-backed, equal to
    transformers'); then this one is timed."""
    bench_models.check_decode(gpt2)
    output = time_calls(benchmark, bench_models.DECODE, patched, return_dict, gpt2.decode(return_dict), gpt2.restore,
                        DECODE_ROUNDS)
    check_type(output, patched, return_dict)
    gpt2.restore()


@pytest.mark.parametrize("patched", [False, True], ids=["unpatched", "patched"])
def test_generate(benchmark: BenchmarkFixture, gpt2: bench_models.TinyGPT2, patched: bool) -> None:
    """generate of 64 tokens: the same tokens patched and unpatched, and, asked for its output class, a
    fastoutput-backed one when patched, with the same keys and scores; then this one is timed."""
    bench_models.check_generate(gpt2)
    output = time_calls(benchmark, bench_models.GENERATE, patched, None, gpt2.generate(), None, GENERATE_ROUNDS)
    assert tuple(output.shape) == (1, bench_models.PROMPT_LENGTH + bench_models.NEW_TOKENS)


@pytest.mark.parametrize(("patched", "return_dict"), VARIANTS, ids=VARIANT_IDS)
def test_compiled_decode_step(benchmark: BenchmarkFixture, gpt2: bench_models.TinyGPT2,
                              compiled: bench_models.Compiled, patched: bool, return_dict: bool) -> None:
    """Decode step of ``torch.compile(model)``: the four variants agree with eager (patched outputs
    fastoutput-backed) and do not recompile; then this one is timed, still without recompiling."""
    bench_models.check_compiled(gpt2, compiled)
    graphs = compiled.graphs
    output = time_calls(benchmark, bench_models.COMPILED, patched, return_dict,
                        gpt2.decode(return_dict, compiled.model), gpt2.restore, DECODE_ROUNDS)
    benchmark.extra_info["backend"] = compiled.backend
    check_type(output, patched, return_dict)
    gpt2.restore()
    assert compiled.graphs == graphs, "recompiled while timing"
