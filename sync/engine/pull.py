"""Pull: what changed upstream, per resource type, since the type's ``_lastUpdated`` cursor.

Each page is a search ``_lastUpdated=ge<cursor>&_sort=_lastUpdated&_count=N`` scoped to this
clinic's residents (Patients managed by its Organization, and what refers to them). Pages are
walked by moving the cursor to the newest ``lastUpdated`` seen, a fresh search each time, rather
than by the platform's offset links: offset paging shifts when a record changes during the walk
(SEKMET quirk 3), and a skipped record would never come back. Only when a whole page shares one
instant is the next link followed. Each page is applied together with its cursor and an audit entry
per record, in one transaction; what was already applied (our own writes echoed back) is skipped.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from clinic_agent.core.errors import InvalidInput, RecordChanged, RecordNotFound, StoreCorrupted
from clinic_agent.core.model import ConsultationMessage, ConsultationTask, Resident, utcnow
from clinic_agent.core.sync_values import RESIDENTS, Write
from sync.engine.conflicts import adopt, adoption, reconcile
from sync.engine.deletions import SUFFIX as DELETIONS
from sync.engine.deletions import pull_deletions
from sync.engine.engine import SyncEngine
from sync.engine.mapping import PULLED, SUBJECT_PARAM, derived, entity_of, from_resource, subject_id
from sync.errors import PlatformProtocolError, PlatformRejected
from sync.fhir import consultation
from sync.fhir.bundle import SearchPage
from sync.fhir.common import parse_instant, record_id_of
from sync.fhir.history import since

_APPLY_TRIES = 3


async def pull(engine: SyncEngine) -> None:
    """Bring every pulled type up to date.

    A type the platform's CapabilityStatement leaves out is tried all the same (SEKMET stores
    FamilyMemberHistory and QuestionnaireResponse yet does not list them); a refusal of its search
    only means this platform does not keep it, and the other types go on.
    """
    for resource_type in PULLED:
        listed = resource_type in engine.capabilities.resources or not engine.capabilities.resources
        started_at = await engine.db(engine.store.cursor, resource_type)
        if started_at is None:
            await _deletions_from_now(engine, resource_type)
        try:
            if await _by_patient_list(engine, resource_type):
                await _pull_type_by_patients(engine, resource_type)
            else:
                await _pull_type(engine, resource_type)
        except PlatformRejected:
            if listed:
                raise
            continue
        await pull_deletions(engine, resource_type, started_at)


async def _deletions_from_now(engine: SyncEngine, resource_type: str) -> None:
    """A type's first pull: upstream deletions are looked for from the moment it began (a margin before).

    What exists comes down by the search itself. Without this, a first pull cut short (the link, the
    power) looked for deletions, once resumed, from the cursor it had reached: every version written
    since then, the rest of the catchment's history, read 500 at a time by offset (bench/onboarding.py).
    """
    key = resource_type + DELETIONS
    if await engine.db(engine.store.cursor, key) is None:
        began = since(utcnow() - _LIST_MARGIN)
        await engine.db(engine.store.apply, [], cursor=(key, began), actor=engine.options.actor)


def _params(
    engine: SyncEngine, resource_type: str, cursor: str | None, patients: list[str] | None = None
) -> list[tuple[str, str]]:
    params = [("_sort", "_lastUpdated"), ("_count", str(engine.options.fetch_size or engine.options.page_size))]
    if cursor:
        params.insert(0, ("_lastUpdated", f"ge{cursor}"))
    organization = engine.options.organization_id
    if patients is not None:
        params.append((SUBJECT_PARAM[resource_type], ",".join(f"Patient/{p}" for p in patients)))
    elif organization:
        if resource_type == "Patient":
            params.append(("organization", f"Organization/{organization}"))
        elif engine.capabilities.searchable(resource_type, SUBJECT_PARAM[resource_type]):
            params.append((f"{SUBJECT_PARAM[resource_type]}:Patient.organization", f"Organization/{organization}"))
    return params


async def _pull_type(
    engine: SyncEngine,
    resource_type: str,
    patients: list[str] | None = None,
    progress: Progress | None = None,
    cursor: str | None = None,
) -> str | None:
    """Walk the pages; the next page is fetched while this one is applied (the server and the store overlap).

    Each page is applied with its cursor, so a pull cut short (the link, the power) goes on from the
    last page applied. Progress is told after every page: records, pages, the platform's total for
    this type (from the first page), and the time left at the pace so far.

    With ``patients`` (a list of the clinic's Patient ids, ``_by_patient_list``), the walk starts at
    ``cursor`` and keeps no cursor of its own: it returns the newest ``lastUpdated`` it applied.
    """
    own_cursor = patients is None
    if own_cursor:
        cursor = await engine.db(engine.store.cursor, resource_type)
    page: SearchPage | None = await engine.call(
        engine.platform.search, resource_type, _params(engine, resource_type, cursor, patients)
    )
    progress = progress or Progress(resource_type, page.total if page is not None else None)
    while page is not None:
        newest = _newest(page.resources)
        following: asyncio.Task[SearchPage | None] | None = None
        if page.next_url is not None:
            if newest is not None and newest != cursor:
                following = asyncio.create_task(
                    engine.call(engine.platform.search, resource_type, _params(engine, resource_type, newest, patients))
                )
            else:  # a whole page at one instant: step over it by the platform's own link
                following = asyncio.create_task(engine.call(engine.platform.next_page, page))
        try:
            moved = await _apply_in_slices(engine, resource_type, page.resources, cursor, keep=own_cursor)
        except BaseException:
            if following is not None:
                following.cancel()
            raise
        engine.on_progress(progress.page_done(page.resources))
        if following is None:
            return moved
        if moved == cursor and newest != cursor:  # the page could not be applied: stop here, retry next run
            following.cancel()
            if own_cursor:
                return cursor
            raise _Unapplied
        cursor = moved
        page = await following
    return cursor


class _Unapplied(Exception):
    """A page could not be applied: the walk stops here and the next run tries again from the cursor."""


# The scoped pull names the clinic's Patients in lists of this many (``subject=Patient/a,Patient/b``): a
# URL of about 2.5 kB, within what servers and proxies take.
PATIENTS_PER_SEARCH = 50
# A cursor moved after a walk by Patient lists stays this far behind the moment the walk began, so that
# a record changed during the walk (in a list already walked) is read again next time, never skipped.
_LIST_MARGIN = timedelta(minutes=5)
_CHAINS: WeakKeyDictionary[SyncEngine, bool] = WeakKeyDictionary()


async def _by_patient_list(engine: SyncEngine, resource_type: str) -> bool:
    """True when this type is scoped by lists of the clinic's Patients rather than by a chained search.

    The chained search (``subject:Patient.organization=Organization/<clinic>``) is one search per
    type; a server may list the parameter yet not chain through it (Medplum's in-memory repository
    answers an empty page, no error), and "nothing new" looks the same. Once per run the server is
    asked the clinic's Patients both ways, ``organization=`` and the chained
    ``organization:Organization._id=``; when only the first finds any, it cannot chain, and every
    other type is asked by lists of the Patients of this clinic's residents instead (docs/fhir.md).
    """
    organization = engine.options.organization_id
    if resource_type == "Patient" or not organization:
        return False
    if not engine.capabilities.searchable(resource_type, SUBJECT_PARAM[resource_type]):
        return False
    chains = _CHAINS.get(engine)
    if chains is None:
        plain = await engine.call(
            engine.platform.search, "Patient", [("organization", f"Organization/{organization}"), ("_count", "1")]
        )
        chained = await engine.call(
            engine.platform.search, "Patient", [("organization:Organization._id", organization), ("_count", "1")]
        )
        chains = not plain.resources or bool(chained.resources)
        _CHAINS[engine] = chains
    return not chains


async def _pull_type_by_patients(engine: SyncEngine, resource_type: str) -> None:
    """The pull of one type by lists of the clinic's Patients; the cursor moves once every list is walked.

    A walk cut short starts the type again from its cursor at the next run: what it applied already
    is recognised (our own copies, unchanged versions) and not applied twice.
    """
    cursor = await engine.db(engine.store.cursor, resource_type)
    began = utcnow() - _LIST_MARGIN
    patients = await engine.db(engine.store.linked_patients)
    progress = Progress(resource_type, None)
    newest = cursor
    for start in range(0, len(patients), PATIENTS_PER_SEARCH):
        chunk = patients[start : start + PATIENTS_PER_SEARCH]
        try:
            reached = await _pull_type(engine, resource_type, chunk, progress, cursor)
        except _Unapplied:
            return
        if reached is not None and (newest is None or _after(reached, newest)):
            newest = reached
    if newest is None or newest == cursor:
        return
    moved = min(newest, since(began), key=lambda stamp: parse_instant(stamp, "cursor"))
    if cursor is None or _after(moved, cursor):
        await engine.db(engine.store.apply, [], cursor=(resource_type, moved), actor=engine.options.actor)


class Progress:
    """How far the pull of one type has come, and how long the rest should take at this pace."""

    def __init__(self, resource_type: str, total: int | None) -> None:
        self.resource_type = resource_type
        self.total = total
        self.seen: set[str] = set()  # a page starts at the last instant of the one before: count once
        self.pages = 0
        self.started = time.monotonic()

    @property
    def done(self) -> int:
        """Records received so far."""
        return len(self.seen)

    def page_done(self, resources: list[Any]) -> dict[str, Any]:
        """Count one page; the progress as status shows it."""
        self.seen.update(str(r.get("id")) for r in resources if isinstance(r, dict))
        self.pages += 1
        elapsed = time.monotonic() - self.started
        left = None
        if self.total is not None and self.done and self.total > self.done:
            left = round(elapsed / self.done * (self.total - self.done))
        return {
            "type": self.resource_type,
            "records": self.done,
            "total": self.total,
            "pages": self.pages,
            "seconds": round(elapsed, 1),
            "seconds_left": left,
        }


def _newest(resources: list[Any]) -> str | None:
    stamps = []
    for resource in resources:
        meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else {}
        try:
            stamps.append(parse_instant(meta.get("lastUpdated"), "meta.lastUpdated"))
        except PlatformProtocolError:
            continue
    return since(max(stamps)) if stamps else None


async def _apply_in_slices(
    engine: SyncEngine, resource_type: str, resources: list[Any], cursor: str | None, *, keep: bool
) -> str | None:
    """Apply a page ``page_size`` records per local transaction (each with its cursor); the cursor reached.

    The page is sorted by ``lastUpdated``, so each slice's cursor follows the one before; a slice that
    could not be applied stops the rest (the next run starts from the last slice applied).
    """
    size = engine.options.page_size
    for start in range(0, len(resources), size):
        part = resources[start : start + size]
        reached = await _apply_page(engine, resource_type, part, cursor, keep=keep)
        if reached == cursor and _newest(part) not in (None, cursor):
            return cursor
        cursor = reached
    return cursor


async def _apply_page(
    engine: SyncEngine, resource_type: str, resources: list[Any], cursor: str | None, *, keep: bool = True
) -> str | None:
    """Apply a page (with the type's cursor when ``keep``); the cursor it reached."""
    for _ in range(_APPLY_TRIES):
        writes, newest = await engine.db(_writes, engine, resource_type, resources)
        moved = newest if newest is not None and (cursor is None or _after(newest, cursor)) else cursor
        try:
            counts = await engine.db(
                engine.store.apply,
                writes,
                cursor=(resource_type, moved) if moved and keep else None,
                actor=engine.options.actor,
            )
        except RecordChanged:
            continue  # a local edit landed meanwhile: read again and merge again
        except _ONE_RECORDS_FAULT:
            await engine.db(_apply_one_by_one, engine, resource_type, writes, moved if keep else None)
            return moved
        engine.report.pulled += counts.inserted + counts.updated
        engine.note_conflicts(counts.conflicts)
        engine.report.answers.extend(_answers(writes))
        await engine.db(engine.store.unpark_pulled, resource_type, [w.remote_id for w in writes if w.remote_id])
        return moved
    engine.report.errors.append(f"{resource_type}: records kept changing locally; the rest waits for the next sync")
    return cursor


# What one record can make a page fail with (the others of the page are not at fault).
_ONE_RECORDS_FAULT = (sqlite3.IntegrityError, InvalidInput, RecordNotFound, StoreCorrupted)


def _apply_one_by_one(engine: SyncEngine, resource_type: str, writes: list[Write], moved: str | None) -> None:
    """A page that failed whole: each record alone, the one at fault set aside with the reason."""
    store = engine.store
    for write in writes:
        try:
            counts = store.apply([write], actor=engine.options.actor)
        except RecordChanged:
            continue  # edited here meanwhile: it comes again with the next change upstream
        except _ONE_RECORDS_FAULT as exc:
            reason = f"could not be applied here ({type(exc).__name__}): {exc}"
            store.park_pulled(resource_type, write.remote_id or write.record.id, reason)
            engine.report.parked += 1
            engine.report.errors.append(f"{resource_type}/{(write.remote_id or '?')[:64]} was set aside: {exc}")
            continue
        engine.report.pulled += counts.inserted + counts.updated
        engine.note_conflicts(counts.conflicts)
        engine.report.answers.extend(_answers([write]))
        if write.remote_id:
            store.unpark_pulled(resource_type, [write.remote_id])
    if moved is not None:
        store.apply([], cursor=(resource_type, moved), actor=engine.options.actor)


# A consultation's Task as this PC writes it (made, withdrawn): read back, it is no news for the doctor.
_OUR_TASK_STATES = frozenset({"draft", "requested", "cancelled"})


def _answers(writes: list[Write]) -> list[str]:
    """The specialist's side answered or moved a consultation on: a reply, or a Task changed (not our own echo)."""
    return [
        w.record.id
        for w in writes
        if w.content_changed
        and (
            (isinstance(w.record, ConsultationMessage) and w.record.outcome is None)
            or (isinstance(w.record, ConsultationTask) and w.record.status not in _OUR_TASK_STATES)
        )
    ]


def _writes(engine: SyncEngine, resource_type: str, resources: list[Any]) -> tuple[list[Write], str | None]:
    writes: list[Write] = []
    newest: datetime | None = None
    seen: set[str] = set()
    local_ids = [own for own in (record_id_of(r) for r in resources if isinstance(r, dict)) if own]
    engine.known = engine.store.known(entity_of(resource_type), local_ids) if local_ids else set()
    for resource in resources:
        meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else {}
        try:
            stamp = parse_instant(meta.get("lastUpdated"), f"{resource_type}.meta.lastUpdated")
        except PlatformProtocolError:
            stamp = None
        if stamp is not None and (newest is None or stamp > newest):
            newest = stamp
        write = _write_for(engine, resource_type, resource, meta)
        if write is not None and write.record.id not in seen:
            seen.add(write.record.id)
            writes.append(write)
    return writes, since(newest) if newest is not None else None


def _write_for(engine: SyncEngine, resource_type: str, resource: dict[str, Any], meta: dict[str, Any]) -> Write | None:
    store = engine.store
    remote_id = resource.get("id") if isinstance(resource.get("id"), str) else None
    version = meta.get("versionId") if isinstance(meta.get("versionId"), str) else None
    resident_id = None
    if resource_type != "Patient":
        if derived(resource):
            return None  # sent only as part of another record (a follow-up form's value): that record brings it
        patient = subject_id(resource)
        resident_id = _resident_of(engine, patient) if patient else None
        if resident_id is None:
            return None  # not one of this clinic's residents
    try:
        remote = from_resource(resource, resident_id=resident_id, ns=engine.options.namespace)
    except (PlatformProtocolError, InvalidInput) as exc:
        engine.report.errors.append(f"{resource_type}/{str(remote_id)[:64]} could not be read: {exc}")
        if remote_id is not None:
            about = consultation.request_of(resource) if resource_type in consultation.REPLY_TYPES else ""
            news = store.park_pulled(resource_type, remote_id, f"could not be read: {exc}", about=about)
            engine.report.parked += 1
            if about and news:  # an answer came, though it cannot be shown here: the doctor is alerted all the same
                engine.report.answers.append(remote_id)
        return None
    entity = entity_of(resource_type)
    ours = record_id_of(resource)
    state = None if ours is not None and ours not in engine.known else store.load(entity, remote.id)
    if state is None and isinstance(remote, Resident) and remote_id is not None:
        return _same_person(engine, remote, remote_id, version)
    if state is None:
        if resource_type == "Patient" and not engine.options.organization_id:
            return None  # without the clinic's Organization, a Patient is not known to be ours
        return adopt(entity, remote, remote_id=remote_id, remote_version=version)
    if state.remote_id == remote_id and state.remote_version == version:
        return None  # our own write, echoed back
    return reconcile(state, remote, remote_id=remote_id, remote_version=version, action="sync.pull")


def _same_person(engine: SyncEngine, remote: Resident, remote_id: str, version: str | None) -> Write | None:
    """A Patient new to this PC: the resident with its ID card number if there is one, else a new resident."""
    store = engine.store
    local_id = store.resident_by_remote(remote_id) or store.resident_by_id_number(remote.id_number)
    state = store.load(RESIDENTS, local_id) if local_id is not None else None
    if state is None:
        if not engine.options.organization_id:
            return None  # without the clinic's Organization, a Patient is not known to be ours
        return adopt(RESIDENTS, remote, remote_id=remote_id, remote_version=version)
    if state.remote_id is not None and state.remote_id != remote_id:
        reason = (
            f"it has the ID card number of a resident already linked to Patient/{state.remote_id[:64]}: "
            "two Patients for one person on the platform, to be merged there"
        )
        engine.report.errors.append(f"Patient/{remote_id[:64]} was set aside: {reason}")
        store.park_pulled("Patient", remote_id, reason)
        engine.report.parked += 1
        return None
    if state.remote_id == remote_id:
        return reconcile(state, remote, remote_id=remote_id, remote_version=version, action="sync.pull")
    return adoption(state, remote, remote_id=remote_id, remote_version=version)


def _resident_of(engine: SyncEngine, patient: str) -> str | None:
    found = engine.patients.get(patient)
    if found is None:
        found = engine.store.resident_by_remote(patient)
        if found is not None:
            engine.patients[patient] = found
    return found


def _after(a: str, b: str) -> bool:
    return parse_instant(a, "cursor") > parse_instant(b, "cursor")
