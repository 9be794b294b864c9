"""Settings objects: frozen dataclasses whose fields carry type, range, default and help.

Every group of settings samcam threads through its layers (a rule's parameters, the
mask generator's settings, a job's options) is one frozen dataclass built on
:class:`Settings`. Each field is declared with :func:`setting`, which records its help
text, its range or choices and, for the command line, its flag::

    @dataclass(frozen=True)
    class MyParams(Settings):
        ratio_thresh: float = setting(0.5, "keep a mask for a class holding more than this fraction of it",
                                      low=0.0, high=1.0)
        conflict: str = setting("smaller", "which overlapping mask wins", choices=("smaller", "ratio"))

The object checks itself when it is built: a wrong type, NaN, an infinity, a value out
of range or not among the choices raises :class:`SettingsError`, a ``ValueError``
naming the parameter (``ratio_thresh must lie in [0, 1], got nan``). So one validated
object is passed around instead of 15 loose arguments, and nothing downstream checks
again. The command line builds its flags from the same fields (``samcam.cli.settings``),
so a default or a help text has one source; it reports a bad value under the flag's
name.

No argparse and no printing here: this is core.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import math
import numbers
import typing
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Type, TypeVar

import numpy as np

__all__ = ["Settings", "SettingsError", "Spec", "setting", "spec_of", "parse_value", "check_value", "describe"]

S = TypeVar("S", bound="Settings")
_KEY = "samcam"


class SettingsError(ValueError):
    """A setting with a bad value: ``str()`` is ``"{parameter} {problem}"``.

    Attributes:
        parameter: the field's name (``ratio_thresh``).
        problem: what is wrong, worded to follow the name or a flag
            (``"must lie in [0, 1], got nan"``).
    """

    def __init__(self, parameter: str, problem: str):
        super().__init__(f"{parameter} {problem}")
        self.parameter = parameter
        self.problem = problem


@dataclass(frozen=True)
class Spec:
    """What :func:`setting` records about a field (its ``metadata["samcam"]``).

    Attributes:
        help: one line for ``--help`` and the docs.
        low, high: the range (inclusive; ``low_open``/``high_open`` make an end exclusive).
        choices: the values allowed (strings), or None.
        flag: the command-line flag (default ``--`` + the name with dashes); None with
            ``cli=False``.
        negate: for a boolean whose default is True, the flag that sets it False
            (``--no-core-rescue``); a boolean whose default is False gets ``flag``.
        negate_help: what the ``negate`` flag does, for its ``--help``.
        metavar: the flag's value placeholder.
        cli: False for a setting with no flag of its own.
        allow_none: None is allowed (it means "automatic" or "the family's default").
        finite: numbers must be finite (NaN is never allowed).
        aliases: old flag spellings that still work, hidden from ``--help``.
    """

    help: str
    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False
    high_open: bool = False
    choices: Optional[Tuple[str, ...]] = None
    flag: Optional[str] = None
    negate: Optional[str] = None
    negate_help: Optional[str] = None
    metavar: Optional[str] = None
    cli: bool = True
    allow_none: bool = False
    finite: bool = True
    aliases: Tuple[str, ...] = ()

    def describe_range(self) -> str:
        """``[0, 1]``, ``(0, inf)``, ``>= 1``... or ``""`` without a range."""
        if self.low is not None and self.high is not None:
            return f"{'(' if self.low_open else '['}{_number(self.low)}, {_number(self.high)}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_number(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {_number(self.high)}"
        return ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def setting(default: Any, help: str, **spec: Any) -> Any:
    """A dataclass field with ``default`` and a :class:`Spec` (``help`` and ``spec``'s keywords)."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("settings are immutable: use a tuple, not a list/dict/set, as a default")
    return dataclasses.field(default=default, metadata={_KEY: Spec(help=help, **spec)})


def spec_of(field: dataclasses.Field) -> Spec:
    """The field's :class:`Spec` (a plain field gets one with no help and no range)."""
    return field.metadata.get(_KEY) or Spec(help="")


@functools.lru_cache(maxsize=None)
def _field_types(cls: type) -> Dict[str, Tuple[type, bool]]:
    """name -> (base type, None allowed by the annotation) for every field of ``cls``."""
    hints = typing.get_type_hints(cls)
    out = {}
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        optional = False
        if typing.get_origin(hint) is typing.Union:
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            optional = len(args) < len(typing.get_args(hint))
            hint = args[0] if len(args) == 1 else object
        out[field.name] = (typing.get_origin(hint) or hint, optional)
    return out


def check_value(name: str, value: Any, kind: type, spec: Spec, optional: bool = False) -> Any:
    """``value`` checked against the field's type and spec -> the value to store.

    Integers given for a float become floats, numpy scalars become Python ones.

    Raises:
        SettingsError: naming ``name`` and what is wrong.
    """
    if value is None:
        if optional or spec.allow_none:
            return None
        raise SettingsError(name, "must be set, got None")
    check = _CHECKS.get(kind)
    return value if check is None else check(name, value, kind, spec)


def _check_bool(name: str, value: Any, kind: type, spec: Spec) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise SettingsError(name, f"must be True or False, got {_show(value)}")


def _check_text(name: str, value: Any, kind: type, spec: Spec) -> str:
    if not isinstance(value, str):
        raise SettingsError(name, f"must be text, got {_show(value)}")
    if spec.choices is not None and value not in spec.choices:
        raise SettingsError(name, f"must be one of {', '.join(spec.choices)}; got {_show(value)}")
    return value


def _check_sequence(name: str, value: Any, kind: type, spec: Spec) -> tuple:
    if not isinstance(value, (tuple, list)):
        raise SettingsError(name, f"must be a sequence, got {_show(value)}")
    return tuple(value)


def _check_number(name: str, value: Any, kind: type, spec: Spec) -> Any:
    value = _as_number(name, value, kind)
    if kind is float and (math.isnan(value) or (spec.finite and math.isinf(value))):
        raise SettingsError(name, f"must be a finite number, got {value}")
    if not _in_range(value, spec):
        verb = "must lie in" if spec.low is not None and spec.high is not None else "must be"
        raise SettingsError(name, f"{verb} {spec.describe_range()}, got {value}")
    return value


def _as_number(name: str, value: Any, kind: type) -> Any:
    """A real number of ``kind`` (an int for int; bools are not numbers here)."""
    wanted = numbers.Integral if kind is int else numbers.Real
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, wanted):
        raise SettingsError(name, f"must be {'an integer' if kind is int else 'a number'}, got {_show(value)}")
    return kind(value)


