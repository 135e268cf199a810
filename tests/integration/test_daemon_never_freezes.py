"""The daemon under sign-in storms and with a stuck worker: it keeps storing, or says it cannot.

- Twenty sign-ins at once used to park every worker thread on two Argon2id derivations waiting for
  each other, while HL7 frames got no ACK and the event loop still answered ping.
- The systemd watchdog is fed only while a heartbeat gets through the road a reading takes.
- SIGTERM ends the daemon within its stop deadline even when a worker never comes back.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from clinic_agent.api.client import ApiClient
from clinic_agent.core.errors import AccessDenied
from drivers.hl7.ack import parse_ack
from drivers.hl7.compose import blood_pressure, build_oru_r01
from drivers.hl7.mllp import MllpDecoder, frame
from tests.integration.conftest import Cli, start_daemon

AT = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
SIGN_INS = 20


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _send(port: int, control_id: str, timeout: float = 60) -> str | None:
    """Send one ORU^R01 over MLLP; the ACK code, or None when none came in time."""
    message = build_oru_r01(
        control_id=control_id, timestamp=AT, observations=blood_pressure("141", "92", None, "77", at=AT)
    )
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.sendall(frame(message))
            decoder = MllpDecoder()
            while data := conn.recv(65536):
                for ack in decoder.feed(data):
                    return parse_ack(ack).code
    except TimeoutError:
        return None
    return None


def _clinic_with_a_machine(cli: Cli) -> int:
    cli("init", "--machine-key", check=True)
    cli("user", "add", "zhang", "--role", "doctor", stdin="246810\n", check=True)
    port = _free_port()
    cli("devices", "add", "machine", "--kind", "tcp", "--protocol", "hl7", "--listen", f"127.0.0.1:{port}", check=True)
    return port


def test_frames_are_acknowledged_during_twenty_sign_ins_at_once(cli: Cli) -> None:
    port = _clinic_with_a_machine(cli)
    # The wrong PINs are another doctor's: three wrong PINs of one user in a row make the next tries
    # wait, so with both on one user the storm was refused whole whenever three wrong ones came first.
    cli("user", "add", "wang", "--role", "doctor", stdin="246810\n", check=True)
    daemon = start_daemon(cli)
    outcomes: list[str] = []
    try:
        socket_path = daemon.socket

        def sign_in(i: int) -> None:
            user, pin = ("zhang", "246810") if i % 2 else ("wang", "135790")
            try:
                with ApiClient(socket_path, timeout=180) as client:
                    client.call("login", {"user": user, "pin": pin})
                outcomes.append("signed in")
            except AccessDenied:
                outcomes.append("refused")
            except OSError as exc:
                outcomes.append(f"no answer: {exc}")

        threads = [threading.Thread(target=sign_in, args=(i,), daemon=True) for i in range(SIGN_INS)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # the storm is under way
        acks = [_send(port, f"STORM-{n}") for n in range(3)]
        for thread in threads:
            thread.join(240)
        with ApiClient(socket_path) as client:
            assert client.call("ping") == "pong"
    finally:
        daemon.stop()
    assert acks == ["AA", "AA", "AA"]
    assert not any(thread.is_alive() for thread in threads), "a sign-in never got its answer"
    assert len(outcomes) == SIGN_INS
    assert all(o in ("signed in", "refused") for o in outcomes), outcomes
    assert outcomes.count("signed in") == SIGN_INS // 2, outcomes


def _watchdog_pings(listener: socket.socket, seconds: float) -> int:
    """How many WATCHDOG=1 arrive within ``seconds``."""
    pings, deadline = 0, time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        listener.settimeout(left)
        try:
            pings += listener.recv(1024) == b"WATCHDOG=1"
        except TimeoutError:
            break
    return pings


def test_a_stuck_ingest_worker_stops_the_watchdog_and_sigterm_still_ends_the_daemon(cli: Cli, tmp_path: Path) -> None:
    port = _clinic_with_a_machine(cli)
    address = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(address))
    env = {
        "NOTIFY_SOCKET": str(address),
        "WATCHDOG_USEC": "1000000",  # ping every half second
        "CLINIC_AGENT_STALLPOINT": "ingest.decoded",
    }
    daemon = start_daemon(cli, env=env)
    try:
        assert _watchdog_pings(listener, 3) >= 2  # healthy: fed
        assert _send(port, "STUCK-1", timeout=3) is None  # the frame's worker hangs for good
        _watchdog_pings(listener, 1)  # pings already on their way
        assert _watchdog_pings(listener, 4) == 0  # the road a reading takes is blocked: no more pings
        with ApiClient(daemon.socket) as client:
            assert client.call("ping") == "pong"  # ...though the event loop still answers
        started = time.monotonic()
        daemon.process.terminate()
        status = daemon.process.wait(60)
        waited = time.monotonic() - started
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
        listener.close()
    log = daemon.log.read_text()
    assert status == 70, log
    assert "exiting without waiting" in log
    assert "ingest" in log.split("exiting without waiting")[0].rsplit("\n", 1)[-1]
    assert waited < 60
    assert "Traceback" not in log
