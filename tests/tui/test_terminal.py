"""The real `clinic-agent tui` in a real terminal (tmux), against a real `clinic-agent run` on a demo store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clinic_agent.cli import demo
from tests.support import FAST_CONFIG

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed: the real-terminal test did NOT run")


@pytest.fixture
def home(demo_template: Path) -> Iterator[Path]:
    scratch = Path(tempfile.mkdtemp(prefix="ca-tmux-", dir="/tmp"))
    root = scratch / "home"
    shutil.copytree(demo_template, root)
    (root / "agent.toml").write_text(FAST_CONFIG, encoding="utf-8")
    yield root
    shutil.rmtree(scratch, ignore_errors=True)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINIC_AGENT")}
    env.update(CLINIC_AGENT_HOME=str(home), CLINIC_AGENT_PASSPHRASE=demo.DEMO_PASSPHRASE, TERM="xterm-256color")
    return env


@pytest.fixture
def daemon(home: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = (home / "daemon.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "clinic_agent", "run"], env=_env(home), stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while b"ready" not in (home / "daemon.log").read_bytes():
        assert process.poll() is None and time.monotonic() < deadline, (home / "daemon.log").read_text()  # noqa: PT018
        time.sleep(0.05)
    yield process
    process.terminate()
    process.wait(20)
    log.close()


@pytest.fixture
def terminal(home: Path, daemon: subprocess.Popen[bytes]) -> Iterator[Callable[..., str]]:
    session = f"ca-{uuid.uuid4().hex[:8]}"
    env = " ".join(f"{k}={v!r}" for k, v in _env(home).items() if k.startswith(("CLINIC_AGENT", "TERM", "PATH")))
    command = f"env {env} {sys.executable} -m clinic_agent tui"
    subprocess.run([TMUX, "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command], check=True)  # type: ignore[list-item]

    def screen(*keys: str) -> str:
        for key in keys:
            subprocess.run([TMUX, "send-keys", "-t", session, key], check=True)  # type: ignore[list-item]
            time.sleep(0.15)
        return subprocess.run(
            [TMUX, "capture-pane", "-p", "-t", session],
            check=True,
            capture_output=True,
            text=True,  # type: ignore[list-item]
        ).stdout

    def burst(*keys: str) -> None:
        """Keys sent by one ``send-keys``: the terminal hands them to the app in one read, as a quick typist's."""
        subprocess.run([TMUX, "send-keys", "-t", session, *keys], check=True)  # type: ignore[list-item]

    screen.burst = burst  # type: ignore[attr-defined]
    yield screen
    subprocess.run([TMUX, "kill-session", "-t", session], check=False)  # type: ignore[list-item]


def wait_for(screen: Callable[..., str], text: str, within: float = 30.0) -> str:
    deadline = time.monotonic() + within
    while True:
        shown = screen()
        if text in shown:
            return shown
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not on screen after {within} s:\n{shown}")
        time.sleep(0.1)


def test_sign_in_see_a_device_reading_arrive_open_a_file_and_lock(terminal: Callable[..., str], home: Path) -> None:
    wait_for(terminal, "请登录")
    terminal("doctor", "Enter", "246810", "Enter")
    wait_for(terminal, "待分配读数 (1)")
    added = subprocess.run(
        [sys.executable, "-m", "clinic_agent", "reading", "add", "--code", "8867-4", "--value", "71", "--unit", "/min"],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    wait_for(terminal, "待分配读数 (2)", within=20)  # pushed by the daemon: the TUI polls only every 30 s
    terminal("l", "x", "y")
    wait_for(terminal, "龙秀英")
    terminal("Enter")
    shown = wait_for(terminal, "522229195103080024")  # the file's summary, loaded after the tabs paint
    assert "1概要" in shown
    terminal("C-l")
    locked = wait_for(terminal, "屏幕已锁定")
    assert "龙秀英" not in locked
    assert "522229" not in locked


BP_152 = ("--code", "8480-6", "--value", "152", "--unit", "mm[Hg]")


def test_a_named_reading_arrives_live_and_is_acknowledged_with_two_keys(
    terminal: Callable[..., str], home: Path
) -> None:
    wait_for(terminal, "请登录")
    terminal("doctor", "Enter", "246810", "Enter")
    wait_for(terminal, "今天的读数")
    added = subprocess.run(
        [*(sys.executable, "-m", "clinic_agent", "reading", "add", "--resident", "522229195103080024"), *BP_152],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    shown = wait_for(terminal, "未确认 1", within=20)
    assert "龙秀英" in shown and "152" in shown  # noqa: PT018
    terminal("Down", "Space")
    wait_for(terminal, "未确认 0", within=20)


def test_keys_typed_ahead_in_one_burst_land_where_they_were_meant(terminal: Callable[..., str]) -> None:
    """ "q" and a question sent in one burst while the request form opens, then "Tab Tab 2": the question whole in
    its box, the urgency urgent (it used to put 2 into the question box)."""
    wait_for(terminal, "请登录")
    terminal("doctor", "Enter", "246810", "Enter")
    wait_for(terminal, "待分配读数")
    terminal("l", "x", "y")
    wait_for(terminal, "龙秀英")
    terminal("Enter")
    wait_for(terminal, "522229195103080024")
    terminal.burst("q", *"BP170")  # type: ignore[attr-defined]
    wait_for(terminal, "BP170")
    terminal.burst("Tab", "Tab", "2")  # type: ignore[attr-defined]
    shown = wait_for(terminal, "2 紧急")
    assert "BP1702" not in shown
    assert "远程会诊申请" in shown
