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
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
                if _scoped(engine, resource_type):
                    await _pull_newcomers(engine, resource_type)
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


def _fetch_size(engine: SyncEngine) -> int:
    """Records asked for per search page."""
    return engine.options.fetch_size or engine.options.page_size


def _params(
    engine: SyncEngine, resource_type: str, cursor: str | None, patients: list[str] | None = None
) -> list[tuple[str, str]]:
    params = [("_sort", "_lastUpdated"), ("_count", str(_fetch_size(engine)))]
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


# Where a page applied leaves its mark: the type's cursor, or a walk by lists' progress (``_Walk``).
Mark = Callable[[str], tuple[str, str]]


async def _pull_type(
    engine: SyncEngine,
    resource_type: str,
    patients: list[str] | None = None,
    progress: Progress | None = None,
    cursor: str | None = None,
    mark: Mark | None = None,
) -> str | None:
    """Walk the pages; the next page is fetched while this one is applied (the server and the store overlap).

    Each page is applied with its cursor, so a pull cut short (the link, the power) goes on from the
    last page applied. Progress is told after every page: records, pages, the platform's total for
    this type (from the first page), and the time left at the pace so far.

    With ``patients`` (a list of the clinic's Patient ids, ``_by_patient_list``), the walk starts at
    ``cursor``, each slice applied saves ``mark(cursor reached)`` (the walk's progress, not the
    type's cursor), and it returns the newest ``lastUpdated`` it applied.
    """
    own_cursor = patients is None
    if own_cursor:
        cursor = await engine.db(engine.store.cursor, resource_type)
        mark = _type_cursor(resource_type)
    page: SearchPage | None = await engine.call(
        engine.platform.search, resource_type, _params(engine, resource_type, cursor, patients)
    )
    progress = progress or Progress(resource_type, page.total if page is not None else None)
    while page is not None:
        newest = _newest(page.resources)
        following: asyncio.Task[SearchPage | None] | None = None
        stuck = False
        # A full page means there may be more even without a next link (Medplum's router gives none).
        if page.next_url is not None or len(page.resources) >= _fetch_size(engine):
            if newest is not None and newest != cursor:
                following = asyncio.create_task(
                    engine.call(engine.platform.search, resource_type, _params(engine, resource_type, newest, patients))
                )
            elif page.next_url is not None:  # a whole page at one instant: step over it by the platform's own link
                following = asyncio.create_task(engine.call(engine.platform.next_page, page))
            else:
                stuck = True
                engine.report.errors.append(
                    f"{resource_type}: a whole page changed at one instant and the platform links no next page;"
                    " the rest cannot be read with pages of this size"
                )
        try:
            moved = await _apply_in_slices(engine, resource_type, page.resources, cursor, mark)
        except BaseException:
            if following is not None:
                following.cancel()
            raise
        engine.on_progress(progress.page_done(page.resources))
        # Not all of the page applied, or the rest unreadable: stop here (the cursor where it got), retry next run.
        if stuck or (newest is not None and moved != newest):
            if following is not None:
                following.cancel()
            if own_cursor:
                return moved
            raise _Unapplied
        if following is None:
            return moved
        cursor = moved
        page = await following
    return cursor


def _type_cursor(resource_type: str) -> Mark:
    return lambda moved: (resource_type, moved)


class _Unapplied(Exception):
    """A page could not be applied (or what follows it read): the walk stops, the next run goes on from there."""


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
    if not _scoped(engine, resource_type):
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


def _scoped(engine: SyncEngine, resource_type: str) -> bool:
    """Whether this type is pulled for the clinic's Patients (by a chained search or by lists of them)."""
    if resource_type == "Patient" or not engine.options.organization_id:
        return False
    return engine.capabilities.searchable(resource_type, SUBJECT_PARAM[resource_type])


