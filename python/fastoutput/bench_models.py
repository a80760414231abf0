"""The transformers drop-in on a whole model: ``python -m fastoutput.bench_models [--quick] [--json]``.

What ``fastoutput.patch_transformers()`` changes for a real model, measured side by side in one
process on a tiny random-weight GPT-2 (``GPT2LMHeadModel``: n_embd 32, 2 layers, 2 heads, vocabulary
100, weights from ``torch.manual_seed(0)``), in eval mode, on one thread (``torch.set_num_threads(1)``)
and under ``torch.inference_mode``. Small on purpose: the less the model computes, the larger the share
of the Python around it, output classes included.

- **decode step**: one forward of one token (``input_ids`` of shape (1, 1)) on a ``DynamicCache`` of
  the 8 prompt tokens, ``return_dict=True`` and ``return_dict=False``, transformers unpatched and
  patched. The cache is cut back to the prompt after every call, untimed, so every call does the same
  work.
- **generate**: ``model.generate`` of 64 new tokens (greedy; ``min_new_tokens`` = ``max_new_tokens``
  = 64, so it never stops early), unpatched and patched.
- **compiled decode step**: the decode step through ``torch.compile(model)`` (inductor by default,
  ``--backend``), both ``return_dict`` values, unpatched and patched: each variant compiles once (a
  Dynamo cache entry of its own; under transformers 4, where return_dict=False builds no output, the
  unpatched and patched ones share one), and a recompilation while timing is an error.

The variants of a benchmark are timed round by round, interleaved, transformers being patched or
unpatched between them, the order reversed every other round: a slow spell of the machine hits every
variant alike. A round times a block of calls of each variant (one warm-up call first) with this
thread's CPU time (``bench.CLOCK``: other processes on a shared machine do not count) and with wall
time; a call is timed alone, so the untimed cache cut is left out. Results are µs per call, the median
over rounds; a ratio of two variants is the median of their per-round ratios (the two timed in the same
round), with its interquartile range, next to the ratio of the two fastest rounds. Before timing, every
benchmark checks its outputs: the patched ones are fastoutput-backed, named as transformers' classes,
with the same keys, equal tensors (close ones for the compiled step, against eager) and the same cache
object; return_dict=False gives the values of ``to_tuple()``; generated tokens (and scores) are identical.

torch and transformers are imported when a benchmark runs, not with this module.
``benchmarks/test_bench_models.py`` times the same calls under pytest-benchmark.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gc
import importlib
import inspect
import json
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import fastoutput

from . import bench

PROMPT_LENGTH = 8  # tokens in the cache before each decode step
NEW_TOKENS = 64  # tokens generate() adds
CONFIG = {"vocab_size": 100, "n_positions": 128, "n_embd": 32, "n_layer": 2, "n_head": 2,
          "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0}
MODEL = "tiny GPT-2 (GPT2LMHeadModel, n_embd 32, 2 layers, 2 heads, vocab 100)"
DECODE, GENERATE, COMPILED = "decode step", f"generate {NEW_TOKENS} tokens", "compiled decode step"
TARGET = 1.02  # patched, return_dict=True against return_dict=False: at most this ratio
CPU, WALL = "cpu", "wall"


def _transformers() -> Any:
    return importlib.import_module("transformers")


# --- the model --------------------------------------------------------------------------------------


@contextmanager
def torch_settings() -> Iterator[None]:
    """One torch thread and inference mode for the ``with`` body; the thread count as before afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            yield
    finally:
        torch.set_num_threads(threads)


