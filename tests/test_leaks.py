"""Leak check in CI: every public operation, run 2,000 times, leaves nothing behind.

Runs ``tools/leak_check.py`` (its docstring says what the operations are and how each of the three
checks works) with a short count: every operation of its table runs 2,000 times and then 1,000 times
under ``tracemalloc``; the reference counts of the payloads and classes must come back exactly, no
type's number of live GC-tracked objects may grow, and the traced memory may grow by no more than
``MEMORY_SLACK`` (8 KiB). The class-creation operations run 10 and 20 times fewer runs (2 to 4 ms
each). One test per operation, so that a failure names it. The whole table runs once (a module
fixture), limited to the operations whose tests were selected; ``-s`` prints it.

The self-tests feed the checker operations that leak on purpose, one for each check, and require
each leak to be reported by that check: the checks can fail.

Full count, as a command (minutes)::

    python tools/leak_check.py --iterations 100000

Run: ``FASTOUTPUT_PURE_PYTHON=0 python -m pytest tests/test_leaks.py -q`` (C++ core) and
``FASTOUTPUT_PURE_PYTHON=1 ...`` (pure-Python twin); about 15 s and 25 s on two cores.
"""

from __future__ import annotations

import ctypes
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ITERATIONS = 2_000
# tracemalloc makes runs 7 to 15 times slower; over 1,000 runs, leaking 16 bytes a run shows as 16 KiB
TRACE_ITERATIONS = 1_000
TOOL = Path(__file__).resolve().parent.parent / "tools" / "leak_check.py"


def _load_tool() -> ModuleType:
    """``tools/leak_check.py`` as the module ``leak_check`` (registered, so that pickle finds its classes)."""
    module = sys.modules.get("leak_check")
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location("leak_check", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["leak_check"] = module
    spec.loader.exec_module(module)
    return module


leak_check = _load_tool()
NAMES: list[str] = list(leak_check.OPERATIONS)


@pytest.fixture(scope="module")
def results(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Every selected operation's ``Result``, from one run of the checker (one heap freeze)."""
    selected = [
        item.callspec.params["name"]
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.module is sys.modules[__name__]
        and hasattr(item, "callspec") and "name" in item.callspec.params
    ]
    wanted = {name: leak_check.OPERATIONS[name] for name in NAMES if name in selected}
    found: dict[str, Any] = {}

    def keep(result: Any) -> None:
        found[result.name] = result
        print(result.line())  # the table, with ``-s``

    leak_check.check(wanted, ITERATIONS, trace_iterations=TRACE_ITERATIONS, warmup=500, report=keep)
    return found


@pytest.mark.parametrize("name", NAMES)
def test_operation_leaves_nothing_behind(name: str, results: dict[str, Any]) -> None:
    """Run 2,000 times after a warm-up, and 1,000 more under tracemalloc, the operation changes no
    watched reference count, grows no type's count of live objects and grows traced memory by no more
    than the slack."""
    result = results[name]
    assert result.failures() == [], result.line()


def test_table_covers_every_kind_of_operation() -> None:
    """The table has construction, read, write and error paths, pickle and copy, pytree (torch is
    installed in CI) and class creation, so that a shrinking table cannot pass unnoticed."""
    prefixes = {name.split("-")[0] for name in NAMES}
    assert {"construct", "read", "write", "error", "pickle", "copy", "deepcopy", "pytree", "class"} <= prefixes
    assert len(NAMES) >= 100


# ---------------------------------------------------------------------------------------------------
# The checks can fail: deliberately leaking operations are reported, each by the check meant for it
# ---------------------------------------------------------------------------------------------------

_kept: list[Any] = []


def _fake_failures(operation: Callable[[], object], watched: Any) -> list[str]:
    table = {"fake": operation}
    return list(leak_check.check(table, ITERATIONS, trace_iterations=TRACE_ITERATIONS, warmup=100, watched=[watched]))


def test_reference_leak_is_reported() -> None:
    """An operation that takes a reference to its payload and never gives it back (``Py_IncRef``)
    fails the reference-count check, and only that one (no object, no memory is left)."""
    payload = leak_check.Payload("leaked-reference")
    incref = ctypes.pythonapi.Py_IncRef
    incref.argtypes = [ctypes.py_object]
    failures = _fake_failures(lambda: incref(payload), payload)
    assert len(failures) == 1, failures
    assert "reference counts changed" in failures[0]
    assert "leaked-reference" in failures[0]


def test_object_leak_is_reported() -> None:
    """An operation that keeps one new object per run fails the live-object check (by type name),
    and the memory check as well."""
    _kept.clear()
    payload = leak_check.Payload("unused")
    try:
        failures = _fake_failures(lambda: _kept.append(leak_check.Payload("kept")), payload)
    finally:
        _kept.clear()
    assert len(failures) == 2, failures
    assert "live objects grew: {'Payload':" in failures[0]
    assert "traced memory grew" in failures[1]


def test_memory_leak_is_reported() -> None:
    """An operation that keeps memory in objects the GC does not track (strs in a list made before
    the check) changes no reference count and no object count, and fails the memory check alone."""
    _kept.clear()
    payload = leak_check.Payload("unused")
    try:
        failures = _fake_failures(lambda: _kept.append(f"{len(_kept)}-kept"), payload)
    finally:
        _kept.clear()
    assert len(failures) == 1, failures
    assert "traced memory grew" in failures[0]


def test_a_clean_operation_passes() -> None:
    """The fake operations above fail because they leak, not because of the checker: the same kind
    of operation that keeps nothing passes."""
    payload = leak_check.Payload("balanced")
    assert _fake_failures(lambda: [payload, f"{id(payload)}-made"], payload) == []


def test_operation_that_raises_is_reported() -> None:
    """An operation that raises something unexpected is a failure of that operation, with the
    exception named, and the check goes on with the next one."""
    payload = leak_check.Payload("unused")

    def broken() -> None:
        raise LookupError("not what the table expects")

    checked: list[str] = []
    failures = leak_check.check(
        {"broken": broken, "fine": lambda: None}, 10, trace_iterations=10, warmup=1, watched=[payload],
        report=lambda result: checked.append(result.name),
    )
    assert failures == ["broken: raised LookupError: not what the table expects"]
    assert checked == ["broken", "fine"]
