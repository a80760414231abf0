"""Each operation on ``CausalLMOutputWithPast(logits=t, past_key_values=pkv)`` and on a class of two fields,
both set, for fastoutput (C++ and Python), transformers and the tuple/namedtuple/slots/dict baselines.

Pickle round trips use small ints as field values: with tensors, tensor serialisation is all it times.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter

import pytest
from fastoutput import bench


@pytest.mark.parametrize("case", bench.operation_cases(), ids=attrgetter("id"))
def test_operation(time_case: Callable[[bench.Case], None], case: bench.Case) -> None:
    time_case(case)
