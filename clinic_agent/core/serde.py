"""Domain objects to plain JSON values and back, driven by the dataclass type hints.

Used for encrypted row payloads and for the local API. Unknown keys are ignored and missing keys
take the field's default, so a payload written by an older or newer version still reads.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar

from clinic_agent.core.errors import InvalidInput

T = TypeVar("T")


_PLAIN = frozenset((str, int, float, bool, type(None)))
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
        # Plain values are taken as they are without a call: most fields are, and this is on every
        # stored record and every reply (issue 13).
        fields = {}
        for name in names:
            field = getattr(value, name)
            fields[name] = field if type(field) in _PLAIN else to_json(field)
        return fields
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [v if type(v) in _PLAIN else to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    return value


def from_json(cls: type[T], data: Any) -> T:
    """Build a dataclass from JSON data; raise InvalidInput naming the field that is wrong."""
    if not isinstance(data, dict):
        raise InvalidInput(f"expected an object for {cls.__name__}")
    kwargs: dict[str, Any] = {}
    for name, convert in _plan(cls):
        if name not in data:
            continue
        try:
            kwargs[name] = convert(data[name])
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{name}: {exc}") from None
    try:
        return cls(**kwargs)
    except TypeError as exc:
        missing = str(exc).split("argument", 1)[-1].strip(": ")
        raise InvalidInput(f"{cls.__name__} is missing {missing}") from None


# A class's fields each with the function that reads its value, worked out from the type hints once
# per class rather than at every value: reading residents at unlock was mostly this reflection
# (typing.get_origin, get_args, dataclasses.fields for every field of every row).
Converter = Callable[[Any], Any]
_PLANS: dict[type[Any], tuple[tuple[str, Converter], ...]] = {}


def _plan(cls: type[Any]) -> tuple[tuple[str, Converter], ...]:
    plan = _PLANS.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        fields = dataclasses.fields(cls)
        plan = _PLANS[cls] = tuple((f.name, _converter(hints[f.name])) for f in fields if f.init)
    return plan


def _converter(hint: Any) -> Converter:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        first = _converter(next(a for a in typing.get_args(hint) if a is not type(None)))
        return lambda value: None if value is None else first(value)
    if origin is tuple:
        item = _converter(typing.get_args(hint)[0])

        def read_tuple(value: Any) -> Any:
            if not isinstance(value, list | tuple):
                raise TypeError("expected a list")
            return tuple(item(v) for v in value)

        return read_tuple
    if origin is dict:
        return _read_dict
    return _plain_converter(hint)


def _plain_converter(hint: Any) -> Converter:
    if hint is Any:
        return _same
    if dataclasses.is_dataclass(hint):
        return lambda value: from_json(hint, value)  # type: ignore[arg-type]
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint
    simple = _SIMPLE.get(hint)
    if simple is not None:
        return simple

    def unreadable(value: Any) -> Any:
        raise TypeError(f"cannot read a {hint!r}")

    return unreadable


def _same(value: Any) -> Any:
    return value


def _read_dict(value: Any) -> Any:
    if not isinstance(value, dict):
        raise TypeError("expected an object")
    return dict(value)


def _read_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("expected true or false")
    return value


def _read_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expected a whole number")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected text")
    return value


_SIMPLE: dict[Any, Converter] = {
    datetime: lambda value: datetime.fromisoformat(_text(value)),
    date: lambda value: date.fromisoformat(_text(value)),
    bytes: lambda value: bytes.fromhex(_text(value)),
    bool: _read_bool,
    int: _read_int,
    str: _text,
}
