"""Transaction and batch Bundles out; transaction/batch responses, OperationOutcomes and searchsets in.

Sans-I/O: dicts in, dicts out. Building raises ``MappingError`` on a request that cannot be
expressed; every parser raises only ``PlatformProtocolError``, whatever it is given.

Effectively-once writes:

- ``create(resource, record_id)``: POST with ``ifNoneExist: identifier=urn:ietf:rfc:3986|urn:uuid:<id>``;
  a replay after a lost response finds the first copy (status 200) instead of making a second.
- ``put(resource, resource_id, version_id=...)``: PUT to a client-chosen id; with a ``version_id``
  it carries ``ifMatch: W/"<versionId>"`` so a stale update is refused (409/412), never applied;
  without one it is marked ``create_only`` or checked by ``sync.engine.versions`` before it is sent.

Both give the entry a ``fullUrl`` when a record id is known, so other entries of the same
transaction can reference it (``common.bundle_reference``). That fullUrl is ``common.entry_url``,
never the record's identifier value ``urn:uuid:<record id>``: a server resolving the transaction
replaces every occurrence of a fullUrl in the Bundle's resources with ``Type/id`` (Medplum in any
string), and would rewrite the identifier the conditional create looks for.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from sync.errors import MappingError, PlatformProtocolError
from sync.fhir import codes
from sync.fhir.common import Resource, entry_url, identifier_query, identifier_value

Method = Literal["GET", "POST", "PUT", "DELETE"]

_STATUS = re.compile(r"([1-5][0-9]{2})(?:\s.*)?", re.DOTALL)
_LOCATION = re.compile(r"(?:^|/)([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})(?:/_history/([A-Za-z0-9\-.]{1,64}))?/?$")
_ETAG = re.compile(r'(?:W/)?"([^"\s]{1,64})"|([^"\s/]{1,64})')
_MAX_REASON = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestEntry:
    """One request of a transaction or batch Bundle."""

    method: Method
    url: str
    resource: Resource | None = None
    full_url: str | None = None
    if_none_exist: str | None = None
    if_match: str | None = None
    create_only: bool = False  # a PUT that must not replace a copy already there (sync.engine.versions)

    def to_fhir(self) -> dict[str, Any]:
        """The Bundle.entry for this request (a create-only PUT carries ``ifNoneMatch: *``)."""
        request: dict[str, str] = {"method": self.method, "url": self.url}
        if self.if_none_exist:
            request["ifNoneExist"] = self.if_none_exist
        if self.if_match:
            request["ifMatch"] = self.if_match
        if self.create_only and self.method == "PUT" and not self.if_match:
            request["ifNoneMatch"] = "*"  # only where nothing is: honoured by servers that implement it
        entry: dict[str, Any] = {}
        if self.full_url:
            entry["fullUrl"] = self.full_url
        if self.resource is not None:
            entry["resource"] = self.resource
        entry["request"] = request
        return entry


def create(resource: Resource, record_id: str, *, if_none_exist: str | None = None) -> RequestEntry:
    """POST a resource conditionally: by default, only if none carries the record's urn:uuid identifier."""
    kind = _kind(resource)
    query = if_none_exist or identifier_query(codes.UUID_SYSTEM, identifier_value(record_id))
    return RequestEntry(method="POST", url=kind, resource=resource, full_url=entry_url(record_id), if_none_exist=query)


def put(
    resource: Resource,
    resource_id: str,
    *,
    version_id: str | None = None,
    record_id: str | None = None,
    create_only: bool = False,
) -> RequestEntry:
    """PUT a resource to ``Type/resource_id``; with ``version_id``, only if the server still has it.

    ``create_only``: a first write to a client id, never to replace a copy already there.
    """
    kind = _kind(resource)
    body = {"resourceType": kind, "id": resource_id, **{k: v for k, v in resource.items() if k != "id"}}
    return RequestEntry(
        method="PUT",
        url=f"{kind}/{resource_id}",
        resource=body,
        full_url=entry_url(record_id) if record_id else None,
        if_match=if_match(version_id) if version_id is not None else None,
        create_only=create_only,
    )


def delete(resource_type: str, resource_id: str, *, version_id: str | None = None) -> RequestEntry:
    """DELETE ``Type/resource_id``; with ``version_id``, only if the server still has that version.

    Servers may ignore ifMatch on a DELETE (SEKMET and Medplum do): ``sync.engine.versions`` reads
    the resource first and refuses the delete itself when the version moved on.
    """
    return RequestEntry(
        method="DELETE",
        url=f"{resource_type}/{resource_id}",
        if_match=if_match(version_id) if version_id is not None else None,
    )


def delete_by_identifier(resource_type: str, record_id: str) -> RequestEntry:
    """Conditional DELETE of the resource carrying the record's urn:uuid identifier."""
    return RequestEntry(
        method="DELETE", url=f"{resource_type}?{identifier_query(codes.UUID_SYSTEM, identifier_value(record_id))}"
    )


def read(resource_type: str, resource_id: str) -> RequestEntry:
    """GET ``Type/resource_id`` inside a batch."""
    return RequestEntry(method="GET", url=f"{resource_type}/{resource_id}")


