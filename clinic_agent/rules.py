"""Alert rules on readings (ehr-content.md §3): what makes a reading critical.

Thresholds live in configuration (``[alerts]`` in agent.toml) because guidelines differ between
2017, 2020 and 2025; the defaults are the 2017 national service specification's referral rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from clinic_agent.model import Quantity, Reading

SYSTOLIC = "8480-6"
DIASTOLIC = "8462-4"
SPO2 = ("59408-5", "2708-6")
TEMPERATURE = "8310-5"
HEART_RATE = "8867-4"
GLUCOSE_MMOL = ("14743-9", "14749-6", "15074-8", "14771-0", "14770-2")
GLUCOSE_MG = ("41653-7", "2345-7", "2339-0", "1558-6")
_MMHG_PER_KPA = Decimal("7.50062")
_MG_DL_PER_MMOL_L = Decimal("18.0")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Where a reading becomes an alert (mmHg, %, mmol/L, Cel)."""

    systolic_urgent: Decimal = Decimal(180)
    diastolic_urgent: Decimal = Decimal(110)
    spo2_low: Decimal = Decimal(90)
    glucose_high: Decimal = Decimal("16.7")
    glucose_low: Decimal = Decimal("3.9")
    temperature_high: Decimal = Decimal(39)


DEFAULT_THRESHOLDS = Thresholds()


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