@dataclasses.dataclass
class TinyGPT2:
    """The model, its inputs, and a cache that holds the prompt between decode steps."""

    model: Any
    prompt: Any  # token ids, shape (1, PROMPT_LENGTH)
    token: Any  # token id, shape (1, 1)
    cache: Any  # a DynamicCache of the prompt
    cache_keyword: str  # forward's name for it: "cache" under transformers 5, "past_key_values" under 4

    def restore(self) -> None:
        """Cuts the cache back to the prompt (a decode step made it one token longer); idempotent."""
        extra = self.cache.get_seq_length() - PROMPT_LENGTH
        if extra > 0:
            self.cache.crop(-extra)

    def decode(self, return_dict: bool, model: Any = None) -> functools.partial[Any]:
        """A function doing one decode step on the cache with ``model`` (default: the eager model).
        Call ``restore`` between calls."""
        kwargs = {"input_ids": self.token, self.cache_keyword: self.cache, "use_cache": True,
                  "return_dict": return_dict}
        return functools.partial(self.model if model is None else model, **kwargs)

    def generate(self) -> Callable[..., Any]:
        """A function generating NEW_TOKENS tokens after the prompt, greedily, never stopping early."""
        import torch

        return functools.partial(
            self.model.generate, self.prompt, attention_mask=torch.ones_like(self.prompt), do_sample=False,
            max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, pad_token_id=0, eos_token_id=0)


def tiny_gpt2() -> TinyGPT2:
    """The model with random weights (seed 0), its cache filled with the prompt and brought to the state
    every later step leaves it in (one step, then cut back: its tensors are then views of longer ones,
    which a compiled step is specialised on). Call under ``torch_settings()``."""
    import torch

    transformers = _transformers()
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(**CONFIG)).eval()
    prompt = torch.randint(1, CONFIG["vocab_size"], (1, PROMPT_LENGTH))
    keyword = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    with patch_state(False), torch.inference_mode():
        cache = model(prompt, use_cache=True, return_dict=False)[1]
        gpt2 = TinyGPT2(model, prompt, torch.tensor([[PROMPT_LENGTH]]), cache, keyword)
        gpt2.decode(True)()
        gpt2.restore()
    if cache.get_seq_length() != PROMPT_LENGTH:
        raise AssertionError(f"the cache holds {cache.get_seq_length()} tokens, not {PROMPT_LENGTH}")
    return gpt2


# --- patching and checks ------------------------------------------------------------------------------


def set_patched(patched: bool) -> None:
    """Patches or unpatches transformers (both are no-ops when it already is as asked)."""
    if patched:
        fastoutput.patch_transformers()
    else:
        fastoutput.unpatch_transformers()


@contextmanager
def patch_state(patched: bool) -> Iterator[None]:
    """transformers patched (or not) for the ``with`` body, and as it was before afterwards."""
    before = fastoutput.transformers_patched()
    set_patched(patched)
    try:
        yield
    finally:
        set_patched(before)


def impl_label(patched: bool) -> str:
    """``bench``'s name for what builds the outputs: transformers, or fastoutput's C++ core or twin."""
    if not patched:
        return bench.HF
    return bench.CPP if fastoutput.IMPLEMENTATION == "cpp" else bench.PYTHON


def _class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def check_same(expected: Any, actual: Any, exact: bool = True, path: str = "output") -> None:
    """``actual`` holds what ``expected`` holds: output classes of the same name (either run's), the same
    keys in the same order, equal tensors (close ones unless ``exact``), equal or identical other values.
    Raises AssertionError."""
    import torch

    outputs = (fastoutput.ModelOutput, importlib.import_module("transformers.utils.generic").ModelOutput)
    if isinstance(expected, outputs):
        if not isinstance(actual, outputs) or _class_name(type(actual)) != _class_name(type(expected)):
            raise AssertionError(f"{path}: {type(actual)} in place of {_class_name(type(expected))}")
        if list(actual.keys()) != list(expected.keys()):
            raise AssertionError(f"{path}: keys {list(actual.keys())} != {list(expected.keys())}")
        for key in expected:
            check_same(expected[key], actual[key], exact, f"{path}[{key!r}]")
    elif type(actual) is not type(expected):
        raise AssertionError(f"{path}: {type(actual)} != {type(expected)}")
    elif isinstance(expected, torch.Tensor):
        if not exact:
            torch.testing.assert_close(actual, expected, msg=lambda message: f"{path}: {message}")
        elif actual.dtype != expected.dtype or actual.shape != expected.shape or not torch.equal(actual, expected):
            raise AssertionError(f"{path}: tensors differ")
    elif isinstance(expected, (tuple, list)):
        if len(actual) != len(expected):
            raise AssertionError(f"{path}: length {len(actual)} != {len(expected)}")
        for index, (left, right) in enumerate(zip(expected, actual)):
            check_same(left, right, exact, f"{path}[{index}]")
    elif actual is not expected and actual != expected:
        raise AssertionError(f"{path}: {actual!r} != {expected!r}")


