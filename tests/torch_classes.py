"""Output classes shared by the torch integration tests (``tests/test_torch_*.py``).

The notation classes of the spec (``MOT``, ``Opt``, ``Child``) live here so that their pytree
``serialized_type_name`` is predictable: ``tests.torch_classes.<Name>``. This module must not import
torch, so that importing it never changes *when* torch gets loaded.

The real output classes come from ``fastoutput.modeling_outputs``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fastoutput import ModelOutput
from fastoutput.modeling_outputs import BaseModelOutput, BaseModelOutputWithPooling, CausalLMOutputWithPast


@dataclasses.dataclass
class ModelOutputTest(ModelOutput):
    """``MOT`` of the spec: ``a`` required, ``b`` and ``c`` optional."""

    a: Any
    b: Any = None
    c: Any = None


MOT = ModelOutputTest


@dataclasses.dataclass
class Opt(ModelOutput):
    """``Opt`` of the spec: the three fields, all optional."""

    a: Any = None
    b: Any = None
    c: Any = None


@dataclasses.dataclass
class Child(ModelOutputTest):
    """``Child`` of the spec: ``MOT`` plus ``d``."""

    d: Any = None


@dataclasses.dataclass
class GrandChild(Child):
    e: Any = None


class NotADataclass(ModelOutput):
    """A subclass without ``@dataclass`` (it is registered all the same; instances cannot be built)."""


class UndecoratedChild(Opt):
    """A subclass of a dataclass output, itself not decorated again."""


ALL_CLASSES: tuple[type, ...] = (
    ModelOutput,
    ModelOutputTest,
    Opt,
    Child,
    GrandChild,
    NotADataclass,
    UndecoratedChild,
    BaseModelOutput,
    BaseModelOutputWithPooling,
    CausalLMOutputWithPast,
)


def modeling_output_classes() -> list[type]:
    """Every output class that ``fastoutput.modeling_outputs`` exports."""
    from fastoutput import modeling_outputs

    names = getattr(modeling_outputs, "__all__", dir(modeling_outputs))
    found = (getattr(modeling_outputs, name) for name in names)
    return [cls for cls in found if isinstance(cls, type) and issubclass(cls, ModelOutput)]


def assert_same_output(actual: Any, expected: Any) -> None:
    """``actual`` and ``expected`` are the same output: class, keys in order, attributes, values."""
    assert type(actual) is type(expected)
    assert list(actual.keys()) == list(expected.keys())
    assert sorted(vars(actual)) == sorted(vars(expected))
    for name, value in vars(expected).items():
        assert_same_value(getattr(actual, name), value)
    for key, value in expected.items():
        assert_same_value(actual[key], value)


def assert_same_value(actual: Any, expected: Any) -> None:
    """Tensors by value (and dtype/shape), outputs and containers recursively, the rest by ``==``."""
    import torch

    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor)
        assert actual.dtype == expected.dtype
        torch.testing.assert_close(actual, expected, rtol=0, atol=0)
    elif isinstance(expected, ModelOutput):
        assert_same_output(actual, expected)
    elif isinstance(expected, (tuple, list)):
        assert type(actual) is type(expected)
        assert len(actual) == len(expected)
        for actual_item, expected_item in zip(actual, expected):
            assert_same_value(actual_item, expected_item)
    elif isinstance(expected, dict):
        assert type(actual) is type(expected)
        assert list(actual) == list(expected)
        for key in expected:
            assert_same_value(actual[key], expected[key])
    else:
        assert actual == expected
