"""What the platform deletes comes down (real SEKMET): a tombstone in the file, never a silent loss."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import httpx

from clinic_agent.core.model import Allergy, Condition, ReadingStatus, new_id
from clinic_agent.runtime import syncing
from clinic_agent.runtime.agent import Agent
from tests.support import reading, resident


def sync(agent: Agent) -> dict[str, Any]:
    return asyncio.run(syncing.run_once(agent)).as_json()


def delete_upstream(base: str, kind: str, remote_id: str) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        assert client.delete(f"/{kind}/{remote_id}").status_code in (200, 204)


def remote_id(agent: Agent, entity: str, record_id: str) -> str:
    state = agent.store.sync.load(entity, record_id)
    assert state is not None
    assert state.remote_id is not None
    return state.remote_id


def test_deletions_upstream_reach_the_file_and_an_edit_here_is_not_lost(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    agent = clinic_factory(fresh_fhir_server)
    store = agent.store
    person = store.residents.add(resident(), actor="doctor")
    allergy = store.entries.add(Allergy(id=new_id(), resident_id=person.id, substance="青霉素"), actor="doctor")
    condition = store.entries.add(Condition(id=new_id(), resident_id=person.id, name="高血压"), actor="doctor")
    measured = store.readings.add(reading(person.id), actor="device")
    assert sync(agent)["errors"] == []

    delete_upstream(fresh_fhir_server, "AllergyIntolerance", remote_id(agent, "entries", allergy.id))
    delete_upstream(fresh_fhir_server, "Observation", remote_id(agent, "readings", measured.id))
    delete_upstream(fresh_fhir_server, "Condition", remote_id(agent, "entries", condition.id))
    store.entries.update(dataclasses.replace(store.entries.get(condition.id), name="原发性高血压"), actor="doctor")

    report = sync(agent)
    assert report["errors"] == []
    assert store.entries.get(allergy.id).deleted  # gone from the file, as if deleted here
    assert store.readings.get(measured.id).status is ReadingStatus.ENTERED_IN_ERROR
    kept = store.entries.get(condition.id)
    assert not kept.deleted  # edited here: the doctor decides, nothing is lost
    assert kept.name == "原发性高血压"
    [conflict] = store.sync.conflicts()
    assert conflict.kind == "delete"
    assert sync(agent)["pulled"] == 0  # said once

    delete_upstream(fresh_fhir_server, "Patient", remote_id(agent, "residents", person.id))
    assert sync(agent)["parked"] == 1
    assert not store.residents.get(person.id).deleted  # the file stays here