def check_patched(output: Any, reference: Any) -> None:
    """``output`` (patched run) is fastoutput-backed, of a class named as ``reference``'s (transformers')."""
    if not isinstance(output, fastoutput.ModelOutput) or isinstance(reference, fastoutput.ModelOutput):
        raise AssertionError(f"patched: {type(output)}, unpatched: {type(reference)}")
    if _class_name(type(output)) != _class_name(type(reference)):
        raise AssertionError(f"{_class_name(type(output))} in place of {_class_name(type(reference))}")


def decode_outputs(gpt2: TinyGPT2, model: Any = None) -> dict[tuple[bool, bool], Any]:
    """{(patched, return_dict): output of one decode step with ``model`` (default: eager)}."""
    outputs = {}
    for patched in (False, True):
        with patch_state(patched):
            for return_dict in (True, False):
                gpt2.restore()
                outputs[patched, return_dict] = gpt2.decode(return_dict, model)()
                gpt2.restore()
    return outputs


def check_decode(gpt2: TinyGPT2) -> None:
    """The four decode variants: patched outputs are fastoutput-backed and equal to unpatched ones
    (class name, keys, tensors, the cache object itself); return_dict=False gives ``to_tuple()``."""
    outputs = decode_outputs(gpt2)
    check_patched(outputs[True, True], outputs[False, True])
    for flag in (False, True):
        check_same(outputs[False, flag], outputs[True, flag])  # flag: return_dict
        check_same(outputs[flag, True].to_tuple(), outputs[flag, False])  # flag: patched
        if outputs[flag, False][1] is not gpt2.cache:
            raise AssertionError("the decode step returned another cache than it was given")


def check_generate(gpt2: TinyGPT2) -> None:
    """generate gives the same NEW_TOKENS tokens after the prompt, patched and unpatched; asked for its
    output class (``return_dict_in_generate``, with the scores), it gives a fastoutput-backed one when
    patched, with the same keys, tokens and scores."""
    import torch

    outputs = {}
    for patched in (False, True):
        with patch_state(patched):
            outputs[patched] = gpt2.generate()(), gpt2.generate()(return_dict_in_generate=True, output_scores=True)
    (expected, expected_output), (actual, actual_output) = outputs[False], outputs[True]
    if tuple(expected.shape) != (1, PROMPT_LENGTH + NEW_TOKENS):
        raise AssertionError(f"generate gave shape {tuple(expected.shape)}")
    check_same(expected, actual, path="generated ids")
    check_patched(actual_output, expected_output)
    if list(actual_output.keys()) != list(expected_output.keys()):
        raise AssertionError(f"generate output keys {list(actual_output.keys())} != {list(expected_output.keys())}")
    for key, value in expected_output.items():  # the cache is another object in each run
        if isinstance(value, (torch.Tensor, tuple)):
            check_same(value, actual_output[key], path=f"generate output[{key!r}]")
    check_same(expected, actual_output["sequences"], path="generate output['sequences']")


@dataclasses.dataclass
class Compiled:
    """``torch.compile(model)`` with a backend that counts the graphs it is handed."""

    model: Any
    backend: str
    counter: Any  # torch._dynamo.testing.CompileCounterWithBackend
    seconds: float = 0.0  # wall time of the first call of each variant (compilation) in all

    @property
    def graphs(self) -> int:
        return int(self.counter.frame_count)


def compile_model(gpt2: TinyGPT2, backend: str = "inductor") -> Compiled:
    """``torch.compile(gpt2.model)``; compilation happens at the first call of each variant."""
    import torch
    from torch._dynamo.testing import CompileCounterWithBackend

    counter = CompileCounterWithBackend(backend)
    return Compiled(torch.compile(gpt2.model, backend=counter), backend, counter)


