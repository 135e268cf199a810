"""The doctor's side of sync: conflicts to resolve, parked records, each record's true state, enrolment.

Conflict values and parked reasons can hold personal data, so they are encrypted rows like any
record. Enrolment settings that are not secret (the platform's address, the clinic's Organization
id) are ``meta`` rows ``sync.*``; the token or private key is an encrypted ``sync_secrets`` row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from clinic_agent.core import serde, validation
from clinic_agent.core.errors import InvalidInput, RecordNotFound
from clinic_agent.core.model import Entry, Resident, new_id
from clinic_agent.core.sync_values import SYNCED_TABLES, ConflictDraft, Record
from clinic_agent.store import counts
from clinic_agent.store.core import Core
from clinic_agent.store.counts import PULLED_PREFIX

RECORD_FIELD = "*"  # a conflict on the whole record (deleted on one side, edited on the other)


@dataclass(frozen=True, slots=True)
class Conflict:
    """A conflict as the inbox shows it."""

    id: str
    entity: str
    entity_id: str
    kind: str
    resident_id: str | None
    fields: list[dict[str, Any]]  # {"name", "base", "local", "remote"}
    created_at: str
    remote_version: str | None
    remote: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Parked:
    """An outbox row the platform refused, with its reason."""

    seq: int
    entity: str
    entity_id: str
    kind: str
    reason: str
    since: str
    about: str = ""  # a reply set aside: the consultation's request it answers, "ServiceRequest/<id>"


class SyncInbox:
    """Conflicts, parked rows, record states and enrolment settings."""

    def __init__(self, core: Core) -> None:
        self._core = core

    # -- conflicts ------------------------------------------------------------------------------------

    def conflicts(self) -> list[Conflict]:
        """Open conflicts, oldest first."""
        with self._core.read() as conn:
            rows = conn.execute(f"{_CONFLICT_SELECT} WHERE state = 'open' ORDER BY created_at, id").fetchall()
        return [self._conflict(row) for row in rows]

    def conflict(self, conflict_id: str) -> Conflict:
        """One open conflict."""
        with self._core.read() as conn:
            row = conn.execute(f"{_CONFLICT_SELECT} WHERE id = ? AND state = 'open'", (conflict_id,)).fetchone()
        if row is None:
            raise RecordNotFound(f"no open conflict {conflict_id}")
        return self._conflict(row)

    def _conflict(self, row: tuple[Any, ...]) -> Conflict:
        conflict_id, entity, entity_id, resident_id, kind, created_at, key_id, blob = row
        data = self._core.open("sync_conflicts", conflict_id, key_id, blob)
        return Conflict(
            conflict_id,
            entity,
            entity_id,
            kind,
            resident_id,
            list(data.get("fields", [])),
            created_at,
            data.get("remote_version"),
            data.get("remote"),
        )

    # -- parked rows ----------------------------------------------------------------------------------

    def parked(self, *, pulled: Collection[str] = ()) -> list[Parked]:
        """Rows the platform refused, oldest first; with ``pulled``, only resources of these types set aside
        by the pull (a consultation's replies: few rows decrypted, however many records are parked)."""
        where, params = "", tuple(pulled)
        if pulled:
            where = f" WHERE p.id LIKE '{PULLED_PREFIX}%' AND p.entity IN ({', '.join('?' * len(pulled))})"
        with self._core.read() as conn:
            rows = conn.execute(
                "SELECT p.id, p.entity, p.entity_id, p.since, p.key_id, p.payload, e.kind FROM sync_parked p"
                f" LEFT JOIN entries e ON p.entity = 'entries' AND e.id = p.entity_id{where} ORDER BY p.since, p.id",
                params,
            ).fetchall()
        found = []
        for seq, entity, entity_id, since, key_id, blob, kind in rows:
            payload = self._core.open("sync_parked", seq, key_id, blob)
            reason = str(payload.get("reason", ""))
            if seq.startswith(PULLED_PREFIX):  # a resource from the platform that could not be applied here
                about = str(payload.get("about", ""))
                found.append(Parked(0, entity, entity_id, f"from the platform: {entity}", reason, since, about))
                continue
            found.append(Parked(int(seq), entity, entity_id, kind or _KINDS.get(entity, entity), reason, since))
        return found

    def park_pulled(self, resource_type: str, remote_id: str, reason: str, *, about: str = "") -> bool:
        """A resource from the platform that cannot be applied here: kept aside with the reason (encrypted);
        the rest of the pull goes on, and a later version of it is tried again when it comes. ``about``: the
        consultation request a reply set aside answers, so that the consultation can say so.

        True when it is news: not set aside already for this reason (a pull reads the newest resource of a
        type again at its next run, and the doctor is alerted to an unreadable answer once)."""
        core = self._core
        row_id = f"{PULLED_PREFIX}{resource_type}/{remote_id}"
        kept = {"reason": reason[:500], "about": about[:200]} if about else {"reason": reason[:500]}
        with core.write() as conn:
            row = conn.execute("SELECT key_id, payload FROM sync_parked WHERE id = ?", (row_id,)).fetchone()
            news = row is None or core.open("sync_parked", row_id, row[0], row[1]) != kept
            key_id, blob = core.seal("sync_parked", row_id, kept)
            conn.execute(
                "INSERT OR REPLACE INTO sync_parked(id, entity, entity_id, since, key_id, payload)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (row_id, resource_type, remote_id, core.clock().isoformat(), key_id, blob),
            )
            core.append_audit(conn, "sync", "sync.park_pulled", resource_type, remote_id, "not applied here")
        return news

    def unpark_pulled(self, resource_type: str, remote_ids: list[str]) -> None:
        """Resources that were applied after all: no longer set aside."""
        with self._core.write() as conn:
            conn.executemany(
                "DELETE FROM sync_parked WHERE id = ?", [(f"{PULLED_PREFIX}{resource_type}/{r}",) for r in remote_ids]
            )

    def retry_parked(self, seq: int, *, actor: str) -> None:
        """Queue a parked row again (after the record was fixed, or the platform was)."""
        core = self._core
        with core.write() as conn:
            row = conn.execute(
                "SELECT entity, entity_id FROM outbox WHERE seq = ? AND state = 'parked'", (seq,)
            ).fetchone()
            if row is None:
                raise RecordNotFound(f"no parked record {seq}")
            conn.execute("DELETE FROM sync_parked WHERE id = ?", (str(seq),))
            newer = conn.execute(
                "SELECT 1 FROM outbox WHERE entity = ? AND entity_id = ? AND state = 'pending'", row
            ).fetchone()
            if newer:  # a later edit is queued already and carries the latest state
                conn.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
            else:
                conn.execute(
                    "UPDATE outbox SET state = 'pending', attempts = 0, last_error = NULL WHERE seq = ?", (seq,)
                )
            core.append_audit(conn, actor, "sync.retry", row[0], row[1])
        for listener in list(core.outbox_listeners):
            listener()

    # -- where each record is -------------------------------------------------------------------------

    def record_state(self, entity: str, entity_id: str) -> str:
        """``local`` (only on this PC), ``sent`` (sent, not yet confirmed) or ``confirmed`` (the platform has it)."""
        if entity not in SYNCED_TABLES:
            raise InvalidInput(f"entity must be one of {', '.join(SYNCED_TABLES)}")
        with self._core.read() as conn:
            row = conn.execute(f"SELECT remote_version FROM {entity} WHERE id = ?", (entity_id,)).fetchone()
            if row is None:
                raise RecordNotFound(f"no {entity} record {entity_id}")
            states = conn.execute(
                "SELECT state, attempts FROM outbox WHERE entity = ? AND entity_id = ?", (entity, entity_id)
            ).fetchall()
        if any(state == "pending" and attempts > 0 for state, attempts in states):
            return "sent"
        if states or row[0] is None:
            return "local"
        return "confirmed"

    def state_counts(self) -> dict[str, int]:
        """How many records are only on this PC, sent, and confirmed by the platform."""
        with self._core.read() as conn:
            return counts.state_counts(conn, SYNCED_TABLES)

    def queue_counts(self) -> dict[str, int]:
        """Outbox rows by state, open conflicts, and parked rows (``counts.queue_counts``: no record is read)."""
        with self._core.read() as conn:
            return counts.queue_counts(conn)

    # -- enrolment -------------------------------------------------------------------------------------

    def settings(self) -> dict[str, str]:
        """The ``sync.*`` settings (no secrets)."""
        with self._core.read() as conn:
            return counts.sync_settings(conn)

    def save_settings(self, values: dict[str, str | None], *, actor: str | None = None, action: str = "") -> None:
        """Set (or, with None, clear) ``sync.*`` settings; audited when an actor is given."""
        core = self._core
        with core.write() as conn:
            for key, value in values.items():
                if value is None:
                    conn.execute("DELETE FROM meta WHERE key = ?", (f"sync.{key}",))
                else:
                    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (f"sync.{key}", value))
            if actor is not None:
                core.append_audit(conn, actor, action or "sync.settings", "platform", "", ",".join(sorted(values)))

    def save_secret(self, name: str, data: dict[str, Any], *, actor: str) -> None:
        """Keep a secret (token, private key) encrypted under the data key."""
        core = self._core
        with core.write() as conn:
            key_id, blob = core.seal("sync_secrets", name, data)
            conn.execute(
                "INSERT OR REPLACE INTO sync_secrets(id, key_id, payload, updated_at) VALUES (?, ?, ?, ?)",
                (name, key_id, blob, core.clock().isoformat()),
            )
            core.append_audit(conn, actor, "sync.secret", "platform", name)

    def secret(self, name: str) -> dict[str, Any] | None:
        """A secret, decrypted (needs the keys)."""
        with self._core.read() as conn:
            row = conn.execute("SELECT key_id, payload FROM sync_secrets WHERE id = ?", (name,)).fetchone()
        return None if row is None else self._core.open("sync_secrets", name, row[0], row[1])


