"""Copying the WAL back into the database file on a thread of its own, not in a commit.

SQLite copies the write-ahead log into the database file (a checkpoint) from inside the COMMIT
that takes the log past ``wal_autocheckpoint`` pages: that commit writes up to a thousand pages
into the file and fsyncs it before it returns, so the device frame that happens to make it waits
tens of milliseconds for its ACK (issue 13: one frame in 70 at 50,000 residents, the whole p99).
Here a thread with its own connection runs a PASSIVE checkpoint every ``EVERY_COMMITS`` commits,
well before the log reaches SQLite's 1,000 pages: it copies what no reader still needs, never waits
for a lock, and the writer goes on committing meanwhile. When it has copied the whole log, the
writer's next transaction starts the log again from its beginning, so at a device's pace the log
never reaches 1,000 pages and no commit checkpoints.

In a burst the writer commits faster than the thread can copy and fsync, the thread's checkpoint
never catches up with the end of the log, and the log would never start again. So the store's
connection keeps SQLite's own threshold (``FALLBACK_PAGES``) and checkpoints inside a commit as it
always did once the log is that long: a burst costs what it did, the log stays as short as it did
(a log left to grow filled a nearly full disk that had space again), and a steady stream of frames
costs no checkpoint in any commit. Durability is the same: a commit is durable in the WAL when
COMMIT returns; a checkpoint fsyncs the database file before the log may be reused.

Often and small rather than seldom and large: a commit whose fsync comes while a checkpoint writes
the database file waits behind those writes on the same disk. Every 32 commits, that wait was the
p99 of a device's frame to its ACK (2.6-2.8 ms at 50,000 residents on a quiet disk, 1.1-1.6 ms
every 8; every 64 or 90, 3.4-5.1 ms). Every 8 is 70-120 pages a checkpoint, most of them the same
hot pages again; the p50 of a commit did not move.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from clinic_agent.core.errors import ClinicAgentError

_LOGGER = logging.getLogger(__name__)

EVERY_COMMITS = 8  # a frame's commit writes 9-15 WAL pages: 72-120 pages, far short of the fallback
FALLBACK_PAGES = 1_000  # SQLite's own threshold: the store's connection checkpoints itself past it
_STOP_WAIT = 5.0


class Checkpointer:
    """A PASSIVE checkpoint on its own thread and connection, asked for by ``committed``.

    Asks and answers are counted under one lock: the thread takes every ask made so far, checkpoints,
    then marks those asks answered. An ask that comes while it checkpoints is past what it took, so it
    is answered by the next checkpoint, never by the one already under way.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], path: Path) -> None:
        self._connect = connect
        self._path = path
        self._commits = 0
        self._lock = threading.Condition()
        self._asked = 0  # checkpoints asked for, ever
        self._answered = 0  # of those, how many a finished checkpoint has covered
        self._stopping = False
        self._ended = False
        self._thread: threading.Thread | None = None
        self.checkpoints = 0  # how many have run (for tests and the curious)

    def committed(self) -> None:
        """Count one commit; every ``EVERY_COMMITS`` ask for a checkpoint (the thread starts on first use)."""
        self._commits += 1
        if self._commits % EVERY_COMMITS:
            return
        with self._lock:
            if self._stopping:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="store-checkpoint", daemon=True)
                self._thread.start()
            self._asked += 1
            self._lock.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Whether every ask so far is answered, each by a checkpoint begun after it, within ``timeout`` s."""
        with self._lock:
            self._lock.wait_for(lambda: self._answered >= self._asked or self._ended, timeout)
            return self._answered >= self._asked

    def stop(self) -> None:
        """End the thread (its connection closed); a checkpoint under way finishes first."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(_STOP_WAIT)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                with self._lock:
                    self._lock.wait_for(lambda: self._asked > self._answered or self._stopping)
                    if self._stopping:
                        return
                    taken = self._asked
                conn = conn or self._open()
                if conn is not None:
                    conn = self._checkpoint(conn)
                with self._lock:
                    self._answered = taken
                    self._lock.notify_all()
        finally:
            with self._lock:
                self._ended = True
                self._lock.notify_all()
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()

    def _open(self) -> sqlite3.Connection | None:
        try:
            return self._connect()
        except (ClinicAgentError, sqlite3.Error, OSError) as exc:  # the store's own connection still does, later
            _LOGGER.warning("cannot open %s to checkpoint it: %s", self._path.name, exc)
            return None

    def _checkpoint(self, conn: sqlite3.Connection) -> sqlite3.Connection | None:
        """One PASSIVE checkpoint; after an error the connection is dropped and opened afresh next time."""
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            _LOGGER.warning("checkpoint of %s failed (retried later): %s", self._path.name, exc)
            with contextlib.suppress(sqlite3.Error):
                conn.close()
            return None
        self.checkpoints += 1
        return conn
