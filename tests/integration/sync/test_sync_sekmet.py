"""The sync engine against the real SEKMET server: push, pull, two clinics, a parked resource."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import date

from clinic_agent.core.model import (
    Allergy,
    Condition,
    EntryKind,
    FamilyHistory,
    Procedure,
    ProcedureCategory,
    Relation,
    new_id,
)
from clinic_agent.runtime import syncing
from clinic_agent.runtime.agent import Agent
from sync.fhir import bundle, codes, condition
from sync.fhir.bundle import RequestEntry
from sync.fhir.common import identifier_value
from sync.platform import FhirPlatform
from tests.support import PASSPHRASE, reading, resident


def sync(agent: Agent) -> dict[str, object]:
    report = asyncio.run(syncing.run_once(agent))
    return report.as_json()


async def count(base: str, kind: str, record_id: str) -> int:
    async with FhirPlatform(base) as client:
        page = await client.search(kind, [("identifier", f"{codes.UUID_SYSTEM}|{identifier_value(record_id)}")])
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
    assert again == {"pushed": 0, "pulled": 0, "adopted": 0, "parked": 0, "conflicts": 0, "errors": []}


def test_a_hospitals_diagnosis_and_a_corrected_record_land_in_the_local_file(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    agent = clinic_factory(fresh_fhir_server)
    store = agent.store
    person = store.residents.add(resident(name="张秀英", village="坝盘村"), actor="doctor")
    sync(agent)
    remote_id = store.sync.load("residents", person.id).remote_id

    async def hospital() -> None:
        async with FhirPlatform(fresh_fhir_server) as client:
            diagnosis = condition.to_fhir(
                Condition(id=new_id(), resident_id=person.id, name="2型糖尿病", code="3", icd10="E11"),
                subject={"reference": f"Patient/{remote_id}"},
            )
            diagnosis.pop("identifier")  # made upstream: no identifier of ours
            await client.transaction([RequestEntry(method="POST", url="Condition", resource=diagnosis)])
            current = await client.read("Patient", remote_id)
            corrected = dict(current.resource)
            corrected["name"] = [{"use": "official", "text": "张秀瑛", "family": "张", "given": ["秀瑛"]}]
            await client.transaction([bundle.put(corrected, remote_id, version_id=current.version_id)])

    asyncio.run(hospital())
    report = sync(agent)
    assert report["errors"] == []
    assert report["pulled"] == 2
    assert store.residents.get(person.id).name == "张秀瑛"
    conditions, _ = store.entries.for_resident(person.id, EntryKind.CONDITION)
    assert [(c.name, c.icd10) for c in conditions] == [("2型糖尿病", "E11")]
    assert store.sync.queue_counts()["pending"] == 0  # what was pulled is not sent back
    assert sync(agent)["pulled"] == 0  # the cursor moved: nothing is pulled twice


def test_two_clinics_edit_one_resident_disjoint_fields_merge_the_same_field_conflicts(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    # Two PCs of one clinic (the same Organization on the platform), each with its own store.
    first = clinic_factory(fresh_fhir_server, code="TR0900")
    second = clinic_factory(fresh_fhir_server, code="TR0900")
    person = first.store.residents.add(resident(phone="13800000000", village="坝盘村"), actor="doctor")
    sync(first)
    sync(second)
    theirs = second.store.residents.get(person.id)
    assert theirs.name == person.name

    first.store.residents.update(dataclasses.replace(person, phone="13911111111", version=1), actor="doctor")
    second.store.residents.update(dataclasses.replace(theirs, village="寨英村"), actor="doctor")
    assert sync(first)["errors"] == []
    merged = sync(second)
    assert merged["errors"] == []
    assert merged["conflicts"] == 0
    sync(first)
    for agent in (first, second):
        now = agent.store.residents.get(person.id)
        assert (now.phone, now.village) == ("13911111111", "寨英村")

    mine = first.store.residents.get(person.id)
    yours = second.store.residents.get(person.id)
    first.store.residents.update(dataclasses.replace(mine, address="三组"), actor="doctor")
    second.store.residents.update(dataclasses.replace(yours, address="五组"), actor="doctor")
    sync(first)
    clash = sync(second)
    assert clash["conflicts"] == 1
    [conflict] = second.store.sync.conflicts()
    assert [f["name"] for f in conflict.fields] == ["address"]
    assert (conflict.fields[0]["local"], conflict.fields[0]["remote"]) == ("五组", "三组")
    assert second.store.residents.get(person.id).address == "五组"  # the doctor's value stays on screen
    sync(second)
    sync(first)
    assert first.store.residents.get(person.id).address == "三组"  # the platform's copy was not overwritten

    second.store.sync.resolve(conflict.id, {"address": "local"}, actor="doctor")
    assert sync(second)["errors"] == []
    sync(first)
    assert first.store.residents.get(person.id).address == "五组"
    assert second.store.sync.conflicts() == []


def test_one_invalid_resource_is_parked_with_the_platforms_reason_and_the_rest_syncs(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    agent = clinic_factory(fresh_fhir_server)
    store = agent.store
    person = store.residents.add(resident(), actor="doctor")
    good = [store.readings.add(reading(person.id), actor="device") for _ in range(5)]
    bad = store.entries.add(Condition(id=new_id(), resident_id=person.id, name="高血压", icd10="I1  0"), actor="doctor")
    more = [store.readings.add(reading(person.id), actor="device") for _ in range(5)]
    report = sync(agent)
    assert report["parked"] == 1
    assert report["pushed"] == 11
    [parked] = store.sync.parked()
    assert (parked.entity_id, parked.kind) == (bad.id, "condition")
    assert "code" in parked.reason.lower() or "I1" in parked.reason
    for item in [*good, *more]:
        assert store.sync.record_state("readings", item.id) == "confirmed"
    assert store.sync.record_state("entries", bad.id) == "local"


def test_each_sync_anchors_the_audit_chain_head_on_the_platform(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    from sync.fhir import audit_anchor

    agent = clinic_factory(fresh_fhir_server)
    agent.store.residents.add(resident(), actor="doctor")
    assert sync(agent)["errors"] == []
    seq, mac = agent.store.audit.head()

    async def anchored() -> dict[str, object]:
        async with FhirPlatform(fresh_fhir_server) as client:
            return (await client.read("AuditEvent", audit_anchor.anchor_id(agent.store.store_id))).resource

    event = asyncio.run(anchored())
    details = {d["type"]: d["valueString"] for d in event["entity"][0]["detail"]}  # type: ignore[index]
    assert details == {"seq": str(seq), "mac": mac.hex()}
    assert agent.store.sync.settings()["audit_anchor"] == f"{seq}:{mac.hex()}"


def test_a_database_rolled_back_with_its_anchor_file_is_caught_by_the_platforms_anchor(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    agent = clinic_factory(fresh_fhir_server)
    home = agent.home
    agent.close()  # yesterday's copy of the database and its anchor file, together
    saved = {name: (home.root / name).read_bytes() for name in ("clinic.db", "clinic.anchor")}
    agent = Agent.open(home)
    agent.unlock(actor="test", passphrase=PASSPHRASE)
    agent.store.residents.add(resident(), actor="doctor")
    assert sync(agent)["errors"] == []  # today's head is anchored on the platform
    anchored, _ = agent.store.audit.head()
    agent.close()
    for name, data in saved.items():
        (home.root / name).write_bytes(data)
    agent = Agent.open(home)
    try:
        agent.unlock(actor="test", passphrase=PASSPHRASE)
        chain, report = agent.store.verify()
        assert chain.ok
        assert report.ok  # locally nothing shows: database and anchor agree
        assert sync(agent)["errors"] == []
        chain, report = agent.store.verify()
    finally:
        agent.close()
    assert chain.ok
    assert any(f"the platform holds entry {anchored} of this audit log" in f for f in report.findings), report


def test_a_second_pc_gets_the_family_history_the_platform_does_not_list(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    first = clinic_factory(fresh_fhir_server)
    person = first.store.residents.add(resident(), actor="doctor")
    history = FamilyHistory(id=new_id(), resident_id=person.id, relation=Relation.FATHER, condition="糖尿病")
    first.store.entries.add(history, actor="doctor")
    assert sync(first)["errors"] == []
    second = clinic_factory(fresh_fhir_server, code=first.config.clinic_code)
    assert sync(second)["errors"] == []
    [came] = second.store.entries.for_resident(person.id)[0]
    assert isinstance(came, FamilyHistory)
    assert came.condition == "糖尿病"