_KINDS = {"residents": "resident", "readings": "reading"}
_CONFLICT_SELECT = "SELECT id, entity, entity_id, resident_id, kind, created_at, key_id, payload FROM sync_conflicts"


def conflict_upsert(core: Core, conn: sqlite3.Connection, entity: str, record: Record, draft: ConflictDraft) -> str:
    """Open a conflict for a record, or widen the one already open (one open conflict per record)."""
    fields = [{"name": f.name, "base": f.base, "local": f.local, "remote": f.remote} for f in draft.fields]
    row = conn.execute(
        "SELECT id, key_id, payload FROM sync_conflicts WHERE entity = ? AND entity_id = ? AND state = 'open'",
        (entity, record.id),
    ).fetchone()
    if row is not None:
        conflict_id = str(row[0])
        old = core.open("sync_conflicts", conflict_id, row[1], row[2]).get("fields", [])
        new_names = {f["name"] for f in fields}
        fields = [f for f in old if f["name"] not in new_names] + fields
    else:
        conflict_id = new_id()
    payload = {"fields": fields, "remote_version": draft.remote_version, "remote": draft.remote}
    key_id, blob = core.seal("sync_conflicts", conflict_id, payload)
    resident_id = record.id if isinstance(record, Resident) else getattr(record, "resident_id", None)
    conn.execute(
        "INSERT OR REPLACE INTO sync_conflicts(id, entity, entity_id, resident_id, kind, state, created_at, key_id,"
        " payload) VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?)",
        (conflict_id, entity, record.id, resident_id, draft.kind, core.clock().isoformat(), key_id, blob),
    )
    core.append_audit(conn, "sync", "conflict.new", entity, record.id, "fields: " + ",".join(f["name"] for f in fields))
    return conflict_id


