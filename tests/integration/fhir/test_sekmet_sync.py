"""The FHIR mapping, Bundles and FhirPlatform against the real SEKMET server on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, date, datetime
from typing import Any

import pytest

from clinic_agent.core.idnumber import check_character
from clinic_agent.core.model import (
    Allergy,
    Condition,
    DeviceInfo,
    FamilyHistory,
    KeyPopulation,
    Procedure,
    ProcedureCategory,
    Quantity,
    Reading,
    ReadingStatus,
    Relation,
    Resident,
    Sex,
    new_id,
)
from sync.errors import PlatformRejected, SyncConflict
from sync.fhir import (
    allergy,
    bundle,
    codes,
    condition,
    device,
    family_history,
    observation,
    organization,
    patient,
    procedure,
)
from sync.fhir.bundle import EntryResult, RequestEntry
from sync.fhir.common import (
    bundle_reference,
    conditional_reference,
    fhir_id,
    identifier_query,
    identifier_value,
    reference,
)
from sync.fhir.history import since
from sync.platform import FhirPlatform

TAKEN = datetime(2026, 11, 25, 1, 30, 0, tzinfo=UTC)


def make_resident() -> Resident:
    first17 = f"52060219580304{random.randrange(1000):03d}"
    return Resident(
        id=new_id(),
        id_number=first17 + check_character(first17),
        name="欧阳秀英",
        sex=Sex.FEMALE,
        birth_date=date(1958, 3, 4),
        health_record_number="52060200100100042",
        phone="13985600000",
        village="坝盘村",
        address="贵州省铜仁市碧江区坝盘村三组",
        ethnicity="06",
        key_populations=(KeyPopulation.HYPERTENSION, KeyPopulation.ELDERLY),
    )


@dataclasses.dataclass
class File:
    """One resident's file, as the push engine would send it."""

    clinic: organization.Clinic
    clinic_id: str
    device: DeviceInfo
    resident: Resident
    bp: Reading
    glucose: Reading
    allergy: Allergy
    condition: Condition
    procedure: Procedure
    family: FamilyHistory


def make_file() -> File:
    resident = make_resident()
    cuff = DeviceInfo(id=f"ble:{new_id()[:8]}", model="HEM-7600T", serial="SN-2.00", protocol="ble-bps")
    meter = [Quantity(code="14743-9", value="5.60", unit="mmol/L", display="Glucose capillary")]
    return File(
        clinic=organization.Clinic(code=f"TR{new_id()[:8].upper()}", name="坝盘村卫生室", region_code="520602"),
        clinic_id=new_id(),
        device=cuff,
        resident=resident,
        bp=Reading(
            id=new_id(),
            resident_id=resident.id,
            code="85354-9",
            components=(
                Quantity(code="8480-6", value="152.00", unit="mm[Hg]"),
                Quantity(code="8462-4", value="96.00", unit="mm[Hg]"),
                Quantity(code="8478-0", value="114.67", unit="mm[Hg]"),
                Quantity(code="8867-4", value="72", unit="/min"),
            ),
            taken_at=TAKEN,
            received_at=TAKEN.replace(second=4, microsecond=125000),
            display="Blood pressure panel",
            device_time="2026-11-25 09:30:00",
            device=cuff,
            source="ble",
            flags=("sbp>=140",),
        ),
        glucose=Reading(
            id=new_id(),
            resident_id=resident.id,
            code="14743-9",
            components=tuple(meter),
            taken_at=TAKEN,
            received_at=TAKEN,
            source="astm",
        ),
        allergy=Allergy(
            id=new_id(),
            resident_id=resident.id,
            substance="青霉素",
            code="2",
            reaction="皮疹",
            criticality="high",
        ),
        condition=Condition(
            id=new_id(),
            resident_id=resident.id,
            name="高血压",
            code="2",
            icd10="I10",
            diagnosed_on=date(2015, 6, 1),
        ),
        procedure=Procedure(
            id=new_id(),
            resident_id=resident.id,
            category=ProcedureCategory.SURGERY,
            name="阑尾切除术",
            performed_on=date(1990, 7, 1),
        ),
        family=FamilyHistory(
            id=new_id(), resident_id=resident.id, relation=Relation.MOTHER, condition="脑卒中", code="7"
        ),
    )


