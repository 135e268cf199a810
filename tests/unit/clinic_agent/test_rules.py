"""Follow-up rules of the national forms: classification, next visit, BMI bands, configurable thresholds."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinic_agent.core.model import FollowUp, Programme, new_id
from clinic_agent.core.rules import (
    Action,
    BmiBand,
    Classification,
    Thresholds,
    VisitFacts,
    assess_visit,
    bmi,
    bmi_band,
    decimal_or_none,
    next_due,
)

HT, DM = Programme.HYPERTENSION, Programme.DIABETES
TODAY = date(2026, 5, 20)


def visit(programme: Programme = HT, days_ago: int = 30, **fields: object) -> FollowUp:
    base: dict[str, object] = {
        "id": new_id(),
        "resident_id": new_id(),
        "programme": programme,
        "visit_date": TODAY - timedelta(days=days_ago),
    }
    base.update(fields)
    return FollowUp(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sbp", "dbp", "action", "classification", "rule"),
    [
        (128, 82, Action.ROUTINE, Classification.CONTROLLED, "H3"),
        (139, 89, Action.ROUTINE, Classification.CONTROLLED, "H3"),
        (140, 80, Action.RECHECK, Classification.UNCONTROLLED, "H4"),
        (130, 90, Action.RECHECK, Classification.UNCONTROLLED, "H4"),
        (180, 95, Action.EMERGENCY, Classification.UNCONTROLLED, "H2"),
        (150, 110, Action.EMERGENCY, Classification.UNCONTROLLED, "H2"),
    ],
)
def test_hypertension_visits_are_classified_as_the_2017_specification_says(
    sbp: int, dbp: int, action: Action, classification: Classification, rule: str
) -> None:
    assessment = assess_visit(VisitFacts(HT, sbp=sbp, dbp=dbp))
    assert (assessment.action, assessment.classification, assessment.rules[0]) == (action, classification, rule)
    assert assessment.next_visit_days == (90 if action is Action.ROUTINE else 14)


def test_two_uncontrolled_visits_in_a_row_mean_referral_h5() -> None:
    previous = [visit(sbp=152, dbp=94)]
    assessment = assess_visit(VisitFacts(HT, sbp=148, dbp=88), previous)
    assert (assessment.action, assessment.rules) == (Action.REFER, ("H5",))
    after_good = assess_visit(VisitFacts(HT, sbp=148, dbp=88), [visit(sbp=130, dbp=80), visit(sbp=160, dbp=99)])
    assert after_good.action is Action.RECHECK


def test_an_adverse_reaction_or_complication_changes_the_classification() -> None:
    adr = assess_visit(VisitFacts(HT, sbp=130, dbp=80, adverse_reaction=True))
    assert (adr.classification, adr.action) == (Classification.ADVERSE_REACTION, Action.RECHECK)
    complication = assess_visit(VisitFacts(HT, sbp=130, dbp=80, complication=True))
    assert (complication.classification, complication.action) == (Classification.COMPLICATION, Action.REFER)


@pytest.mark.parametrize(
    ("fbg", "action", "rule"),
    [
        ("6.9", Action.ROUTINE, "D3"),
        ("7.0", Action.RECHECK, "D4"),
        ("16.7", Action.EMERGENCY, "D2"),
        ("3.9", Action.EMERGENCY, "D6"),
        ("4.0", Action.ROUTINE, "D3"),
    ],
)
def test_diabetes_visits_follow_d2_to_d6(fbg: str, action: Action, rule: str) -> None:
    assessment = assess_visit(VisitFacts(DM, fasting_glucose=Decimal(fbg)))
    assert (assessment.action, assessment.rules[0]) == (action, rule)
    assert assessment.red == (action is Action.EMERGENCY)


def test_diabetes_emergency_signs_heart_rate_and_temperature() -> None:
    assert assess_visit(VisitFacts(DM, fasting_glucose=Decimal("6.0"), heart_rate=101)).action is Action.EMERGENCY
    assert assess_visit(VisitFacts(DM, fasting_glucose=Decimal("6.0"), heart_rate=100)).action is Action.ROUTINE
    assert assess_visit(VisitFacts(DM, temperature=Decimal("39.5"))).action is Action.EMERGENCY
    hypo = assess_visit(VisitFacts(DM, fasting_glucose=Decimal("5.0"), hypoglycaemia="2"))
    assert (hypo.action, hypo.rules) == (Action.RECHECK, ("D6",))
    consecutive = assess_visit(VisitFacts(DM, fasting_glucose=Decimal("8.1")), [visit(DM, fasting_glucose="7.4")])
    assert (consecutive.action, consecutive.rules) == (Action.REFER, ("D5",))


def test_thresholds_come_from_configuration() -> None:
    strict = Thresholds(systolic_control=Decimal(130), diastolic_control=Decimal(80))
    assert assess_visit(VisitFacts(HT, sbp=135, dbp=78)).action is Action.ROUTINE
    assert assess_visit(VisitFacts(HT, sbp=135, dbp=78), limits=strict).action is Action.RECHECK


def test_next_due_uses_the_forms_date_then_the_rules_interval() -> None:
    assert next_due(HT, [], TODAY).due == TODAY  # never seen: due now (H1)
    planned = visit(days_ago=10, sbp=120, dbp=80, next_visit=TODAY + timedelta(days=5))
    assert next_due(HT, [planned], TODAY).due == TODAY + timedelta(days=5)
    routine = next_due(HT, [visit(days_ago=100, sbp=120, dbp=80)], TODAY)
    assert (routine.due, routine.rule, routine.overdue(TODAY)) == (TODAY - timedelta(days=10), "H3", True)
    recheck = next_due(HT, [visit(days_ago=20, sbp=150, dbp=80)], TODAY)
    assert (recheck.due, recheck.rule) == (TODAY - timedelta(days=6), "H4")
    other_programme = next_due(DM, [visit(HT, days_ago=5)], TODAY)
    assert other_programme.last_visit is None


def test_visits_in_the_last_year_are_counted_for_h1() -> None:
    visits = [visit(days_ago=d, sbp=120, dbp=80) for d in (20, 110, 200, 400)]
    assert next_due(HT, visits, TODAY).visits_last_year == 3


@pytest.mark.parametrize(
    ("weight", "height", "band"),
    [
        ("45", "170", BmiBand.UNDERWEIGHT),
        ("60", "170", BmiBand.NORMAL),
        ("72", "170", BmiBand.OVERWEIGHT),
        ("81", "170", BmiBand.OBESE),
    ],
)
def test_bmi_bands_use_the_chinese_cut_offs(weight: str, height: str, band: BmiBand) -> None:
    assert bmi_band(bmi(Decimal(weight), Decimal(height))) is band


def test_bmi_band_edges() -> None:
    assert bmi_band(Decimal("18.5")) is BmiBand.NORMAL
    assert bmi_band(Decimal("23.9")) is BmiBand.NORMAL
    assert bmi_band(Decimal("24.0")) is BmiBand.OVERWEIGHT
    assert bmi_band(Decimal("28.0")) is BmiBand.OBESE
    assert bmi(Decimal(70), Decimal(175)) == Decimal("22.9")


@given(st.text(max_size=30))
def test_form_numbers_never_raise(text: str) -> None:
    value = decimal_or_none(text)
    assert value is None or value.is_finite()


@given(st.integers(60, 260), st.integers(30, 160), st.sampled_from([HT, DM]), st.decimals("1.0", "35.0", places=1))
def test_every_visit_gets_an_action_and_a_rule(sbp: int, dbp: int, programme: Programme, fbg: Decimal) -> None:
    assessment = assess_visit(VisitFacts(programme, sbp=sbp, dbp=dbp, fasting_glucose=fbg))
    assert assessment.rules
    assert assessment.next_visit_days in (14, 90)
