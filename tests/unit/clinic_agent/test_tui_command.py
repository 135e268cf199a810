"""`clinic-agent tui` checks that a daemon answers before the UI starts, cheaply (issues 11 and 13).

The check is a ping on a plain socket: without a daemon the doctor gets one clear line, and the way
to the first frame loads neither the API client nor the other commands' plumbing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import clinic_agent.cli
from clinic_agent.api.framing import FrameDecoder, decode_body, encode
from clinic_agent.cli import build_parser, main, runs_tui
from clinic_agent.cli.tui_command import _daemon_listening
from clinic_agent.core.errors import DaemonError

# Loaded by the CLI before the UI's first frame, they would only slow it: the check needs none of them.
NOT_BEFORE_THE_UI = (
    "clinic_agent.api.client",
    "clinic_agent.api.contract",
    "clinic_agent.cli.commands",
    "clinic_agent.cli.backup_commands",  # the other commands: `tui` builds its own parser alone
    "clinic_agent.runtime.config",  # the whole agent.toml: only [api] is read (clinic_agent.runtime.api_config)
    "clinic_agent.core.thresholds",
    "sync",
    "sqlite3",  # the home's module, for init alone
    "textual",
)


def test_without_a_daemon_the_doctor_gets_one_line_and_nothing_heavy_is_loaded(tmp_path: Path) -> None:
    """Planted faults, each failing this test: the check importing ``ApiClient`` again; ``cmd_tui`` taking
    ``home_of`` from ``cli.commands``; ``runtime/home.py`` importing sqlite3 at the top; the UI imported
    before the check; ``runtime/home.py`` importing ``runtime.config`` at the top again."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINIC_AGENT_")}
    env["CLINIC_AGENT_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "clinic_agent", "tui"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    lines = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    assert done.returncode != 0
    assert lines == [
        f"clinic-agent: no daemon is running for {tmp_path}: start it (`clinic-agent run`, or the clinic-agent "
        "service), or use `clinic-agent tui --standalone`"
    ]
    modules = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in NOT_BEFORE_THE_UI)) == []


def test_a_socket_file_nobody_listens_on_is_no_daemon(tmp_path: Path) -> None:
    """A daemon that died leaves its socket file: connecting is refused, which means no daemon."""
    path = tmp_path / "agent.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
        stale.bind(str(path))  # bound, never listening
        assert _daemon_listening(path) is False
    assert _daemon_listening(tmp_path / "missing.sock") is False


@pytest.fixture
def answering(tmp_path: Path) -> Iterator[tuple[Path, list[dict[str, Any]]]]:
    """A socket that answers each request with the next reply queued in the list (as the daemon would)."""
    path = tmp_path / "agent.sock"
    replies: list[dict[str, Any]] = []
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                decoder = FrameDecoder()
                while data := conn.recv(65536):
                    for body in decoder.feed(data):
                        assert isinstance(body, bytes)
                        request = decode_body(body)
                        assert request["method"] == "ping"
                        conn.sendall(encode({"event": "status.changed", "data": {}}))  # skipped by the check
                        conn.sendall(encode({"id": request["id"], **replies.pop(0)}))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield path, replies
    finally:
        listener.close()


def test_a_daemon_that_answers_the_ping_is_running(answering: tuple[Path, list[dict[str, Any]]]) -> None:
    path, replies = answering
    replies.append({"result": "pong"})
    assert _daemon_listening(path) is True


def test_a_ping_refused_is_a_clear_error(answering: tuple[Path, list[dict[str, Any]]]) -> None:
    path, replies = answering
    replies.append({"error": {"code": "internal", "message": "the daemon is stopping"}})
    with pytest.raises(DaemonError, match="the daemon refused ping: the daemon is stopping"):
        _daemon_listening(path)


@pytest.mark.parametrize(
    ("line", "tui"),
    [
        (["tui"], True),
        (["tui", "--lang", "en", "--standalone"], True),
        (["--home", "/srv/clinic", "--json", "tui"], True),
        (["--home=/srv/clinic", "--user", "doctor", "tui", "--help"], True),
        (["--passphrase-file", "tui", "status"], False),  # "tui" here is the file's name
        (["status"], False),
        (["--help", "tui"], False),  # the whole tree's help, which lists every command
        (["--ho", "x", "tui"], False),  # an abbreviation: left to the whole tree's parser, which knows them
        (["resident", "search", "tui"], False),
        ([], False),
    ],
)
def test_tui_is_found_past_the_common_options_only(line: list[str], tui: bool) -> None:
    """`tui` takes the fast way (its parser alone) only when it is the command; anything else, the whole tree."""
    assert runs_tui(line) is tui


def _printed(capsys: pytest.CaptureFixture[str], run: Any) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        run()
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.mark.parametrize(
    "line",
    [["tui", "--help"], ["--home", "/srv/clinic", "tui", "-h"], ["tui", "--lang", "fr"], ["tui", "extra"]],
)
def test_tui_alone_says_what_the_whole_tree_says(capsys: pytest.CaptureFixture[str], line: list[str]) -> None:
    """``tui --help`` and a wrong option or word read as they did when `tui` went through every command's parser."""
    whole = _printed(capsys, lambda: build_parser().parse_args(line))
    alone = _printed(capsys, lambda: main(line))
    assert alone == whole
    status, out, _ = alone
    assert (status, "--standalone" in out) == ((0, True) if line[-1] in ("--help", "-h") else (2, False))


def test_tui_never_builds_the_whole_tree(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The way to the UI's first screen reads the line with `tui`'s parser alone (planted fault: ``main`` calling
    ``build_parser`` for every command line again); any other command still goes through the whole tree."""

    def whole_tree(command: str | None = None) -> Any:
        raise AssertionError(f"the whole tree was built for {command!r}")

    monkeypatch.setattr(clinic_agent.cli, "build_parser", whole_tree)
    status, out, _ = _printed(capsys, lambda: main(["--home", "/srv/clinic", "tui", "--help"]))
    assert status == 0
    assert out.startswith("usage: clinic-agent tui ")
    with pytest.raises(AssertionError, match="the whole tree was built for 'status'"):
        main(["status"])