def if_match(version_id: str) -> str:
    """The weak ETag ``W/"<versionId>"`` for ``If-Match``; the versionId is opaque."""
    if not version_id or '"' in version_id or any(ch.isspace() for ch in version_id):
        raise MappingError(f"versionId {version_id!r:.40} cannot be put in an If-Match header")
    return f'W/"{version_id}"'


def transaction(entries: Sequence[RequestEntry]) -> Resource:
    """A transaction Bundle: the server applies all entries or none."""
    return _bundle("transaction", entries)


def batch(entries: Sequence[RequestEntry]) -> Resource:
    """A batch Bundle: each entry succeeds or fails on its own."""
    return _bundle("batch", entries)


def _bundle(kind: str, entries: Sequence[RequestEntry]) -> Resource:
    urls = [e.full_url for e in entries if e.full_url]
    if len(urls) != len(set(urls)):
        raise MappingError("two entries of one Bundle have the same fullUrl")
    return {"resourceType": "Bundle", "type": kind, "entry": [e.to_fhir() for e in entries]}


def _kind(resource: Resource) -> str:
    kind = resource.get("resourceType")
    if not isinstance(kind, str) or not kind:
        raise MappingError("a resource to send has no resourceType")
    return kind


# Responses ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryResult:
    """What the server did with one entry."""

    status: int
    location: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    version_id: str | None = None
    last_modified: datetime | None = None
    reason: str | None = None  # the entry's OperationOutcome, in one line
    resource: Resource | None = None
    replaced: Resource | None = None  # what a create-only PUT replaced, on a server that ignored If-None-Match

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300

    @property
    def created(self) -> bool:
        """True when the server made a new resource (201), false when it found one (200)."""
        return self.status == 201


def parse_response(
    bundle: Any, *, kind: Literal["transaction", "batch"], expected: int | None = None
) -> list[EntryResult]:
    """Parse a transaction-response or batch-response into one result per request, in order."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise PlatformProtocolError(f"the platform answered the {kind} with something that is not a Bundle")
    if bundle.get("type") != f"{kind}-response":
        raise PlatformProtocolError(
            f"the platform answered the {kind} with a Bundle of type {_show(bundle.get('type'))}"
        )
    entries = _list(bundle.get("entry"), "Bundle.entry")
    if expected is not None and len(entries) != expected:
        raise PlatformProtocolError(
            f"the platform answered {len(entries)} entries to a {kind} of {expected}: cut short"
        )
    return [_entry_result(entry, index) for index, entry in enumerate(entries)]


def _entry_result(entry: Any, index: int) -> EntryResult:
    where = f"Bundle.entry[{index}]"
    if not isinstance(entry, dict):
        raise PlatformProtocolError(f"{where} is not an object")
    response = entry.get("response")
    if not isinstance(response, dict):
        raise PlatformProtocolError(f"{where} has no response")
    status = parse_status(response.get("status"), f"{where}.response.status")
    resource = entry.get("resource")
    if resource is not None and not isinstance(resource, dict):
        raise PlatformProtocolError(f"{where}.resource is not an object")
    location = _optional_str(response.get("location"), f"{where}.response.location")
    kind, resource_id, location_version = parse_location(location) if location else (None, None, None)
    etag = _optional_str(response.get("etag"), f"{where}.response.etag")
    version = version_from_etag(etag) if etag else location_version
    if resource is not None:
        kind = kind or _optional_str(resource.get("resourceType"), f"{where}.resource.resourceType")
        resource_id = resource_id or _optional_str(resource.get("id"), f"{where}.resource.id")
        version = version or _meta_version(resource, where)
    modified = _optional_str(response.get("lastModified"), f"{where}.response.lastModified")
    outcome = response.get("outcome")
    if outcome is None and resource is not None and resource.get("resourceType") == "OperationOutcome":
        outcome = resource
    return EntryResult(
        status=status,
        location=location,
        resource_type=kind,
        resource_id=resource_id,
        version_id=version,
        last_modified=parse_last_modified(modified) if modified else None,
        reason=parse_outcome(outcome) if outcome is not None else None,
        resource=resource if resource is not None and resource.get("resourceType") != "OperationOutcome" else None,
    )


def _meta_version(resource: Resource, where: str) -> str | None:
    meta = resource.get("meta")
    if meta is None:
        return None
    if not isinstance(meta, dict):
        raise PlatformProtocolError(f"{where}.resource.meta is not an object")
    return _optional_str(meta.get("versionId"), f"{where}.resource.meta.versionId")


def parse_status(value: Any, what: str = "status") -> int:
    """``"201 Created"`` (or ``"201"``) -> 201."""
    match = _STATUS.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise PlatformProtocolError(f"{what} is not an HTTP status: {_show(value)}")
    return int(match.group(1))


def parse_location(location: str) -> tuple[str, str, str | None]:
    """``[base/]Type/id[/_history/vid]`` -> (type, id, versionId or None)."""
    match = _LOCATION.search(location.split("?", 1)[0])
    if match is None:
        raise PlatformProtocolError(f"the location {_show(location)} names no Type/id")
    return match.group(1), match.group(2), match.group(3)


def version_from_etag(etag: str) -> str:
    """``W/"3"`` (or ``"3"``) -> ``"3"``; the versionId is opaque text."""
    match = _ETAG.fullmatch(etag.strip())
    if match is None:
        raise PlatformProtocolError(f"the ETag {_show(etag)} is not a version tag")
    return match.group(1) or match.group(2)


def parse_last_modified(value: str) -> datetime:
    """A FHIR instant (``lastModified`` in a Bundle) or an HTTP-date (the Last-Modified header)."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            raise PlatformProtocolError(f"the time {_show(value)} is neither an instant nor an HTTP-date") from None
    if moment.tzinfo is None:
        raise PlatformProtocolError(f"the time {_show(value)} has no time zone")
    return moment