def check_compiled(gpt2: TinyGPT2, compiled: Compiled) -> None:
    """The compiled decode step, four variants (compiling each on first use): outputs as eager's (close
    tensors, same class names and keys), the patched ones fastoutput-backed; a second call recompiles
    nothing."""
    eager = decode_outputs(gpt2)
    start = time.perf_counter()
    first = decode_outputs(gpt2, compiled.model)
    compiled.seconds += time.perf_counter() - start
    graphs = compiled.graphs
    again = decode_outputs(gpt2, compiled.model)
    if compiled.graphs != graphs:
        raise AssertionError(f"{compiled.backend}: {compiled.graphs - graphs} graphs compiled again")
    check_patched(first[True, True], first[False, True])
    for key, output in [*first.items(), *again.items()]:
        check_same(eager[key], output, exact=False, path=f"compiled {key}")


# --- timing ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Variant:
    """One thing timed: ``call()`` with transformers patched or not, ``after()`` (untimed) after each call."""

    benchmark: str
    patched: bool
    return_dict: bool | None  # None where it does not apply (generate)
    call: Callable[[], Any] = dataclasses.field(repr=False)
    after: Callable[[], None] = dataclasses.field(repr=False, default=lambda: None)
    samples: dict[str, list[float]] = dataclasses.field(default_factory=lambda: {CPU: [], WALL: []})

    @property
    def label(self) -> str:
        state = "patched" if self.patched else "unpatched"
        return state if self.return_dict is None else f"{state}, return_dict={self.return_dict}"

    def time_block(self, calls: int) -> None:
        """One warm-up call, then ``calls`` timed calls: appends µs per call to the samples."""
        self.call()
        self.after()
        cpu = wall = 0
        gc_enabled = gc.isenabled()
        gc.disable()
        try:
            for _ in range(calls):
                cpu_start, wall_start = bench.CLOCK(), time.perf_counter_ns()
                self.call()  # the output is freed before the clocks are read
                cpu += bench.CLOCK() - cpu_start
                wall += time.perf_counter_ns() - wall_start
                self.after()
        finally:
            if gc_enabled:
                gc.enable()
        self.samples[CPU].append(cpu / calls / 1e3)
        self.samples[WALL].append(wall / calls / 1e3)


def interleave(variants: Sequence[Variant], rounds: int, seconds: float) -> None:
    """Times every variant ``rounds`` times, round by round, in about ``seconds`` of calls in all. List
    the variants of one patch state together: a round patches or unpatches transformers once between
    them, and every other round runs them in reverse order. Leaves the patch state as it was."""
    before = fastoutput.transformers_patched()
    try:
        calls = []
        for variant in variants:  # calls per block, from the fastest of three calls
            set_patched(variant.patched)
            durations = []
            for _ in range(3):
                start = time.perf_counter()
                variant.call()
                durations.append(time.perf_counter() - start)
                variant.after()
            calls.append(max(1, round(seconds / rounds / len(variants) / min(durations))))
        for index in range(rounds):
            order = list(zip(variants, calls))
            for variant, count in order[::-1] if index % 2 else order:
                set_patched(variant.patched)
                variant.time_block(count)
    finally:
        set_patched(before)


class Timed(Protocol):
    """What a ratio needs of its two sides: per-round times by clock (``CPU``, ``WALL``)."""

    samples: dict[str, list[float]]


