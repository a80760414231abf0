"""Chooses between the C++ core and the pure-Python twin.

``FASTOUTPUT_PURE_PYTHON=1`` forces the twin; so does a core that cannot be imported.
"""

from __future__ import annotations

import os
from types import ModuleType

core: ModuleType | None = None

if os.environ.get("FASTOUTPUT_PURE_PYTHON", "") in ("", "0"):
    try:
        from . import _core as core
    except ImportError:  # no compiled extension for this interpreter: fall back to the twin
        core = None

IMPLEMENTATION = "cpp" if core is not None else "python"
