"""pytest-benchmark suite: every case of ``fastoutput.bench``, one benchmark each.

Each case runs in one process for the C++ core, the pure-Python twin, transformers (when installed)
and the plain-container baselines; its statement is checked once before it is timed. A benchmark call
runs the statement ``LOOPS * bench.UNROLL`` = 1000 times, so pytest-benchmark's times in µs read as ns
per operation (loop included). Groups are ``"<subject>: <operation>"``; ``extra_info`` holds impl,
subject and operation (and bytes for memory), which ``tools/bench_results.py`` reads back.

    pytest benchmarks --benchmark-disable     # smoke run (CI): every case once, checked
    pytest benchmarks --benchmark-timer=time.thread_time --benchmark-min-time=0.0005   # full run

CPU time (``time.thread_time``) suits a shared machine; rounds of 0.5 ms make its resolution irrelevant.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastoutput import bench
from pytest_benchmark.fixture import BenchmarkFixture

LOOPS = 100  # loop iterations per call, each running the statement bench.UNROLL times


def pytest_report_header(config: pytest.Config) -> list[str]:
    return bench.machine_info()


@pytest.fixture
def time_case(benchmark: BenchmarkFixture) -> Callable[[bench.Case], None]:
    """Checks a case, then times 1000 executions of its statement per benchmark call."""

    def time(case: bench.Case) -> None:
        case.verify()
        benchmark.group = f"{case.subject}: {case.operation}"
        benchmark.extra_info.update(impl=case.impl, subject=case.subject, operation=case.operation,
                                    operations=LOOPS * bench.UNROLL)
        benchmark(case.compile(), LOOPS)

    return time
