"""The WAL goes back into the database file on the checkpoint thread, not inside a device's commit."""

from __future__ import annotations

import random
import shutil
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest

from clinic_agent.runtime.home import Home
from clinic_agent.store import Store
from clinic_agent.store.checkpoint import EVERY_COMMITS, Checkpointer
from tests.support import new_home, open_unlocked, reading

SQLITE_AUTOCHECKPOINT = 1_000  # pages: how long SQLite lets the log grow before a commit copies it back


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return new_home(tmp_path / "home")


def _readings_in_file_alone(home: Home, tmp_path: Path) -> int:
    """The readings the database file holds without its WAL (what a checkpoint has copied)."""
    alone = tmp_path / "alone.db"
    shutil.copyfile(home.db_path, alone)
    with sqlite3.connect(alone) as conn:
        return int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])


def test_commits_reach_the_database_file_without_a_checkpoint_in_any_commit(home: Home, tmp_path: Path) -> None:
    store = open_unlocked(home)
    try:
        stored = 2 * EVERY_COMMITS + 3
        for i in range(stored):
            store.readings.add(reading(None, dedupe_key=f"c{i}"), actor="test")
        checkpointer = store._core.checkpointer
        assert checkpointer.wait_idle(30)
        assert checkpointer.checkpoints >= 1
        # Every commit up to the last checkpoint is in the file itself; the store's own connection,
        # left to checkpoint only past 1,000 pages, would have copied none of them.
        assert _readings_in_file_alone(home, tmp_path) >= EVERY_COMMITS
    finally:
        store.close()


def test_waiting_for_the_thread_waits_for_an_ask_made_as_a_checkpoint_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second ask lands at a random moment of the first checkpoint, often just as it ends; waiting
    must then go on until a checkpoint begun after that ask has finished. (The thread once decided it
    was idle, then said so: an ask between the two was left for later, the wait returned at once, and
    a copy of the file taken then met a checkpoint writing it: "database disk image is malformed".)"""
    running = threading.Event()
    started = [0]
    checkpoint = Checkpointer._checkpoint

    def watched(self: Checkpointer, conn: sqlite3.Connection) -> sqlite3.Connection | None:
        running.set()
        started[0] += 1
        try:
            return checkpoint(self, conn)
        finally:
            running.clear()

    monkeypatch.setattr(Checkpointer, "_checkpoint", watched)
    checkpointer = Checkpointer(lambda: sqlite3.connect(":memory:"), Path("memory"))
    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns as often as they can: every moment gets its chance
    spins = random.Random(13)
    early = 0
    answered = 0
    try:
        for _ in range(20_000):
            early += started[0] != answered  # one begun since the wait returned, with nothing asked
            before = started[0]
            for _ in range(2 * EVERY_COMMITS):  # two asks, the second after a spin of 0-40 µs
                checkpointer.committed()
                if checkpointer._commits % EVERY_COMMITS == 0:
                    until = time.perf_counter() + spins.random() * 40e-6
                    while time.perf_counter() < until:
                        pass
            assert checkpointer.wait_idle(30)
            early += running.is_set() or started[0] == before
            answered = started[0]
    finally:
        sys.setswitchinterval(switching)
        checkpointer.stop()
    assert early == 0, f"the wait returned before a checkpoint had answered {early} times in 20,000"


def _checkpoint_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "store-checkpoint"}


def test_closing_the_store_ends_the_checkpoint_thread(home: Home) -> None:
    # Only this store's thread: another test in the same worker may still hold a store open.
    others = _checkpoint_threads()
    store: Store = open_unlocked(home)
    for i in range(EVERY_COMMITS):
        store.readings.add(reading(None, dedupe_key=f"t{i}"), actor="test")
    assert store._core.checkpointer.wait_idle(30)
    assert _checkpoint_threads() - others, "the store started no checkpoint thread"
    store.close()
    assert not _checkpoint_threads() - others


def test_a_burst_the_thread_cannot_keep_up_with_leaves_the_log_no_longer_than_sqlite_would(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that never pauses leaves the thread's checkpoints always behind the log's end, so the
    log never starts again; the store's connection must still checkpoint at SQLite's own threshold.
    (Left at 10,000 pages, the log grew past the free space of a nearly full disk that had space again.)"""
    monkeypatch.setattr(Checkpointer, "committed", lambda self: None)  # the thread never catches up
    store = open_unlocked(home)
    try:
        page_size = int(store._core.conn.execute("PRAGMA page_size").fetchone()[0])
        wal = Path(f"{home.db_path}-wal")
        longest = 0
        for i in range(400):  # several thousand pages of log in all
            store.readings.add(reading(None, dedupe_key=f"b{i}"), actor="test")
            longest = max(longest, wal.stat().st_size)
        assert longest <= (SQLITE_AUTOCHECKPOINT + 100) * page_size, f"the log grew to {longest // page_size} pages"
    finally:
        store.close()
