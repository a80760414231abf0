"""Bytes per instance, in ``extra_info["bytes"]``: what tracemalloc sees allocated per instance while
COUNT instances are alive, the shared payload excluded (object, GC header, field slots, the dict part's
table, the instance ``__dict__``). The time pytest-benchmark shows is that of the measurement: ignore it.
"""

from __future__ import annotations

from operator import attrgetter

import pytest
from fastoutput import bench
from pytest_benchmark.fixture import BenchmarkFixture

COUNT = 5_000


@pytest.mark.parametrize("case", bench.memory_cases(), ids=attrgetter("id"))
def test_memory(benchmark: BenchmarkFixture, case: bench.Case) -> None:
    case.verify()
    benchmark.group = f"{case.subject}: {case.operation}"
    size = benchmark.pedantic(bench.bytes_per_instance, (case.factory(), COUNT), rounds=1, iterations=1)
    assert size > 0
    benchmark.extra_info.update(impl=case.impl, subject=case.subject, operation=case.operation, bytes=size)
