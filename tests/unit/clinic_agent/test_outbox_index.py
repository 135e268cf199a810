"""The outbox's one index by record (schema 0009): a record's one pending row, and one page less per commit.

Queuing a record used to write two indexes on (entity, entity_id), the partial unique one of pending
rows and the one of every row; one expression index now does both. These tests hold what the two did
(one pending row per record, a new edit folded into it, a parked or conflict row beside it, lookups
by record through the index), that a store with the two is upgraded with its rows as they were, and
which b-trees a reading's durable commit writes (issue 13: each is a page in the WAL before the fsync).
"""

from __future__ import annotations

import dataclasses
import random
import sqlite3
import struct
from pathlib import Path

import pytest

from clinic_agent.core.sync_values import Pending
from clinic_agent.runtime.home import Home
from clinic_agent.store import Store, schema_version
from clinic_agent.store.schema_version import URGENT
from tests.support import new_home, open_unlocked, reading, resident, undo_0011

_RECORD_LOOKUPS = (
    "SELECT state, seq, sent_key_id, sent FROM outbox WHERE entity = ? AND entity_id = ?",
    "SELECT seq FROM outbox WHERE entity = ? AND entity_id = ? AND state IN ('pending', 'parked', 'conflict')",
    "SELECT 1 FROM outbox WHERE entity = ? AND entity_id = ? AND state = 'pending'",
    "DELETE FROM outbox WHERE entity = ? AND entity_id = ? AND state = 'conflict'",
)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return new_home(tmp_path / "home")


def _rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT seq, entity, entity_id, op, priority, state, attempts FROM outbox ORDER BY seq"
        ).fetchall()


def _queue_every_state(store: Store) -> str:
    """A resident with a parked row, a conflict row and a pending row at once; returns its id."""
    person = store.residents.add(resident(), actor="test")
    with store.core.read() as conn:
        (seq,) = conn.execute(
            "SELECT seq FROM outbox WHERE entity_id = ? AND state = 'pending'", (person.id,)
        ).fetchone()
    store.sync.park(seq, "refused")
    store.residents.update(dataclasses.replace(store.residents.get(person.id), village="村2"), actor="test")
    with store.core.write() as conn:
        conn.execute("UPDATE outbox SET state = 'conflict' WHERE entity_id = ? AND state = 'pending'", (person.id,))
    store.residents.update(dataclasses.replace(store.residents.get(person.id), village="村3"), actor="test")
    return person.id


