"""The doctor's day worked out from records: programmes, follow-ups due, alert codes and the follow-up prefill."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from clinic_agent.core import clinic_day, rules
from clinic_agent.core.model import (
    ClinicalStatus,
    Condition,
    FollowUp,
    KeyPopulation,
    Programme,
    Quantity,
    Reading,
    ReadingStatus,
)

TODAY = date(2026, 12, 3)
NOON = datetime(2026, 12, 3, 12, 0, tzinfo=UTC).astimezone()


def _reading(
    id_: str, *values: tuple[str, str, str], at: datetime = NOON, status: ReadingStatus = ReadingStatus.FINAL
) -> Reading:
    components = tuple(Quantity(code=code, value=value, unit=unit) for code, value, unit in values)
    return Reading(
        id=id_,
        resident_id="r-1",
        code=components[0].code,
        components=components,
        taken_at=at,
        received_at=at,
        status=status,
    )


def test_a_diagnosis_puts_a_resident_in_a_programme_by_code_or_icd10() -> None:
    by_code = Condition(id="c1", resident_id="r-1", name="高血压", code="2")
    by_icd = Condition(id="c2", resident_id="r-2", name="2 型糖尿病", icd10="e11.9")
    other = Condition(id="c3", resident_id="r-3", name="冠心病", code="4", icd10="I25")
    assert clinic_day.in_programme(by_code, Programme.HYPERTENSION)
    assert clinic_day.in_programme(by_icd, Programme.DIABETES)
    assert not clinic_day.in_programme(by_icd, Programme.HYPERTENSION)
    assert not any(clinic_day.in_programme(other, p) for p in Programme)


def test_members_come_from_flags_and_active_diagnoses_only() -> None:
    flags = {"r-1": frozenset({KeyPopulation.HYPERTENSION}), "r-2": frozenset({KeyPopulation.ELDERLY})}
    conditions = [
        Condition(id="c1", resident_id="r-3", name="糖尿病", code="3"),
        Condition(id="c2", resident_id="r-4", name="高血压", code="2", status=ClinicalStatus.RESOLVED),
    ]
    members = clinic_day.programme_members(flags, conditions)
    assert members == {Programme.HYPERTENSION: {"r-1"}, Programme.DIABETES: {"r-3"}}


def test_follow_ups_due_within_the_horizon_soonest_first() -> None:
    members = {Programme.HYPERTENSION: {"r-b", "r-a", "r-later"}, Programme.DIABETES: set()}
    recent = FollowUp(
        id="v1", resident_id="r-later", programme=Programme.HYPERTENSION, visit_date=TODAY - timedelta(days=5)
    )
    due = clinic_day.due_follow_ups(members, {"r-later": [recent]}, TODAY, rules.DEFAULT_THRESHOLDS, days_ahead=7)
    assert [resident for resident, _ in due] == ["r-a", "r-b"]  # never visited: due now, by id; r-later not yet
    assert all(d.programme is Programme.HYPERTENSION and d.due <= TODAY for _, d in due)


def test_alert_codes_name_the_rule_a_critical_reading_breaks() -> None:
    limits = rules.DEFAULT_THRESHOLDS
    critical = _reading("x", (rules.SYSTOLIC, "190", "mm[Hg]"), (rules.DIASTOLIC, "100", "mm[Hg]"))
    spo2 = _reading("y", (rules.SPO2[0], "85", "%"))
    calm = _reading("z", (rules.SYSTOLIC, "120", "mm[Hg]"), (rules.DIASTOLIC, "80", "mm[Hg]"))
    assert clinic_day.alert_codes(critical, limits) == ["H2"]
    assert clinic_day.alert_codes(spo2, limits) == ["spo2"]
    assert clinic_day.alert_codes(calm, limits) == []


def test_prefill_takes_todays_final_readings_newest_first_and_works_out_the_bmi() -> None:
    newest = _reading("new", (rules.SYSTOLIC, "150", "mm[Hg]"), (rules.DIASTOLIC, "95", "mm[Hg]"))
    older = _reading("old", (rules.SYSTOLIC, "140", "mm[Hg]"), (clinic_day.WEIGHT, "62.5", "kg"))
    wrong = _reading("bad", (clinic_day.HEART_RATE, "200", "/min"), status=ReadingStatus.ENTERED_IN_ERROR)
    yesterday = _reading("y", (clinic_day.HEART_RATE, "70", "/min"), at=NOON - timedelta(days=1))
    fields, sources = clinic_day.prefill_fields([newest, older, wrong, yesterday], TODAY, Decimal("155"))
    assert fields == {"sbp": 150, "dbp": 95, "weight_kg": "62.5", "bmi": str(rules.bmi(Decimal("62.5"), Decimal(155)))}
    assert sources == {"sbp": "new", "dbp": "new", "weight_kg": "old", "bmi": "old"}
