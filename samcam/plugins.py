"""Plug-ins from other packages, found through Python entry points.

A package adds a WSSS method or a refinement rule to samcam without changing samcam:
it declares an entry point in the group ``samcam.adapters`` (a
:class:`~samcam.adapters.base.MethodAdapter`) or ``samcam.rules`` (a rule, see
:mod:`samcam.rules`), e.g. in its ``pyproject.toml``::

    [project.entry-points."samcam.adapters"]
    mymethod = "mypackage.samcam_plugin:ADAPTER"

The entry point's name is the name users type (``--method mymethod``) and must be the
name the object declares. Built-in names cannot be replaced, and two plug-ins may not
declare one name: such a plug-in, and one that fails to import, is kept out and its
problem recorded; asking for its name raises ``ValueError`` with that problem, and the
other methods and rules keep working. The lookup itself is :class:`samcam.registry.Registry`.
"""
from __future__ import annotations

from .registry import Plugin

__all__ = ["ADAPTER_GROUP", "RULE_GROUP", "Plugin"]

ADAPTER_GROUP = "samcam.adapters"
RULE_GROUP = "samcam.rules"
