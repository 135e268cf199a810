"""Where a reading becomes an alert: apart from the rules, so that agent.toml's ``[alerts]`` loads no model."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Where a reading becomes an alert (mmHg, %, mmol/L, Cel)."""

    systolic_urgent: Decimal = Decimal(180)
    diastolic_urgent: Decimal = Decimal(110)
    spo2_low: Decimal = Decimal(90)
    glucose_high: Decimal = Decimal("16.7")
    glucose_low: Decimal = Decimal("3.9")
    temperature_high: Decimal = Decimal(39)
    systolic_control: Decimal = Decimal(140)
    diastolic_control: Decimal = Decimal(90)
    glucose_control: Decimal = Decimal("7.0")
    heart_rate_high: Decimal = Decimal(100)


DEFAULT_THRESHOLDS = Thresholds()
