"""The TensorFlow and Flax output families: ``python -m fastoutput.bench_frameworks [--quick] [--json]``.

fastoutput's C++ core and its pure-Python twin (``bench.load_twin()``), side by side in one process
with transformers' own classes where transformers still has them (4.x: ``transformers.modeling_tf_outputs``
and ``transformers.modeling_flax_outputs``; transformers 5 removed both, and its column is left out).

- **eager**: constructing ``TFBaseModelOutput(last_hidden_state=t, hidden_states=(t,))`` on
  ``tf.Tensor``s and ``FlaxBaseModelOutput(last_hidden_state=a, hidden_states=(a,))`` on JAX arrays,
  and ``to_tuple()`` of each, with a tuple ``(t, (t,))`` as the baseline: ``bench``'s machinery (the
  statement on local names in a loop unrolled ``bench.UNROLL`` times, interleaved rounds, this thread's
  CPU time, median ns per operation net of the empty loop).
- **jit**: a small function returning a Flax output, ``f(x) = FlaxBaseModelOutput(last_hidden_state=
  tanh(x), hidden_states=(x, tanh(x)))`` on a float32[4] array. *trace and run*: ``jax.jit`` of a new
  ``f`` each call, called once, to its first result (``jax.block_until_ready``): tracing, lowering,
  XLA compilation, execution, the output rebuilt from the pytree. *trace*: ``jax.jit(f).trace(x)`` of a
  new ``f``, the Python part of the above without compilation. *jitted call*: the steady-state call of
  one already-jitted ``f`` (its output is rebuilt from the pytree on every call). The implementations
  are timed in blocks of calls, round by round, the order reversed every other round; the clocks are
  the CPU time of the whole process (``time.process_time``: XLA compiles and runs on threads of its
  own; other processes on a shared machine do not count) and wall time. Results are µs per call, the
  median over rounds; a ratio is the median of the per-round ratios, with its interquartile range.

Before timing, every case checks what it times: the output is of the class under test and holds the
payload, the jitted outputs have the keys and values expected and the same pytree paths for every
implementation, each *trace and run* call traces once and a *jitted call* never traces again.

tensorflow and jax (and transformers' modules, which import flax) are imported when a benchmark runs,
not with this module. ``benchmarks/test_bench_frameworks.py`` runs the same cases under pytest-benchmark.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gc
import importlib
import importlib.metadata
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import bench, bench_models

TF, FLAX = "TensorFlow", "Flax"
TUPLE = bench.TUPLE
OUTPUT = bench.OUTPUT
FIELDS = ["last_hidden_state", "hidden_states"]
TRACE_AND_RUN, TRACE, JITTED = "jit: trace and run", "jit: trace", "jit: jitted call"
JIT_BENCHMARKS = (TRACE_AND_RUN, TRACE, JITTED)
JIT_SUBJECT = "FlaxBaseModelOutput under jax.jit"
CPU, WALL = "cpu", "wall"
# CPU time of the whole process: XLA compiles and executes on threads of its own.
PROCESS_CLOCK = time.process_time_ns


@dataclasses.dataclass(frozen=True)
class Family:
    name: str
    framework: str  # the module to import first
    module: str  # fastoutput's (and transformers 4's) module of the family
    class_name: str
    subject: str  # the label of its eager cases


FAMILIES = {
    TF: Family(TF, "tensorflow", "modeling_tf_outputs", "TFBaseModelOutput",
               "TFBaseModelOutput(last_hidden_state=t, hidden_states=(t,)), tf.Tensor"),
    FLAX: Family(FLAX, "jax", "modeling_flax_outputs", "FlaxBaseModelOutput",
                 "FlaxBaseModelOutput(last_hidden_state=a, hidden_states=(a,)), jax.Array"),
}

# operation: {kind: (statement, check)}, as in bench.OPERATIONS: C the class, out an instance holding a
# and b, same(x, y) whether x holds exactly the objects of y; {stmt} stands for the statement.
OPERATIONS: dict[str, dict[str, tuple[str, str]]] = {
    "construct": {
        OUTPUT: ("C(last_hidden_state=a, hidden_states=b)", "type({stmt}) is C and same({stmt}.to_tuple(), (a, b))"),
        TUPLE: ("(a, b)", "same({stmt}, (a, b))"),
    },
    "to_tuple()": {
        OUTPUT: ("out.to_tuple()", "same({stmt}, (a, b))"),
        TUPLE: ("(a, b)", "same({stmt}, (a, b))"),
    },
}


def _same(actual: Any, expected: tuple[Any, ...]) -> bool:
    return type(actual) is tuple and len(actual) == len(expected) and all(
        x is y for x, y in zip(actual, expected))


def framework(name: str) -> Any:
    """The framework module (``tensorflow``, ``jax``, ``jax.numpy``), imported now if need be."""
    return importlib.import_module(name)


@functools.cache
def payload(family: str) -> tuple[Any, Any]:
    """(a, b): a tensor of the family's framework and a tuple of one such tensor."""
    zeros = framework("tensorflow" if family == TF else "jax.numpy").zeros
    return zeros((1,)), (zeros((1,)),)


