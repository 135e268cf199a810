"""`clinic-agent doctor` from a login that may not read the data directory (a doctor's, in group clinic)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clinic_agent.runtime import doctor
from clinic_agent.runtime.home import resolve
from tests.integration.conftest import Cli, Daemon


def test_doctor_from_a_login_that_may_not_read_the_data_asks_the_agent(
    daemon: Daemon, initialised: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = resolve(initialised.home)
    monkeypatch.setattr(doctor, "_readable", lambda root: False)
    checks = {c.name: c for c in doctor.run(home)}
    for name in ("data directory", "key file", "database"):
        assert checks[name].outcome == doctor.OK, checks[name]
        assert checks[name].detail.endswith("(checked by the agent)")
    daemon.stop()
    checks = {c.name: c for c in doctor.run(home)}
    assert checks["data files"].outcome == doctor.WARN
    assert "sudo clinic-agent doctor" in checks["data files"].detail


def test_doctor_says_what_it_may_not_read_instead_of_failing(initialised: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(self: Path) -> bool:
        raise PermissionError(13, "Permission denied", str(self))

    home = resolve(initialised.home)
    monkeypatch.setattr(Path, "exists", denied)
    checks = {c.name: c for c in doctor.file_checks(home)}
    assert checks["database"].outcome == doctor.WARN
    assert "may not read" in checks["database"].detail
