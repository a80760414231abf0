"""Differential fuzzing, short seed-fixed run: the C++ core against the pure-Python twin.

``tests/fuzz_target.py`` decodes a program (constructions and up to 24 operations on two outputs)
from bytes, runs it on both implementations (``tests/twin.py`` imports the one ``import fastoutput``
did not give under another package name, so both configurations compare the same two) and raises
``AssertionError`` at the first difference in a result, an exception or the state of an output.
Here Hypothesis feeds it byte strings, derandomized (the same inputs on every run) and without an
example database; the long coverage-guided run is ``python tools/fuzz.py --seconds 600`` (atheris).

Sizing: ``FASTOUTPUT_FUZZ_EXAMPLES`` (default 1000, a few seconds) sets the number of inputs, e.g.
``FASTOUTPUT_FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz.py``.

The target found six differences. Four were bugs, now fixed; the tests below keep them fixed. Two
stay, documented (``docs/compatibility.md`` 9 and 10, ``fuzz_target.DOCUMENTED_DIVERGENCES``); the
tests below pin them.
"""

from __future__ import annotations

import copy
import importlib
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("transformers")

import fastoutput
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._helpers import IS_CPP
from tests.twin import CoreUnavailable

try:
    from tests import fuzz_target as ft
except CoreUnavailable:  # a build without the compiled core: there is nothing to compare the twin with
    pytest.skip("the C++ core cannot be imported here", allow_module_level=True)

pytestmark = pytest.mark.transformers

EXAMPLES = int(os.environ.get("FASTOUTPUT_FUZZ_EXAMPLES", "1000"))


def test_the_two_sides_are_the_two_implementations() -> None:
    """The target compares the C++ core (classes made by ``OutputMeta``) with the twin (plain
    ``type``), one of them being ``import fastoutput`` itself, and the copy's import left
    ``FASTOUTPUT_PURE_PYTHON`` as it was."""
    assert ft.CPP.package.IMPLEMENTATION == "cpp"
    assert ft.PYTHON.package.IMPLEMENTATION == "python"
    assert type(ft.CPP.root) is not type
    assert type(ft.PYTHON.root) is type
    assert ft.CPP.root is not ft.PYTHON.root
    main = ft.CPP if IS_CPP else ft.PYTHON
    assert main.root is fastoutput.ModelOutput
    assert os.environ.get("FASTOUTPUT_PURE_PYTHON", "") in (("", "0") if IS_CPP else ("1",))
    for side in ft.SIDES:
        for cls in side.classes.values():
            assert issubclass(cls, side.root), cls


# At least 64 bytes: left to itself, Hypothesis draws byte strings of a few bytes, which decode to
# the two constructions and hardly an operation; from 64 bytes up a program has about 16 operations.
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None)
@given(st.binary(min_size=64, max_size=300))
def test_core_and_twin_agree(data: bytes) -> None:
    """Every decoded program gives the same results, exceptions and output states on the C++ core
    as on the twin (up to the deliberate differences the target's docstring lists)."""
    ft.run(data)


