"""Residents: encrypted rows, found by blind index (ID card number, health-record number)."""

from __future__ import annotations

import dataclasses
import sqlite3
from dataclasses import dataclass
from typing import Any

from clinic_agent.core import validation
from clinic_agent.core.errors import InvalidInput, RecordChanged, RecordNotFound, StoreCorrupted
from clinic_agent.core.idnumber import normalise_id_number
from clinic_agent.core.model import Resident
from clinic_agent.core.search import IndexFields
from clinic_agent.store.core import Core
from clinic_agent.store.records import changed_fields, payload_of, record_from_row, stamp

TABLE = "residents"
_NAMES = ("id", "key_id", "payload", "version", "updated_at", "deleted", "id_bidx", "hrn_bidx")
_COLUMNS = ", ".join(_NAMES)


@dataclass(frozen=True, slots=True)
class ResidentPage:
    """Residents read in one go, with the rows that failed their integrity check named apart."""

    residents: list[Resident]
    problems: list[StoreCorrupted]
    change_seq: int


@dataclass(frozen=True, slots=True)
class IndexPage:
    """Residents as the name index reads them, in change order, bad rows named apart."""

    rows: list[IndexFields]
    problems: list[StoreCorrupted]
    last_seq: int | None  # the change sequence number of the page's last row; None for an empty page


