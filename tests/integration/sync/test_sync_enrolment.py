"""Enrolling again (a new platform, or the same one after a reinstall) pulls every type from the start."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from clinic_agent.runtime import syncing
from clinic_agent.runtime.agent import Agent
from sync.engine.mapping import PULLED


def test_enrolling_again_resets_the_cursor_of_every_pulled_type(
    fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    agent = clinic_factory(fhir_server)
    for resource_type in PULLED:
        agent.store.sync.apply([], cursor=(resource_type, "2026-11-30T00:00:00.000Z"), actor="sync")
    assert {agent.store.sync.cursor(t) for t in PULLED} == {"2026-11-30T00:00:00.000Z"}

    asyncio.run(syncing.enroll(agent, fhir_server, actor="technician"))

    assert {t: agent.store.sync.cursor(t) for t in PULLED} == dict.fromkeys(PULLED)
