"""No write without a version check: every PUT carries If-Match, or writes where nothing is yet.

An update of a record carries If-Match with the version the platform last confirmed. The other
PUTs name a client id (``Type/id``) or an identifier (``Type?identifier=...``, a conditional
update) without a version; before each attempt at a transaction, ``transaction`` reads what each
of them would replace:

- nothing there: the PUT stays a create (FHIR R4 has no create-only PUT, and SEKMET ignores
  ``If-None-Match: *``; the only writer of a client id is the agent that chose it);
- a copy there, and the entry is ``create_only`` (a record's first write, a Device, a
  Questionnaire, a part written for the first time, the audit anchor's first write): nothing is
  sent for it; its result is that copy (status 200), which the caller merges or leaves alone, as
  a conditional create that found one;
- a copy there, otherwise (a follow-up's part or a reading's heart rate written again): the PUT
  goes to it with If-Match on the version just read, so an edit made in between is refused
  (412), never overwritten.

Read again on every attempt: a retry after a lost answer finds the first attempt's copy.

A create-only PUT also carries ``If-None-Match: *``, so a server that implements it refuses to
replace what landed between the read and the write (a first attempt whose request was only late).
A server that ignores it (SEKMET, Medplum) answers 200 instead of 201 when it replaced something:
the resource's history is then read and the version replaced comes back as ``EntryResult.replaced``
for the caller to merge, so an edit made in that moment is written back rather than lost.

A DELETE is checked the same way: it goes only to what the read found, with If-Match on the
version this PC last saw (or, deleting by identifier or client id, the version just read); a copy
changed since is not deleted (``SyncConflict``, merged by the caller as a delete-versus-edit), and
nothing there means an earlier attempt deleted it already (204, not sent). SEKMET and Medplum ignore
If-Match on a DELETE: the read is the check there.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from sync.errors import PlatformProtocolError, PlatformRejected, SyncConflict
from sync.fhir import bundle
from sync.fhir.bundle import EntryResult, RequestEntry, SearchPage
from sync.fhir.common import Resource, find_identifier, token
from sync.platform import Platform

_UNESCAPED_BAR = re.compile(r"(?<!\\)\|")


async def transaction(platform: Platform, entries: Sequence[RequestEntry]) -> list[EntryResult]:
    """Send ``entries`` as one transaction, each PUT checked first; one result per entry, in order."""
    checked = [await _checked(platform, entry) for entry in entries]
    found = {  # what the other entries refer to by its fullUrl is now the copy that was there
        entry.full_url: f"{item.resource_type}/{item.resource_id}"
        for entry, item in zip(entries, checked, strict=True)
        if isinstance(item, EntryResult) and entry.full_url
    }
    sending = [_referring(item, found) for item in checked if isinstance(item, RequestEntry)]
    answers = await platform.transaction(sending) if sending else []
    answers = [await _replaced(platform, entry, answer) for entry, answer in zip(sending, answers, strict=True)]
    given = iter(answers)
    return [next(given) if isinstance(item, RequestEntry) else item for item in checked]


async def _replaced(platform: Platform, entry: RequestEntry, answer: EntryResult) -> EntryResult:
    """A create-only PUT answered 200 (not 201): what it replaced, from the resource's history."""
    if not (entry.create_only and entry.method == "PUT" and entry.if_match is None and answer.status == 200):
        return answer
    kind, _, resource_id = entry.url.partition("/")
    try:
        [history] = await platform.batch([RequestEntry(method="GET", url=f"{kind}/{resource_id}/_history")])
    except (PlatformRejected, PlatformProtocolError, ValueError):
        return answer  # no history to read: nothing more is known
    entries = (history.resource or {}).get("entry") if history.ok else None
    versions: list[Resource] = [
        e["resource"] for e in entries or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)
    ]
    older = [v for v in versions if _version(v) != answer.version_id]
    if not older:
        return answer  # it made the first version (Medplum answers 200 to a PUT that creates)
    return dataclasses.replace(answer, replaced=max(older, key=_updated))


def _version(resource: Resource) -> str | None:
    meta = resource.get("meta")
    version = meta.get("versionId") if isinstance(meta, dict) else None
    return version if isinstance(version, str) else None


def _updated(resource: Resource) -> str:
    meta = resource.get("meta")
    stamp = meta.get("lastUpdated") if isinstance(meta, dict) else None
    return stamp if isinstance(stamp, str) else ""


