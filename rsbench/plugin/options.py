"""Typed component options: a dataclass per component, checked against what the user wrote.

Options come from YAML or the command line, so they are validated here with messages that
name the option and the valid values, instead of a TypeError from deep inside a class.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from rsbench.io.errors import RsbenchError


def _check_value(name: str, value: Any, hint: Any) -> Any:
    origin = get_origin(hint)
    if hint is Any:
        return value
    if origin is Literal:
        choices = get_args(hint)
        if value not in choices:
            raise RsbenchError(
                f"option {name}={value!r} is not one of: {', '.join(map(repr, choices))}"
            )
        return value
    if origin in (Union, types.UnionType):
        args = get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_value(name, value, arg)
            except RsbenchError as exc:
                errors.append(str(exc))
        raise RsbenchError(errors[0] if errors else f"option {name}={value!r} has the wrong type")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise RsbenchError(f"option {name} must be a list, got {value!r}")
        args = get_args(hint)
        item = args[0] if args else Any
        return (
            tuple(_check_value(name, v, item) for v in value)
            if origin is tuple
            else [_check_value(name, v, item) for v in value]
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise RsbenchError(f"option {name} must be a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise RsbenchError(f"option {name} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RsbenchError(f"option {name} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RsbenchError(f"option {name} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise RsbenchError(f"option {name} must be a string, got {value!r}")
        return value
    return value


def parse_options(options_cls: type, given: dict[str, Any] | None) -> Any:
    """Build ``options_cls`` (a dataclass) from ``given``, with clear errors."""
    given = dict(given or {})
    fields = {f.name: f for f in dataclasses.fields(options_cls) if f.init}
    unknown = sorted(set(given) - set(fields))
    if unknown:
        valid = ", ".join(sorted(fields)) or "none"
        raise RsbenchError(f"unknown option {unknown[0]!r}; valid options: {valid}")
    hints = typing.get_type_hints(options_cls)
    checked = {key: _check_value(key, value, hints.get(key, Any)) for key, value in given.items()}
    try:
        return options_cls(**checked)
    except (ValueError, TypeError) as exc:
        raise RsbenchError(str(exc)) from exc


def options_dict(options: Any) -> dict[str, Any]:
    """Plain, JSON-friendly dict of an options dataclass (tuples become lists)."""

    def plain(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return {f.name: plain(getattr(options, f.name)) for f in dataclasses.fields(options)}


#: field metadata marking an option that says where things are on this machine (a data folder,
#: a weights folder) rather than what the experiment is: kept out of cell ids and noise keys.
LOCAL = {"identity": False}


#: field metadata marking an option added after cells were recorded whose default reproduces
#: what those cells ran: at its default it stays out of cell ids, so adding it keeps every
#: finished cell (set to anything else, it is part of the id like any option).
ADDED = {"identity": "unless_default"}


def identity_dict(options: Any) -> dict[str, Any]:
    """The options that define the experiment: all but those marked `LOCAL`, and those marked
    `ADDED` while they hold their default."""
    values = options_dict(options)
    keep = set()
    for f in dataclasses.fields(options):
        identity = f.metadata.get("identity", True)
        if identity == "unless_default":
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            identity = values[f.name] != default
        if identity:
            keep.add(f.name)
    return {k: v for k, v in values.items() if k in keep}
