"""`clinic-agent doctor` on an enrolled clinic: the service, the records not yet sent, the platform link
and the PC clock against the platform's, through the real command, daemon and SEKMET server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.integration.conftest import Cli, start_daemon
from tests.integration.fhir.conftest import start_sekmet
from tests.support import id_number


def enrolled(cli: Cli, platform: str) -> None:
    with (cli.home / "agent.toml").open("a", encoding="utf-8") as config:
        config.write('[clinic]\ncode = "TR7101"\nname = "坝盘村卫生室"\n[sync]\nretry_min_s = 0.2\ninterval_s = 30\n')
    cli("init", check=True)
    cli("enroll", "--platform", platform, check=True)


def doctor(cli: Cli, *args: str, faked: str | None = None) -> tuple[int, dict[str, dict[str, Any]]]:
    """Run `clinic-agent doctor --json`, under libfaketime's clock offset ``faked`` when given."""
    command = [sys.executable, "-m", "clinic_agent", "doctor", "--json", *args]
    env = cli.env()
    if faked is not None:
        command = ["faketime", "-f", faked, *command]
        env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, {c["check"]: c for c in json.loads(result.stdout)}


def test_an_enrolled_clinic_through_lock_unlock_and_sync(fresh_fhir_server: str, cli: Cli) -> None:
    enrolled(cli, fresh_fhir_server)
    cli("resident", "add", "--id-number", id_number(), "--name", "张秀英", check=True)

    code, checks = doctor(cli)
    assert code == 3, checks  # warnings only: not 0, which means all is well
    assert checks["service"]["outcome"] == "warning"  # no daemon, not a system install: a warning
    assert checks["unsent records"]["outcome"] == "ok"
    assert checks["unsent records"]["detail"].startswith("1 waiting, the oldest for 0 minutes")
    assert checks["platform"] == {"check": "platform", "outcome": "ok", "detail": f"{fresh_fhir_server} answers"}
    assert checks["clock"]["outcome"] == "ok"
    assert "s from the platform's" in checks["clock"]["detail"]
    assert {c["outcome"] for c in checks.values()} == {"ok", "warning"}

    daemon = start_daemon(cli)  # no machine key: it starts locked
    try:
        code, checks = doctor(cli)
        assert checks["service"]["outcome"] == "ok"
        assert checks["daemon"]["outcome"] == "warning"
        assert checks["unsent records"]["outcome"] == "warning"
        assert "cannot tell while locked" in checks["unsent records"]["detail"]
        assert code == 3
        cli("unlock", check=True)  # the daemon syncs by itself once it can read the records
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            code, checks = doctor(cli)
            if checks["unsent records"]["detail"] == "nothing waiting for the platform":
                break
            time.sleep(0.3)
        assert checks["unsent records"] == {
            "check": "unsent records",
            "outcome": "ok",
            "detail": "nothing waiting for the platform",
        }
        assert (code, checks["daemon"]["outcome"]) == (0, "ok")
        assert {c["outcome"] for c in checks.values()} == {"ok"}
    finally:
        daemon.stop()


def test_a_pc_clock_two_days_ahead_of_the_platform_fails_with_a_fix(fresh_fhir_server: str, cli: Cli) -> None:
    enrolled(cli, fresh_fhir_server)
    code, checks = doctor(cli, faked="+2d")
    assert code == 1
    assert checks["platform"]["outcome"] == "ok"
    clock = checks["clock"]
    assert clock["outcome"] == "FAIL"
    assert clock["detail"].startswith("the PC clock is 2.0 days ahead of the platform's (sync allows 900 s)")
    assert "timedatectl" in clock["detail"]
    text = subprocess.run(
        ["faketime", "-f", "-2h", sys.executable, "-m", "clinic_agent", "doctor"],
        capture_output=True,
        text=True,
        env=cli.env(FAKETIME_DONT_FAKE_MONOTONIC="1"),
        timeout=120,
    )
    assert text.returncode == 1
    [line] = [line for line in text.stdout.splitlines() if line.startswith("FAIL")]
    assert "2.0 hours behind the platform's" in line


def test_a_platform_that_does_not_answer_fails(sekmet_executable: Path, tmp_path: Path, cli: Cli) -> None:
    server = start_sekmet(sekmet_executable, tmp_path / "sekmet")
    try:
        enrolled(cli, server.base_url)
    finally:
        server.stop()
    code, checks = doctor(cli)
    assert code == 1
    platform = checks["platform"]
    assert platform["outcome"] == "FAIL"
    assert platform["detail"].startswith(f"{server.base_url} does not answer: ")
    assert "\n" not in platform["detail"]
    assert checks["clock"]["outcome"] == "ok"  # nothing to compare with: the year is checked alone
