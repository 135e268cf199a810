"""The outbox's counts per state, kept by its triggers in each write transaction, always equal a fresh count.

Status reads them instead of counting the whole outbox (schema 0006), so they must never drift: not
after any sequence of queueing, sending, parking, keeping local, retrying and deleting, not after a
rolled-back transaction, not after a kill -9 in the middle of one, and not after an upgrade of a
store that already had an outbox.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from clinic_agent.core.model import Resident
from clinic_agent.core.sync_values import Sent
from clinic_agent.runtime.home import Home
from clinic_agent.store import Store
from clinic_agent.store.schema import MIGRATIONS
from tests.support import new_home, open_unlocked, reading, resident

ROOT = Path(__file__).resolve().parents[3]


def _fresh_count(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {state: int(n) for state, n in conn.execute("SELECT state, count(*) FROM outbox GROUP BY state")}


def _seqs(store: Store, state: str) -> list[int]:
    with store.core.read() as conn:
        return [int(r[0]) for r in conn.execute("SELECT seq FROM outbox WHERE state = ? ORDER BY seq", (state,))]


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return new_home(tmp_path / "home")


def _step(store: Store, rng: random.Random, people: list[Resident], unassigned: list[str]) -> None:
    """One random thing the agent does to the outbox."""
    ops = ["reading", "reading", "unassigned", "assign", "edit", "error", "send", "park", "local", "drop", "retry"]
    op = rng.choice([*ops, "raw", "rollback"])
    pending, parked = _seqs(store, "pending"), _seqs(store, "parked")
    if op == "reading":
        store.readings.add(reading(rng.choice(people).id), actor="test")
    elif op == "unassigned":
        unassigned.append(store.readings.add(reading(), actor="test").id)
    elif op == "assign" and unassigned:
        store.readings.assign(unassigned.pop(), rng.choice(people).id, actor="test")
    elif op == "edit":  # queued again: a new row, or the pending one updated in place (the upsert)
        person = rng.choice(people)
        current = store.residents.get(person.id)
        store.residents.update(dataclasses.replace(current, village=f"村{rng.randint(1, 99)}"), actor="test")
    elif op == "error":
        with store.core.read() as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM readings WHERE resident_id IS NOT NULL LIMIT 50")]
        if ids:
            store.readings.mark_entered_in_error(rng.choice(ids), actor="test")
    elif op == "send" and pending:
        store.sync.mark_sent([Sent(seq, "readings", "x") for seq in rng.sample(pending, min(3, len(pending)))])
    elif op == "park" and pending:
        store.sync.park(rng.choice(pending), "refused")
    elif op == "local" and pending:
        store.sync.keep_local(rng.choice(pending), "no platform form")
    elif op == "drop" and (pending or parked):
        store.sync.drop(rng.choice(pending + parked))
    elif op == "retry" and parked:
        store.sync.retry_parked(rng.choice(parked), actor="test")
    elif op == "raw":  # any writer, in any state, even one the store never uses
        with store.core.read() as conn:
            every = [int(r[0]) for r in conn.execute("SELECT seq FROM outbox")]
        if len(every) >= 3:
            changed, gone = rng.sample(every, 2), rng.choice(every)
            with store.core.write() as conn:
                state = rng.choice(["parked", "local", "conflict", "unheard-of"])
                conn.executemany("UPDATE outbox SET state = ? WHERE seq = ?", [(state, seq) for seq in changed])
                conn.execute("DELETE FROM outbox WHERE seq = ?", (gone,))
    elif op == "rollback":
        with pytest.raises(RuntimeError):
            _changes_then_fails(store)


def _changes_then_fails(store: Store) -> None:
    with store.core.write() as conn:
        conn.execute("UPDATE outbox SET state = 'parked' WHERE state = 'pending'")
        conn.execute("DELETE FROM outbox WHERE state = 'local'")
        raise RuntimeError("rolled back")


@pytest.mark.parametrize("seed", range(3))
def test_the_counts_equal_a_fresh_count_after_any_sequence_of_outbox_changes(home: Home, seed: int) -> None:
    rng = random.Random(seed)
    store = open_unlocked(home)
    try:
        people = store.residents.add_many([resident(rng) for _ in range(8)], actor="test")
        unassigned: list[str] = []
        seen: set[str] = set()
        for _ in range(150):
            _step(store, rng, people, unassigned)
            fresh = _fresh_count(home.db_path)
            assert store.outbox.counts() == fresh
            seen |= set(fresh)
        queue = store.sync.queue_counts()
    finally:
        store.close()
    assert {"pending", "parked", "local"} <= seen  # the sequence went through the states that matter
    fresh = _fresh_count(home.db_path)
    assert (queue["pending"], queue["parked"], queue["local_only"]) == (
        fresh.get("pending", 0),
        fresh.get("parked", 0),
        fresh.get("local", 0),
    )


def test_an_upgrade_counts_the_outbox_a_store_already_has(home: Home) -> None:
    store = open_unlocked(home)
    try:
        people = store.residents.add_many([resident() for _ in range(5)], actor="test")
        for person in people:
            store.readings.add(reading(person.id), actor="test")
        store.sync.park(_seqs(store, "pending")[0], "refused")
    finally:
        store.close()
    with sqlite3.connect(home.db_path) as conn:  # the store as a version before 0006 left it
        conn.execute("DROP TRIGGER outbox_count_insert")
        conn.execute("DROP TRIGGER outbox_count_update")
        conn.execute("DROP TRIGGER outbox_count_delete")
        conn.execute("DELETE FROM meta WHERE key LIKE 'outbox.%'")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0006_outbox_counts'")
        conn.execute(
            "INSERT INTO outbox(entity, entity_id, op, priority, created_at, state, attempts)"
            " VALUES ('readings', 'r', 'create', 0, '2026-01-01', 'local', 0)"
        )
    assert "0006_outbox_counts" in {m.name for m in MIGRATIONS._migrations}
    store = open_unlocked(home)  # migrated on open
    try:
        assert store.outbox.counts() == _fresh_count(home.db_path) == {"pending": 9, "parked": 1, "local": 1}
    finally:
        store.close()


_CHILD = """
import sys
from pathlib import Path
from clinic_agent.runtime.home import resolve
from tests.support import open_unlocked, reading

