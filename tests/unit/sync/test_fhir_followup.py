"""Follow-ups and notes: record -> resources -> record compares equal, and every resource is valid R4."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import pytest
from fhir_strategies import dates, ids, moments, texts
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fhir_mappers import valid_r4

from clinic_agent.core.model import FollowUp, Medication, Note, Programme
from sync.engine.mapping import comparable, derived, from_resource, resource_type, to_resource
from sync.errors import MappingError
from sync.fhir import codes, followup, questionnaire
from sync.fhir.common import entry_url, reference

PATIENT = reference("Patient", "p-1")
CLINIC = reference("Organization", "o-1")
RESIDENT = "6f1c1f4e-43c5-4f55-9d5c-0d2f3b7b9a11"

decimals = st.builds(
    lambda whole, places, frac: f"{whole}.{frac:0{places}d}"[: len(str(whole)) + 1 + places] if places else str(whole),
    st.integers(0, 300),
    st.integers(0, 2),
    st.integers(0, 99),
)
small = st.none() | st.integers(0, 400)
codes_1_3 = st.none() | st.sampled_from(["1", "2", "3"])
medications = st.builds(Medication, name=texts, times_per_day=st.none() | st.integers(1, 6), dose=st.just("") | texts)


@st.composite
def follow_ups(draw: st.DrawFn, programme: Programme | None = None) -> FollowUp:
    """Any follow-up a doctor can record, with only the fields its programme's form has."""
    chosen = programme or draw(st.sampled_from(Programme))
    diabetes = chosen is Programme.DIABETES

    def only(strategy: Any, empty: Any = None) -> Any:
        return draw(strategy) if diabetes else empty

    return FollowUp(
        id=draw(ids),
        resident_id=RESIDENT,
        programme=chosen,
        visit_date=draw(dates),
        method=draw(st.sampled_from(["1", "2", "3"])),
        symptoms=tuple(draw(st.lists(st.sampled_from([str(n) for n in range(1, 10)]), max_size=3, unique=True))),
        other_symptoms=draw(st.just("") | texts),
        sbp=draw(small),
        dbp=draw(small),
        weight_kg=draw(st.none() | decimals),
        target_weight_kg=draw(st.none() | decimals),
        bmi=draw(st.none() | decimals),
        target_bmi=draw(st.none() | decimals),
        heart_rate=draw(small),
        foot_pulse=only(codes_1_3),
        smoking_per_day=draw(small),
        target_smoking_per_day=draw(small),
        alcohol_liang_per_day=draw(st.none() | decimals),
        target_alcohol_liang_per_day=draw(st.none() | decimals),
        exercise_times_per_week=draw(small),
        exercise_minutes=draw(small),
        target_exercise_times_per_week=draw(small),
        target_exercise_minutes=draw(small),
        salt_intake=draw(st.none() | st.sampled_from(["light", "medium", "heavy"])),
        target_salt_intake=draw(st.none() | st.sampled_from(["light", "medium", "heavy"])),
        staple_food_g=only(small),
        target_staple_food_g=only(small),
        psychological=draw(codes_1_3),
        compliance=draw(codes_1_3),
        fasting_glucose=only(st.none() | decimals),
        hba1c=only(st.none() | decimals),
        hba1c_date=only(st.none() | dates),
        tests=draw(st.just("") | texts),
        adherence=draw(codes_1_3),
        adverse_reaction=draw(st.just("") | texts),
        hypoglycaemia=only(codes_1_3),
        classification=draw(st.none() | st.sampled_from(["1", "2", "3", "4"])),
        medications=tuple(draw(st.lists(medications, max_size=3))),
        insulin=only(st.just("") | texts, ""),
        referral_reason=draw(st.just("") | texts),
        referral_to=draw(st.just("") | texts),
        next_visit=draw(st.none() | dates),
        doctor=draw(st.just("") | texts),
        deleted=draw(st.booleans()),
    )


