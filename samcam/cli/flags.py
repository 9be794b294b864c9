"""Command-line flags built from settings dataclasses (:mod:`samcam.settings`).

A settings class's fields carry their default, help, range and flag, so a command adds
its flags with :func:`add_settings_flags` and gets the object back with
:func:`settings_from_args`; nothing restates a default or a help text. A value out of
range is refused by argparse while parsing, as a one-line usage error under the flag's
name (``argument --ratio-thresh: must lie in [0, 1], got nan``).
"""
from __future__ import annotations

import argparse
from typing import Any, Dict, Iterable, Optional, Type, TypeVar

from ..settings import Settings, SettingsError, Spec, parse_value

__all__ = ["add_settings_flags", "settings_from_args", "flag_of", "flag_error", "value_type"]

S = TypeVar("S", bound=Settings)


def flag_of(cls: Type[Settings], name: str) -> str:
    """The flag that sets field ``name`` of ``cls`` (``--ratio-thresh``), or ``name`` when it has none."""
    spec = cls.specs()[name]
    if not spec.cli:
        return name
    kind, _ = cls.field_type(name)
    if kind is bool and cls.defaults()[name] is True and spec.negate:
        return spec.negate
    return spec.flag or f"--{name.replace('_', '-')}"


def flag_error(error: SettingsError, cls: Type[Settings]) -> str:
    """A :class:`SettingsError` of ``cls`` reworded under its flag (``--ratio-thresh must ...``)."""
    if error.parameter in cls.specs() and cls.specs()[error.parameter].cli:
        return f"{flag_of(cls, error.parameter)} {error.problem}"
    return str(error)


def value_type(cls: Type[Settings], name: str):
    """argparse ``type=`` for field ``name``: parses and checks one value (range, finiteness)."""
    kind, optional = cls.field_type(name)
    spec = cls.specs()[name]

    def parse(text: str) -> Any:
        try:
            return parse_value(name, text, kind, spec, optional)
        except SettingsError as error:
            raise argparse.ArgumentTypeError(error.problem) from None

    parse.__name__ = kind.__name__  # argparse names the type in "invalid <type> value"
    return parse


def add_settings_flags(parser, cls: Type[Settings], *, only: Optional[Iterable[str]] = None,
                       skip: Iterable[str] = (), defaults: Optional[Dict[str, Any]] = None,
                       help_prefix: Optional[Dict[str, str]] = None) -> None:
    """Add one flag per field of ``cls`` to ``parser`` (a parser or an argument group).

    Args:
        only / skip: the fields to add (default: every field with ``cli=True``).
        defaults: name -> a default other than the field's (e.g. a command's own).
        help_prefix: name -> text put before the field's help (``"samcam: "``).

    A boolean whose default is False becomes ``--flag`` (store true); one whose default
    is True becomes its ``negate`` flag (store false, e.g. ``--no-core-rescue``).
    """
    specs = cls.specs()
    names = [n for n in (specs if only is None else only) if n not in skip and (only is not None or specs[n].cli)]
    defaults = {**cls.defaults(), **(defaults or {})}
    prefix = help_prefix or {}
    for name in names:
        _add_flag(parser, cls, name, specs[name], defaults[name], prefix.get(name, "") + _help(specs[name], defaults[name]))


def _help(spec: Spec, default: Any) -> str:
    """The field's help, or for a negating flag what that flag does."""
    return spec.negate_help if default is True and spec.negate and spec.negate_help else spec.help


def _add_flag(parser, cls: Type[Settings], name: str, spec: Spec, default: Any, text: str) -> None:
    kind, _ = cls.field_type(name)
    flags = [flag_of(cls, name)]
    hidden = list(spec.aliases)
    if kind is bool:
        action = "store_false" if default is True and spec.negate else "store_true"
        parser.add_argument(*flags, dest=name, action=action, default=default, help=text)
        for alias in hidden:
            parser.add_argument(alias, dest=name, action=action, default=default, help=argparse.SUPPRESS)
        return
    kwargs: Dict[str, Any] = dict(dest=name, default=default, help=text)
    if spec.choices is not None:
        kwargs["choices"] = spec.choices
    else:
        kwargs["type"] = value_type(cls, name)
        kwargs["metavar"] = spec.metavar or ("N" if kind is int else "X" if kind is float else None)
    parser.add_argument(*flags, **kwargs)
    for alias in hidden:
        parser.add_argument(alias, **{**kwargs, "help": argparse.SUPPRESS, "metavar": None})


def settings_from_args(cls: Type[S], args: argparse.Namespace, *, only: Optional[Iterable[str]] = None,
                       **overrides: Any) -> S:
    """``cls`` built from the parsed flags (fields without a flag keep their defaults) and ``overrides``."""
    names = list(only) if only is not None else [n for n in cls.names() if hasattr(args, n)]
    values = {name: getattr(args, name) for name in names if hasattr(args, name)}
    values.update(overrides)
    return cls.from_mapping(values)
