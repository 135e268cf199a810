"""The tamper suite: every change made to the database behind the agent's back is found and named.

Each case edits the database file with plain SQLite, as someone holding the agent's own account
could, then asks the store (the reads a screen makes, and `audit verify`'s full check) whether it
notices, and which row or entry it names. The untouched store is checked first: every case starts
from a store that verifies clean, so a detection cannot come from anything but the edit.
"""

# ruff: noqa: E501  (the tables of edits read best one case a line)
from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clinic_agent.core.errors import AccessDenied, StoreCorrupted
from clinic_agent.core.model import Allergy, QuarantinedFrame, Role, new_id, utcnow
from clinic_agent.runtime.home import Home
from clinic_agent.store import Store
from clinic_agent.store.integrity import IntegrityReport
from tests.reliability.harness import Figures
from tests.support import PASSPHRASE, new_home, open_unlocked, reading, resident


@dataclass
class Clinic:
    """A small store with one of every kind of row, and the ids a case needs."""

    home: Home
    store: Store
    ids: dict[str, str]

    def sql(self, *statements: str, params: tuple[object, ...] = ()) -> None:
        """Edit the database as an outsider would (no triggers in the way)."""
        with contextlib.closing(sqlite3.connect(self.home.db_path)) as conn:
            conn.execute("DROP TRIGGER IF EXISTS audit_append_only_update")
            conn.execute("DROP TRIGGER IF EXISTS audit_append_only_delete")
            for statement in statements:
                conn.execute(statement.format(**self.ids), params)
            conn.commit()
        self.store.close()
        self.store = open_unlocked(self.home)  # what the agent sees at its next start

    def verify(self) -> IntegrityReport:
        chain, report = self.store.verify()
        assert chain.ok, chain.problem
        return report


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[Clinic]:
    home = new_home(tmp_path / "home")
    store = open_unlocked(home)
    a = store.residents.add(resident(name="龙秀英", health_record_number="52220100100100001"), actor="t")
    b = store.residents.add(resident(name="杨国华"), actor="t")
    plain = store.readings.add(reading(a.id), actor="device")
    critical = store.readings.add(reading(a.id, systolic="190", diastolic="115"), actor="device")
    spare = store.readings.add(reading(a.id, systolic="131"), actor="device")
    allergy = store.entries.add(Allergy(id=new_id(), resident_id=a.id, substance="青霉素"), actor="t")
    nurse = store.users.add("li", Role.NURSE, "246810", actor="t")
    store.quarantine.add(
        QuarantinedFrame(id=(q := new_id()), received_at=utcnow(), source="machine", reason="cuff slipped"),
        actor="device",
    )
    ids = {
        "a": a.id,
        "b": b.id,
        "plain": plain.id,
        "critical": critical.id,
        "spare": spare.id,
        "allergy": allergy.id,
        "nurse": nurse.id,
        "quarantined": q,
    }
    found = Clinic(home, store, ids)
    chain, report = store.verify()
    assert chain.ok
    assert report.ok, report  # the control: untouched, nothing is reported
    yield found
    found.store.close()


def _bad(report: IntegrityReport) -> set[str]:
    return {f"{p.table} {p.row_id}" for p in report.bad_rows}


# (name, SQL, the row `audit verify` must name as changed)
CLEAR_COLUMN_EDITS = [
    ("reading moved to another resident", "UPDATE readings SET resident_id = '{b}' WHERE id = '{plain}'", "readings {plain}"),
    ("reading made unassigned", "UPDATE readings SET resident_id = NULL WHERE id = '{plain}'", "readings {plain}"),
    ("critical flag cleared", "UPDATE readings SET critical = 0 WHERE id = '{critical}'", "readings {critical}"),
    ("critical flag raised", "UPDATE readings SET critical = 1 WHERE id = '{plain}'", "readings {plain}"),
    ("time taken moved", "UPDATE readings SET taken_at = '2020-01-01T00:00:00+00:00' WHERE id = '{plain}'", "readings {plain}"),
    ("time received moved", "UPDATE readings SET received_at = '2020-01-01T00:00:00+00:00' WHERE id = '{plain}'", "readings {plain}"),
    ("reading device changed", "UPDATE readings SET device_id = 'other' WHERE id = '{plain}'", "readings {plain}"),
    ("reading marked deleted", "UPDATE readings SET deleted = 1 WHERE id = '{plain}'", "readings {plain}"),
    ("reading dedupe key set", "UPDATE readings SET dedupe_bidx = randomblob(16) WHERE id = '{plain}'", "readings {plain}"),
    ("resident marked deleted", "UPDATE residents SET deleted = 1 WHERE id = '{a}'", "residents {a}"),
    ("resident version rolled", "UPDATE residents SET version = 7 WHERE id = '{a}'", "residents {a}"),
    ("resident updated_at moved", "UPDATE residents SET updated_at = '2020-01-01T00:00:00+00:00' WHERE id = '{a}'", "residents {a}"),
    ("resident ID index replaced", "UPDATE residents SET id_bidx = randomblob(16) WHERE id = '{b}'", "residents {b}"),
    ("resident record-number index cleared", "UPDATE residents SET hrn_bidx = NULL WHERE id = '{a}'", "residents {a}"),
    ("entry moved to another resident", "UPDATE entries SET resident_id = '{b}' WHERE id = '{allergy}'", "entries {allergy}"),
    ("entry kind changed", "UPDATE entries SET kind = 'condition' WHERE id = '{allergy}'", "entries {allergy}"),
    ("entry marked deleted", "UPDATE entries SET deleted = 1 WHERE id = '{allergy}'", "entries {allergy}"),
    ("user made a technician", "UPDATE users SET role = 'technician' WHERE id = '{nurse}'", "users {nurse}"),
    ("user renamed", "UPDATE users SET name = 'admin2' WHERE id = '{nurse}'", "users {nurse}"),
    ("quarantine source changed", "UPDATE quarantine SET source = 'elsewhere' WHERE id = '{quarantined}'", "quarantine {quarantined}"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "sql", "named"), CLEAR_COLUMN_EDITS, ids=[c[0] for c in CLEAR_COLUMN_EDITS])
