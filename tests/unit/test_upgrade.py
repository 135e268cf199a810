"""Upgrades: a backup before migrations, a failing migration changes nothing, a newer database is refused."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from clinic_agent.cli import main
from clinic_agent.runtime.home import Home, open_locked
from clinic_agent.store import backup, schema_version
from clinic_agent.store.schema import MIGRATIONS, SchemaTooNew, UpgradeFailed
from tests.support import new_home, open_unlocked, reading


@pytest.fixture
def home(tmp_path: Path) -> Home:
    made = new_home(tmp_path / "home")
    store = open_unlocked(made)
    try:
        store.readings.add(reading(), actor="test")
    finally:
        store.close()
    return made


@pytest.fixture
def extra_migration(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, Callable[[Database], None]], None]]:
    """Register a migration of a 'next version' for one test."""

    def register(name: str, fn: Callable[[Database], None]) -> None:
        migrations = [*MIGRATIONS._migrations, Migrations._Migration(name, fn)]
        monkeypatch.setattr(MIGRATIONS, "_migrations", migrations)
        # and in the list an open checks first (test_schema_version.py holds the two equal)
        monkeypatch.setattr(schema_version, "NAMES", (*schema_version.NAMES, name))

    return register


def _tables_and_columns(db_path: Path) -> tuple[set[str], set[str]]:
    with sqlite3.connect(db_path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        columns = {r[1] for r in conn.execute("PRAGMA table_info(readings)")}
    return tables, columns


def test_a_failing_migration_changes_nothing_and_the_old_version_still_opens(
    home: Home, extra_migration: Callable[[str, Callable[[Database], None]], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _tables_and_columns(home.db_path)

    def half_done_then_fails(db: Database) -> None:
        db.execute("ALTER TABLE readings ADD COLUMN next_version_column TEXT")
        db.table("next_version_table").create({"id": int}, pk="id")
        db.execute("UPDATE meta SET value = 'scribbled' WHERE key = 'created_at'")
        raise sqlite3.OperationalError("deliberately failing migration")

    extra_migration("0098_works", lambda db: db.execute("CREATE TABLE next_version_first (id INTEGER)"))
    extra_migration("0099_fails", half_done_then_fails)
    with pytest.raises(UpgradeFailed, match=r"0099_fails.*nothing was changed"):
        open_locked(home)
    assert _tables_and_columns(home.db_path) == before  # 0098 rolled back with it: all or nothing
    monkeypatch.undo()  # the previous version: it opens the data as it was
    store = open_unlocked(home)
    try:
        assert store.counts().readings == 1
        chain, report = store.verify()
        assert chain.ok
        assert report.ok
    finally:
        store.close()
    (taken,) = backup.list_backups(backup.backups_dir(home.root))
    assert taken.name.endswith("-before-upgrade")
    assert backup.verify(taken).manifest["readings"] == 1


def test_an_upgrade_takes_a_verified_backup_first_then_migrates(
    home: Home, extra_migration: Callable[[str, Callable[[Database], None]], None]
) -> None:
    extra_migration("0099_works", lambda db: db.execute("ALTER TABLE readings ADD COLUMN next_version_column TEXT"))
    store, _ = open_locked(home)
    store.close()
    assert "next_version_column" in _tables_and_columns(home.db_path)[1]
    (taken,) = backup.list_backups(backup.backups_dir(home.root))
    manifest = backup.verify(taken).manifest
    assert "0099_works" not in manifest["schema"]  # the copy is of the data before the upgrade
    store, _ = open_locked(home)  # nothing pending: no second backup
    store.close()
    assert len(backup.list_backups(backup.backups_dir(home.root))) == 1


def test_an_older_agent_refuses_a_newer_database(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    with sqlite3.connect(home.db_path) as conn:
        conn.execute(
            "INSERT INTO _sqlite_migrations(migration_set, name, applied_at) "
            "VALUES ('clinic-agent', '9999_future', 'x')"
        )
    with pytest.raises(SchemaTooNew, match=r"newer Clinic Agent \(schema 9999_future"):
        open_locked(home)
    assert main(["--home", str(home.root), "status"]) == 1
    err = capsys.readouterr().err
    assert "newer Clinic Agent" in err
    assert "Nothing was changed" in err
    assert len(err.strip().splitlines()) == 1
    assert not backup.list_backups(backup.backups_dir(home.root))  # refused before any backup or change