class Residents:
    """The residents table."""

    def __init__(self, core: Core) -> None:
        self._core = core

    def add(self, resident: Resident, *, actor: str) -> Resident:
        """Register a resident (one transaction with its outbox and audit entries)."""
        return self.add_many([resident], actor=actor)[0]

    def add_many(self, residents: list[Resident], *, actor: str) -> list[Resident]:
        """Register several residents in one transaction: all or none."""
        today = self._core.clock().date()
        records = [validation.resident(r, today=today) for r in residents]
        core = self._core
        stored_all = []
        with core.write() as conn:
            for record in records:
                id_bidx = core.blind_index("id_number", record.id_number)
                clash = conn.execute("SELECT 1 FROM residents WHERE id_bidx = ? AND deleted = 0", (id_bidx,)).fetchone()
                if clash:
                    raise InvalidInput(f"a resident with ID number {record.id_number} is already registered")
                stored = dataclasses.replace(record, version=1, updated_at=core.clock(), deleted=False)
                self._write_row(conn, stored, insert=True)
                core.append_outbox(conn, TABLE, stored.id, "create")
                core.append_audit(conn, actor, "resident.create", "resident", stored.id)
                stored_all.append(stored)
        return stored_all

    def update(self, resident: Resident, *, actor: str) -> Resident:
        """Save an edited resident; refuse if someone else saved a newer version in between."""
        record = validation.resident(resident, today=self._core.clock().date())
        core = self._core
        with core.write() as conn:
            current = self._get(conn, record.id)
            if current.version != record.version:
                raise RecordChanged(
                    f"resident {record.id} was changed elsewhere (now version {current.version}, "
                    f"you edited version {record.version}); open it again and redo the change"
                )
            id_bidx = core.blind_index("id_number", record.id_number)
            clash = conn.execute(
                "SELECT id FROM residents WHERE id_bidx = ? AND deleted = 0 AND id != ?", (id_bidx, record.id)
            ).fetchone()
            if clash:
                raise InvalidInput(f"another resident already has ID number {record.id_number}")
            stored = dataclasses.replace(record, version=current.version + 1, updated_at=core.clock())
            changed = changed_fields(payload_of(current), payload_of(stored))
            self._write_row(conn, stored, insert=False)
            core.append_outbox(conn, TABLE, stored.id, "update")
            core.append_audit(conn, actor, "resident.update", "resident", stored.id, "fields: " + ",".join(changed))
        return stored

    def _write_row(self, conn: sqlite3.Connection, record: Resident, *, insert: bool) -> None:
        core = self._core
        hrn = record.health_record_number
        values: dict[str, object] = {
            "id": record.id,
            "id_bidx": core.blind_index("id_number", record.id_number),
            "hrn_bidx": core.blind_index("health_record_number", hrn) if hrn else None,
            "version": record.version,
            "updated_at": stamp(record),
            "deleted": int(record.deleted),
            "change_seq": core.next_change_seq(conn),
        }
        values["key_id"], values["payload"] = core.seal(TABLE, record.id, payload_of(record), row=values)
        if insert:
            conn.execute(
                f"INSERT INTO residents({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                tuple(values.values()),
            )
        else:
            assignments = ", ".join(f"{k} = ?" for k in values if k != "id")
            conn.execute(
                f"UPDATE residents SET {assignments} WHERE id = ?",
                (*[v for k, v in values.items() if k != "id"], record.id),
            )

    def get(self, resident_id: str, *, actor: str | None = None) -> Resident:
        """One resident; with an actor, the view is audited."""
        with self._core.read() as conn:
            resident = self._get(conn, resident_id)
        if actor is not None:
            self._audit_view(actor, resident.id)
        return resident

    def _get(self, conn: sqlite3.Connection, resident_id: str) -> Resident:
        row = conn.execute(f"SELECT {_COLUMNS} FROM residents WHERE id = ?", (resident_id,)).fetchone()
        if row is None:
            raise RecordNotFound(f"no resident {resident_id}")
        return record_from_row(self._core, Resident, TABLE, row, _NAMES)

    def shown(
        self, resident_ids: list[str], fields: tuple[str, ...]
    ) -> tuple[dict[str, dict[str, Any]], list[StoreCorrupted]]:
        """Some fields of some residents, as stored JSON, in one read (a result list as one types).

        Each row is decrypted and its bound clear columns checked as for any read, but no full
        record is built. A row that fails is named apart, like a bad row of any list: the index may
        list a row changed after it was saved (its copy is restored at unlock), and one damaged row
        must not take the other results with it. Residents not there are left out."""
        found: dict[str, dict[str, Any]] = {}
        problems: list[StoreCorrupted] = []
        with self._core.read() as conn:
            for start in range(0, len(resident_ids), 500):
                chunk = resident_ids[start : start + 500]
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM residents WHERE id IN ({', '.join('?' * len(chunk))})", chunk
                ).fetchall()
                for row in rows:
                    values = dict(zip(_NAMES, row, strict=True))
                    try:
                        data = self._core.open(TABLE, values["id"], values["key_id"], values["payload"], row=values)
                    except StoreCorrupted as exc:
                        problems.append(exc)
                        continue
                    found[values["id"]] = {name: data.get(name) for name in fields}
        return found, problems

    def _audit_view(self, actor: str, resident_id: str) -> None:
        with self._core.write() as conn:
            self._core.append_audit(conn, actor, "resident.view", "resident", resident_id)

    def by_id_number(self, id_number: str) -> Resident | None:
        """The live resident with this ID card number, if any."""
        bidx = self._core.blind_index("id_number", normalise_id_number(id_number))
        return self._by_index("id_bidx", bidx)

    def by_health_record_number(self, number: str) -> Resident | None:
        """The live resident with this health-record number, if any."""
        bidx = self._core.blind_index("health_record_number", number.strip())
        return self._by_index("hrn_bidx", bidx)

    def _by_index(self, column: str, bidx: bytes) -> Resident | None:
        with self._core.read() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM residents WHERE {column} = ? AND deleted = 0",
                (bidx,),
            ).fetchone()
            return None if row is None else record_from_row(self._core, Resident, TABLE, row, _NAMES)

    def changed_since(self, change_seq: int = 0) -> ResidentPage:
        """Every resident written after a change sequence number (0: all), bad rows named apart."""
        with self._core.read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM residents WHERE change_seq > ? ORDER BY change_seq",
                (change_seq,),
            ).fetchall()
            top = conn.execute("SELECT value FROM meta WHERE key = 'change_seq'").fetchone()
        residents, problems = [], []
        for row in rows:
            try:
                residents.append(record_from_row(self._core, Resident, TABLE, row, _NAMES))
            except StoreCorrupted as exc:
                problems.append(exc)
        return ResidentPage(residents, problems, int(top[0]) if top else 0)

    def index_page(self, after: int, limit: int) -> IndexPage:
        """Up to ``limit`` residents written after change ``after``, in change order, for the name index.

        Only the fields the index needs are taken from each decrypted payload (no full record is
        built), and a page at a time, so unlocking never holds every resident in memory at once.
        Each row is authenticated and its bound clear columns checked as for any read, a page at once
        (``Core.open_page``: one JSON parse for the page, no dict per row)."""
        with self._core.read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS}, change_seq FROM residents WHERE change_seq > ? ORDER BY change_seq LIMIT ?",
                (after, limit),
            ).fetchall()
        found, problems = [], []
        at_id, at_deleted = _NAMES.index("id"), _NAMES.index("deleted")
        for row, data in zip(rows, self._core.open_page(TABLE, rows, _NAMES), strict=True):
            try:
                if isinstance(data, StoreCorrupted):
                    raise data
                found.append(_index_fields(row[at_id], bool(row[at_deleted]), data))
            except StoreCorrupted as exc:
                problems.append(exc)
        return IndexPage(found, problems, int(rows[-1][-1]) if rows else None)

    def count(self) -> int:
        """How many live residents."""
        with self._core.read() as conn:
            return int(conn.execute("SELECT count(*) FROM residents WHERE deleted = 0").fetchone()[0])


def _index_fields(row_id: str, deleted: bool, data: dict[str, Any]) -> IndexFields:
    """What the name index keeps of a decrypted resident, read straight from its payload (no Resident made)."""
    name, number = data.get("name"), data.get("id_number")
    record, phone = data.get("health_record_number"), data.get("phone")
    flags = data.get("key_populations") or []
    valid_flags = isinstance(flags, list) and all(isinstance(flag, str) for flag in flags)
    if not (isinstance(name, str) and isinstance(number, str) and isinstance(record, str | None)) or not (
        isinstance(phone, str | None) and valid_flags
    ):
        raise StoreCorrupted(f"row {row_id} of {TABLE} does not hold a valid resident", table=TABLE, row_id=row_id)
    return IndexFields(row_id, name, number, record or "", phone or "", deleted, tuple(flags))
