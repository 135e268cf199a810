"""Fixtures for device links over real transports: a store-backed sink and helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.ingest import Ingest
from tests.support import PASSPHRASE, new_home


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    opened = Agent.open(new_home(tmp_path / "home"))
    opened.unlock(actor="test", passphrase=PASSPHRASE)
    yield opened
    opened.close()


@pytest.fixture
def sink(agent: Agent) -> Ingest:
    return Ingest(agent)


async def wait_for(condition: object, within: float = 20.0) -> None:
    """Poll a zero-argument callable until it is true."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
