"""Push: the outbox in order (critical readings first), in transaction Bundles sized to the link.

Every create is conditional on the record's identifier or a PUT to its client id, and every update
carries If-Match with the last versionId the platform confirmed, so a retry after a lost answer
duplicates nothing and a stale update is refused, never applied. A resident goes in the same
Bundle as (and before) the first record that refers to it. When the platform refuses a whole
Bundle, it is split in halves until the one record at fault is found: that record is parked with
the platform's reason, the rest is sent. A 409/412 on one record pulls the platform's version and
merges it (``conflicts``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from clinic_agent.core.errors import ClinicAgentError, InvalidInput, RecordChanged, StoreCorrupted
from clinic_agent.core.model import Consultation, Entry, Reading, ReadingStatus, Resident
from clinic_agent.core.sync_values import Confirmed, LocalState, Pending, Sent, Write
from sync.engine import forms, parts
from sync.engine.conflicts import adoption, deleted_versus_edited, reconcile
from sync.engine.engine import SyncEngine
from sync.engine.mapping import (
    SUBJECT_PARAM,
    companion_requests,
    comparable,
    create_request,
    from_resource,
    pairs,
    resource_type,
    to_resource,
    update_request,
)
from sync.errors import MappingError, PlatformProtocolError, PlatformRejected, SyncConflict
from sync.fhir import bundle, codes, device, patient
from sync.fhir.bundle import EntryResult, RequestEntry
from sync.fhir.common import bundle_reference, fhir_id, record_id_of, reference, token

_PLACEHOLDER = {"reference": "Patient/to-be-filled-in"}
_HALVES = (codes.SYSTOLIC, codes.DIASTOLIC)
_PART_CHANGED = (
    "refused as a conflict while unchanged on the platform: a resource sent with it (a follow-up's Encounter or"
    " Observation, a reading's heart rate) was changed on the platform by someone else; check it there, then"
    " `parked retry`"
)


@dataclass(slots=True)
class Unit:
    """One outbox row and its record, as loaded for this Bundle."""

    pending: Pending
    state: LocalState
    resource: dict[str, Any] | None = None  # mapped ahead (while the previous Bundle is on the wire)
    content: dict[str, Any] | None = None  # its comparable form
    current: dict[str, Any] | None = None  # the platform's Patient as it is, for an update to lay ours over
    task: forms.TaskCopy | None = None  # a withdrawn consultation's Task as the platform holds it, read just now


@dataclass(slots=True)
class Built:
    """The requests of one Bundle and, for each, the unit (or device id) it belongs to."""

    entries: list[RequestEntry] = field(default_factory=list)
    owners: list[Unit | str | None] = field(default_factory=list)  # None: a part of the unit before it
    sent: dict[int, dict[str, object]] = field(default_factory=dict)  # seq -> comparable content sent
    units: list[Unit] = field(default_factory=list)
    riders: dict[int, Unit] = field(default_factory=dict)  # seq of a systolic half -> its diastolic, in its panel


async def push(engine: SyncEngine) -> None:
    """Send every pending outbox row once (those queued during the run wait for the next pass).

    The next Bundle's records are read while the current one is on the wire: the store and the
    platform work at the same time. A resident in flight is not brought into the next Bundle; by
    the time that Bundle is built, it is confirmed (and referred to by id) or it failed (and what
    refers to it waits).
    """
    after: tuple[int, int] | None = None
    upcoming = asyncio.create_task(_next(engine, after))
    try:
        while True:
            items, units = await upcoming
            if not items:
                return
            after = (items[-1].priority, items[-1].seq)
            engine.in_flight = {u.state.record.id for u in units if isinstance(u.state.record, Resident)}
            upcoming = asyncio.create_task(_next(engine, after))
            if units:
                await _send(engine, units)
    finally:
        upcoming.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await upcoming
        engine.in_flight = set()


async def _next(engine: SyncEngine, after: tuple[int, int] | None) -> tuple[list[Pending], list[Unit]]:
    items = await engine.db(engine.store.pending, limit=engine.sizer.size, after=after)
    units = await engine.db(_prepare, engine, items) if items else []
    return items, units


def _prepare(engine: SyncEngine, items: Sequence[Pending]) -> list[Unit]:
    """Load each row's record; bring an unconfirmed resident in before what refers to it."""
    store = engine.store
    units: list[Unit] = []
    seen: set[int] = set()
    for item in items:
        if item.seq in seen:
            continue
        try:
            state = store.load(item.entity, item.entity_id)
        except StoreCorrupted as exc:  # a damaged row is set aside with the reason; the rest goes on
            store.park(item.seq, str(exc))
            engine.report.parked += 1
            continue
        if state is None:
            store.drop(item.seq)
            continue
        record = state.record
        if state.outbox == "conflict":
            continue  # held until the doctor resolves it: sending it now would overwrite the platform's value
        if resource_type(record) is None:
            store.keep_local(item.seq, "no platform form yet for this kind of entry; it stays on this PC")
            continue
        if record.deleted and state.remote_id is None and item.attempts == 0 and state.base is None:
            store.drop(item.seq)  # never left this PC: nothing to delete upstream
            continue
        owner = record.resident_id if isinstance(record, Entry | Reading) else None
        if owner is not None and not _resident_ready(engine, owner, units, seen):
            continue  # its resident is parked or in conflict: this waits, the rest goes on
        units.append(Unit(item, state))
        seen.add(item.seq)
    for unit in units:
        _map_ahead(engine, unit)
    return units


