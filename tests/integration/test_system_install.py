"""The technician's path: packaging/install.sh, the service user, a doctor in group clinic, a stranger.

This installs into the real system (/opt, /etc, /var/lib, a service user) and removes it all
afterwards, so it runs only as root with CLINIC_AGENT_TEST_SYSTEM_INSTALL=1 (set by .ci/run on the
disposable CI machine).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PREFIX = Path("/opt/clinic-agent-test")
DOCTOR, STRANGER = "catestdoctor", "cateststranger"
PASSPHRASE = "a long install test passphrase"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or os.environ.get("CLINIC_AGENT_TEST_SYSTEM_INSTALL") != "1",
        reason="installs into the system: needs root and CLINIC_AGENT_TEST_SYSTEM_INSTALL=1 (CI sets it)",
    ),
]


def _run(*args: str, user: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    command = list(args)
    if user:
        command = ["runuser", "-u", user, "--", "env", *(f"{k}={v}" for k, v in env.items()), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd="/")
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _uninstall() -> None:
    subprocess.run(["pkill", "-u", "clinic-agent"], check=False)
    for path in (PREFIX, Path("/etc/clinic-agent"), Path("/var/lib/clinic-agent"), Path("/run/clinic-agent")):
        shutil.rmtree(path, ignore_errors=True)
    for path in (
        Path("/etc/systemd/system/clinic-agent.service"),
        Path("/usr/local/bin/clinic-agent"),
    ):
        path.unlink(missing_ok=True)
    for user in (DOCTOR, STRANGER, "clinic-agent"):
        subprocess.run(["userdel", user], check=False, capture_output=True)
    subprocess.run(["groupdel", "clinic"], check=False, capture_output=True)


@pytest.fixture(scope="module")
def installed() -> Iterator[None]:
    if Path("/etc/clinic-agent").exists() or Path("/var/lib/clinic-agent").exists():
        pytest.skip("a Clinic Agent is already installed on this machine; not touching it")
    try:
        result = _run(str(ROOT / "packaging" / "install.sh"), "--prefix", str(PREFIX))
        assert result.returncode == 0, result.stderr + result.stdout
        for user in (DOCTOR, STRANGER):
            _run("useradd", "--create-home", user)
        _run("usermod", "-aG", "clinic", DOCTOR)
        yield
    finally:
        _uninstall()


def test_install_init_run_and_use_as_a_doctor(installed: None) -> None:
    agent = str(PREFIX / "bin" / "clinic-agent")
    assert (Path("/etc/clinic-agent/agent.toml").stat().st_mode & 0o777) == 0o640
    assert "/run/clinic-agent/agent.sock" in Path("/etc/clinic-agent/agent.toml").read_text()
    init = _run(agent, "init", "--machine-key", "--json", user="clinic-agent", CLINIC_AGENT_PASSPHRASE=PASSPHRASE)
    assert init.returncode == 0, init.stderr
    assert json.loads(init.stdout)["home"] == "/var/lib/clinic-agent"

    denied = _run("/usr/local/bin/clinic-agent", "status", user=DOCTOR)  # no daemon: the data is not theirs
    assert denied.returncode == 1
    assert "no permission" in denied.stderr

    Path("/run/clinic-agent").mkdir(mode=0o750)  # what systemd's RuntimeDirectory= makes
    shutil.chown("/run/clinic-agent", "clinic-agent", "clinic")
    # setpriv execs the daemon as the service user, so SIGTERM reaches it as systemd's would
    as_service = ["setpriv", "--reuid=clinic-agent", "--regid=clinic", "--init-groups", "--reset-env"]
    daemon = subprocess.Popen([*as_service, agent, "run"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(100):
            if Path("/run/clinic-agent/agent.sock").exists():
                break
            time.sleep(0.1)
        status = _run("/usr/local/bin/clinic-agent", "status", "--json", user=DOCTOR)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["locked"] is False  # the machine key unlocked it
        added = _run(
            "/usr/local/bin/clinic-agent",
            "resident",
            "add",
            "--id-number",
            "11010519491231002X",
            "--name",
            "张秀英",
            user=DOCTOR,
            CLINIC_AGENT_PASSPHRASE=PASSPHRASE,
        )
        assert added.returncode == 0, added.stderr
        checked = _run("/usr/local/bin/clinic-agent", "doctor", user=DOCTOR)  # may not read /var/lib/clinic-agent
        assert "internal error" not in checked.stderr, checked.stderr
        assert "(checked by the agent)" in checked.stdout, checked.stdout
        stranger = _run("/usr/local/bin/clinic-agent", "status", user=STRANGER)
        assert stranger.returncode == 1
        assert "may not use it" in stranger.stderr
    finally:
        daemon.terminate()
        output = daemon.communicate(timeout=30)[0]
    assert daemon.returncode == 0, output
    assert "stopped keys" in output
