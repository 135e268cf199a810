"""`clinic-agent doctor`: each check says what is wrong and what to do."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from clinic_agent.runtime import doctor
from clinic_agent.runtime.home import Home
from tests.support import new_home


def _outcomes(home: Home) -> dict[str, str]:
    return {check.name: check.outcome for check in doctor.run(home)}


def test_a_healthy_store_passes_with_the_daemon_noted_as_down(tmp_path: Path) -> None:
    home = new_home(tmp_path / "home", machine_key=True)
    outcomes = _outcomes(home)
    assert outcomes.pop("service") == doctor.WARN
    assert outcomes.pop("unsent records") == doctor.WARN  # not enrolled
    assert "daemon" not in outcomes
    assert "platform" not in outcomes
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
    assert doctor.check_clock(now=lambda: datetime(2000, 1, 1, tzinfo=UTC)).outcome == doctor.FAIL
    assert doctor.check_clock(now=lambda: datetime(2026, 11, 25, tzinfo=UTC)).outcome == doctor.OK


def test_a_clock_beyond_the_sync_limit_from_the_platform_fails_with_a_fix() -> None:
    assert doctor.check_clock(899.0, 900.0).outcome == doctor.OK
    far = doctor.check_clock(-3 * 3600.0, 900.0)
    assert far.outcome == doctor.FAIL
    assert "3.0 hours behind the platform's" in far.detail
    assert "timedatectl" in far.detail


def _facts(**overrides: object) -> dict[str, object]:
    facts: dict[str, object] = {
        "locked": False,
        "platform": "https://platform.example/fhir",
        "oldest_unsent": None,
        "pending": 0,
        "parked": 0,
        "sealed": 0,
    }
    return facts | overrides


def test_the_oldest_unsent_record_warns_after_a_day_and_fails_after_a_week() -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert doctor.check_unsent(_facts(), now).outcome == doctor.OK
    hours = doctor.check_unsent(_facts(oldest_unsent="2026-11-25T09:00:00+00:00", pending=2), now)
    assert (hours.outcome, hours.detail.startswith("2 waiting, the oldest for 3.0 hours")) == (doctor.OK, True)
    days = doctor.check_unsent(_facts(oldest_unsent="2026-11-23T12:00:00+00:00", pending=1), now)
    assert days.outcome == doctor.WARN
    week = doctor.check_unsent(_facts(oldest_unsent="2026-11-17T12:00:00+00:00", pending=1), now)
    assert week.outcome == doctor.FAIL
    assert "clinic-agent status" in week.detail
    assert doctor.check_unsent(_facts(parked=1), now).outcome == doctor.WARN
    assert "cannot tell while locked" in doctor.check_unsent(_facts(locked=True), now).detail
    assert "not enrolled" in doctor.check_unsent(_facts(platform=None, pending=3), now).detail


def test_the_service_state_from_systemd() -> None:
    home = Home(doctor.SYSTEM_DATA, Path("/etc/clinic-agent/agent.toml"))
    shown = doctor.parse_systemctl_show(
        "LoadState=loaded\nActiveState=failed\nSubState=failed\nResult=exit-code\nConditionResult=yes\n"
    )
    failed = doctor.check_service(home, False, shown)
    assert failed.outcome == doctor.FAIL
    assert "journalctl -u clinic-agent" in failed.detail
    active = {**shown, "ActiveState": "active", "SubState": "running"}
    assert doctor.check_service(home, True, active).outcome == doctor.OK
    skipped = {**shown, "ActiveState": "inactive", "SubState": "dead", "ConditionResult": "no"}
    assert "clinic-agent setup" in doctor.check_service(home, False, skipped).detail
    stopped = {**skipped, "ConditionResult": "yes"}
    assert "systemctl start clinic-agent" in doctor.check_service(home, False, stopped).detail
    missing = doctor.check_service(home, False, {"LoadState": "not-found", "ActiveState": "inactive"})
    assert (missing.outcome, "not installed" in missing.detail) == (doctor.FAIL, True)


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


def test_a_restore_not_yet_anchored_on_the_platform_is_a_warning_until_a_sync_anchors_it() -> None:
    restored = {"entry": 41, "at": "2026-11-25T09:30:00+00:00", "backup": "clinic-agent-backup-20261120T080000Z"}
    assert doctor.check_restore(_facts()) is None  # no restore: nothing to say
    assert doctor.check_restore(None) is None
    waiting = doctor.check_restore(_facts(restored=restored, anchored_entry=39))
    assert waiting is not None
    assert waiting.outcome == doctor.WARN
    assert waiting.detail.startswith("backup clinic-agent-backup-20261120T080000Z restored 2026-11-25 09:30;")
    assert "clinic-agent sync --once" in waiting.detail
    never = doctor.check_restore(_facts(restored=restored, anchored_entry=None))
    assert never is not None
    assert never.outcome == doctor.WARN
    alone = doctor.check_restore(_facts(restored=restored, platform=None))
    assert alone is not None
    assert (alone.outcome, "not enrolled" in alone.detail) == (doctor.WARN, True)
    anchored = doctor.check_restore(_facts(restored=restored, anchored_entry=44))
    assert anchored is not None
    assert (anchored.outcome, anchored.detail.endswith("(to entry 44)")) == (doctor.OK, True)


def test_the_exit_status_is_0_only_when_every_check_is_ok() -> None:
    from clinic_agent.cli.commands import doctor_status

    assert doctor_status({doctor.OK}) == 0
    assert doctor_status({doctor.OK, doctor.WARN}) == 3  # a warning is not health: a script must see it
    assert doctor_status({doctor.OK, doctor.WARN, doctor.FAIL}) == 1
    assert doctor_status({doctor.FAIL}) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a directory to another user")
def test_root_checks_the_service_users_data_directory_without_a_warning(tmp_path: Path) -> None:
    home = new_home(tmp_path / "home")
    os.chown(home.root, 65534, 65534)  # the service user's, as on an installed PC; root runs `sudo clinic-agent doctor`
    assert doctor.check_home(home).outcome == doctor.OK
