"""The output classes of the differential tests, declared once and loaded twice.

This file is never imported under its own name. ``tests.diff_support.load_models`` executes it twice,
as the modules ``tests.diff_models_hf`` (on transformers' ``ModelOutput``) and ``tests.diff_models_fo``
(on fastoutput's), after putting the base class into the new module's namespace as ``ModelOutput``.
So both sets of classes come from the same declarations and have the same ``__name__`` and
``__qualname__``. Only ``__module__`` differs, and the comparison replaces either module name with
``<module>`` (``diff_support.normalise_text``). Each module is registered in ``sys.modules``, so the
classes pickle by reference like any module-level class.

Shapes follow the notation of the spec (``shared/spec/modeloutput.md`` (beside the repository)).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ModelOutput: Any = globals()["ModelOutput"]  # put here by diff_support.load_models

Base = ModelOutput


@dataclass
class MOT(ModelOutput):
    """Required first field, two optional ones (transformers' ``ModelOutputTest`` shape)."""

    a: Any
    b: Any = None
    c: Any = None


@dataclass
class Opt(ModelOutput):
    """The same fields, all optional."""

    a: Any = None
    b: Any = None
    c: Any = None


@dataclass
class Child(MOT):
    """A dataclass child: the fields of MOT, then ``d``."""

    d: Any = None


@dataclass(frozen=True)
class Frozen(ModelOutput):
    """What ``flax.struct.dataclass`` makes of an output class."""

    a: Any
    b: Any = None


class ChildNoDataclass(MOT):
    """An undecorated child of a dataclass: reuses MOT's fields and ``__init__``."""


class NoDataclass(ModelOutput):
    """Direct subclass without ``@dataclass``: every instantiation fails."""


@dataclass
class NoFields(ModelOutput):
    pass


@dataclass
class TwoRequired(ModelOutput):
    a: Any
    b: Any


@dataclass
class NonNoneDefault(ModelOutput):
    a: Any
    b: Any = 0


@dataclass
class FactoryDefault(ModelOutput):
    a: Any = None
    b: Any = field(default_factory=list)


# Classes whose instances the state machine keeps and operates on, then those that only fail.
LIVE_CLASSES = ("MOT", "Opt", "Child", "Frozen", "ChildNoDataclass", "Base")
FAILING_CLASSES = ("NoDataclass", "NoFields", "TwoRequired", "NonNoneDefault", "FactoryDefault")
