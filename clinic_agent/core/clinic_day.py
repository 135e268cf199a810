"""What the doctor's day needs, worked out from records: programme members, follow-ups due, alert codes, prefill.

Pure functions over the model: the API reads the records from the store, these decide, and the API
shapes the replies. Follow-up scheduling and classification are ``clinic_agent.core.rules``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from clinic_agent.core import rules
from clinic_agent.core.model import Condition, FollowUp, KeyPopulation, Programme, Reading

# Condition codes (CV02.10.005) and ICD-10 prefixes that put a resident in a follow-up programme.
_PROGRAMME_CODES = {
    Programme.HYPERTENSION: ("2", ("I10", "I11", "I12", "I13", "I15")),
    Programme.DIABETES: ("3", ("E11",)),
}
_PROGRAMME_FLAGS = {Programme.HYPERTENSION: KeyPopulation.HYPERTENSION, Programme.DIABETES: KeyPopulation.DIABETES}
# LOINC codes read into follow-up form fields.
WEIGHT, HEIGHT, BMI, HEART_RATE, PULSE_OX_RATE = "29463-7", "8302-2", "39156-5", "8867-4", "8889-8"


def in_programme(condition: Condition, programme: Programme) -> bool:
    """Whether a diagnosis puts a resident in a programme."""
    code, icd = _PROGRAMME_CODES[programme]
    return condition.code == code or bool(condition.icd10 and condition.icd10.upper().startswith(icd))


def programme_members(
    flags: Mapping[str, frozenset[KeyPopulation]], conditions: Iterable[Condition]
) -> dict[Programme, set[str]]:
    """Residents in each programme: by key-population flag or by a recorded active diagnosis."""
    members: dict[Programme, set[str]] = {p: set() for p in Programme}
    for resident_id, resident_flags in flags.items():
        for programme, flag in _PROGRAMME_FLAGS.items():
            if flag in resident_flags:
                members[programme].add(resident_id)
    for condition in conditions:
        if condition.status.value == "active":
            for programme in Programme:
                if in_programme(condition, programme):
                    members[programme].add(condition.resident_id)
    return members


def due_follow_ups(
    members: Mapping[Programme, set[str]],
    visits: Mapping[str, list[FollowUp]],
    today: date,
    limits: rules.Thresholds,
    *,
    days_ahead: int,
) -> list[tuple[str, rules.Due]]:
    """Follow-ups due within ``days_ahead`` days or overdue, soonest first (then by resident id)."""
    horizon = today + timedelta(days=days_ahead)
    found: list[tuple[date, str, rules.Due]] = []
    for programme, residents in members.items():
        for resident_id in residents:
            due = rules.next_due(programme, visits.get(resident_id, []), today, limits)
            if due.due <= horizon:
                found.append((due.due, resident_id, due))
    found.sort(key=lambda item: (item[0], item[1]))
    return [(resident_id, due) for _, resident_id, due in found]


def alert_codes(reading: Reading, limits: rules.Thresholds) -> list[str]:
    """Which rule a critical reading breaks, as codes a screen can translate (H2, D2, spo2, temperature)."""
    codes = []
    for q in reading.components:
        if q.code in (rules.SYSTOLIC, rules.DIASTOLIC):
            codes.append("H2")
        elif q.code in rules.GLUCOSE_MMOL + rules.GLUCOSE_MG:
            codes.append("D2")
        elif q.code in rules.SPO2:
            codes.append("spo2")
        elif q.code == rules.TEMPERATURE:
            codes.append("temperature")
    reasons = rules.critical_reasons(reading, limits)
    return list(dict.fromkeys(codes)) if reasons else []


def latest(readings: Iterable[Reading], codes: tuple[str, ...]) -> tuple[str, str] | None:
    """The newest value (and its reading id) of any of these component codes."""
    for reading in readings:  # newest first
        for q in reading.components:
            if q.code in codes:
                return q.value, reading.id
    return None


def prefill_fields(
    readings: list[Reading], today: date, height: Decimal | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Form fields from today's readings (newest first), and which reading each came from."""
    todays = [r for r in readings if r.taken_at.astimezone().date() == today and r.status.value == "final"]
    fields: dict[str, Any] = {}
    sources: dict[str, str] = {}
    wanted = {
        "sbp": (rules.SYSTOLIC,),
        "dbp": (rules.DIASTOLIC,),
        "heart_rate": (HEART_RATE, PULSE_OX_RATE),
        "weight_kg": (WEIGHT,),
        "bmi": (BMI,),
        "fasting_glucose": rules.GLUCOSE_MMOL,
    }
    for name, codes in wanted.items():
        found = latest(todays, codes)
        if found is not None:
            value, reading_id = found
            fields[name] = int(Decimal(value)) if name in ("sbp", "dbp", "heart_rate") else value
            sources[name] = reading_id
    if "bmi" not in fields and "weight_kg" in fields and height:
        fields["bmi"] = str(rules.bmi(Decimal(fields["weight_kg"]), height))
        sources["bmi"] = sources["weight_kg"]
    return fields, sources