async def _pull_newcomers(engine: SyncEngine, resource_type: str) -> None:
    """After a chained search: the whole history of this type for the Patients new to this PC since the last pull.

    The chained search asks for what changed since the type's cursor, so a Patient assigned to the
    clinic (or adopted at registration) after the type's first pull would bring down only its records
    changed since, not its older history. Those Patients are asked by lists, from the start; the
    first pull's own scope (the Patients linked when it ended) needs no second walk.
    """
    store = engine.store
    if await engine.db(store.cursor, resource_type + COVERED) is None:
        patients = await engine.db(store.linked_patients)
        covered = (resource_type + COVERED, "\n".join(sorted(patients)))
        await engine.db(store.apply, [], cursor=covered, actor=engine.options.actor)
        return
    await _pull_type_by_patients(engine, resource_type, newcomers_only=True)


async def _pull_type_by_patients(engine: SyncEngine, resource_type: str, *, newcomers_only: bool = False) -> None:
    """The pull of one type by lists of the clinic's Patients; the type's cursor moves once every list is walked.

    A Patient whose records of this type were never walked from the start (new to this PC since the
    last walk: assigned to the clinic, adopted at registration) is asked without ``_lastUpdated``, so
    its older history comes down too; the others from the type's cursor (none with ``newcomers_only``,
    which leaves the cursor to the chained search). Resumable like a walk by one search: each slice
    applied saves the walk's progress (``_Walk``, under ``<Type>#walk``), and a walk cut short goes on
    at the next run from the list and page it had reached, skipping the lists done.
    """
    store, actor = engine.store, engine.options.actor
    cursor = await engine.db(store.cursor, resource_type)
    patients = await engine.db(store.linked_patients)
    covered = set((await engine.db(store.cursor, resource_type + COVERED) or "").split())
    fresh = [p for p in patients if p not in covered]
    if newcomers_only and not fresh:
        return
    stored = await engine.db(store.cursor, resource_type + WALK)
    walk = _Walk.decode(stored) or _Walk(began=since(utcnow() - _LIST_MARGIN))
    lists: list[tuple[list[str], str | None]] = [(chunk, None) for chunk in _chunks(fresh)]
    if not newcomers_only:
        lists += [(chunk, cursor) for chunk in _chunks([p for p in patients if p in covered])]
    progress = Progress(resource_type, None)
    for chunk, start in lists:
        name = _list_name(chunk, start)
        if name in walk.done:
            continue
        resumed = walk.at[1] if walk.at is not None and walk.at[0] == name else start
        mark = walk.marker(resource_type, name)
        try:
            reached = await _pull_type(engine, resource_type, chunk, progress, resumed, mark)
        except _Unapplied:
            return
        applied = walk.at is not None and walk.at[0] == name
        walk.finish(name, reached)
        if applied:  # a list that brought nothing costs one search to ask again: no transaction for it
            await engine.db(store.apply, [], cursor=(resource_type + WALK, walk.encode()), actor=actor)
    # Done: the cursor first, then who is covered, then the walk forgotten; a crash in between only
    # means Patients asked from the start again, never a record skipped.
    if not newcomers_only and walk.newest is not None and walk.newest != cursor:
        moved = min(walk.newest, walk.began, key=lambda stamp: parse_instant(stamp, "cursor"))
        if cursor is None or _after(moved, cursor):
            await engine.db(store.apply, [], cursor=(resource_type, moved), actor=actor)
    if fresh:
        await engine.db(store.apply, [], cursor=(resource_type + COVERED, "\n".join(sorted(patients))), actor=actor)
    if stored or walk.saved:
        await engine.db(store.apply, [], cursor=(resource_type + WALK, ""), actor=actor)


# The keys beside a type's cursor of a pull by lists of Patients: the walk in progress, and the Patients
# whose records of the type have been walked from the start (reset with the cursor at enrolment).
WALK = "#walk"
COVERED = "#covered"


def _chunks(patients: list[str]) -> list[list[str]]:
    ordered = sorted(patients)
    return [ordered[i : i + PATIENTS_PER_SEARCH] for i in range(0, len(ordered), PATIENTS_PER_SEARCH)]