def file_entries(file: File) -> list[RequestEntry]:
    """Everything in one transaction: conditional POSTs, PUTs to client ids, urn:uuid references."""
    subject = bundle_reference(file.resident.id)
    cuff = device.device_reference(file.device)
    org = organization.to_fhir(file.clinic)
    return [
        bundle.create(org, file.clinic_id, if_none_exist=organization.identifier_search(file.clinic.code)),
        bundle.put(device.to_fhir(file.device), device.client_id(file.device)),
        bundle.put(
            patient.to_fhir(file.resident, managing_organization=bundle_reference(file.clinic_id)),
            file.resident.id,
            record_id=file.resident.id,
        ),
        bundle.create(observation.to_fhir(file.bp, subject=subject, device=cuff), file.bp.id),
        bundle.create(observation.to_fhir(file.glucose, subject=subject), file.glucose.id),
        bundle.create(allergy.to_fhir(file.allergy, patient=subject), file.allergy.id),
        bundle.create(condition.to_fhir(file.condition, subject=subject), file.condition.id),
        bundle.create(procedure.to_fhir(file.procedure, subject=subject), file.procedure.id),
        # SEKMET cannot search FamilyMemberHistory by identifier, so it goes to a client id instead.
        bundle.put(
            family_history.to_fhir(file.family, patient=subject),
            fhir_id(file.family.id),
            record_id=file.family.id,
        ),
    ]


KINDS: dict[type, str] = {
    Reading: "Observation",
    Allergy: "AllergyIntolerance",
    Condition: "Condition",
    Procedure: "Procedure",
}


async def count(client: FhirPlatform, resource_type: str, system: str, value: str) -> int:
    page = await client.search(resource_type, [("identifier", f"{system}|{value}")])
    return len(page.resources)


async def test_a_whole_file_goes_in_one_transaction_and_a_replay_duplicates_nothing(fhir_server: str) -> None:
    file = make_file()
    async with FhirPlatform(fhir_server) as client:
        first = await client.transaction(file_entries(file))
        assert [r.status for r in first] == [201] * 9
        assert all(r.version_id == "1" and r.resource_id and r.last_modified for r in first)

        again = await client.transaction(file_entries(file))  # the response was "lost": send it all again
        assert [r.status for r in again] == [200] * 9
        assert [r.resource_id for r in again] == [r.resource_id for r in first]

        found = {
            "Patient": await count(client, "Patient", codes.ID_CARD_SYSTEM, file.resident.id_number),
            "Organization": await count(
                client, "Organization", codes.DEFAULT_NAMESPACE.clinic_code_system, file.clinic.code
            ),
            "Device": await count(client, "Device", codes.DEFAULT_NAMESPACE.device_id_system, file.device.id),
        }
        family = await client.read("FamilyMemberHistory", fhir_id(file.family.id))  # PUT twice: one resource
        assert family.version_id == "2"
        for record in (file.bp, file.glucose, file.allergy, file.condition, file.procedure):
            kind = {Reading: "Observation", Allergy: "AllergyIntolerance", Condition: "Condition"}.get(
                type(record),
                {Procedure: "Procedure", FamilyHistory: "FamilyMemberHistory"}.get(type(record), ""),
            )
            found[f"{kind}/{record.id}"] = await count(client, kind, codes.UUID_SYSTEM, identifier_value(record.id))
    assert set(found.values()) == {1}, found


