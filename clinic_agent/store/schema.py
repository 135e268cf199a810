"""Numbered schema migrations (sqlite-utils Migrations; each runs in its own transaction).

Only what indexing needs is kept in clear: random ids, kinds, timestamps, sync state, blind indexes.
Everything else of a row is one encrypted ``payload``.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from clinic_agent import __version__
from clinic_agent.core.errors import StorageFailed, StoreError
from clinic_agent.store.schema_version import (
    BY_OBJECT,
    MIGRATION_SET,
    ONE_PENDING_KEY,
    OUTBOX_COUNT_PREFIX,
    URGENT,
)

MIGRATIONS = Migrations(MIGRATION_SET)

# Columns every clinical record carries: local version, tombstone, change sequence, sync state.
_RECORD = {
    "key_id": str,
    "payload": bytes,
    "version": int,
    "updated_at": str,
    "deleted": int,
    "change_seq": int,
    "remote_id": str,
    "remote_version": str,
    "base_key_id": str,
    "base": bytes,
    "synced_at": str,
}
_RECORD_NOT_NULL = {"key_id", "payload", "version", "updated_at", "deleted", "change_seq"}


@MIGRATIONS(name="0001_initial")
def _initial(db: Database) -> None:
    db.table("meta").create({"key": str, "value": str}, pk="key", not_null={"value"})
    db.table("residents").create(
        {"id": str, "id_bidx": bytes, "hrn_bidx": bytes, **_RECORD},
        pk="id",
        not_null={"id_bidx", *_RECORD_NOT_NULL},
    )
    db.execute("CREATE UNIQUE INDEX residents_live_id_number ON residents(id_bidx) WHERE deleted = 0")
    db.execute("CREATE INDEX residents_hrn ON residents(hrn_bidx)")
    db.execute("CREATE INDEX residents_changes ON residents(change_seq)")
    db.table("entries").create(
        {"id": str, "resident_id": str, "kind": str, **_RECORD},
        pk="id",
        not_null={"resident_id", "kind", *_RECORD_NOT_NULL},
        foreign_keys=[("resident_id", "residents", "id")],
    )
    db.execute("CREATE INDEX entries_resident ON entries(resident_id, kind)")
    db.table("frames").create(
        {"id": str, "device_id": str, "received_at": str, "key_id": str, "payload": bytes},
        pk="id",
        not_null={"device_id", "received_at", "key_id", "payload"},
    )
    db.table("readings").create(
        {
            "id": str,
            "resident_id": str,
            "device_id": str,
            "dedupe_bidx": bytes,
            "taken_at": str,
            "received_at": str,
            "critical": int,
            **_RECORD,
        },
        pk="id",
        not_null={"taken_at", "received_at", "critical", *_RECORD_NOT_NULL},
        foreign_keys=[("resident_id", "residents", "id")],
    )
    db.execute("CREATE UNIQUE INDEX readings_dedupe ON readings(dedupe_bidx) WHERE dedupe_bidx IS NOT NULL")
    db.execute("CREATE INDEX readings_resident ON readings(resident_id, taken_at)")
    db.execute("CREATE INDEX readings_unassigned ON readings(received_at) WHERE resident_id IS NULL")
    db.table("quarantine").create(
        {"id": str, "received_at": str, "source": str, "key_id": str, "payload": bytes},
        pk="id",
        not_null={"received_at", "source", "key_id", "payload"},
    )
    # Readings, frames and quarantined frames that arrived while the store was locked, sealed to
    # the store's public key; moved into their tables, re-encrypted, at unlock.
    db.table("sealed").create(
        {"id": str, "kind": str, "received_at": str, "blob": bytes},
        pk="id",
        not_null={"kind", "received_at", "blob"},
    )
    db.table("outbox").create(
        {
            "seq": int,
            "entity": str,
            "entity_id": str,
            "op": str,
            "priority": int,
            "created_at": str,
            "state": str,
            "attempts": int,
            "last_error": str,
            "next_attempt_at": str,
        },
        pk="seq",
        not_null={"entity", "entity_id", "op", "priority", "created_at", "state", "attempts"},
    )
    db.execute("CREATE UNIQUE INDEX outbox_one_pending ON outbox(entity, entity_id) WHERE state = 'pending'")
    db.execute("CREATE INDEX outbox_order ON outbox(state, priority DESC, seq)")
    db.table("audit").create(
        {
            "seq": int,
            "at": str,
            "actor": str,
            "action": str,
            "object_type": str,
            "object_id": str,
            "detail": str,
            "mac": bytes,
        },
        pk="seq",
        not_null={"at", "actor", "action", "object_type", "object_id", "detail", "mac"},
    )
    db.execute(
        "CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
    )
    db.execute(
        "CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
    )
    # Security events seen while locked (failed unlocks): no audit key yet, so they wait here,
    # holding no personal data, and join the chain at the next unlock.
    db.table("pending_events").create(
        {"id": int, "at": str, "actor": str, "action": str, "detail": str},
        pk="id",
        not_null={"at", "actor", "action", "detail"},
    )
    db.table("users").create(
        {"id": str, "name": str, "role": str, "key_id": str, "payload": bytes, "created_at": str, "disabled": int},
        pk="id",
        not_null={"name", "role", "key_id", "payload", "created_at", "disabled"},
    )
    db.execute("CREATE UNIQUE INDEX users_name ON users(name)")
    db.table("sync_cursors").create({"resource": str, "cursor": str, "updated_at": str}, pk="resource")


@MIGRATIONS(name="0002_sync")
def _sync(db: Database) -> None:
    # What sync needs beyond the record columns and the outbox of 0001:
    # - conflicts waiting for a doctor (the three values of each field, encrypted);
    # - the platform's reason for a parked outbox row (it may echo personal data: encrypted);
    # - the enrolment secrets (bearer token or SMART private key: encrypted);
    # - devices already on the platform, and lookups of residents by their platform id.
    # The encrypted tables have (id, key_id, payload) like every other, so key rotation covers them.
    db.table("sync_conflicts").create(
        {
            "id": str,
            "entity": str,
            "entity_id": str,
            "resident_id": str,
            "kind": str,
            "state": str,
            "created_at": str,
            "resolved_at": str,
            "key_id": str,
            "payload": bytes,
        },
        pk="id",
        not_null={"entity", "entity_id", "kind", "state", "created_at", "key_id", "payload"},
    )
    db.execute("CREATE UNIQUE INDEX sync_conflicts_open ON sync_conflicts(entity, entity_id) WHERE state = 'open'")
    db.table("sync_parked").create(
        {"id": str, "entity": str, "entity_id": str, "since": str, "key_id": str, "payload": bytes},
        pk="id",
        not_null={"entity", "entity_id", "since", "key_id", "payload"},
    )
    db.table("sync_secrets").create(
        {"id": str, "key_id": str, "payload": bytes, "updated_at": str},
        pk="id",
        not_null={"key_id", "payload", "updated_at"},
    )
    db.table("sync_devices").create({"device_id": str, "confirmed_at": str}, pk="device_id", not_null={"confirmed_at"})
    db.execute("CREATE INDEX residents_remote ON residents(remote_id) WHERE remote_id IS NOT NULL")
    db.execute("CREATE INDEX outbox_record ON outbox(entity, entity_id)")
    # What the last request of a row carried (encrypted): when a reply was lost and the platform's
    # copy turns out to be exactly that, it is our own write, not someone else's edit.
    db.execute("ALTER TABLE outbox ADD COLUMN sent_key_id TEXT")
    db.execute("ALTER TABLE outbox ADD COLUMN sent BLOB")


@MIGRATIONS(name="0003_audit_by_object")
def _audit_by_object(db: Database) -> None:
    # A resident's history of changes looks its records up in the audit log: without this index every
    # opening of the history tab read the whole log, which only grows.
    db.execute("CREATE INDEX audit_by_object ON audit(object_id, seq)")


@MIGRATIONS(name="0004_guessing_limits")
def _guessing_limits(db: Database) -> None:
    # Wrong PINs and passphrases, kept until the next success: they decide how long the next try
    # waits, and when a user is locked out, across daemon restarts. No key is needed to write one
    # (a wrong passphrase arrives while locked); each is also in the audit log or its pending queue.
    db.table("auth_failures").create(
        {"id": int, "at": str, "kind": str, "subject": str},
        pk="id",
        not_null={"at", "kind", "subject"},
    )
    db.execute("CREATE INDEX auth_failures_by_subject ON auth_failures(kind, subject, at)")


@MIGRATIONS(name="0005_drafts")
def _drafts(db: Database) -> None:
    # Forms left unfinished when the terminal locked. Everything but the row id is inside the
    # encrypted payload (whose draft, which form, what was typed): no clear column to bind.
    db.table("drafts").create({"id": str, "key_id": str, "payload": bytes}, pk="id", not_null={"key_id", "payload"})


# The outbox's row count per state, as ``meta`` rows ``outbox.<state>``, kept by triggers in the
# transaction that queues, sends, parks or deletes a row: status reads a few rows instead of counting
# the whole outbox, and no writer (the store's or the sync engine's) can forget to update them.
# In ``meta`` because every record write already changes its page (the change counter): no page more.
_COUNT_UP = (
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('outbox.' || {row}.state, '0'); "
    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'outbox.' || {row}.state;"
)
_COUNT_DOWN = "UPDATE meta SET value = CAST(value AS INTEGER) - 1 WHERE key = 'outbox.' || {row}.state;"


@MIGRATIONS(name="0006_outbox_counts")
def _outbox_counts(db: Database) -> None:
    for state, count in db.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall():
        db.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (f"{OUTBOX_COUNT_PREFIX}{state}", str(count))
        )
    db.execute(f"CREATE TRIGGER outbox_count_insert AFTER INSERT ON outbox BEGIN {_COUNT_UP.format(row='NEW')} END")
    db.execute(f"CREATE TRIGGER outbox_count_delete AFTER DELETE ON outbox BEGIN {_COUNT_DOWN.format(row='OLD')} END")
    db.execute(
        "CREATE TRIGGER outbox_count_update AFTER UPDATE OF state ON outbox WHEN OLD.state IS NOT NEW.state BEGIN "
        f"{_COUNT_DOWN.format(row='OLD')} {_COUNT_UP.format(row='NEW')} END"
    )


@MIGRATIONS(name="0007_sync_parts")
def _sync_parts(db: Database) -> None:
    # The resources a record goes up as besides its own (a follow-up's Encounter and Observations),
    # each with the platform id and versionId it was last confirmed at: an update of a part carries
    # If-Match on its own version, so a part edited on the platform is never replaced unseen.
    # Clear like the records' own remote_id and remote_version columns: ids and opaque versions only.
    db.table("sync_parts").create(
        {"part_id": str, "entity_id": str, "remote_id": str, "remote_version": str},
        pk="part_id",
        not_null={"entity_id", "remote_id", "remote_version"},
    )
    db.execute("CREATE INDEX sync_parts_by_record ON sync_parts(entity_id)")


@MIGRATIONS(name="0008_search_index")
def _search_index(db: Database) -> None:
    # The name index as last saved (store/search_index.py): one row, everything inside the
    # encrypted payload, so that an unlock decrypts one row instead of every resident.
    db.table("search_index").create(
        {"id": str, "key_id": str, "payload": bytes}, pk="id", not_null={"key_id", "payload"}
    )


# One index where there were two: every outbox row under its record, a record's one pending row
# unique among them. Queuing a record wrote both ``outbox_record`` (entity, entity_id) and the partial
# unique ``outbox_one_pending``, two more b-tree pages in every reading's commit; this one index is
# the record lookup and the pending row's uniqueness (a pending row keys as 0, any other as its seq,
# which no other row has), so a commit writes one page fewer (issue 13).


@MIGRATIONS(name="0009_outbox_one_index")
def _outbox_one_index(db: Database) -> None:
    db.execute("DROP INDEX outbox_one_pending")
    db.execute("DROP INDEX outbox_record")
    db.execute(f"CREATE UNIQUE INDEX outbox_by_record ON outbox(entity, entity_id, {ONE_PENDING_KEY})")


# The order the outbox is sent in without an index of every pending row: ``outbox_order`` (state,
# priority, seq) was one more b-tree page in every reading's commit. Most rows have priority 0 and go
# in seq order, the table's own; only the few with a priority (critical readings, urgent requests)
# need an index of their own to go first (``core.pending_in_order`` reads the two in turn).
@MIGRATIONS(name="0010_outbox_urgent")
def _outbox_urgent(db: Database) -> None:
    db.execute("DROP INDEX outbox_order")
    db.execute(f"CREATE INDEX outbox_urgent ON outbox(priority DESC, seq) WHERE {URGENT}")


# The audit log's index by object without the entry of each reading's creation: a resident's history
# looks up the resident and its entries, the readings of the day their acknowledgements, and nothing
# looks up a reading's creation by its id (the reading's own row says when it came). Every reading's
# durable commit wrote a page of this index for an entry nobody reads through it; now it writes none
# (issue 13). The chain itself is unchanged: every entry is still in it, in order, under its MAC.
@MIGRATIONS(name="0011_audit_by_object_lean")
def _audit_by_object_lean(db: Database) -> None:
    db.execute("DROP INDEX audit_by_object")
    db.execute(f"CREATE INDEX audit_by_object ON audit(object_id, seq) WHERE {BY_OBJECT}")


def migrate(db: Database) -> None:
    """Apply every migration to a new, empty database."""
    MIGRATIONS.apply(db)


class SchemaTooNew(StoreError):
    """The database was upgraded by a newer agent than this one."""

    code = "schema_too_new"


class UpgradeFailed(StorageFailed):
    """A migration failed; the database was left exactly as it was."""

    code = "upgrade_failed"


def applied(db: Database) -> list[str]:
    """The names of the migrations this database has had, in order."""
    return [m.name for m in MIGRATIONS.applied(db)]


def refuse_newer(db: Database) -> None:
    """Refuse a database that has migrations this version does not know (a newer agent wrote them)."""
    known = {m.name for m in MIGRATIONS._migrations}  # sqlite-utils keeps the list private
    unknown = [name for name in applied(db) if name not in known]
    if unknown:
        raise SchemaTooNew(
            f"this database was upgraded by a newer Clinic Agent (schema {unknown[-1]}); this is version "
            f"{__version__}, which does not know it. Nothing was changed: install the newer version again, "
            "or restore a backup made by this version"
        )


def pending(db: Database) -> list[str]:
    """The migrations this database has not had yet."""
    return [m.name for m in MIGRATIONS.pending(db)]


def upgrade(db: Database, before: Callable[[list[str]], object] | None = None) -> list[str]:
    """Bring an existing database up to this version: all pending migrations in ONE transaction.

    ``before`` runs first (the automatic backup). A migration that fails rolls back every one of them,
    so the database stays exactly as the previous version left it and that version can still use it.
    Returns the migrations applied.
    """
    refuse_newer(db)
    waiting = pending(db)
    if not waiting:
        return []
    if before is not None:
        before(waiting)
    if not all(m.transactional for m in MIGRATIONS.pending(db)):
        MIGRATIONS.apply(db)  # one that cannot run in a transaction (VACUUM): each on its own, after the backup
        return waiting
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    current = ""
    try:
        done = []
        for migration in MIGRATIONS.pending(db):  # again: another process may have upgraded meanwhile
            current = migration.name
            migration.fn(db)
            db.table(MIGRATIONS.migrations_table).insert(
                {"migration_set": MIGRATIONS.name, "name": migration.name, "applied_at": str(datetime.now(UTC))}
            )
            done.append(migration.name)
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        if isinstance(exc, Exception):
            raise UpgradeFailed(
                f"upgrading the database to version {__version__} failed at {current} ({type(exc).__name__}: "
                f"{exc}); nothing was changed: the previous version still opens the data as it was. "
                "Reinstall the previous version and report this"
            ) from exc
        raise
    return done