def _map_ahead(engine: SyncEngine, unit: Unit) -> None:
    """Map a record now; only its reference to the resident is filled in when the Bundle is built."""
    record = unit.state.record
    if record.deleted and not isinstance(record, Resident):
        return
    organization = reference("Organization", engine.options.organization_id) if engine.options.organization_id else None
    try:
        unit.resource = to_resource(
            record, subject=_PLACEHOLDER, organization=organization, ns=engine.options.namespace
        )
    except (MappingError, InvalidInput):
        return  # mapped again when built, and parked there with the reason
    unit.content = comparable(record)


def _resident_ready(engine: SyncEngine, resident_id: str, units: list[Unit], seen: set[int]) -> bool:
    if resident_id in engine.resident_refs or resident_id in engine.in_flight:
        return True
    if any(u.state.record.id == resident_id for u in units):
        return True
    resident = engine.store.load("residents", resident_id)
    if resident is None:
        return False
    if resident.remote_id is not None and resident.remote_version is not None:
        engine.resident_refs[resident_id] = resident.remote_id
        return True
    pending = engine.store.pending_for("residents", resident_id)
    if pending is None:
        return False
    units.append(Unit(pending, resident))
    seen.add(pending.seq)
    return True


async def _send(engine: SyncEngine, units: list[Unit]) -> None:
    units = await _join_known_patients(engine, units)
    units = await _read_current_patients(engine, units)
    for unit in units:  # a withdrawal cancels the Task as it is now, whether or not this PC ever pulled it
        if forms.cancels_task(unit.state):
            unit.task = await forms.read_task(engine, unit.state.record.id)
    forms_published, publishing = await forms.questionnaire_requests(engine, [u.state.record for u in units])
    built = await engine.db(_build, engine, units)
    if not built.entries:
        return
    built.entries[:0] = forms_published  # the Questionnaires the follow-ups answer, where the platform lacks them
    built.owners[:0] = [None] * len(forms_published)
    sent = [
        Sent(
            u.pending.seq,
            u.pending.entity,
            u.pending.entity_id,
            first_base=built.sent[u.pending.seq] if _first_send(u) else None,
            content=None if u.state.record.deleted or _first_send(u) else built.sent[u.pending.seq],
        )
        for u in built.units
    ]
    await engine.db(engine.store.mark_sent, sent)
    try:
        results = await engine.transaction(built.entries)
        forms.published(engine).update(publishing)
    except PlatformRejected as exc:
        await engine.db(engine.store.unsend, [u.pending.seq for u in built.units])  # rolled back: not sent
        await _refused(engine, built.units, exc.reason or str(exc))
        return
    except SyncConflict:
        await engine.db(engine.store.unsend, [u.pending.seq for u in built.units])
        if len(built.units) == 1:
            await _conflict(engine, built.units[0])
        else:
            await _halves(engine, built.units)
        return
    results = await _with_found_resources(engine, built, results)
    await engine.db(_apply_results, engine, built, results)


