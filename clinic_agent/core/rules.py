"""Alert rules on readings, and the follow-up rules of the national forms: what makes a reading critical.

Thresholds live in configuration (``[alerts]`` in agent.toml) because guidelines differ between
2017, 2020 and 2025; the defaults are the 2017 national service specification's referral rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from clinic_agent.core.model import FollowUp, Programme, Quantity, Reading
from clinic_agent.core.thresholds import DEFAULT_THRESHOLDS as DEFAULT_THRESHOLDS
from clinic_agent.core.thresholds import Thresholds as Thresholds

SYSTOLIC = "8480-6"
DIASTOLIC = "8462-4"
SPO2 = ("59408-5", "2708-6")
TEMPERATURE = "8310-5"
HEART_RATE = "8867-4"
GLUCOSE_MMOL = ("14743-9", "14749-6", "15074-8", "14771-0", "14770-2")
GLUCOSE_MG = ("41653-7", "2345-7", "2339-0", "1558-6")
_MMHG_PER_KPA = Decimal("7.50062")
_MG_DL_PER_MMOL_L = Decimal("18.0")


def _mmhg(quantity: Quantity) -> Decimal:
    return quantity.decimal * _MMHG_PER_KPA if quantity.unit == "kPa" else quantity.decimal


def _celsius(quantity: Quantity) -> Decimal:
    return (quantity.decimal - 32) * 5 / 9 if quantity.unit == "[degF]" else quantity.decimal


def _mmol(quantity: Quantity) -> Decimal:
    return quantity.decimal / _MG_DL_PER_MMOL_L if quantity.code in GLUCOSE_MG else quantity.decimal


def critical_reasons(reading: Reading, limits: Thresholds = DEFAULT_THRESHOLDS) -> list[str]:
    """Why a reading needs urgent attention (empty: it does not)."""
    reasons = []
    for q in reading.components:
        if q.code == SYSTOLIC and _mmhg(q) >= limits.systolic_urgent:
            reasons.append(f"systolic {q.value} {q.unit} ≥ {limits.systolic_urgent} mmHg: urgent referral")
        elif q.code == DIASTOLIC and _mmhg(q) >= limits.diastolic_urgent:
            reasons.append(f"diastolic {q.value} {q.unit} ≥ {limits.diastolic_urgent} mmHg: urgent referral")
        elif q.code in SPO2 and q.decimal < limits.spo2_low:
            reasons.append(f"SpO2 {q.value} % < {limits.spo2_low} %")
        elif q.code in GLUCOSE_MMOL + GLUCOSE_MG and _mmol(q) >= limits.glucose_high:
            reasons.append(f"glucose {q.value} {q.unit} ≥ {limits.glucose_high} mmol/L: emergency referral")
        elif q.code in GLUCOSE_MMOL + GLUCOSE_MG and _mmol(q) <= limits.glucose_low:
            reasons.append(f"glucose {q.value} {q.unit} ≤ {limits.glucose_low} mmol/L: emergency referral")
        elif q.code == TEMPERATURE and _celsius(q) > limits.temperature_high:
            reasons.append(f"temperature {q.value} {q.unit} > {limits.temperature_high} °C")
    return reasons


# -- follow-up rules (H1-H5 hypertension, D1-D6 diabetes, G1 general; the TUI's catalogue names them) ------------

ROUTINE_DAYS = 90  # H1/D1: at least four face-to-face visits a year, so one a quarter
RECHECK_DAYS = 14  # H2/H4/H5, D2/D4/D5: re-visit or check on the referral within two weeks
VISITS_A_YEAR = 4


class Classification(StrEnum):
    """此次随访分类 (CV05.10.012)."""

    CONTROLLED = "1"  # 控制满意
    UNCONTROLLED = "2"  # 控制不满意
    ADVERSE_REACTION = "3"  # 不良反应
    COMPLICATION = "4"  # 并发症


class Action(StrEnum):
    """下一步管理措施: what the rules say to do after a visit."""

    ROUTINE = "routine"  # H3/D3: next routine visit
    RECHECK = "recheck"  # H4/D4: adjust drugs, re-visit within 2 weeks
    REFER = "refer"  # H5/D5: refer, check on the referral within 2 weeks
    EMERGENCY = "emergency"  # H2/D2: emergency referral, check back within 2 weeks


@dataclass(frozen=True, slots=True)
class VisitFacts:
    """What one follow-up visit found, as the rules read it (None: not measured)."""

    programme: Programme
    sbp: int | None = None
    dbp: int | None = None
    fasting_glucose: Decimal | None = None
    heart_rate: int | None = None
    temperature: Decimal | None = None
    adverse_reaction: bool = False
    complication: bool = False
    hypoglycaemia: str | None = None  # 1 无, 2 偶尔, 3 频繁
    danger_signs: bool = False  # altered consciousness, severe headache, vomiting, ... (H2/D2)


@dataclass(frozen=True, slots=True)
class Assessment:
    """The rules' reading of a visit: the classification to suggest, the action, and why (rule ids)."""

    classification: Classification
    action: Action
    next_visit_days: int
    rules: tuple[str, ...] = field(default=())

    @property
    def red(self) -> bool:
        """An emergency (H2/D2, or D6 at or below the low glucose limit)."""
        return self.action is Action.EMERGENCY


