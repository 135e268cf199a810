"""Sync state: what the platform confirmed of each record, the outbox as the engine drives it, pull cursors.

``SyncState`` is the store side of ``sync.engine.ports.SyncStore`` (it satisfies that protocol
structurally; the store does not import sync). Base copies are encrypted like the payload, under
associated data ``"<table>.base"``. Everything pulled from the platform is applied together with
its audit entry and the page's cursor, in one transaction. The doctor's side (conflicts, parked
rows, enrolment settings) is in ``sync_inbox``.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence
from typing import Any

from clinic_agent.core import serde
from clinic_agent.core.errors import RecordChanged, RecordNotFound, StoreCorrupted
from clinic_agent.core.model import Entry, Reading, Resident
from clinic_agent.core.rules import critical_reasons
from clinic_agent.core.sync_values import (
    SYNCED_TABLES,
    ApplyCounts,
    Confirmed,
    LocalState,
    Pending,
    Record,
    Sent,
    Write,
)
from clinic_agent.store.core import Core, pending_in_order
from clinic_agent.store.entries import Entries
from clinic_agent.store.readings import Readings, insert_reading
from clinic_agent.store.records import stamp
from clinic_agent.store.residents import Residents
from clinic_agent.store.sync_inbox import RECORD_FIELD, Conflict, SyncInbox, conflict_upsert, resolved, validated

_STATE_COLUMNS = "remote_id, remote_version, base_key_id, base"


class SyncState(SyncInbox):
    """Sync state of every record, the outbox rows in flight, and pull cursors."""

    def __init__(self, core: Core) -> None:
        super().__init__(core)
        self._residents = Residents(core)
        self._entries = Entries(core)
        self._readings = Readings(core)

    # -- the outbox, as the push engine sees it ------------------------------------------------------

    def pending(self, *, limit: int, after: tuple[int, int] | None = None) -> list[Pending]:
        """Pending rows, most urgent first, then oldest; ``after`` is the last (priority, seq) seen."""
        with self._core.read() as conn:
            rows = pending_in_order(conn, "seq, entity, entity_id, priority, attempts", limit=limit, after=after)
        return [Pending(*row) for row in rows]

    def pending_for(self, entity: str, entity_id: str) -> Pending | None:
        """The pending row of one record, if any."""
        with self._core.read() as conn:
            row = conn.execute(
                "SELECT seq, entity, entity_id, priority, attempts FROM outbox"
                " WHERE entity = ? AND entity_id = ? AND state = 'pending'",
                (entity, entity_id),
            ).fetchone()
        return None if row is None else Pending(*row)

    def load(self, entity: str, entity_id: str) -> LocalState | None:
        """A record with its sync state, or None."""
        with self._core.read() as conn:
            try:
                record = self._get(conn, entity, entity_id)
            except RecordNotFound:
                return None
            remote_id, remote_version, base_key, base = conn.execute(
                f"SELECT {_STATE_COLUMNS} FROM {_table(entity)} WHERE id = ?", (entity_id,)
            ).fetchone()
            rows = conn.execute(
                "SELECT state, seq, sent_key_id, sent FROM outbox WHERE entity = ? AND entity_id = ?",
                (entity, entity_id),
            ).fetchall()
        states = {r[0] for r in rows}
        outbox = next((s for s in ("conflict", "pending", "parked", "local") if s in states), None)
        sent = next((self._sent(*r[1:]) for r in rows if r[0] in ("pending", "conflict") and r[3] is not None), None)
        return LocalState(
            entity=entity,
            record=record,
            remote_id=remote_id,
            remote_version=remote_version,
            base=self._core.open(f"{entity}.base", entity_id, base_key, base) if base is not None else None,
            outbox=outbox,
            sent=sent,
        )

    def _sent(self, seq: int, key_id: str, blob: bytes) -> dict[str, Any] | None:
        try:
            return self._core.open("outbox.sent", str(seq), key_id, blob)
        except StoreCorrupted:
            return None  # sealed under a key retired since: only a shortcut is lost

    def known(self, entity: str, ids: Sequence[str]) -> set[str]:
        """Which of these records exist here (one query for a page)."""
        table = _table(entity)
        found: set[str] = set()
        with self._core.read() as conn:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                found.update(r[0] for r in conn.execute(f"SELECT id FROM {table} WHERE id IN ({marks})", chunk))
        return found

    def resident_by_remote(self, remote_id: str) -> str | None:
        """The local resident a platform Patient id belongs to (our own ids are tried too)."""
        with self._core.read() as conn:
            row = conn.execute("SELECT id FROM residents WHERE remote_id = ?", (remote_id,)).fetchone()
            if row is None:
                row = conn.execute("SELECT id FROM residents WHERE id = ?", (remote_id,)).fetchone()
        return None if row is None else str(row[0])

    def record_by_remote(self, entity: str, remote_id: str) -> str | None:
        """The local record a platform resource id belongs to, if any."""
        with self._core.read() as conn:
            row = conn.execute(f"SELECT id FROM {_table(entity)} WHERE remote_id = ?", (remote_id,)).fetchone()
        return None if row is None else str(row[0])

    def other_half(self, remote_id: str, reading_id: str) -> str | None:
        """The other reading sent in one panel with this one (same platform id), if any."""
        with self._core.read() as conn:
            row = conn.execute(
                "SELECT id FROM readings WHERE remote_id = ? AND id != ? LIMIT 1", (remote_id, reading_id)
            ).fetchone()
        return None if row is None else str(row[0])

    def resident_by_id_number(self, id_number: str) -> str | None:
        """The live local resident with this national ID card number, if any."""
        found = self._residents.by_id_number(id_number)
        return None if found is None else found.id

    def known_devices(self) -> set[str]:
        """Device ids already on the platform."""
        with self._core.read() as conn:
            return {str(r[0]) for r in conn.execute("SELECT device_id FROM sync_devices").fetchall()}

    def linked_patients(self) -> list[str]:
        """The platform Patient ids of the residents here (the pull's scope where a server cannot chain)."""
        with self._core.read() as conn:
            rows = conn.execute("SELECT remote_id FROM residents WHERE remote_id IS NOT NULL ORDER BY remote_id")
            return [str(r[0]) for r in rows.fetchall()]

    def part_versions(self, entity_id: str) -> dict[str, tuple[str, str]]:
        """A record's parts as last confirmed: part id -> (platform id, versionId)."""
        with self._core.read() as conn:
            rows = conn.execute(
                "SELECT part_id, remote_id, remote_version FROM sync_parts WHERE entity_id = ?", (entity_id,)
            ).fetchall()
        return {str(r[0]): (str(r[1]), str(r[2])) for r in rows}

    def save_part_versions(self, entity_id: str, versions: dict[str, tuple[str, str]]) -> None:
        """Keep the platform id and versionId of a record's parts (part id -> (id, versionId))."""
        if not versions:
            return
        with self._core.write() as conn:
            conn.executemany(
                "INSERT INTO sync_parts(part_id, entity_id, remote_id, remote_version) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(part_id) DO UPDATE SET remote_id = excluded.remote_id,"
                " remote_version = excluded.remote_version",
                [(part, entity_id, remote_id, version) for part, (remote_id, version) in versions.items()],
            )

    def mark_sent(self, sent: Sequence[Sent]) -> None:
        """Count an attempt on each row before its request leaves; a create keeps what it first sent."""
        core = self._core
        with core.write() as conn:
            for item in sent:
                key_id, blob = core.seal("outbox.sent", str(item.seq), item.content) if item.content else (None, None)
                conn.execute(
                    "UPDATE outbox SET attempts = attempts + 1, sent_key_id = ?, sent = ? WHERE seq = ?",
                    (key_id, blob, item.seq),
                )
                if item.first_base is not None:
                    table = _table(item.entity)
                    key_id, blob = core.seal(f"{table}.base", item.entity_id, item.first_base)
                    conn.execute(
                        f"UPDATE {table} SET base_key_id = ?, base = ? WHERE id = ? AND base IS NULL"
                        " AND remote_version IS NULL",
                        (key_id, blob, item.entity_id),
                    )

    def unsend(self, seqs: Sequence[int]) -> None:
        """Take back the attempt of rows whose Bundle the platform refused whole (nothing of it was applied)."""
        with self._core.write() as conn:
            conn.executemany("UPDATE outbox SET attempts = max(attempts - 1, 0) WHERE seq = ?", [(s,) for s in seqs])

    def confirm(self, done: Sequence[Confirmed], *, devices: Sequence[str] = ()) -> None:
        """Record what the platform confirmed; a record edited meanwhile stays queued for its new version."""
        core = self._core
        now = core.clock().isoformat()
        with core.write() as conn:
            for item in done:
                table = _table(item.entity)
                row = conn.execute(f"SELECT version FROM {table} WHERE id = ?", (item.entity_id,)).fetchone()
                if row is None:
                    conn.execute("DELETE FROM outbox WHERE seq = ?", (item.seq,))
                    continue
                if item.base_stored:
                    conn.execute(
                        f"UPDATE {table} SET remote_id = ?, remote_version = ?, synced_at = ? WHERE id = ?",
                        (item.remote_id, item.remote_version, now, item.entity_id),
                    )
                else:
                    self._set_state(conn, table, item.entity_id, item.remote_id, item.remote_version, item.base, now)
                if int(row[0]) == item.sent_version:
                    _finish(conn, item.entity, item.entity_id)
                else:  # edited while in flight: the newer version has not been sent yet
                    conn.execute("UPDATE outbox SET attempts = 0 WHERE seq = ?", (item.seq,))
            for device in devices:
                conn.execute("INSERT OR IGNORE INTO sync_devices(device_id, confirmed_at) VALUES (?, ?)", (device, now))
            if done:
                core.append_audit(conn, "sync", "sync.push", "platform", "", f"{len(done)} records confirmed")

    def park(self, seq: int, reason: str) -> None:
        """Set a row aside with the platform's reason, encrypted (it may echo personal data)."""
        core = self._core
        with core.write() as conn:
            row = conn.execute("SELECT entity, entity_id FROM outbox WHERE seq = ?", (seq,)).fetchone()
            if row is None:
                return
            conn.execute(
                "UPDATE outbox SET state = 'parked', last_error = 'rejected by the platform' WHERE seq = ?", (seq,)
            )
            key_id, blob = core.seal("sync_parked", str(seq), {"reason": reason})
            conn.execute(
                "INSERT OR REPLACE INTO sync_parked(id, entity, entity_id, since, key_id, payload)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (str(seq), row[0], row[1], core.clock().isoformat(), key_id, blob),
            )
            core.append_audit(conn, "sync", "sync.park", row[0], row[1], "rejected by the platform")

    def keep_local(self, seq: int, reason: str) -> None:
        """A row whose record has no platform form: it stays on this PC."""
        with self._core.write() as conn:
            conn.execute("UPDATE outbox SET state = 'local', last_error = ? WHERE seq = ?", (reason[:200], seq))

    def drop(self, seq: int) -> None:
        """Forget a row that has nothing left to send."""
        with self._core.write() as conn:
            conn.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
            conn.execute("DELETE FROM sync_parked WHERE id = ?", (str(seq),))

    def reset_cursor(self, resource_type: str) -> None:
        """Pull a type from the start again (a new enrolment)."""
        with self._core.write() as conn:
            conn.execute("DELETE FROM sync_cursors WHERE resource = ?", (resource_type,))

    def cursor(self, resource_type: str) -> str | None:
        """The pull cursor of a resource type."""
        with self._core.read() as conn:
            row = conn.execute("SELECT cursor FROM sync_cursors WHERE resource = ?", (resource_type,)).fetchone()
        return None if row is None else str(row[0])

    # -- applying pulled and merged records ---------------------------------------------------------------

    def apply(self, writes: Sequence[Write], *, cursor: tuple[str, str] | None = None, actor: str) -> ApplyCounts:
        """Apply writes (records, sync state, outbox, conflicts, audit) and a cursor: all or none."""
        core = self._core
        counts = ApplyCounts()
        now = core.clock().isoformat()
        with core.write() as conn:
            inserted = updated = 0
            for write in writes:
                table = _table(write.entity)
                record = write.record
                row = conn.execute(f"SELECT version FROM {table} WHERE id = ?", (record.id,)).fetchone()
                current = None if row is None else int(row[0])
                if current != write.expected_version:
                    raise RecordChanged(f"{write.entity} {record.id} changed while it was being synced; trying again")
                if write.content_changed:
                    version = 1 if current is None else current + 1
                    record = dataclasses.replace(record, version=version, updated_at=core.clock())
                    self._write(conn, write.entity, record, insert=current is None)
                    inserted, updated = inserted + (current is None), updated + (current is not None)
                self._set_state(conn, table, record.id, write.remote_id, write.remote_version, write.base, now)
                _outbox_after(core, conn, write.entity, record.id, write.outbox)
                if write.conflict is not None:
                    counts.conflicts.append(conflict_upsert(core, conn, write.entity, record, write.conflict))
                core.append_audit(conn, actor, write.action, _object_type(record), record.id)
            if cursor is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO sync_cursors(resource, cursor, updated_at) VALUES (?, ?, ?)",
                    (cursor[0], cursor[1], now),
                )
        return dataclasses.replace(counts, inserted=inserted, updated=updated)

    # -- the doctor's decision -----------------------------------------------------------------------

    def conflicts(self) -> list[Conflict]:
        """Open conflicts, oldest first, each with this PC's value as it is now."""
        return [self._current(c) for c in super().conflicts()]

    def conflict(self, conflict_id: str) -> Conflict:
        """One open conflict, with this PC's value as it is now (the doctor may have edited since)."""
        return self._current(super().conflict(conflict_id))

    def _current(self, conflict: Conflict) -> Conflict:
        with self._core.read() as conn:
            try:
                record = serde.to_json(self._get(conn, conflict.entity, conflict.entity_id))
            except RecordNotFound:
                return conflict
        fields = [
            {**f, "local": record.get(f["name"], f["local"])} if f["name"] != RECORD_FIELD else f
            for f in conflict.fields
        ]
        return dataclasses.replace(conflict, fields=fields)

    def resolve(self, conflict_id: str, choices: dict[str, Any], *, actor: str) -> Record:
        """Apply the doctor's choice for each field; the record then syncs with If-Match."""
        conflict = self.conflict(conflict_id)
        core = self._core
        with core.write() as conn:
            current = self._get(conn, conflict.entity, conflict.entity_id)
            stored = validated(resolved(current, conflict, choices))
            stored = dataclasses.replace(stored, version=current.version + 1, updated_at=core.clock())
            self._write(conn, conflict.entity, stored, insert=False)
            conn.execute(
                "UPDATE sync_conflicts SET state = 'resolved', resolved_at = ? WHERE id = ?",
                (core.clock().isoformat(), conflict_id),
            )
            conn.execute(
                "DELETE FROM outbox WHERE entity = ? AND entity_id = ? AND state = 'conflict'",
                (conflict.entity, conflict.entity_id),
            )
            core.append_outbox(conn, conflict.entity, conflict.entity_id, "update")
            names = ",".join(f["name"] for f in conflict.fields)
            core.append_audit(conn, actor, "conflict.resolve", conflict.entity, conflict.entity_id, f"fields: {names}")
        return stored

    # -- rows ----------------------------------------------------------------------------------------

    def _get(self, conn: sqlite3.Connection, entity: str, entity_id: str) -> Record:
        if entity == "residents":
            return self._residents._get(conn, entity_id)
        if entity == "entries":
            return self._entries._get(conn, entity_id)
        if entity == "readings":
            return self._readings._get(conn, entity_id)
        raise StoreCorrupted(f"the outbox names an unknown kind of record: {entity[:30]!r}")

    def _write(self, conn: sqlite3.Connection, entity: str, record: Record, *, insert: bool) -> None:
        if isinstance(record, Resident):
            self._residents._write_row(conn, record, insert=insert)
        elif isinstance(record, Entry):
            if insert and not _resident_exists(conn, record.resident_id):
                raise RecordNotFound(f"no resident {record.resident_id}")
            self._entries._write(conn, record, insert=insert)
        elif insert:
            self._insert_reading(conn, record)
        else:
            self._readings._update(conn, record)

    def _insert_reading(self, conn: sqlite3.Connection, reading: Reading) -> None:
        """A reading made upstream: stored like a device's, with no outbox row (the platform has it)."""
        insert_reading(
            self._core,
            conn,
            reading,
            version=reading.version,
            updated_at=stamp(reading),
            dedupe=None,
            critical=bool(critical_reasons(reading)),
        )

    def _set_state(
        self,
        conn: sqlite3.Connection,
        table: str,
        row_id: str,
        remote_id: str | None,
        remote_version: str | None,
        base: dict[str, Any] | None,
        now: str,
    ) -> None:
        key_id, blob = self._core.seal(f"{table}.base", row_id, base) if base is not None else (None, None)
        conn.execute(
            f"UPDATE {table} SET remote_id = ?, remote_version = ?, base_key_id = ?, base = ?, synced_at = ?"
            " WHERE id = ?",
            (remote_id, remote_version, key_id, blob, now, row_id),
        )


