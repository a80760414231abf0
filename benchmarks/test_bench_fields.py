"""Construction cost against the number of declared fields (1, 5, 20, 100; the last one set)."""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter

import pytest
from fastoutput import bench


@pytest.mark.parametrize("case", bench.field_count_cases(), ids=attrgetter("id"))
def test_construct_with_fields(time_case: Callable[[bench.Case], None], case: bench.Case) -> None:
    time_case(case)
