"""A crash after the commit and before the device hears "stored": the re-sent frame is one reading."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

from drivers.hl7.ack import parse_ack
from drivers.hl7.compose import blood_pressure, build_oru_r01
from drivers.hl7.mllp import MllpDecoder, frame
from tests.integration.conftest import Cli, start_daemon

AT = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _send(port: int, message: bytes) -> str | None:
    """Send one message; the ACK code, or None when the connection closes first."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(frame(message))
        decoder = MllpDecoder()
        while data := conn.recv(65536):
            for ack in decoder.feed(data):
                return parse_ack(ack).code
    return None


def test_the_re_sent_message_yields_exactly_one_reading(cli: Cli) -> None:
    cli("init", "--machine-key", check=True)  # unattended unlock, as on a clinic PC
    port = _free_port()
    cli("devices", "add", "machine", "--kind", "tcp", "--protocol", "hl7", "--listen", f"127.0.0.1:{port}", check=True)
    message = build_oru_r01(
        control_id="CRASH-1", timestamp=AT, observations=blood_pressure("141", "92", None, "77", at=AT)
    )

    doomed = start_daemon(cli, env={"CLINIC_AGENT_CRASHPOINT": "ingest.committed"})
    assert _send(port, message) is None  # stored, then the daemon died before it could answer
    assert doomed.process.wait(20) == 137

    survivor = start_daemon(cli)
    try:
        assert _send(port, message) == "AA"  # the machine sends it again; this time it hears AA
        status = json.loads(cli("status", "--json", check=True).stdout)
    finally:
        survivor.stop()
    assert status["readings"] == 1
    assert status["frames"] == 2  # both arrivals archived, one reading
    assert json.loads(cli("audit", "verify", "--json", check=True).stdout)["ok"]