def _table(entity: str) -> str:
    if entity not in SYNCED_TABLES:
        raise StoreCorrupted(f"the outbox names an unknown kind of record: {entity[:30]!r}")
    return entity


def _object_type(record: Record) -> str:
    if isinstance(record, Entry):
        return record.kind.value
    return "resident" if isinstance(record, Resident) else "reading"


def _resident_exists(conn: sqlite3.Connection, resident_id: str) -> bool:
    return conn.execute("SELECT 1 FROM residents WHERE id = ?", (resident_id,)).fetchone() is not None


def _finish(conn: sqlite3.Connection, entity: str, entity_id: str) -> None:
    """The platform has the record as it is here: its outbox rows (and parked reasons) go."""
    seqs = [
        str(r[0])
        for r in conn.execute(
            "SELECT seq FROM outbox WHERE entity = ? AND entity_id = ? AND state IN ('pending', 'parked', 'conflict')",
            (entity, entity_id),
        ).fetchall()
    ]
    conn.executemany("DELETE FROM sync_parked WHERE id = ?", [(s,) for s in seqs])
    conn.executemany("DELETE FROM outbox WHERE seq = ?", [(int(s),) for s in seqs])


def _outbox_after(core: Core, conn: sqlite3.Connection, entity: str, entity_id: str, after: str) -> None:
    if after == "done":
        _finish(conn, entity, entity_id)
        return
    if after not in ("pending", "conflict"):
        return
    rows = dict(
        conn.execute(
            "SELECT state, seq FROM outbox WHERE entity = ? AND entity_id = ? AND state IN ('pending', 'conflict')",
            (entity, entity_id),
        ).fetchall()
    )
    if after == "pending":
        if "pending" in rows:
            return
        if "conflict" in rows:
            conn.execute("UPDATE outbox SET state = 'pending', attempts = 0 WHERE seq = ?", (rows["conflict"],))
        else:
            core.append_outbox(conn, entity, entity_id, "update")
        return
    if "conflict" in rows:
        return
    if "pending" in rows:
        conn.execute("UPDATE outbox SET state = 'conflict' WHERE seq = ?", (rows["pending"],))
    else:
        conn.execute(
            "INSERT INTO outbox(entity, entity_id, op, priority, created_at, state, attempts)"
            " VALUES (?, ?, 'update', 0, ?, 'conflict', 0)",
            (entity, entity_id, core.clock().isoformat()),
        )
