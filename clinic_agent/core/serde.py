"""Domain objects to plain JSON values and back, driven by the dataclass type hints.

Used for encrypted row payloads and for the local API. Unknown keys are ignored and missing keys
take the field's default, so a payload written by an older or newer version still reads.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar

from clinic_agent.core.errors import InvalidInput

T = TypeVar("T")


_PLAIN = (str, int, float, bool, type(None))
_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _field_names(cls: type[Any]) -> tuple[str, ...] | None:
    names = _FIELD_NAMES.get(cls)
    if names is None and dataclasses.is_dataclass(cls):
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def to_json(value: Any) -> Any:
    """A dataclass (or value inside one) as JSON-ready data."""
    cls = type(value)
    if cls in _PLAIN:  # exact types: an enum (a str subclass) is not plain
        return value
    names = _field_names(cls)
    if names is not None:
        return {name: to_json(getattr(value, name)) for name in names}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    return value


def from_json(cls: type[T], data: Any) -> T:
    """Build a dataclass from JSON data; raise InvalidInput naming the field that is wrong."""
    if not isinstance(data, dict):
        raise InvalidInput(f"expected an object for {cls.__name__}")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not f.init or f.name not in data:
            continue
        try:
            kwargs[f.name] = _convert(hints[f.name], data[f.name])
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{f.name}: {exc}") from None
    try:
        return cls(**kwargs)
    except TypeError as exc:
        missing = str(exc).split("argument", 1)[-1].strip(": ")
        raise InvalidInput(f"{cls.__name__} is missing {missing}") from None


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _convert(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None:
            return None
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(options[0], value)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise TypeError("expected a list")
        return tuple(_convert(typing.get_args(hint)[0], v) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError("expected an object")
        return dict(value)
    return _convert_plain(hint, value)


def _convert_plain(hint: Any, value: Any) -> Any:
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint):
        return from_json(hint, value)  # type: ignore[arg-type]
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if hint is datetime:
        return datetime.fromisoformat(_text(value))
    if hint is date:
        return date.fromisoformat(_text(value))
    if hint is bytes:
        return bytes.fromhex(_text(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError("expected true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("expected a whole number")
        return value
    if hint is str:
        return _text(value)
    raise TypeError(f"cannot read a {hint!r}")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected text")
    return value