async def test_the_capability_statement_chooses_how_to_create_each_type(fhir_server: str) -> None:
    async with FhirPlatform(fhir_server) as client:
        capabilities = await client.capabilities()
    assert {"transaction", "batch"} <= capabilities.system_interactions
    assert capabilities.create_by("Observation") == "conditional-create"
    assert capabilities.create_by("Patient") == "conditional-create"
    assert not capabilities.searchable("FamilyMemberHistory", "identifier")
    assert capabilities.create_by("FamilyMemberHistory") is None  # not described: PUT to a client id


async def test_what_is_read_back_maps_to_what_was_sent(fhir_server: str) -> None:
    file = make_file()
    async with FhirPlatform(fhir_server) as client:
        results = await client.transaction(file_entries(file))
        ids = [r.resource_id or "" for r in results]
        read = [(await client.read(r.resource_type or "", r.resource_id or "")).resource for r in results]

    org, cuff, person, bp, glucose, allergy_, condition_, procedure_, family = read
    assert organization.from_fhir(org) == file.clinic
    assert device.from_fhir(cuff) == file.device
    assert patient.from_fhir(person) == file.resident
    assert person["managingOrganization"] == {"reference": f"Organization/{ids[0]}"}  # urn:uuid resolved
    assert bp["subject"] == {"reference": f"Patient/{file.resident.id}"}
    assert observation.from_fhir(bp, resident_id=file.resident.id, device=file.device) == file.bp
    assert observation.from_fhir(glucose, resident_id=file.resident.id) == file.glucose
    assert allergy.from_fhir(allergy_, resident_id=file.resident.id) == file.allergy
    assert condition.from_fhir(condition_, resident_id=file.resident.id) == file.condition
    assert procedure.from_fhir(procedure_, resident_id=file.resident.id) == file.procedure
    assert family_history.from_fhir(family, resident_id=file.resident.id) == file.family


async def test_device_precision_survives_the_server(fhir_server: str) -> None:
    file = make_file()
    async with FhirPlatform(fhir_server) as client:
        await client.transaction(file_entries(file))
        query = [("identifier", f"{codes.UUID_SYSTEM}|{identifier_value(file.bp.id)}")]
        page = await client.search("Observation", query)
    back = observation.from_fhir(page.resources[0], resident_id=file.resident.id, device=file.device)
    assert [q.value for q in back.components] == ["152.00", "96.00", "114.67", "72"]


async def test_a_stale_if_match_is_a_conflict_and_nothing_is_applied(fhir_server: str) -> None:
    file = make_file()
    async with FhirPlatform(fhir_server) as client:
        await client.transaction(file_entries(file))
        moved = dataclasses.replace(file.resident, phone="13985611111")
        done = await client.transaction([bundle.put(patient.to_fhir(moved), file.resident.id, version_id="1")])
        assert (done[0].status, done[0].version_id) == (200, "2")

        upstream_missed = dataclasses.replace(file.resident, village="寨英村")
        stale = bundle.put(patient.to_fhir(upstream_missed), file.resident.id, version_id="1")
        with pytest.raises(SyncConflict) as caught:
            await client.transaction([stale])
        assert caught.value.status == 412
        assert "rolled back" in caught.value.reason.lower() or "version" in caught.value.reason.lower()

        in_batch = await client.batch([stale])
        assert (in_batch[0].status, in_batch[0].ok) == (412, False)
        assert in_batch[0].reason

        current = await client.read("Patient", file.resident.id)
    assert current.version_id == "2"
    assert patient.from_fhir(current.resource) == moved


async def test_an_invalid_resource_is_rejected_with_a_clear_reason(fhir_server: str) -> None:
    file = make_file()
    broken = patient.to_fhir(file.resident)
    broken["birthDate"] = "1958-13-45"
    async with FhirPlatform(fhir_server) as client:
        with pytest.raises(PlatformRejected) as caught:
            await client.transaction([bundle.create(broken, file.resident.id)])
        assert caught.value.status == 400
        assert "birthDate" in caught.value.reason

        results = await client.batch(
            [
                bundle.create(broken, file.resident.id),
                bundle.create(organization.to_fhir(file.clinic), new_id()),
            ]
        )
        assert [r.status for r in results] == [400, 201]  # one bad resource does not block the other
        assert results[0].reason is not None
        assert "birthDate" in results[0].reason
        assert await count(client, "Patient", codes.ID_CARD_SYSTEM, file.resident.id_number) == 0