def test_every_clear_column_edit_is_found_and_the_row_named(
    clinic: Clinic, case: str, sql: str, named: str, figures: Figures
) -> None:
    clinic.sql(sql)
    report = clinic.verify()
    assert named.format(**clinic.ids) in _bad(report), report.bad_rows
    figures.report(f"{case}: named {named.format(**clinic.ids)}")


def test_a_moved_reading_is_refused_where_the_doctor_would_see_it(clinic: Clinic) -> None:
    clinic.sql("UPDATE readings SET resident_id = '{b}' WHERE id = '{plain}'")
    shown, problems = clinic.store.readings.for_resident(clinic.ids["b"])
    assert shown == []
    assert [p.row_id for p in problems] == [clinic.ids["plain"]]


def test_a_swapped_id_index_does_not_find_the_wrong_resident(clinic: Clinic) -> None:
    number = clinic.store.residents.get(clinic.ids["a"]).id_number
    clinic.sql(
        "CREATE TEMP TABLE kept AS SELECT id_bidx FROM residents WHERE id = '{a}'",
        "UPDATE residents SET id_bidx = x'00' WHERE id = '{a}'",
        "UPDATE residents SET id_bidx = (SELECT id_bidx FROM kept) WHERE id = '{b}'",
    )
    with pytest.raises(StoreCorrupted) as caught:
        clinic.store.residents.by_id_number(number)  # finds B's row under A's number: refused, not shown
    assert caught.value.row_id == clinic.ids["b"]


def test_a_user_given_a_higher_role_cannot_sign_in_with_it(clinic: Clinic) -> None:
    clinic.sql("UPDATE users SET role = 'technician' WHERE id = '{nurse}'")
    with pytest.raises(StoreCorrupted):
        clinic.store.users.sign_in("li", "246810", peer="uid:1")
    clinic.sql("UPDATE users SET role = 'nurse' WHERE id = '{nurse}'")
    assert clinic.store.users.sign_in("li", "246810", peer="uid:1").role is Role.NURSE


ROW_EDITS = [
    ("reading row deleted", "DELETE FROM readings WHERE id = '{spare}'", "missing", "readings {spare}"),
    ("resident row deleted", "DELETE FROM residents WHERE id = '{b}'", "missing", "residents {b}"),
    ("entry row deleted", "DELETE FROM entries WHERE id = '{allergy}'", "missing", "entries {allergy}"),
    ("user row deleted", "DELETE FROM users WHERE id = '{nurse}'", "missing", "users {nurse}"),
    ("quarantine row deleted", "DELETE FROM quarantine WHERE id = '{quarantined}'", "missing", "quarantine {quarantined}"),
    ("reading row copied in", "INSERT INTO readings SELECT 'slipped-in', resident_id, device_id, NULL, taken_at, received_at,"
     " critical, key_id, payload, version, updated_at, deleted, change_seq, remote_id, remote_version, base_key_id, base,"
     " synced_at FROM readings WHERE id = '{plain}'", "unaccounted", "readings slipped-in"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "sql", "kind", "named"), ROW_EDITS, ids=[c[0] for c in ROW_EDITS])
def test_a_deleted_or_inserted_row_is_found_and_named(
    clinic: Clinic, case: str, sql: str, kind: str, named: str, figures: Figures
) -> None:
    clinic.sql(sql)
    report = clinic.verify()
    found = report.missing if kind == "missing" else report.unaccounted
    expected = named.format(**clinic.ids)
    assert any(line.startswith(expected + ":") for line in found), found
    figures.report(f"{case}: named {expected}")


