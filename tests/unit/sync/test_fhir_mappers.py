"""Every mapper: model -> FHIR -> model is identity for what FHIR carries, and the FHIR is valid R4."""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir_strategies import (
    allergies,
    clinics,
    conditions,
    devices,
    family_histories,
    procedures,
    readings,
    residents,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from clinic_agent.core.model import (
    Allergy,
    Condition,
    DeviceInfo,
    FamilyHistory,
    Procedure,
    ProcedureCategory,
    Quantity,
    Reading,
    Relation,
    Resident,
    Sex,
)
from sync.errors import MappingError, PlatformProtocolError
from sync.fhir import (
    allergy,
    codes,
    condition,
    device,
    family_history,
    observation,
    organization,
    patient,
    procedure,
    wire,
)
from sync.fhir.common import conditional_reference, reference

PATIENT = reference("Patient", "p-1")


def valid_r4(resource: dict[str, Any]) -> dict[str, Any]:
    """Validate with the fhir.resources R4B models, after a trip through the wire format."""
    on_wire = wire.loads(wire.dumps(resource))
    get_fhir_model_class(on_wire["resourceType"]).model_validate(on_wire)
    return on_wire


def local_only(record: Any, original: Any) -> Any:
    """Copy the fields FHIR does not carry (sync bookkeeping) from the original."""
    keep = {name: getattr(original, name) for name in ("version", "updated_at") if hasattr(original, name)}
    return dataclasses.replace(record, **keep)


@settings(max_examples=150, deadline=None)
@given(residents)
def test_resident_round_trips_through_a_valid_patient(resident: Resident) -> None:
    resource = valid_r4(patient.to_fhir(resident, managing_organization=reference("Organization", "o-1")))
    assert local_only(patient.from_fhir(resource), resident) == resident


@settings(max_examples=150, deadline=None)
@given(readings())
def test_reading_round_trips_through_a_valid_observation(reading: Reading) -> None:
    resource = valid_r4(observation.to_fhir(reading, subject=PATIENT, device=reference("Device", "d-1")))
    back = observation.from_fhir(resource, resident_id=reading.resident_id, device=reading.device)
    assert dataclasses.replace(back, version=reading.version, updated_at=reading.updated_at) == reading


@settings(deadline=None)
@given(allergies)
def test_allergy_round_trips(record: Allergy) -> None:
    resource = valid_r4(allergy.to_fhir(record, patient=PATIENT))
    back = allergy.from_fhir(resource, resident_id=record.resident_id)
    assert (
        dataclasses.replace(back, version=record.version, updated_at=record.updated_at, deleted=record.deleted)
        == record
    )


@settings(deadline=None)
@given(conditions)
def test_condition_round_trips(record: Any) -> None:
    resource = valid_r4(condition.to_fhir(record, subject=PATIENT))
    back = condition.from_fhir(resource, resident_id=record.resident_id)
    assert (
        dataclasses.replace(back, version=record.version, updated_at=record.updated_at, deleted=record.deleted)
        == record
    )


@settings(deadline=None)
@given(procedures)
def test_procedure_round_trips(record: Any) -> None:
    resource = valid_r4(procedure.to_fhir(record, subject=PATIENT))
    back = procedure.from_fhir(resource, resident_id=record.resident_id)
    assert (
        dataclasses.replace(back, version=record.version, updated_at=record.updated_at, deleted=record.deleted)
        == record
    )


@settings(deadline=None)
@given(family_histories)
def test_family_history_round_trips(record: FamilyHistory) -> None:
    resource = valid_r4(family_history.to_fhir(record, patient=PATIENT))
    back = family_history.from_fhir(resource, resident_id=record.resident_id)
    assert (
        dataclasses.replace(back, version=record.version, updated_at=record.updated_at, deleted=record.deleted)
        == record
    )


@settings(deadline=None)
@given(clinics)
def test_clinic_round_trips(clinic: organization.Clinic) -> None:
    assert organization.from_fhir(valid_r4(organization.to_fhir(clinic))) == clinic


@settings(deadline=None)
@given(devices)
def test_device_round_trips(info: DeviceInfo) -> None:
    assert device.from_fhir(valid_r4(device.to_fhir(info))) == info


# What the platform sees ---------------------------------------------------------------------------


def _resident(**changes: Any) -> Resident:
    base = Resident(
        id="0b5c1f36-1111-4b8e-9a57-9f3c1b2d4e5f",
        id_number="11010519491231002X",
        name="欧阳娜娜",
        sex=Sex.FEMALE,
        birth_date=date(1949, 12, 31),
    )
    return dataclasses.replace(base, **changes)


def test_patient_identifiers_carry_the_national_oids_and_the_agent_uuid() -> None:
    resource = patient.to_fhir(_resident(health_record_number="52060100100100001"))
    systems = {i["system"]: i for i in resource["identifier"]}
    assert systems[codes.UUID_SYSTEM]["value"] == "urn:uuid:0b5c1f36-1111-4b8e-9a57-9f3c1b2d4e5f"
    card = systems["urn:oid:2.16.156.10011.1.3"]
    assert card["value"] == "11010519491231002X"
    assert card["type"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
        "code": "NI",
        "display": "National unique individual identifier",
    }
    assert systems["urn:oid:2.16.156.10011.1.2"]["value"] == "52060100100100001"


def test_a_number_kept_despite_its_check_digit_carries_the_reason_on_its_identifier() -> None:
    kept = _resident(id_number="110105194912310021", id_number_override="身份证上就是这个号")
    resource = valid_r4(patient.to_fhir(kept))
    card = next(i for i in resource["identifier"] if i["system"] == codes.ID_CARD_SYSTEM)
    assert card["extension"] == [
        {"url": codes.DEFAULT_NAMESPACE.ext_id_number_override, "valueString": "身份证上就是这个号"}
    ]
    assert patient.from_fhir(resource).id_number_override == "身份证上就是这个号"
    plain = next(i for i in patient.to_fhir(_resident())["identifier"] if i["system"] == codes.ID_CARD_SYSTEM)
    assert "extension" not in plain


@pytest.mark.parametrize(
    ("sex", "gender"),
    [(Sex.MALE, "male"), (Sex.FEMALE, "female"), (Sex.UNKNOWN, "unknown"), (Sex.UNSPECIFIED, "unknown")],
)
def test_gender_is_read_from_gbt_2261_and_the_code_is_kept(sex: Sex, gender: str) -> None:
    resource = patient.to_fhir(_resident(sex=sex))
    assert resource["gender"] == gender
    sex_ext = next(e for e in resource["extension"] if e["url"] == codes.DEFAULT_NAMESPACE.ext_sex)
    assert sex_ext["valueCoding"]["code"] == sex.value
    assert sex_ext["valueCoding"]["system"] == "urn:oid:2.16.156.10011.2.3.3.4"


@pytest.mark.parametrize(
    ("name", "family", "given"),
    [
        ("张三", "张", ["三"]),
        ("欧阳娜娜", "欧阳", ["娜娜"]),
        ("司马光", "司马", ["光"]),
        ("王小明", "王", ["小明"]),
    ],
)
def test_han_names_split_into_family_and_given(name: str, family: str, given: list[str]) -> None:
    human = patient.to_fhir(_resident(name=name))["name"][0]
    assert (human["text"], human["family"], human["given"]) == (name, family, given)


@pytest.mark.parametrize("name", ["阿卜杜拉·买买提", "Li Wei", "欧"])
def test_other_names_are_sent_whole_as_text(name: str) -> None:
    assert patient.to_fhir(_resident(name=name))["name"] == [{"use": "official", "text": name}]


def test_a_patient_made_upstream_without_our_extensions_still_maps() -> None:
    upstream = {
        "resourceType": "Patient",
        "id": "abc",
        "identifier": [{"system": codes.ID_CARD_SYSTEM, "value": "11010519491231002X"}],
        "name": [{"family": "李", "given": ["四"]}],
        "gender": "male",
        "birthDate": "1949-12",
    }
    resident = patient.from_fhir(upstream)
    assert (resident.name, resident.sex, resident.birth_date) == ("李四", Sex.MALE, date(1949, 12, 1))
    assert resident.id == patient.from_fhir(upstream).id  # a stable local id derived from Patient/abc


def _bp(**changes: Any) -> Reading:
    base = Reading(
        id="5f0e8c7a-2222-4c1d-8b9a-7e6f5d4c3b2a",
        resident_id="r-1",
        code="85354-9",
        components=(
            Quantity(code="8480-6", value="120", unit="mm[Hg]"),
            Quantity(code="8462-4", value="80", unit="mm[Hg]"),
            Quantity(code="8478-0", value="93.33", unit="mm[Hg]"),
            Quantity(code="8867-4", value="72.00", unit="/min"),
        ),
        taken_at=datetime(2026, 11, 25, 2, 30, tzinfo=UTC),
        received_at=datetime(2026, 11, 25, 2, 30, 5, 250000, tzinfo=UTC),
    )
    return dataclasses.replace(base, **changes)


def test_blood_pressure_is_a_vital_signs_panel_with_ucum_components() -> None:
    resource = observation.to_fhir(_bp(), subject=PATIENT, device=reference("Device", "d-1"))
    assert resource["meta"]["profile"] == ["http://hl7.org/fhir/StructureDefinition/bp"]
    assert resource["category"][0]["coding"][0]["code"] == "vital-signs"
    assert resource["code"]["coding"][0] == {"system": codes.LOINC, "code": "85354-9"}
    assert [c["code"]["coding"][0]["code"] for c in resource["component"]] == [
        "8480-6",
        "8462-4",
        "8478-0",
        "8867-4",
    ]
    systolic = resource["component"][0]["valueQuantity"]
    assert (systolic["system"], systolic["code"], systolic["unit"]) == (codes.UCUM, "mm[Hg]", "mm[Hg]")
    assert (resource["effectiveDateTime"], resource["issued"]) == (
        "2026-11-25T02:30:00.000Z",
        "2026-11-25T02:30:05.250Z",
    )
    assert resource["device"] == {"reference": "Device/d-1"}
    assert resource["identifier"] == [
        {"system": codes.UUID_SYSTEM, "value": "urn:uuid:5f0e8c7a-2222-4c1d-8b9a-7e6f5d4c3b2a"}
    ]
    assert "valueQuantity" not in resource


def test_device_precision_reaches_the_wire_with_its_trailing_zeros() -> None:
    body = wire.dumps(observation.to_fhir(_bp(), subject=PATIENT)).decode()
    assert '"value":72.00,' in body
    assert '"value":93.33,' in body
    assert '"value":120,' in body


def test_trailing_zeros_come_back_from_a_server_that_reads_floats() -> None:
    resource = observation.to_fhir(_bp(), subject=PATIENT)
    resource["component"][3]["valueQuantity"]["value"] = 72.0  # what SEKMET echoes
    back = observation.from_fhir(resource, resident_id="r-1")
    assert back.components[3].value == "72.00"


def test_a_value_kept_outside_the_plausible_range_carries_the_reason() -> None:
    kept = dataclasses.replace(_bp(), extreme_reason="复测两次, 袖带已检查")
    resource = valid_r4(observation.to_fhir(kept, subject=PATIENT))
    reason = {"url": codes.DEFAULT_NAMESPACE.ext_extreme_reason, "valueString": "复测两次, 袖带已检查"}
    assert reason in resource["extension"]
    assert observation.from_fhir(resource, resident_id="r-1").extreme_reason == "复测两次, 袖带已检查"
    plain = observation.to_fhir(_bp(), subject=PATIENT)
    assert all(e["url"] != codes.DEFAULT_NAMESPACE.ext_extreme_reason for e in plain["extension"])


@pytest.mark.parametrize("value", [Decimal("1E+999"), Decimal("1E+12"), 10**15, Decimal("1E-999")])
def test_a_pulled_value_no_measurement_can_have_is_refused(value: Decimal | int) -> None:
    resource = observation.to_fhir(_bp(), subject=PATIENT)
    resource["component"][0]["valueQuantity"]["value"] = value
    del resource["component"][0]["valueQuantity"]["_value"]
    with pytest.raises(PlatformProtocolError, match="not usable"):
        observation.from_fhir(resource, resident_id="r-1")


def test_glucose_is_laboratory_and_a_single_value() -> None:
    reading = _bp(code="14743-9", components=(Quantity(code="14743-9", value="5.60", unit="mmol/L"),))
    resource = observation.to_fhir(reading, subject=PATIENT)
    assert resource["category"][0]["coding"][0]["code"] == "laboratory"
    assert "meta" not in resource
    assert resource["valueQuantity"]["value"] == Decimal("5.60")


def test_unassigned_reading_claims_no_vital_signs_profile() -> None:
    resource = observation.to_fhir(_bp(resident_id=None))
    assert "meta" not in resource
    assert "subject" not in resource


def test_conditional_reference_finds_the_patient_by_the_agent_uuid() -> None:
    record = "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert conditional_reference("Patient", record) == {
        "reference": f"Patient?identifier=urn:ietf:rfc:3986|urn:uuid:{record}"
    }


