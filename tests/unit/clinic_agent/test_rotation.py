"""Data-key rotation: every row readable before, during and after; old keys retired only when unused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from clinic_agent.core.errors import WrongPassphrase
from clinic_agent.core.model import Role
from clinic_agent.runtime import rotation
from clinic_agent.runtime.agent import Agent
from clinic_agent.security.keys import KeyFile
from tests.support import PASSPHRASE, new_home, reading, resident


@pytest.fixture
def agent(tmp_path: Path) -> Agent:
    home = new_home(tmp_path / "home")
    opened = Agent.open(home)
    opened.unlock(actor="test", passphrase=PASSPHRASE)
    yield opened
    opened.close()


def _fill(agent: Agent, n: int = 30) -> list[str]:
    ids = []
    for _ in range(n):
        person = agent.store.residents.add(resident(), actor="t")
        agent.store.readings.add(reading(person.id), actor="t")
        ids.append(person.id)
    agent.store.users.add("zhangwei", Role.DOCTOR, "246810", actor="t")
    return ids


def _key_ids(agent: Agent) -> set[str]:
    with sqlite3.connect(agent.home.db_path) as conn:
        rows = conn.execute(
            "SELECT key_id FROM residents UNION SELECT key_id FROM readings UNION SELECT key_id FROM users"
        ).fetchall()
    return {r[0] for r in rows}


def test_rotation_re_encrypts_everything_and_retires_the_old_key(agent: Agent) -> None:
    ids = _fill(agent)
    report = rotation.rotate(agent, actor="test")
    assert (report.current, report.retired, report.kept) == ("k2", ["k1"], [])
    assert report.reencrypted >= 61
    assert _key_ids(agent) == {"k2"}
    assert [agent.store.residents.get(i).id for i in ids] == ids
    reopened = KeyFile.load(agent.home.keys_path).open_with_passphrase(PASSPHRASE).keyring
    assert set(reopened.data_keys) == {"k2"}
    assert agent.store.audit.verify().ok


def test_a_rotation_interrupted_after_the_key_file_was_saved_can_be_resumed(agent: Agent) -> None:
    ids = _fill(agent)
    ring = agent.vault.keyring  # type: ignore[union-attr]
    ring.add_data_key()  # what rotate() saves first, before re-encrypting anything
    agent.keyfile.write_keyring(agent.vault.vault_key, ring)  # type: ignore[union-attr]
    agent.keyfile.save()
    agent.store.residents.add(resident(), actor="t")  # new writes already use k2
    assert _key_ids(agent) == {"k1", "k2"}
    report = rotation.rotate(agent, actor="test", new_key=False)
    assert (report.current, report.retired) == ("k2", ["k1"])
    assert all(agent.store.residents.get(i) for i in ids)


def test_a_tampered_row_keeps_its_key_alive_and_is_reported(agent: Agent) -> None:
    ids = _fill(agent, 5)
    with sqlite3.connect(agent.home.db_path) as conn:
        blob = bytearray(conn.execute("SELECT payload FROM residents WHERE id = ?", (ids[2],)).fetchone()[0])
        blob[-1] ^= 1
        conn.execute("UPDATE residents SET payload = ? WHERE id = ?", (bytes(blob), ids[2]))
    report = rotation.rotate(agent, actor="test")
    assert report.kept == ["k1"]
    assert report.unreadable_rows == [f"residents:{ids[2]}"]
    assert agent.store.residents.get(ids[0]).id == ids[0]


def test_changing_a_passphrase_keeps_the_data_and_drops_the_old_one(agent: Agent) -> None:
    _fill(agent, 3)
    user = rotation.change_passphrase(agent, current=PASSPHRASE, new="another good passphrase", user=None, actor="t")
    assert user == "admin"
    with pytest.raises(WrongPassphrase):
        rotation.change_passphrase(agent, current=PASSPHRASE, new="x" * 12, user=None, actor="t")
    fresh = Agent.open(agent.home)
    try:
        fresh.unlock(actor="test", passphrase="another good passphrase")
        assert fresh.store.residents.count() == 3
    finally:
        fresh.close()
