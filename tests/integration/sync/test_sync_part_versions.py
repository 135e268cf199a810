"""A follow-up's parts each keep their own version: a part edited on the platform is never overwritten by
the doctor's next edit of the form (real SEKMET).

The visit goes up as a QuestionnaireResponse, an Encounter and an Observation per measured value. A
hospital then corrects one of those Observations on the platform, and later the doctor edits the visit
here: the part's update carries If-Match on the version this PC confirmed, the platform refuses it, and
the correction is merged like any remote change — a field both changed is a conflict in the doctor's
inbox, another is taken in — instead of being replaced by the form's value.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx

from clinic_agent.core.model import FollowUp, Programme, new_id
from clinic_agent.runtime.agent import Agent
from sync.engine import EngineOptions, SyncEngine, SyncReport
from sync.fhir import codes, followup
from sync.fhir.common import identifier_query
from sync.platform import FhirPlatform
from tests.support import resident


async def no_wait(_seconds: float) -> None:
    await asyncio.sleep(0)


def sync(agent: Agent, base: str) -> SyncReport:
    options = EngineOptions(organization_id=agent.store.sync.settings()["organization_id"], attempts=4)

    async def run() -> SyncReport:
        async with FhirPlatform(base, read_timeout=30.0) as client:
            return await SyncEngine(agent.store.sync, client, options, sleep=no_wait).run()

    return asyncio.run(run())


def part(base: str, visit_id: str, name: str) -> dict[str, Any]:
    """The platform's copy of a part of the visit, found by its identifier."""
    query = identifier_query(codes.UUID_SYSTEM, f"urn:uuid:{followup.part_id(visit_id, name)}")
    with httpx.Client(base_url=base, timeout=30) as client:
        [entry] = client.get(f"/{followup.part_type(name)}?{query}").json()["entry"]
    found: dict[str, Any] = entry["resource"]
    return found


def hospital_edits(base: str, resource: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> None:
    """Another writer changes a resource on the platform (with If-Match, as a careful system would)."""
    path = f"/{resource['resourceType']}/{resource['id']}"
    with httpx.Client(base_url=base, timeout=30) as client:
        current = client.get(path)
        body = current.json()
        edit(body)
        answer = client.put(path, json=body, headers={"If-Match": current.headers["ETag"]})
        assert answer.status_code == 200, answer.text


def set_systolic(value: int) -> Callable[[dict[str, Any]], None]:
    def edit(observation: dict[str, Any]) -> None:
        for component in observation["component"]:
            if component["code"]["coding"][0]["code"] == codes.SYSTOLIC:
                component["valueQuantity"]["value"] = value

    return edit


def systolic(observation: dict[str, Any]) -> Any:
    [found] = [c for c in observation["component"] if c["code"]["coding"][0]["code"] == codes.SYSTOLIC]
    return found["valueQuantity"]["value"]


def visit_on_the_platform(agent: Agent, base: str) -> FollowUp:
    person = agent.store.residents.add(resident(), actor="doctor")
    visit = FollowUp(
        id=new_id(),
        resident_id=person.id,
        programme=Programme.HYPERTENSION,
        visit_date=date(2026, 11, 30),
        sbp=152,
        dbp=94,
        weight_kg="70",
    )
    agent.store.entries.add(visit, actor="doctor")
    assert sync(agent, base).errors == []
    saved = agent.store.entries.get(visit.id)
    assert isinstance(saved, FollowUp)
    return saved


def test_a_part_corrected_on_the_platform_and_edited_here_is_a_conflict_in_the_inbox_not_overwritten(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    agent = clinic_factory(fresh_fhir_server)
    visit = visit_on_the_platform(agent, fresh_fhir_server)
    hospital_edits(fresh_fhir_server, part(fresh_fhir_server, visit.id, "blood-pressure"), set_systolic(150))
    agent.store.entries.update(dataclasses.replace(visit, sbp=148), actor="doctor")  # the doctor, unaware

    report = sync(agent, fresh_fhir_server)

    assert report.conflicts == 1, report
    [conflict] = agent.store.sync.conflicts()
    assert conflict.entity_id == visit.id
    assert [(f["name"], f["base"], f["local"], f["remote"]) for f in conflict.fields] == [("sbp", 152, 148, 150)]
    kept = part(fresh_fhir_server, visit.id, "blood-pressure")
    assert systolic(kept) == 150  # the hospital's correction stands until the doctor decides
    assert kept["meta"]["versionId"] == "2"

    agent.store.sync.resolve(conflict.id, {"sbp": "local"}, actor="doctor")  # the doctor measured 148
    report = sync(agent, fresh_fhir_server)

    assert report.errors == [], report
    decided = part(fresh_fhir_server, visit.id, "blood-pressure")
    assert systolic(decided) == 148
    assert decided["meta"]["versionId"] == "3"  # written over the version the doctor saw
    assert agent.store.sync.record_state("entries", visit.id) == "confirmed"


def test_a_part_corrected_on_the_platform_and_another_field_edited_here_are_both_kept(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    agent = clinic_factory(fresh_fhir_server)
    visit = visit_on_the_platform(agent, fresh_fhir_server)

    def weigh_again(observation: dict[str, Any]) -> None:
        observation["valueQuantity"]["value"] = 71

    hospital_edits(fresh_fhir_server, part(fresh_fhir_server, visit.id, "body-weight"), weigh_again)
    agent.store.entries.update(dataclasses.replace(visit, sbp=148), actor="doctor")

    report = sync(agent, fresh_fhir_server)

    assert report.errors == [], report
    assert report.conflicts == 0, report
    assert part(fresh_fhir_server, visit.id, "body-weight")["valueQuantity"]["value"] == 71
    assert systolic(part(fresh_fhir_server, visit.id, "blood-pressure")) == 148
    here = agent.store.entries.get(visit.id)
    assert isinstance(here, FollowUp)
    assert (here.sbp, here.weight_kg) == (148, "71")  # the correction came into the file
    assert agent.store.sync.record_state("entries", visit.id) == "confirmed"


def test_parts_rewritten_by_another_pc_with_its_form_are_no_conflict_here(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    """Another PC of the clinic edits the visit (form and parts); this PC pulled the form, not the parts."""
    first = clinic_factory(fresh_fhir_server, code="TR0100")
    visit = visit_on_the_platform(first, fresh_fhir_server)
    second = clinic_factory(fresh_fhir_server, code="TR0100")
    assert sync(second, fresh_fhir_server).errors == []
    there = second.store.entries.get(visit.id)
    assert isinstance(there, FollowUp)
    second.store.entries.update(dataclasses.replace(there, sbp=140), actor="doctor")
    assert sync(second, fresh_fhir_server).errors == []
    assert sync(first, fresh_fhir_server).errors == []  # the form comes down; its parts' versions moved on
    here = first.store.entries.get(visit.id)
    assert isinstance(here, FollowUp)
    assert here.sbp == 140

    first.store.entries.update(dataclasses.replace(here, weight_kg="69"), actor="doctor")
    report = sync(first, fresh_fhir_server)

    assert report.errors == [], report
    assert (report.conflicts, report.parked) == (0, 0), report
    assert systolic(part(fresh_fhir_server, visit.id, "blood-pressure")) == 140
    assert part(fresh_fhir_server, visit.id, "body-weight")["valueQuantity"]["value"] == 69
