"""Adapters between samcam and WSSS pipelines: IRN, AMN, CLIMS, MCTformer, ToCo, CLIP-ES,
TransCAM, and any method another package plugs in.

Each module here declares one method on the shared base (:mod:`samcam.adapters.base`)
as ``ADAPTER`` and exports the drop-in functions ``refine_cam``, ``cam_to_label``,
``cam_scores`` and ``load_cam``. Modules are found by looking for ``ADAPTER``, so a new
built-in method is one new file. Other packages register a ``MethodAdapter`` under the
entry point group ``samcam.adapters`` (:mod:`samcam.plugins`); built-in methods are
declared exactly the way a plug-in is, and nothing in samcam treats them differently.
:mod:`samcam.adapters.run` refines a whole folder.

>>> from samcam.adapters import irn
>>> refined = irn.refine_cam(cam_dict, masks)          # doctest: +SKIP
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Dict

from samcam.plugins import ADAPTER_GROUP
from samcam.registry import Registry

from .base import CamFormat, LabelSet, MethodAdapter

__all__ = ["CamFormat", "LabelSet", "MethodAdapter", "METHODS", "get", "available", "origin", "plugin_problems",
           "refresh"]

_NOT_METHODS = {"base", "cam_dicts", "checks", "job", "run"}


def _builtin_methods(registry: Registry) -> None:
    """Every module here that declares ``ADAPTER`` (so a new built-in method is one new file)."""
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name in _NOT_METHODS or module_info.name.startswith("_"):
            continue
        adapter = getattr(importlib.import_module(f"{__name__}.{module_info.name}"), "ADAPTER", None)
        if isinstance(adapter, MethodAdapter):
            registry.register(adapter.name, adapter)


def _as_adapter(value: object, name: str) -> MethodAdapter:
    if isinstance(value, MethodAdapter):
        return value
    raise TypeError(f"it is a {type(value).__name__}, not a samcam.adapters.base.MethodAdapter")


#: The registry of methods (:class:`samcam.registry.Registry`): built in and plug-ins.
METHODS: Registry[MethodAdapter] = Registry("method", group=ADAPTER_GROUP, builtins=_builtin_methods,
                                            convert=_as_adapter, declared_name=lambda adapter: adapter.name)


def refresh() -> None:
    """Look for plug-ins again (after installing one into a running interpreter)."""
    METHODS.refresh()


def available() -> list:
    """Names accepted by ``--method``, sorted: the built-in methods and the usable plug-ins
    (a built-in name a plug-in also claims is left out: :func:`get` says why)."""
    return sorted(METHODS.names())


def plugin_problems() -> Dict[str, str]:
    """name -> why that plug-in method is left out (failed import, name clash, wrong type)."""
    return METHODS.problems()


def origin(name: str) -> str:
    """``"built in"`` or the package and object a plug-in method comes from."""
    return METHODS.origin(name)


def get(name: str) -> MethodAdapter:
    """The adapter declared for method ``name`` (case-insensitive when unambiguous).

    Raises:
        ValueError: an unknown name (with the closest and the known ones), or a plug-in
            of that name that could not be used (saying why).
    """
    return METHODS.get(name)
