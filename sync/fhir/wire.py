"""FHIR JSON on the wire, with decimals kept exactly as the device wrote them.

The standard library writes a ``Decimal`` only by turning it into a binary float, which loses the
precision a FHIR decimal carries ("2.00" would go out as 2.0). ``dumps`` writes every ``Decimal``
verbatim, and ``loads`` reads every JSON number with a fraction or exponent back as a ``Decimal``.
"""

from __future__ import annotations

import json
import json.encoder
from decimal import Decimal
from typing import Any

from sync.errors import MappingError, PlatformProtocolError

_quote = json.encoder.encode_basestring  # the standard library's string escaper (its C version when there is one)

FHIR_JSON = "application/fhir+json"


def dumps(value: Any) -> bytes:
    """Serialise a FHIR JSON value to compact UTF-8 bytes, writing decimals as they are."""
    return _encode(value).encode("utf-8")


def _encode(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return _quote(value)
    if kind is dict:
        return "{" + ",".join(f"{_key(key)}:{_encode(item)}" for key, item in value.items()) + "}"
    if kind is list or kind is tuple:
        return "[" + ",".join([_encode(item) for item in value]) + "]"
    if kind is Decimal:
        if not value.is_finite():
            raise MappingError(f"the number {value} cannot be sent: FHIR decimals are finite")
        return str(value)
    if kind is int:
        return int.__repr__(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return _encode_other(value)


def _encode_other(value: Any) -> str:
    """Subclasses of the plain types (StrEnum codes, Decimal subclasses), and what cannot be written."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{_key(key)}:{_encode(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise MappingError(f"the number {value} cannot be sent: FHIR decimals are finite")
        return str(value)
    if isinstance(value, str | bool | int):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        raise MappingError(f"the binary float {value!r} would lose its precision; pass a Decimal")
    raise MappingError(f"a {type(value).__name__} cannot be written as FHIR JSON")


def _key(key: object) -> str:
    if type(key) is str:
        return _quote(key)
    if not isinstance(key, str):
        raise MappingError(f"a FHIR JSON key must be text, not {type(key).__name__}")
    return json.dumps(key, ensure_ascii=False)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(data: bytes | str) -> Any:
    """Parse FHIR JSON; numbers with a fraction or exponent become Decimals. Raises PlatformProtocolError."""
    try:
        return json.loads(data, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise PlatformProtocolError(
            f"the platform sent a body that is not valid JSON ({_short(exc)}); "
            "the response was probably cut off, the sync will try again"
        ) from None


def load_object(data: bytes | str, what: str) -> dict[str, Any]:
    """Parse a body that must be one JSON object whose ``resourceType`` is ``what`` (or any, if empty)."""
    value = loads(data)
    if not isinstance(value, dict):
        raise PlatformProtocolError(f"the platform sent {type(value).__name__} where a {what} was expected")
    if what and value.get("resourceType") != what:
        raise PlatformProtocolError(
            f"the platform sent a {str(value.get('resourceType'))[:40]} where a {what} was expected"
        )
    return value


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
