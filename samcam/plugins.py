"""Plug-ins from other packages, found through Python entry points.

A package adds a WSSS method or a refinement rule to samcam without changing samcam:
it declares an entry point in the group ``samcam.adapters`` (a
:class:`~samcam.adapters.base.MethodAdapter`) or ``samcam.rules`` (a rule, see
:mod:`samcam.refine`), e.g. in its ``pyproject.toml``::

    [project.entry-points."samcam.adapters"]
    mymethod = "mypackage.samcam_plugin:ADAPTER"

The entry point's name is the name users type (``--method mymethod``) and must be the
name the object declares. Built-in names cannot be replaced, and two plug-ins may not
declare one name: such a plug-in, and one that fails to import, is kept out and its
problem recorded; asking for its name raises ``ValueError`` with that problem, and the
other methods and rules keep working.
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import logging
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Tuple

__all__ = ["ADAPTER_GROUP", "RULE_GROUP", "Plugin", "PluginSet", "load_plugins"]

ADAPTER_GROUP = "samcam.adapters"
RULE_GROUP = "samcam.rules"

log = logging.getLogger("samcam")


@dataclass(frozen=True)
class Plugin:
    """One object registered by an entry point.

    Attributes:
        name: the entry point's name.
        value: the loaded object.
        package: the distribution that declares it, e.g. ``"samcam-foo"``.
        version: that distribution's version.
        target: the entry point's object reference, e.g. ``"foo.plugin:RULE"``.
    """

    name: str
    value: object
    package: str
    version: str
    target: str

    @property
    def origin(self) -> str:
        """Where it comes from, e.g. ``"samcam-foo 1.0 (foo.plugin:RULE)"``."""
        return f"{self.package} {self.version} ({self.target})"

    @property
    def source(self) -> str:
        """The same without the version, e.g. ``"samcam-foo (foo.plugin:RULE)"``."""
        return f"{self.package} ({self.target})"


@dataclass(frozen=True)
class PluginSet:
    """The plug-ins of one group: those that loaded, and the problems of those that did not.

    Attributes:
        plugins: name -> :class:`Plugin`, only the usable ones.
        problems: name -> why that name's plug-in(s) cannot be used (import error,
            wrong type, name clash with a built-in or another plug-in).
    """

    plugins: Mapping[str, Plugin]
    problems: Mapping[str, str]

    def describe_problems(self) -> str:
        """One line per plug-in that could not be used, or ``""``."""
        return "; ".join(f"{name}: {reason}" for name, reason in sorted(self.problems.items()))


def _entry_points(group: str):
    found = importlib.metadata.entry_points()
    if hasattr(found, "select"):  # Python >= 3.10
        return list(found.select(group=group))
    return list(found.get(group, []))  # pragma: no cover - Python 3.9


def _package(entry_point) -> Tuple[str, str]:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return "an unknown package", "?"
    return dist.metadata["Name"], dist.version


def load_plugins(
    group: str,
    builtin: Mapping[str, object],
    check: Callable[[object], Optional[str]],
    declared_name: Callable[[object], Optional[str]] = lambda value: None,
) -> PluginSet:
    """Load every entry point of ``group``.

    Args:
        group: the entry point group (:data:`ADAPTER_GROUP`, :data:`RULE_GROUP`).
        builtin: the built-in names (a plug-in may not take one).
        check: ``value -> None`` if the loaded object is usable, else why not.
        declared_name: the name the object declares itself (``MethodAdapter.name``), if
            any; it must equal the entry point's name.

    Returns:
        The :class:`PluginSet`. Problems are also logged as warnings on the ``samcam``
        logger, once per call.
    """
    candidates: Dict[str, List[Tuple[object, Plugin]]] = {}
    problems: Dict[str, str] = {}
    for entry_point in _entry_points(group):
        package, version = _package(entry_point)
        plugin = Plugin(entry_point.name, None, package, version, entry_point.value)
        origin = plugin.origin
        try:
            value = entry_point.load()
        except Exception as error:  # any failure inside a third-party import
            problems[entry_point.name] = f"plug-in {origin} failed to load: {type(error).__name__}: {error}"
            continue
        reason = check(value)
        if reason is None:
            own = declared_name(value)
            if own is not None and own != entry_point.name:
                reason = f"it declares the name {own!r}, not its entry point name {entry_point.name!r}"
        if reason is not None:
            problems[entry_point.name] = f"plug-in {origin} is not usable: {reason}"
            continue
        candidates.setdefault(entry_point.name, []).append((value, plugin))
    plugins: Dict[str, Plugin] = {}
    for name, found in candidates.items():
        origins = ", ".join(plugin.origin for _, plugin in found)
        if name in builtin:
            problems[name] = (f"plug-in {origins} uses the built-in name {name!r}, which cannot be replaced; "
                              "rename its entry point")
        elif len(found) > 1:
            problems[name] = f"several plug-ins declare {name!r}: {origins}; uninstall all but one"
        elif name not in problems:
            plugins[name] = dataclasses.replace(found[0][1], value=found[0][0])
        else:
            problems[name] += f"; another plug-in of that name also exists: {origins}"
    for name, reason in sorted(problems.items()):
        log.warning("%s %r left out: %s", group, name, reason)
    return PluginSet(plugins, problems)
