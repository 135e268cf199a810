"""Fixtures for the TUI tests: a real daemon (in-process, on a temp socket, with a demo store) and helpers."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clinic_agent.api.server import ApiServer
from clinic_agent.cli import demo
from clinic_agent.runtime import home as home_module
from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.config import ApiConfig
from tests.support import FAST_CONFIG
from tests.tui.helpers import FakeClock
from tui.app import ClinicApp
from tui.client import DaemonApi


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo store, built once per run (copied for each test)."""
    root = tmp_path_factory.mktemp("demo-template") / "home"
    root.mkdir()
    (root / "agent.toml").write_text(FAST_CONFIG, encoding="utf-8")
    demo.build(root)
    return root


@dataclass
class Daemon:
    """The daemon's agent and API server, in the test's event loop."""

    agent: Agent
    server: ApiServer
    socket: Path


@pytest.fixture
async def daemon(demo_template: Path) -> AsyncIterator[Daemon]:
    """A fresh copy of the demo store behind a real local API socket (short path: sockets have a limit)."""
    scratch = Path(tempfile.mkdtemp(prefix="ca-tui-", dir="/tmp"))
    root = scratch / "home"
    shutil.copytree(demo_template, root)
    agent = Agent.open(home_module.resolve(root))
    agent.unlock(actor="test", passphrase=demo.DEMO_PASSPHRASE)
    socket = scratch / "run" / "api.sock"
    server = ApiServer(agent, ApiConfig(socket=socket, session_idle_minutes=10))
    agent.publish = server.publish
    await server.start()
    try:
        yield Daemon(agent, server, socket)
    finally:
        await server.stop()
        agent.close()
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def clock() -> FakeClock:
    """The idle clock the app reads (moved by hand)."""
    return FakeClock()


@pytest.fixture
async def make_app(daemon: Daemon, clock: FakeClock) -> AsyncIterator[Callable[..., ClinicApp]]:
    """A ClinicApp on the test daemon (its connection is closed after the test)."""
    made: list[DaemonApi] = []

    def make(language: str = "zh", **kwargs: Any) -> ClinicApp:
        api = DaemonApi(daemon.socket)
        made.append(api)
        return ClinicApp(api, language=language, clock=clock, **kwargs)

    yield make
    for api in made:
        await api.close()