@dataclasses.dataclass(frozen=True)
class Ratio:
    """``numerator`` over ``denominator``, round by round (``bench_frameworks`` uses it too)."""

    name: str
    numerator: Timed
    denominator: Timed
    target: float | None = None  # the largest ratio wanted, if any

    def per_round(self, clock: str = CPU) -> list[float]:
        return [a / b for a, b in zip(self.numerator.samples[clock], self.denominator.samples[clock])]

    def median(self, clock: str = CPU) -> float:
        return statistics.median(self.per_round(clock))

    def quartiles(self, clock: str = CPU) -> tuple[float, float]:
        return quartiles(self.per_round(clock))

    def of_minima(self, clock: str = CPU) -> float:
        return min(self.numerator.samples[clock]) / min(self.denominator.samples[clock])

    def to_dict(self) -> dict[str, Any]:
        """This ratio for ``--json``."""
        return {"name": self.name, "cpu": self.median(), "cpu_quartiles": self.quartiles(),
                "cpu_of_minima": self.of_minima(), "wall": self.median(WALL), "target": self.target}

    def row(self) -> list[str]:
        """This ratio as a row under ``RATIO_HEADER``."""
        low, high = self.quartiles()
        target = "-"
        if self.target is not None:
            target = f"<= {self.target:.2f}x: {'met' if self.median() <= self.target else 'MISSED'}"
        return [self.name, f"{self.median():.3f}x", f"{low:.3f}-{high:.3f}", f"{self.of_minima():.3f}x",
                f"{self.median(WALL):.3f}x", target]


RATIO_HEADER = ["ratio", "CPU", "CPU IQR", "CPU min/min", "wall", "target"]


def quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    low, _, high = statistics.quantiles(values, n=4)
    return low, high


@dataclasses.dataclass
class Results:
    variants: list[Variant]
    ratios: list[Ratio]
    notes: list[str]  # what the tables do not say: backend, compile time, rounds


def _pick(variants: Sequence[Variant], patched: bool, return_dict: bool | None) -> Variant:
    return next(v for v in variants if v.patched == patched and v.return_dict == return_dict)


def _decode_variants(gpt2: TinyGPT2, benchmark: str, model: Any = None) -> list[Variant]:
    return [Variant(benchmark, patched, return_dict, gpt2.decode(return_dict, model), gpt2.restore)
            for patched in (False, True) for return_dict in (True, False)]


def _decode_ratios(variants: list[Variant], benchmark: str) -> list[Ratio]:
    get = functools.partial(_pick, variants)
    return [
        Ratio(f"{benchmark}: unpatched, dict/tuple", get(False, True), get(False, False)),
        Ratio(f"{benchmark}: patched, dict/tuple", get(True, True), get(True, False), TARGET),
        Ratio(f"{benchmark}: return_dict=True, patched/unpatched", get(True, True), get(False, True)),
        Ratio(f"{benchmark}: return_dict=False, patched/unpatched", get(True, False), get(False, False)),
    ]


def bench_decode(gpt2: TinyGPT2, rounds: int, seconds: float) -> tuple[list[Variant], list[Ratio]]:
    """The eager decode step: unpatched and patched, return_dict True and False."""
    check_decode(gpt2)
    variants = _decode_variants(gpt2, DECODE)
    interleave(variants, rounds, seconds)
    return variants, _decode_ratios(variants, DECODE)


def bench_generate(gpt2: TinyGPT2, rounds: int, seconds: float) -> tuple[list[Variant], list[Ratio]]:
    """generate(), unpatched and patched."""
    check_generate(gpt2)
    variants = [Variant(GENERATE, patched, None, gpt2.generate()) for patched in (False, True)]
    interleave(variants, rounds, seconds)
    return variants, [Ratio(f"{GENERATE}: patched/unpatched", variants[1], variants[0])]


def bench_compiled(gpt2: TinyGPT2, rounds: int, seconds: float,
                   backend: str = "inductor") -> tuple[list[Variant], list[Ratio], Compiled]:
    """The decode step of ``torch.compile(model)``, the four variants each compiled once."""
    import torch._dynamo

    torch._dynamo.reset()
    try:
        compiled = compile_model(gpt2, backend)
        check_compiled(gpt2, compiled)
        graphs = compiled.graphs
        variants = _decode_variants(gpt2, COMPILED, compiled.model)
        interleave(variants, rounds, seconds)
        if compiled.graphs != graphs:
            raise RuntimeError(f"{compiled.backend}: {compiled.graphs - graphs} graphs compiled while timing")
    finally:
        torch._dynamo.reset()
    return variants, _decode_ratios(variants, COMPILED), compiled


