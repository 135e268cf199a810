"""The service unit's exposure as systemd measures it, from the file alone (no systemd needed to run).

That the agent still works under it (unlock by machine key, status, storing, backup, restore,
restart on upgrade) is shown by test_deb_package.py, which runs the packaged unit under real systemd.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "packaging" / "systemd" / "clinic-agent.service"

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed (it comes with systemd)"
)


def test_exposure_is_low() -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r"Overall exposure level for clinic-agent\.service: (\d+\.\d)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found[1]) <= 1.7, result.stdout  # 3.7 before the filter, /proc, W^X, IPC and family limits


def test_the_measured_settings_are_there() -> None:
    settings = [line for line in UNIT.read_text().splitlines() if line and not line.startswith("#")]
    for wanted in (
        "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged @resources",
        "ProtectProc=invisible",
        "ProcSubset=pid",
        "MemoryDenyWriteExecute=yes",
        "RemoveIPC=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
    ):
        assert wanted in settings, wanted