@functools.cache
def family_classes(family: str) -> dict[str, type]:
    """impl -> the family's class under test, for every implementation available here: fastoutput's
    (C++ core and twin, or the twin alone) and transformers' where it has the family's module."""
    spec = FAMILIES[family]
    modules = bench.output_modules()  # torch (if installed) and the twin first: see bench.load_twin
    framework(spec.framework)  # before the twin's Flax module, which registers with JAX only if it is there
    classes = {}
    for impl, (_, module) in modules.items():
        package = module.__name__.rpartition(".")[0]  # fastoutput, fastoutput_twin or transformers
        try:
            family_module = importlib.import_module(f"{package}.{spec.module}")
        except ImportError:
            if impl != bench.HF:
                raise
            continue  # transformers 5: no TF or Flax classes
        classes[impl] = getattr(family_module, spec.class_name)
    return classes


# --- eager: bench's machinery ------------------------------------------------------------------------


def eager_cases(family: str) -> tuple[bench.Case, ...]:
    """Both operations on the family's class, for every implementation and the tuple baseline."""
    spec = FAMILIES[family]
    a, b = payload(family)
    cases = []
    for impl, cls in [*family_classes(family).items(), (TUPLE, None)]:
        kind = TUPLE if impl == TUPLE else OUTPUT
        env: dict[str, Any] = dict(C=cls, a=a, b=b, same=_same)
        env["out"] = eval(OPERATIONS["construct"][kind][0], dict(env))
        for operation, forms in OPERATIONS.items():
            stmt, check = forms[kind]
            cases.append(bench.Case(spec.subject, operation, impl, stmt, check.format(stmt=stmt), env))
    return tuple(cases)


# --- jit ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Traces:
    """How many times the functions made by ``function`` were traced."""

    count: int = 0


def function(cls: type, traces: Traces) -> Callable[[Any], Any]:
    """A new function returning a Flax output of class ``cls``: counts its traces in ``traces``."""
    jnp = framework("jax.numpy")

    def f(x: Any) -> Any:
        traces.count += 1  # runs only while jax traces f
        h = jnp.tanh(x)
        return cls(last_hidden_state=h, hidden_states=(x, h))

    return f


def argument() -> Any:
    return framework("jax.numpy").linspace(-1.0, 1.0, 4, dtype="float32")


