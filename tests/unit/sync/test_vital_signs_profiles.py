"""Every Observation the mapper makes of a reading the store can hold meets the FHIR R4 vital-signs profiles."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from vitalsigns import problems

from clinic_agent.core.model import Quantity, Reading, ReadingStatus
from drivers.terminology import CONCEPTS
from sync.engine import mapping
from sync.fhir import bundle, observation, wire
from sync.fhir.codes import DEFAULT_NAMESPACE, UUID_SYSTEM
from sync.fhir.common import entry_url, reference

PATIENT = reference("Patient", "p-1")
AT = datetime(2026, 11, 25, 2, 30, tzinfo=UTC)
VALUES = {
    "%": "97",
    "Cel": "36.6",
    "[degF]": "98.2",
    "kg": "61.5",
    "g": "3400",
    "[lb_av]": "135.6",
    "cm": "158.0",
    "m": "1.58",
    "[in_i]": "62.2",
    "kg/m2": "24.6",
    "/min": "72",
    "mm[Hg]": "128",
    "kPa": "17.1",
}


def _reading(code: str, *parts: tuple[str, str], **changes: Any) -> Reading:
    components = tuple(Quantity(code=c, value=VALUES[u], unit=u) for c, u in parts)
    base = Reading(
        id="5f0e8c7a-2222-4c1d-8b9a-7e6f5d4c3b2a",
        resident_id="r-1",
        code=code,
        components=components,
        taken_at=AT,
        received_at=AT + timedelta(seconds=5),
    )
    return dataclasses.replace(base, **changes)


def _kinds() -> list[Reading]:
    """One reading of every vital-sign code in every unit devices and hand entry may use, and the BP panels."""
    found = [_reading(c.loinc, *((c.loinc, u),)) for c in CONCEPTS if c.vital_sign for u in c.units]
    found += [_reading("8478-0", ("8478-0", "mm[Hg]")), _reading("8280-0", ("8280-0", "cm"))]
    for unit in ("mm[Hg]", "kPa"):
        halves = (("8480-6", unit), ("8462-4", unit))
        found += [
            _reading("85354-9", *halves),
            _reading("85354-9", *halves, ("8478-0", unit), ("8867-4", "/min")),
            _reading("85354-9", *halves, ("8867-4", "/min"), status=ReadingStatus.ENTERED_IN_ERROR),
        ]
    return found


def _r4(resource: dict[str, Any]) -> dict[str, Any]:
    on_wire: dict[str, Any] = wire.loads(wire.dumps(resource))
    get_fhir_model_class("Observation").model_validate(on_wire)
    return on_wire


@pytest.mark.parametrize("reading", _kinds(), ids=lambda r: f"{r.code}-{'+'.join(q.unit for q in r.components)}")
def test_every_vital_sign_meets_its_profile_and_comes_back_as_it_was(reading: Reading) -> None:
    resource = _r4(observation.to_fhir(reading, subject=PATIENT))
    assert problems(resource) == []
    assert resource["meta"]["profile"][0].startswith("http://hl7.org/fhir/StructureDefinition/")
    back = observation.from_fhir(resource, resident_id="r-1")
    assert back.components == reading.components  # kPa and m come back as measured, not as sent
    rate = observation.heart_rate(reading, subject=PATIENT)
    if reading.code == "85354-9" and any(q.code == "8867-4" for q in reading.components):
        assert rate is not None
        assert problems(_r4(rate)) == []
        assert rate["meta"]["profile"] == ["http://hl7.org/fhir/StructureDefinition/heartrate"]
        assert rate["status"] == reading.status.value
        assert observation.is_companion(rate)
        assert not observation.is_companion(resource)
    else:
        assert rate is None


def test_a_unit_no_profile_allows_is_sent_converted_with_the_measured_value_kept() -> None:
    resource = observation.to_fhir(_reading("85354-9", ("8480-6", "kPa"), ("8462-4", "kPa")), subject=PATIENT)
    systolic = resource["component"][0]["valueQuantity"]
    assert (str(systolic["value"]), systolic["code"]) == ("128.3", "mm[Hg]")
    assert systolic["extension"][0]["url"] == DEFAULT_NAMESPACE.ext_original_quantity
    assert str(systolic["extension"][0]["valueQuantity"]["value"]) == "17.1"
    height = observation.to_fhir(_reading("8302-2", ("8302-2", "m")), subject=PATIENT)["valueQuantity"]
    assert (str(height["value"]), height["code"]) == ("158", "cm")


def test_lone_halves_are_vital_signs_not_laboratory() -> None:
    for code in ("8480-6", "8462-4"):
        resource = observation.to_fhir(_reading(code, (code, "mm[Hg]")), subject=PATIENT)
        assert resource["category"][0]["coding"][0]["code"] == "vital-signs"
        assert problems(resource) == []


def _halves(gap: timedelta = timedelta(seconds=40), **changes: Any) -> tuple[Reading, Reading]:
    systolic = _reading("8480-6", ("8480-6", "mm[Hg]"), id="11111111-1111-4111-8111-111111111111", display="收缩压")
    diastolic = _reading("8462-4", ("8462-4", "mm[Hg]"), id="22222222-2222-4222-8222-222222222222", taken_at=AT + gap)
    return systolic, dataclasses.replace(diastolic, **changes)


def test_halves_taken_together_go_up_as_one_bp_panel_read_back_as_the_systolic_half() -> None:
    systolic, diastolic = _halves()
    assert observation.pairs([diastolic, systolic]) == {systolic.id: diastolic}
    panel = _r4(observation.to_fhir(systolic, subject=PATIENT, partner=diastolic))
    assert problems(panel) == []
    assert panel["code"]["coding"][0]["code"] == "85354-9"
    assert [i["value"] for i in panel["identifier"]] == [f"urn:uuid:{systolic.id}", f"urn:uuid:{diastolic.id}"]
    assert all(i["system"] == UUID_SYSTEM for i in panel["identifier"])
    assert mapping.comparable(observation.from_fhir(panel, resident_id="r-1")) == mapping.comparable(systolic)


@pytest.mark.parametrize(
    "changes",
    [
        {"gap": timedelta(seconds=61)},
        {"resident_id": "r-2"},
        {"source": "ble"},
        {"status": ReadingStatus.ENTERED_IN_ERROR},
        {"extreme_reason": "复测"},
    ],
)
def test_halves_not_taken_together_are_not_paired(changes: dict[str, Any]) -> None:
    gap = changes.pop("gap", timedelta(seconds=10))
    systolic, diastolic = _halves(gap, **changes)
    assert observation.pairs([systolic, diastolic]) == {}


def test_each_half_pairs_once_with_the_nearest() -> None:
    systolic, near = _halves(timedelta(seconds=5))
    far = dataclasses.replace(near, id="33333333-3333-4333-8333-333333333333", taken_at=AT + timedelta(seconds=50))
    assert observation.pairs([systolic, far, near]) == {systolic.id: near}


def test_heart_rate_goes_in_the_same_bundle_created_updated_and_deleted_by_its_own_identifier() -> None:
    reading = _reading("85354-9", ("8480-6", "mm[Hg]"), ("8462-4", "mm[Hg]"), ("8867-4", "/min"))
    resource = observation.to_fhir(reading, subject=PATIENT)
    cid = observation.companion_id(reading.id)
    query = f"identifier=urn:ietf:rfc:3986|urn:uuid:{cid}"

    create = mapping.companion_requests(reading, bundle.create(resource, reading.id), create_by="conditional-create")
    assert [(e.method, e.url, e.if_none_exist) for e in create] == [("POST", "Observation", query)]
    assert create[0].resource is not None
    assert create[0].resource["derivedFrom"][0]["reference"] == entry_url(reading.id)
    again = mapping.companion_requests(reading, bundle.create(resource, reading.id), create_by="conditional-create")
    assert again == create  # a replay asks for the same resource: found, not made twice

    update = mapping.companion_requests(
        reading, bundle.put(resource, "o-1", version_id="3", record_id=reading.id), create_by="conditional-create"
    )
    assert [(e.method, e.url) for e in update] == [("PUT", f"Observation?{query}")]
    delete = mapping.companion_requests(reading, bundle.delete("Observation", "o-1"), create_by="conditional-create")
    assert [(e.method, e.url) for e in delete] == [("DELETE", f"Observation?{query}")]
    plain = _reading("85354-9", ("8480-6", "mm[Hg]"), ("8462-4", "mm[Hg]"))
    assert mapping.companion_requests(plain, bundle.create(resource, plain.id), create_by="conditional-create") == []