def _entries(clinic: Clinic) -> int:
    with contextlib.closing(sqlite3.connect(clinic.home.db_path)) as conn:
        return int(conn.execute("SELECT max(seq) FROM audit").fetchone()[0])


@pytest.mark.parametrize("cut", [1, 10, "all"])
def test_a_cut_audit_tail_is_reported_as_a_cut_naming_the_last_good_entry(
    clinic: Clinic, cut: int | str, figures: Figures
) -> None:
    last = _entries(clinic)
    keep = 0 if cut == "all" else last - int(cut)
    with contextlib.closing(sqlite3.connect(clinic.home.db_path)) as conn:
        conn.execute("DROP TRIGGER audit_append_only_delete")
        conn.execute("DELETE FROM audit WHERE seq > ?", (keep,))
        conn.commit()
    chain, report = clinic.store.verify()  # the running agent is asked at once
    assert chain.ok  # what is left is a valid chain...
    assert f"it ends at entry {keep} (the last that checks out), but entry {last} had been written" in report.anchor
    # ...and the next thing the agent writes keeps the finding in the chain for good.
    clinic.store.audit.record("t", "resident.view", "resident", clinic.ids["a"])
    chain, report = clinic.store.verify()
    assert chain.ok
    assert any(f"entries {keep + 1}-{last} were removed" in f for f in report.findings), report.findings
    figures.report(f"cut {cut}: named entry {keep} as the last good one, {last} as the last written")


def test_a_cut_found_at_the_next_start_is_kept_in_the_chain(clinic: Clinic) -> None:
    last = _entries(clinic)
    clinic.sql(f"DELETE FROM audit WHERE seq > {last - 3}")  # the store is reopened and unlocked after it
    assert not clinic.verify().ok
    assert any(f"entries {last - 2}-{last} were removed" in f for f in clinic.verify().findings)


def test_a_removed_anchor_file_is_reported(clinic: Clinic) -> None:
    clinic.store.core.anchor_file.path.unlink()
    clinic.sql("SELECT 1")  # restart
    findings = clinic.verify().findings
    assert any("anchor file was removed" in f for f in findings), findings


def test_a_rolled_back_database_is_reported(clinic: Clinic, tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    with (
        contextlib.closing(sqlite3.connect(clinic.home.db_path)) as src,
        contextlib.closing(sqlite3.connect(old)) as dst,
    ):
        src.backup(dst)  # yesterday's copy
    clinic.store.residents.add(resident(), actor="t")
    clinic.store.close()
    old.replace(clinic.home.db_path)  # put back in place of today's database
    clinic.store = open_unlocked(clinic.home)
    findings = clinic.verify().findings
    assert any("were removed (cut, or the database was rolled back)" in f for f in findings), findings


def test_failed_unlocks_while_locked_go_into_the_chain_where_an_edit_shows(clinic: Clinic) -> None:
    from clinic_agent.runtime.agent import Agent

    clinic.store.close()
    agent = Agent.open(clinic.home)
    agent.unlock(actor="t", passphrase=PASSPHRASE)
    agent.lock(actor="t")
    with pytest.raises(AccessDenied):
        agent.unlock(actor="thief", passphrase="not the passphrase")
    with contextlib.closing(sqlite3.connect(clinic.home.db_path)) as conn:
        assert conn.execute("SELECT count(*) FROM pending_events").fetchone()[0] == 0
        seq = conn.execute("SELECT seq FROM audit WHERE action = 'unlock_failed'").fetchone()[0]
        conn.execute("DROP TRIGGER audit_append_only_update")
        conn.execute("UPDATE audit SET actor = 'nobody' WHERE action = 'unlock_failed'")
        conn.commit()
    agent.unlock(actor="t", passphrase=PASSPHRASE)
    chain, _ = agent.store.verify()
    agent.close()
    assert chain.first_bad_seq == seq


def test_the_database_files_are_private(clinic: Clinic) -> None:
    for suffix in ("", "-wal", "-shm"):
        path = Path(str(clinic.home.db_path) + suffix)
        if path.exists():
            assert path.stat().st_mode & 0o077 == 0, path
    assert clinic.store.core.anchor_file.path.stat().st_mode & 0o077 == 0


def test_a_day_of_normal_work_reports_nothing(clinic: Clinic) -> None:
    """The other control: what the agent itself does (assign, correct, delete, restart) is not tampering."""
    store = clinic.store
    unassigned = store.readings.add(reading(None), actor="device")
    store.readings.assign(unassigned.id, clinic.ids["b"], actor="t")
    store.readings.mark_entered_in_error(clinic.ids["spare"], actor="t")
    allergy = store.entries.get(clinic.ids["allergy"])
    store.entries.delete(allergy.kind, allergy.id, actor="t")
    clinic.sql("SELECT 1")  # and a restart
    assert clinic.verify().ok