def _referring(entry: RequestEntry, found: dict[str, str]) -> RequestEntry:
    """The entry with its references to entries not sent pointing at the copies found instead."""
    if not found or entry.resource is None:
        return entry
    resource: Resource = _rewrite(entry.resource, found)
    return dataclasses.replace(entry, resource=resource)


def _rewrite(value: Any, found: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: found.get(v, v) if k == "reference" and isinstance(v, str) else _rewrite(v, found)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite(item, found) for item in value]
    return value


async def _checked(platform: Platform, entry: RequestEntry) -> RequestEntry | EntryResult:
    """The entry to send, or (a create-only write finding a copy there) that copy as its result."""
    if entry.method == "DELETE":
        return await _checked_delete(platform, entry)
    if entry.method != "PUT" or entry.if_match is not None:
        return entry
    found = await _current(platform, entry.url)
    if found is None:
        return entry
    kind, resource_id, version, resource = found
    if entry.create_only:
        return EntryResult(
            status=200, resource_type=kind, resource_id=resource_id, version_id=version, resource=resource
        )
    if version is None:
        raise PlatformProtocolError(f"{kind}/{resource_id} came without a versionId: it cannot be replaced safely")
    body = {**(entry.resource or {}), "id": resource_id}
    return dataclasses.replace(entry, url=f"{kind}/{resource_id}", resource=body, if_match=bundle.if_match(version))


async def _checked_delete(platform: Platform, entry: RequestEntry) -> RequestEntry | EntryResult:
    """The DELETE to send (to the copy found, with If-Match), or its result when there is nothing to delete."""
    path, _, query = entry.url.partition("?")
    identifier = _identifier(query) if query else None
    if query and identifier is None:
        return entry  # not a query this agent writes: the server decides
    if identifier is not None:
        matches = await _matching(platform, path, *identifier)
        if len(matches) > 1:
            return entry  # several: the server refuses a conditional delete of more than one (412)
        found = (path, str(matches[0].get("id")), _version(matches[0]), matches[0]) if matches else None
    else:
        found = await _current(platform, entry.url)
    if found is None:
        return EntryResult(status=204)  # not there: deleted already (an earlier attempt whose answer was lost)
    kind, resource_id, version, _ = found
    if entry.if_match is not None:
        if version is not None and bundle.if_match(version) != entry.if_match:
            raise SyncConflict(
                f"{kind}/{resource_id} was changed on the platform since this PC last saw it: not deleted", status=412
            )
        return entry
    if version is None:
        raise PlatformProtocolError(f"{kind}/{resource_id} came without a versionId: it cannot be deleted safely")
    return dataclasses.replace(entry, url=f"{kind}/{resource_id}", if_match=bundle.if_match(version))


async def _current(platform: Platform, url: str) -> tuple[str, str, str | None, Resource] | None:
    """What a PUT to ``url`` would replace: (type, id, versionId, resource), or None."""
    path, _, query = url.partition("?")
    if not query:
        kind, _, resource_id = path.partition("/")
        try:
            read = await platform.read(kind, resource_id)
        except PlatformRejected as exc:
            if exc.status in (404, 410):
                return None
            raise
        return kind, resource_id, read.version_id, read.resource
    identifier = _identifier(query)
    if identifier is None:
        return None  # not a query this agent writes: the server decides (several matches: 412)
    matches = await _matching(platform, path, *identifier)
    if len(matches) != 1:
        return None  # none: the conditional update creates; several: the server refuses it (412)
    resource = matches[0]
    meta = resource.get("meta")
    version = meta.get("versionId") if isinstance(meta, dict) else None
    return path, str(resource.get("id")), version if isinstance(version, str) else None, resource


async def _matching(platform: Platform, kind: str, system: str, value: str) -> list[Resource]:
    """The resources of ``kind`` carrying the identifier (checked here too: a lenient server may ignore it)."""
    found: list[Resource] = []
    page: SearchPage | None = await platform.search(kind, [("identifier", token(system, value))])
    while page is not None:
        found += [r for r in page.resources if r.get("resourceType") == kind and find_identifier(r, system) == value]
        page = await platform.next_page(page)
    return found


def _identifier(query: str) -> tuple[str, str] | None:
    """(system, value) of ``identifier=system|value``, the only conditional query this agent writes."""
    name, _, raw = query.partition("=")
    if name != "identifier" or "&" in raw:
        return None
    parts = _UNESCAPED_BAR.split(unquote(raw), maxsplit=1)
    if len(parts) != 2:
        return None
    system, value = (re.sub(r"\\([\\|,$])", r"\1", part) for part in parts)
    return system, value