@dataclasses.dataclass
class JitCase:
    """One thing timed: ``call()``, for an implementation, with the traces its functions made."""

    benchmark: str
    impl: str
    cls: type
    call: Callable[[], Any] = dataclasses.field(repr=False)
    traces: Traces
    traces_per_call: int  # 1: every call traces a new function; 0: none may trace
    calls: int = 0  # calls made, checks included
    samples: dict[str, list[float]] = dataclasses.field(default_factory=lambda: {CPU: [], WALL: []})
    traces_before: int = dataclasses.field(init=False)  # made before the first call (the jitted call's one)

    def __post_init__(self) -> None:
        self.traces_before = self.traces.count

    def __call__(self) -> Any:
        self.calls += 1
        return self.call()

    def check_traces(self) -> None:
        """Raises RuntimeError unless the functions were traced as often as they should have been."""
        expected = self.traces_before + self.calls * self.traces_per_call
        if self.traces.count != expected:
            raise RuntimeError(f"{self.benchmark}, {self.impl}: {self.traces.count} traces in {self.calls} calls")

    def time_block(self, calls: int, warmup: bool) -> None:
        """``calls`` calls (after one untimed if ``warmup``): appends µs per call to the samples."""
        if warmup:
            self()
        gc_enabled = gc.isenabled()
        gc.disable()
        try:
            cpu, wall = PROCESS_CLOCK(), time.perf_counter_ns()
            for _ in range(calls):
                self()
            cpu, wall = PROCESS_CLOCK() - cpu, time.perf_counter_ns() - wall
        finally:
            if gc_enabled:
                gc.enable()
        self.samples[CPU].append(cpu / calls / 1e3)
        self.samples[WALL].append(wall / calls / 1e3)


def jit_case(benchmark: str, impl: str, cls: type) -> JitCase:
    """The case of ``benchmark`` for the class ``cls`` of implementation ``impl``."""
    jax = framework("jax")
    traces, x = Traces(), argument()
    if benchmark == TRACE_AND_RUN:
        return JitCase(benchmark, impl, cls, lambda: jax.block_until_ready(jax.jit(function(cls, traces))(x)),
                       traces, 1)
    if benchmark == TRACE:
        return JitCase(benchmark, impl, cls, lambda: jax.jit(function(cls, traces)).trace(x), traces, 1)
    jitted = jax.jit(function(cls, traces))
    jax.block_until_ready(jitted(x))  # traced and compiled here, once
    return JitCase(benchmark, impl, cls, lambda: jax.block_until_ready(jitted(x)), traces, 0)


def jit_cases(benchmark: str) -> list[JitCase]:
    """The cases of ``benchmark`` for every implementation of the Flax family."""
    return [jit_case(benchmark, impl, cls) for impl, cls in family_classes(FLAX).items()]


def check_jit(case: JitCase) -> None:
    """One call of the case gives what it should: a trace, or an output of the class under test holding
    ``tanh(x)`` and ``(x, tanh(x))``, under the pytree paths ``.last_hidden_state``, ``.hidden_states[0]``,
    ``.hidden_states[1]`` and ``.attentions`` (its None flattened as a leaf). Raises
    AssertionError (RuntimeError if it traced when it should not have)."""
    jax, np = framework("jax"), framework("numpy")
    result = case()
    case.check_traces()
    if case.benchmark == TRACE:
        if type(result).__name__ != "Traced":
            raise AssertionError(f"{case.benchmark}, {case.impl}: {type(result)}")
        return
    keys = list(result.keys()) if hasattr(result, "keys") else None
    if type(result) is not case.cls or keys != FIELDS:
        raise AssertionError(f"{case.benchmark}, {case.impl}: {type(result)} with keys {keys}")
    x = np.asarray(argument())
    expected = [np.tanh(x), x, np.tanh(x)]
    leaves = jax.tree_util.tree_leaves(result)
    if len(leaves) != 3 or not all(np.allclose(np.asarray(leaf), value) for leaf, value in zip(leaves, expected)):
        raise AssertionError(f"{case.benchmark}, {case.impl}: leaves {leaves}")
    paths = [jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_flatten_with_path(result, is_leaf=(
        lambda node: node is None))[0]]
    wanted = [".last_hidden_state", ".hidden_states[0]", ".hidden_states[1]", ".attentions"]
    if paths != wanted:
        raise AssertionError(f"{case.benchmark}, {case.impl}: pytree paths {paths} != {wanted}")


