"""What status counts, read from an open connection with plain SQL: no key, no model, no cryptography.

The store's own methods (``Store.counts``, ``SyncInbox.queue_counts``, ``state_counts``, ``settings``)
call these inside their read transactions, and `clinic-agent status` without a daemon calls them on a
connection of its own (``clinic_agent.runtime.status``), so both say the same from the same queries.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from clinic_agent.store.schema_version import OUTBOX_COUNT_PREFIX

PULLED_PREFIX = "pull:"  # sync_parked ids of resources from the platform (outbox rows use their seq)
_COUNTED = ("residents", "entries", "readings", "frames", "quarantine", "sealed", "audit", "users")


@dataclass(frozen=True, slots=True)
class StoreCounts:
    """Row counts that need no key (for status while locked)."""

    residents: int
    entries: int
    readings: int
    unassigned_readings: int
    critical_readings: int
    frames: int
    quarantined: int
    sealed_waiting: int
    audit_entries: int
    users: int
    outbox: dict[str, int]


def store_counts(conn: sqlite3.Connection) -> StoreCounts:
    """Rows per table, the live residents, the unassigned and critical readings and the outbox's states."""
    n = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in _COUNTED}
    unassigned = conn.execute("SELECT count(*) FROM readings WHERE resident_id IS NULL").fetchone()[0]
    critical = conn.execute("SELECT count(*) FROM readings WHERE critical = 1").fetchone()[0]
    live = conn.execute("SELECT count(*) FROM residents WHERE deleted = 0").fetchone()[0]
    return StoreCounts(
        residents=int(live),
        entries=n["entries"],
        readings=n["readings"],
        unassigned_readings=int(unassigned),
        critical_readings=int(critical),
        frames=n["frames"],
        quarantined=n["quarantine"],
        sealed_waiting=n["sealed"],
        audit_entries=n["audit"],
        users=n["users"],
        outbox=outbox_counts(conn),
    )


def outbox_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Outbox rows per state, as the outbox's triggers keep them (schema 0006): a few ``meta`` rows read,
    not the outbox counted. States with no row left are not listed."""
    rows = conn.execute(
        "SELECT key, value FROM meta WHERE key > ? AND key < ?", (OUTBOX_COUNT_PREFIX, OUTBOX_COUNT_PREFIX[:-1] + "/")
    ).fetchall()
    counts = {str(key).removeprefix(OUTBOX_COUNT_PREFIX): int(value) for key, value in rows}
    return {state: n for state, n in counts.items() if n}


def queue_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Outbox rows by state, open conflicts, and parked rows: a refused push or a platform resource the
    pull could not apply, as ``parked`` lists them (cheap: the counts kept by the outbox's triggers,
    the open conflicts' own index and the few parked pulls; no record is read)."""
    rows = outbox_counts(conn)
    conflicts = conn.execute("SELECT count(*) FROM sync_conflicts WHERE state = 'open'").fetchone()[0]
    pulled = conn.execute(
        "SELECT count(*) FROM sync_parked WHERE substr(id, 1, ?) = ?", (len(PULLED_PREFIX), PULLED_PREFIX)
    ).fetchone()[0]
    return {
        "pending": int(rows.get("pending", 0)),
        "parked": int(rows.get("parked", 0)) + int(pulled),
        "local_only": int(rows.get("local", 0)),
        "conflicts": int(conflicts),
    }


def state_counts(conn: sqlite3.Connection, tables: Sequence[str]) -> dict[str, int]:
    """How many records of ``tables`` are only on this PC, sent, and confirmed by the platform."""
    counts = {"local": 0, "sent": 0, "confirmed": 0}
    for table in tables:
        total = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        sent = conn.execute(
            "SELECT count(DISTINCT entity_id) FROM outbox WHERE entity = ? AND state = 'pending' AND attempts > 0",
            (table,),
        ).fetchone()[0]
        confirmed = conn.execute(
            f"SELECT count(*) FROM {table} t WHERE remote_version IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.entity = ? AND o.entity_id = t.id)",
            (table,),
        ).fetchone()[0]
        counts["sent"] += int(sent)
        counts["confirmed"] += int(confirmed)
        counts["local"] += int(total) - int(sent) - int(confirmed)
    return counts


def sync_settings(conn: sqlite3.Connection) -> dict[str, str]:
    """The ``sync.*`` settings (no secrets)."""
    rows = conn.execute("SELECT key, value FROM meta WHERE key LIKE 'sync.%'").fetchall()
    return {key.removeprefix("sync."): value for key, value in rows}