def decimal_or_none(text: object) -> Decimal | None:
    """A form value as a Decimal, or None when empty or not a number."""
    if text is None or text == "":
        return None
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def bp_uncontrolled(sbp: int | None, dbp: int | None, limits: Thresholds = DEFAULT_THRESHOLDS) -> bool:
    """H4: SBP ≥ 140 and/or DBP ≥ 90 (the control targets of the configuration)."""
    return (sbp is not None and sbp >= limits.systolic_control) or (dbp is not None and dbp >= limits.diastolic_control)


def bp_urgent(sbp: int | None, dbp: int | None, limits: Thresholds = DEFAULT_THRESHOLDS) -> bool:
    """H2: SBP ≥ 180 and/or DBP ≥ 110."""
    return (sbp is not None and sbp >= limits.systolic_urgent) or (dbp is not None and dbp >= limits.diastolic_urgent)


def glucose_urgent(fbg: Decimal | None, limits: Thresholds = DEFAULT_THRESHOLDS) -> bool:
    """D2: fasting glucose ≥ 16.7 or ≤ 3.9 mmol/L."""
    return fbg is not None and (fbg >= limits.glucose_high or fbg <= limits.glucose_low)


def glucose_uncontrolled(fbg: Decimal | None, limits: Thresholds = DEFAULT_THRESHOLDS) -> bool:
    """D4: fasting glucose ≥ 7.0 mmol/L."""
    return fbg is not None and fbg >= limits.glucose_control


def uncontrolled(facts: VisitFacts, limits: Thresholds = DEFAULT_THRESHOLDS) -> bool:
    """Whether the programme's measure is over its control target at this visit."""
    if facts.programme is Programme.DIABETES:
        return glucose_uncontrolled(facts.fasting_glucose, limits)
    return bp_uncontrolled(facts.sbp, facts.dbp, limits)


def _emergency_rules(facts: VisitFacts, limits: Thresholds) -> list[str]:
    diabetes = facts.programme is Programme.DIABETES
    prefix = "D2" if diabetes else "H2"
    found = []
    if bp_urgent(facts.sbp, facts.dbp, limits):
        found.append(prefix)
    if facts.danger_signs:
        found.append(prefix)
    if diabetes:
        if glucose_urgent(facts.fasting_glucose, limits):
            found.append(
                "D6" if facts.fasting_glucose is not None and facts.fasting_glucose <= limits.glucose_low else "D2"
            )
        if facts.heart_rate is not None and facts.heart_rate > limits.heart_rate_high:
            found.append("D2")
        if facts.temperature is not None and facts.temperature > limits.temperature_high:
            found.append("D2")
    return list(dict.fromkeys(found))


