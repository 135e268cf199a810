"""A child for the I/O-error tests: a bad sector under each page of the database in turn.

Run with the shim of badsector.c preloaded (``LD_PRELOAD``) and the project's venv python:
``python tests/reliability/bad_sector_probe.py --home DIR``. With the WAL copied back into the file (so
every page is read from it), it opens the store unlocked with the machine key and, for each page in
turn, makes that page unreadable (EIO, as a disk's bad block is), reads every unassigned reading,
and makes it readable again. Then it reads them once more and runs integrity_check. Output:

    PAGE <n> <outcome>      OK, or the store error's class and the SQLite error behind it
    AGAIN <outcome>         the same read with every page readable
    INTEGRITY <result>      integrity_check afterwards ("ok" when the file is sound)
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import resource
import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from clinic_agent.runtime.home import open_locked, open_vault, resolve  # noqa: E402
from tests.reliability.read_error_probe import again_and_close, read_all  # noqa: E402


def main() -> int:
    """Each page unreadable in turn, report, read again, check."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    shim = ctypes.CDLL(None)  # the preloaded shim's switches
    shim.bad_sector_on.argtypes = [ctypes.c_char_p, ctypes.c_longlong, ctypes.c_longlong]
    home = resolve(args.home)
    with contextlib.closing(sqlite3.connect(home.db_path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    path = os.path.realpath(home.db_path).encode()
    store, keyfile = open_locked(home)
    store.unlock(open_vault(home, keyfile).keyring, actor="probe")
    for page in range(1, home.db_path.stat().st_size // page_size + 1):
        store.core.mark_broken()  # a fresh connection, whose cache holds no page: this read goes to the disk
        shim.bad_sector_on(path, (page - 1) * page_size, page * page_size)
        try:
            print("PAGE", page, read_all(store), flush=True)
        finally:
            shim.bad_sector_off()
    again_and_close(store)
    return 0


if __name__ == "__main__":
    sys.exit(main())