def test_family_relations_are_v3_role_codes() -> None:
    codes_seen = {
        relation: family_history.to_fhir(
            FamilyHistory(id="f", resident_id="r", relation=relation, condition="高血压"), patient=PATIENT
        )["relationship"]["coding"][0]["code"]
        for relation in Relation
    }
    assert codes_seen == {
        Relation.FATHER: "FTH",
        Relation.MOTHER: "MTH",
        Relation.SIBLING: "SIB",
        Relation.CHILD: "CHILD",
    }


def test_condition_codes_icd10_and_the_national_form_code() -> None:
    resource = condition.to_fhir(
        Condition(id="c", resident_id="r", name="高血压", code="2", icd10="I10", diagnosed_on=date(2019, 5, 3)),
        subject=PATIENT,
    )
    assert resource["code"]["coding"] == [
        {"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"},
        {"system": codes.DEFAULT_NAMESPACE.cv02_10_005, "code": "2", "display": "高血压"},
    ]
    assert resource["onsetDateTime"] == "2019-05-03"


def test_an_allergy_category_fhir_does_not_know_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="category"):
        allergy.to_fhir(Allergy(id="a", resident_id="r", substance="青霉素", category="drug"), patient=PATIENT)


def test_a_naive_time_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="time zone"):
        observation.to_fhir(_bp(taken_at=datetime(2026, 1, 1, 8, 0)))


