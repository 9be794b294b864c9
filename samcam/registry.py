"""One registry type for everything samcam looks up by name: rules, methods, mask model families.

A :class:`Registry` holds the built-in entries of one kind and, when it has an entry
point group, the ones other packages declare there (``[project.entry-points."samcam.rules"]``
in their ``pyproject.toml``). Every registry has the same verbs:

* ``get(name)``: the entry (a name differing only in case is accepted when it is the
  only match; an unknown name raises ``ValueError`` with a "did you mean" and the list);
* ``names()``: every usable name, the built-in ones first;
* ``origin(name)``: ``"built in"`` or the package, version and object it comes from;
* ``problems()``: name -> why that plug-in is left out;
* ``register(name, value)``: add a built-in entry (also usable as a decorator);
* ``refresh()``: look for plug-ins again (after installing one into a running interpreter).

Entry points are imported only when a name is asked for (only the entry points of that
name) or when the names are listed, so building the command line imports no plug-in.
A plug-in may not take a built-in name, nor share its name with another plug-in, nor
declare a name other than its entry point's: each such plug-in, and one that fails to
import, is kept out with its problem recorded (asking for its name raises
``ValueError`` saying why), and everything else keeps working.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import logging
from dataclasses import dataclass
from typing import Callable, Dict, Generic, Iterable, List, Mapping, Optional, Tuple, TypeVar

__all__ = ["Registry", "Plugin"]

T = TypeVar("T")
log = logging.getLogger("samcam")


@dataclass(frozen=True)
class Plugin:
    """One entry point of a registry's group.

    Attributes:
        name: the entry point's name.
        package: the distribution that declares it, e.g. ``"samcam-foo"``.
        version: that distribution's version.
        target: the entry point's object reference, e.g. ``"foo.plugin:RULE"``.
    """

    name: str
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


def _entry_points(group: str) -> list:
    found = importlib.metadata.entry_points()
    if hasattr(found, "select"):  # Python >= 3.10
        return list(found.select(group=group))
    return list(found.get(group, []))  # pragma: no cover - Python 3.9


def _plugin_of(entry_point) -> Plugin:
    dist = getattr(entry_point, "dist", None)
    package, version = ("an unknown package", "?") if dist is None else (dist.metadata["Name"], dist.version)
    return Plugin(entry_point.name, package, version, entry_point.value)


class Registry(Generic[T]):
    """The named entries of one kind (see the module docstring).

    Args:
        kind: what an entry is, for messages (``"rule"``, ``"method"``, ``"mask model family"``).
        group: the entry point group plug-ins declare entries in, or None (built in only).
        builtins: called once, on first use, to register the built-in entries (so a
            registry's module need not import every built-in's module up front).
        convert: turns a loaded plug-in object into an entry (``(value, name) -> T``);
            raises ``TypeError`` with the reason when the object is not usable.
        declared_name: the name an entry declares itself, if any (it must equal the
            entry point's name).
    """

    def __init__(self, kind: str, *, group: Optional[str] = None,
                 builtins: Optional[Callable[["Registry[T]"], None]] = None,
                 convert: Callable[[object, str], T] = lambda value, name: value,
                 declared_name: Callable[[T], Optional[str]] = lambda value: None):
        self.kind = kind
        self.group = group
        self._builtin_loader = builtins
        self._convert = convert
        self._declared_name = declared_name
        self._builtins: Dict[str, T] = {}
        self._loaded_builtins = builtins is None
        self._plugins: Dict[str, Tuple[T, Plugin]] = {}
        self._problems: Dict[str, str] = {}
        self._declared: Optional[Dict[str, List]] = None  # entry point name -> entry points (not loaded)
        self._loaded: set = set()

    # -- built-in entries -------------------------------------------------------------
    def register(self, name: str, value: Optional[T] = None):
        """Add the built-in entry ``name`` (or, without ``value``, a decorator that adds it).

        Raises:
            ValueError: ``name`` is already registered.
        """
        if value is None:
            def decorator(entry: T) -> T:
                self.register(name, entry)
                return entry
            return decorator
        if name in self._builtins:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._builtins[name] = value
        return value

    def _ensure_builtins(self) -> None:
        if not self._loaded_builtins:
            self._loaded_builtins = True
            self._builtin_loader(self)

    def builtins(self) -> Dict[str, T]:
        """name -> entry, the built-in ones only (no plug-in is imported)."""
        self._ensure_builtins()
        return dict(self._builtins)

    # -- plug-ins ---------------------------------------------------------------------
    def _declared_entry_points(self) -> Dict[str, List]:
        if self._declared is None:
            self._declared = {}
            for entry_point in _entry_points(self.group) if self.group else []:
                self._declared.setdefault(entry_point.name, []).append(entry_point)
        return self._declared

    def _load(self, name: str) -> None:
        """Import the entry points named ``name`` (once) and record the entry or the problem."""
        if name in self._loaded:
            return
        self._loaded.add(name)
        entry_points = self._declared_entry_points().get(name, [])
        if not entry_points:
            return
        plugins = [_plugin_of(e) for e in entry_points]
        origins = ", ".join(p.origin for p in plugins)
        if name in self._builtins:
            problem = (f"plug-in {origins} uses the built-in name {name!r}, which cannot be replaced; "
                       "rename its entry point")
        elif len(plugins) > 1:
            problem = f"several plug-ins declare {name!r}: {origins}; uninstall all but one"
        else:
            entry, problem = self._load_one(entry_points[0], plugins[0])
            if entry is not None:
                self._plugins[name] = (entry, plugins[0])
        if problem:
            self._problems[name] = problem
            log.warning("%s %r left out: %s", self.group, name, problem)

    def _load_one(self, entry_point, plugin: Plugin) -> Tuple[Optional[T], Optional[str]]:
        try:
            value = entry_point.load()
        except Exception as error:  # any failure inside a third-party import
            return None, f"plug-in {plugin.origin} failed to load: {type(error).__name__}: {error}"
        try:
            entry = self._convert(value, plugin.name)
        except TypeError as error:
            return None, f"plug-in {plugin.origin} is not usable: {error}"
        own = self._declared_name(entry)
        if own is not None and own != plugin.name:
            return None, (f"plug-in {plugin.origin} is not usable: it declares the name {own!r}, "
                          f"not its entry point name {plugin.name!r}")
        return entry, None

    def _load_all(self) -> None:
        self._ensure_builtins()
        for name in self._declared_entry_points():
            self._load(name)

    # -- the verbs ----------------------------------------------------------------------
    def names(self) -> List[str]:
        """Every usable name: the built-in ones in registration order, then the plug-ins sorted
        (a built-in name a plug-in also claims is left out: :meth:`get` says why)."""
        self._load_all()
        return [name for name in list(self._builtins) + sorted(self._plugins) if name not in self._problems]

    def problems(self) -> Dict[str, str]:
        """name -> why that plug-in is left out (failed import, name clash, wrong type)."""
        self._load_all()
        return dict(self._problems)

    def resolve(self, name: str) -> str:
        """The registered spelling of ``name``: itself, or the one name equal to it but for case.

        Raises:
            ValueError: no such name (with the closest names and the list of known ones).
        """
        self._ensure_builtins()
        if name in self._builtins or name in self._declared_entry_points():
            return name
        known = self.names()
        folded = [candidate for candidate in known if candidate.casefold() == name.casefold()]
        if len(folded) == 1:
            return folded[0]
        close = difflib.get_close_matches(name.casefold(), [k.casefold() for k in known], n=1, cutoff=0.6)
        hint = ""
        if close:
            hint = f" (did you mean {next(k for k in known if k.casefold() == close[0])}?)"
        raise ValueError(f"unknown {self.kind} {name!r}{hint}; choose one of: {', '.join(known)}")

    def get(self, name: str) -> T:
        """The entry registered as ``name`` (see :meth:`resolve` for spelling).

        Raises:
            ValueError: an unknown name, or a plug-in of that name that could not be used
                (saying why).
        """
        name = self.resolve(name)
        self._load(name)
        if name in self._problems:
            raise ValueError(f"{self.kind} {name!r}: {self._problems[name]}")
        if name in self._builtins:
            return self._builtins[name]
        return self._plugins[name][0]

    def __contains__(self, name: object) -> bool:
        try:
            self.get(str(name))
        except ValueError:
            return False
        return True

    def plugin(self, name: str) -> Optional[Plugin]:
        """Where the entry ``name`` comes from, or None for a built-in one."""
        name = self.resolve(name)
        self._load(name)
        found = self._plugins.get(name)
        return None if found is None else found[1]

    def origin(self, name: str) -> str:
        """``"built in"`` or the package, version and object a plug-in comes from."""
        self.get(name)
        plugin = self.plugin(name)
        return "built in" if plugin is None else plugin.origin

    def items(self) -> Iterable[Tuple[str, T]]:
        """(name, entry) for every usable name, in :meth:`names` order."""
        return [(name, self.get(name)) for name in self.names()]

    def refresh(self) -> None:
        """Forget the plug-ins found so far; the next lookup reads the entry points again."""
        importlib.invalidate_caches()
        self._plugins.clear()
        self._problems.clear()
        self._loaded.clear()
        self._declared = None

    def as_mapping(self) -> Mapping[str, T]:
        """name -> entry for every usable name (imports every plug-in)."""
        return dict(self.items())
