"""What status shows of the store, and that status read at rest: `clinic-agent status` without a daemon.

``Agent.status`` builds the store's part with ``store_status`` from the open store. A command with no
daemon to ask calls ``at_rest`` instead, which reads the same counts with the same queries
(``clinic_agent.store.counts``) on a connection of its own and the slots from keys.json
(``read_key_file``), so that the model, the keys' cryptography, the store's parts and the API's method
modules are not loaded for it (issue 13: start-up; tests/unit/clinic_agent/test_cli_imports.py).
Only reading is done here: a database that needs more (a migration pending, a newer agent's schema) is
left to the store itself (``None``), which upgrades or refuses it as every command does.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from clinic_agent.core.sync_tables import SYNCED_TABLES
from clinic_agent.runtime.home import Home, no_access, require_database
from clinic_agent.security.keyfile import Slot, read_key_file
from clinic_agent.store import counts, schema_version
from clinic_agent.store.connection import check_belongs, open_connection, translate_errors
from sync import status as sync_status

if TYPE_CHECKING:
    from clinic_agent.runtime.config import Config

_PUBLIC_KEY_BYTES = 32  # an X25519 public key: what the store checks its key file's to be when it opens


def disk_free_mib(root: os.PathLike[str]) -> int:
    """Free space on the data disk, for an unprivileged user (``shutil.disk_usage``'s free, without shutil)."""
    found = os.statvfs(root)
    return found.f_bavail * found.f_frsize // (1024 * 1024)


def store_status(
    home: Home,
    config: Config,
    *,
    store_id: str,
    locked: bool,
    counted: counts.StoreCounts,
    slots: Sequence[Slot],
    data_keys: list[str] | None,
) -> dict[str, Any]:
    """Everything a technician or the TUI's status line wants to know of the store (no personal data)."""
    free = disk_free_mib(home.root)
    return {
        "home": str(home.root),
        "store_id": store_id,
        "locked": locked,
        "residents": counted.residents,
        "entries": counted.entries,
        "readings": counted.readings,
        "unassigned_readings": counted.unassigned_readings,
        "critical_readings": counted.critical_readings,
        "sealed_waiting": counted.sealed_waiting,
        "quarantined": counted.quarantined,
        "frames": counted.frames,
        "users": counted.users,
        "audit_entries": counted.audit_entries,
        "outbox": counted.outbox,
        "slots": [{"type": s.type, "name": s.name} for s in slots],
        "data_keys": data_keys,
        "disk_free_mib": free,
        "disk_low": free < config.disk_low_mib,
    }


class _SyncRows:
    """sync.status's view of the store's sync rows, on a connection read in one snapshot."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def settings(self) -> dict[str, str]:
        """The ``sync.*`` settings."""
        return counts.sync_settings(self._conn)

    def queue_counts(self) -> dict[str, int]:
        """Outbox rows pending and parked, open conflicts."""
        return counts.queue_counts(self._conn)

    def state_counts(self) -> dict[str, int]:
        """Records only here, sent, and confirmed by the platform."""
        return counts.state_counts(self._conn, SYNCED_TABLES)


def at_rest(home: Home) -> dict[str, Any] | None:
    """The status of a store no daemon holds (locked: no key is read) with sync's part under ``sync``, as
    ``status`` and ``sync.status`` give it; None when the database needs the store itself to open it."""
    config = home.load_config()  # first, as when the store is opened: a bad agent.toml is named before the store
    try:
        require_database(home)
        parts = read_key_file(home.keys_path)
        if len(parts.public_key) != _PUBLIC_KEY_BYTES:
            return None  # the store refuses it when it opens
        conn = open_connection(home.db_path)
    except PermissionError:
        raise no_access(home.root) from None
    try:
        check_belongs(conn, home.db_path, parts.store_id, home.keys_path)
        with translate_errors():
            if not schema_version.is_current(conn):
                return None
            conn.execute("BEGIN")  # one snapshot for every count
            try:
                counted = counts.store_counts(conn)
                sync = sync_status.status(_SyncRows(conn), records=True)
            finally:
                conn.execute("ROLLBACK")
    finally:
        conn.close()
    found = store_status(
        home, config, store_id=parts.store_id, locked=True, counted=counted, slots=parts.slots, data_keys=None
    )
    return found | {"sync": sync}
