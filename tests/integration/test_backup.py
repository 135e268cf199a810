"""`clinic-agent backup` while the daemon stores readings, and `restore` of what it wrote.

Every reading the daemon acknowledged before the backup started must be in the restored database,
which must pass SQLite's integrity check and the audit verification (its anchor travelled with it, so
it must not look like a cut log). Readings acknowledged after the backup finished must not be there
(the control: the restore really replaced the database).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

import pytest

from clinic_agent.api.client import ApiClient
from clinic_agent.core.errors import RecordNotFound
from clinic_agent.runtime.home import resolve
from tests.integration.conftest import Cli, Daemon
from tests.support import PASSPHRASE, open_unlocked

RESIDENT = "11010519491231002X"


class Writer(threading.Thread):
    """Adds readings through the daemon's API as fast as it acknowledges them."""

    def __init__(self, socket: Path) -> None:
        super().__init__(daemon=True)
        self.client = ApiClient(socket, timeout=60).connect()
        reply = self.client.call("auth.passphrase", {"passphrase": PASSPHRASE, "user": None, "os_user": "test"})
        self.client.session = reply["session"]
        self.acked: list[str] = []
        self.stop = threading.Event()
        self.started_enough = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        value = 100
        try:
            while not self.stop.is_set():
                value = 100 + (value - 99) % 60
                reply = self.client.call(
                    "reading.add", {"resident": RESIDENT, "code": "8480-6", "value": str(value), "unit": "mm[Hg]"}
                )
                self.acked.append(reply["id"])
                if len(self.acked) >= 20:
                    self.started_enough.set()
        except BaseException as exc:  # noqa: BLE001  (reported by the test)
            self.error = exc
            self.started_enough.set()
        finally:
            self.client.close()