async def _join_known_patients(engine: SyncEngine, units: list[Unit]) -> list[Unit]:
    """Before a resident is created, ask the platform whether it already holds that person.

    The platform's Patient with the same national ID card number *is* the resident: it is adopted
    (linked, and the two merged, differences to the doctor) instead of a second Patient being made.
    Two or more such Patients are the platform's to sort out: the resident is parked with the reason.
    """
    kept: list[Unit] = []
    for unit in units:
        record = unit.state.record
        if not isinstance(record, Resident) or unit.state.remote_id is not None or record.deleted:
            kept.append(unit)
            continue
        query = [("identifier", token(codes.ID_CARD_SYSTEM, record.id_number))]
        try:
            page = await engine.call(engine.platform.search, "Patient", query)
        except PlatformRejected as exc:
            reason = f"the platform refused the lookup by ID card number: {exc.reason or exc}"
            await engine.db(engine.store.park, unit.pending.seq, reason)
            engine.report.parked += 1
            continue
        found = [r for r in page.resources if isinstance(r, dict) and r.get("resourceType") == "Patient"]
        if not found:
            kept.append(unit)  # created below, conditionally on the ID card number
            continue
        if len(found) > 1:
            ids = ", ".join(f"Patient/{str(r.get('id'))[:64]}" for r in found[:5])
            reason = f"the platform holds {len(found)} Patients with this ID card number ({ids}); link by hand"
            await engine.db(engine.store.park, unit.pending.seq, reason)
            engine.report.parked += 1
            continue
        await _adopt(engine, unit, found[0])
    return kept


async def _read_current_patients(engine: SyncEngine, units: list[Unit]) -> list[Unit]:
    """Read the Patient each resident update goes to: the update keeps what the platform holds
    beyond what this PC models (a hospital's identifiers, contacts, other addresses)."""
    kept: list[Unit] = []
    for unit in units:
        state = unit.state
        if not isinstance(state.record, Resident) or state.remote_id is None or state.remote_version is None:
            kept.append(unit)
            continue
        try:
            current = await engine.call(engine.platform.read, "Patient", state.remote_id)
        except PlatformRejected as exc:
            reason = f"the platform no longer has this resident's Patient: {exc.reason or exc}"
            await engine.db(engine.store.park, unit.pending.seq, reason)
            engine.report.parked += 1
            continue
        if current.version_id is not None and current.version_id != state.remote_version:
            await _conflict(engine, unit)  # changed upstream since we last saw it: merge first
            continue
        unit.current = current.resource
        kept.append(unit)
    return kept


async def _adopt(engine: SyncEngine, unit: Unit, resource: dict[str, Any]) -> None:
    remote_id = resource.get("id") if isinstance(resource.get("id"), str) else None
    meta = resource.get("meta")
    version = meta.get("versionId") if isinstance(meta, dict) and isinstance(meta.get("versionId"), str) else None
    try:
        remote = from_resource(resource, resident_id=None, ns=engine.options.namespace)
    except (PlatformProtocolError, InvalidInput) as exc:
        await engine.db(engine.store.park, unit.pending.seq, f"the platform's Patient cannot be read: {exc}")
        engine.report.parked += 1
        return
    latest = await engine.db(engine.store.load, unit.state.entity, unit.state.record.id)
    if latest is None or remote_id is None:
        return
    write = adoption(latest, remote, remote_id=remote_id, remote_version=version)
    try:
        counts = await engine.db(engine.store.apply, [write], actor=engine.options.actor)
    except RecordChanged:
        return  # edited meanwhile: still queued, the next pass looks again
    engine.note_conflicts(counts.conflicts)
    engine.report.adopted += 1
    engine.resident_refs[write.record.id] = remote_id


async def _with_found_resources(engine: SyncEngine, built: Built, results: list[EntryResult]) -> list[EntryResult]:
    """A create that found a copy already there (200) is compared with what was sent: read it if not echoed."""
    complete = list(results)
    for index, (owner, result) in enumerate(zip(built.owners, results, strict=True)):
        found = isinstance(owner, Unit) and owner.state.remote_version is None and result.status == 200
        if found and result.resource is None and result.resource_type and result.resource_id:
            try:
                read = await engine.call(engine.platform.read, result.resource_type, result.resource_id)
            except PlatformRejected:
                continue
            complete[index] = dataclasses.replace(result, resource=read.resource, version_id=read.version_id)
    return complete


def _first_send(unit: Unit) -> bool:
    state = unit.state
    return state.remote_version is None and state.base is None and not state.record.deleted


async def _refused(engine: SyncEngine, units: list[Unit], reason: str) -> None:
    if len(units) == 1:
        await engine.db(engine.store.park, units[0].pending.seq, reason)
        engine.report.parked += 1
    else:
        await _halves(engine, units)