async def test_a_reading_is_corrected_by_marking_it_entered_in_error(fhir_server: str) -> None:
    file = make_file()
    async with FhirPlatform(fhir_server) as client:
        await client.transaction(file_entries(file))
        created: EntryResult = (
            await client.transaction([bundle.create(observation.to_fhir(file.glucose), file.glucose.id)])
        )[0]
        wrong = dataclasses.replace(file.glucose, status=ReadingStatus.ENTERED_IN_ERROR)
        subject = reference("Patient", file.resident.id)
        marked = await client.transaction(
            [
                bundle.put(
                    observation.to_fhir(wrong, subject=subject),
                    created.resource_id or "",
                    version_id=created.version_id,
                )
            ]
        )
        back = await client.read("Observation", created.resource_id or "")
    assert (marked[0].status, marked[0].version_id) == (200, "2")
    assert observation.from_fhir(back.resource, resident_id=file.resident.id).status is ReadingStatus.ENTERED_IN_ERROR


async def test_a_later_reading_finds_its_patient_by_identifier(fhir_server: str) -> None:
    file = make_file()
    later = dataclasses.replace(
        file.glucose, id=new_id(), components=(Quantity(code="14743-9", value="6.10", unit="mmol/L"),)
    )
    async with FhirPlatform(fhir_server) as client:
        await client.transaction(file_entries(file))
        entry = bundle.create(
            observation.to_fhir(later, subject=conditional_reference("Patient", file.resident.id)), later.id
        )
        result = (await client.transaction([entry]))[0]
        stored = await client.read("Observation", result.resource_id or "")
    assert stored.resource["subject"] == {"reference": f"Patient/{file.resident.id}"}


async def test_search_pages_are_followed_to_the_end(fresh_fhir_server: str) -> None:
    async with FhirPlatform(fresh_fhir_server) as client:
        made = [make_resident() for _ in range(5)]
        await client.transaction([bundle.put(patient.to_fhir(r), r.id) for r in made])
        page: Any = await client.search("Patient", [("_count", "2"), ("_sort", "_lastUpdated")])
        seen: list[str] = []
        pages = 0
        while page is not None:
            pages += 1
            seen += [patient.from_fhir(p).id for p in page.resources]
            page = await client.next_page(page)
    assert (pages, sorted(seen)) == (3, sorted(r.id for r in made))


async def test_the_clinic_is_created_once_by_its_code(fresh_fhir_server: str) -> None:
    clinic = organization.Clinic(code="TR0001", name="坝盘村卫生室")
    entry = bundle.create(
        organization.to_fhir(clinic), new_id(), if_none_exist=organization.identifier_search(clinic.code)
    )
    async with FhirPlatform(fresh_fhir_server) as client:
        statuses = [(await client.transaction([entry]))[0].status for _ in range(3)]
        page = await client.search(
            "Organization",
            [tuple(identifier_query(codes.DEFAULT_NAMESPACE.clinic_code_system, clinic.code).split("=", 1))],
        )  # type: ignore[list-item]
    assert statuses == [201, 200, 200]
    assert page.total == 1


async def test_history_shows_an_upstream_deletion(fresh_fhir_server: str) -> None:
    file = make_file()
    async with FhirPlatform(fresh_fhir_server) as client:
        results = await client.transaction(file_entries(file))
        condition_id = results[6].resource_id or ""
        cursor = since(results[6].last_modified or TAKEN)
        await client.transaction([bundle.delete("Condition", condition_id)])
        page = await client.history("Condition", [("_since", cursor), ("_count", "1000")])
    assert [(e.method, e.resource_id) for e in page.entries] == [
        ("DELETE", condition_id),
        ("POST", condition_id),
    ]
    assert page.entries[0].deleted
    assert page.entries[0].resource is None


