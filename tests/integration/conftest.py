"""Fixtures for end-to-end tests: the real `clinic-agent` command and daemon, in subprocesses."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import FAST_CONFIG, PASSPHRASE


@dataclass
class Cli:
    """Runs `clinic-agent` against one home directory."""

    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLINIC_AGENT")}
        env.update(CLINIC_AGENT_HOME=str(self.home), CLINIC_AGENT_PASSPHRASE=PASSPHRASE, PYTHONUNBUFFERED="1")
        env.update(extra)
        return env

    def __call__(
        self, *args: str, stdin: str = "", check: bool = False, **env: str
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "clinic_agent", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(**env),
            timeout=120,
        )
        assert "Traceback" not in result.stderr, result.stderr
        if check:
            assert result.returncode == 0, result.stderr
        return result


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    home = tmp_path / "home"
    home.mkdir()
    (home / "agent.toml").write_text(FAST_CONFIG, encoding="utf-8")
    return Cli(home)


@pytest.fixture
def initialised(cli: Cli) -> Cli:
    cli("init", check=True)
    return cli


@dataclass
class Daemon:
    """A `clinic-agent run` process."""

    process: subprocess.Popen[str]
    cli: Cli
    log: Path

    @property
    def socket(self) -> Path:
        return self.cli.home / "run" / "agent.sock"

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout)


def start_daemon(cli: Cli, *, env: dict[str, str] | None = None, wait: bool = True) -> Daemon:
    log = cli.home / "daemon.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "clinic_agent", "run"],
            env=cli.env(**(env or {})),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    daemon = Daemon(process, cli, log)
    if wait:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"daemon exited early: {log.read_text()}")
            if "ready" in log.read_text():
                return daemon
            time.sleep(0.05)
        daemon.stop()
        raise AssertionError(f"daemon not ready: {log.read_text()}")
    return daemon


@pytest.fixture
def daemon(initialised: Cli) -> Iterator[Daemon]:
    running = start_daemon(initialised)
    yield running
    running.stop()


@contextlib.contextmanager
def daemon_with_public_socket(cli: Cli, *, group: str | None = None) -> Iterator[Daemon]:
    """A daemon whose socket lives in a directory anyone may traverse (as a system install's /run does)."""
    base = Path(tempfile.mkdtemp(prefix="clinic-agent-sock-"))
    base.chmod(0o755)
    socket_path = base / "run" / "agent.sock"
    config = cli.home / "agent.toml"
    api = f"\n[api]\nsocket = {str(socket_path)!r}\n" + (f"group = {group!r}\n" if group else "")
    config.write_text(config.read_text() + api)
    running = start_daemon(cli)
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(base, ignore_errors=True)


def raw_call(path: Path, frames: list[bytes]) -> list[dict[str, Any]]:
    """Send raw frames on the daemon's socket; its replies, parsed."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        for frame in frames:
            sock.sendall(frame)
        replies: list[dict[str, Any]] = []
        buffer = b""
        while len(replies) < len(frames):
            buffer += sock.recv(65536)
            while len(buffer) >= 4 and len(buffer) >= 4 + struct.unpack(">I", buffer[:4])[0]:
                (length,) = struct.unpack(">I", buffer[:4])
                replies.append(json.loads(buffer[4 : 4 + length]))
                buffer = buffer[4 + length :]
    return replies