async def _halves(engine: SyncEngine, units: list[Unit]) -> None:
    """Bisect: the first half first (a resident confirmed there is referred to by id in the second)."""
    middle = len(units) // 2
    for half in (units[:middle], units[middle:]):
        await _send(engine, half)


def _build(engine: SyncEngine, units: list[Unit]) -> Built:
    built = Built()
    in_bundle = {u.state.record.id for u in units if isinstance(u.state.record, Resident)}
    devices: set[str] = set()
    partners = pairs([u.state.record for u in units if _first_send(u)])  # halves of one BP, entered apart
    by_id = {u.state.record.id: u for u in units}
    riding = {d.id for d in partners.values()}
    for unit in units:
        record = unit.state.record
        if record.id in riding:
            continue  # goes up inside its systolic half's panel
        subject = None
        if isinstance(record, Entry | Reading) and record.resident_id is not None:
            ref = engine.resident_refs.get(record.resident_id)
            if ref is not None:
                subject = reference("Patient", ref)
            elif record.resident_id in in_bundle:
                subject = bundle_reference(record.resident_id)
            else:
                continue  # its resident was parked in this very Bundle: it waits
        try:
            entry = _request(engine, unit, subject, partners.get(record.id))
            forms.attach_references(engine, record, entry.resource)  # a consultation's attached records
            # a follow-up's Encounter and Observations, a consultation's Task
            parts = forms.part_requests(engine, unit.state, subject, task=unit.task)
            parts += companion_requests(  # a BP reading's heart rate as its own Observation
                record,
                entry,
                create_by=engine.capabilities.create_by("Observation"),
                plain_post=engine.options.plain_post,
                ns=engine.options.namespace,
            )
        except (MappingError, InvalidInput) as exc:
            engine.store.park(unit.pending.seq, f"cannot be expressed in FHIR: {exc}")
            engine.report.parked += 1
            continue
        if isinstance(record, Reading) and record.device is not None and entry.resource is not None:
            if record.device.id not in engine.devices and record.device.id not in devices:
                devices.add(record.device.id)
                built.entries.append(
                    bundle.put(
                        device.to_fhir(record.device, ns=engine.options.namespace),
                        device.client_id(record.device),
                        create_only=True,  # a Device the platform holds (edited there, perhaps) is left as it is
                    )
                )
                built.owners.append(record.device.id)
            entry.resource["device"] = device.device_reference(record.device)
        built.entries.append(entry)
        built.owners.append(unit)
        built.entries.extend(parts)
        built.owners.extend([None] * len(parts))
        built.units.append(unit)
        built.sent[unit.pending.seq] = unit.content if unit.content is not None else comparable(record)
        partner = partners.get(record.id)
        if partner is not None:
            rider = by_id[partner.id]
            built.units.append(rider)
            built.sent[rider.pending.seq] = rider.content if rider.content is not None else comparable(partner)
            built.riders[unit.pending.seq] = rider
    return built


def _request(
    engine: SyncEngine, unit: Unit, subject: dict[str, str] | None, partner: Reading | None = None
) -> RequestEntry:
    state = unit.state
    record = state.record
    kind = resource_type(record) or ""
    if record.deleted and not isinstance(record, Resident) and not forms.retracts(record):
        if state.remote_id is not None:  # only the version this PC last saw (sync.engine.versions checks it)
            return bundle.delete(kind, state.remote_id, version_id=state.remote_version)
        if engine.capabilities.create_by(kind) != "conditional-create":
            return bundle.delete(kind, fhir_id(record.id))
        return bundle.delete_by_identifier(kind, record.id)
    halves = _panel_halves(engine, state) if partner is None else None
    if halves is not None:  # one half of a panel sent for two readings: the update is the whole panel
        resource = to_resource(
            halves[0], subject=subject, organization=None, partner=halves[1], ns=engine.options.namespace
        )
    elif unit.resource is not None and partner is None:
        resource = dict(unit.resource)
        if not isinstance(record, Resident):
            resource[SUBJECT_PARAM[kind]] = subject
    else:
        organization = (
            reference("Organization", engine.options.organization_id) if engine.options.organization_id else None
        )
        resource = to_resource(
            record, subject=subject, organization=organization, partner=partner, ns=engine.options.namespace
        )
    if state.remote_id is not None and state.remote_version is not None:
        if unit.current is not None:
            resource = patient.overlay(unit.current, resource, ns=engine.options.namespace)
        return update_request(record, resource, state.remote_id, state.remote_version)
    create_by = engine.capabilities.create_by(kind)
    return create_request(record, resource, create_by=create_by, plain_post=engine.options.plain_post)