def _list_name(patients: list[str], start: str | None) -> str:
    """A list's name in a walk's progress: the same Patients from the same cursor are the same list."""
    text = "\n".join(patients) + "|" + (start or "")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class _Walk:
    """How far a walk by lists has come: saved with every slice applied, so a cut walk goes on from there."""

    began: str  # the walk's start (a margin before): the type's cursor moves no later than this
    newest: str | None = None  # the newest change applied so far, in any list
    done: set[str] = field(default_factory=set)  # the lists walked to their end
    at: tuple[str, str] | None = None  # the list being walked and the cursor it has reached
    saved: bool = field(default=False, compare=False)  # whether this run has saved it (so it is there to forget)

    def marker(self, resource_type: str, name: str) -> Mark:
        """What a slice of list ``name`` applied saves: the walk, now at that slice's cursor."""

        def mark(moved: str) -> tuple[str, str]:
            self.at = (name, moved)
            self._saw(moved)
            self.saved = True
            return resource_type + WALK, self.encode()

        return mark

    def finish(self, name: str, reached: str | None) -> None:
        """List ``name`` was walked to its end, up to ``reached``."""
        self.done.add(name)
        self.at = None
        self._saw(reached)

    def _saw(self, stamp: str | None) -> None:
        if stamp is not None and (self.newest is None or _after(stamp, self.newest)):
            self.newest = stamp

    def encode(self) -> str:
        """The walk as the store keeps it (a cursor's value)."""
        return json.dumps({"began": self.began, "newest": self.newest, "done": sorted(self.done), "at": self.at})

    @classmethod
    def decode(cls, text: str | None) -> _Walk | None:
        """A saved walk; None for none (or one that cannot be read: the type is then walked whole again)."""
        if not text:
            return None
        try:
            found = json.loads(text)
            at = found["at"]
            walk = cls(
                began=str(found["began"]),
                newest=None if found["newest"] is None else str(found["newest"]),
                done={str(d) for d in found["done"]},
                at=None if at is None else (str(at[0]), str(at[1])),
            )
            parse_instant(walk.began, "walk")
        except (ValueError, KeyError, TypeError, IndexError, PlatformProtocolError):
            return None
        return walk


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
    engine: SyncEngine, resource_type: str, resources: list[Any], cursor: str | None, mark: Mark | None
) -> str | None:
    """Apply a page ``page_size`` records per local transaction (each with its cursor); the cursor reached.

    The page is sorted by ``lastUpdated``, so each slice's cursor follows the one before; a slice that
    could not be applied stops the rest (the next run starts from the last slice applied).
    """
    size = engine.options.page_size
    for start in range(0, len(resources), size):
        part = resources[start : start + size]
        reached = await _apply_page(engine, resource_type, part, cursor, mark)
        if reached == cursor and _newest(part) not in (None, cursor):
            return cursor
        cursor = reached
    return cursor


async def _apply_page(
    engine: SyncEngine, resource_type: str, resources: list[Any], cursor: str | None, mark: Mark | None
) -> str | None:
    """Apply a page (with ``mark`` of the cursor reached, saved in the same transaction); the cursor it reached."""
    for _ in range(_APPLY_TRIES):
        writes, newest = await engine.db(_writes, engine, resource_type, resources)
        moved = newest if newest is not None and (cursor is None or _after(newest, cursor)) else cursor
        try:
            counts = await engine.db(
                engine.store.apply,
                writes,
                cursor=mark(moved) if moved and mark is not None else None,
                actor=engine.options.actor,
            )
        except RecordChanged:
            continue  # a local edit landed meanwhile: read again and merge again
        except _ONE_RECORDS_FAULT:
            saved = mark(moved) if moved and mark is not None else None
            await engine.db(_apply_one_by_one, engine, resource_type, writes, saved)
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


def _apply_one_by_one(
    engine: SyncEngine, resource_type: str, writes: list[Write], saved: tuple[str, str] | None
) -> None:
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
    if saved is not None:
        store.apply([], cursor=saved, actor=engine.options.actor)


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