def interleave(cases: Sequence[JitCase], rounds: int, seconds: float, warmup: bool) -> None:
    """Times every case ``rounds`` times, round by round, in about ``seconds`` of calls in all; every
    other round in reverse order."""
    counts = []
    for case in cases:  # calls per block, from the fastest of three calls
        durations = []
        for _ in range(3):
            start = time.perf_counter()
            case()
            durations.append(time.perf_counter() - start)
        counts.append(max(1, round(seconds / rounds / len(cases) / min(durations))))
    for index in range(rounds):
        order = list(zip(cases, counts))
        for case, count in order[::-1] if index % 2 else order:
            case.time_block(count, warmup)
    for case in cases:
        case.check_traces()


def bench_jit(benchmark: str, rounds: int, seconds: float) -> list[JitCase]:
    """``benchmark`` for every implementation, checked, then timed."""
    cases = jit_cases(benchmark)
    for case in cases:
        check_jit(case)
    interleave(cases, rounds, seconds, warmup=benchmark == JITTED)
    return cases


def _ratio_name(numerator: JitCase, denominator: JitCase) -> str:
    return f"{numerator.benchmark}: {bench.LABELS[numerator.impl]}/{bench.LABELS[denominator.impl]}"


def ratios(cases: Sequence[JitCase]) -> list[bench_models.Ratio]:
    """cpp/transformers and python/transformers, or cpp/python without transformers."""
    by_impl = {case.impl: case for case in cases}
    reference = bench.HF if bench.HF in by_impl else bench.PYTHON
    return [
        bench_models.Ratio(_ratio_name(by_impl[impl], by_impl[reference]), by_impl[impl], by_impl[reference])
        for impl in (bench.CPP, bench.PYTHON)
        if impl in by_impl and impl != reference
    ]


# --- all of it ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class Results:
    eager: bench.Results
    jit: list[JitCase]
    ratios: list[bench_models.Ratio]
    notes: list[str]


EAGER_PLAN: dict[bool, tuple[float, int]] = {True: (2.0, 9), False: (16.0, 25)}  # (seconds in all, rounds)
# (rounds, seconds of calls in all) per jit benchmark
JIT_PLAN: dict[bool, dict[str, tuple[int, float]]] = {
    True: {TRACE_AND_RUN: (5, 2.5), TRACE: (5, 1.0), JITTED: (9, 1.5)},
    False: {TRACE_AND_RUN: (20, 20.0), TRACE: (20, 6.0), JITTED: (25, 8.0)},
}


def run_all(quick: bool = False) -> Results:
    """Every benchmark: ~15 s with ``quick`` (imports included), ~70 s without (CPU time)."""
    cases = [case for family in FAMILIES for case in eager_cases(family)]
    for case in cases:
        case.verify()
    seconds, rounds = EAGER_PLAN[quick]
    eager = bench.measure(cases, seconds=seconds, rounds=rounds)
    jit: list[JitCase] = []
    all_ratios: list[bench_models.Ratio] = []
    for benchmark in JIT_BENCHMARKS:
        more = bench_jit(benchmark, *JIT_PLAN[quick][benchmark])
        jit += more
        all_ratios += ratios(more)
    if bench.HF in family_classes(FLAX):
        hf = "transformers: its own classes"
    else:
        hf = "no transformers column: this transformers has no TF or Flax classes"
    notes = [
        f"eager: ns per operation, thread CPU time, {len(cases)} cases interleaved over {rounds} rounds; {hf}",
        (f"jit: f(x) -> FlaxBaseModelOutput(last_hidden_state=tanh(x), hidden_states=(x, tanh(x))), x float32[4], "
         "jax CPU; CPU = process CPU time (XLA's threads included)"),
        f"{'quick' if quick else 'full'} run, interleaved rounds: "
        + ", ".join(f"{name} {JIT_PLAN[quick][name][0]}" for name in JIT_BENCHMARKS),
    ]
    return Results(eager, jit, all_ratios, notes)


