"""Opening the database with the settings durability depends on, and translating its errors.

WAL with synchronous=FULL: measured here, NORMAL loses acknowledged commits on power loss
(tests/reliability/test_power_loss.py). Every setting is read back at open; a connection that does not hold
them is refused.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from clinic_agent.core.errors import DiskFull, StorageFailed, StoreCorrupted, StoreError, StoreMissing

BUSY_TIMEOUT_MS = 5000
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024

# sqlite3 result codes (the primary code is the low byte of the extended one)
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26


def open_connection(path: Path, *, create: bool = False, synchronous: str = "FULL") -> sqlite3.Connection:
    """Open (or, only when asked, create) the database and apply and check the pragmas."""
    if not create and not path.exists():
        raise StoreMissing(f"no database at {path}; run `clinic-agent init` to create a new store")
    with translate_errors():
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            _apply_pragmas(conn, synchronous)
        except BaseException:
            conn.close()
            raise
    return conn


def check_belongs(conn: sqlite3.Connection, path: Path, store_id: str, keyfile_path: Path) -> None:
    """Refuse a file that is not a Clinic Agent database, or the database of another store than the key file's."""
    with translate_errors():
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone():
            raise StoreMissing(f"{path} is not a Clinic Agent database; it was left untouched")
        row = conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
    if row is None or row[0] != store_id:
        raise StoreCorrupted(
            f"the key file {keyfile_path} belongs to another store than {path}; nothing was opened or changed"
        )


def _apply_pragmas(conn: sqlite3.Connection, synchronous: str) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA secure_delete=ON")
    conn.execute("PRAGMA temp_store=MEMORY")  # no temporary files that could hold decrypted rows
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA trusted_schema=OFF")
    conn.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
    expected = {
        "journal_mode": "wal",
        "synchronous": {"FULL": 2, "NORMAL": 1}[synchronous],
        "foreign_keys": 1,
        "secure_delete": 1,
        "temp_store": 2,
        "trusted_schema": 0,
    }
    for pragma, want in expected.items():
        got = conn.execute(f"PRAGMA {pragma}").fetchone()[0]
        if got != want:
            raise StorageFailed(f"the database refused PRAGMA {pragma}={want} (it reports {got}); not using it")


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Turn sqlite3 errors into the store's own, once, with a message a person can act on."""
    try:
        yield
    except StoreError:
        raise
    except sqlite3.IntegrityError:
        raise
    except sqlite3.Error as exc:
        raise _translate(exc) from exc


def _translate(exc: sqlite3.Error) -> StoreError:
    code = _primary_code(exc)
    text = str(exc)
    if code == _SQLITE_FULL or "disk is full" in text:
        return DiskFull("the disk is full: nothing was saved. Free some space; work resumes by itself")
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return StoreCorrupted(
            f"the database could not be read ({text}): the file is damaged, or is not a Clinic Agent database, "
            "or the disk is failing; nothing was changed. Have the disk and the file checked"
        )
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return StorageFailed("the database is busy (another program holds it); try again in a moment")
    if code == _SQLITE_READONLY:
        return StorageFailed(f"the database cannot be written ({text}); check the data directory's permissions")
    if code == _SQLITE_CANTOPEN:
        return StorageFailed(f"the database cannot be opened ({text}); check the data directory")
    if code == _SQLITE_IOERR:
        return StorageFailed(f"the disk reported an I/O error ({text}); nothing was saved")
    return StorageFailed(f"the database failed: {text}")


def is_io_error(exc: sqlite3.Error) -> bool:
    """An I/O error (SQLITE_IOERR and its extended codes)."""
    return _primary_code(exc) == _SQLITE_IOERR


def is_disk_failure(exc: BaseException) -> bool:
    """Whether a failure came from the disk, after which the connection must not be trusted."""
    for candidate in (exc, exc.__cause__):
        if isinstance(candidate, sqlite3.Error) and _primary_code(candidate) in (_SQLITE_IOERR, _SQLITE_FULL):
            return True
    return False
