"""Recognises framework tensors without importing any framework.

A value can only be an instance of a framework's type once that framework is imported, so looking the
types up in ``sys.modules`` gives the same answer as importing them would.
"""

from __future__ import annotations

import sys
from typing import Any

# (module, attribute) of every type whose instances count as tensors for the first-field rule.
TENSOR_TYPES: tuple[tuple[str, str], ...] = (
    ("torch", "Tensor"),
    ("torch.fx", "Proxy"),
    ("numpy", "ndarray"),
    ("tensorflow", "Tensor"),
    ("jax", "Array"),
    ("jax._src.core", "Tracer"),
    ("mlx.core", "array"),
)


def is_tensor(value: Any) -> bool:
    """True when ``value`` is a torch/TF/JAX/numpy/mlx tensor, a JAX tracer or a torch.fx Proxy."""
    modules = sys.modules
    for module_name, type_name in TENSOR_TYPES:
        module = modules.get(module_name)
        if module is None:
            continue
        tensor_type = getattr(module, type_name, None)
        if isinstance(tensor_type, type) and isinstance(value, tensor_type):
            return True
    return False
