"""The name index saved encrypted in the store: an unlock reads it and the residents written since.

Whatever happened since it was saved (edits, a crash before it was saved again, a key rotation, a
restore from a backup, tampering), the index an unlock brings up finds what the rows say.
``index_restored`` tells an index taken from the saved copy from one built from every row.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
from pathlib import Path

import pytest

from clinic_agent.api import registry
from clinic_agent.core import search
from clinic_agent.runtime import agent as agent_module
from clinic_agent.runtime import rotation
from clinic_agent.runtime.agent import Agent, Caller
from clinic_agent.runtime.home import Home
from clinic_agent.store import backup
from tests.support import PASSPHRASE, new_home, open_unlocked, resident


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """A store of three residents, written before any index was saved."""
    made = new_home(tmp_path / "home")
    store = open_unlocked(made)  # the store alone: no index is saved
    try:
        for name in ("龙秀英", "吴国华", "杨光明"):
            store.residents.add(resident(name=name, phone="13800138000"), actor="test")
    finally:
        store.close()
    return made


def _unlocked(home: Home) -> Agent:
    agent = Agent.open(home)
    agent.unlock(actor="test", passphrase=PASSPHRASE)
    return agent


def _found(agent: Agent, query: str) -> set[str]:
    return {m.name for m in agent.index.search(query)}


def _saved_rows(home: Home) -> int:
    with sqlite3.connect(home.db_path) as conn:
        return int(conn.execute("SELECT count(*) FROM search_index").fetchone()[0])


def _rename(agent: Agent, name: str, to: str) -> None:
    """Save a new name through the store only: the running index is not told (a crash right after the commit)."""
    (match,) = agent.index.search(name)
    current = agent.store.residents.get(match.resident_id)
    agent.store.residents.update(dataclasses.replace(current, name=to), actor="test")


def test_the_first_unlock_builds_and_saves_the_index_the_next_restores_it_without_names_in_clear(home: Home) -> None:
    first = _unlocked(home)
    assert not first.index_restored
    assert _saved_rows(home) == 1
    first.close()
    raw = b"".join(p.read_bytes() for p in home.root.iterdir() if p.is_file())
    for secret in ("龙秀英", "吴国华", "13800138000", "lxy", "longxiuying"):
        assert secret.encode() not in raw
    second = _unlocked(home)
    assert second.index_restored  # no resident decrypted, nothing sorted
    assert second.index.full_sorts == 0
    assert _found(second, "lxy") == {"龙秀英"}
    assert _found(second, "138 0013") == {"龙秀英", "吴国华", "杨光明"}
    second.close()


def test_residents_written_after_the_save_are_found_even_when_it_was_never_saved_again(home: Home) -> None:
    _unlocked(home).close()  # saved
    writer = _unlocked(home)
    _rename(writer, "龙秀英", "龙秀兰")
    writer.store.residents.add(resident(name="单田芳"), actor="test")
    writer.store.close()  # the process ends without saving the index (kill -9, power cut)
    agent = _unlocked(home)
    assert agent.index_restored  # the saved copy was used ...
    assert _found(agent, "龙秀") == {"龙秀兰"}  # ... and the rows written after it were read on top
    assert _found(agent, "shantian") == {"单田芳"}
    assert _found(agent, "lxy") == set()
    agent.close()


def test_an_edit_is_found_after_a_lock_and_an_unlock(home: Home) -> None:
    agent = _unlocked(home)
    (match,) = agent.index.search("吴国华")
    edited = dataclasses.replace(agent.store.residents.get(match.resident_id), name="吴国强")
    agent.indexed(agent.store.residents.update(edited, actor="test"))
    assert _found(agent, "wgq") == {"吴国强"}  # at once, in place
    agent.lock(actor="test")
    assert len(agent.index) == 0
    agent.unlock(actor="test", passphrase=PASSPHRASE)
    assert _found(agent, "吴国") == {"吴国强"}
    agent.close()


def test_many_edits_save_the_index_again_at_close(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    _unlocked(home).close()
    monkeypatch.setattr(agent_module, "_SAVE_AFTER", 2)
    agent = _unlocked(home)
    _rename(agent, "龙秀英", "龙秀兰")
    _rename(agent, "吴国华", "吴国强")
    agent.refresh_index()
    agent.close()
    monkeypatch.setattr(agent_module, "_SAVE_AFTER", 500)
    again = _unlocked(home)
    with sqlite3.connect(home.db_path) as conn:
        counter = int(conn.execute("SELECT value FROM meta WHERE key = 'change_seq'").fetchone()[0])
    assert again.index.change_seq == counter
    assert search.snapshot_header(again.store.search_index.load().data or b"")[0]["change_seq"] == counter
    assert _found(again, "龙秀") == {"龙秀兰"}
    again.close()


def test_the_saved_index_survives_a_key_rotation(home: Home) -> None:
    _unlocked(home).close()
    agent = _unlocked(home)
    report = rotation.rotate(agent, actor="test")
    assert report.retired == ["k1"]  # the saved index was re-sealed with the rows: k1 is used by nothing
    agent.close()
    with sqlite3.connect(home.db_path) as conn:
        assert conn.execute("SELECT key_id FROM search_index").fetchall() == [("k2",)]
    again = _unlocked(home)
    assert again.index_restored
    assert _found(again, "ygm") == {"杨光明"}
    again.close()


def test_a_restore_brings_back_the_index_of_the_backup(
    home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _unlocked(home).close()
    taken = backup.take(home.db_path, home.keys_path, tmp_path / "backups")
    monkeypatch.setattr(agent_module, "_SAVE_AFTER", 1)
    agent = _unlocked(home)
    _rename(agent, "杨光明", "杨光辉")
    agent.refresh_index()
    agent.close()  # saved again, with the new name
    monkeypatch.setattr(agent_module, "_SAVE_AFTER", 500)
    backup.restore(taken.path, home.db_path, home.keys_path, keyring=None)
    restored = _unlocked(home)
    assert restored.index_restored  # the backup's own saved index
    assert _found(restored, "杨光") == {"杨光明"}
    assert _found(restored, "ygh") == set()
    restored.close()


def _tamper(home: Home, sql: str) -> None:
    with sqlite3.connect(home.db_path) as conn:
        if sql == "flip a byte":
            (payload,) = conn.execute("SELECT payload FROM search_index").fetchone()
            flipped = payload[:40] + bytes([payload[40] ^ 1]) + payload[41:]
            conn.execute("UPDATE search_index SET payload = ?", (flipped,))
        else:
            conn.execute(sql)


@pytest.mark.parametrize(
    ("sql", "said"),
    [
        ("flip a byte", "integrity"),
        ("UPDATE search_index SET payload = 'not a blob'", "not used"),
        ("UPDATE search_index SET id = 'other'", ""),  # moved off its row: not found, simply built again
        ("UPDATE meta SET value = '1' WHERE key = 'change_seq'", "claims change"),
    ],
)
def test_a_saved_index_that_does_not_check_out_is_not_used(
    home: Home, sql: str, said: str, caplog: pytest.LogCaptureFixture
) -> None:
    _unlocked(home).close()
    _tamper(home, sql)
    with caplog.at_level(logging.WARNING):
        agent = _unlocked(home)
    assert not agent.index_restored  # built from the rows instead
    assert _found(agent, "吴") == {"吴国华"}
    assert said in caplog.text
    agent.close()


def _flip_resident(home: Home, resident_id: str) -> None:
    """Flip a byte of one resident's payload with plain SQLite: its change number stays as it was."""
    with sqlite3.connect(home.db_path) as conn:
        (payload,) = conn.execute("SELECT payload FROM residents WHERE id = ?", (resident_id,)).fetchone()
        flipped = payload[:40] + bytes([payload[40] ^ 1]) + payload[41:]
        conn.execute("UPDATE residents SET payload = ? WHERE id = ?", (flipped, resident_id))


