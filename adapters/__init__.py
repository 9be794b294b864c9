"""Adapters between samcam and five WSSS pipelines: IRN, AMN, CLIMS, MCTformer, ToCo.

Each module here declares one method on the shared base (:mod:`samcam.adapters.base`)
as ``ADAPTER`` and exports the drop-in functions ``refine_cam``, ``cam_to_label``,
``cam_scores`` and ``load_cam``. Modules are found by looking for ``ADAPTER``, so a new
method is one new file. :mod:`samcam.adapters.run` refines a whole folder.

>>> from samcam.adapters import irn
>>> refined = irn.refine_cam(cam_dict, masks)          # doctest: +SKIP
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Dict

from .base import CamFormat, LabelSet, MethodAdapter

__all__ = ["CamFormat", "LabelSet", "MethodAdapter", "get", "available"]

_NOT_METHODS = {"base", "run"}
_REGISTRY: Dict[str, MethodAdapter] = {}


def _discover() -> Dict[str, MethodAdapter]:
    if not _REGISTRY:
        for module_info in pkgutil.iter_modules(__path__):
            if module_info.name in _NOT_METHODS or module_info.name.startswith("_"):
                continue
            module = importlib.import_module(f"{__name__}.{module_info.name}")
            adapter = getattr(module, "ADAPTER", None)
            if isinstance(adapter, MethodAdapter):
                _REGISTRY[adapter.name] = adapter
    return _REGISTRY


def available() -> list:
    """Names accepted by ``--method``, sorted."""
    return sorted(_discover())


def get(name: str) -> MethodAdapter:
    """The adapter declared for method ``name`` (ValueError listing the known ones)."""
    registry = _discover()
    if name not in registry:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(sorted(registry))}")
    return registry[name]
