"""The TensorFlow and Flax output families under pytest-benchmark: the cases of ``fastoutput.bench_frameworks``.

- eager: ``construct`` and ``to_tuple()`` of ``TFBaseModelOutput(last_hidden_state=t, hidden_states=(t,))``
  on ``tf.Tensor``s and of ``FlaxBaseModelOutput`` on JAX arrays, for fastoutput's C++ core and twin,
  transformers' class where transformers has one (4.x; transformers 5 removed them) and the tuple
  baseline: a benchmark call runs the statement 1000 times (``time_case``), so µs read as ns per operation;
- jit (Flax family): ``jax.jit`` of a new function returning a ``FlaxBaseModelOutput``, traced, compiled
  and run to its first result; ``jax.jit(f).trace(x)`` of a new function; the steady-state call of an
  already-jitted one. A benchmark call is one such call (``operations`` = 1).

Every case checks what it times first (``Case.verify``, ``bench_frameworks.check_jit``): the output
is of the class under test and holds the payload, the jitted outputs hold the values and pytree paths
expected; each trace-and-run call traces once, and a jitted call never traces again. Groups are
``"<subject>: <operation>"``; ``extra_info`` holds impl, subject and operation, as for the other cases.
The module is skipped where tensorflow or jax is not installed (the sanitizer build).

    pytest benchmarks/test_bench_frameworks.py --benchmark-disable     # smoke run: every case once, checked
    pytest benchmarks/test_bench_frameworks.py --benchmark-timer=time.thread_time --benchmark-min-time=0.0005

``python -m fastoutput.bench_frameworks`` measures the same side by side, interleaved, with ratios, and
times the jit cases with the CPU time of the whole process: XLA compiles on threads of its own, which
``--benchmark-timer=time.thread_time`` leaves out (trace and run then reads a fraction of its wall time).
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("jax")

from fastoutput import bench, bench_frameworks  # noqa: E402
from pytest_benchmark.fixture import BenchmarkFixture  # noqa: E402

TRACE_ROUNDS = 10  # trace-and-run and trace calls timed per case, one jax.jit each (~30 ms and ~0.3 ms)
EAGER_CASES = [case for family in bench_frameworks.FAMILIES for case in bench_frameworks.eager_cases(family)]
FLAX_IMPLS = list(bench_frameworks.family_classes(bench_frameworks.FLAX))


@pytest.mark.parametrize("case", EAGER_CASES, ids=attrgetter("id"))
def test_eager(time_case: Callable[[bench.Case], None], case: bench.Case) -> None:
    """Eager construct / to_tuple() of a TF or Flax output (or the tuple baseline): the statement gives the
    class under test holding exactly the payload's objects; then it is timed."""
    time_case(case)


@pytest.mark.parametrize("impl", FLAX_IMPLS)
@pytest.mark.parametrize("benchmark_name", bench_frameworks.JIT_BENCHMARKS,
                         ids=lambda name: name.removeprefix("jit: ").replace(" ", "-"))
def test_jit(benchmark: BenchmarkFixture, benchmark_name: str, impl: str) -> None:
    """A Flax output under ``jax.jit``: one call checked (the output's class, values and pytree paths, one
    trace per trace-and-run call), then timed; afterwards every trace-and-run or trace call traced exactly
    once and the jitted call never traced again."""
    cls = bench_frameworks.family_classes(bench_frameworks.FLAX)[impl]
    case = bench_frameworks.jit_case(benchmark_name, impl, cls)
    bench_frameworks.check_jit(case)
    benchmark.group = f"{bench_frameworks.JIT_SUBJECT}: {benchmark_name}"
    benchmark.extra_info.update(impl=impl, subject=bench_frameworks.JIT_SUBJECT, operation=benchmark_name,
                                operations=1)
    if benchmark_name == bench_frameworks.JITTED:
        benchmark(case)
    else:
        pedantic: Any = benchmark.pedantic  # untyped
        pedantic(case, rounds=TRACE_ROUNDS, iterations=1)
    case.check_traces()
    assert case.calls >= 2
