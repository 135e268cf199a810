"""The daemon's automatic backups: taken when due, verified, the oldest beyond `keep` removed."""

from __future__ import annotations

import os
import time
from pathlib import Path

from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.backups import DailyBackups
from clinic_agent.store import backup
from tests.support import PASSPHRASE, new_home


def test_automatic_backups_are_verified_and_only_the_newest_are_kept(tmp_path: Path) -> None:
    home = new_home(tmp_path / "home")
    with home.config_path.open("a", encoding="utf-8") as f:
        f.write("\n[backup]\nkeep = 2\ninterval_hours = 24\n")
    agent = Agent.open(home)
    try:
        agent.unlock(actor="test", passphrase=PASSPHRASE)
        service = DailyBackups(agent)
        service.FIRST_AFTER_S = 0.0
        assert service.due_in() <= 0
        names = []
        for age_days in (3, 2, 1):
            made = service.take()
            assert made.audit_verified
            assert made.config == home.config_path.read_bytes()  # the settings, sealed, opened by the check
            old = time.time() - age_days * 86400
            os.utime(made.path, (old, old))
            names.append(made.path.name)
        kept = [p.name for p in backup.list_backups(backup.backups_dir(home.root))]
        assert kept == names[1:]
        assert service.due_in() <= 0  # the newest is a day old
        newest = service.take()
        assert 0 < service.due_in() <= 24 * 3600
        assert [p.name for p in backup.list_backups(backup.backups_dir(home.root))] == [names[2], newest.path.name]
        assert any(e.action == "backup" for e in agent.store.audit.entries())
    finally:
        agent.close()
