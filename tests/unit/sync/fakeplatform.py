"""An in-memory FHIR platform implementing ``sync.platform.Platform``: fast, and scriptable for faults.

Enough of FHIR for the engine: transactions (all or nothing) with conditional creates
(``ifNoneExist`` on identifier), PUT to a client id, If-Match (stale: 412), DELETE, urn:uuid
references rewritten; searches by ``_lastUpdated=ge`` sorted by it, with ``_count`` and offset
links; reads. ``reject`` refuses resources (400) by a predicate; ``lose_replies`` applies the
next transactions and then reports the link down, as a reply lost after the server committed.
``writes`` records every write, for invariants.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from sync.errors import PlatformRejected, PlatformUnavailable, SyncConflict
from sync.fhir.bundle import EntryResult, RequestEntry, SearchPage
from sync.fhir.capability import Capabilities, ResourceCapability
from sync.fhir.common import Resource
from sync.fhir.history import HistoryPage, since
from sync.platform import ReadResult

EPOCH = datetime(2026, 11, 25, tzinfo=UTC)
TYPES = ("Patient", "Observation", "Condition", "AllergyIntolerance", "Procedure", "Organization", "Device")


@dataclass
class Stored:
    resource: Resource
    version: int
    updated: datetime


@dataclass
class Write:
    """One write, as the platform saw it."""

    by: str  # "agent" or "upstream"
    resource_type: str
    resource_id: str
    before: Resource | None
    after: Resource | None


@dataclass
class FakePlatform:
    """The platform, in memory."""

    resources: dict[tuple[str, str], Stored] = field(default_factory=dict)
    writes: list[Write] = field(default_factory=list)
    reject: Callable[[Resource], str | None] = lambda _r: None
    lose_replies: int = 0
    down: bool = False
    requests: int = 0
    bundle_sizes: list[int] = field(default_factory=list)
    on_write: Callable[[Write], None] | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _tick: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- the Platform protocol ---------------------------------------------------------------------

    async def capabilities(self) -> Capabilities:
        self._check()
        search = frozenset({"identifier", "subject", "patient", "organization", "_lastUpdated"})
        resources = {t: ResourceCapability(frozenset({"create", "update", "read"}), search, True, True) for t in TYPES}
        resources["FamilyMemberHistory"] = ResourceCapability(frozenset({"update", "read"}), frozenset(), False, True)
        return Capabilities(resources, frozenset({"transaction", "batch"}))

    async def transaction(self, entries: Sequence[RequestEntry]) -> list[EntryResult]:
        self._check()
        self.bundle_sizes.append(len(entries))
        saved = (copy.deepcopy(self.resources), len(self.writes))
        try:
            results = self._apply(entries, by="agent")
        except Exception:
            self.resources, kept = saved[0], saved[1]
            del self.writes[kept:]
            raise
        if self.lose_replies:
            self.lose_replies -= 1
            raise PlatformUnavailable("the reply was lost (fake)")
        return results

    async def batch(self, entries: Sequence[RequestEntry]) -> list[EntryResult]:
        raise NotImplementedError

    async def search(self, resource_type: str, params: Sequence[tuple[str, str]]) -> SearchPage:
        self._check()
        query = dict(params)
        count = int(query.get("_count", "20"))
        offset = int(query.get("_offset", "0"))
        floor = query.get("_lastUpdated", "ge0000")[2:]
        found = sorted(
            (s for (kind, _), s in self.resources.items() if kind == resource_type and since(s.updated) >= floor),
            key=lambda s: (s.updated, s.resource["id"]),
        )
        page = found[offset : offset + count]
        more = offset + count < len(found)
        next_url = None
        if more:
            rest = [(k, v) for k, v in params if k != "_offset"] + [("_offset", str(offset + count))]
            next_url = resource_type + "?" + "&".join(f"{k}={v}" for k, v in rest)
        return SearchPage(resources=[copy.deepcopy(s.resource) for s in page], next_url=next_url, total=len(found))

    async def next_page(self, page: SearchPage) -> SearchPage | None:
        if page.next_url is None:
            return None
        kind, _, query = page.next_url.partition("?")
        return await self.search(kind, parse_qsl(query))

    async def read(self, resource_type: str, resource_id: str) -> ReadResult:
        self._check()
        stored = self.resources.get((resource_type, resource_id))
        if stored is None:
            raise PlatformRejected("gone", status=404, reason="not found")
        return ReadResult(resource=copy.deepcopy(stored.resource), version_id=str(stored.version), last_modified=None)

    async def history(self, resource_type: str, params: Sequence[tuple[str, str]]) -> HistoryPage:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None

    # -- what another party does upstream ----------------------------------------------------------

    def upstream_put(self, resource: Resource) -> Resource:
        """Write a resource as a hospital would (no If-Match: last write wins)."""
        kind, rid = resource["resourceType"], resource.get("id") or str(next(self._ids))
        return self._store(kind, rid, {**resource, "id": rid}, by="upstream")

    def get(self, resource_type: str, resource_id: str) -> Resource:
        """A stored resource."""
        return copy.deepcopy(self.resources[(resource_type, resource_id)].resource)

    def all(self, resource_type: str) -> list[Resource]:
        """Every stored resource of a type."""
        return [copy.deepcopy(s.resource) for (kind, _), s in self.resources.items() if kind == resource_type]

    # -- inside ----------------------------------------------------------------------------------------

    def _check(self) -> None:
        self.requests += 1
        if self.down:
            raise PlatformUnavailable("the link is down (fake)")

    def _apply(self, entries: Sequence[RequestEntry], *, by: str) -> list[EntryResult]:
        urns: dict[str, str] = {}
        results = []
        for entry in entries:
            resource = _rewrite(copy.deepcopy(entry.resource), urns) if entry.resource is not None else None
            if resource is not None:
                reason = self.reject(resource)
                if reason:
                    raise PlatformRejected(f"refused: {reason}", status=400, reason=reason)
            result = self._entry(entry, resource, by)
            if entry.full_url and result.resource_id:
                urns[entry.full_url] = f"{result.resource_type}/{result.resource_id}"
            results.append(result)
        return results

    def _entry(self, entry: RequestEntry, resource: Resource | None, by: str) -> EntryResult:
        if entry.method == "POST":
            assert resource is not None
            kind = resource["resourceType"]
            if entry.if_none_exist:
                found = self._find(kind, entry.if_none_exist)
                if found is not None:
                    return self._result(kind, found, 200)
            stored = self._store(kind, str(next(self._ids)), resource, by=by)
            return self._result(kind, stored["id"], 201)
        kind, _, rid = entry.url.partition("/")
        if entry.method == "DELETE":
            before = self.resources.pop((kind, rid), None)
            self.writes.append(Write(by, kind, rid, before.resource if before else None, None))
            return EntryResult(status=200)
        assert entry.method == "PUT"
        assert resource is not None
        current = self.resources.get((kind, rid))
        if entry.if_match is not None and (current is None or entry.if_match != f'W/"{current.version}"'):
            raise SyncConflict("stale", status=412, reason="version conflict")
        self._store(kind, rid, {**resource, "id": rid}, by=by)
        return self._result(kind, rid, 201 if current is None else 200)

    def _store(self, kind: str, rid: str, resource: Resource, *, by: str) -> Resource:
        current = self.resources.get((kind, rid))
        version = current.version + 1 if current else 1
        updated = EPOCH + timedelta(milliseconds=next(self._tick))
        body = {**resource, "id": rid, "meta": {"versionId": str(version), "lastUpdated": since(updated)}}
        write = Write(by, kind, rid, current.resource if current else None, body)
        if self.on_write is not None:
            self.on_write(write)
        self.writes.append(write)
        self.resources[(kind, rid)] = Stored(body, version, updated)
        return body

    def _find(self, kind: str, query: str) -> str | None:
        value = dict(parse_qsl(query)).get("identifier", "")
        system, _, code = value.partition("|")
        for (stored_kind, rid), stored in self.resources.items():
            if stored_kind != kind:
                continue
            for identifier in stored.resource.get("identifier", []):
                if identifier.get("system") == system and identifier.get("value") == code:
                    return rid
        return None

    def _result(self, kind: str, rid: str, status: int) -> EntryResult:
        stored = self.resources[(kind, rid)]
        return EntryResult(
            status=status,
            resource_type=kind,
            resource_id=rid,
            version_id=str(stored.version),
            resource=copy.deepcopy(stored.resource),
        )


def _rewrite(value: Any, urns: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: (urns.get(v, v) if k == "reference" and isinstance(v, str) else _rewrite(v, urns))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite(v, urns) for v in value]
    return value