def _in_range(value: float, spec: Spec) -> bool:
    above = spec.low is None or (value > spec.low if spec.low_open else value >= spec.low)
    below = spec.high is None or (value < spec.high if spec.high_open else value <= spec.high)
    return above and below


_CHECKS = {bool: _check_bool, int: _check_number, float: _check_number, str: _check_text, tuple: _check_sequence}


def _show(value: Any) -> str:
    text = repr(value)
    return (text[:60] + "...") if len(text) > 60 else text


def parse_value(name: str, text: str, kind: type, spec: Spec, optional: bool = False) -> Any:
    """A command-line string -> the checked value of a field of type ``kind``.

    ``true``/``false`` (any case), ``1``/``0`` for booleans; ``none`` for an optional value.

    Raises:
        SettingsError: the text is not a value of that type, or the value is out of range.
    """
    stripped = text.strip()
    if stripped.lower() == "none" and (optional or spec.allow_none):
        return None
    try:
        if kind is bool:
            lowered = stripped.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            value: Any = lowered in ("true", "1", "yes")
        elif kind is int:
            value = int(stripped)
        elif kind is float:
            value = float(stripped)
        elif kind is tuple:
            value = ast.literal_eval(stripped)
        else:
            value = text
    except (ValueError, SyntaxError):
        raise SettingsError(name, f"must be {_kind_name(kind)}, got {_show(text)}") from None
    return check_value(name, value, kind, spec, optional)


def _kind_name(kind: type) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", tuple: "a tuple"}.get(kind, "text")


class Settings:
    """Base of every settings dataclass (declare subclasses ``@dataclass(frozen=True)``).

    Built from keywords (``MyParams(ratio_thresh=0.3)``) or a mapping
    (:meth:`from_mapping`), it checks every field in ``__post_init__``.
    """

    def __post_init__(self) -> None:
        types = _field_types(type(self))
        for field in dataclasses.fields(self):
            kind, optional = types[field.name]
            value = check_value(field.name, getattr(self, field.name), kind, spec_of(field), optional)
            object.__setattr__(self, field.name, value)  # frozen: store the normalised value

    @classmethod
    def names(cls) -> List[str]:
        """The fields' names, in declaration order."""
        return [field.name for field in dataclasses.fields(cls)]

    @classmethod
    def defaults(cls) -> Dict[str, Any]:
        """name -> default, every field."""
        return {field.name: field.default for field in dataclasses.fields(cls)}

    @classmethod
    def specs(cls) -> Dict[str, Spec]:
        """name -> :class:`Spec`, every field."""
        return {field.name: spec_of(field) for field in dataclasses.fields(cls)}

    @classmethod
    def field_type(cls, name: str) -> Tuple[type, bool]:
        """(base type, None allowed) of field ``name``."""
        return _field_types(cls)[name]

    @classmethod
    def from_mapping(cls: Type[S], values: Mapping[str, Any], *, what: str = "") -> S:
        """An object from ``values`` (missing names keep their defaults).

        Raises:
            SettingsError: an unknown name (listing the known ones), or a bad value.
        """
        unknown = sorted(set(values) - set(cls.names()))
        if unknown:
            owner = what or cls.__name__
            raise SettingsError(", ".join(unknown), f"{'is not a parameter' if len(unknown) == 1 else 'are not parameters'} "
                                f"of {owner}; its parameters: {', '.join(cls.names()) or 'none'}")
        return cls(**values)

    def replace(self: S, **changes: Any) -> S:
        """A copy with ``changes`` applied (checked like a new object)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> Dict[str, Any]:
        """name -> value, every field, in declaration order."""
        return {name: getattr(self, name) for name in self.names()}

    def changed(self) -> Dict[str, Any]:
        """name -> value of the fields that differ from their defaults."""
        defaults = self.defaults()
        return {name: value for name, value in self.as_dict().items() if value != defaults[name]}


def describe(settings: Settings, names: Optional[Sequence[str]] = None) -> str:
    """``name=value`` pairs of ``settings`` (all fields, or ``names``), comma separated."""
    values = settings.as_dict()
    return ", ".join(f"{name}={values[name]!r}" for name in (names or values))
