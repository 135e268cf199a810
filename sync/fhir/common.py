"""Helpers shared by the resource mappers: identifiers, references, dates, codings, safe reading.

Reading helpers raise ``PlatformProtocolError`` (what a resource from the platform lacks);
writing helpers raise ``MappingError`` (what a local record cannot express).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

from sync.errors import MappingError, PlatformProtocolError
from sync.fhir import codes

Resource = dict[str, Any]
Reference = dict[str, Any]

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_UUID_PREFIX = "urn:uuid:"
# Ids derived from a local id that is not a valid FHIR id (device names), or from a platform id. A fixed
# seed, not the configured namespace: the same record must get the same id whatever the namespace.
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://clinic-agent.example/fhir")
# The namespace of Bundle entries' fullUrls (``entry_url``): fixed forever, like ``_NAMESPACE``.
_ENTRY_NAMESPACE = uuid.uuid5(_NAMESPACE, "bundle-entry")
_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2})(?:T.+)?)?)?", re.DOTALL)


# Identifiers and references -------------------------------------------------------------------


def uuid_identifier(record_id: str) -> dict[str, str]:
    """The agent's own stable identifier of a record: system urn:ietf:rfc:3986, value urn:uuid:<id>."""
    return {"system": codes.UUID_SYSTEM, "value": identifier_value(record_id)}


def fhir_id(local_id: str) -> str:
    """The FHIR id to PUT a record to: its own id when valid (UUIDs are), else a UUID derived from it."""
    if _FHIR_ID.fullmatch(local_id):
        return local_id
    return str(uuid.uuid5(_NAMESPACE, local_id))


def identifier_value(record_id: str) -> str:
    """``urn:uuid:<record id>``: the value of a record's agent identifier (system urn:ietf:rfc:3986).

    Record ids are UUIDs (``model.new_id``); any other id (a device name) gets a UUID derived from
    it, so the URN is always a valid ``urn:uuid``. Records on platforms carry it: it never changes.
    Never a Bundle entry's fullUrl (``entry_url``): a server resolving a transaction replaces an
    entry's fullUrl wherever it occurs in the Bundle (Medplum in any string, identifiers included).
    """
    return f"{_UUID_PREFIX}{_record_uuid(record_id)}"


def entry_url(record_id: str) -> str:
    """A record's fullUrl in a transaction Bundle, what other entries refer to it by.

    ``urn:uuid:<uuid5(entry namespace, record uuid)>``: never an identifier value (a version-5 UUID
    of a namespace of its own, where record ids are version-4 UUIDs and derived ids other uuid5s),
    so the server's rewriting of fullUrls into ``Type/id`` leaves the identifiers as they were sent.
    The same at every attempt: a retry refers to the same entries.
    """
    return f"{_UUID_PREFIX}{uuid.uuid5(_ENTRY_NAMESPACE, _record_uuid(record_id))}"


def _record_uuid(record_id: str) -> str:
    try:
        canonical = str(uuid.UUID(record_id)) == record_id
    except ValueError:
        canonical = False
    return record_id if canonical else str(uuid.uuid5(_NAMESPACE, record_id))


def token(system: str, value: str) -> str:
    """A FHIR search token ``system|value`` with FHIR's escaping of ``\\ | , $``."""
    return f"{_escape(system)}|{_escape(value)}"


def _escape(text: str) -> str:
    return re.sub(r"([\\|,$])", r"\\\1", text)


def identifier_query(system: str, value: str) -> str:
    """The URL-encoded search ``identifier=system|value`` (for ``ifNoneExist`` and searches)."""
    return "identifier=" + quote(token(system, value), safe=":|/")


def reference(resource_type: str, resource_id: str, display: str | None = None) -> Reference:
    """A literal reference ``Type/id``."""
    ref: Reference = {"reference": f"{resource_type}/{resource_id}"}
    if display:
        ref["display"] = display
    return ref


def bundle_reference(record_id: str) -> Reference:
    """A reference to the record's entry in the same transaction (its ``fullUrl``, ``entry_url``)."""
    return {"reference": entry_url(record_id)}


def conditional_reference(resource_type: str, record_id: str) -> Reference:
    """A conditional reference by the agent's identifier; valid inside a transaction Bundle only."""
    return {"reference": f"{resource_type}?{identifier_query(codes.UUID_SYSTEM, identifier_value(record_id))}"}


def record_id_of(resource: Resource) -> str | None:
    """The agent's own record id carried in the resource's identifiers, if any."""
    value = find_identifier(resource, codes.UUID_SYSTEM)
    if value is None or not value.startswith(_UUID_PREFIX) or len(value) == len(_UUID_PREFIX):
        return None
    return value.removeprefix(_UUID_PREFIX)


def local_id(resource: Resource) -> str:
    """The local id for a resource: the agent's identifier, or a UUID derived from ``Type/id``."""
    own = record_id_of(resource)
    if own is not None:
        return own
    server_id = text(resource, "id", resource_kind(resource))
    if server_id is None:
        raise PlatformProtocolError(f"a {resource_kind(resource)} has neither our identifier nor an id")
    return str(uuid.uuid5(_NAMESPACE, f"{resource_kind(resource)}/{server_id}"))


