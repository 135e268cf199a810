"""Readings, the raw frames they came from, and the quarantine — and their locked-mode twins.

While the store is locked a device is still heard: each reading, frame or quarantined frame is
sealed to the store's public key (HPKE) and committed to ``sealed``; unlock moves them into their
tables under the data key. A reading re-sent by a device (same device and dedupe key) collapses to
the one already stored.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clinic_agent.core import serde
from clinic_agent.core.errors import InvalidInput, RecordNotFound, StoreCorrupted
from clinic_agent.core.model import QuarantinedFrame, Reading, ReadingStatus
from clinic_agent.core.rules import critical_reasons
from clinic_agent.security import crypto
from clinic_agent.store.core import Core
from clinic_agent.store.records import payload_of, record_from_row, stamp

TABLE = "readings"
_NAMES = (
    *("id", "key_id", "payload", "version", "updated_at", "deleted", "resident_id"),
    *("device_id", "dedupe_bidx", "taken_at", "received_at", "critical"),
)
_COLUMNS = ", ".join(_NAMES)
CRITICAL_PRIORITY = 10


@dataclass(frozen=True, slots=True)
class AddedReading:
    """What became of a reading handed to the store. It is durable in every case."""

    id: str
    duplicate: bool = False
    sealed: bool = False


def sealed_info(kind: str, row_id: str) -> bytes:
    """HPKE info binding a sealed blob to its kind and id."""
    return b"\x1f".join((b"clinic-agent sealed v1", kind.encode(), row_id.encode()))


def seal_row(core: Core, conn: sqlite3.Connection, kind: str, row_id: str, received_at: str, data: Any) -> None:
    """Commit a record sealed to the store's public key (works while locked)."""
    blob = crypto.seal_to(core.public_key, json.dumps(data).encode(), sealed_info(kind, row_id))
    conn.execute(
        "INSERT OR IGNORE INTO sealed(id, kind, received_at, blob) VALUES (?, ?, ?, ?)",
        (row_id, kind, received_at, blob),
    )