def test_backup_while_storing_then_restore_holds_every_acknowledged_reading(
    daemon: Daemon, initialised: Cli, tmp_path: Path
) -> None:
    cli = initialised
    cli("resident", "add", "--id-number", RESIDENT, "--name", "张秀英", check=True)
    writer = Writer(daemon.socket)
    writer.start()
    assert writer.started_enough.wait(60), "the writer stored nothing"
    before = list(writer.acked)  # acknowledged before the backup started
    config = cli.home / "agent.toml"
    config.write_text(config.read_text() + f'[clinic]\ncode = "TR0042"  # the cuff\'s slot 1 is {RESIDENT}\n')
    as_backed_up = config.read_bytes()
    usb = tmp_path / "usb"
    made = cli("backup", str(usb), "--json")
    after_count = len(writer.acked)
    assert made.returncode == 0, made.stderr
    assert after_count > len(before), "no reading was stored while the backup ran"
    while len(writer.acked) < after_count + 5 and writer.error is None:
        time.sleep(0.05)
    writer.stop.set()
    writer.join(30)
    assert writer.error is None, writer.error
    later = writer.acked[after_count:]  # acknowledged after the backup was finished
    info = json.loads(made.stdout)
    assert info["audit_verified"] is True
    backup_dir = Path(info["path"])
    assert backup_dir.parent == usb
    assert sorted(p.name for p in backup_dir.iterdir()) == [
        "agent.toml.sealed",
        "clinic.anchor",
        "clinic.db",
        "keys.json",
        "manifest.json",
    ]
    assert info["config"] is True
    sealed = (backup_dir / "agent.toml.sealed").read_bytes()
    assert b"TR0042" not in sealed  # sealed like the rest: not even the clinic code in clear
    assert RESIDENT.encode() not in sealed  # a device's users slots may name residents
    assert "machine.key" not in {p.name for p in backup_dir.iterdir()}
    assert all(p.stat().st_mode & 0o077 == 0 for p in backup_dir.iterdir())
    assert info["readings"] >= len(before)

    refused = cli("restore", str(backup_dir))  # the daemon owns the database
    assert refused.returncode == 1
    assert "stop it first" in refused.stderr
    assert daemon.stop() == 0

    config.write_text(config.read_text() + '[log]\nlevel = "debug"  # changed after the backup\n')
    changed, mode = config.read_bytes(), config.stat().st_mode
    restored = cli("restore", str(backup_dir), "--json")
    assert restored.returncode == 0, restored.stderr
    answer = json.loads(restored.stdout)
    kept = Path(answer["replaced_kept_in"])
    assert {"clinic.db", "keys.json", "clinic.anchor", "agent.toml"} <= {p.name for p in kept.iterdir()}
    assert answer["config_restored"] == str(config)
    assert config.read_bytes() == as_backed_up  # the configuration of that day is back
    assert (kept / "agent.toml").read_bytes() == changed  # and the one it replaced is kept
    assert config.stat().st_mode == mode  # the mode of the file it replaced

    store = open_unlocked(resolve(cli.home))
    try:
        assert store.integrity_check() == "ok"
        chain, report = store.verify()
        assert chain.ok, chain.problem
        assert report.ok, (report.anchor, report.findings, report.missing, report.unaccounted)
        for reading_id in before:
            assert store.readings.get(reading_id).id == reading_id
        assert store.counts().readings == info["readings"]
        assert later
        for reading_id in later:
            with pytest.raises(RecordNotFound):
                store.readings.get(reading_id)
    finally:
        store.close()
    verified = cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_restore_refuses_a_damaged_backup_and_changes_nothing(initialised: Cli, tmp_path: Path) -> None:
    cli = initialised
    made = cli("backup", str(tmp_path / "usb"), "--json")
    assert made.returncode == 0, made.stderr
    backup_dir = Path(json.loads(made.stdout)["path"])
    db = backup_dir / "clinic.db"
    data = bytearray(db.read_bytes())
    data[len(data) // 2] ^= 0xFF
    db.write_bytes(bytes(data))
    before = (cli.home / "clinic.db").read_bytes()
    result = cli("restore", str(backup_dir))
    assert result.returncode == 1
    assert "checksum differs" in result.stderr
    assert (cli.home / "clinic.db").read_bytes() == before
    assert not list(cli.home.glob("replaced-*"))
    assert cli("restore", str(tmp_path)).returncode == 2  # not a backup at all


@pytest.mark.skipif(os.geteuid() != 0, reason="restoring as root into a service user's directory needs root")
def test_a_restore_by_root_leaves_the_files_to_the_owner_of_the_data_directory(initialised: Cli) -> None:
    """Root restores (and writes the restore's audit entry); the service user still owns every file after."""
    cli = initialised
    made = json.loads(cli("backup", "--json", check=True).stdout)
    nobody = 65534
    for path in [cli.home, *cli.home.rglob("*")]:
        os.chown(path, nobody, nobody, follow_symlinks=False)
    cli("restore", made["path"], check=True)
    owned = {path.name: path.stat().st_uid for path in cli.home.iterdir() if not path.name.startswith("replaced-")}
    assert set(owned.values()) == {nobody}, owned


def test_restore_refuses_a_configuration_the_backups_keys_do_not_open(initialised: Cli, tmp_path: Path) -> None:
    """The checksums of the manifest agree (rewritten with the file), but the sealed configuration is not
    the store's: the verification opens it with the keys and refuses, and nothing is replaced."""
    cli = initialised
    made = cli("backup", str(tmp_path / "usb"), "--json")
    assert made.returncode == 0, made.stderr
    backup_dir = Path(json.loads(made.stdout)["path"])
    sealed = backup_dir / "agent.toml.sealed"
    sealed.write_bytes(sealed.read_bytes()[:-16] + bytes(16))  # its tag no longer authenticates it
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    manifest["files"]["agent.toml.sealed"] = {
        "sha256": hashlib.sha256(sealed.read_bytes()).hexdigest(),
        "bytes": sealed.stat().st_size,
    }
    (backup_dir / "manifest.json").write_text(json.dumps(manifest))
    config_before = (cli.home / "agent.toml").read_bytes()
    db_before = (cli.home / "clinic.db").read_bytes()
    result = cli("restore", str(backup_dir))
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert "its configuration does not open with the store's keys" in line, line
    assert (cli.home / "agent.toml").read_bytes() == config_before
    assert (cli.home / "clinic.db").read_bytes() == db_before
    assert not list(cli.home.glob("replaced-*"))