def resolved(current: Record, conflict: Conflict, choices: dict[str, Any]) -> Record:
    """The record with each conflicting field set as the doctor chose."""
    names = [f["name"] for f in conflict.fields]
    unknown = sorted(set(choices) - set(names))
    if unknown:
        raise InvalidInput(f"{', '.join(unknown)} is not in conflict here (fields: {', '.join(names)})")
    missing = [n for n in names if n not in choices]
    if missing:
        raise InvalidInput(f"choose local or remote for every field in conflict; missing: {', '.join(missing)}")
    if conflict.kind == "delete":
        return _resolved_record(current, conflict, choices[RECORD_FIELD])
    values: dict[str, Any] = {}
    for field in conflict.fields:
        choice = choices[field["name"]]
        if choice == "remote":
            values[field["name"]] = field["remote"]
        elif isinstance(choice, dict) and "value" in choice:
            values[field["name"]] = choice["value"]
        elif choice != "local":
            raise InvalidInput(f"{field['name']}: choose 'local', 'remote' or {{\"value\": ...}}")
    return with_fields(current, values)


def _resolved_record(current: Record, conflict: Conflict, choice: Any) -> Record:
    if choice == "local":
        return current
    if choice != "remote":
        raise InvalidInput("for a deleted-versus-edited record, choose 'local' or 'remote'")
    if conflict.remote is None:
        return with_fields(current, {"deleted": True})
    return with_fields(current, {**conflict.remote, "deleted": False})


def validated(record: Record) -> Record:
    """A record checked like any input from a person."""
    if isinstance(record, Resident):
        return validation.resident(record)
    if isinstance(record, Entry):
        return validation.entry(record)
    return record


def with_fields(record: Record, fields: dict[str, Any]) -> Record:
    """A record with some fields replaced by JSON values (read back like any stored payload)."""
    data = {**serde.to_json(record), **fields}
    return serde.from_json(type(record), data)
