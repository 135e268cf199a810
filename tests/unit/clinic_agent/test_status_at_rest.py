"""`clinic-agent status` without a daemon reads the store at rest (``clinic_agent.runtime.status.at_rest``).

It must say what the opened store says (``Agent.status`` with ``sync.status``), fail with the same
words where opening the store fails, and leave to the store what only the store may do (upgrade a
schema, refuse a newer one).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clinic_agent.core.errors import ClinicAgentError
from clinic_agent.core.sync_values import Sent
from clinic_agent.runtime import status, sync_state
from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.home import Home
from clinic_agent.store.schema_version import MIGRATIONS_TABLE
from tests.support import new_home, open_unlocked, reading, resident


def _opened(home: Home) -> dict[str, Any]:
    """What status said before it could read at rest: the store opened (locked), ``status`` and ``sync.status``."""
    agent = Agent.open(home)
    try:
        return agent.status() | {"sync": sync_state.status(agent)}
    finally:
        agent.close()


def _without_disk_free(found: dict[str, Any]) -> dict[str, Any]:
    """The free space moves with whatever else writes to the disk between two reads."""
    assert isinstance(found.pop("disk_free_mib"), int)
    return found


@pytest.fixture
def busy_home(tmp_path: Path) -> Home:
    """A store with something in every count status shows."""
    home = new_home(tmp_path / "home")
    store = open_unlocked(home)
    try:
        people = [store.residents.add(resident(), actor="test") for _ in range(2)]
        for person in people:
            store.readings.add(reading(person.id), actor="test")
        store.readings.add(reading(None), actor="test")  # waits to be assigned
        pending = store.sync.pending(limit=10)
        store.sync.mark_sent([Sent(p.seq, p.entity, p.entity_id) for p in pending[:2]])
        store.sync.park(pending[2].seq, "refused by the platform")
        store.sync.park_pulled("Patient", "remote-1", "cannot be applied here")
        store.sync.save_settings({"platform": "https://fhir.example.invalid/r4", "last_sync": "2026-12-01T08:00:00"})
    finally:
        store.close()
    return home


def test_status_at_rest_says_what_the_opened_store_says(busy_home: Home) -> None:
    at_rest = status.at_rest(busy_home)
    assert at_rest is not None
    expected = _opened(busy_home)
    assert _without_disk_free(at_rest) == _without_disk_free(expected)
    assert json.dumps(at_rest, sort_keys=True) == json.dumps(expected, sort_keys=True)
    # and the store was not empty: every part of it was counted
    assert (at_rest["residents"], at_rest["readings"], at_rest["unassigned_readings"]) == (2, 3, 1)
    assert at_rest["sync"]["parked"] == 2
    assert at_rest["sync"]["state"] == "idle"


def test_status_at_rest_leaves_a_schema_to_upgrade_to_the_store(busy_home: Home) -> None:
    with sqlite3.connect(busy_home.db_path) as conn:  # as an older agent left it: its last migration pending
        conn.execute(f"DELETE FROM {MIGRATIONS_TABLE} WHERE rowid = (SELECT max(rowid) FROM {MIGRATIONS_TABLE})")
    assert status.at_rest(busy_home) is None


def _damage_key_file(home: Home) -> None:
    home.keys_path.write_text('{"format": 1, "store_id": "x"}', encoding="utf-8")


def _remove_key_file(home: Home) -> None:
    home.keys_path.unlink()


def _remove_database(home: Home) -> None:
    home.db_path.unlink()


def _swap_key_file(home: Home) -> None:
    other = new_home(home.root.parent / "other")
    home.keys_path.write_bytes(other.keys_path.read_bytes())


def _break_config(home: Home) -> None:
    home.config_path.write_text("[store]\ndisk_low_mib = -1\n", encoding="utf-8")


@pytest.mark.parametrize(
    "damage", [_damage_key_file, _remove_key_file, _remove_database, _swap_key_file, _break_config]
)
def test_status_at_rest_fails_in_the_words_of_opening_the_store(
    busy_home: Home, damage: Callable[[Home], None]
) -> None:
    damage(busy_home)
    with pytest.raises(ClinicAgentError) as opening:
        Agent.open(busy_home)
    with pytest.raises(ClinicAgentError) as at_rest:
        status.at_rest(busy_home)
    assert (type(at_rest.value), at_rest.value.message) == (type(opening.value), opening.value.message)
