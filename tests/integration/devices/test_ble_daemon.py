"""A BLE device configured in agent.toml, reached through the daemon: the emulated cuff's readings land."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from tests.integration.conftest import Cli, start_daemon

pytest.importorskip("bumble", reason="bumble (the BLE emulator) is in the dev extras")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_simulated_cuff_over_ble_reaches_the_store(cli: Cli) -> None:
    cli("init", "--machine-key", check=True)
    port = _free_port()
    cli("devices", "add", "cuff", "--kind", "ble", "--protocol", "ble", "--address", "F1:F1:F1:F1:F1:01", check=True)
    config = cli.home / "agent.toml"
    config.write_text(config.read_text() + f'transport = "tcp-client:127.0.0.1:{port}"\n')
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "clinic_agent",
            "simulate",
            "bp-cuff",
            "--ble",
            f"tcp-server:127.0.0.1:{port}",
            "--interval",
            "0.5",
            "--count",
            "3",
            "--seed",
            "4",
        ],
        env=cli.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    daemon = start_daemon(cli)
    try:
        output = simulator.communicate(timeout=60)[0]
        assert simulator.returncode == 0, output
        deadline = time.monotonic() + 20
        while json.loads(cli("status", "--json", check=True).stdout)["readings"] < 3:
            assert time.monotonic() < deadline, "the cuff's readings did not arrive"
            time.sleep(0.3)
    finally:
        daemon.stop()
    readings = json.loads(cli("reading", "unassigned", "--json", check=True).stdout)
    assert {r["code"] for r in readings} == {"85354-9"}
    assert all(r["device"]["id"] == "cuff" for r in readings)