def every_type(file: File) -> dict[str, tuple[str, dict[str, Any], Any, Any]]:
    """For each mapped type: (record id, resource, the mapped object, a function mapping it back)."""
    subject = reference("Patient", file.resident.id)
    rid = file.resident.id
    return {
        "Organization": (
            file.clinic_id,
            organization.to_fhir(file.clinic),
            file.clinic,
            organization.from_fhir,
        ),
        "Device": (device.client_id(file.device), device.to_fhir(file.device), file.device, device.from_fhir),
        "Patient": (rid, patient.to_fhir(file.resident), file.resident, patient.from_fhir),
        "Observation": (
            file.bp.id,
            observation.to_fhir(file.bp, subject=subject, device=device.device_reference(file.device)),
            file.bp,
            lambda r: observation.from_fhir(r, resident_id=rid, device=file.device),
        ),
        "AllergyIntolerance": (
            file.allergy.id,
            allergy.to_fhir(file.allergy, patient=subject),
            file.allergy,
            lambda r: allergy.from_fhir(r, resident_id=rid),
        ),
        "Condition": (
            file.condition.id,
            condition.to_fhir(file.condition, subject=subject),
            file.condition,
            lambda r: condition.from_fhir(r, resident_id=rid),
        ),
        "Procedure": (
            file.procedure.id,
            procedure.to_fhir(file.procedure, subject=subject),
            file.procedure,
            lambda r: procedure.from_fhir(r, resident_id=rid),
        ),
        "FamilyMemberHistory": (
            file.family.id,
            family_history.to_fhir(file.family, patient=subject),
            file.family,
            lambda r: family_history.from_fhir(r, resident_id=rid),
        ),
    }


TYPES = ["Organization", "Device", "Patient", "Observation", "AllergyIntolerance", "Condition", "Procedure"]


@pytest.mark.parametrize("kind", [*TYPES, "FamilyMemberHistory"])
async def test_put_to_a_client_id_twice_makes_one_resource_that_maps_back(fhir_server: str, kind: str) -> None:
    file = make_file()
    record_id, resource, original, back = every_type(file)[kind]
    client_id = fhir_id(record_id)
    async with FhirPlatform(fhir_server) as client:
        first = await client.transaction([bundle.put(resource, client_id, record_id=record_id)])
        again = await client.transaction([bundle.put(resource, client_id, record_id=record_id)])
        stored = await client.read(kind, client_id)
    assert ([first[0].status, again[0].status], again[0].resource_id) == ([201, 200], client_id)
    assert back(stored.resource) == original


@pytest.mark.parametrize("kind", TYPES)
async def test_a_conditional_create_twice_makes_one_resource_that_maps_back(fhir_server: str, kind: str) -> None:
    file = make_file()
    record_id, resource, original, back = every_type(file)[kind]
    query = {
        "Organization": organization.identifier_search(file.clinic.code),
        "Device": device.identifier_search(file.device),
    }.get(kind)
    entry = bundle.create(resource, record_id, if_none_exist=query)
    async with FhirPlatform(fhir_server) as client:
        first = await client.transaction([entry])
        again = await client.transaction([entry])
        criteria = (query or identifier_query(codes.UUID_SYSTEM, identifier_value(record_id))).split("=", 1)[1]
        found = await client.search(kind, [("identifier", criteria)])
    assert [first[0].status, again[0].status] == [201, 200]
    assert first[0].resource_id == again[0].resource_id
    assert len(found.resources) == 1
    assert back(found.resources[0]) == original


async def test_sekmet_cannot_create_family_history_conditionally(fhir_server: str) -> None:
    file = make_file()
    record_id, resource, _, _ = every_type(file)["FamilyMemberHistory"]
    async with FhirPlatform(fhir_server) as client:
        with pytest.raises(PlatformRejected, match="Unknown search parameter 'identifier'"):
            await client.transaction([bundle.create(resource, record_id)])
