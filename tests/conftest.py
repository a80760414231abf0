"""Shared test setup.

The whole suite runs once per implementation: ``FASTOUTPUT_PURE_PYTHON=1`` selects the pure-Python
twin, otherwise the C++ core is used (and must be importable: a silent fallback would test the twin
twice). ``tools/test.sh`` runs both, under transformers 4.57.6 and the newest 5.x, and once more
against a sanitizer build of the core: there ``FASTOUTPUT_EXPECT_SANITIZERS`` names the sanitizers the
loaded extension must have been built with.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Iterator

import pytest

# TensorFlow and JAX are installed for the TF and Flax family tests, which import them (and
# transformers' TF/Flax output modules) directly. Left on, transformers 4.x would load its own TF model
# code next to PyTorch's (its pipelines do; that needs tf-keras under Keras 3), and its tensor test would
# import jax at the first output any test builds. test_flax gives transformers' Flax classes flax back.
os.environ.setdefault("USE_TF", "0")
os.environ.setdefault("USE_FLAX", "0")

import fastoutput  # noqa: E402


@pytest.fixture
def fresh_dynamo() -> Iterator[None]:
    """Dynamo's caches emptied before and after the test (torch is imported only by the tests that use it)."""
    import torch._dynamo

    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def pytest_report_header(config: pytest.Config) -> list[str]:
    try:
        transformers_version = importlib.metadata.version("transformers")
    except importlib.metadata.PackageNotFoundError:
        transformers_version = "not installed"
    return [f"fastoutput implementation: {fastoutput.IMPLEMENTATION}; transformers {transformers_version}"]


def pytest_sessionstart(session: pytest.Session) -> None:
    wants_python = os.environ.get("FASTOUTPUT_PURE_PYTHON", "") not in ("", "0")
    expected = "python" if wants_python else "cpp"
    if fastoutput.IMPLEMENTATION != expected:
        raise pytest.UsageError(
            f"expected the {expected} implementation, got {fastoutput.IMPLEMENTATION}"
            " (is the extension built for this interpreter?)"
        )
    expected_sanitizers = os.environ.get("FASTOUTPUT_EXPECT_SANITIZERS", "")
    if expected_sanitizers:
        from fastoutput import _core

        if _core.sanitizers != expected_sanitizers:
            raise pytest.UsageError(f"expected a build with {expected_sanitizers}, got {_core.sanitizers!r}")