def _panel_halves(engine: SyncEngine, state: LocalState) -> tuple[Reading, Reading] | None:
    """(systolic, diastolic) when this reading went up as half of one panel with another reading.

    Updating the panel from one half alone would drop the other's value on the platform; a half
    marked entered-in-error marks the panel so (the panel as a whole is then wrong).
    """
    record = state.record
    if not isinstance(record, Reading) or state.remote_id is None or record.code not in _HALVES:
        return None
    other_id = engine.store.other_half(state.remote_id, record.id)
    other = engine.store.load(state.entity, other_id) if other_id is not None else None
    if other is None or not isinstance(other.record, Reading):
        return None
    systolic, diastolic = (record, other.record) if record.code == codes.SYSTOLIC else (other.record, record)
    if ReadingStatus.ENTERED_IN_ERROR in (systolic.status, diastolic.status):
        systolic = dataclasses.replace(systolic, status=ReadingStatus.ENTERED_IN_ERROR)
    return systolic, diastolic


def _apply_results(engine: SyncEngine, built: Built, results: list[EntryResult]) -> None:
    confirmed: list[Confirmed] = []
    merges: list[Write] = []
    devices: list[str] = []
    for owner, entry, result in zip(built.owners, built.entries, results, strict=True):
        if owner is None:
            continue  # a part of a record, or a Questionnaire: it stands or falls with the transaction
        if isinstance(owner, str):
            devices.append(owner)
            continue
        rider = built.riders.get(owner.pending.seq)
        if not result.ok:
            for unit in (owner, rider) if rider else (owner,):
                engine.store.park(unit.pending.seq, result.reason or f"refused with status {result.status}")
                engine.report.parked += 1
            continue
        done = _confirmed(engine, owner, entry, result, built.sent[owner.pending.seq])
        if isinstance(done, Write):
            merges.append(done)
        else:
            confirmed.append(done)
            if rider is not None:  # the diastolic half is the same panel
                half = rider.state.record
                sent = dict(built.sent[rider.pending.seq])
                first = _first_send(rider)
                confirmed.append(
                    Confirmed(
                        rider.pending.seq,
                        rider.state.entity,
                        half.id,
                        half.version,
                        done.remote_id,
                        done.remote_version,
                        sent,
                        base_stored=first,
                    )
                )
            if isinstance(owner.state.record, Resident) and done.remote_id:
                engine.resident_refs[owner.state.record.id] = done.remote_id
    engine.store.confirm(confirmed, devices=devices)
    confirmed_ids = {c.entity_id for c in confirmed}
    records = [owner.state.record if isinstance(owner, Unit) else None for owner in built.owners]
    for record_id, versions in parts.confirmed(records, built.entries, results).items():
        if record_id in confirmed_ids:  # each part's own version: its next update carries If-Match on it
            engine.store.save_part_versions(record_id, versions)
    engine.devices.update(devices)
    engine.report.pushed += len(confirmed)
    for write in merges:
        try:
            counts = engine.store.apply([write], actor=engine.options.actor)
        except (RecordChanged, ClinicAgentError):
            continue  # edited meanwhile: still queued, the next pass sorts it out
        engine.note_conflicts(counts.conflicts)
        if isinstance(write.record, Resident) and write.remote_id:
            engine.resident_refs[write.record.id] = write.remote_id


