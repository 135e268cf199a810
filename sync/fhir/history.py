"""History Bundles (``[base]/Type/_history?_since=...``): every version written, deletions included.

A search never shows deletions; history does, as entries with ``request.method: DELETE`` and no
resource. Pull uses it to learn what upstream deleted. Paging note for SEKMET 0.1.1: its history
``next`` links drop ``_since``, so ask for one large page, or build the
next URL yourself; ``since`` writes the cursor in the one form SEKMET compares correctly.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sync.errors import MappingError, PlatformProtocolError
from sync.fhir.bundle import parse_last_modified, parse_location, parse_status, version_from_etag
from sync.fhir.common import Resource


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEntry:
    """One version in a history: a write (with its resource) or a deletion (without)."""

    method: str  # POST, PUT, PATCH or DELETE
    resource_type: str
    resource_id: str
    version_id: str | None = None
    last_modified: datetime | None = None
    status: int | None = None
    resource: Resource | None = None

    @property
    def deleted(self) -> bool:
        """True for a deletion."""
        return self.method == "DELETE"


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryPage:
    """One page of a history Bundle, newest first as servers send it."""

    entries: list[HistoryEntry] = field(default_factory=list)
    next_url: str | None = None


def since(moment: datetime) -> str:
    """A ``_since``/``_lastUpdated`` cursor: UTC, milliseconds (rounded down, so nothing is skipped), Z."""
    if moment.tzinfo is None:
        raise MappingError("a sync cursor needs a time zone")
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_history(bundle: Any) -> HistoryPage:
    """Parse a history Bundle page; raises only PlatformProtocolError."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle" or bundle.get("type") != "history":
        raise PlatformProtocolError("the platform answered a history request with something else")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise PlatformProtocolError("Bundle.entry is not an array")
    links = bundle.get("link") or []
    if not isinstance(links, list):
        raise PlatformProtocolError("Bundle.link is not an array")
    next_url = next(
        (link.get("url") for link in links if isinstance(link, dict) and link.get("relation") == "next"), None
    )
    if next_url is not None and not isinstance(next_url, str):
        raise PlatformProtocolError("the next-page link is not a string")
    return HistoryPage(entries=[_entry(entry, index) for index, entry in enumerate(entries)], next_url=next_url)


def _entry(entry: Any, index: int) -> HistoryEntry:
    where = f"Bundle.entry[{index}]"
    if not isinstance(entry, dict):
        raise PlatformProtocolError(f"{where} is not an object")
    request, response, resource = (entry.get(key) or {} for key in ("request", "response", "resource"))
    if not all(isinstance(part, dict) for part in (request, response, resource)):
        raise PlatformProtocolError(f"{where} has a request, response or resource that is not an object")
    method = request.get("method") or ("PUT" if resource else None)
    if method not in ("POST", "PUT", "PATCH", "DELETE"):
        raise PlatformProtocolError(f"{where}.request.method {method!r:.20} is not a write")
    kind, resource_id, url_version = _names(entry, request, resource, where)
    etag, modified, status = response.get("etag"), response.get("lastModified"), response.get("status")
    for name, value in (("etag", etag), ("lastModified", modified)):
        if value is not None and not isinstance(value, str):
            raise PlatformProtocolError(f"{where}.response.{name} is not a string")
    meta = resource.get("meta")
    meta_version = meta.get("versionId") if isinstance(meta, dict) else None
    return HistoryEntry(
        method=method,
        resource_type=kind,
        resource_id=resource_id,
        version_id=(version_from_etag(etag) if etag else None)
        or (meta_version if isinstance(meta_version, str) else None)
        or url_version,
        last_modified=parse_last_modified(modified) if modified else None,
        status=parse_status(status, f"{where}.response.status") if status is not None else None,
        resource=resource or None,
    )


def _names(
    entry: dict[str, Any], request: dict[str, Any], resource: dict[str, Any], where: str
) -> tuple[str, str, str | None]:
    """Type, id and version from fullUrl or request.url (a POST's url is only the type), else the resource."""
    for url in (entry.get("fullUrl"), request.get("url")):
        if isinstance(url, str):
            with contextlib.suppress(PlatformProtocolError):
                return parse_location(url)
    if isinstance(resource.get("resourceType"), str) and isinstance(resource.get("id"), str):
        return resource["resourceType"], resource["id"], None
    raise PlatformProtocolError(f"{where} names no resource")
