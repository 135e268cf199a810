"""Glucose Measurement 0x2A18: the LOINC code follows the sample type and location nibbles.

GATT Glucose Measurement (docs/devices.md): low nibble type, high nibble location; the codes are
docs/devices.md's: capillary blood by glucometer, blood, serum or plasma; mass for kg/L, moles for
mol/L. The value is converted (mg/dL = kg/L x 100 000, mmol/L = mol/L x 1000) and the original is
kept in ``fields``.
"""

from __future__ import annotations

import pytest

from drivers.ble.glucose import GlucoseMeasurement, decode_glucose, encode_glucose
from drivers.ieee11073 import DateTime, Mder
from drivers.profiles import check, profile_for

BASE = DateTime(year=2024, month=5, day=6, hours=7, minutes=30, seconds=0)
FINGER, AST, EARLOBE, CONTROL, NOT_AVAILABLE = 1, 2, 3, 4, 15


def _decode(type_: int, location: int, molar: bool = False) -> tuple[str, str, str]:
    record = GlucoseMeasurement(
        sequence_number=7,
        base_time=BASE,
        concentration=Mder(62, -4) if molar else Mder(112, -5),
        mol_per_l=molar,
        type=type_,
        sample_location=location,
    )
    [m] = decode_glucose(encode_glucose(record)).measurements
    return m.code, m.value_text, m.unit


@pytest.mark.parametrize(
    ("type_", "location", "mass", "molar"),
    [
        (1, FINGER, "41653-7", "14743-9"),  # capillary whole blood
        (2, AST, "41653-7", "14743-9"),  # capillary plasma: a glucometer on a capillary sample
        (3, NOT_AVAILABLE, "2339-0", "15074-8"),  # venous whole blood
        (4, NOT_AVAILABLE, "2345-7", "14749-6"),  # venous plasma
        (5, NOT_AVAILABLE, "2339-0", "15074-8"),  # arterial whole blood
        (6, NOT_AVAILABLE, "2345-7", "14749-6"),  # arterial plasma
        (7, FINGER, "41653-7", "14743-9"),  # undetermined whole blood from a capillary site
        (8, EARLOBE, "41653-7", "14743-9"),  # undetermined plasma from a capillary site
        (7, NOT_AVAILABLE, "2339-0", "15074-8"),  # undetermined whole blood, nowhere said
        (8, NOT_AVAILABLE, "2345-7", "14749-6"),  # undetermined plasma, nowhere said
    ],
)
def test_the_code_follows_sample_type_and_location(type_: int, location: int, mass: str, molar: str) -> None:
    assert _decode(type_, location) == (mass, "112", "mg/dL")
    assert _decode(type_, location, molar=True) == (molar, "6.2", "mmol/L")


def test_the_original_concentration_stays_in_the_fields() -> None:
    record = GlucoseMeasurement(sequence_number=7, base_time=BASE, concentration=Mder(62, -4), mol_per_l=True, type=4)
    frame = decode_glucose(encode_glucose(record))
    assert frame.fields["glucose_concentration"]["text"] == "0.0062"
    assert frame.fields["glucose_concentration_unit"] == "mol/L"
    assert frame.fields["sample"] == "venous plasma"
    assert (frame.measurements[0].value_text, frame.measurements[0].unit) == ("6.2", "mmol/L")


def test_interstitial_fluid_has_no_blood_code_and_says_so() -> None:
    code, value, unit = _decode(9, NOT_AVAILABLE)
    assert (code, value, unit) == ("", "112", "mg/dL")  # no verified LOINC code for ISF glucose
    record = GlucoseMeasurement(sequence_number=7, base_time=BASE, concentration=Mder(112, -5), type=9)
    [m] = decode_glucose(encode_glucose(record)).measurements
    assert "unmapped-sample-type" in m.flags


def test_control_solution_and_reserved_types_are_flagged() -> None:
    for type_, location, flag in ((10, FINGER, "control-solution"), (1, CONTROL, "control-solution")):
        record = GlucoseMeasurement(
            sequence_number=7, base_time=BASE, concentration=Mder(112, -5), type=type_, sample_location=location
        )
        assert flag in decode_glucose(encode_glucose(record)).measurements[0].flags
    record = GlucoseMeasurement(sequence_number=7, base_time=BASE, concentration=Mder(112, -5), type=0)
    [m] = decode_glucose(encode_glucose(record)).measurements
    assert "sample-type-reserved" in m.flags


@pytest.mark.parametrize("type_", [1, 3, 4])
def test_every_code_a_meter_can_send_is_in_the_glucose_profile(type_: int) -> None:
    for molar in (False, True):
        record = GlucoseMeasurement(
            sequence_number=7,
            base_time=BASE,
            concentration=Mder(62, -4) if molar else Mder(112, -5),
            mol_per_l=molar,
            type=type_,
        )
        assert check(decode_glucose(encode_glucose(record)), profile_for("ble-glucose")) == []
    # The control: a value no body has is still caught for the new codes.
    wild = GlucoseMeasurement(sequence_number=7, base_time=BASE, concentration=Mder(5000, -5), type=4)
    assert check(decode_glucose(encode_glucose(wild)), profile_for("ble-glucose")) != []
