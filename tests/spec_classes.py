"""Output classes declared as the behaviour spec (``shared/spec/modeloutput.md`` (beside the repository)) names them.

The ``tests/test_spec_*.py`` files share these declarations. They live in a module of their own so
that pickling finds them and so that messages naming ``<module>.<Class>`` are predictable (``MODULE``).

No ``from __future__ import annotations`` here: the spec pins ``inspect.signature(MOT)`` with real
annotation objects (``a: float, b: Optional[float] = None``), not strings.
"""

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from fastoutput import ModelOutput

MODULE = __name__  # "tests.spec_classes" under pytest's rootdir import


# Same shape as transformers' ``ModelOutputTest``: ``a`` required, ``b`` and ``c`` default None.
# No docstring on purpose: @dataclass then generates one from the signature (§3.1).
@dataclass
class MOT(ModelOutput):
    a: float
    b: Optional[float] = None
    c: Optional[float] = None


@dataclass
class Opt(ModelOutput):
    """The three fields of ``MOT``, all optional."""

    a: Optional[float] = None
    b: Optional[float] = None
    c: Optional[float] = None


@dataclass
class Child(MOT):
    """A dataclass child of ``MOT``: fields ``a, b, c, d``."""

    d: Optional[float] = None


class ChildNoDataclass(MOT):
    """An undecorated child of ``MOT``: reuses the parent's ``__init__``, fields and repr."""


@dataclass
class One(ModelOutput):
    """A single optional field."""

    a: Optional[float] = None


@dataclass
class OneReq(ModelOutput):
    """A single required field."""

    a: float


@dataclass
class NoFields(ModelOutput):
    """No fields at all: fails at instantiation (§3.6)."""


@dataclass
class TwoRequired(ModelOutput):
    """Two required fields: fails at instantiation (§3.6)."""

    a: float
    b: float


@dataclass
class NonNoneDefault(ModelOutput):
    """A later field with a default other than None: fails at instantiation (§3.6)."""

    a: float
    b: int = 0


@dataclass
class FactoryDefault(ModelOutput):
    """A later field with a ``default_factory``: fails at instantiation (§3.6)."""

    a: float
    b: list = field(default_factory=list)


class NoDataclass(ModelOutput):
    """A direct subclass without ``@dataclass``: fails at instantiation (§3.6)."""

    a: Optional[float] = None


@dataclass(frozen=True)
class Frozen(ModelOutput):
    """What ``@flax.struct.dataclass`` applies: a frozen dataclass subclass (§3.7)."""

    a: Any
    b: Optional[Any] = None


@dataclass
class BaseLike(ModelOutput):
    """The shape of transformers' ``BaseModelOutput`` (three optional fields)."""

    last_hidden_state: Optional[Any] = None
    hidden_states: Optional[Any] = None
    attentions: Optional[Any] = None


@dataclass
class OwnPostInit(ModelOutput):
    """A subclass whose ``__post_init__`` does not call the base one (§0.2, keys during ``__init__``)."""

    a: Optional[float] = None
    b: Optional[float] = None

    def __post_init__(self) -> None:
        self.post_init_ran = True


def field_names(cls_or_instance: Any) -> list:
    return [f.name for f in dataclasses.fields(cls_or_instance)]