class Readings:
    """The readings table."""

    def __init__(self, core: Core) -> None:
        self._core = core

    def add(self, reading: Reading, *, actor: str) -> AddedReading:
        """Store a reading durably: under the data key, or sealed while locked."""
        check_reading(reading)
        core = self._core
        with core.write() as conn:
            if core.keyring is None:
                seal_row(core, conn, "reading", reading.id, reading.received_at.isoformat(), serde.to_json(reading))
                return AddedReading(reading.id, sealed=True)
            return self.insert(conn, reading, actor=actor)

    def add_many(self, readings: list[Reading], *, actor: str) -> list[AddedReading]:
        """Store several readings in one transaction (a device's stored records): all or none."""
        for reading in readings:
            check_reading(reading)
        with self._core.write() as conn:
            return self.put_many(conn, readings, actor=actor)

    def put_many(self, conn: sqlite3.Connection, readings: list[Reading], *, actor: str) -> list[AddedReading]:
        """Store checked readings inside the caller's transaction: under the data key, or sealed while locked."""
        core = self._core
        if core.keyring is None:
            for reading in readings:
                data = serde.to_json(reading)
                seal_row(core, conn, "reading", reading.id, reading.received_at.isoformat(), data)
            return [AddedReading(r.id, sealed=True) for r in readings]
        return [self.insert(conn, reading, actor=actor) for reading in readings]

    def insert(self, conn: sqlite3.Connection, reading: Reading, *, actor: str, detail: str = "") -> AddedReading:
        """Insert inside the caller's transaction (the store must be unlocked)."""
        core = self._core
        dedupe = self._dedupe_index(reading)
        critical = bool(critical_reasons(reading))
        stamped = core.clock().isoformat()  # version 1 at this time, not deleted: the clear columns say so
        if not insert_reading(
            core, conn, reading, version=1, updated_at=stamped, dedupe=dedupe, critical=critical, live_resident=True
        ):
            delivered = _delivered(conn, dedupe)
            if delivered is not None:  # a re-send, even of a reading whose resident was deleted since
                return delivered
            if reading.resident_id is not None and not _resident_exists(conn, reading.resident_id):
                raise RecordNotFound(f"no resident {reading.resident_id}")
            # not the dedupe index that refused it, nor its resident, so its id: as a plain INSERT says
            raise sqlite3.IntegrityError(f"UNIQUE constraint failed: readings.id ({reading.id})")
        if reading.resident_id is not None:
            core.append_outbox(conn, TABLE, reading.id, "create", CRITICAL_PRIORITY if critical else 0)
        notes = [detail] if detail else []
        if reading.resident_id is None:
            notes.append("unassigned")
        core.append_audit(conn, actor, "reading.create", "reading", reading.id, "; ".join(notes))
        return AddedReading(reading.id)

    def _dedupe_index(self, reading: Reading) -> bytes | None:
        if reading.dedupe_key is None:
            return None
        return self._device_key_index(reading.device.id if reading.device else reading.source, reading.dedupe_key)

    def _device_key_index(self, device_id: str, dedupe_key: str) -> bytes:
        return self._core.blind_index("reading", f"{device_id}\x1f{dedupe_key}")

    def find_duplicate(self, device_id: str, dedupe_key: str) -> str | None:
        """The id of the reading a device already delivered under this key, if any."""
        with self._core.read() as conn:
            delivered = _delivered(conn, self._device_key_index(device_id, dedupe_key))
        return None if delivered is None else delivered.id

    def assign(self, reading_id: str, resident_id: str, *, actor: str) -> Reading:
        """Give an unassigned reading to a resident; from then on it syncs."""
        core = self._core
        with core.write() as conn:
            reading = self._get(conn, reading_id)
            if reading.resident_id == resident_id:
                return reading
            if reading.resident_id is not None:
                raise InvalidInput(f"reading {reading_id} already belongs to another resident")
            if not _resident_exists(conn, resident_id):
                raise RecordNotFound(f"no resident {resident_id}")
            stored = dataclasses.replace(
                reading, resident_id=resident_id, version=reading.version + 1, updated_at=core.clock()
            )
            self._update(conn, stored)
            critical = bool(critical_reasons(stored))
            core.append_outbox(conn, TABLE, stored.id, "create", CRITICAL_PRIORITY if critical else 0)
            core.append_audit(conn, actor, "reading.assign", "reading", stored.id, f"resident {resident_id}")
        return stored

    def mark_entered_in_error(self, reading_id: str, *, actor: str) -> Reading:
        """Readings are never edited: a wrong one is marked, and syncs as entered-in-error."""
        core = self._core
        with core.write() as conn:
            reading = self._get(conn, reading_id)
            stored = dataclasses.replace(
                reading, status=ReadingStatus.ENTERED_IN_ERROR, version=reading.version + 1, updated_at=core.clock()
            )
            self._update(conn, stored)
            if stored.resident_id is not None:
                core.append_outbox(conn, TABLE, stored.id, "update")
            core.append_audit(conn, actor, "reading.entered_in_error", "reading", stored.id)
        return stored

    def _update(self, conn: sqlite3.Connection, reading: Reading) -> None:
        core = self._core
        fixed = conn.execute(
            "SELECT device_id, dedupe_bidx, taken_at, received_at, critical FROM readings WHERE id = ?", (reading.id,)
        ).fetchone()
        if fixed is None:
            raise RecordNotFound(f"no reading {reading.id}")
        bound = dict(zip(("device_id", "dedupe_bidx", "taken_at", "received_at", "critical"), fixed, strict=True))
        bound.update(resident_id=reading.resident_id, version=reading.version, updated_at=stamp(reading), deleted=0)
        key_id, blob = core.seal(TABLE, reading.id, payload_of(reading), row=bound)
        conn.execute(
            "UPDATE readings SET resident_id = ?, key_id = ?, payload = ?, version = ?, updated_at = ?,"
            " change_seq = ? WHERE id = ?",
            (
                reading.resident_id,
                key_id,
                blob,
                reading.version,
                stamp(reading),
                core.next_change_seq(conn),
                reading.id,
            ),
        )

    def get(self, reading_id: str) -> Reading:
        """One reading."""
        with self._core.read() as conn:
            return self._get(conn, reading_id)

    def _get(self, conn: sqlite3.Connection, reading_id: str) -> Reading:
        row = conn.execute(f"SELECT {_COLUMNS} FROM readings WHERE id = ?", (reading_id,)).fetchone()
        if row is None:
            raise RecordNotFound(f"no reading {reading_id}")
        return record_from_row(self._core, Reading, TABLE, row, _NAMES, resident_id=row[6])

    def for_resident(self, resident_id: str, *, limit: int = 10_000) -> tuple[list[Reading], list[StoreCorrupted]]:
        """A resident's readings, newest first."""
        return self._query(
            f"SELECT {_COLUMNS} FROM readings WHERE resident_id = ? ORDER BY taken_at DESC LIMIT ?",
            (resident_id, limit),
        )

    def unassigned(self, *, limit: int = 200) -> tuple[list[Reading], list[StoreCorrupted]]:
        """Readings waiting for the doctor to say whose they are, newest first."""
        return self._query(
            f"SELECT {_COLUMNS} FROM readings WHERE resident_id IS NULL ORDER BY received_at DESC LIMIT ?",
            (limit,),
        )

    def critical_since(self, since: datetime, *, limit: int = 100) -> tuple[list[Reading], list[StoreCorrupted]]:
        """Critical readings taken since a time, newest first (the home screen's alerts)."""
        return self._query(
            f"SELECT {_COLUMNS} FROM readings WHERE critical = 1 AND taken_at >= ? ORDER BY taken_at DESC LIMIT ?",
            (since.isoformat(), limit),
        )

    def taken_since(self, since: datetime, *, limit: int = 200) -> tuple[list[Reading], list[StoreCorrupted]]:
        """Readings taken since a time, assigned or not, newest first (the home screen's readings of the day)."""
        return self._query(
            f"SELECT {_COLUMNS} FROM readings WHERE taken_at >= ? ORDER BY taken_at DESC LIMIT ?",
            (since.isoformat(), limit),
        )

    def count_unassigned(self) -> int:
        """How many readings wait to be assigned."""
        with self._core.read() as conn:
            return int(conn.execute("SELECT count(*) FROM readings WHERE resident_id IS NULL").fetchone()[0])

    def _query(self, sql: str, params: tuple[Any, ...]) -> tuple[list[Reading], list[StoreCorrupted]]:
        with self._core.read() as conn:
            rows = conn.execute(sql, params).fetchall()
        readings, problems = [], []
        for row in rows:
            try:
                readings.append(record_from_row(self._core, Reading, TABLE, row, _NAMES, resident_id=row[6]))
            except StoreCorrupted as exc:
                problems.append(exc)
        return readings, problems