def find_identifier(resource: Resource, system: str) -> str | None:
    """The value of the first identifier of ``system`` (QuestionnaireResponse has one, not a list)."""
    single = resource.get("identifier")
    found = [single] if isinstance(single, dict) else dicts(resource, "identifier", resource_kind(resource))
    for identifier in found:
        if identifier.get("system") == system:
            return text(identifier, "value", f"{resource_kind(resource)}.identifier")
    return None


# Dates and times ------------------------------------------------------------------------------


def instant(moment: datetime) -> str:
    """A FHIR instant/dateTime in UTC: milliseconds when exact, microseconds otherwise, with Z."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise MappingError(f"the time {moment.isoformat()} has no time zone; FHIR needs one")
    moment = moment.astimezone(UTC)
    spec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def parse_instant(value: Any, what: str) -> datetime:
    """Parse a FHIR instant or a dateTime with a time and zone."""
    if not isinstance(value, str) or "T" not in value:
        raise PlatformProtocolError(f"{what} is not a date and time with a zone: {_show(value)}")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PlatformProtocolError(f"{what} is not a valid date and time: {_show(value)}") from None
    if moment.tzinfo is None:
        raise PlatformProtocolError(f"{what} has no time zone: {_show(value)}")
    return moment


def parse_date(value: Any, what: str) -> date:
    """Parse a FHIR date or dateTime into a date; a year-month becomes its first day (as on paper forms)."""
    match = _DATE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise PlatformProtocolError(f"{what} is not a FHIR date: {_show(value)}")
    year, month, day = match.group(1), match.group(2) or "1", match.group(3) or "1"
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        raise PlatformProtocolError(f"{what} is not a valid date: {_show(value)}") from None


# Codings --------------------------------------------------------------------------------------


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    """A Coding."""
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def concept(*codings: dict[str, str], text: str | None = None) -> dict[str, Any]:
    """A CodeableConcept of the given codings and text."""
    out: dict[str, Any] = {}
    if codings:
        out["coding"] = list(codings)
    if text:
        out["text"] = text
    return out


def code_in(value: Any, system: str, what: str) -> str | None:
    """The code of the first coding of ``system`` in a CodeableConcept."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PlatformProtocolError(f"{what} is not a CodeableConcept")
    for item in dicts(value, "coding", what):
        if item.get("system") == system:
            return text(item, "code", f"{what}.coding")
    return None


# Extensions -----------------------------------------------------------------------------------


def extensions(element: dict[str, Any], url: str, what: str) -> Iterator[dict[str, Any]]:
    """The extensions with ``url`` on an element."""
    for ext in dicts(element, "extension", what):
        if ext.get("url") == url:
            yield ext


def extension(element: dict[str, Any], url: str, what: str) -> dict[str, Any] | None:
    """The first extension with ``url`` on an element."""
    return next(extensions(element, url, what), None)


# Safe reading ---------------------------------------------------------------------------------


def resource_kind(resource: Resource) -> str:
    """The resource type, for messages."""
    kind = resource.get("resourceType")
    return kind if isinstance(kind, str) else "resource"


def expect_type(resource: Any, resource_type: str) -> Resource:
    """Check that a value is a resource of the given type."""
    if not isinstance(resource, dict) or resource.get("resourceType") != resource_type:
        kind = resource.get("resourceType") if isinstance(resource, dict) else type(resource).__name__
        raise PlatformProtocolError(f"expected a {resource_type}, got {_show(kind)}")
    return resource


def text(element: dict[str, Any], key: str, what: str) -> str | None:
    """An optional string element."""
    value = element.get(key)
    if value is None or isinstance(value, str):
        return value
    raise PlatformProtocolError(f"{what}.{key} is not a string: {_show(value)}")


def required_text(element: dict[str, Any], key: str, what: str) -> str:
    """A required string element."""
    value = text(element, key, what)
    if value is None:
        raise PlatformProtocolError(f"{what}.{key} is missing")
    return value


def obj(element: dict[str, Any], key: str, what: str) -> dict[str, Any] | None:
    """An optional object element."""
    value = element.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise PlatformProtocolError(f"{what}.{key} is not an object")


def dicts(element: dict[str, Any], key: str, what: str) -> list[dict[str, Any]]:
    """An optional array of objects (missing means empty)."""
    value = element.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise PlatformProtocolError(f"{what}.{key} is not an array of objects")
    return value


def first_note(resource: Resource) -> str:
    """The text of the first annotation in ``note`` (empty when none)."""
    notes = dicts(resource, "note", resource_kind(resource))
    return (text(notes[0], "text", "note") or "") if notes else ""


def note(text_: str) -> list[dict[str, str]] | None:
    """A one-annotation ``note`` array, or None for empty text."""
    return [{"text": text_}] if text_ else None


def prune(resource: dict[str, Any]) -> dict[str, Any]:
    """Drop keys whose value is None or an empty list/dict/string: FHIR forbids empty elements."""
    return {key: value for key, value in resource.items() if value not in (None, "", [], {})}


def _show(value: Any) -> str:
    return repr(value)[:60]
