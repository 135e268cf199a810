"""The CLI's client says in words why it could not reach the daemon."""

from __future__ import annotations

import contextlib
import socket
import tempfile
from pathlib import Path
from typing import Any

import pytest

from clinic_agent.api.client import ApiClient
from clinic_agent.core.errors import DaemonError


def test_a_connect_that_times_out_is_named_not_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """An OSError without an errno (a timeout) once read 'cannot connect to …: None' (seen in a soak)."""

    def times_out(self: socket.socket, address: Any) -> None:
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket.socket, "connect", times_out)
    with tempfile.TemporaryDirectory() as directory, pytest.raises(DaemonError) as raised:
        ApiClient(Path(directory) / "agent.sock", timeout=0.2).connect()
    assert str(raised.value).endswith("agent.sock: timed out")


def test_a_daemon_whose_queue_is_full_is_named_in_words() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "agent.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind(str(path))
            listener.listen(0)  # never accepted: the queue fills after a connection or two
            waiting = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(4)]
            try:
                for sock in waiting:
                    sock.setblocking(False)
                    with contextlib.suppress(BlockingIOError):
                        sock.connect(str(path))
                with pytest.raises(DaemonError, match=r"cannot connect to .*agent\.sock: \w"):
                    ApiClient(path, timeout=0.2).connect()
            finally:
                for sock in waiting:
                    sock.close()