def assess_visit(
    facts: VisitFacts, previous: Sequence[FollowUp] = (), limits: Thresholds = DEFAULT_THRESHOLDS
) -> Assessment:
    """Classify a visit and say what to do next (H2-H5, D2-D6), given earlier visits of the programme, newest first."""
    diabetes = facts.programme is Programme.DIABETES
    emergency = _emergency_rules(facts, limits)
    over = uncontrolled(facts, limits)
    last_over = bool(previous) and uncontrolled(facts_of(previous[0]), limits)
    if facts.complication:
        classification = Classification.COMPLICATION
    elif facts.adverse_reaction:
        classification = Classification.ADVERSE_REACTION
    elif over or emergency:
        classification = Classification.UNCONTROLLED
    else:
        classification = Classification.CONTROLLED
    if emergency:
        return Assessment(classification, Action.EMERGENCY, RECHECK_DAYS, tuple(emergency))
    if facts.complication or (over and last_over):
        return Assessment(classification, Action.REFER, RECHECK_DAYS, ("D5" if diabetes else "H5",))
    hypo = facts.hypoglycaemia in ("2", "3")
    if over or facts.adverse_reaction or (diabetes and hypo):
        rules = ["D4" if diabetes else "H4"] if over or facts.adverse_reaction else []
        if diabetes and hypo:
            rules.append("D6")
        return Assessment(classification, Action.RECHECK, RECHECK_DAYS, tuple(rules))
    return Assessment(classification, Action.ROUTINE, ROUTINE_DAYS, ("D3" if diabetes else "H3",))


def facts_of(visit: FollowUp) -> VisitFacts:
    """What a saved follow-up record found."""
    return VisitFacts(
        programme=visit.programme,
        sbp=visit.sbp,
        dbp=visit.dbp,
        fasting_glucose=decimal_or_none(visit.fasting_glucose),
        heart_rate=visit.heart_rate,
        adverse_reaction=bool(visit.adverse_reaction.strip()),
        complication=visit.classification == Classification.COMPLICATION,
        hypoglycaemia=visit.hypoglycaemia,
    )


@dataclass(frozen=True, slots=True)
class Due:
    """When a resident's next follow-up of a programme is due, and why."""

    programme: Programme
    due: date
    last_visit: date | None
    visits_last_year: int
    rule: str

    def overdue(self, today: date) -> bool:
        """Past its date."""
        return self.due < today


def next_due(
    programme: Programme, visits: Sequence[FollowUp], today: date, limits: Thresholds = DEFAULT_THRESHOLDS
) -> Due:
    """The next follow-up date (visits of this programme, any order): the form's own date, else the rules' interval."""
    mine = sorted((v for v in visits if v.programme is programme and not v.deleted), key=lambda v: v.visit_date)
    year_ago = today - timedelta(days=365)
    count = sum(1 for v in mine if v.visit_date > year_ago)
    counter_rule = "D1" if programme is Programme.DIABETES else "H1"
    if not mine:
        return Due(programme, today, None, 0, counter_rule)
    last = mine[-1]
    if last.next_visit is not None:
        return Due(programme, last.next_visit, last.visit_date, count, "form")
    assessment = assess_visit(facts_of(last), list(reversed(mine[:-1])), limits)
    rule = assessment.rules[0] if assessment.rules else counter_rule
    return Due(programme, last.visit_date + timedelta(days=assessment.next_visit_days), last.visit_date, count, rule)


class BmiBand(StrEnum):
    """G1: Chinese BMI cut-offs."""

    UNDERWEIGHT = "underweight"  # < 18.5
    NORMAL = "normal"  # 18.5-23.9
    OVERWEIGHT = "overweight"  # 24-27.9
    OBESE = "obese"  # ≥ 28


def bmi(weight_kg: Decimal, height_cm: Decimal) -> Decimal:
    """Body-mass index to one decimal place."""
    if height_cm <= 0:
        raise ValueError("height must be positive")
    metres = height_cm / 100
    return (weight_kg / (metres * metres)).quantize(Decimal("0.1"))


def bmi_band(value: Decimal) -> BmiBand:
    """G1: the band a BMI falls in."""
    if value < Decimal("18.5"):
        return BmiBand.UNDERWEIGHT
    if value < 24:
        return BmiBand.NORMAL
    if value < 28:
        return BmiBand.OVERWEIGHT
    return BmiBand.OBESE
