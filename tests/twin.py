"""Both implementations of fastoutput in one process, for the differential fuzz target.

``import fastoutput`` gives one implementation: the C++ core, or the pure-Python twin when
``FASTOUTPUT_PURE_PYTHON=1``. This module imports a second copy of the same package under another
top-level name, with the environment variable set for the duration of that import only, so that the
copy holds the other implementation:

* ``load_twin()``: the pure-Python twin as ``fastoutput_twin`` (its classes have the plain ``type``
  metaclass);
* ``load_core_copy()``: the C++ core as ``fastoutput_core`` (classes made by ``OutputMeta``);
* ``implementations()``: ``(C++ package, pure-Python package)`` whichever configuration the suite
  runs in. Under the C++ configuration that is ``(fastoutput, fastoutput_twin)``; under the twin
  configuration ``(fastoutput_core, fastoutput)``. Either way the process holds exactly one copy of
  the compiled extension (a copy is only loaded where the main import did not load it), so a
  differential test compares the C++ core with the twin, and can fail, in both configurations.

A copy is a full package: ``spec_from_file_location`` on ``fastoutput.__file__`` with the package's own
``__path__`` as search locations (the editable install of scikit-build-core lists the source folder
and the folder holding the compiled ``_core``), so ``from . import _core`` and the other relative
imports find the very files ``fastoutput`` was imported from. Its modules are registered in
``sys.modules`` (``fastoutput_twin.modeling_outputs``, ...), so its classes pickle by reference. Its
classes are registered as torch pytree nodes under their own module names.

Run the fuzz target that uses this with ``python -m pytest tests/test_fuzz.py``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType

import fastoutput

ENV = "FASTOUTPUT_PURE_PYTHON"
TWIN_NAME = "fastoutput_twin"
CORE_NAME = "fastoutput_core"


class CoreUnavailable(ImportError):
    """The compiled C++ core cannot be imported by this interpreter (only the twin exists)."""


def _forget(name: str) -> None:
    for module_name in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module_name]


def _load_copy(name: str, pure_python: bool) -> ModuleType:
    """``fastoutput`` imported again as ``name``, with ``FASTOUTPUT_PURE_PYTHON`` set to ``1`` or
    ``0`` while it (and its ``modeling_outputs``) is imported; the variable is restored afterwards."""
    existing = sys.modules.get(name)
    if existing is not None:
        return existing
    spec = importlib.util.spec_from_file_location(
        name, fastoutput.__file__, submodule_search_locations=list(fastoutput.__path__)
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    saved = os.environ.get(ENV)
    os.environ[ENV] = "1" if pure_python else "0"
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        importlib.import_module(f"{name}.modeling_outputs")
    except BaseException:
        _forget(name)
        raise
    finally:
        if saved is None:
            del os.environ[ENV]
        else:
            os.environ[ENV] = saved
    return module


def load_twin() -> ModuleType:
    """The pure-Python twin as the package ``fastoutput_twin`` (loaded once per process)."""
    twin = _load_copy(TWIN_NAME, pure_python=True)
    assert twin.IMPLEMENTATION == "python", twin.IMPLEMENTATION
    assert type(twin.ModelOutput) is type, type(twin.ModelOutput)
    assert twin.ModelOutput is not fastoutput.ModelOutput
    return twin


def load_core_copy() -> ModuleType:
    """The C++ core as the package ``fastoutput_core``. Raises ``CoreUnavailable`` where the compiled
    extension cannot be imported (the copy then falls back to the twin, which is of no use here)."""
    if fastoutput.IMPLEMENTATION == "cpp":
        raise RuntimeError("the C++ core is already loaded as fastoutput: use fastoutput itself")
    core = _load_copy(CORE_NAME, pure_python=False)
    if core.IMPLEMENTATION != "cpp":
        _forget(CORE_NAME)
        raise CoreUnavailable("the compiled fastoutput._core cannot be imported by this interpreter")
    assert type(core.ModelOutput) is not type, "the C++ core's classes are made by OutputMeta"
    return core


def implementations() -> tuple[ModuleType, ModuleType]:
    """``(package holding the C++ core, package holding the pure-Python twin)``."""
    if fastoutput.IMPLEMENTATION == "cpp":
        assert type(fastoutput.ModelOutput) is not type
        return fastoutput, load_twin()
    assert type(fastoutput.ModelOutput) is type
    return load_core_copy(), fastoutput
