"""Opening an up-to-date store skips the migration machinery; that is safe only while its list is whole."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from clinic_agent.store import schema, schema_version
from tests.support import new_home, open_unlocked, undo_0011


def test_the_light_list_of_migrations_is_the_schemas_own() -> None:
    # A migration added to schema.py but not to schema_version.NAMES would never run on an open store.
    assert tuple(m.name for m in schema.MIGRATIONS._migrations) == schema_version.NAMES
    assert schema.MIGRATIONS.name == schema_version.MIGRATION_SET
    assert schema.MIGRATIONS.migrations_table == schema_version.MIGRATIONS_TABLE


def test_a_store_one_migration_behind_is_still_upgraded(tmp_path: Path) -> None:
    """Planted fault: ``is_current`` answering True whatever the table holds fails this test."""
    home = new_home(tmp_path / "home")
    with sqlite3.connect(home.db_path) as conn:
        assert schema_version.is_current(conn)
        undo_0011(conn)
        assert not schema_version.is_current(conn)
    open_unlocked(home).close()  # upgraded (after a backup)
    with sqlite3.connect(home.db_path) as conn:
        assert schema_version.is_current(conn)
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'audit_by_object'").fetchone()
        assert sql.endswith(f"WHERE {schema_version.BY_OBJECT}")
