"""A record's parts on the platform, each with its own version: a follow-up's Encounter and Observations.

A follow-up goes up as its QuestionnaireResponse and its parts (``sync.engine.forms``). Each part
keeps the platform id and versionId last confirmed for it (``SyncStore.part_versions``), and an
update of the part is a PUT to that id with ``If-Match`` on that version. A part edited on the
platform since (a hospital correcting a value, another PC) refuses the transaction (412), so it is
never replaced unseen; ``refused`` then reads the parts back and sorts out why:

- a part holds what the platform's form says (another PC edited the form and its parts, and this PC
  pulled the form): only its version moves on, and the form goes again;
- a part holds another value of the form (a corrected systolic): the platform's form with that value
  is merged three-way with the doctor's like any record: a field the doctor changed too is a
  conflict in the doctor's inbox, another field is taken in;
- a part differs in what the form does not hold (a note on the Observation): the form is parked
  with the reason, and ``parked retry`` (once the doctor has looked) sends it over that version.

Parts confirmed before this was kept have no version here: their update stays a conditional update
by identifier, read just before (``sync.engine.versions``), and their version is kept from then on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from clinic_agent.core.errors import InvalidInput, RecordChanged
from clinic_agent.core.model import FollowUp
from clinic_agent.core.sync_values import LocalState, Record
from sync.engine.conflicts import reconcile
from sync.engine.engine import SyncEngine
from sync.engine.mapping import from_resource, with_remote
from sync.errors import PlatformProtocolError, PlatformRejected
from sync.fhir import bundle, followup
from sync.fhir.bundle import EntryResult, RequestEntry
from sync.fhir.common import entry_url
from sync.platform import ReadResult


def update(part: followup.Part, known: dict[str, tuple[str, str]]) -> RequestEntry | None:
    """The update of a part this PC has a version of: a PUT to its id with If-Match (None: no version kept)."""
    found = known.get(part.record_id)
    if found is None:
        return None
    remote_id, version = found
    return bundle.put(part.resource, remote_id, version_id=version, record_id=part.record_id)


def confirmed(
    records: Sequence[Record | None], entries: Sequence[RequestEntry], results: Sequence[EntryResult]
) -> dict[str, dict[str, tuple[str, str]]]:
    """The parts' ids and versions in a transaction's answer, per follow-up: record id -> part id -> (id, version).

    ``records`` is aligned with ``entries``: the record an entry sends, None for a part (it follows
    its record), a Questionnaire or a Device.
    """
    found: dict[str, dict[str, tuple[str, str]]] = {}
    owner: Record | None = None
    urls: dict[str, str] = {}
    for record, entry, result in zip(records, entries, results, strict=True):
        if record is not None:
            owner = record
            urls = _part_urls(record) if isinstance(record, FollowUp) else {}
            continue
        part = urls.get(entry.full_url or "")
        if owner is None or part is None or not result.ok or not result.resource_id or not result.version_id:
            continue
        found.setdefault(owner.id, {})[part] = (result.resource_id, result.version_id)
    return found


def _part_urls(record: FollowUp) -> dict[str, str]:
    ids = (followup.part_id(record.id, name) for name in followup.PART_NAMES)
    return {entry_url(part): part for part in ids}


async def refused(engine: SyncEngine, state: LocalState, seq: int, form: ReadResult) -> bool:
    """A follow-up's transaction was refused as a conflict: read its parts; True when that explained it.

    ``form`` is the platform's QuestionnaireResponse as just read. False (nothing done) when no part
    moved on since this PC confirmed it: the form itself changed, or a part with no version kept here.
    """
    record = state.record
    if not isinstance(record, FollowUp) or state.remote_id is None:
        return False
    known = await engine.db(engine.store.part_versions, record.id)
    names = {followup.part_id(record.id, name): name for name in followup.PART_NAMES}
    moved: dict[str, tuple[str, ReadResult]] = {}
    for part, (remote_id, version) in known.items():
        name = names.get(part)
        if name is None:
            continue
        kind = followup.part_type(name)
        try:
            read = await engine.call(engine.platform.read, kind, remote_id)
        except PlatformRejected as exc:
            if exc.status not in (404, 410):
                raise
            reason = f"its {kind}/{remote_id[:64]} was deleted on the platform; check it there, then `parked retry`"
            await _park(engine, seq, reason)
            return True
        if read.version_id is not None and read.version_id != version:
            moved[part] = (name, read)
    if not moved:
        return False
    try:
        platform_form = from_resource(form.resource, resident_id=record.resident_id, ns=engine.options.namespace)
        values: dict[str, Any] = {}
        for name, read in moved.values():
            values.update(followup.form_values(name, read.resource))
        remote = with_remote(platform_form, values)
    except (PlatformProtocolError, InvalidInput, TypeError, ValueError) as exc:
        await _park(engine, seq, f"a part of it changed on the platform and cannot be read: {exc}")
        return True
    unexplained = _unexplained(engine, remote, form, moved)
    latest = await engine.db(engine.store.load, state.entity, record.id)
    if latest is None:
        return True
    write = reconcile(latest, remote, remote_id=state.remote_id, remote_version=form.version_id, action="sync.merge")
    if unexplained and write.conflict is None:
        write = dataclasses.replace(write, outbox="keep")  # parked below: the doctor looks first
    try:
        counts = await engine.db(engine.store.apply, [write], actor=engine.options.actor)
    except RecordChanged:
        return True  # edited meanwhile: still queued, and refused again until sorted out
    engine.note_conflicts(counts.conflicts)
    versions = {part: (read.resource.get("id") or known[part][0], read.version_id) for part, (_, read) in moved.items()}
    await engine.db(
        engine.store.save_part_versions, record.id, {p: (str(i), str(v)) for p, (i, v) in versions.items() if v}
    )
    if unexplained and write.conflict is None:
        kinds = ", ".join(f"{followup.part_type(n)}/{str(r.resource.get('id'))[:64]}" for n, r in unexplained)
        await _park(engine, seq, f"{_CHANGED} ({kinds}){_CHECK}")
    return True


_CHANGED = "a part of it was changed on the platform by someone else, beyond what the form holds"
_CHECK = ": check it there, then `parked retry` sends the form over it"


def _unexplained(
    engine: SyncEngine, remote: Record, form: ReadResult, moved: dict[str, tuple[str, ReadResult]]
) -> list[tuple[str, ReadResult]]:
    """The moved parts that hold more than the platform's form (with their values) says."""
    if not isinstance(remote, FollowUp):
        return list(moved.values())
    subject = form.resource.get("subject")
    try:
        expected = {
            p.name: p.resource
            for p in followup.parts(
                remote,
                subject=subject if isinstance(subject, dict) else {},
                organization=None,
                ns=engine.options.namespace,
            )
        }
    except (PlatformProtocolError, InvalidInput, ValueError):
        expected = {}
    return [(name, read) for name, read in moved.values() if not followup.same_part(expected.get(name), read.resource)]


async def _park(engine: SyncEngine, seq: int, reason: str) -> None:
    await engine.db(engine.store.park, seq, reason)
    engine.report.parked += 1
