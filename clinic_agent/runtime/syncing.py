"""The daemon's adapter for sync: the agent as sync's ``Host``, and the sync loop as a daemon service.

Sync's own logic (enrolment, the clinic's Organization, the clock check, the audit anchor, the
loop's scheduling and backoff) lives in ``sync/`` and reaches the agent only through the ports of
``sync.host``; this module fills them from an ``Agent`` and registers the loop with the daemon
(new work, unlocks, status). Without a daemon, ``sync_now(agent)`` runs one sync in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.config import sync_settings
from sync import enrolment, service
from sync.engine import EngineOptions, SyncReport
from sync.enrolment import DEFAULT_SCOPE, Smart, check_url
from sync.fhir.codes import Namespace
from sync.host import AuditChain, Site, SyncRecords
from sync.platform import FhirPlatform

__all__ = [
    "DEFAULT_SCOPE",
    "AgentHost",
    "Smart",
    "SyncReport",
    "SyncService",
    "check_url",
    "controller_for",
    "enroll",
    "run_once",
    "settings",
    "status",
    "sync_now",
    "wake",
]

# Checked with the rest of agent.toml when it is loaded (``Config.sync``), so that `doctor` and
# every command refuse a wrong key just as `run` does.
settings = sync_settings


class AgentHost:
    """An ``Agent`` as sync's ``Host``: its store's sync rows and audit chain, its agent.toml, its events."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    @property
    def records(self) -> SyncRecords:
        """The store's sync rows."""
        return self.agent.store.sync

    @property
    def audit(self) -> AuditChain:
        """The audit chain."""
        return self.agent.store.audit

    @property
    def store_id(self) -> str:
        """The store's id."""
        return self.agent.store.store_id

    @property
    def site(self) -> Site:
        """The clinic and its ``[sync]`` settings, from agent.toml."""
        config = self.agent.config
        return Site(
            code=config.clinic_code,
            name=config.clinic_name,
            namespace=Namespace(config.namespace),
            config_path=str(self.agent.home.config_path),
            settings=config.sync,
        )

    @property
    def locked(self) -> bool:
        """True while no key is loaded."""
        return self.agent.locked

    def require_unlocked(self) -> None:
        """Raise StoreLocked unless the keys are loaded."""
        self.agent.require_unlocked()

    def publish(self, event: str, data: dict[str, Any]) -> None:
        """Publish through the agent (to the API's subscribers)."""
        self.agent.publish(event, data)


async def enroll(
    agent: Agent,
    url: str,
    *,
    token: str | None = None,
    smart: Smart | None = None,
    actor: str,
    private_key_pem: bytes | None = None,
) -> dict[str, Any]:
    """Enrol this clinic with a platform (``sync.enrolment.enroll``)."""
    return await enrolment.enroll(
        AgentHost(agent), url, token=token, smart=smart, actor=actor, private_key_pem=private_key_pem
    )


async def run_once(
    agent: Agent, *, options: EngineOptions | None = None, platform: FhirPlatform | None = None
) -> SyncReport:
    """One sync of this agent's store with its platform (``sync.service.run_once``)."""
    return await service.run_once(AgentHost(agent), options=options, platform=platform)


def status(agent: Agent, live: dict[str, Any] | None = None, *, records: bool = False) -> dict[str, Any]:
    """The sync.status shape (``sync.service.status``)."""
    return service.status(AgentHost(agent), live, records=records)


def controller_for(agent: Agent) -> SyncService | None:
    """The running sync service of this agent (None without a daemon)."""
    found = agent.services.get("sync")
    return found if isinstance(found, SyncService) else None


def wake(agent: Agent) -> None:
    """Tell a running sync service to sync now (after an enrolment or a retry)."""
    found = controller_for(agent)
    if found is not None:
        found.poke()


def sync_now(agent: Agent, *, wait: bool = True) -> dict[str, Any]:
    """Start a sync (or join the one running); the report when done, else ``{"started": true}``."""
    found = controller_for(agent)
    if found is None:
        return asyncio.run(run_once(agent)).as_json()
    return found.request_from_thread(wait=wait)


class SyncService(service.SyncLoop):
    """The sync loop as a daemon service: told of new work and unlocks, its state in ``status``."""

    name = "sync"

    def __init__(self, agent: Agent, *, rng: random.Random | None = None) -> None:
        super().__init__(AgentHost(agent), rng=rng)
        self.agent = agent

    async def start(self) -> None:
        """Register with the agent and start the loop; it waits for an unlock and an enrolment by itself."""
        agent = self.agent
        agent.services["sync"] = self
        agent.store.core.outbox_listeners.append(self.new_work)
        agent.status_providers["sync"] = lambda: service.status(self.host, self.live, records=True)
        self._publish = agent.publish
        agent.publish = self._published
        self.begin()

    async def stop(self) -> None:
        """Stop the loop and unregister (a sync in flight is abandoned; the outbox keeps its work)."""
        agent = self.agent
        with contextlib.suppress(ValueError):
            agent.store.core.outbox_listeners.remove(self.new_work)
        agent.services.pop("sync", None)
        agent.status_providers.pop("sync", None)
        if agent.publish == self._published:
            agent.publish = self._publish
        await self.end()

    def _published(self, event: str, data: dict[str, Any]) -> None:
        self._publish(event, data)
        self.heard(event, data)
