"""What every part of the store shares: the connection, transactions, payload crypto, audit, outbox.

One method of the store is one transaction: BEGIN IMMEDIATE, the rows, their outbox entry and their
audit entry, COMMIT. Nothing is acknowledged to a device or a screen before COMMIT returns.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from clinic_agent.core.errors import SaveUncertain, StorageFailed, StoreCorrupted, StoreLocked
from clinic_agent.security import audit, crypto
from clinic_agent.security.keys import Keyring
from clinic_agent.store.anchor import Anchor, AnchorFile
from clinic_agent.store.binding import ROW_KEY, agrees, bound_values, mismatched, positions
from clinic_agent.store.checkpoint import FALLBACK_PAGES, Checkpointer
from clinic_agent.store.connection import is_disk_failure, is_io_error, open_connection, translate_errors
from clinic_agent.store.schema_version import ONE_PENDING_KEY, URGENT

Clock = Callable[[], datetime]
_SQLITE_IOERR = 10
_LOOKS = 5  # a file is called damaged only if this many fresh looks agree
DEFERRED_AUDIT_LIMIT = 64  # deferred audit entries that make their own commit rather than wait longer
_ERROR_CODE = re.compile(r"error code=(\d+)")  # in quick_check's "unable to get the page. error code=N"
_BLOCK = 4096  # the disk's block and SQLite's page: the read-back reads as SQLite does


def _checkpoints_rarely(conn: sqlite3.Connection) -> sqlite3.Connection:
    """The store's connection leaves checkpoints to the Checkpointer's thread unless it falls far behind."""
    conn.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_PAGES}")
    return conn


class Core:
    """The open database and, when unlocked, the keyring."""

    def __init__(
        self,
        path: Path,
        conn: sqlite3.Connection,
        store_id: str,
        public_key: X25519PublicKey,
        clock: Clock,
        synchronous: str,
    ) -> None:
        self.path = path
        self.conn = _checkpoints_rarely(conn)
        self.store_id = store_id
        self.public_key = public_key
        self.clock = clock
        self.keyring: Keyring | None = None
        # The audit key outlives a lock (it opens nothing), so that what happens while locked goes
        # straight into the chain; only a daemon that has not been unlocked since it started lacks it.
        self.audit_key: bytes | None = None
        # Once every row carries a copy of its bound clear columns, a row without one is refused.
        self.rows_bound = False
        self._synchronous = synchronous
        self._lock = threading.RLock()
        self._broken = False
        # Read once per write transaction (BEGIN IMMEDIATE holds the write lock, so nobody else
        # can move them meanwhile), then carried in memory until COMMIT.
        self._change_seq: int | None = None
        self._audit_head: tuple[int, bytes] | None = None
        self._audit_appended = False
        # The audit chain's head as last anchored (store/anchor.py): a chain found shorter, or
        # different at that entry, was cut behind the agent's back.
        self.anchor_file = AnchorFile(path.with_name(path.stem + ".anchor"), store_id)
        self.anchor: Anchor | None = None
        # Called after a COMMIT that queued work for the platform (the sync loop wakes up).
        self.outbox_listeners: list[Callable[[], None]] = []
        self._outbox_touched = False
        # Audit entries waiting for the next write transaction (searches as one types): no commit and
        # no fsync of their own. A lock of their own, so that noting one never waits for a commit.
        self._deferred: list[tuple[datetime, str, str, str, str, str]] = []
        self._deferred_lock = threading.Lock()
        # The WAL goes back into the database file on a thread of its own (store/checkpoint.py).
        self.checkpointer = Checkpointer(lambda: open_connection(path, synchronous=synchronous), path)

    # -- transactions ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; rolled back whole on any error."""
        with self._lock, self._translated():
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            self._change_seq, self._audit_head, self._outbox_touched = None, None, False
            try:
                deferred = self._append_deferred(conn)
                yield conn
                self._save_change_seq(conn)
                head, appended = self._audit_written()
                anchored = self._anchor_slot(head) if appended else None
                self._commit(conn)
            except BaseException as exc:
                self._rollback(conn, exc)
                raise
            finally:
                self._change_seq, self._audit_head, self._audit_appended = None, None, False
            self.checkpointer.committed()
            if deferred:
                with self._deferred_lock:
                    del self._deferred[:deferred]  # in the chain now; any noted meanwhile wait for the next
            if anchored is not None:
                self.anchor, slot = anchored
                self.anchor_file.put(slot)
        if self._outbox_touched:
            self._outbox_touched = False
            for listener in list(self.outbox_listeners):
                listener()

    def _anchor_slot(self, head: tuple[int, bytes] | None) -> tuple[Anchor, tuple[int, bytes]] | None:
        """The head this transaction makes, with its anchor slot (written after the commit)."""
        if head is None or self.audit_key is None:
            return None
        anchor = Anchor(*head)
        return anchor, self.anchor_file.slot(self.audit_key, anchor)

    def _append_deferred(self, conn: sqlite3.Connection) -> int:
        """Put the deferred audit entries into the chain, first in this transaction (so in time order)."""
        if self.audit_key is None:
            return 0
        with self._deferred_lock:
            waiting = list(self._deferred)
        for at, actor, action, object_type, object_id, detail in waiting:
            self.append_audit(conn, actor, action, object_type, object_id, detail, at=at)
        return len(waiting)

    def defer_audit(
        self, actor: str, action: str, object_type: str = "", object_id: str = "", detail: str = ""
    ) -> bool:
        """Note an audit entry that joins the chain with the next write transaction, at the time noted now.

        For what is done many times a second (a search per keypress): no commit, no fsync of its own.
        Returns True when enough are waiting (DEFERRED_AUDIT_LIMIT) that the caller should flush them.
        """
        if self.audit_key is None:
            raise StoreLocked("the store is locked; unlock it with a passphrase first")
        with self._deferred_lock:
            self._deferred.append((self.clock(), actor, action, object_type, object_id, _one_line(detail)))
            return len(self._deferred) >= DEFERRED_AUDIT_LIMIT

    @property
    def deferred_audit(self) -> int:
        """How many audit entries wait for the next write transaction."""
        with self._deferred_lock:
            return len(self._deferred)

    def _commit(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if is_io_error(exc):
                # The WAL frames may already be in the file and come back at the next recovery, or
                # not: nobody can say "nothing was saved" here (found by the fsync fault tests).
                self._broken = True
                raise SaveUncertain(
                    "the disk failed while saving: it may or may not have been saved. "
                    "Look before entering it again; if this repeats, have the disk checked"
                ) from exc
            raise

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """The store's own errors, with a second opinion before the file is called damaged."""
        try:
            with translate_errors():
                yield
        except StoreCorrupted as exc:
            # One failed page read makes SQLite say "corrupt" (a short read comes back zero-filled);
            # fresh looks at the file tell a failing disk from real damage (found by the I/O fault tests).
            if exc.table is None and not self._file_damaged():
                self._broken = True
                raise StorageFailed(
                    "the disk reported a read error; nothing was saved. Try again, and have the disk "
                    "checked if it keeps happening"
                ) from exc
            raise

    def _file_damaged(self) -> bool:
        """Whether fresh looks at the file find the same damage, _LOOKS times. Damage stays put; a look the
        disk interrupted, or looks that disagree, mean a failing disk, not a damaged file."""
        first = self._look()
        return first is not None and all(self._look() == first for _ in range(_LOOKS - 1))

    def _look(self) -> str | None:
        """quick_check on a fresh connection: the damage it found, or None (sound, or the disk failed the look)."""
        try:
            with contextlib.closing(sqlite3.connect(self.path, timeout=5)) as probe:
                try:
                    verdict = str(probe.execute("PRAGMA quick_check").fetchone()[0])
                except sqlite3.Error as exc:
                    if is_io_error(exc):
                        return None
                    found = f"{type(exc).__name__}: {exc}"
                else:
                    # A page the disk would not give ("unable to get the page. error code=266") is no evidence.
                    unreadable = any(int(code) & 0xFF == _SQLITE_IOERR for code in _ERROR_CODE.findall(verdict))
                    if verdict == "ok" or unreadable:
                        return None
                    found = verdict
                # A statement reports an EIO on read as "database disk image is malformed" (SQLite turns
                # SQLITE_IOERR_CORRUPTFS into SQLITE_CORRUPT), the same words at every look at a failing
                # disk: damage counts only in a file the disk reads back whole (found by the I/O fault
                # tests). Read while the probe is open, through its descriptor.
                return found if _reads_back(self.path) else None
        except sqlite3.Error as exc:
            return None if is_io_error(exc) else f"{type(exc).__name__}: {exc}"

    def _save_change_seq(self, conn: sqlite3.Connection) -> None:
        if self._change_seq is None:
            return
        # An UPDATE in place: a REPLACE would delete and insert the row, touching meta's key index too
        # (one WAL page more in every record's commit).
        value = str(self._change_seq)
        if conn.execute("UPDATE meta SET value = ? WHERE key = 'change_seq'", (value,)).rowcount == 0:
            conn.execute("INSERT INTO meta(key, value) VALUES ('change_seq', ?)", (value,))

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent read (one snapshot)."""
        with self._lock, self._translated():
            conn = self._connection()
            try:
                conn.execute("BEGIN")
                yield conn
            except BaseException as exc:
                if is_disk_failure(exc):
                    self._broken = True
                raise
            finally:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")

    def _rollback(self, conn: sqlite3.Connection, exc: BaseException) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                self._broken = True
        if is_disk_failure(exc):
            # After an I/O error during a sync, the page cache may not match the disk: reopen
            # rather than trust it (the fsyncgate lesson).
            self._broken = True

    def _connection(self) -> sqlite3.Connection:
        if self._broken:
            with contextlib.suppress(sqlite3.Error):
                self.conn.close()
            self.conn = _checkpoints_rarely(open_connection(self.path, synchronous=self._synchronous))
            self._broken = False
        return self.conn

    def mark_broken(self) -> None:
        """Reopen the connection before the next use (after an I/O error)."""
        self._broken = True

    def close(self) -> None:
        """Close the connection and forget the keys."""
        self.checkpointer.stop()
        with self._lock:
            self.keyring = None
            self.audit_key = None
            self.anchor_file.close()
            with contextlib.suppress(sqlite3.Error):
                self.conn.close()

    # -- keys and payloads -------------------------------------------------------------------------

    def keys(self) -> Keyring:
        """The keyring, or StoreLocked."""
        keyring = self.keyring
        if keyring is None:
            raise StoreLocked("the store is locked; unlock it with a passphrase first")
        return keyring

    def seal(
        self, table: str, row_id: str, data: dict[str, Any], *, row: Mapping[str, object] | None = None
    ) -> tuple[str, bytes]:
        """Encrypt a row's payload under the current data key; returns (key id, blob).

        ``row``: the row's clear columns, whose bound ones (binding.BOUND_COLUMNS) go inside too.
        """
        if row is not None:
            data = {**data, ROW_KEY: bound_values(table, row)}
        return self.seal_raw(table, row_id, json.dumps(data, separators=(",", ":")).encode())

    def seal_raw(self, table: str, row_id: str, plaintext: bytes) -> tuple[str, bytes]:
        """Encrypt bytes as a row's payload under the current data key; returns (key id, blob)."""
        cipher = self.keys().cipher()
        return cipher.key_id, cipher.seal(table, row_id, plaintext)

    def open(
        self, table: str, row_id: str, key_id: str, blob: bytes, *, row: Mapping[str, object] | None = None
    ) -> dict[str, Any]:
        """Decrypt a row's payload; a row that fails authentication is named, never returned.

        With ``row`` (the clear columns as read), they are checked against the copy inside and the
        copy is removed; without it, the payload is returned as stored (key rotation re-seals it so).
        """
        try:
            data = json.loads(self.open_raw(table, row_id, key_id, blob))
        except ValueError:
            raise _failed_integrity(table, row_id) from None
        if not isinstance(data, dict):
            raise _no_record(table, row_id)
        if row is not None:
            self._check_bound(table, row_id, data, row)
        return data

    def open_page(
        self, table: str, rows: Sequence[Sequence[Any]], names: tuple[str, ...]
    ) -> list[dict[str, Any] | StoreCorrupted]:
        """Decrypt a page of rows read as ``names`` (id, key_id, payload and the bound columns among them,
        any more columns after them): for each, what ``open`` with its clear columns gives, or the
        StoreCorrupted it raises.

        For reading many rows at once (the name index at an unlock without its saved copy): the
        payloads are parsed as one JSON array (a row that spoils it is parsed alone), and each row's
        bound columns are compared from the tuple as read, a dict made only for a row that differs."""
        at_id, at_key, at_payload = names.index("id"), names.index("key_id"), names.index("payload")
        at_bound = positions(table, names)
        opened: list[bytes | StoreCorrupted] = []
        for row in rows:
            try:
                opened.append(self.open_raw(table, row[at_id], row[at_key], row[at_payload]))
            except StoreCorrupted as exc:
                opened.append(exc)
        parsed = iter(_parsed_together([p for p in opened if isinstance(p, bytes)]))
        found: list[dict[str, Any] | StoreCorrupted] = []
        for row, plain in zip(rows, opened, strict=True):
            data = plain if isinstance(plain, StoreCorrupted) else next(parsed)
            if data is _UNREADABLE:
                data = _failed_integrity(table, row[at_id])
            elif not isinstance(data, dict):
                data = data if isinstance(data, StoreCorrupted) else _no_record(table, row[at_id])
            elif agrees(data.get(ROW_KEY), row, at_bound):
                del data[ROW_KEY]
            else:
                try:
                    self._check_bound(table, row[at_id], data, dict(zip(names, row, strict=False)))
                except StoreCorrupted as exc:
                    data = exc
            found.append(data)
        return found

    def open_raw(self, table: str, row_id: str, key_id: str, blob: bytes) -> bytes:
        """Decrypt a row's payload as the bytes sealed (no JSON read); StoreCorrupted when it fails authentication."""
        try:
            return self.keys().cipher(key_id).open(table, row_id, blob)
        except crypto.DecryptionFailed:
            raise _failed_integrity(table, row_id) from None

    def _check_bound(self, table: str, row_id: str, data: dict[str, Any], row: Mapping[str, object]) -> None:
        bound = data.pop(ROW_KEY, None)
        if bound is None:
            if self.rows_bound:
                raise StoreCorrupted(
                    f"row {row_id} of {table} carries no copy of its clear columns (an old row put back?); "
                    "it is not shown",
                    table=table,
                    row_id=row_id,
                )
            return  # written before rows were bound; bound at the next unlock
        changed = mismatched(table, bound, row) if isinstance(bound, dict) else ["all columns"]
        if changed:
            raise StoreCorrupted(
                f"row {row_id} of {table} was changed outside the agent ({', '.join(changed)} no longer match "
                "what was written); it is not shown",
                table=table,
                row_id=row_id,
            )

    def blind_index(self, kind: str, value: str) -> bytes:
        """The blind index of a value under this store's index key."""
        return crypto.blind_index(self.keys().index_key, kind, value)

    # -- the rows that go with every fact --------------------------------------------------------------

    def next_change_seq(self, conn: sqlite3.Connection) -> int:
        """A store-wide counter, bumped by every record write (lets readers catch up on changes)."""
        if self._change_seq is None:
            row = conn.execute("SELECT value FROM meta WHERE key = 'change_seq'").fetchone()
            self._change_seq = int(row[0]) if row else 0
        self._change_seq += 1
        return self._change_seq

    def append_audit(
        self,
        conn: sqlite3.Connection,
        actor: str,
        action: str,
        object_type: str = "",
        object_id: str = "",
        detail: str = "",
        at: datetime | None = None,
    ) -> int:
        """Append one entry to the audit chain inside the caller's transaction; returns its seq. (No
        AuditEntry is made: nobody needs it back, and it cost 2 us in every reading's commit, issue 13.)"""
        key = self.audit_key
        if key is None:
            raise StoreLocked("the store is locked; unlock it with a passphrase first")
        if self._audit_head is None:
            last = conn.execute("SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            self._audit_head = (int(last[0]), bytes(last[1])) if last else (0, audit.genesis_mac(key, self.store_id))
            cut = self._cut_since_anchor(conn)
            if cut:
                self.anchor = None  # said once, in the chain itself; the new head is anchored after COMMIT
                self.append_audit(conn, "agent", "audit.cut", "audit", "", cut)
        seq, previous = self._audit_head[0] + 1, self._audit_head[1]
        at = at or self.clock()
        fields = (seq, at.isoformat(), actor, action, object_type, object_id, _one_line(detail))
        mac = audit.link_mac(key, audit.canonical_of(*fields), previous)
        conn.execute(
            "INSERT INTO audit(seq, at, actor, action, object_type, object_id, detail, mac) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (*fields, mac),
        )
        self._audit_head = (seq, mac)
        self._audit_appended = True
        return seq

    def _audit_written(self) -> tuple[tuple[int, bytes] | None, bool]:
        """The chain's head in this transaction, and whether the transaction appended to it."""
        return self._audit_head, self._audit_appended

    def _cut_since_anchor(self, conn: sqlite3.Connection) -> str:
        """Why the chain in the database is not the one last anchored ('' when it is)."""
        anchor, head = self.anchor, self._audit_head
        if anchor is None or head is None:
            return ""
        if head[0] == anchor.seq and crypto.macs_equal(head[1], anchor.mac):
            return ""
        if head[0] < anchor.seq:
            return (
                f"the audit log ended at entry {head[0]}, but entry {anchor.seq} had been written: "
                f"entries {head[0] + 1}-{anchor.seq} were removed (cut, or the database was rolled back)"
            )
        row = conn.execute("SELECT mac FROM audit WHERE seq = ?", (anchor.seq,)).fetchone()
        if row is not None and crypto.macs_equal(bytes(row[0]), anchor.mac):
            return ""  # another process of this agent wrote after it
        return (
            f"audit entry {anchor.seq} is not the one that was written: the log was cut at or before it "
            "and written again"
        )

    def append_outbox(self, conn: sqlite3.Connection, entity: str, entity_id: str, op: str, priority: int = 0) -> None:
        """Queue a record for the platform; one pending entry per record (it carries the latest state)."""
        conn.execute(
            "INSERT INTO outbox(entity, entity_id, op, priority, created_at, state, attempts) "
            "VALUES (?, ?, ?, ?, ?, 'pending', 0) "
            f"ON CONFLICT(entity, entity_id, {ONE_PENDING_KEY}) "
            "DO UPDATE SET priority = max(priority, excluded.priority), "
            "op = CASE WHEN outbox.op = 'create' THEN 'create' ELSE excluded.op END",
            (entity, entity_id, op, priority, self.clock().isoformat()),
        )
        self._outbox_touched = True


def pending_in_order(
    conn: sqlite3.Connection, columns: str, *, limit: int, after: tuple[int, int] | None = None
) -> list[Any]:
    """Pending outbox rows (``columns`` of each), most urgent first, then oldest; ``after`` is the last
    (priority, seq) seen. Those with a priority through their index (schema 0010), then those without
    in seq order, the table's own (priorities are never negative: 0 is the last)."""
    rows: list[Any] = []
    if after is None or after[0] != 0:
        sql = f"SELECT {columns} FROM outbox WHERE {URGENT}"
        params: tuple[int, ...] = ()
        if after is not None:
            sql += " AND (priority < ? OR (priority = ? AND seq > ?))"
            params = (after[0], after[0], after[1])
        rows = conn.execute(f"{sql} ORDER BY priority DESC, seq LIMIT ?", (*params, limit)).fetchall()
    if len(rows) < limit:
        sql = f"SELECT {columns} FROM outbox WHERE state = 'pending' AND priority = 0"
        since = after[1] if after is not None and after[0] == 0 else 0
        rows += conn.execute(f"{sql} AND seq > ? ORDER BY seq LIMIT ?", (since, limit - len(rows))).fetchall()
    return rows


def _one_line(text: str) -> str:
    """Audit details are single printable lines (no log injection)."""
    return "".join(ch if ch.isprintable() else " " for ch in text)[:500]


def _failed_integrity(table: str, row_id: str) -> StoreCorrupted:
    return StoreCorrupted(
        f"row {row_id} of {table} failed its integrity check (tampered or damaged); it is not shown",
        table=table,
        row_id=row_id,
    )


def _no_record(table: str, row_id: str) -> StoreCorrupted:
    return StoreCorrupted(f"row {row_id} of {table} holds no record", table=table, row_id=row_id)


def _parsed_together(payloads: list[bytes]) -> list[object]:
    """Each payload read as JSON, in one parse when they make a JSON array together (a call per payload
    costs more than the parse of a small one); a payload that is not JSON becomes an error in its place."""
    try:
        together = json.loads(b"[" + b",".join(payloads) + b"]")
    except ValueError:
        together = None
    if isinstance(together, list) and len(together) == len(payloads):
        return together
    return [_parsed(payload) for payload in payloads]


_UNREADABLE = object()  # a payload that is not JSON, named as one that failed its integrity check (as by ``open``)


def _parsed(payload: bytes) -> object:
    try:
        return json.loads(payload)
    except ValueError:
        return _UNREADABLE


def _reads_back(path: Path) -> bool:
    """Whether the disk gives back every block of the database and its WAL without an error.

    Read through descriptors SQLite holds open on them: opening and closing one of our own would drop
    SQLite's POSIX locks on the file (every lock a process holds on a file goes at any close of it).
    """
    for name in (path, path.with_name(path.name + "-wal")):
        fd = _descriptor_of(name)
        if fd is None:
            continue  # not open here (no WAL, or no /proc): nothing to say against the looks
        offset = 0
        try:
            while block := os.pread(fd, _BLOCK, offset):
                offset += len(block)
        except OSError as exc:
            if exc.errno != errno.EBADF:  # EBADF: another connection closed that descriptor meanwhile
                return False
    return True


def _descriptor_of(path: Path) -> int | None:
    """A descriptor this process holds open on ``path`` (Linux's /proc/self/fd), or None."""
    target = os.path.realpath(path)
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for name in names:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{name}") == target:
                return int(name)
    return None