# (rounds, seconds of calls in all) per benchmark, for a quick and a full run
PLAN = {
    True: {DECODE: (10, 2.0), GENERATE: (5, 1.5), COMPILED: (10, 1.5)},
    False: {DECODE: (100, 24.0), GENERATE: (30, 20.0), COMPILED: (100, 16.0)},
}


def run_all(quick: bool = False, backend: str = "inductor") -> Results:
    """Every benchmark: ~20 s with ``quick`` (compilation included), ~80 s without."""
    plan = PLAN[quick]
    with torch_settings():
        gpt2 = tiny_gpt2()
        variants, ratios = bench_decode(gpt2, *plan[DECODE])
        more, more_ratios = bench_generate(gpt2, *plan[GENERATE])
        variants += more
        ratios += more_ratios
        more, more_ratios, compiled = bench_compiled(gpt2, *plan[COMPILED], backend)
    rounds = ", ".join(f"{name} {plan[name][0]}" for name in plan)
    notes = [
        (f"{MODEL}, eval, random weights; torch.set_num_threads(1), torch.inference_mode; "
         f"decode step: 1 token on a cache of {PROMPT_LENGTH}"),
        f"patched: fastoutput's {fastoutput.IMPLEMENTATION} implementation builds the outputs",
        (f"{COMPILED}: torch.compile(model, backend={backend!r}), {compiled.graphs} graph(s) for the 4 variants, "
         f"compiled in {compiled.seconds:.1f} s"),
        f"{'quick' if quick else 'full'} run, interleaved rounds: {rounds}",
    ]
    return Results(variants + more, ratios + more_ratios, notes)


# --- output ------------------------------------------------------------------------------------------


def _us(value: float) -> str:
    return f"{value:,.1f}" if value < 10_000 else f"{value:,.0f}"


def _percent(low: float, high: float, middle: float) -> str:
    return f"{(high - low) / middle * 100:.1f}%"


def render(results: Results, markdown: bool = False) -> str:
    """Two tables: µs per call of every variant with its spread over rounds, and the ratios."""
    rows = []
    for variant in results.variants:
        cpu, wall = variant.samples[CPU], variant.samples[WALL]
        median = statistics.median(cpu)
        rows.append([variant.benchmark, variant.label, _us(median), _us(min(cpu)),
                     _percent(*quartiles(cpu), median), _percent(min(cpu), max(cpu), median),
                     _us(statistics.median(wall))])
    header = ["benchmark", "variant", "CPU µs", "min", "IQR", "range", "wall µs"]
    out = [bench._table("µs per call (CPU: median over rounds, min; spread over rounds: IQR and max-min, "
                        "relative to the median; wall: median)", header, rows, markdown)]
    rows = []
    for ratio in results.ratios:
        rows.append(ratio.row())
    out.append(bench._table("Ratios (CPU, wall: median of per-round ratios; IQR over rounds; min/min: ratio of the "
                            "fastest rounds)", RATIO_HEADER, rows, markdown))
    return "\n".join(out)


def to_json(results: Results, info: list[str]) -> str:
    return json.dumps({
        "info": info,
        "notes": results.notes,
        "variants": [{"benchmark": v.benchmark, "patched": v.patched, "return_dict": v.return_dict,
                      "impl": impl_label(v.patched), "cpu_us": v.samples[CPU], "wall_us": v.samples[WALL]}
                     for v in results.variants],
        "ratios": [ratio.to_dict() for ratio in results.ratios],
    })


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fastoutput.bench_models", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a ~20 s run (default: ~80 s)")
    parser.add_argument("--json", action="store_true", help="print the samples and ratios as JSON")
    parser.add_argument("--backend", default="inductor", help="torch.compile backend (default: inductor)")
    args = parser.parse_args(argv)
    results = run_all(args.quick, args.backend)
    info = bench.machine_info()  # now: it reads the versions of the modules imported
    if args.json:
        print(to_json(results, info))
        return
    print("\n".join([*info, *results.notes, ""]))
    print(render(results, markdown=True))


if __name__ == "__main__":
    main()