# Whatever the platform sends, from_fhir raises nothing but PlatformProtocolError --------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.decimals(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
KEYS = [
    "identifier", "name", "gender", "birthDate", "extension", "telecom", "address", "active", "status",
    "code",
    "valueQuantity", "component", "effectiveDateTime", "issued", "category", "clinicalStatus", "reaction",
    "relationship", "condition", "onsetDateTime", "performedDateTime", "note", "deviceName", "serialNumber",
    "specialization", "recordedDate", "criticality", "id",
]  # fmt: skip
MAPPERS = {
    "Patient": patient.from_fhir,
    "Observation": lambda r: observation.from_fhir(r, resident_id="r"),
    "AllergyIntolerance": lambda r: allergy.from_fhir(r, resident_id="r"),
    "Condition": lambda r: condition.from_fhir(r, resident_id="r"),
    "Procedure": lambda r: procedure.from_fhir(r, resident_id="r"),
    "FamilyMemberHistory": lambda r: family_history.from_fhir(r, resident_id="r"),
    "Organization": organization.from_fhir,
    "Device": device.from_fhir,
}


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(sorted(MAPPERS)),
    fields=st.dictionaries(st.sampled_from(KEYS), json_values, max_size=8),
)
def test_from_fhir_raises_only_protocol_errors_on_garbage(kind: str, fields: dict[str, Any]) -> None:
    with contextlib.suppress(PlatformProtocolError):
        MAPPERS[kind]({"resourceType": kind, **fields})