# A reading's row as insert_reading writes it, in this order.
_ROW = (
    *("id", "resident_id", "device_id", "dedupe_bidx", "taken_at", "received_at", "critical"),
    *("version", "updated_at", "deleted", "change_seq", "key_id", "payload"),
)
_INSERT = f"INSERT INTO readings({', '.join(_ROW)}) VALUES ({', '.join('?' * len(_ROW))})"
_INSERT_FOR_LIVE_RESIDENT = (
    f"INSERT INTO readings({', '.join(_ROW)}) SELECT {', '.join('?' * len(_ROW))}"
    " WHERE EXISTS (SELECT 1 FROM residents WHERE id = ? AND deleted = 0)"
)


def insert_reading(
    core: Core,
    conn: sqlite3.Connection,
    reading: Reading,
    *,
    version: int,
    updated_at: str,
    dedupe: bytes | None,
    critical: bool,
    live_resident: bool = False,
) -> bool:
    """The row of a reading (with its bound clear columns) at this version and time, inside the caller's
    transaction; False when nothing was inserted: a reading with the same dedupe index is stored
    already or, with ``live_resident``, the reading's resident is not there or deleted.

    Issue 13, each one less in every reading's commit: the version and time are the row's, not the
    reading's (clear columns, outside the payload), so no copy of the reading is made with them; the
    unique dedupe index itself refuses a duplicate, and the INSERT itself looks for the resident,
    rather than a statement before it for each; the caller asks why only when nothing was inserted."""
    row: dict[str, object] = {  # in _ROW's order: the INSERTs take its values as they come
        "id": reading.id,
        "resident_id": reading.resident_id,
        "device_id": reading.device.id if reading.device else None,
        "dedupe_bidx": dedupe,
        "taken_at": reading.taken_at.isoformat(),
        "received_at": reading.received_at.isoformat(),
        "critical": int(critical),
        "version": version,
        "updated_at": updated_at,
        "deleted": 0,
        "change_seq": core.next_change_seq(conn),
    }
    row["key_id"], row["payload"] = core.seal(TABLE, reading.id, payload_of(reading), row=row)
    values = tuple(row.values())
    if live_resident and reading.resident_id is not None:
        sql, values = _INSERT_FOR_LIVE_RESIDENT, (*values, reading.resident_id)
    else:
        sql = _INSERT
    if dedupe is not None:
        sql += " ON CONFLICT DO NOTHING"
    return conn.execute(sql, values).rowcount == 1


