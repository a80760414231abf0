"""fastoutput: transformers' ModelOutput at the cost of a tuple.

``fastoutput.ModelOutput`` and the classes of ``fastoutput.modeling_outputs`` behave as transformers'
(container semantics of 5.x, field names of 4.57); ``IMPLEMENTATION`` says whether the C++ core
(``"cpp"``) or the pure-Python twin (``"python"``, forced by ``FASTOUTPUT_PURE_PYTHON=1``) is in use.
``patch_transformers()`` makes every output class of transformers (4.57 or 5.x) fastoutput-backed.
"""

from __future__ import annotations

from ._compat import IMPLEMENTATION
from ._model_output import ModelOutput
from ._patch import TransformersPatch, patch_transformers, transformers_patched, unpatch_transformers

__all__ = [
    "IMPLEMENTATION",
    "ModelOutput",
    "TransformersPatch",
    "patch_transformers",
    "transformers_patched",
    "unpatch_transformers",
]
__version__ = "0.1.0"
