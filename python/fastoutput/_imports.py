"""Running code right after a module finishes importing, without importing it first.

A finder at the front of ``sys.meta_path`` finds nothing itself: for a watched module it asks the
other finders, and wraps the loader they return so that the callbacks run once the module's code has
executed (and before the import statement that asked for it returns).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

Callback = Callable[[ModuleType], None]

_modules: dict[str, list[Callback]] = {}  # module name -> callbacks
_packages: dict[str, list[Callback]] = {}  # top-level package -> callbacks for each of its modules


def module_ready(name: str) -> bool:
    """Whether module ``name`` is imported and has finished executing."""
    module = sys.modules.get(name)
    if module is None:
        return False
    spec = getattr(module, "__spec__", None)
    return not getattr(spec, "_initializing", False)


def on_import(name: str, callback: Callback) -> None:
    """Call ``callback(module)`` each time module ``name`` finishes executing."""
    _modules.setdefault(name, []).append(callback)


def call_when_imported(name: str, callback: Callback) -> None:
    """Call ``callback(module)`` now if module ``name`` is imported, else once it is."""
    if module_ready(name):
        callback(sys.modules[name])
    else:
        on_import(name, callback)


def on_package_import(package: str, callback: Callback) -> None:
    """Call ``callback(module)`` each time ``package`` or one of its submodules finishes executing."""
    _packages.setdefault(package, []).append(callback)


def remove_package_callback(package: str, callback: Callback) -> None:
    callbacks = _packages.get(package, [])
    if callback in callbacks:
        callbacks.remove(callback)


def _callbacks(fullname: str) -> list[Callback]:
    return _modules.get(fullname, []) + _packages.get(fullname.partition(".")[0], [])


class _NotifyingLoader(importlib.abc.Loader):
    """Wraps a module's real loader and calls back once the module has finished executing."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        for callback in _callbacks(module.__name__):
            callback(module)

    def __getattr__(self, name: str) -> Any:
        # get_source, get_resource_reader, is_package, ...: whatever the real loader offers
        return getattr(self._loader, name)


class _ImportWatcher(importlib.abc.MetaPathFinder):
    """Finds nothing itself; it only wraps the loaders of the modules it watches."""

    def __init__(self) -> None:
        self._searching: set[str] = set()

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if not _callbacks(fullname) or fullname in self._searching:
            return None  # not watched, or asked again by a finder we are consulting (a second watcher)
        self._searching.add(fullname)
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    if spec.loader is not None:
                        spec.loader = _NotifyingLoader(spec.loader)
                    return spec
            return None
        finally:
            self._searching.discard(fullname)


if not any(isinstance(finder, _ImportWatcher) for finder in sys.meta_path):
    sys.meta_path.insert(0, _ImportWatcher())
