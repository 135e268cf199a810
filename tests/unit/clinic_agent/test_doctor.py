"""`clinic-agent doctor`: each check says what is wrong and what to do."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from clinic_agent import doctor
from clinic_agent.home import Home
from tests.support import new_home


def _outcomes(home: Home) -> dict[str, str]:
    return {check.name: check.outcome for check in doctor.run(home)}


def test_a_healthy_store_passes_with_the_daemon_noted_as_down(tmp_path: Path) -> None:
    home = new_home(tmp_path / "home", machine_key=True)
    outcomes = _outcomes(home)
    assert outcomes.pop("daemon") == doctor.WARN
    assert set(outcomes.values()) == {doctor.OK}


def test_open_file_modes_and_a_missing_machine_key_fail(tmp_path: Path) -> None:
    home = new_home(tmp_path / "home", machine_key=True)
    home.keys_path.chmod(0o644)
    assert doctor.check_keys(home).outcome == doctor.FAIL
    home.keys_path.chmod(0o600)
    home.machine_key_path.unlink()
    assert "stays locked" in doctor.check_keys(home).detail
    home.root.chmod(0o755)
    assert doctor.check_home(home).outcome == doctor.FAIL


def test_a_damaged_database_and_a_bad_config_fail(tmp_path: Path) -> None:
    home = new_home(tmp_path / "home")
    for suffix in ("-wal", "-shm"):
        Path(str(home.db_path) + suffix).unlink(missing_ok=True)
    data = bytearray(home.db_path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    home.db_path.write_bytes(bytes(data))
    assert doctor.check_database(home).outcome == doctor.FAIL
    (home.root / "agent.toml").write_text("[api]\nsession_idle_minutes = 0\n")
    assert "api.session_idle_minutes" in doctor.check_config(home).detail


def test_a_clock_reset_to_the_past_fails() -> None:
    assert doctor.check_clock(lambda: datetime(2000, 1, 1, tzinfo=UTC)).outcome == doctor.FAIL
    assert doctor.check_clock(lambda: datetime(2026, 11, 25, tzinfo=UTC)).outcome == doctor.OK


def test_every_section_run_refuses_fails_the_configuration_check(tmp_path: Path) -> None:
    """Regression: doctor said "ok configuration" for a [sync] key that `clinic-agent run` refuses."""
    home = new_home(tmp_path / "home")
    for text, named in [
        ("[sync]\ncolour = 1\n", "sync.colour"),
        ("[sync]\nbatch_size = 0\n", "sync.batch_size"),
        ("sync = 5\n", "sync must be a table"),
        ('[[devices]]\nname = "cuff"\nkind = "teleport"\n', "kind"),
        ('[platform]\nnamespace = "http://fhir.tongren.example/ns"\n', "platform.namespace"),
    ]:
        (home.root / "agent.toml").write_text(text)
        found = doctor.check_config(home)
        assert (found.outcome, named in found.detail) == (doctor.FAIL, True), (text, found)
