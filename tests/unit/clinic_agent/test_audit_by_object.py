"""The audit log's index by object without the entries of readings' creation (schema 0011).

Every reading's durable commit wrote a page of ``audit_by_object`` for an entry nobody looks up by the
reading's id. These tests hold what the index is for: a resident's history and the acknowledgements
of the day's readings are found, through the index (a query that leaves out the index's own term is
not served by it, and reads the whole log); that a store with the full index is upgraded, its
entries found as before; and that a reading's creation is still in the chain.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clinic_agent.core.model import Allergy, new_id
from clinic_agent.runtime.home import Home
from clinic_agent.store import Store, schema_version
from tests.support import new_home, open_unlocked, reading, resident, undo_0011


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return new_home(tmp_path / "home")


@pytest.fixture
def store(home: Home) -> Iterator[Store]:
    opened = open_unlocked(home)
    yield opened
    opened.close()


def _a_day(store: Store) -> tuple[list[str], list[str]]:
    """A resident with an allergy, three readings and one of them acknowledged: (file ids, reading ids)."""
    person = store.residents.add(resident(), actor="t")
    allergy = store.entries.add(Allergy(id=new_id(), resident_id=person.id, substance="青霉素"), actor="t")
    readings = [store.readings.add(reading(person.id), actor="device").id for _ in range(3)]
    store.audit.record("doctor", "reading.acknowledge", "reading", readings[1])
    return [person.id, allergy.id], readings


def _plans(store: Store, lookup: Callable[[], object]) -> list[str]:
    """The query plan of each statement ``lookup`` runs on the store's connection, as SQLite chose it."""
    traced: list[str] = []
    conn = store.core.conn
    conn.set_trace_callback(traced.append)  # the statements with their values in place
    try:
        lookup()
    finally:
        conn.set_trace_callback(None)
    statements = [sql for sql in traced if sql.lstrip().upper().startswith("SELECT") and "FROM audit" in sql]
    assert statements
    return [" ".join(str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}")) for sql in statements]


def test_a_history_and_the_acknowledgements_are_found_through_the_index(store: Store) -> None:
    """Planted fault: a lookup without the index's term (``BY_OBJECT``) scans the log and fails here."""
    file_ids, reading_ids = _a_day(store)
    history = store.audit.for_objects(file_ids, verbs=("create", "update"))
    assert [e.action for e in history] == ["allergy.create", "resident.create"]
    acknowledged = store.audit.for_objects(reading_ids, verbs=("acknowledge",))
    assert [e.object_id for e in acknowledged] == [reading_ids[1]]
    assert store.audit.with_action(reading_ids, "reading.acknowledge") == {reading_ids[1]}
    for lookup in (
        lambda: store.audit.for_objects(file_ids, verbs=("create",)),
        lambda: store.audit.for_objects(reading_ids),
        lambda: store.audit.with_action(reading_ids, "reading.acknowledge"),
    ):
        for plan in _plans(store, lookup):
            assert "USING INDEX audit_by_object" in plan, plan


def test_a_readings_creation_is_in_the_chain_but_not_looked_up_by_object(store: Store) -> None:
    _, reading_ids = _a_day(store)
    with store.core.read() as conn:
        created = {r[0] for r in conn.execute("SELECT object_id FROM audit WHERE action = 'reading.create'")}
        indexed = conn.execute(
            "SELECT count(*) FROM audit INDEXED BY audit_by_object"
            f" WHERE object_id IN (?, ?, ?) AND {schema_version.BY_OBJECT}",
            reading_ids,
        ).fetchone()[0]
    assert created == set(reading_ids)
    assert indexed == 1  # the acknowledgement, not the three creations
    assert store.audit.verify().ok
    with pytest.raises(ValueError, match="not looked up by object"):
        store.audit.with_action(reading_ids, "reading.create")


def test_an_upgrade_makes_the_index_lean_and_finds_what_it_found(home: Home) -> None:
    store = open_unlocked(home)
    try:
        file_ids, reading_ids = _a_day(store)
        before = (
            store.audit.for_objects(file_ids, verbs=("create",)),
            store.audit.for_objects(reading_ids, verbs=("acknowledge",)),
        )
    finally:
        store.close()
    with sqlite3.connect(home.db_path) as conn:  # the store as a version before 0011 left it
        undo_0011(conn)
        assert not schema_version.is_current(conn)
    store = open_unlocked(home)  # migrated on open
    try:
        after = (
            store.audit.for_objects(file_ids, verbs=("create",)),
            store.audit.for_objects(reading_ids, verbs=("acknowledge",)),
        )
        assert after == before
        assert store.audit.verify().ok
    finally:
        store.close()
    with sqlite3.connect(home.db_path) as conn:
        assert schema_version.is_current(conn)
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'audit_by_object'").fetchone()
    assert sql.endswith(f"WHERE {schema_version.BY_OBJECT}")