@pytest.mark.parametrize("method", ["resident.lookup", "resident.search"])
def test_a_resident_row_tampered_with_after_the_save_is_named_and_the_search_still_answers(
    home: Home, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The restored index still lists a row changed after its copy was saved (its change number did not
    move); the result list leaves that row out and names it instead of failing for every name.

    Planted fault: ``Residents.shown`` raising for the bad row, as before, fails this test (the call
    raises StoreCorrupted)."""
    first = _unlocked(home)
    (bad,) = first.index.search("吴国华")
    first.close()  # the index is saved with the row as it was
    _flip_resident(home, bad.resident_id)
    agent = _unlocked(home)
    assert agent.index_restored  # the copy still lists the tampered row
    doctor = Caller(actor="doctor", role="doctor")
    with caplog.at_level(logging.WARNING):
        reply = registry.call(agent, doctor, method, {"text": "138 0013"})  # the three share a phone number
    assert {m["name"] for m in reply["matches"]} == {"龙秀英", "杨光明"}
    (problem,) = reply["problems"]
    assert (problem["table"], problem["row_id"]) == ("residents", bad.resident_id)
    assert "integrity" in problem["message"]
    assert bad.resident_id in caplog.text  # the daemon's log names the row too
    agent.close()
    with sqlite3.connect(home.db_path) as conn:
        details = [d for (d,) in conn.execute("SELECT detail FROM audit WHERE action = 'resident.search'")]
    assert details == ["2 found, 1 failed their integrity check"]


def test_a_copy_saved_in_an_older_format_is_built_again_once_and_saved_in_the_new_one(
    home: Home, caplog: pytest.LogCaptureFixture
) -> None:
    """The last release saved format 3, its columns in JSON. Planted fault: ``snapshot_header`` taking a
    copy without the current format's start fails this test (the old copy is read as columns, and the
    unlock fails or finds nothing)."""
    first = _unlocked(home)
    columns = {"text": "龙秀英\x00吴国华\x00杨光明\x00", "starts": "AAAAAAQAAAAIAAAADAAAAA=="}
    old = {"format": 3, "pinyin": "", "change_seq": first.index.change_seq, "count": 3, "names": columns}
    first.store.search_index.save(json.dumps(old).encode())  # as the last release saved it (in part)
    first.close()
    with caplog.at_level(logging.WARNING):
        upgraded = _unlocked(home)
    assert not upgraded.index_restored  # built from the rows ...
    assert "snapshot format 3" in caplog.text
    assert _found(upgraded, "ygm") == {"杨光明"}
    saved = upgraded.store.search_index.load().data or b""
    assert search.snapshot_header(saved)[0]["count"] == 3  # ... and saved in the new format
    upgraded.close()
    again = _unlocked(home)
    assert again.index_restored  # ... once: the next unlock restores the copy saved in the new format
    assert _found(again, "138 0013") == {"龙秀英", "吴国华", "杨光明"}
    again.close()