def _confirmed(
    engine: SyncEngine, unit: Unit, entry: RequestEntry, result: EntryResult, sent: dict[str, object]
) -> Confirmed | Write:
    state = unit.state
    record = state.record
    if entry.method == "DELETE":
        return Confirmed(unit.pending.seq, state.entity, record.id, record.version, state.remote_id, None, None)
    remote_id = result.resource_id or state.remote_id
    if result.replaced is not None and state.remote_version is None:
        replaced = _replaced_copy(engine, unit, result, sent)
        if replaced is not None:
            return replaced
    found_existing = state.remote_version is None and result.status == 200 and result.resource is not None
    if found_existing and result.resource is not None:
        resident_id = record.resident_id if isinstance(record, Entry | Reading) else None
        try:
            remote = from_resource(result.resource, resident_id=resident_id, ns=engine.options.namespace)
        except (PlatformProtocolError, InvalidInput):
            remote = None
        if remote is not None and isinstance(record, Resident) and record_id_of(result.resource) != record.id:
            # Someone else's Patient with the same ID card number, made since we looked: the same person.
            return adoption(state, remote, remote_id=remote_id, remote_version=result.version_id)
        if remote is not None and comparable(remote) != sent:
            # A copy was already there (an earlier try whose answer was lost, perhaps edited since): merge.
            base = state.base if state.base is not None else sent
            pending_state = dataclasses.replace(state, base=dict(base), outbox="pending")
            return reconcile(
                pending_state, remote, remote_id=remote_id, remote_version=result.version_id, action="sync.merge"
            )
    return Confirmed(
        unit.pending.seq,
        state.entity,
        record.id,
        record.version,
        remote_id,
        result.version_id,
        dict(sent),
        base_stored=_first_send(unit),  # mark_sent wrote exactly this content as the base copy
    )


def _replaced_copy(engine: SyncEngine, unit: Unit, result: EntryResult, sent: dict[str, object]) -> Write | None:
    """A first write that replaced a copy made in between (a late first attempt, edited since), on a server
    that ignored If-None-Match: that copy merged back, to be written over ours with If-Match (None: it was ours)."""
    state = unit.state
    record = state.record
    resident_id = record.resident_id if isinstance(record, Entry | Reading) else None
    try:
        remote = from_resource(result.replaced or {}, resident_id=resident_id, ns=engine.options.namespace)
    except (PlatformProtocolError, InvalidInput):
        return None
    if comparable(remote) == sent:
        return None  # the copy replaced was our own, unchanged
    base = state.base if state.base is not None else sent
    pending_state = dataclasses.replace(state, base=dict(base), outbox="pending")
    write = reconcile(
        pending_state, remote, remote_id=result.resource_id, remote_version=result.version_id, action="sync.merge"
    )
    return write if write.outbox != "done" else dataclasses.replace(write, outbox="pending")  # the platform has ours


async def _conflict(engine: SyncEngine, unit: Unit) -> None:
    """The platform holds a newer version: read it and merge it against the base copy."""
    state = unit.state
    kind = resource_type(state.record) or ""
    if state.remote_id is None:
        await engine.db(engine.store.park, unit.pending.seq, "the platform reports a conflict on a new record")
        engine.report.parked += 1
        return
    try:
        current = await engine.call(engine.platform.read, kind, state.remote_id)
    except PlatformRejected as exc:
        await engine.db(engine.store.park, unit.pending.seq, f"the platform no longer has it: {exc.reason or exc}")
        engine.report.parked += 1
        return
    if await parts.refused(engine, state, unit.pending.seq, current):
        return  # a follow-up's part edited on the platform: merged, in the inbox, or parked (sync.engine.parts)
    if current.version_id is not None and current.version_id == state.remote_version:
        if isinstance(state.record, Consultation):
            return  # its Task changed between our read and write: read again and laid over at the next pass
        await engine.db(engine.store.park, unit.pending.seq, _PART_CHANGED)  # sending it again would replace that edit
        engine.report.parked += 1
        return
    record = state.record
    resident_id = record.resident_id if isinstance(record, Entry | Reading) else None
    try:
        remote = from_resource(current.resource, resident_id=resident_id, ns=engine.options.namespace)
    except (PlatformProtocolError, InvalidInput) as exc:
        await engine.db(engine.store.park, unit.pending.seq, f"the platform's newer version cannot be read: {exc}")
        engine.report.parked += 1
        return
    latest = await engine.db(engine.store.load, state.entity, record.id)
    if latest is None:
        return
    deleting = not isinstance(record, Resident) and not forms.retracts(record)  # a DELETE, refused (412)
    write = (
        deleted_versus_edited(latest, remote, remote_id=state.remote_id, remote_version=current.version_id)
        if deleting
        else None
    ) or reconcile(latest, remote, remote_id=state.remote_id, remote_version=current.version_id, action="sync.merge")
    try:
        counts = await engine.db(engine.store.apply, [write], actor=engine.options.actor)
    except RecordChanged:
        return  # edited meanwhile: it stays queued and the next pass merges again
    engine.note_conflicts(counts.conflicts)