class Frames:
    """The encrypted archive of raw device frames, written in the transaction that stores what was read
    from the frame (``Store.add_frame``)."""

    def __init__(self, core: Core) -> None:
        self._core = core

    def put(self, conn: sqlite3.Connection, frame_id: str, device_id: str, raw: bytes, received_at: datetime) -> None:
        """Archive a raw frame inside the caller's transaction (sealed while locked)."""
        data = {"device_id": device_id, "raw": raw.hex(), "received_at": received_at.isoformat()}
        if self._core.keyring is None:
            seal_row(self._core, conn, "frame", frame_id, received_at.isoformat(), data)
        else:
            self.insert(conn, frame_id, data)

    def insert(self, conn: sqlite3.Connection, frame_id: str, data: dict[str, Any]) -> None:
        """Insert inside the caller's transaction."""
        key_id, blob = self._core.seal("frames", frame_id, {"raw": data["raw"]}, row=data)
        conn.execute(
            "INSERT OR IGNORE INTO frames(id, device_id, received_at, key_id, payload) VALUES (?, ?, ?, ?, ?)",
            (frame_id, data["device_id"], data["received_at"], key_id, blob),
        )

    def get(self, frame_id: str) -> bytes:
        """The raw bytes of an archived frame."""
        with self._core.read() as conn:
            row = conn.execute(
                "SELECT key_id, payload, device_id, received_at FROM frames WHERE id = ?", (frame_id,)
            ).fetchone()
        if row is None:
            raise RecordNotFound(f"no frame {frame_id}")
        clear = {"device_id": row[2], "received_at": row[3]}
        return bytes.fromhex(self._core.open("frames", frame_id, row[0], row[1], row=clear)["raw"])


class Quarantine:
    """Frames and readings that were not stored as clinical data, each with its reason."""

    def __init__(self, core: Core) -> None:
        self._core = core

    def add(self, item: QuarantinedFrame, *, actor: str) -> None:
        """Commit a quarantined frame (sealed while locked)."""
        with self._core.write() as conn:
            self.put(conn, item, actor=actor)

    def put(self, conn: sqlite3.Connection, item: QuarantinedFrame, *, actor: str) -> None:
        """Quarantine inside the caller's transaction (sealed while locked)."""
        core = self._core
        if core.keyring is None:
            seal_row(core, conn, "quarantine", item.id, item.received_at.isoformat(), serde.to_json(item))
        else:
            self.insert(conn, item, actor=actor)

    def insert(self, conn: sqlite3.Connection, item: QuarantinedFrame, *, actor: str) -> None:
        """Insert inside the caller's transaction."""
        core = self._core
        clear = {"received_at": item.received_at.isoformat(), "source": item.source}
        key_id, blob = core.seal("quarantine", item.id, payload_of(item), row=clear)
        conn.execute(
            "INSERT OR IGNORE INTO quarantine(id, received_at, source, key_id, payload) VALUES (?, ?, ?, ?, ?)",
            (item.id, item.received_at.isoformat(), item.source, key_id, blob),
        )
        core.append_audit(conn, actor, "frame.quarantine", "quarantine", item.id)

    def recent(self, *, limit: int = 200) -> tuple[list[QuarantinedFrame], list[StoreCorrupted]]:
        """Quarantined frames, newest first."""
        with self._core.read() as conn:
            rows = conn.execute(
                "SELECT id, key_id, payload, received_at, source FROM quarantine ORDER BY received_at DESC LIMIT ?",
                (limit,),
            ).fetchall()
        items, problems = [], []
        for row_id, key_id, blob, received_at, source in rows:
            try:
                data = self._core.open(
                    "quarantine", row_id, key_id, blob, row={"received_at": received_at, "source": source}
                )
                items.append(
                    serde.from_json(
                        QuarantinedFrame, {**data, "id": row_id, "received_at": received_at, "source": source}
                    )
                )
            except (StoreCorrupted, InvalidInput) as exc:
                problems.append(exc if isinstance(exc, StoreCorrupted) else StoreCorrupted(str(exc)))
        return items, problems


def check_reading(reading: Reading) -> None:
    """Refuse a reading no store method accepts (no code, no value, a value without a unit)."""
    if not reading.code.strip():
        raise InvalidInput("a reading needs a LOINC code")
    if not reading.components:
        raise InvalidInput("a reading needs at least one value")
    for q in reading.components:
        if not q.unit.strip():
            raise InvalidInput(f"value {q.value} of {q.code} needs a UCUM unit")


def _delivered(conn: sqlite3.Connection, dedupe: bytes | None) -> AddedReading | None:
    """The reading stored under this dedupe index, as a duplicate delivery; None if there is none."""
    if dedupe is None:
        return None
    row = conn.execute("SELECT id FROM readings WHERE dedupe_bidx = ?", (dedupe,)).fetchone()
    return None if row is None else AddedReading(str(row[0]), duplicate=True)


def _resident_exists(conn: sqlite3.Connection, resident_id: str) -> bool:
    return conn.execute("SELECT 1 FROM residents WHERE id = ? AND deleted = 0", (resident_id,)).fetchone() is not None
