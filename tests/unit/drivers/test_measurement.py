"""Measurement: the codecs' positional constructor makes what the keywords make, and it cannot change."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from drivers.measurement import DecodedFrame, Measurement, Subject, new_frame, new_measurement
from drivers.terminology import LOINC_SYSTEM

AT = datetime(2026, 11, 25, 8, 0)


def test_the_positional_constructor_makes_what_the_keywords_make() -> None:
    by_keywords = Measurement(
        code="8480-6",
        display="Systolic blood pressure",
        value=Decimal("128"),
        value_text="128",
        unit="mm[Hg]",
        taken_at=AT,
        flags=("irregular-pulse",),
        mdc_code="150021",
    )
    made = new_measurement(
        "8480-6", "Systolic blood pressure", Decimal("128"), "128", "mm[Hg]", AT, ("irregular-pulse",), "150021"
    )
    assert made == by_keywords
    assert hash(made) == hash(by_keywords)
    assert type(made) is Measurement
    assert made.system == LOINC_SYSTEM
    assert repr(made) == repr(by_keywords)
    assert new_measurement("x", "x", None, "NaN", "", None, ("nan",), None, "").system == ""


def test_a_measurement_cannot_be_changed() -> None:
    reading = new_measurement("8867-4", "Heart rate", Decimal(71), "71", "/min", None, (), None)
    with pytest.raises(AttributeError):
        reading.value = Decimal(0)  # type: ignore[misc]
    assert reading._replace(value=Decimal(72)).value == Decimal(72)
    assert reading.value == Decimal(71)


def test_the_positional_frame_constructor_makes_what_the_keywords_make() -> None:
    reading = new_measurement("8867-4", "Heart rate", Decimal(71), "71", "/min", AT, (), None)
    subject = Subject(device_user=2)
    by_keywords = DecodedFrame(
        protocol="ble:2A35",
        measurements=(reading,),
        fields=lambda: {"pulse_rate": 71},
        panel="85354-9",
        panel_display="Blood pressure panel",
        device_time=AT,
        sequence="7",
        subject=subject,
        final=False,
    )
    made = new_frame(
        "ble:2A35", (reading,), lambda: {"pulse_rate": 71}, "85354-9", "Blood pressure panel", AT, "7", subject, False
    )
    assert made == by_keywords
    assert repr(made) == repr(by_keywords)
    assert new_frame("cms50:new", (), {}) == DecodedFrame(protocol="cms50:new", measurements=())
