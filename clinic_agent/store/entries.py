"""File entries (allergies, conditions, procedures, family history, notes, follow-ups): one row each."""

from __future__ import annotations

import dataclasses
import sqlite3

from clinic_agent.core import validation
from clinic_agent.core.errors import InvalidInput, RecordChanged, RecordNotFound, StoreCorrupted
from clinic_agent.core.model import ENTRY_TYPES, Consultation, Entry, EntryKind, Urgency
from clinic_agent.store.core import Core
from clinic_agent.store.records import changed_fields, payload_of, record_from_row, stamp

TABLE = "entries"
# Outbox priority of a consultation (critical readings are 10): urgent and emergency requests go first.
URGENCY_PRIORITY = {Urgency.ROUTINE: 0, Urgency.URGENT: 5, Urgency.EMERGENCY: 10}
_ENTITIES = {"reading": "readings"}
_NAMES = ("id", "key_id", "payload", "version", "updated_at", "deleted", "resident_id", "kind")
_COLUMNS = ", ".join(_NAMES)


class Entries:
    """The entries table."""

    def __init__(self, core: Core) -> None:
        self._core = core

    def add(self, entry: Entry, *, actor: str) -> Entry:
        """Add an entry to a resident's file (with its outbox and audit entries)."""
        record = validation.entry(entry)
        core = self._core
        with core.write() as conn:
            if (
                conn.execute("SELECT 1 FROM residents WHERE id = ? AND deleted = 0", (record.resident_id,)).fetchone()
                is None
            ):
                raise RecordNotFound(f"no resident {record.resident_id}")
            if isinstance(record, Consultation):
                _attachments_of(conn, record)
            stored = dataclasses.replace(record, version=1, updated_at=core.clock(), deleted=False)
            self._write(conn, stored, insert=True)
            core.append_outbox(conn, TABLE, stored.id, "create", _priority(conn, stored))
            core.append_audit(conn, actor, f"{stored.kind}.create", stored.kind.value, stored.id)
        return stored

    def update(self, entry: Entry, *, actor: str) -> Entry:
        """Save an edited entry, refusing a stale copy."""
        record = validation.entry(entry)
        return self._replace(record, actor=actor, action="update")

    def delete(self, kind: EntryKind, entry_id: str, *, actor: str) -> Entry:
        """Mark an entry deleted (a tombstone that syncs)."""
        current = self.get(entry_id)
        if current.kind is not kind:
            raise RecordNotFound(f"no {kind.value} {entry_id}")
        return self._replace(dataclasses.replace(current, deleted=True), actor=actor, action="delete")

    def _replace(self, record: Entry, *, actor: str, action: str) -> Entry:
        core = self._core
        with core.write() as conn:
            current = self._get(conn, record.id)
            if current.kind is not record.kind or current.resident_id != record.resident_id:
                raise InvalidInput(f"entry {record.id} is a {current.kind.value} of another resident")
            if current.deleted:
                raise RecordNotFound(f"{current.kind.value} {record.id} has been deleted")
            if current.version != record.version:
                raise RecordChanged(
                    f"{record.kind.value} {record.id} was changed elsewhere (now version {current.version}); "
                    "open it again and redo the change"
                )
            if isinstance(record, Consultation) and isinstance(current, Consultation):
                new = tuple(a for a in record.attachments if a not in current.attachments)
                _attachments_of(conn, dataclasses.replace(record, attachments=new))
            stored = dataclasses.replace(record, version=current.version + 1, updated_at=core.clock())
            changed = changed_fields(payload_of(current), payload_of(stored))
            self._write(conn, stored, insert=False)
            core.append_outbox(
                conn, TABLE, stored.id, "delete" if stored.deleted else "update", _priority(conn, stored)
            )
            core.append_audit(
                conn, actor, f"{stored.kind}.{action}", stored.kind.value, stored.id, "fields: " + ",".join(changed)
            )
        return stored

    def _write(self, conn: sqlite3.Connection, record: Entry, *, insert: bool) -> None:
        core = self._core
        bound = {
            "resident_id": record.resident_id,
            "kind": record.kind.value,
            "version": record.version,
            "updated_at": stamp(record),
            "deleted": int(record.deleted),
        }
        key_id, blob = core.seal(TABLE, record.id, payload_of(record), row=bound)
        values = (key_id, blob, record.version, stamp(record), int(record.deleted), core.next_change_seq(conn))
        if insert:
            conn.execute(
                "INSERT INTO entries(id, resident_id, kind, key_id, payload, version, updated_at, deleted, change_seq)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.id, record.resident_id, record.kind.value, *values),
            )
        else:
            conn.execute(
                "UPDATE entries SET key_id = ?, payload = ?, version = ?, updated_at = ?, deleted = ?, change_seq = ?"
                " WHERE id = ?",
                (*values, record.id),
            )

    def get(self, entry_id: str) -> Entry:
        """One entry by id."""
        with self._core.read() as conn:
            return self._get(conn, entry_id)

    def _get(self, conn: sqlite3.Connection, entry_id: str) -> Entry:
        row = conn.execute(f"SELECT {_COLUMNS} FROM entries WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            raise RecordNotFound(f"no file entry {entry_id}")
        return self._decode(row)

    def _decode(self, row: tuple[object, ...]) -> Entry:
        cls = ENTRY_TYPES[EntryKind(str(row[7]))]
        return record_from_row(self._core, cls, TABLE, row, _NAMES, resident_id=row[6])

    def for_resident(self, resident_id: str, kind: EntryKind | None = None) -> tuple[list[Entry], list[StoreCorrupted]]:
        """A resident's live entries (of one kind, or all), oldest first, bad rows named apart."""
        query = f"SELECT {_COLUMNS} FROM entries WHERE resident_id = ? AND deleted = 0"
        params: tuple[str, ...] = (resident_id,)
        if kind is not None:
            query += " AND kind = ?"
            params += (kind.value,)
        with self._core.read() as conn:
            rows = conn.execute(query + " ORDER BY rowid", params).fetchall()
        entries, problems = [], []
        for row in rows:
            try:
                entries.append(self._decode(row))
            except StoreCorrupted as exc:
                problems.append(exc)
        return entries, problems

    def of_kind(self, kind: EntryKind) -> tuple[list[Entry], list[StoreCorrupted]]:
        """Every live entry of one kind, of every resident (follow-up schedules, programme lists)."""
        with self._core.read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM entries WHERE kind = ? AND deleted = 0 ORDER BY rowid", (kind.value,)
            ).fetchall()
        entries, problems = [], []
        for row in rows:
            try:
                entries.append(self._decode(row))
            except StoreCorrupted as exc:
                problems.append(exc)
        return entries, problems

    def ids_for_resident(self, resident_id: str) -> list[str]:
        """The ids of every entry of a resident, deleted ones too (for the history of changes)."""
        with self._core.read() as conn:
            rows = conn.execute("SELECT id FROM entries WHERE resident_id = ?", (resident_id,)).fetchall()
        return [str(row[0]) for row in rows]


