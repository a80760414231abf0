"""Helpers shared by the tests."""

from __future__ import annotations

import dataclasses
import os
from importlib import metadata
from typing import Any

import fastoutput

IS_CPP = fastoutput.IMPLEMENTATION == "cpp"
IN_CI = os.environ.get("CI", "") not in ("", "0", "false")


def transformers_major() -> int | None:
    """Major version of the installed transformers, or None."""
    try:
        return int(metadata.version("transformers").split(".")[0])
    except metadata.PackageNotFoundError:
        return None


def keys(obj: Any) -> list[Any]:
    """The mapping store's keys, in order."""
    return list(obj.keys())


def field_names(cls_or_instance: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(cls_or_instance)]


def fields_of(obj: Any) -> dict[str, Any]:
    """Every declared field's attribute value."""
    return {name: getattr(obj, name) for name in field_names(obj)}


def extras_of(obj: Any) -> dict[str, Any]:
    """Attributes that are not declared fields."""
    names = set(field_names(obj))
    return {k: v for k, v in vars(obj).items() if k not in names}


class Hash42Str(str):
    """A key equal to the str it spells, but hashed differently, so dict lookups never find that str."""

    __eq__ = str.__eq__

    def __hash__(self) -> int:
        return 42


class EqualsAllStr(str):
    """A key that says it equals everything (hashed as the str it spells)."""

    __hash__ = str.__hash__

    def __eq__(self, other: object) -> bool:
        return True
