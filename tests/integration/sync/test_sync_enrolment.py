"""Enrolling again (a new platform, or the same one after a reinstall) pulls every type from the start."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from clinic_agent.runtime import syncing
from clinic_agent.runtime.agent import Agent
from sync.engine.mapping import PULLED
from sync.engine.pull import COVERED, WALK


def test_enrolling_again_resets_the_cursor_of_every_pulled_type(
    fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    agent = clinic_factory(fhir_server)
    # A pull by lists of Patients keeps its walk and the Patients it covered beside the cursor: they go too.
    keys = [t + suffix for t in PULLED for suffix in ("", WALK, COVERED)]
    for key in keys:
        agent.store.sync.apply([], cursor=(key, "2026-11-30T00:00:00.000Z"), actor="sync")
    assert {agent.store.sync.cursor(k) for k in keys} == {"2026-11-30T00:00:00.000Z"}

    asyncio.run(syncing.enroll(agent, fhir_server, actor="technician"))

    assert {k: agent.store.sync.cursor(k) for k in keys} == dict.fromkeys(keys)