notes = st.builds(
    Note,
    id=ids,
    resident_id=st.just(RESIDENT),
    text=st.text(min_size=1, max_size=200).filter(lambda t: t.strip() == t and t.strip()),
    written_at=moments,
    author=st.just("") | texts,
    deleted=st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(follow_ups())
def test_a_follow_up_round_trips_through_a_valid_questionnaire_response(record: FollowUp) -> None:
    assert resource_type(record) == "QuestionnaireResponse"
    resource = valid_r4(to_resource(record, subject=PATIENT, organization=CLINIC))
    back = from_resource(resource, resident_id=RESIDENT)
    assert comparable(back) == comparable(record)
    assert back.id == record.id


@settings(max_examples=100, deadline=None)
@given(follow_ups())
def test_the_visit_and_its_measured_values_are_valid_r4_and_point_at_the_visit(record: FollowUp) -> None:
    parts = followup.parts(record, subject=PATIENT, organization=CLINIC)
    encounter = valid_r4(parts[0].resource)
    assert encounter["resourceType"] == "Encounter"
    assert encounter["serviceProvider"] == CLINIC
    assert encounter["status"] == ("entered-in-error" if record.deleted else "finished")
    assert encounter["period"]["start"] == record.visit_date.isoformat()
    for part in parts[1:]:
        resource = valid_r4(part.resource)
        assert resource["encounter"] == {"reference": entry_url(parts[0].record_id)}
        assert resource["derivedFrom"] == [{"reference": entry_url(record.id)}]
        assert resource["status"] == ("entered-in-error" if record.deleted else "final")
        assert derived({**resource, "derivedFrom": [{"reference": "QuestionnaireResponse/q-1"}]})
    # every part has an id of its own, the same every time (a replay finds it)
    again = followup.parts(record, subject=PATIENT, organization=CLINIC)
    assert [p.record_id for p in again] == [p.record_id for p in parts]
    assert len({p.record_id for p in parts} | {record.id}) == len(parts) + 1


def test_measured_values_are_vital_signs_with_their_profiles() -> None:
    record = FollowUp(
        id="2b8c4f43-2f8e-4b8c-9d1e-5a7f1e9e0c01",
        resident_id=RESIDENT,
        programme=Programme.DIABETES,
        visit_date=date(2026, 11, 30),
        sbp=150,
        dbp=92,
        heart_rate=78,
        weight_kg="65.50",
        bmi="24.1",
        fasting_glucose="7.8",
        hba1c="7.2",
        hba1c_date=date(2026, 11, 2),
    )
    by_name = {p.name: p.resource for p in followup.parts(record, subject=PATIENT, organization=CLINIC)}
    assert by_name["encounter"]["class"]["code"] == "AMB"
    bp = by_name["blood-pressure"]
    assert bp["meta"]["profile"] == ["http://hl7.org/fhir/StructureDefinition/bp"]
    assert [c["code"]["coding"][0]["code"] for c in bp["component"]] == [codes.SYSTOLIC, codes.DIASTOLIC]
    assert by_name["heart-rate"]["meta"]["profile"] == ["http://hl7.org/fhir/StructureDefinition/heartrate"]
    assert str(by_name["body-weight"]["valueQuantity"]["value"]) == "65.50"
    assert by_name["fasting-glucose"]["category"][0]["coding"][0]["code"] == "laboratory"
    assert by_name["hba1c"]["effectiveDateTime"] == "2026-11-02"
    assert by_name["blood-pressure"]["effectiveDateTime"] == "2026-11-30"


def test_the_form_names_its_questionnaire_and_answers_by_field_name() -> None:
    record = FollowUp(
        id="2b8c4f43-2f8e-4b8c-9d1e-5a7f1e9e0c02",
        resident_id=RESIDENT,
        programme=Programme.HYPERTENSION,
        visit_date=date(2026, 11, 30),
        method="2",
        sbp=150,
        dbp=92,
        classification="2",
        medications=(Medication(name="硝苯地平缓释片", times_per_day=2, dose="10mg"),),
    )
    resource = to_resource(record, subject=PATIENT, organization=CLINIC)
    assert (
        resource["questionnaire"]
        == f"{codes.DEFAULT_NAMESPACE_BASE}/Questionnaire/hypertension-follow-up|{questionnaire.VERSION}"
    )
    answers = {item["linkId"]: item for item in resource["item"]}
    assert answers["sbp"]["answer"] == [{"valueInteger": 150}]
    assert answers["classification"]["answer"][0]["valueCoding"]["display"] == "控制不满意"
    assert answers["medications"]["item"][0]["item"][0]["answer"] == [{"valueString": "硝苯地平缓释片"}]
    assert resource["encounter"] == {"reference": entry_url(followup.part_id(record.id, "encounter"))}


@pytest.mark.parametrize("programme", list(Programme))
def test_each_questionnaire_is_valid_r4_and_has_an_item_for_every_field_of_its_form(programme: Programme) -> None:
    resource = valid_r4(questionnaire.to_fhir(programme))
    link_ids = {item["linkId"] for item in resource["item"]}
    on_form = {f.name for f in dataclasses.fields(FollowUp)} - {"id", "resident_id", "programme", "version"}
    on_form -= {"updated_at", "deleted"}
    diabetes_only = {i.link_id for i in questionnaire.ITEMS if i.programmes == questionnaire.DIABETES}
    expected = on_form if programme is Programme.DIABETES else on_form - diabetes_only
    assert link_ids == expected
    assert resource["url"] == questionnaire.canonical(programme)
    assert questionnaire.programme_of(questionnaire.versioned(programme)) is programme


def test_a_diabetes_field_on_a_hypertension_form_is_not_sent_silently() -> None:
    record = FollowUp(
        id="2b8c4f43-2f8e-4b8c-9d1e-5a7f1e9e0c03",
        resident_id=RESIDENT,
        programme=Programme.HYPERTENSION,
        visit_date=date(2026, 11, 30),
        fasting_glucose="7.1",
    )
    with pytest.raises(MappingError, match="fasting_glucose"):
        to_resource(record, subject=PATIENT, organization=CLINIC)


def test_a_value_that_is_not_a_number_is_a_mapping_error() -> None:
    record = FollowUp(
        id="2b8c4f43-2f8e-4b8c-9d1e-5a7f1e9e0c04",
        resident_id=RESIDENT,
        programme=Programme.HYPERTENSION,
        visit_date=date(2026, 11, 30),
        weight_kg="sixty",
    )
    with pytest.raises(MappingError, match="weight_kg"):
        to_resource(record, subject=PATIENT, organization=CLINIC)


def test_trailing_zeros_come_back_from_a_server_that_reads_floats() -> None:
    record = FollowUp(
        id="2b8c4f43-2f8e-4b8c-9d1e-5a7f1e9e0c05",
        resident_id=RESIDENT,
        programme=Programme.HYPERTENSION,
        visit_date=date(2026, 11, 30),
        weight_kg="65.50",
    )
    resource = to_resource(record, subject=PATIENT, organization=CLINIC)
    for item in resource["item"]:
        if item["linkId"] == "weight_kg":
            item["answer"][0]["valueQuantity"]["value"] = 65.5
    assert from_resource(resource, resident_id=RESIDENT) == record


@settings(max_examples=150, deadline=None)
@given(notes)
def test_a_note_round_trips_through_a_valid_document_reference(record: Note) -> None:
    assert resource_type(record) == "DocumentReference"
    resource = valid_r4(to_resource(record, subject=PATIENT, organization=CLINIC))
    assert resource["status"] == ("entered-in-error" if record.deleted else "current")
    back = from_resource(resource, resident_id=RESIDENT)
    assert comparable(back) == comparable(record)
    assert back.id == record.id
