"""The audit log as stored, and the outbox as the sync engine and status see it."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clinic_agent.core.model import AuditEntry
from clinic_agent.security import audit, crypto
from clinic_agent.store.core import DEFERRED_AUDIT_LIMIT, Core, pending_in_order
from clinic_agent.store.counts import outbox_counts
from clinic_agent.store.schema_version import BY_OBJECT


class AuditLog:
    """Reading, appending and verifying the audit chain."""

    def __init__(self, core: Core) -> None:
        self._core = core
        # Whether the call that makes DEFERRED_AUDIT_LIMIT entries wait commits them itself, before it returns.
        # The daemon's API server turns this off and commits them just after sending that request's answer,
        # so the keypress that happens to be the 64th does not wait for a commit and its fsync.
        self.flush_when_full = True

    def record(self, actor: str, action: str, object_type: str = "", object_id: str = "", detail: str = "") -> None:
        """Append one entry in its own transaction (views, logins, exports, ...)."""
        with self._core.write() as conn:
            self._core.append_audit(conn, actor, action, object_type, object_id, detail)

    def defer(self, actor: str, action: str, object_type: str = "", object_id: str = "", detail: str = "") -> None:
        """Append one entry with the next write transaction instead of a commit of its own (a search per
        keypress); it keeps the time it was noted. Flushed by any write, by the daemon's housekeeping
        every few seconds, at lock and at close, or when many are waiting: at once, or (``flush_when_full``
        off) by the caller just after its answer."""
        if self._core.defer_audit(actor, action, object_type, object_id, detail) and self.flush_when_full:
            self.flush_deferred()

    @property
    def deferred_full(self) -> bool:
        """Whether enough entries wait (DEFERRED_AUDIT_LIMIT) that they should be committed now."""
        return self._core.deferred_audit >= DEFERRED_AUDIT_LIMIT

    def flush_deferred(self) -> None:
        """Commit the entries deferred so far (nothing when none wait)."""
        if self._core.deferred_audit:
            with self._core.write():
                pass  # a write transaction puts them into the chain first

    def note_while_locked(self, actor: str, action: str, detail: str = "") -> None:
        """A security event while locked (a failed unlock): into the chain if the audit key is still
        here (locked after an unlock), else kept until the next unlock puts it there."""
        with self._core.write() as conn:
            note_security_event(self._core, conn, actor, action, detail)

    def flush_pending(self) -> int:
        """Move events noted while locked into the chain (needs the audit key)."""
        core = self._core
        with core.write() as conn:
            rows = conn.execute("SELECT id, at, actor, action, detail FROM pending_events ORDER BY id").fetchall()
            for _, at, actor, action, detail in rows:
                core.append_audit(conn, actor, action, "store", "", detail, at=datetime.fromisoformat(at))
            conn.execute("DELETE FROM pending_events")
        return len(rows)

    def entries(self, *, after: int = 0, batch: int = 5000) -> Iterator[AuditEntry]:
        """Every entry in order, read in batches."""
        while True:
            with self._core.read() as conn:
                rows = conn.execute(
                    "SELECT seq, at, actor, action, object_type, object_id, detail, mac FROM audit"
                    " WHERE seq > ? ORDER BY seq LIMIT ?",
                    (after, batch),
                ).fetchall()
            yield from map(_entry, rows)
            if len(rows) < batch:
                return
            after = rows[-1][0]

    def for_objects(self, object_ids: list[str], *, verbs: Collection[str] = (), limit: int = 500) -> list[AuditEntry]:
        """Entries about any of these records, newest first (a resident's history of changes).

        ``verbs`` keeps only actions ending in one of them ("create" keeps "allergy.create"), so that
        however often a file was viewed, the changes are what the limit counts. A reading's creation is
        not among them: the index by object leaves it out (schema 0011); the reading's row says when it came.
        """
        found: list[AuditEntry] = []
        verb_filter = f" AND ({' OR '.join('action LIKE ?' for _ in verbs)})" if verbs else ""
        patterns = [f"%.{verb}" for verb in verbs]
        with self._core.read() as conn:
            for start in range(0, len(object_ids), 500):
                chunk = object_ids[start : start + 500]
                rows = conn.execute(
                    "SELECT seq, at, actor, action, object_type, object_id, detail FROM audit"
                    f" WHERE object_id IN ({', '.join('?' * len(chunk))}) AND {BY_OBJECT}{verb_filter}"
                    " ORDER BY seq DESC LIMIT ?",
                    (*chunk, *patterns, limit),
                ).fetchall()
                found += map(_entry, rows)
        return sorted(found, key=lambda e: -e.seq)[:limit]

    def with_action(self, object_ids: Sequence[str], action: str) -> set[str]:
        """Which of these records have an entry of this action: ``consultation.create`` says a request was
        made on this PC, not pulled from the platform (the log is append-only, so it cannot be lost).
        Not for a reading's creation, which the index by object leaves out (schema 0011)."""
        if action == "reading.create":
            raise ValueError("a reading's creation is not looked up by object (schema 0011)")
        found: set[str] = set()
        with self._core.read() as conn:
            for start in range(0, len(object_ids), 500):
                chunk = list(object_ids[start : start + 500])
                rows = conn.execute(
                    f"SELECT DISTINCT object_id FROM audit WHERE object_id IN ({', '.join('?' * len(chunk))})"
                    f" AND {BY_OBJECT} AND action = ?",
                    (*chunk, action),
                ).fetchall()
                found.update(str(r[0]) for r in rows)
        return found

    def verify(self) -> audit.VerifyResult:
        """Walk the whole chain."""
        return audit.verify(self._core.keys().audit_key, self._core.store_id, self.entries())

    def compare_with_anchor(self, seq: int, mac: bytes, *, where: str, anchored_at: datetime | None = None) -> str:
        """Check a head anchored elsewhere (at ``anchored_at``) against the chain; a mismatch is recorded
        and returned: as a cut, or, when a restore written in the chain since explains it, as that restore.

        A restore explains it only when the chain verifies, its ``store.restored`` entry was written
        after the head was anchored there, and the restored backup ended before the anchored entry."""
        core = self._core
        with core.write() as conn:
            row = conn.execute("SELECT mac FROM audit WHERE seq = ?", (seq,)).fetchone()
            if row is not None and crypto.macs_equal(bytes(row[0]), mac):
                return ""
            last = conn.execute("SELECT max(seq) FROM audit").fetchone()[0] or 0
            restore = self._restore_since(conn, seq, anchored_at) if anchored_at is not None else None
            if restore is not None:
                restore_seq, restore_at, backup_name = restore
                problem = (
                    f"{where} holds entry {seq} of this audit log, anchored at {anchored_at:%Y-%m-%d %H:%M} UTC, "
                    f"before backup {backup_name} was restored ({restore_at[:16]}, entry {restore_seq}): the log "
                    "here goes on from that backup; the replaced copy's later entries are not in it (a known, "
                    "audited cut, not tampering)"
                )
                core.append_audit(conn, "agent", "audit.behind_restored", "audit", "", problem)
                return problem
            problem = (
                f"{where} holds entry {seq} of this audit log, but the log here ends at entry {last}: "
                f"entries {last + 1}-{seq} were removed (cut, or the database was rolled back)"
                if row is None
                else f"{where} holds entry {seq} of this audit log, and the entry here is another: "
                "the log was cut at or before it and written again"
            )
            core.append_audit(conn, "agent", "audit.cut", "audit", "", problem)
        return problem

    def _restore_since(self, conn: sqlite3.Connection, seq: int, anchored_at: datetime) -> tuple[int, str, str] | None:
        """The restore (entry, time, backup) written after ``anchored_at`` from a backup that ended before
        entry ``seq``, in a chain that verifies; None when there is none."""
        rows = conn.execute(
            "SELECT seq, at, object_id, detail FROM audit WHERE action = 'store.restored' ORDER BY seq"
        ).fetchall()
        found = None
        for restore_seq, at, backup_name, detail in rows:
            ended = re.search(r"its audit log ending at\s+entry (\d+)", detail)
            if datetime.fromisoformat(at) > anchored_at and ended is not None and int(ended.group(1)) < seq:
                found = (int(restore_seq), str(at), str(backup_name))
                break
        if found is None:
            return None
        cursor = conn.execute(
            "SELECT seq, at, actor, action, object_type, object_id, detail, mac FROM audit ORDER BY seq"
        )
        chain = audit.verify(self._core.keys().audit_key, self._core.store_id, map(_entry, cursor))
        return found if chain.ok else None

    def head(self) -> tuple[int, bytes]:
        """The last entry's sequence number and MAC (anchored on the platform at sync)."""
        with self._core.read() as conn:
            row = conn.execute("SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return (int(row[0]), bytes(row[1])) if row else (0, b"")


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One record waiting to reach the platform."""

    seq: int
    entity: str
    entity_id: str
    op: str
    priority: int
    created_at: str
    attempts: int
    last_error: str | None


class Outbox:
    """Records waiting for the platform, most urgent first, then in the order they were written."""

    def __init__(self, core: Core) -> None:
        self._core = core

    def pending(self, *, limit: int = 500) -> list[OutboxItem]:
        """The next records to send."""
        with self._core.read() as conn:
            rows = pending_in_order(
                conn, "seq, entity, entity_id, op, priority, created_at, attempts, last_error", limit=limit
            )
        return [OutboxItem(*row) for row in rows]

    def counts(self) -> dict[str, int]:
        """How many outbox entries per state (pending, parked, ...)."""
        with self._core.read() as conn:
            return outbox_counts(conn)


def note_pending(conn: sqlite3.Connection, at: datetime, actor: str, action: str, detail: str) -> None:
    """Keep an event for the audit chain until the next unlock (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO pending_events(at, actor, action, detail) VALUES (?, ?, ?, ?)",
        (at.isoformat(), actor, action, detail),
    )


def note_security_event(core: Core, conn: sqlite3.Connection, actor: str, action: str, detail: str) -> None:
    """Append to the chain when the audit key is here; otherwise keep the event pending."""
    if core.audit_key is not None:
        core.append_audit(conn, actor, action, "store", "", detail)
    else:
        note_pending(conn, core.clock(), actor, action, detail)


def _entry(row: Sequence[Any]) -> AuditEntry:
    """An audit row (seq, at, actor, action, object_type, object_id, detail[, mac]) as an entry."""
    seq, at, actor, action, object_type, object_id, detail, *mac = row
    return AuditEntry(
        seq=seq,
        at=datetime.fromisoformat(at),
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        detail=detail,
        mac=mac[0] if mac else b"",
    )
