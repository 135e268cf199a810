"""One person, one Patient: a clinic joining a platform that already holds its residents' files.

Each scenario runs against two FHIR servers of different implementations (``any_fhir_server``):
SEKMET (Python) and Medplum's FHIR router (TypeScript, npm; see docs/fhir.md for how they differ).
The platform is preloaded with the clinic's residents as a hospital would have
written them — with the hospital's own record number, a second contact and the managing
organization. A PC that registered some of them offline (same ID card numbers, some fields
different) then enrols and syncs; a second PC enrols the same clinic; the first is reinstalled.
Nothing may make a second Patient for one ID card number, and no field either side holds may be
overwritten silently.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clinic_agent import syncing
from clinic_agent.agent import Agent
from clinic_agent.model import Resident
from sync.fhir import codes, patient
from sync.fhir.common import reference
from tests.integration.fhir.conftest import unavailable
from tests.support import id_number, reading, resident

HOSPITAL_MRN = "urn:oid:1.2.156.112604.1.2.1"  # a county hospital's own patient numbers
PRELOADED = 40
REGISTERED_OFFLINE = 12
PHONE_DIFFERS = 4


@pytest.fixture(params=["sekmet", "medplum"])
def any_fhir_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty server of each implementation: SEKMET (Python) and Medplum's FHIR router (TypeScript)."""
    if request.param == "sekmet":
        yield request.getfixturevalue("fresh_fhir_server")
        return
    from tests.integration.fhir import medplum_server

    try:
        server = medplum_server.MedplumServer(medplum_server.install(), tmp_path / "medplum")
        base = server.start()
    except medplum_server.MedplumUnavailable as exc:
        unavailable(str(exc))
        raise
    try:
        yield base
    finally:
        server.stop()


def sync(agent: Agent) -> dict[str, Any]:
    return asyncio.run(syncing.run_once(agent)).as_json()


def organization_of(agent: Agent) -> str:
    found = agent.store.sync.settings().get("organization_id")
    assert found, "the clinic's Organization was made at enrolment"
    return str(found)


def preload(base: str, people: list[Resident], organization: str) -> dict[str, str]:
    """Write the clinic's residents as the hospital did (not through the agent); their Patient ids."""
    ids: dict[str, str] = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        for i, person in enumerate(people):
            body = patient.to_fhir(person, managing_organization=reference("Organization", organization))
            body["identifier"] = [
                i
                for i in body["identifier"]
                if i["system"] != codes.UUID_SYSTEM  # not written by any agent
            ] + [{"system": HOSPITAL_MRN, "value": f"ZY{i:06d}"}]
            body["contact"] = [{"name": {"text": "家属"}, "telecom": [{"system": "phone", "value": "0856-5220000"}]}]
            answer = client.post("/Patient", json=body, headers={"Content-Type": "application/fhir+json"})
            assert answer.status_code == 201, answer.text
            ids[person.id_number] = answer.json()["id"]
    return ids


def patients_with(base: str, number: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=base, timeout=30) as client:
        bundle = client.get("/Patient", params={"identifier": f"{codes.ID_CARD_SYSTEM}|{number}"}).json()
    return [e["resource"] for e in bundle.get("entry", []) if e.get("resource", {}).get("resourceType") == "Patient"]


def total(base: str, kind: str) -> int:
    with httpx.Client(base_url=base, timeout=30) as client:
        return int(client.get(f"/{kind}", params={"_summary": "count"}).json()["total"])


def test_a_clinic_joining_the_platform_adopts_the_files_it_already_holds(
    any_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    fresh_fhir_server = any_fhir_server
    rng = random.Random(90)
    people = [resident(rng, name="龙秀英", phone=f"1381598{i:04d}", village="大塘村") for i in range(PRELOADED)]
    agent = clinic_factory()
    offline = people[:REGISTERED_OFFLINE]  # the doctor registered these before the clinic was enrolled
    for i, person in enumerate(offline):
        local = person if i >= PHONE_DIFFERS else dataclasses.replace(person, phone=f"1390000{i:04d}")
        agent.store.residents.add(local, actor="doctor")
        agent.store.readings.add(reading(local.id), actor="device")
    asyncio.run(syncing.enroll(agent, fresh_fhir_server, actor="test"))
    platform_ids = preload(fresh_fhir_server, people, organization_of(agent))

    report = sync(agent)
    assert report["errors"] == []
    assert report["adopted"] == REGISTERED_OFFLINE
    assert total(fresh_fhir_server, "Patient") == PRELOADED  # not one new Patient
    assert agent.store.residents.count() == PRELOADED  # the rest of the catchment came down
    for person in people:
        [found] = patients_with(fresh_fhir_server, person.id_number)
        assert found["id"] == platform_ids[person.id_number]
        assert any(i["system"] == HOSPITAL_MRN for i in found["identifier"])  # the hospital's number is kept
        assert found.get("contact"), "the family contact the hospital wrote is kept"
    conflicts = agent.store.sync.conflicts()
    assert len(conflicts) == PHONE_DIFFERS
    assert all([f["name"] for f in c.fields] == ["phone"] for c in conflicts)
    assert total(fresh_fhir_server, "Observation") == REGISTERED_OFFLINE  # the readings went to the right Patients

    # A second PC of the same clinic, from an empty store: it finds everything, creates nothing.
    second = clinic_factory(fresh_fhir_server, code=agent.config.clinic_code)
    assert sync(second)["errors"] == []
    assert second.store.residents.count() == PRELOADED
    # The first PC, reinstalled from scratch: the doctor registers a resident again and measures her.
    again = clinic_factory(fresh_fhir_server, code=agent.config.clinic_code)
    person = dataclasses.replace(people[20], id=resident().id)
    again.store.residents.add(person, actor="doctor")
    again.store.readings.add(reading(person.id), actor="device")
    assert sync(again)["errors"] == []
    assert total(fresh_fhir_server, "Patient") == PRELOADED
    assert total(fresh_fhir_server, "Observation") == REGISTERED_OFFLINE + 1
    [found] = patients_with(fresh_fhir_server, person.id_number)
    assert found["id"] == platform_ids[person.id_number]


def test_a_second_patient_for_a_linked_resident_is_set_aside_and_the_pull_goes_on(
    any_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    fresh_fhir_server = any_fhir_server
    agent = clinic_factory(fresh_fhir_server)
    linked = agent.store.residents.add(resident(), actor="doctor")
    assert sync(agent)["errors"] == []
    organization = organization_of(agent)
    # Another system makes a duplicate of her, and a new resident of the clinic besides.
    newcomer = resident(id_number=id_number(random.Random(5)))
    preload(fresh_fhir_server, [linked, newcomer], organization)

    report = sync(agent)  # once: IntegrityError on the unique ID number, and every later sync with it
    assert report["parked"] == 1
    assert agent.store.residents.count() == 2  # the newcomer came down all the same
    [aside] = [p for p in agent.store.sync.parked() if p.entity == "Patient"]
    assert "two Patients for one person" in aside.reason
    assert sync(agent)["pulled"] == 0  # and the next run is quiet
