"""Guessing limits and locking through the real daemon socket."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator

import pytest

from clinic_agent.api.client import ApiClient
from clinic_agent.core.errors import AccessDenied, LockedOut, TooManyAttempts
from tests.integration.conftest import Cli, Daemon, daemon_with_public_socket


def test_wrong_pins_through_the_socket_are_slowed_then_locked_out(daemon: Daemon) -> None:
    cli = daemon.cli
    cli("unlock", check=True)
    cli("user", "add", "zhang", "--role", "doctor", stdin="246810\n", check=True)
    refused = []
    with ApiClient(daemon.socket) as client:
        for _ in range(6):
            try:
                client.call("login", {"user": "zhang", "pin": "135790"})
            except TooManyAttempts as exc:
                refused.append(exc.retry_after)
            except AccessDenied:
                refused.append(0)
        with pytest.raises(TooManyAttempts):
            client.call("login", {"user": "zhang", "pin": "246810"})  # the right PIN must wait as well
    assert refused[:3] == [0, 0, 0]
    assert all(wait > 0 for wait in refused[3:]), refused
    # Ten wrong PINs in a row lock the user out; a passphrase holder clears it.
    with sqlite3.connect(cli.home / "clinic.db") as conn:  # ten more wrong PINs, long ago (no waiting here)
        conn.executemany(
            "INSERT INTO auth_failures(at, kind, subject) VALUES ('2026-01-01T00:00:00+00:00', 'pin', 'zhang')",
            [()] * 10,
        )
    with ApiClient(daemon.socket) as client, pytest.raises(LockedOut):
        client.call("login", {"user": "zhang", "pin": "246810"})
    cleared = json.loads(cli("user", "unblock", "zhang", "--json", check=True).stdout)
    assert cleared["name"] == "zhang"
    with ApiClient(daemon.socket) as client:
        assert client.call("login", {"user": "zhang", "pin": "246810"})["user"] == "zhang"


_GROUP_MEMBER = """
import json, os, socket, struct, sys
os.setgroups([65534]); os.setgid(65534); os.setuid(65534)
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
body = json.dumps({"id": 1, "method": "lock"}).encode()
s.sendall(struct.pack(">I", len(body)) + body)
s.settimeout(10)
print(s.recv(65536)[4:].decode())
"""


@pytest.fixture
def group_daemon(initialised: Cli) -> Iterator[Daemon]:
    """A daemon whose socket the group nogroup may use (uid 65534 is a member)."""
    with daemon_with_public_socket(initialised, group="nogroup") as running:
        yield running


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another user")
def test_lock_needs_a_session_unless_asked_by_the_agents_own_user(group_daemon: Daemon) -> None:
    cli = group_daemon.cli
    cli("unlock", check=True)
    text = (cli.home / "agent.toml").read_text()
    sock = text.split("socket = ", 1)[1].split("\n", 1)[0].strip().strip("'\"")
    member = subprocess.run([sys.executable, "-c", _GROUP_MEMBER, sock], capture_output=True, text=True, timeout=30)
    reply = json.loads(member.stdout)
    assert reply["error"]["code"] == "session_expired", member.stderr
    assert not json.loads(cli("status", "--json", check=True).stdout)["locked"]
    cli("lock", check=True)  # the agent's own user (here root) may
    assert json.loads(cli("status", "--json", check=True).stdout)["locked"]
