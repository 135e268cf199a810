"""What the platform deleted comes down: a search never shows a deletion, a type's ``_history`` does.

After a type is pulled, its history since the last look (a cursor of its own, ``<Type>#deleted``)
is read for DELETE entries of resources this PC holds:

- an allergy, condition, procedure, family history, note or follow-up becomes a tombstone in the
  file (deleted, as if the doctor had deleted it, but nothing goes back up);
- a reading becomes ``entered-in-error`` (readings are never deleted; the file shows it struck out);
- when the record was edited here and not yet sent, neither side wins: the doctor's inbox gets a
  deleted-versus-edited conflict;
- a Patient is never deleted here: the resident's file stays, and the deletion is set aside with
  the reason for a person to look at (a platform merges duplicate Patients by deleting one).

The first time a type is pulled there is nothing of ours that could have been deleted before, so
the cursor starts where that pull started. SEKMET's history ``next`` link drops ``_since``
(history.py), so pages are asked for with ``_offset`` explicitly.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from clinic_agent.core.model import Reading, ReadingStatus, Resident
from clinic_agent.core.sync_values import ConflictDraft, FieldValues, LocalState, Record, Write
from sync.engine.engine import SyncEngine
from sync.engine.mapping import comparable, entity_of
from sync.fhir.history import HistoryEntry, since
from sync.merge import RECORD

SUFFIX = "#deleted"
PAGE = 500
_MAX_PAGES = 200  # 100,000 versions of one type in one run; the rest waits for the next


async def pull_deletions(engine: SyncEngine, resource_type: str, started_at: str | None) -> None:
    """Apply the deletions of one type made upstream since the last look."""
    capability = engine.capabilities.resources.get(resource_type)
    if engine.capabilities.resources and (capability is None or "history-type" not in capability.interactions):
        return  # the platform keeps no history of this type: deletions cannot be seen
    key = resource_type + SUFFIX
    cursor = await engine.db(engine.store.cursor, key) or started_at
    if cursor is None:
        return  # never pulled before this run: the next run starts from where this one began
    newest: dict[str, HistoryEntry] = {}
    latest: datetime | None = None
    for number in range(_MAX_PAGES):
        params = [("_since", cursor), ("_count", str(PAGE))]
        if number:
            params.append(("_offset", str(number * PAGE)))
        page = await engine.call(engine.platform.history, resource_type, params)
        for entry in page.entries:
            newest.setdefault(entry.resource_id, entry)  # history is newest first: the first says how it ends
            if entry.last_modified is not None and (latest is None or entry.last_modified > latest):
                latest = entry.last_modified
        if len(page.entries) < PAGE:
            break
    gone = [resource_id for resource_id, entry in newest.items() if entry.deleted]
    writes = await engine.db(_tombstones, engine, resource_type, gone) if gone else []
    moved = since(latest) if latest is not None else cursor
    counts = await engine.db(engine.store.apply, writes, cursor=(key, moved), actor=engine.options.actor)
    engine.report.pulled += counts.updated
    engine.note_conflicts(counts.conflicts)


def _tombstones(engine: SyncEngine, resource_type: str, remote_ids: list[str]) -> list[Write]:
    store = engine.store
    entity = entity_of(resource_type)
    writes = []
    for remote_id in remote_ids:
        local_id = store.record_by_remote(entity, remote_id)
        state = store.load(entity, local_id) if local_id is not None else None
        if state is None:
            continue  # not one of ours
        if isinstance(state.record, Resident):
            store.park_pulled(
                resource_type,
                remote_id,
                "deleted on the platform (merged into another Patient?); the file is kept here",
            )
            engine.report.parked += 1
            continue
        write = _tombstone(state)
        if write is not None:
            writes.append(write)
    return writes


def _tombstone(state: LocalState) -> Write | None:
    record = state.record
    gone: Record
    if isinstance(record, Reading):
        if record.status is ReadingStatus.ENTERED_IN_ERROR:
            return None
        gone = dataclasses.replace(record, status=ReadingStatus.ENTERED_IN_ERROR)
    elif record.deleted:
        return None
    else:
        gone = dataclasses.replace(record, deleted=True)
    if state.outbox in ("pending", "conflict", "parked"):  # edited here meanwhile: the doctor decides
        base = state.base or comparable(record)
        draft = ConflictDraft(
            kind="delete",
            fields=(FieldValues(RECORD, base, comparable(record), None),),
            remote_version=None,
            remote=None,
        )
        return Write(
            entity=state.entity,
            record=record,
            expected_version=record.version,
            remote_id=state.remote_id,
            remote_version=None,
            base=state.base,
            outbox="conflict",
            action="sync.conflict",
            content_changed=False,
            conflict=draft,
        )
    return Write(
        entity=state.entity,
        record=gone,
        expected_version=record.version,
        remote_id=state.remote_id,
        remote_version=None,
        base=None,
        outbox="done",
        action="sync.pull_delete",
    )
