"""The agent's own URLs come from `[platform] namespace`: everything sent carries it, and reads back under it.

A clinic configured with a platform's namespace syncs a whole file (a Patient with every extension,
each kind of entry with a form code, a reading from a device, a follow-up with its Questionnaire, a
note) with the real SEKMET server. No resource there may carry the default namespace, each kind that
has a URL of ours carries the configured one, and a second PC of the clinic (same namespace) pulls
the file back equal to what the first one holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

from clinic_agent.core.model import (
    Allergy,
    Condition,
    DeviceInfo,
    FamilyHistory,
    FollowUp,
    KeyPopulation,
    Note,
    Procedure,
    ProcedureCategory,
    Programme,
    Relation,
    new_id,
    utcnow,
)
from clinic_agent.runtime import syncing
from clinic_agent.runtime.agent import Agent
from sync.engine.mapping import comparable
from sync.fhir import codes
from sync.platform import FhirPlatform
from tests.support import reading, resident

NAMESPACE = "https://fhir.tongren.example/ns/clinic-agent"
CONFIG = f'[platform]\nnamespace = "{NAMESPACE}"\n'
# Every type that carries a URL of ours, and so must carry the configured namespace.
OURS = (
    "Patient",
    "AllergyIntolerance",
    "Condition",
    "Procedure",
    "FamilyMemberHistory",
    "Observation",
    "QuestionnaireResponse",
    "Encounter",
    "Questionnaire",
    "Organization",
    "Device",
    "AuditEvent",
)


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


async def everything(base: str, resource_type: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    async with FhirPlatform(base) as client:
        page: Any = await client.search(resource_type, [("_count", "1000")])
        while page is not None:
            found.extend(page.resources)
            page = await client.next_page(page)
    return found


def a_whole_file(agent: Agent) -> str:
    store = agent.store
    person = store.residents.add(
        resident(
            name="龙秀英",
            village="大塘村",
            address="大塘村三组",
            ethnicity="08",
            key_populations=(KeyPopulation.HYPERTENSION, KeyPopulation.ELDERLY),
        ),
        actor="doctor",
    )
    rid = person.id
    for entry in (
        Allergy(id=new_id(), resident_id=rid, substance="青霉素", code="2", reaction="皮疹"),
        Condition(id=new_id(), resident_id=rid, name="高血压", code="2", icd10="I10", diagnosed_on=date(2019, 5, 1)),
        Procedure(id=new_id(), resident_id=rid, category=ProcedureCategory.SURGERY, name="阑尾切除术"),
        FamilyHistory(id=new_id(), resident_id=rid, relation=Relation.FATHER, condition="糖尿病", code="3"),
        FollowUp(
            id=new_id(),
            resident_id=rid,
            programme=Programme.HYPERTENSION,
            visit_date=date(2026, 11, 30),
            method="1",
            symptoms=("2",),
            sbp=148,
            dbp=92,
            salt_intake="medium",
            adherence="1",
            classification="2",
        ),
        Note(id=new_id(), resident_id=rid, text="血压偏高, 两周后复诊。", written_at=utcnow(), author="张伟"),
    ):
        store.entries.add(entry, actor="doctor")
    store.readings.add(
        reading(rid, device=DeviceInfo(id="ble:AA:BB:CC:DD:EE:01", model="UA-651BLE"), flags=("high",)),
        actor="device",
    )
    return person.id_number


def file_of(agent: Agent, id_number: str) -> dict[str, list[dict[str, Any]]]:
    found = agent.store.residents.by_id_number(id_number)
    assert found is not None, "the resident is on this PC"
    entries, bad = agent.store.entries.for_resident(found.id)
    readings, bad_readings = agent.store.readings.for_resident(found.id)
    assert bad == bad_readings == []
    return {
        "resident": [comparable(found)],
        "entries": sorted((comparable(e) for e in entries), key=repr),
        "readings": sorted((comparable(r) for r in readings), key=repr),
    }


def test_everything_sent_carries_the_configured_namespace_and_reads_back_equal(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    agent = clinic_factory(fresh_fhir_server, extra=CONFIG)
    assert agent.config.namespace == NAMESPACE
    number = a_whole_file(agent)
    first = asyncio.run(syncing.run_once(agent))
    assert (first.errors, first.parked) == ([], 0)
    assert first.pushed >= 7

    for kind in (*OURS, "DocumentReference"):
        resources = asyncio.run(everything(fresh_fhir_server, kind))
        assert resources, f"no {kind} reached the platform"
        texts = list(strings(resources))
        assert not any(codes.DEFAULT_NAMESPACE_BASE in t for t in texts), (kind, resources)
        assert not any("clinic-agent.example" in t for t in texts), (kind, resources)
        if kind in OURS:  # (a follow-up's Observations have no URL of ours; the device's reading has)
            assert any(t.startswith(NAMESPACE + "/") for t in texts), (kind, resources)

    # A second PC of the clinic, from an empty store, with the same namespace: the file comes back equal.
    second = clinic_factory(fresh_fhir_server, code=agent.config.clinic_code, extra=CONFIG)
    again = asyncio.run(syncing.run_once(second))
    assert (again.errors, again.parked) == ([], 0)
    mine, pulled = file_of(agent, number), file_of(second, number)
    assert pulled == mine  # every kind of entry, FamilyMemberHistory and QuestionnaireResponse too
    [held] = mine["resident"]  # the extensions were there to be read back
    assert (held["village"], held["ethnicity"], len(held["key_populations"])) == ("大塘村", "08", 2)