def test_target_reports_a_difference(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison can fail: a program that pops an item runs clean, and reports a difference
    once the twin's ``popitem`` is made to return something else."""
    program = (
        (("call", "Opt", (), (("a", ("lit", 1)), ("c", ("lit", 3)))), ("call", "MOT", (("lit", 2),), ())),
        (("popitem", 0, 2), ("read", 0, "keys")),
    )
    assert ft.compare_traces(ft.execute(program, ft.CPP), ft.execute(program, ft.PYTHON)) is None
    monkeypatch.setattr(ft.PYTHON.root, "popitem", lambda self, last=True: ("c", 4))
    difference = ft.compare_traces(ft.execute(program, ft.CPP), ft.execute(program, ft.PYTHON))
    assert difference is not None and difference.startswith("step 2: o0.popitem()"), difference


def test_every_input_decodes() -> None:
    """Any bytes decode to a program (bytes past the end read as zero); the empty input is the two
    simplest constructions and no operation, and the rendering names them."""
    constructions, ops = ft.decode(b"")
    assert ops == () and len(constructions) == 2
    assert ft.describe(b"") == "o0 = Opt()\no1 = Opt()"
    for data in (b"\xff" * 400, bytes(range(256)), b"\x00\x01" * 50):
        constructions, ops = ft.decode(data)
        assert len(ops) <= ft.MAX_OPS
        assert ft.describe(data).count("\n") == 1 + len(ops)


# ---- differences the target found: four fixed, two documented (fuzz_target.DOCUMENTED_DIVERGENCES)


def _on_both(fn: Callable[[ft.Side], Any]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    return ft.outcome(lambda: fn(ft.CPP)), ft.outcome(lambda: fn(ft.PYTHON))


@pytest.mark.parametrize("how", ["pickle", "copy", "deepcopy"])
def test_slots_frozen_round_trip(how: str) -> None:
    """``@dataclass(slots=True, frozen=True)``: pickle, copy and deepcopy keep the field values."""
    round_trip = {
        "pickle": lambda o: pickle.loads(pickle.dumps(o)),
        "copy": copy.copy,
        "deepcopy": copy.deepcopy,
    }[how]
    cpp, python = _on_both(lambda side: repr(round_trip(side.classes["SlotsFrozen"](1))))
    assert python == ("ok", ("str", "SlotsFrozen(a=1, b=None)"))
    assert cpp == python


def test_slots_class_new_reads_no_default() -> None:
    """``Cls.__new__(Cls)`` of a ``slots=True`` output: an unassigned field raises AttributeError."""
    cpp, python = _on_both(lambda side: side.classes["SlotsFrozen"].__new__(side.classes["SlotsFrozen"]).b)
    assert python[:2] == ("raise", AttributeError)
    assert cpp == python


@pytest.mark.parametrize("name", ["to_tuple", "keys"])
def test_instance_attribute_shadowing_a_method(name: str) -> None:
    """``out['to_tuple'] = v`` (or ``'keys'``): ``out[0]`` (to_tuple() of a class with its own
    ``__getitem__`` for ``keys``) calls the instance attribute in the twin, as transformers does;
    the C++ core's native paths do not look methods up on the instance (docs/compatibility.md 9)."""

    def read(side: ft.Side) -> Any:
        o = side.classes["GetItemOverride" if name == "keys" else "Opt"](a=1)
        o[name] = 5
        return o[0] if name == "to_tuple" else o.to_tuple()

    cpp, python = _on_both(read)
    assert python == ("raise", TypeError, "'int' object is not callable")
    assert cpp[0] == "ok"


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_round_trip_of_unassigned_field(how: str) -> None:
    """In the twin (and transformers) a field that no ``__init__`` assigned is not part of the
    reduced state, so the rebuilt object keeps what the rebuild gave it: ``o = Opt(b=5);
    o.__dict__ = {}`` pickles to ``b == 5`` (the key's value, replayed before the state), and
    ``Opt.__new__(Opt)`` with ``__dict__ = {'a': {'a': '', 'c': 7}}`` deep-copies to ``c == 7`` (the
    first-field rule of the rebuild). In the C++ core every field has a value in its slot, its
    default if unassigned, and the state restores that (docs/compatibility.md 10)."""

    def read(side: ft.Side) -> Any:
        cls = side.classes["Opt"]
        if how == "pickle":
            o = cls(b=5)
            o.__dict__ = {}
            return pickle.loads(pickle.dumps(o)).b
        o = cls.__new__(cls)
        o.__dict__ = {"a": {"a": "", "c": 7}}
        return copy.deepcopy(o).c

    cpp, python = _on_both(read)
    assert python == ("ok", ("int", 5 if how == "pickle" else 7))
    assert cpp == ("ok", ("NoneType", None))


def test_copy_with_reduce_ex_set_to_none() -> None:
    """``copy.copy`` treats an instance attribute ``__reduce_ex__ = None`` as absent and copies
    through ``__reduce__``."""

    def read(side: ft.Side) -> Any:
        o = side.classes["Opt"](a=1)
        o["__reduce_ex__"] = None
        return copy.copy(o)

    cpp, python = _on_both(read)
    assert python[0] == "ok"
    assert cpp == python


def _with_missing(base: type) -> type:
    @dataclass
    class WithMissing(base):  # type: ignore[misc]
        a: Any = None

        def __missing__(self, key: Any) -> Any:
            return f"missing {key}"

    return WithMissing


def test_missing_hook_is_not_called() -> None:
    """``out['absent']`` on a class that defines ``__missing__`` raises KeyError, as transformers
    (which looks the key up in ``dict(self.items())``) and the C++ core do."""
    hf_model_output = importlib.import_module("transformers.utils").ModelOutput

    def read(base: type) -> Any:
        return _with_missing(base)(a=1)["b"]

    hf = ft.outcome(lambda: read(hf_model_output))
    assert hf == ("raise", KeyError, "'b'")
    assert ft.outcome(lambda: read(ft.CPP.root)) == hf
    assert ft.outcome(lambda: read(ft.PYTHON.root)) == hf
