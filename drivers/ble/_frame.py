"""Turning decoded BLE fields into measurements and JSON-ready field values."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from drivers.ieee11073 import DateTime, Mder
from drivers.measurement import Measurement
from drivers.terminology import concept


def measure(
    loinc: str,
    number: Mder,
    unit: str,
    *,
    taken_at: datetime | None = None,
    flags: Iterable[str] = (),
    mdc: str | None = None,
) -> Measurement:
    """A measurement of the LOINC concept; a special value becomes value None plus its flag."""
    text, flag = number.text, number.flag
    value, special = (None, (flag,)) if flag else (Decimal(text), ())
    return Measurement(
        code=loinc,
        display=concept(loinc).display,
        value=value,
        value_text=text,
        unit=unit,
        taken_at=taken_at,
        flags=special + tuple(flags),
        mdc_code=mdc,
    )


def absent(loinc: str, unit: str, reason: str, *, taken_at: datetime | None = None) -> Measurement:
    """A measurement the device reports as failed ("measurement-unsuccessful"): no value, a flag."""
    return Measurement(
        code=loinc,
        display=concept(loinc).display,
        value=None,
        value_text=reason.removeprefix("measurement-"),
        unit=unit,
        taken_at=taken_at,
        flags=(reason,),
    )


def fixed(raw: int, step_mantissa: int, step_exponent: int, min_decimals: int = 1) -> Mder:
    """``raw`` x step as an exact Mder, trailing zeros dropped down to ``min_decimals`` decimals.

    The fixed-point units (0.005 kg, 0.1 in, ...) say nothing about the scale's real resolution, so
    the value is shown exactly but without zeros that only the wire unit put there.
    """
    mantissa, exponent = raw * step_mantissa, step_exponent
    while exponent < -min_decimals and mantissa % 10 == 0:
        mantissa, exponent = mantissa // 10, exponent + 1
    return Mder(mantissa, exponent)


def number_json(number: Mder | None) -> dict[str, Any] | None:
    """The field shape of an SFLOAT/FLOAT, or None when the field is absent."""
    return None if number is None else number.as_json()


def time_json(stamp: DateTime | None) -> dict[str, Any] | None:
    """The field shape of a Date Time, or None when the field is absent."""
    return None if stamp is None else stamp.as_json()


def taken_at(stamp: DateTime | None) -> datetime | None:
    """The time a reading was taken, None when absent or unknown (year/month/day zero)."""
    return None if stamp is None else stamp.to_datetime()


def named(value: int | None, names: dict[int, str]) -> str | None:
    """The specification name of an enumerated value, "reserved" for unlisted ones, None if absent."""
    if value is None:
        return None
    return names.get(value, "reserved")