store = open_unlocked(resolve(Path(sys.argv[1])))
store.core.conn.execute("PRAGMA cache_size = 5")  # pages spill into the WAL before the COMMIT
people = sys.argv[2].split(",")
with store.core.write() as conn:
    for i in range(300):
        store.readings.insert(conn, reading(people[i % len(people)]), actor="test")
    conn.execute("UPDATE outbox SET state = 'parked' WHERE seq % 3 = 0")
    conn.execute("DELETE FROM outbox WHERE seq % 7 = 0")
    print("in the middle of a transaction", flush=True)
    sys.stdin.read()  # held open until killed
"""


def test_a_kill_9_in_the_middle_of_a_transaction_leaves_the_counts_equal_to_a_fresh_count(
    home: Home, tmp_path: Path
) -> None:
    store = open_unlocked(home)
    try:
        people = store.residents.add_many([resident() for _ in range(4)], actor="test")
        for person in people:
            store.readings.add(reading(person.id), actor="test")
        store.sync.park(_seqs(store, "pending")[0], "refused")
        before = store.outbox.counts()
    finally:
        store.close()
    assert before == _fresh_count(home.db_path) == {"pending": 7, "parked": 1}
    wal = Path(f"{home.db_path}-wal")
    committed = wal.stat().st_size
    with subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(home.root), ",".join(p.id for p in people)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline() == "in the middle of a transaction\n"
            assert wal.stat().st_size > committed  # uncommitted pages, counts among them, are in the WAL
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(30)
    store = open_unlocked(home)
    try:
        assert store.outbox.counts() == _fresh_count(home.db_path) == before
        store.readings.add(reading(people[0].id), actor="test")  # and they go on from there
        assert store.outbox.counts() == _fresh_count(home.db_path) == {"pending": 8, "parked": 1}
    finally:
        store.close()
