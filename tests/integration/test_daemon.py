"""The daemon and its local API, through a real Unix socket."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from clinic_agent.api.client import ApiClient
from clinic_agent.api.framing import HEADER, encode
from clinic_agent.core.errors import AccessDenied, SessionExpired, StoreLocked
from tests.integration.conftest import Cli, Daemon, daemon_with_public_socket, raw_call, start_daemon


def test_the_socket_is_private_to_the_agent_and_its_group(daemon: Daemon) -> None:
    assert stat.S_IMODE(daemon.socket.stat().st_mode) == 0o660
    assert stat.S_IMODE(daemon.socket.parent.stat().st_mode) == 0o750
    assert stat.S_ISSOCK(daemon.socket.stat().st_mode)


def test_the_cli_goes_through_the_running_daemon(daemon: Daemon) -> None:
    cli = daemon.cli
    status = json.loads(cli("status", "--json", CLINIC_AGENT_PASSPHRASE="", check=True).stdout)
    assert status["daemon"]["running"]
    assert status["locked"]
    wrong_while_locked = cli("resident", "list", CLINIC_AGENT_PASSPHRASE="definitely not it")
    assert wrong_while_locked.returncode == 1
    assert "wrong passphrase" in wrong_while_locked.stderr
    assert json.loads(cli("status", "--json", check=True).stdout)["locked"]
    # As without a daemon, the passphrase given opens the store (the daemon's, as `unlock` would).
    assert json.loads(cli("resident", "list", "--json", check=True).stdout) == []
    assert not json.loads(cli("status", "--json", check=True).stdout)["locked"]
    cli("lock", check=True)
    assert json.loads(cli("unlock", "--json", check=True).stdout)["unlocked"]
    cli("resident", "add", "--id-number", "11010519491231002X", "--name", "张秀英", check=True)
    assert [m["name"] for m in json.loads(cli("resident", "search", "张", "--json", check=True).stdout)] == ["张秀英"]
    wrong = cli("resident", "list", CLINIC_AGENT_PASSPHRASE="definitely not it")
    assert wrong.returncode == 1
    assert "wrong passphrase" in wrong.stderr
    cli("lock", check=True)
    assert json.loads(cli("status", "--json", check=True).stdout)["locked"]


def test_sigterm_stops_cleanly_and_removes_the_socket(daemon: Daemon) -> None:
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(20) == 0
    assert not daemon.socket.exists()
    assert "stopped keys" in daemon.log.read_text()


def test_a_stale_socket_is_replaced_and_a_second_daemon_refused(initialised: Cli) -> None:
    first = start_daemon(initialised)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(10)
    assert first.socket.exists()  # left behind by the crash
    second = start_daemon(initialised)
    try:
        third = start_daemon(initialised, wait=False)
        assert third.process.wait(20) != 0
        assert "another daemon" in third.log.read_text()
        assert json.loads(initialised("status", "--json", check=True).stdout)["daemon"]["running"]
    finally:
        second.stop()


def test_a_symlink_at_the_socket_path_is_refused(initialised: Cli, tmp_path: Path) -> None:
    run = initialised.home / "run"
    run.mkdir(mode=0o750)
    (run / "agent.sock").symlink_to(tmp_path / "elsewhere")
    daemon = start_daemon(initialised, wait=False)
    assert daemon.process.wait(20) != 0
    assert "not a socket" in daemon.log.read_text()
    assert "Traceback" not in daemon.log.read_text()


def test_a_missing_store_stops_the_daemon_with_one_line(cli: Cli) -> None:
    daemon = start_daemon(cli, wait=False)
    assert daemon.process.wait(20) == 1
    log = daemon.log.read_text()
    assert "clinic-agent init" in log
    assert "Traceback" not in log


def test_oversize_frames_are_dropped_and_the_connection_keeps_working(daemon: Daemon) -> None:
    big = HEADER.pack(3 * 1024 * 1024) + b"\0" * (3 * 1024 * 1024)
    replies = raw_call(daemon.socket, [big, encode({"id": 7, "method": "ping"})])
    assert replies[0]["error"]["code"] == "frame_too_large"  # type: ignore[index]
    assert replies[1] == {"id": 7, "result": "pong"}


def test_garbage_and_unknown_methods_get_clear_errors(daemon: Daemon) -> None:
    replies = raw_call(
        daemon.socket,
        [
            HEADER.pack(5) + b"nope!",
            encode({"id": 1, "method": "no.such"}),
            encode({"id": 2, "method": "resident.list"}),
        ],
    )
    assert replies[0]["error"]["code"] == "bad_frame"  # type: ignore[index]
    assert replies[1]["error"]["code"] == "session_expired"  # type: ignore[index]
    assert replies[2]["error"]["code"] == "session_expired"  # type: ignore[index]


def test_pin_sign_in_roles_and_events(daemon: Daemon) -> None:
    cli = daemon.cli
    cli("unlock", check=True)
    cli("user", "add", "li", "--role", "nurse", stdin="246810\n", check=True)
    cli("user", "add", "wang", "--role", "technician", stdin="135790\n", check=True)
    cli("resident", "add", "--id-number", "11010519491231002X", "--name", "张秀英", check=True)
    with ApiClient(daemon.socket) as nurse, ApiClient(daemon.socket) as tech:
        with pytest.raises(AccessDenied):
            nurse.call("login", {"user": "li", "pin": "999999"})
        nurse.session = nurse.call("login", {"user": "li", "pin": "246810"})["session"]
        tech.session = tech.call("login", {"user": "wang", "pin": "135790"})["session"]
        assert nurse.call("resident.search", {"text": "zxy"})["matches"][0]["name"] == "张秀英"
        with pytest.raises(AccessDenied):
            tech.call("resident.search", {"text": "zxy"})  # technicians see no health files
        with pytest.raises(AccessDenied):
            nurse.call("resident.add", {"id_number": "440524188001010014", "name": "王五"})
        tech.call("events.subscribe")
        nurse.call("reading.add", {"code": "8867-4", "value": "72", "unit": "/min"})
        assert tech.call("ping") == "pong"
        assert [name for name, _ in tech.events] == ["reading.received"]
        nurse.call("logout")
        with pytest.raises(SessionExpired):
            nurse.call("resident.search", {"text": "zxy"})
    cli("lock", check=True)
    with ApiClient(daemon.socket) as client, pytest.raises(StoreLocked):
        client.call("login", {"user": "li", "pin": "246810"})


def test_systemd_hears_ready_and_stopping(initialised: Cli, tmp_path: Path) -> None:
    address = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(address))
    listener.settimeout(20)
    daemon = start_daemon(initialised, env={"NOTIFY_SOCKET": str(address)})
    try:
        assert listener.recv(1024).startswith(b"READY=1")
    finally:
        daemon.stop()
        assert listener.recv(1024) == b"STOPPING=1"
        listener.close()


@pytest.fixture
def public_socket_daemon(initialised: Cli) -> Iterator[Daemon]:
    """A daemon whose socket lives in a directory anyone may traverse (as a system install's /run does)."""
    with daemon_with_public_socket(initialised) as running:
        yield running


_STRANGER = """
import json, os, socket, struct, sys
os.setgroups([]); os.setgid(65534); os.setuid(65534)
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print(json.dumps({"connect": "refused by the file modes"})); raise SystemExit
body = json.dumps({"id": 1, "method": "status"}).encode()
s.settimeout(10)
try:
    s.sendall(struct.pack(">I", len(body)) + body)
except (BrokenPipeError, ConnectionResetError):
    pass  # refused at once: the refusal is waiting in our buffer
print(s.recv(65536)[4:].decode())
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another user")
def test_a_client_outside_the_allowed_group_is_refused(public_socket_daemon: Daemon) -> None:
    """The directory mode keeps strangers out; with the modes opened up, the peer check still does."""
    cli = public_socket_daemon.cli
    sock = _socket_of(cli)
    stranger = [sys.executable, "-c", _STRANGER, str(sock)]
    closed = subprocess.run(stranger, capture_output=True, text=True, timeout=30)
    assert json.loads(closed.stdout) == {"connect": "refused by the file modes"}, closed.stderr
    sock.parent.chmod(0o755)
    sock.chmod(0o666)
    opened = subprocess.run(stranger, capture_output=True, text=True, timeout=30)
    assert json.loads(opened.stdout)["error"]["code"] == "access_denied", opened.stderr
    cli("unlock", check=True)  # the refusal was noted while locked and joins the chain now
    assert json.loads(cli("audit", "verify", "--json", check=True).stdout)["ok"]
    with sqlite3.connect(cli.home / "clinic.db") as conn:
        assert conn.execute("SELECT count(*) FROM audit WHERE action = 'api.refused'").fetchone()[0] == 1


def _socket_of(cli: Cli) -> Path:
    text = (cli.home / "agent.toml").read_text()
    return Path(text.rsplit("socket = ", 1)[1].strip().strip("'\""))