# OperationOutcome -------------------------------------------------------------------------------


def parse_outcome(outcome: Any) -> str:
    """An OperationOutcome in one line a person can read: ``error structure: ... (at Patient.birthDate)``."""
    if not isinstance(outcome, dict) or outcome.get("resourceType") != "OperationOutcome":
        raise PlatformProtocolError("the platform's explanation is not an OperationOutcome")
    issues = _list(outcome.get("issue"), "OperationOutcome.issue")
    parts = [_issue(item, index) for index, item in enumerate(issues)]
    important = [p for p, item in zip(parts, issues, strict=True) if item.get("severity") in ("fatal", "error")]
    line = "; ".join(important or parts) or "the platform gave no reason"
    line = " ".join(line.split())
    return line if len(line) <= _MAX_REASON else line[: _MAX_REASON - 1] + "…"


def _issue(item: Any, index: int) -> str:
    if not isinstance(item, dict):
        raise PlatformProtocolError(f"OperationOutcome.issue[{index}] is not an object")
    severity = _optional_str(item.get("severity"), "issue.severity") or "error"
    code = _optional_str(item.get("code"), "issue.code") or "processing"
    details = item.get("details")
    details_text = _optional_str(details.get("text"), "issue.details.text") if isinstance(details, dict) else None
    diagnostics = _optional_str(item.get("diagnostics"), "issue.diagnostics")
    message = " — ".join(m for m in (details_text, diagnostics) if m) or "no details"
    where = [w for w in _list(item.get("expression"), "issue.expression") if isinstance(w, str)]
    place = f" (at {', '.join(where)})" if where and all(w not in message for w in where) else ""
    return f"{severity} {code}: {message}{place}"


# Searchsets -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchPage:
    """One page of a search: matches, included resources, the link to the next page."""

    resources: list[Resource] = field(default_factory=list)
    included: list[Resource] = field(default_factory=list)
    next_url: str | None = None
    total: int | None = None
    warnings: list[str] = field(default_factory=list)  # OperationOutcome entries (e.g. ignored parameters)


def parse_searchset(bundle: Any) -> SearchPage:
    """Parse a searchset Bundle page."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise PlatformProtocolError("the platform answered a search with something that is not a Bundle")
    if bundle.get("type") != "searchset":
        raise PlatformProtocolError(f"the platform answered a search with a {_show(bundle.get('type'))} Bundle")
    total = bundle.get("total")
    if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total < 0):
        raise PlatformProtocolError(f"Bundle.total {_show(total)} is not a count")
    page = SearchPage(total=total, next_url=_next_link(bundle))
    for index, entry in enumerate(_list(bundle.get("entry"), "Bundle.entry")):
        _sort_entry(entry, index, page)
    return page


def _sort_entry(entry: Any, index: int, page: SearchPage) -> None:
    where = f"Bundle.entry[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
        raise PlatformProtocolError(f"{where} has no resource")
    resource = entry["resource"]
    if not isinstance(resource.get("resourceType"), str):
        raise PlatformProtocolError(f"{where}.resource has no resourceType")
    search = entry.get("search")
    mode = search.get("mode", "match") if isinstance(search, dict) else "match"
    if mode == "outcome" or (search is None and resource["resourceType"] == "OperationOutcome"):
        page.warnings.append(parse_outcome(resource))
    elif mode == "include":
        page.included.append(resource)
    elif mode == "match":
        page.resources.append(resource)
    else:
        raise PlatformProtocolError(f"{where}.search.mode {_show(mode)} is not match, include or outcome")


def _next_link(bundle: dict[str, Any]) -> str | None:
    for index, link in enumerate(_list(bundle.get("link"), "Bundle.link")):
        if not isinstance(link, dict):
            raise PlatformProtocolError(f"Bundle.link[{index}] is not an object")
        if link.get("relation") == "next":
            url = link.get("url")
            if not isinstance(url, str) or not url.strip():
                raise PlatformProtocolError("the next-page link has no url")
            return url
    return None


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PlatformProtocolError(f"{what} is not an array")
    return value


def _optional_str(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise PlatformProtocolError(f"{what} is not a string: {_show(value)}")


def _show(value: Any) -> str:
    return repr(value)[:60]
