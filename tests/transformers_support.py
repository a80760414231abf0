"""What the drop-in tests share: running the same code unpatched and patched, and comparing results.

A patched run must give what the unpatched run gives, except that every transformers output is the
fastoutput stand-in of the same name: same keys in the same order, equal tensors (``torch.equal``),
the same types of nested values (output classes are compared by module and qualified name, since the
two runs use two different class objects of the same name).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import fastoutput

T = TypeVar("T")


def run_both(function: Callable[[], T]) -> tuple[T, T]:
    """``function()`` unpatched, then patched (the same objects: models built before the patch)."""
    assert not fastoutput.transformers_patched(), "a test left transformers patched"
    unpatched = function()
    with fastoutput.patch_transformers():
        result = function()
    return unpatched, result


def class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def is_output(value: Any) -> bool:
    """Whether ``value`` is a transformers or fastoutput model output (of either run)."""
    from transformers.utils.generic import ModelOutput

    return isinstance(value, (ModelOutput, fastoutput.ModelOutput))


def assert_same(expected: Any, actual: Any, path: str = "output") -> None:
    """``actual`` (patched run) holds what ``expected`` (unpatched run) holds, recursively."""
    import torch

    if is_output(expected):
        assert is_output(actual), f"{path}: {type(actual)} is no model output"
        assert class_name(type(actual)) == class_name(type(expected)), path
        if not isinstance(expected, fastoutput.ModelOutput):  # the unpatched run gives transformers' classes
            assert isinstance(actual, fastoutput.ModelOutput), f"{path}: {type(actual)} is not fastoutput-backed"
        assert list(actual.keys()) == list(expected.keys()), path
        for key in expected.keys():
            assert_same(expected[key], actual[key], f"{path}[{key!r}]")
        return
    assert type(actual) is type(expected), f"{path}: {type(actual)} != {type(expected)}"
    if isinstance(expected, torch.Tensor):
        assert actual.dtype == expected.dtype and actual.shape == expected.shape, path
        assert torch.equal(actual, expected), f"{path}: tensors differ"
    elif isinstance(expected, (tuple, list)):
        assert len(actual) == len(expected), path
        for index, (left, right) in enumerate(zip(expected, actual)):
            assert_same(left, right, f"{path}[{index}]")
    elif isinstance(expected, dict):
        assert list(actual) == list(expected), path
        for key in expected:
            assert_same(expected[key], actual[key], f"{path}[{key!r}]")
    elif hasattr(expected, "__dict__") and not isinstance(expected, type):  # e.g. a DynamicCache
        assert_same(dict(vars(expected)), dict(vars(actual)), f"{path}.__dict__")
    else:
        assert actual == expected, path