def framework_versions() -> str:
    """The versions of the frameworks, as imported (or installed)."""
    parts = []
    for name in ("tensorflow", "keras", "jax", "jaxlib", "flax"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "__version__"):
            parts.append(f"{name} {module.__version__}")
            continue
        try:
            parts.append(f"{name} {importlib.metadata.version(name)} (not imported)")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{name} not installed")
    return "frameworks: " + "; ".join(parts)


def machine_info() -> list[str]:
    """``bench.machine_info()`` with the frameworks' versions."""
    info = bench.machine_info()
    return [*info[:2], framework_versions(), *info[2:]]


# --- output ------------------------------------------------------------------------------------------


def _us(value: float) -> str:
    return f"{value:,.1f}" if value < 10_000 else f"{value:,.0f}"


def render(results: Results, markdown: bool = False) -> str:
    """The eager table of each family (ns per operation, ratios), the jit table (µs per call) and its ratios."""
    impls = [impl for impl in (bench.CPP, bench.PYTHON, bench.HF, TUPLE) if any(k[2] == impl for k in results.eager)]
    # ratio columns: (title, numerator, denominator), those whose two implementations were measured
    pairs = (("cpp/hf", bench.CPP, bench.HF), ("python/hf", bench.PYTHON, bench.HF),
             ("cpp/python", bench.CPP, bench.PYTHON), ("cpp/tuple", bench.CPP, TUPLE))
    columns = [(title, a, b) for title, a, b in pairs if a in impls and b in impls]
    out = []
    for family in FAMILIES.values():
        rows = []
        for operation in OPERATIONS:
            values = {impl: results.eager.get((family.subject, operation, impl)) for impl in impls}
            if all(value is None for value in values.values()):
                continue
            rows.append([operation, *map(bench._number, values.values()),
                         *(bench.ratio(values[a], values[b]) for _, a, b in columns)])
        if rows:
            header = ["operation", *(bench.LABELS[i] for i in impls), *(title for title, _, _ in columns)]
            out.append(bench._table(f"{family.subject}, eager: ns per operation", header, rows, markdown))
    rows = []
    for case in results.jit:
        cpu = case.samples[CPU]
        median = statistics.median(cpu)
        low, high = bench_models.quartiles(cpu)
        rows.append([case.benchmark, bench.LABELS[case.impl], _us(median), _us(min(cpu)),
                     f"{(high - low) / median * 100:.1f}%", _us(statistics.median(case.samples[WALL]))])
    if rows:
        header = ["benchmark", "impl", "CPU µs", "min", "IQR", "wall µs"]
        out.append(bench._table(f"{JIT_SUBJECT}: µs per call (CPU: process CPU time, median over "
                                "rounds, min, IQR relative to the median; wall: median)", header, rows, markdown))
    rows = [ratio.row() for ratio in results.ratios]
    if rows:
        out.append(bench._table("jit ratios (median of per-round ratios; IQR over rounds; min/min: ratio of the "
                                "fastest rounds)", bench_models.RATIO_HEADER, rows, markdown))
    return "\n".join(out)


def to_json(results: Results, info: list[str]) -> str:
    return json.dumps({
        "info": info,
        "notes": results.notes,
        "eager": [[*key, value] for key, value in results.eager.items()],
        "jit": [{"benchmark": case.benchmark, "impl": case.impl, "cpu_us": case.samples[CPU],
                 "wall_us": case.samples[WALL]} for case in results.jit],
        "ratios": [ratio.to_dict() for ratio in results.ratios],
    })


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fastoutput.bench_frameworks",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a ~15 s run (default: ~70 s)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up notes on stderr
    results = run_all(args.quick)
    info = machine_info()  # now: it reads the versions of the modules imported
    if args.json:
        print(to_json(results, info))
        return
    print("\n".join([*info, *results.notes, ""]))
    print(render(results, markdown=True))


if __name__ == "__main__":
    main()
