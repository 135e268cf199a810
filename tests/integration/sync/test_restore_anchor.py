"""Restoring an older backup puts the audit log behind the head the platform holds: the restore is in
the log, and `audit verify` and the next sync say so as a restore, not as tampering. A log rolled back
without a restore to explain it is still a cut, restore or no restore before it. Between the restore
and that sync the restored log's end is guarded only by clinic.anchor beside it (a cut of both passes
as the restore's), and doctor warns of that window until the sync ends it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.integration.conftest import Cli
from tests.support import id_number

_FILES = ("clinic.db", "clinic.db-wal", "clinic.db-shm", "clinic.anchor")


def enrolled(cli: Cli, platform: str) -> None:
    with (cli.home / "agent.toml").open("a", encoding="utf-8") as config:
        config.write('[clinic]\ncode = "TR7201"\nname = "坝盘村卫生室"\n')
    cli("init", check=True)
    cli("enroll", "--platform", platform, check=True)


def add_and_sync(cli: Cli, name: str) -> None:
    cli("resident", "add", "--id-number", id_number(), "--name", name, check=True)
    assert json.loads(cli("sync", "--once", "--json", check=True).stdout)["errors"] == []


def verify(cli: Cli) -> dict[str, object]:
    return dict(json.loads(cli("audit", "verify", "--json").stdout))


def doctor_says(cli: Cli) -> dict[str, str]:
    """doctor's restore check: outcome and detail (empty when it has nothing to say)."""
    rows = json.loads(cli("doctor", "--json").stdout)
    return next(({"outcome": r["outcome"], "detail": r["detail"]} for r in rows if r["check"] == "restore"), {})


def copy_files(source: Path, target: Path) -> None:
    """The database and its local anchor as files: a copy kept aside, or put back over the store."""
    target.mkdir(exist_ok=True)
    for name in _FILES:
        (target / name).unlink(missing_ok=True)
        if (source / name).exists():
            shutil.copy2(source / name, target / name)


def test_a_restored_older_backup_is_a_known_cut_and_a_later_rollback_is_still_caught(
    fresh_fhir_server: str, cli: Cli, tmp_path: Path
) -> None:
    enrolled(cli, fresh_fhir_server)
    add_and_sync(cli, "张秀英")
    made = json.loads(cli("backup", "--json", check=True).stdout)
    add_and_sync(cli, "李小燕")  # the platform's anchor is now beyond the backup

    restored = cli("restore", made["path"], check=True)
    assert "not as tampering" in restored.stdout
    [entry] = verify(cli)["restores"]  # type: ignore[misc]
    assert f"restored backup {made['name']}" in entry
    assert "cli:" in entry  # who: the login and the slot that opened the backup
    assert "of that log are not in this one" in entry
    before_sync = verify(cli)
    assert before_sync["ok"] is True, before_sync
    waiting = doctor_says(cli)
    assert waiting["outcome"] == "warning", waiting
    assert waiting["detail"].startswith(f"backup {made['name']} restored ")
    assert "the platform does not hold the restored audit log yet" in waiting["detail"]
    # The limit docs/security.md names, as it is: until a sync anchors the restored log, an entry written
    # after the restore and cut with clinic.anchor passes that sync as part of the restore's known cut.
    copy_files(cli.home, tmp_path / "just-restored")
    cli("resident", "add", "--id-number", id_number(), "--name", "赵敏", check=True)
    copy_files(tmp_path / "just-restored", cli.home)

    synced = cli("sync", "--once", check=True)  # the words a technician sees
    [said] = synced.stderr.splitlines()
    assert said.startswith("clinic-agent: the audit log: the platform holds entry ")
    assert f"before backup {made['name']} was restored" in said
    assert said.endswith("(a known, audited cut, not tampering)")
    after = verify(cli)
    assert after["ok"] is True, after
    assert after["findings"] == []
    assert len(after["restores"]) == 2  # type: ignore[arg-type]
    text = cli("audit", "verify", check=True).stdout
    assert text.startswith("RESTORED FROM A BACKUP (a known, audited cut) entry ")
    assert "Audit log intact" in text
    again = cli("sync", "--once", "--json", check=True)  # the platform holds the restored log's head now
    assert "audit" not in json.loads(again.stdout)
    assert doctor_says(cli)["outcome"] == "ok"

    # After that, files rolled back (database and local anchor together) are a cut, restore or not.
    copy_files(cli.home, tmp_path / "rolled-back")
    add_and_sync(cli, "王芳")
    copy_files(tmp_path / "rolled-back", cli.home)
    caught = json.loads(cli("sync", "--once", "--json").stdout)
    assert caught["audit"].startswith("the platform holds entry ")
    assert "restored" not in caught["audit"]
    found = verify(cli)
    assert found["ok"] is False
    [finding] = found["findings"]  # type: ignore[misc]
    assert caught["audit"] in finding
    assert cli("audit", "verify").returncode == 1


def test_a_rollback_without_a_restore_is_caught(fresh_fhir_server: str, cli: Cli, tmp_path: Path) -> None:
    enrolled(cli, fresh_fhir_server)
    add_and_sync(cli, "张秀英")
    copy_files(cli.home, tmp_path / "rolled-back")
    add_and_sync(cli, "李小燕")
    copy_files(tmp_path / "rolled-back", cli.home)
    assert verify(cli)["ok"] is True  # the database and its anchor agree: only the platform can tell
    caught = json.loads(cli("sync", "--once", "--json").stdout)
    assert caught["audit"].startswith("the platform holds entry ")
    assert "restored" not in caught["audit"]
    found = verify(cli)
    assert found["ok"] is False
    assert found["restores"] == []
    [finding] = found["findings"]  # type: ignore[misc]
    assert caught["audit"] in finding
