"""Which implementation runs, what importing fastoutput costs, and which classes get the native
constructor."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from typing import Optional

import pytest

import fastoutput
from fastoutput import ModelOutput

from ._helpers import IS_CPP


def test_implementation_matches_environment() -> None:
    """IMPLEMENTATION says which implementation the FASTOUTPUT_PURE_PYTHON switch selected."""
    code = "import fastoutput; print(fastoutput.IMPLEMENTATION)"
    for value, expected in (("1", "python"), ("0", "cpp")):
        env = dict(os.environ, FASTOUTPUT_PURE_PYTHON=value)  # keeps a preloaded sanitizer runtime
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == expected


def test_import_pulls_in_no_framework() -> None:
    """Importing fastoutput (and its output classes) never imports torch, numpy, jax or tensorflow."""
    code = (
        "import sys, fastoutput, fastoutput.modeling_outputs\n"
        "print(sorted(m for m in ('torch', 'numpy', 'jax', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(not IS_CPP, reason="build modes exist only in the C++ core")
class TestBuildMode:
    """Standard @dataclass outputs, user-declared ones included, are built by the native constructor;
    anything with its own construction code runs that code."""

    def test_user_dataclass_is_native(self) -> None:
        @dataclasses.dataclass
        class Mine(ModelOutput):
            logits: Optional[object] = None
            extra: Optional[object] = None

        from fastoutput import _core

        assert _core.build_mode(Mine) == "native"

    def test_frozen_dataclass_is_native(self) -> None:
        @dataclasses.dataclass(frozen=True)
        class Frozen(ModelOutput):
            a: Optional[object] = None

        from fastoutput import _core

        assert _core.build_mode(Frozen) == "native"

    def test_custom_post_init_and_init_are_generic(self) -> None:
        @dataclasses.dataclass
        class WithPostInit(ModelOutput):
            a: Optional[object] = None

            def __post_init__(self) -> None:
                super().__post_init__()

        @dataclasses.dataclass
        class WithInit(ModelOutput):
            a: Optional[object] = None

        def init(self: WithInit, a: object = None) -> None:
            ModelOutput.__setattr__(self, "a", a)
            self.__post_init__()

        from fastoutput import _core

        assert _core.build_mode(WithPostInit) == "generic"
        assert _core.build_mode(WithInit) == "native"
        WithInit.__init__ = init  # type: ignore[method-assign]
        assert _core.build_mode(WithInit) == "generic"
        assert list(WithInit(a=1).keys()) == ["a"]

    def test_base_class_and_undecorated_subclass_are_generic(self) -> None:
        class Undecorated(ModelOutput):
            pass

        from fastoutput import _core

        assert _core.build_mode(ModelOutput) == "generic"
        assert _core.build_mode(Undecorated) == "generic"
