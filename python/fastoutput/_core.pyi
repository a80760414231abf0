"""Type stub of the native core (``csrc/``); fastoutput itself reaches it only through ``_compat``."""

from collections.abc import Callable
from typing import Any

__version__: str
sanitizers: str
"""The sanitizers this build was compiled with (``"address,undefined"``), or ``""``."""

class OutputMeta(type):
    """Metaclass of every output class: native field slots, constructor and accessors."""

def install(
    root: type,
    describe: Callable[[type, type], tuple[Any, ...]],
    expand_first_field: Callable[[Any, str, Any], None],
    is_tensor: Callable[[Any], bool],
    copy_by_reduce: Callable[[Any], Any],
    attribute_dict: Callable[[Any, dict[str, Any]], dict[str, Any]],
) -> None:
    """Install the native paths on the root output class (called once by fastoutput)."""

def build_mode(cls: type) -> str:
    """How instances of cls are built: 'native' (the C++ constructor) or 'generic' (its __init__)."""

def set_metaclass(cls: type, meta: type) -> None:
    """Make meta the metaclass of cls; one must derive from the other without adding storage."""