def test_a_record_has_one_pending_row_beside_its_parked_and_conflict_rows(home: Home) -> None:
    store = open_unlocked(home)
    try:
        person = _queue_every_state(store)
        store.residents.update(dataclasses.replace(store.residents.get(person), village="村4"), actor="test")
        with store.core.read() as conn:
            states = sorted(r[0] for r in conn.execute("SELECT state FROM outbox WHERE entity_id = ?", (person,)))
        assert states == ["conflict", "parked", "pending"]  # the last edit folded into the pending row
        with pytest.raises(sqlite3.IntegrityError), store.core.write() as conn:
            conn.execute(
                "INSERT INTO outbox(entity, entity_id, op, priority, created_at, state, attempts)"
                " VALUES ('residents', ?, 'update', 0, '2026-01-01', 'pending', 0)",
                (person,),
            )
        with pytest.raises(sqlite3.IntegrityError), store.core.write() as conn:  # a parked row queued again
            conn.execute("UPDATE outbox SET state = 'pending' WHERE entity_id = ? AND state = 'parked'", (person,))
        with store.core.read() as conn:
            for sql in _RECORD_LOOKUPS:
                plan = " ".join(str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", ("residents", person)))
                assert "USING INDEX outbox_by_record" in plan, (sql, plan)
    finally:
        store.close()


def test_an_upgrade_replaces_the_indexes_of_a_store_and_keeps_its_rows(home: Home) -> None:
    store = open_unlocked(home)
    try:
        person = _queue_every_state(store)
        for _ in range(3):
            store.readings.add(reading(person), actor="test")
    finally:
        store.close()
    with sqlite3.connect(home.db_path) as conn:  # the store as a version before 0009 left it
        conn.execute("DROP INDEX outbox_by_record")
        conn.execute("DROP INDEX outbox_urgent")
        conn.execute("CREATE UNIQUE INDEX outbox_one_pending ON outbox(entity, entity_id) WHERE state = 'pending'")
        conn.execute("CREATE INDEX outbox_record ON outbox(entity, entity_id)")
        conn.execute("CREATE INDEX outbox_order ON outbox(state, priority DESC, seq)")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name IN ('0009_outbox_one_index', '0010_outbox_urgent')")
        undo_0011(conn)  # and as 0011 found it
    before = _rows(home.db_path)
    store = open_unlocked(home)  # migrated on open
    try:
        assert _rows(home.db_path) == before
        store.residents.update(dataclasses.replace(store.residents.get(person), village="村5"), actor="test")
        assert _rows(home.db_path) == before  # folded into the pending row, as before the upgrade
        assert store.outbox.counts() == {"pending": 4, "parked": 1, "conflict": 1}
    finally:
        store.close()
    with sqlite3.connect(home.db_path) as conn:
        assert schema_version.is_current(conn)
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'outbox'")}
    assert {"outbox_by_record", "outbox_urgent"} <= indexes
    assert not indexes & {"outbox_one_pending", "outbox_record", "outbox_order"}


def _wal_pages(path: Path) -> list[int]:
    """The page numbers of the WAL's frames of its current generation."""
    data = Path(f"{path}-wal").read_bytes()
    page_size, salts = struct.unpack(">I", data[8:12])[0], data[16:24]
    pages, offset = [], 32
    while offset + 24 + page_size <= len(data) and data[offset + 8 : offset + 16] == salts:
        pages.append(struct.unpack(">I", data[offset : offset + 4])[0])
        offset += 24 + page_size
    return pages


def test_a_reading_commit_writes_only_the_pages_of_its_row_outbox_audit_and_counter(home: Home) -> None:
    store = open_unlocked(home)
    try:
        person = store.residents.add(resident(), actor="test")
        store.readings.add_many([reading(person.id) for _ in range(300)], actor="test")
        conn = store.core.conn
        try:
            conn.execute("SELECT count(*) FROM dbstat").fetchone()
        except sqlite3.OperationalError:
            pytest.skip("this SQLite has no dbstat table")
        written: set[str] = set()
        store.core.checkpointer.stop()  # no checkpoint of its own between ours and the read of the WAL
        for i in range(5):
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            owners = dict(conn.execute("SELECT pageno, name FROM dbstat").fetchall())
            store.readings.add(reading(person.id, dedupe_key=f"seq:{i}"), actor="test")
            written |= {owners.get(page, "(a new page)") for page in _wal_pages(store.core.path)}
    finally:
        store.close()
    needed = {
        *("meta", "readings", "sqlite_autoindex_readings_1", "readings_dedupe", "readings_resident"),
        *("outbox", "outbox_by_record", "audit"),
    }
    assert needed <= written  # not audit_by_object: a reading's creation is left out of it (schema 0011)
    # page 1 (the file's size), a page taken from the end or the free list: never another b-tree
    assert written - needed <= {"sqlite_schema", "(a new page)"}


_ONE_QUERY = (  # the order as one query gave it (schema 0010 took away the index it read)
    "SELECT seq, entity, entity_id, priority, attempts FROM outbox WHERE state = 'pending' ORDER BY priority DESC, seq"
)


@pytest.mark.parametrize("seed", range(3))
def test_the_pending_rows_come_in_the_order_of_one_query_page_after_page(home: Home, seed: int) -> None:
    rng = random.Random(seed)
    store = open_unlocked(home)
    try:
        with store.core.write() as conn:
            for i in range(400):
                conn.execute(
                    "INSERT INTO outbox(entity, entity_id, op, priority, created_at, state, attempts)"
                    " VALUES ('readings', ?, 'create', ?, '2026-01-01', ?, 0)",
                    (f"r{i}", rng.choice([0, 0, 0, 5, 10]), rng.choice(["pending", "pending", "parked", "local"])),
                )
        with store.core.read() as conn:
            expected = [Pending(*row) for row in conn.execute(_ONE_QUERY)]
            plans = {
                sql: " ".join(str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
                for sql, params in (
                    (f"SELECT seq FROM outbox WHERE {URGENT} ORDER BY priority DESC, seq LIMIT 5", ()),
                    ("SELECT seq FROM outbox WHERE state = 'pending' AND priority = 0 AND seq > ? ORDER BY seq", (0,)),
                )
            }
        assert "outbox_urgent" in next(iter(plans.values()))
        assert "TEMP B-TREE" not in " ".join(plans.values())  # nothing sorted: each read in its index's order
        seen: list[Pending] = []
        after = None
        while page := store.sync.pending(limit=rng.randint(1, 40), after=after):
            seen += page
            after = (page[-1].priority, page[-1].seq)
        assert seen == expected
        assert [(i.seq, i.priority) for i in store.outbox.pending(limit=50)] == [
            (p.seq, p.priority) for p in expected[:50]
        ]
    finally:
        store.close()
