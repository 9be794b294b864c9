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
from typing import Dict, Optional

from samcam.plugins import ADAPTER_GROUP, PluginSet, load_plugins

from .base import CamFormat, LabelSet, MethodAdapter

__all__ = ["CamFormat", "LabelSet", "MethodAdapter", "get", "available", "origin", "plugin_problems", "refresh"]

_NOT_METHODS = {"base", "run"}
_BUILTIN: Dict[str, MethodAdapter] = {}
_PLUGINS: Optional[PluginSet] = None


def _check(value: object) -> Optional[str]:
    if isinstance(value, MethodAdapter):
        return None
    return f"it is a {type(value).__name__}, not a samcam.adapters.base.MethodAdapter"


def _discover() -> Dict[str, MethodAdapter]:
    global _PLUGINS
    if not _BUILTIN:
        for module_info in pkgutil.iter_modules(__path__):
            if module_info.name in _NOT_METHODS or module_info.name.startswith("_"):
                continue
            module = importlib.import_module(f"{__name__}.{module_info.name}")
            adapter = getattr(module, "ADAPTER", None)
            if isinstance(adapter, MethodAdapter):
                _BUILTIN[adapter.name] = adapter
    if _PLUGINS is None:
        _PLUGINS = load_plugins(ADAPTER_GROUP, _BUILTIN, _check, declared_name=lambda adapter: adapter.name)
    registry = dict(_BUILTIN)
    registry.update({name: plugin.value for name, plugin in _PLUGINS.plugins.items()})
    return registry


def refresh() -> None:
    """Look for plug-ins again (after installing one into a running interpreter)."""
    global _PLUGINS
    importlib.invalidate_caches()
    _PLUGINS = None


def available() -> list:
    """Names accepted by ``--method``, sorted: the built-in methods and the usable plug-ins
    (a built-in name a plug-in also claims is left out: :func:`get` says why)."""
    registry = _discover()
    return sorted(name for name in registry if name not in _PLUGINS.problems)


def plugin_problems() -> Dict[str, str]:
    """name -> why that plug-in method is left out (failed import, name clash, wrong type)."""
    _discover()
    return dict(_PLUGINS.problems)


def origin(name: str) -> str:
    """``"built in"`` or the package and object a plug-in method comes from."""
    get(name)
    plugin = _PLUGINS.plugins.get(name)
    return "built in" if plugin is None else plugin.origin


def get(name: str) -> MethodAdapter:
    """The adapter declared for method ``name``.

    Raises:
        ValueError: an unknown name (listing the known ones), or a plug-in of that name
            that could not be used (saying why).
    """
    registry = _discover()
    if name in _PLUGINS.problems:
        raise ValueError(f"method {name!r}: {_PLUGINS.problems[name]}")
    if name not in registry:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(sorted(registry))}")
    return registry[name]
