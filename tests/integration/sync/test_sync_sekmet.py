"""The sync engine against the real SEKMET server: push, pull, two clinics, a parked resource."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import date

from clinic_agent import syncing
from clinic_agent.agent import Agent
from clinic_agent.model import Allergy, Condition, FamilyHistory, Procedure, ProcedureCategory, Relation, new_id
from sync.fhir import codes
from sync.fhir.common import full_url
from sync.platform import FhirPlatform
from tests.support import reading, resident


def sync(agent: Agent) -> dict[str, object]:
    report = asyncio.run(syncing.run_once(agent))
    return report.as_json()


async def count(base: str, kind: str, record_id: str) -> int:
    async with FhirPlatform(base) as client:
        page = await client.search(kind, [("identifier", f"{codes.UUID_SYSTEM}|{full_url(record_id)}")])
    return len(page.resources)


def test_residents_readings_and_file_entries_reach_the_platform_once(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    agent = clinic_factory(fresh_fhir_server)
    store = agent.store
    person = store.residents.add(resident(), actor="doctor")
    high = store.readings.add(reading(person.id, systolic="185", diastolic="112"), actor="device")
    normal = store.readings.add(reading(person.id), actor="device")
    entries = [
        Allergy(id=new_id(), resident_id=person.id, substance="青霉素", code="2", reaction="皮疹"),
        Condition(id=new_id(), resident_id=person.id, name="高血压", code="2", diagnosed_on=date(2015, 6, 1)),
        Procedure(id=new_id(), resident_id=person.id, category=ProcedureCategory.SURGERY, name="阑尾切除术"),
        FamilyHistory(id=new_id(), resident_id=person.id, relation=Relation.MOTHER, condition="脑卒中"),
    ]
    for entry in entries:
        store.entries.add(entry, actor="doctor")

    report = sync(agent)
    assert report["errors"] == []
    assert report["pushed"] == 7
    assert store.sync.queue_counts()["pending"] == 0
    assert store.sync.record_state("readings", high.id) == "confirmed"
    assert asyncio.run(count(fresh_fhir_server, "Observation", high.id)) == 1
    assert asyncio.run(count(fresh_fhir_server, "Observation", normal.id)) == 1
    assert asyncio.run(count(fresh_fhir_server, "Patient", person.id)) == 1
    assert asyncio.run(count(fresh_fhir_server, "Condition", entries[1].id)) == 1

    again = sync(agent)
    assert again == {"pushed": 0, "pulled": 0, "parked": 0, "conflicts": 0, "errors": []}
