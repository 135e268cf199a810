"""Commissioning's Bluetooth pairing on BlueZ, as the service's user.

The daemon runs as the package's user (clinic-agent, group clinic, with dialout, not in group
bluetooth; packaging/debian/postinst). In a process of that user, setup's pairing
(drivers/ble/pairing.py) finds a glucose meter that wants an encrypted link, registers the pairing
agent (BlueZ calls it back to confirm Just Works) and pairs, all through Debian's own D-Bus policy for
BlueZ; the bond is BlueZ's, seen by root (who runs setup) as by the service. The meter keeps its
records: pairing asks nothing that takes them.
"""

from __future__ import annotations

import asyncio
import grp
import json
import shutil
import subprocess
import sys

from drivers.ble.bluez_agent import is_paired
from tests.bluez.guest.bluez_support import BluezWorld

SERVICE_USER, SERVICE_GROUP = "clinic-agent", "clinic"
AS_SERVICE = """
import asyncio, grp, json, os, pwd, sys
from drivers.ble.pairing import pair

result = asyncio.run(pair(sys.argv[1], scan_timeout=20.0, connect_timeout=30.0))
print(json.dumps({
    "user": pwd.getpwuid(os.getuid()).pw_name,
    "groups": sorted(grp.getgrgid(g).gr_name for g in os.getgroups()),
    "pairing": [result.outcome, result.detail],
}))
"""


def _service_user() -> None:
    """The package's user as postinst makes it."""
    for command in (
        ["groupadd", "--system", SERVICE_GROUP],
        ["useradd", "--system", "--gid", SERVICE_GROUP, "--no-create-home", SERVICE_USER],
        ["usermod", "-aG", "dialout", SERVICE_USER],
    ):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        assert done.returncode in (0, 9), done.stderr  # 9: it exists already
    assert SERVICE_USER not in grp.getgrnam("bluetooth").gr_mem


async def test_setup_pairs_a_meter_and_the_service_user_reaches_bluez(world: BluezWorld) -> None:
    meter = await world.add("glucometer", seed=41, stored=3, address="F1:F1:F1:F1:F1:E1")
    _service_user()
    setpriv = shutil.which("setpriv")
    assert setpriv is not None

    process = await asyncio.create_subprocess_exec(
        *(setpriv, f"--reuid={SERVICE_USER}", f"--regid={SERVICE_GROUP}", "--init-groups"),
        *(sys.executable, "-c", AS_SERVICE, meter.address),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)

    assert process.returncode == 0, err.decode()[-3000:]
    seen = json.loads(out)
    assert seen["user"] == SERVICE_USER
    assert "bluetooth" not in seen["groups"]
    assert {"clinic", "dialout"} <= set(seen["groups"])
    assert seen["pairing"] == ["paired", "it asked for an encrypted link; paired (Just Works) and bonded"], (
        err.decode()[-3000:]
    )
    assert await is_paired(meter.address) is True  # BlueZ's bond, whoever asks
    assert len(meter.store.records) == 3  # pairing took nothing from the meter
