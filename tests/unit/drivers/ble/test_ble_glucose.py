"""Glucose Measurement 0x2A18, Context 0x2A34 and Feature 0x2A51."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from drivers.ble import decode_characteristic
from drivers.ble.glucose import (
    GlucoseContext,
    GlucoseMeasurement,
    decode_glucose,
    decode_glucose_context,
    encode_glucose,
    encode_glucose_context,
    encode_glucose_feature,
)
from drivers.errors import FrameError
from drivers.ieee11073 import DateTime, Mder, Special

BASE = DateTime(year=2024, month=5, day=6, hours=7, minutes=30, seconds=0)


def _glucose(offset: bool, concentration: bool, molar: bool, status: bool, context: bool) -> GlucoseMeasurement:
    return GlucoseMeasurement(
        sequence_number=513,
        base_time=BASE,
        time_offset=-90 if offset else None,
        concentration=(Mder(62, -4) if molar else Mder(112, -5)) if concentration else None,
        mol_per_l=molar,
        type=1 if concentration else 0,
        sample_location=1 if concentration else 0,
        sensor_status_annunciation=0x0001 if status else None,
        context_follows=context,
    )


@pytest.mark.parametrize("present", list(itertools.product([False, True], repeat=5)), ids=str)
def test_every_flag_combination_decodes_what_was_sent(present: tuple[bool, bool, bool, bool, bool]) -> None:
    offset, concentration, molar, status, context = present
    wire = encode_glucose(_glucose(*present))
    assert len(wire) == 10 + 2 * offset + 3 * concentration + 2 * status
    frame = decode_glucose(wire)
    assert frame.sequence == "513"
    assert frame.fields["flags"]["context_information_follows"] is context
    assert frame.fields["flags"]["concentration_units_mol_per_l"] is molar
    expected_time = datetime(2024, 5, 6, 6, 0) if offset else datetime(2024, 5, 6, 7, 30)
    assert frame.device_time == expected_time
    if not concentration:
        assert frame.measurements == ()
        return
    (reading,) = frame.measurements
    expected = ("14743-9", Decimal("6.2"), "mmol/L") if molar else ("41653-7", Decimal("112"), "mg/dL")
    assert (reading.code, reading.value, reading.unit) == expected
    assert reading.taken_at == expected_time
    assert reading.mdc_code == "160184"
    assert reading.flags == (("device-battery-low",) if status else ())
    for cut in range(len(wire)):
        with pytest.raises(FrameError):
            decode_glucose(wire[:cut])


@pytest.mark.parametrize(
    ("raw", "molar", "code", "text", "unit"),
    [
        ("5FB0", False, "41653-7", "95", "mg/dL"),  # 95e-5 kg/L (docs/devices.md)
        ("4090", False, "41653-7", "0.64", "mg/dL"),  # 64e-7 kg/L: the digits stay the device's
        ("37C0", True, "14743-9", "5.5", "mmol/L"),  # 55e-4 mol/L
        ("3EB0", True, "14743-9", "0.62", "mmol/L"),  # 62e-5 mol/L
        ("0200", True, "14743-9", "2000", "mmol/L"),
    ],
)
def test_units_convert_exactly_and_keep_the_digits(raw: str, molar: bool, code: str, text: str, unit: str) -> None:
    flags = 0x06 if molar else 0x02
    wire = bytes([flags]) + b"\x01\x00" + bytes(7) + bytes.fromhex(raw) + b"\x11"
    (reading,) = decode_glucose(wire).measurements
    assert (reading.code, reading.value_text, reading.unit) == (code, text, unit)
    assert reading.value == Decimal(text)


def test_special_concentrations_are_values_without_numbers() -> None:
    record = GlucoseMeasurement(
        sequence_number=1, base_time=BASE, concentration=Mder(special=Special.POSITIVE_INFINITY), type=1
    )
    (reading,) = decode_glucose(encode_glucose(record)).measurements
    assert reading.value is None
    assert reading.flags == ("positive-infinity",)


def test_annunciations_follow_gatt_xml_not_nordic() -> None:
    record = GlucoseMeasurement(
        sequence_number=1, base_time=BASE, concentration=Mder(100, -5), sensor_status_annunciation=0x0020, type=1
    )
    frame = decode_glucose(encode_glucose(record))
    assert frame.measurements[0].flags == ("result-higher-than-device-can-process",)
    assert frame.fields["sensor_status_annunciation"]["result_higher_than_device_can_process"] is True
    every_bit = GlucoseMeasurement(
        sequence_number=1, base_time=BASE, concentration=Mder(100, -5), sensor_status_annunciation=0xFFFF, type=1
    )
    assert len(decode_glucose(encode_glucose(every_bit)).measurements[0].flags) == 12


@pytest.mark.parametrize(("type_", "location"), [(10, 15), (2, 4)])
def test_control_solution_readings_are_flagged(type_: int, location: int) -> None:
    record = GlucoseMeasurement(
        sequence_number=1, base_time=BASE, concentration=Mder(100, -5), type=type_, sample_location=location
    )
    assert "control-solution" in decode_glucose(encode_glucose(record)).measurements[0].flags


def test_type_is_the_low_nibble_and_location_the_high_nibble() -> None:
    record = GlucoseMeasurement(
        sequence_number=1, base_time=BASE, concentration=Mder(100, -5), type=8, sample_location=3
    )
    wire = encode_glucose(record)
    assert wire[-1] == 0x38
    fields = decode_glucose(wire).fields
    assert (fields["type_name"], fields["sample_location_name"]) == ("undetermined_plasma", "earlobe")
    assert decode_glucose(wire).measurements[0].mdc_code == "160368"


def test_an_unknown_base_time_leaves_the_time_unset() -> None:
    record = GlucoseMeasurement(sequence_number=7, base_time=DateTime(hours=3), time_offset=10)
    frame = decode_glucose(encode_glucose(record))
    assert frame.device_time is None
    assert frame.fields["user_facing_time"] is None
    assert frame.fields["time_offset"] == 10


FULL_CONTEXT = GlucoseContext(
    sequence_number=513,
    extended_flags=0,
    carbohydrate_id=1,
    carbohydrate=Mder(45, -3),
    meal=2,
    tester=1,
    health=5,
    exercise_duration=1800,
    exercise_intensity=60,
    medication_id=1,
    medication=Mder(4, -6),
    hba1c=Mder(65, -1),
)


def test_a_full_context_decodes_every_field() -> None:
    wire = encode_glucose_context(FULL_CONTEXT)
    assert wire[0] == 0xDF  # bits 0-4, 6, 7; bit 5 clear: medication in kilograms
    frame = decode_glucose_context(wire)
    assert frame.sequence == "513"
    assert frame.measurements == ()
    fields = frame.fields
    assert (fields["carbohydrate_id_name"], fields["carbohydrate"]["text"]) == ("breakfast", "0.045")
    assert (fields["meal_name"], fields["tester_name"], fields["health_name"]) == (
        "postprandial",
        "self",
        "no_health_issues",
    )
    assert (fields["exercise_duration"], fields["exercise_intensity"]) == (1800, 60)
    assert (fields["medication_id_name"], fields["medication_unit"]) == ("rapid_acting_insulin", "kg")
    assert fields["hba1c"]["text"] == "6.5"
    assert decode_characteristic(0x2A34, wire).fields == fields


@pytest.mark.parametrize(
    ("bit", "fields", "check"),
    [
        (0x01, {"carbohydrate_id": 5, "carbohydrate": Mder(30, -3)}, {"carbohydrate_id_name": "drink"}),
        (0x02, {"meal": 3}, {"meal_name": "fasting"}),
        (
            0x04,
            {"tester": 2, "health": 15},
            {"tester_name": "health_care_professional", "health_name": "not_available"},
        ),
        (0x08, {"exercise_duration": 65535, "exercise_intensity": 100}, {"exercise_duration": 65535}),
        (0x10, {"medication_id": 4, "medication": Mder(2, -3)}, {"medication_unit": "kg"}),
        (
            0x30,
            {"medication_id": 5, "medication": Mder(1, -3), "medication_in_liters": True},
            {"medication_unit": "L"},
        ),
        (0x40, {"hba1c": Mder(71, -1)}, {"meal": None}),
        (0x80, {"extended_flags": 0x00}, {"extended_flags": 0}),
    ],
)
def test_each_context_field_alone(bit: int, fields: dict[str, Any], check: dict[str, object]) -> None:
    decoded = decode_glucose_context(encode_glucose_context(GlucoseContext(sequence_number=1, **fields))).fields
    assert decoded["flags"]["raw"] == bit
    assert {key: decoded[key] for key in check} == check


def test_a_short_context_is_rejected_and_padding_ignored() -> None:
    wire = encode_glucose_context(FULL_CONTEXT)
    for cut in range(len(wire)):
        with pytest.raises(FrameError):
            decode_glucose_context(wire[:cut])
    assert decode_glucose_context(wire + bytes(5)).fields == decode_glucose_context(wire).fields


def test_half_a_context_pair_is_refused_by_the_encoder() -> None:
    with pytest.raises(FrameError):
        encode_glucose_context(GlucoseContext(sequence_number=1, carbohydrate_id=1))
    with pytest.raises(FrameError):
        encode_glucose_context(GlucoseContext(sequence_number=1, tester=1))


def test_feature_bits() -> None:
    fields = decode_characteristic(0x2A51, encode_glucose_feature(0x0401)).fields
    assert (fields["low_battery"], fields["multiple_bond"], fields["time_fault"]) == (True, True, False)
    with pytest.raises(FrameError):
        decode_characteristic(0x2A51, b"\x01")