@settings(max_examples=100, deadline=None)
@given(kind=st.sampled_from(sorted(MAPPERS)), example=st.data())
def test_from_fhir_survives_damaged_real_resources(kind: str, example: st.DataObject) -> None:
    resource = _real_example(kind)
    key = example.draw(st.sampled_from(sorted(resource)))
    resource[key] = example.draw(json_values)
    with contextlib.suppress(PlatformProtocolError):
        MAPPERS[kind](resource)


def _real_example(kind: str) -> dict[str, Any]:
    made: dict[str, Any] = {
        "Patient": lambda: patient.to_fhir(_resident(phone="13800000000", village="坝盘村", ethnicity="06")),
        "Observation": lambda: observation.to_fhir(_bp(), subject=PATIENT),
        "AllergyIntolerance": lambda: allergy.to_fhir(
            Allergy(id="a", resident_id="r", substance="青霉素", code="2", reaction="皮疹"), patient=PATIENT
        ),
        "Condition": lambda: condition.to_fhir(
            Condition(id="c", resident_id="r", name="糖尿病", code="3"),
            subject=PATIENT,
        ),
        "Procedure": lambda: procedure.to_fhir(
            Procedure(
                id="p",
                resident_id="r",
                category=ProcedureCategory.SURGERY,
                name="阑尾切除",
                performed_on=date(2001, 1, 1),
            ),
            subject=PATIENT,
        ),
        "FamilyMemberHistory": lambda: family_history.to_fhir(
            FamilyHistory(id="f", resident_id="r", relation=Relation.MOTHER, condition="高血压", code="2"),
            patient=PATIENT,
        ),
        "Organization": lambda: organization.to_fhir(organization.Clinic(code="C1", name="坝盘村卫生室")),
        "Device": lambda: device.to_fhir(DeviceInfo(id="ble:AA", model="HEM-7600T", serial="1", protocol="ble")),
    }
    return wire.loads(wire.dumps(made[kind]()))  # type: ignore[no-any-return]
