"""Helpers shared by the tests."""

from __future__ import annotations

import os
from importlib import metadata

import fastoutput

IS_CPP = fastoutput.IMPLEMENTATION == "cpp"
IN_CI = os.environ.get("CI", "") not in ("", "0", "false")


def transformers_major() -> int | None:
    """Major version of the installed transformers, or None."""
    try:
        return int(metadata.version("transformers").split(".")[0])
    except metadata.PackageNotFoundError:
        return None
