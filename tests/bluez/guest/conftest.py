"""Fixtures inside the BlueZ VM: a fresh adapter (hci0) and link for each test, closed after it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.ingest import Ingest
from tests.bluez.guest.bluez_support import BluezWorld
from tests.support import PASSPHRASE, new_home


@pytest.fixture
async def world() -> AsyncIterator[BluezWorld]:
    opened = BluezWorld()
    await opened.adapter.plug()
    try:
        yield opened
    finally:
        try:
            await asyncio.wait_for(opened.close(), 30)
        finally:
            if opened.adapter.transport is not None:
                await asyncio.wait_for(opened.adapter.unplug(), 30)


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    opened = Agent.open(new_home(tmp_path / "home"))
    opened.unlock(actor="test", passphrase=PASSPHRASE)
    yield opened
    opened.close()


@pytest.fixture
def store_sink(agent: Agent) -> Ingest:
    """The daemon's own sink: archive, decode, check, store."""
    return Ingest(agent)
