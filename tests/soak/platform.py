"""The real FHIR server (SEKMET, as the integration tests run it) and a clinic enrolled with it."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from clinic_agent.runtime import syncing
from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.home import resolve
from sync.fhir import codes
from sync.fhir.common import find_identifier
from sync.platform import FhirPlatform
from tests.integration.fhir.conftest import sekmet
from tests.support import PASSPHRASE

CLINIC = '[clinic]\ncode = "SOAK01"\nname = "坝盘村卫生室"\n'


def sync_config(interval_s: float = 2.0) -> str:
    """agent.toml lines for a clinic that syncs often and retries soon."""
    return CLINIC + f"[sync]\ninterval_s = {interval_s}\nretry_min_s = 0.5\nretry_max_s = 5\n"


@contextlib.contextmanager
def platform(workdir: Path) -> Iterator[str]:
    """A fresh SEKMET server for the soak; its FHIR base URL (installed or refused as the FHIR tests decide)."""
    workdir.mkdir(parents=True, exist_ok=True)
    with sekmet.SekmetServer(sekmet.install_sekmet(), workdir) as base_url:
        yield str(base_url)


def open_agent(root: Path) -> Agent:
    """The clinic in ``root``, opened and unlocked in this process (no daemon may run on it)."""
    agent = Agent.open(resolve(root))
    agent.unlock(actor="soak", passphrase=PASSPHRASE)
    return agent


def enrol(root: Path, base_url: str) -> None:
    """Enrol the clinic in ``root`` with the platform (no daemon may run on it)."""
    agent = open_agent(root)
    try:
        asyncio.run(syncing.enroll(agent, base_url, actor="soak"))
    finally:
        agent.close()


def drain(root: Path, runs: int = 20) -> int:
    """Sync in this process until nothing is pending; what is still pending after ``runs`` syncs."""
    agent = open_agent(root)
    try:
        for _ in range(runs):
            asyncio.run(syncing.run_once(agent))
            pending = agent.store.sync.queue_counts()["pending"]
            if not pending:
                return 0
        return int(agent.store.sync.queue_counts()["pending"])
    finally:
        agent.close()


async def _everything(base_url: str, kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    async with FhirPlatform(base_url, read_timeout=120.0) as client:
        page: Any = await client.search(kind, [("_count", "1000")])
        while page is not None:
            found += page.resources
            page = await client.next_page(page)
    return found


def ours_on_platform(base_url: str, kind: str) -> Counter[str]:
    """How many times each of our record ids (the urn:uuid identifier) is on the platform as ``kind``."""
    present: Counter[str] = Counter()
    for resource in asyncio.run(_everything(base_url, kind)):
        value = find_identifier(resource, codes.UUID_SYSTEM)
        if value:
            present[value.removeprefix("urn:uuid:")] += 1
    return present


def delete_one(base_url: str, kind: str, record_id: str) -> None:
    """The planted fault: the platform loses one of our resources."""

    async def go() -> None:
        for resource in await _everything(base_url, kind):
            if find_identifier(resource, codes.UUID_SYSTEM) == f"urn:uuid:{record_id}":
                async with httpx.AsyncClient(timeout=60) as client:
                    answer = await client.delete(f"{base_url}/{kind}/{resource['id']}")
                    answer.raise_for_status()
                return

    asyncio.run(go())