def _priority(conn: sqlite3.Connection, record: Entry) -> int:
    """A consultation's outbox priority; what it attaches and is still waiting to go up goes as early."""
    if not isinstance(record, Consultation):
        return 0
    priority = URGENCY_PRIORITY[record.urgency]
    if priority:
        for attachment in record.attachments:
            kind, _, record_id = attachment.partition(":")
            conn.execute(
                "UPDATE outbox SET priority = max(priority, ?)"
                " WHERE entity = ? AND entity_id = ? AND state = 'pending'",
                (priority, _ENTITIES.get(kind, TABLE), record_id),
            )
    return priority


def _attachments_of(conn: sqlite3.Connection, record: Consultation) -> None:
    """Every record a consultation attaches is a live record of the same resident."""
    for attachment in record.attachments:
        kind, _, record_id = attachment.partition(":")
        table = _ENTITIES.get(kind, TABLE)
        sql = f"SELECT resident_id FROM {table} WHERE id = ? AND deleted = 0"
        if table == TABLE:
            sql += " AND kind = ?"
        row = conn.execute(sql, (record_id, kind) if table == TABLE else (record_id,)).fetchone()
        if row is None or row[0] != record.resident_id:
            raise InvalidInput(f"attachment {attachment} is not a record in this resident's file")
