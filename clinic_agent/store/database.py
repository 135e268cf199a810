"""The encrypted local store: a small typed API over SQLite (through sqlite-utils).

Callers see domain objects and ids, never SQL rows. Each method is one transaction; a clinical fact
commits together with its outbox entry and its audit entry. Imported as ``clinic_agent.store.Store``
(the package loads this module when the name is first asked for).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from clinic_agent.core import serde
from clinic_agent.core.errors import ClinicAgentError, InvalidInput, RecordNotFound, StoreCorrupted
from clinic_agent.core.model import QuarantinedFrame, Reading, utcnow
from clinic_agent.security import crypto
from clinic_agent.security.audit import VerifyResult
from clinic_agent.security.keys import KeyFile, Keyring
from clinic_agent.store import integrity, schema_version
from clinic_agent.store.connection import check_belongs, open_connection, translate_errors
from clinic_agent.store.core import Clock, Core
from clinic_agent.store.counts import StoreCounts, store_counts
from clinic_agent.store.drafts import Drafts
from clinic_agent.store.entries import Entries
from clinic_agent.store.guard import Guard
from clinic_agent.store.integrity import IntegrityReport
from clinic_agent.store.journal import AuditLog, Outbox, OutboxItem
from clinic_agent.store.readings import AddedReading, Frames, Quarantine, Readings, check_reading, sealed_info
from clinic_agent.store.residents import ResidentPage, Residents
from clinic_agent.store.search_index import SearchIndex
from clinic_agent.store.sync_state import SyncState
from clinic_agent.store.users import Users

__all__ = ["AddedReading", "OutboxItem", "ResidentPage", "Store", "StoreCounts", "UnlockReport"]

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UnlockReport:
    """What unlocking brought in."""

    sealed_opened: int
    sealed_failed: list[str]
    events_logged: int


class Store:
    """The store of one clinic: residents, their files, readings, users, audit and outbox."""

    def __init__(self, core: Core) -> None:
        self._core = core
        self.residents = Residents(core)
        self.entries = Entries(core)
        self.readings = Readings(core)
        self.frames = Frames(core)
        self.quarantine = Quarantine(core)
        self.guard = Guard(core)
        self.users = Users(core, self.guard)
        self.audit = AuditLog(core)
        self.drafts = Drafts(core)
        self.outbox = Outbox(core)
        self.sync = SyncState(core)
        self.search_index = SearchIndex(core)

    # -- opening -----------------------------------------------------------------------------------

    @classmethod
    def create(cls, path: Path, keyfile: KeyFile, *, clock: Clock = utcnow) -> Store:
        """Create a new, empty store bound to a key file; refuse if a database is already there."""
        if path.exists():
            raise StoreCorrupted(f"a database already exists at {path}; it was left untouched")
        _create_private(path)
        conn = open_connection(path, create=True)
        with translate_errors():
            from sqlite_utils import Database

            from clinic_agent.store import schema

            schema.migrate(Database(conn, execute_plugins=False))
            conn.execute("INSERT INTO meta(key, value) VALUES ('store_id', ?)", (keyfile.store_id,))
            conn.execute("INSERT INTO meta(key, value) VALUES ('created_at', ?)", (clock().isoformat(),))
        return cls(Core(path, conn, keyfile.store_id, keyfile.sealing_public_key(), clock, "FULL"))

    @classmethod
    def open(
        cls, path: Path, keyfile: KeyFile, *, clock: Clock = utcnow, synchronous: str = "FULL", upgrade: bool = True
    ) -> Store:
        """Open an existing store; refuse a key file of another store, and a database a newer agent upgraded.

        With ``upgrade`` (the default) a database of an older version is first backed up (into
        ``backups/`` beside it) and then migrated in one transaction; a failing migration changes nothing.
        Without it (checking a backup) the schema is left as it is. ``synchronous`` exists for the
        power-loss test's negative control only.
        """
        conn = open_connection(path, synchronous=synchronous)
        try:
            check_belongs(conn, path, keyfile.store_id, keyfile.path)
            with translate_errors():
                if not schema_version.is_current(conn):
                    _upgrade_or_refuse(conn, path, keyfile, upgrade=upgrade)
        except BaseException:
            conn.close()
            raise
        return cls(Core(path, conn, keyfile.store_id, keyfile.sealing_public_key(), clock, synchronous))

    @property
    def store_id(self) -> str:
        """This store's random id."""
        return self._core.store_id

    @property
    def locked(self) -> bool:
        """True while the data key is not loaded."""
        return self._core.keyring is None

    @property
    def keyring(self) -> Keyring | None:
        """The loaded keyring (rotation needs it)."""
        return self._core.keyring

    def add_frame(
        self,
        frame_id: str,
        device_id: str,
        raw: bytes,
        received_at: datetime,
        *,
        readings: Sequence[Reading] = (),
        quarantined: Sequence[QuarantinedFrame] = (),
        actor: str,
    ) -> list[AddedReading]:
        """A device frame and everything read from it in ONE transaction (one fsync): the raw bytes archived,
        the parts that could not be stored as clinical data quarantined, the readings stored (sealed while
        locked). All or none: a frame is never stored without its archive, nor archived and half read."""
        for reading in readings:
            check_reading(reading)
        with self._core.write() as conn:
            self.frames.put(conn, frame_id, device_id, raw, received_at)
            for item in quarantined:
                self.quarantine.put(conn, item, actor=actor)
            return self.readings.put_many(conn, list(readings), actor=actor)

    def heartbeat(self) -> None:
        """Take and release the write lock, as storing a reading does (the watchdog's proof of life)."""
        with self._core.write() as conn:
            conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()

    # -- locking -----------------------------------------------------------------------------------

    def unlock(self, keyring: Keyring, *, actor: str) -> UnlockReport:
        """Load the keys, log what waited, and move everything sealed while locked into its table."""
        if keyring.store_id != self.store_id:
            raise StoreCorrupted("that keyring belongs to another store")
        self._core.keyring = keyring
        self._core.audit_key = keyring.audit_key
        anchor_problem = self._load_anchor(keyring)
        events = self.audit.flush_pending()  # the first entry written checks the chain against its anchor
        if anchor_problem:
            self.audit.record("agent", anchor_problem[0], "audit", "", anchor_problem[1])
        self.audit.record(actor, "unlock", "store", self.store_id)
        self._core.rows_bound = integrity.rows_are_bound(self._core)
        if not self._core.rows_bound:
            integrity.bind_legacy_rows(self._core)
        opened, failed = self._open_sealed(keyring)
        return UnlockReport(opened, failed, events)

    def _load_anchor(self, keyring: Keyring) -> tuple[str, str] | None:
        """Read the audit anchor; what is wrong with it, as an audit action and detail, if anything."""
        core = self._core
        core.anchor = core.anchor_file.read(keyring.audit_key)
        with core.read() as conn:
            anchored = conn.execute("SELECT value FROM meta WHERE key = 'anchored'").fetchone() is not None
        if not anchored:
            with core.write() as conn:  # from now on the anchor file must be there
                conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('anchored', '1')")
            return None
        if core.anchor is not None:
            return None
        if core.anchor_file.exists():
            return "audit.anchor_unreadable", "the audit anchor file does not check out (replaced or damaged)"
        return "audit.anchor_missing", "the audit anchor file was removed: a cut of the log's end could not be seen"

    def verify(self) -> tuple[VerifyResult, IntegrityReport]:
        """Check everything: the audit chain, its anchor, every row, and the records the log names."""
        chain = self.audit.verify()
        report = IntegrityReport()
        integrity.check_anchor(self._core, chain.entries if chain.ok else 0, report)
        integrity.scan_rows(self._core, report)
        integrity.census(self._core, report)
        return chain, report

    def lock(self, *, actor: str) -> None:
        """Forget the keys that open health data (the audit key stays: it opens nothing)."""
        if self._core.keyring is not None:
            self.audit.record(actor, "lock", "store", self.store_id)
            self._core.keyring = None

    def _open_sealed(self, keyring: Keyring) -> tuple[int, list[str]]:
        core = self._core
        with core.read() as conn:
            rows = conn.execute("SELECT id, kind, blob FROM sealed ORDER BY received_at, rowid").fetchall()
        opened, failed = 0, []
        private = keyring.sealing_key()
        for row_id, kind, blob in rows:
            try:
                data = json.loads(crypto.open_sealed(private, blob, sealed_info(kind, row_id)))
            except (crypto.DecryptionFailed, ValueError):
                failed.append(row_id)
                continue
            try:
                with core.write() as conn:
                    # Another process (the daemon at boot, a CLI command) may be unlocking too:
                    # whoever holds the write lock first moves the row; the other skips it.
                    if conn.execute("SELECT 1 FROM sealed WHERE id = ?", (row_id,)).fetchone() is None:
                        continue
                    self._insert_opened(conn, kind, row_id, data)
                    conn.execute("DELETE FROM sealed WHERE id = ?", (row_id,))
            except (InvalidInput, RecordNotFound, StoreCorrupted):
                failed.append(row_id)  # kept sealed, reported; never dropped
                continue
            opened += 1
        return opened, failed

    def _insert_opened(self, conn: sqlite3.Connection, kind: str, row_id: str, data: dict[str, object]) -> None:
        if kind == "reading":
            reading = serde.from_json(Reading, data)
            if reading.resident_id is None and reading.subject_hint:
                reading = dataclasses.replace(reading, resident_id=self._resident_named(conn, reading.subject_hint))
            self.readings.insert(conn, reading, actor="device", detail="received while locked")
        elif kind == "frame":
            self.frames.insert(conn, row_id, data)
        elif kind == "quarantine":
            self.quarantine.insert(conn, serde.from_json(QuarantinedFrame, data), actor="device")

    def _resident_named(self, conn: sqlite3.Connection, hint: str) -> str | None:
        """The resident a device named (``id:<ID number>`` or ``hrn:<number>``), matched by blind index."""
        kind, _, value = hint.partition(":")
        column = {"id": ("id_bidx", "id_number"), "hrn": ("hrn_bidx", "health_record_number")}.get(kind)
        if column is None or not value:
            return None
        bidx = self._core.blind_index(column[1], value.upper() if kind == "id" else value)
        row = conn.execute(f"SELECT id FROM residents WHERE {column[0]} = ? AND deleted = 0", (bidx,)).fetchone()
        return None if row is None else str(row[0])

    # -- whole-store questions -----------------------------------------------------------------------

    def counts(self) -> StoreCounts:
        """Row counts (no key needed), in one snapshot."""
        with self._core.read() as conn:
            return store_counts(conn)

    def integrity_check(self) -> str:
        """SQLite's own check of the file ("ok" when sound)."""
        with self._core.read() as conn:
            return str(conn.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        """Commit the audit entries still deferred, close the database and forget the keys."""
        try:
            self.audit.flush_deferred()
        except ClinicAgentError as exc:
            _LOGGER.warning("%d deferred audit entries were not written: %s", self._core.deferred_audit, exc)
        self._core.close()

    @property
    def core(self) -> Core:
        """The shared internals (for the key-rotation job)."""
        return self._core


def _upgrade_or_refuse(conn: sqlite3.Connection, path: Path, keyfile: KeyFile, *, upgrade: bool) -> None:
    """Migrate an older database (after a backup), or refuse a newer one; only then is sqlite-utils loaded."""
    from sqlite_utils import Database

    from clinic_agent.store import schema

    db = Database(conn, execute_plugins=False)
    if upgrade:
        schema.upgrade(db, lambda _pending: backup_before_upgrade(path, keyfile))
    else:
        schema.refuse_newer(db)


def backup_before_upgrade(path: Path, keyfile: KeyFile) -> None:
    """The automatic backup taken before migrations run (``backups/`` beside the database)."""
    from clinic_agent.store import backup

    backup.take(path, keyfile.path, backup.backups_dir(path.parent), label="before-upgrade")


def _create_private(path: Path) -> None:
    """Create the empty database file 0600; SQLite gives its -wal and -shm files the same mode."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        raise StoreCorrupted(f"a database already exists at {path}; it was left untouched") from None
