"""Blood Pressure Measurement 0x2A35, Intermediate Cuff Pressure 0x2A36 and Feature 0x2A49."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ble import decode_characteristic
from drivers.ble._frame import measure
from drivers.ble.blood_pressure import (
    BloodPressure,
    decode_blood_pressure,
    encode_blood_pressure,
    encode_blood_pressure_feature,
    parse_blood_pressure,
    status_flags,
)
from drivers.errors import FrameError
from drivers.ieee11073 import DateTime, Mder, Special
from drivers.measurement import Measurement, Subject

STAMP = DateTime(year=2024, month=3, day=1, hours=8, minutes=9, seconds=10)
COMBINATIONS = list(itertools.product([False, True], repeat=5))


def _record(kpa: bool, stamp: bool, pulse: bool, user: bool, status: bool) -> BloodPressure:
    return BloodPressure(
        systolic=Mder(1265, -1) if kpa else Mder(128, 0),
        diastolic=Mder(85, -1) if kpa else Mder(82, 0),
        mean_arterial_pressure=Mder(102, -1) if kpa else Mder(97, 0),
        kpa=kpa,
        time_stamp=STAMP if stamp else None,
        pulse_rate=Mder(71, 0) if pulse else None,
        user_id=3 if user else None,
        measurement_status=0b100100 if status else None,
    )


@pytest.mark.parametrize("present", COMBINATIONS, ids=lambda p: "".join("1" if b else "0" for b in p))
def test_every_flag_combination_decodes_what_was_sent(present: tuple[bool, bool, bool, bool, bool]) -> None:
    kpa, stamp, pulse, user, status = present
    wire = encode_blood_pressure(_record(*present))
    assert len(wire) == 7 + 7 * stamp + 2 * pulse + user + 2 * status
    frame = decode_blood_pressure(wire)
    flags = frame.fields["flags"]
    assert [
        flags[k]
        for k in (
            "units_kpa",
            "time_stamp_present",
            "pulse_rate_present",
            "user_id_present",
            "measurement_status_present",
        )
    ] == list(present)
    unit = "kPa" if kpa else "mm[Hg]"
    codes = ["8480-6", "8462-4", "8478-0"] + (["8867-4"] if pulse else [])
    assert [m.code for m in frame.measurements] == codes
    assert [m.unit for m in frame.measurements] == [unit] * 3 + (["/min"] if pulse else [])
    assert frame.measurements[0].value_text == ("126.5" if kpa else "128")
    assert (frame.panel, frame.final, frame.protocol) == ("85354-9", True, "ble:2A35")
    assert frame.device_time == (datetime(2024, 3, 1, 8, 9, 10) if stamp else None)
    assert all(m.taken_at == frame.device_time for m in frame.measurements)
    assert frame.subject == (Subject(device_user=3) if user else None)
    expected_flags = ("irregular-pulse", "improper-position") if status else ()
    assert all(m.flags == expected_flags for m in frame.measurements)


@pytest.mark.parametrize("present", COMBINATIONS, ids=lambda p: "".join("1" if b else "0" for b in p))
def test_a_value_shorter_than_its_flags_announce_is_rejected(
    present: tuple[bool, bool, bool, bool, bool],
) -> None:
    wire = encode_blood_pressure(_record(*present))
    for cut in range(len(wire)):
        with pytest.raises(FrameError):
            decode_blood_pressure(wire[:cut])


def test_a_hand_built_kpa_value_with_time_and_pulse() -> None:
    wire = bytes.fromhex("07B0F06EF084F0E80703010809104800")
    frame = decode_blood_pressure(wire)
    assert [(m.code, m.value, m.value_text, m.unit) for m in frame.measurements] == [
        ("8480-6", Decimal("17.6"), "17.6", "kPa"),
        ("8462-4", Decimal("11.0"), "11.0", "kPa"),
        ("8478-0", Decimal("13.2"), "13.2", "kPa"),
        ("8867-4", Decimal("72"), "72", "/min"),
    ]
    assert frame.device_time == datetime(2024, 3, 1, 8, 9, 16)
    assert [m.mdc_code for m in frame.measurements] == ["150021", "150022", "150023", "149546"]
    assert frame.measurements[0].display == "Systolic blood pressure"


def test_reserved_flag_bits_and_trailing_bytes_are_ignored() -> None:
    plain = decode_blood_pressure(bytes.fromhex("00BDF00B009FF0"))
    noisy = decode_blood_pressure(bytes.fromhex("E0BDF00B009FF0DEADBEEF"))
    assert noisy.measurements == plain.measurements
    assert noisy.fields["flags"]["raw"] == 0xE0
    assert noisy.fields["time_stamp"] is None


@pytest.mark.parametrize(
    ("status", "flags", "pulse_range"),
    [
        (0x0001, ("body-movement",), "in_range"),
        (0x0002, ("cuff-too-loose",), "in_range"),
        (0x0004, ("irregular-pulse",), "in_range"),
        (0x0008, ("pulse-rate-above-range",), "above_upper_limit"),
        (0x0010, ("pulse-rate-below-range",), "below_lower_limit"),
        (0x0018, ("pulse-rate-range-reserved",), "reserved"),
        (0x0020, ("improper-position",), "in_range"),
        (0xFFC0, (), "in_range"),
    ],
)
def test_measurement_status_bits_become_flags(status: int, flags: tuple[str, ...], pulse_range: str) -> None:
    record = BloodPressure(
        systolic=Mder(120), diastolic=Mder(80), mean_arterial_pressure=Mder(93), measurement_status=status
    )
    frame = decode_blood_pressure(encode_blood_pressure(record))
    assert frame.measurements[0].flags == flags
    assert frame.fields["measurement_status"]["pulse_rate_range"] == pulse_range
    assert frame.fields["measurement_status"]["raw"] == status


@pytest.mark.parametrize(("user", "subject"), [(0xFF, None), (0, Subject(device_user=0)), (4, Subject(device_user=4))])
def test_user_0xff_is_unknown(user: int, subject: Subject | None) -> None:
    record = BloodPressure(systolic=Mder(120), diastolic=Mder(80), mean_arterial_pressure=Mder(93), user_id=user)
    frame = decode_blood_pressure(encode_blood_pressure(record))
    assert frame.subject == subject
    assert frame.fields["user_id"] == user


def test_a_nan_pressure_has_no_value_and_says_so() -> None:
    record = BloodPressure(systolic=Mder(120), diastolic=Mder(80), mean_arterial_pressure=Mder(special=Special.NAN))
    mean = decode_blood_pressure(encode_blood_pressure(record)).measurements[2]
    assert mean.value is None
    assert mean.flags == ("nan",)
    assert mean.value_text == "NaN"


def test_an_unknown_date_gives_no_device_time_but_keeps_the_fields() -> None:
    record = BloodPressure(
        systolic=Mder(120),
        diastolic=Mder(80),
        mean_arterial_pressure=Mder(93),
        time_stamp=DateTime(month=4, day=17, hours=20),
    )
    frame = decode_blood_pressure(encode_blood_pressure(record))
    assert frame.device_time is None
    assert frame.fields["time_stamp"]["month"] == 4
    assert frame.fields["time_stamp"]["iso"] is None


def test_intermediate_cuff_pressure_is_not_a_result() -> None:
    wire = bytes.fromhex("1E0400000000000000041114293B3C00012700")
    frame = decode_characteristic(0x2A36, wire)
    assert frame.final is False
    assert frame.measurements == ()
    assert frame.fields["current_cuff_pressure"]["value"] == 4.0
    assert frame.protocol == "ble:2A36"
    assert frame.subject == Subject(device_user=1)


def test_feature_bits() -> None:
    frame = decode_characteristic(0x2A49, encode_blood_pressure_feature(0x1FF))
    assert frame.fields["raw"] == 0x1FF
    assert all(v for k, v in frame.fields.items() if k != "raw")
    assert decode_characteristic(0x2A49, b"\x05\x00").fields["irregular_pulse_detection"] is True
    assert decode_characteristic(0x2A49, b"\x05\x00").fields["cuff_fit_detection"] is False
    with pytest.raises(FrameError):
        decode_characteristic(0x2A49, b"\x05")


@pytest.mark.parametrize(
    "record",
    [
        BloodPressure(systolic=Mder(120), diastolic=Mder(80), mean_arterial_pressure=Mder(93), user_id=256),
        BloodPressure(systolic=Mder(12345), diastolic=Mder(80), mean_arterial_pressure=Mder(93)),
        BloodPressure(systolic=Mder(120), diastolic=Mder(80), mean_arterial_pressure=Mder(93), measurement_status=-1),
    ],
)
def test_values_that_do_not_fit_are_refused_by_the_encoder(record: BloodPressure) -> None:
    with pytest.raises(FrameError):
        encode_blood_pressure(record)


def _from_record(record: BloodPressure) -> tuple[Measurement, ...]:
    """The panel as the typed record gives it: what the decoder made before it read the bytes directly."""
    when = record.time_stamp.to_datetime() if record.time_stamp else None
    unit = "kPa" if record.kpa else "mm[Hg]"
    flags = status_flags(record.measurement_status)
    parts = [("8480-6", record.systolic, "150021"), ("8462-4", record.diastolic, "150022")]
    parts += [("8478-0", record.mean_arterial_pressure, "150023")]
    found = [measure(code, number, unit, taken_at=when, flags=flags, mdc=mdc) for code, number, mdc in parts]
    if record.pulse_rate is not None:
        found.append(measure("8867-4", record.pulse_rate, "/min", taken_at=when, flags=flags, mdc="149546"))
    return tuple(found)


@settings(max_examples=400)
@given(st.binary(min_size=1, max_size=24))
def test_the_panel_read_from_the_bytes_is_the_typed_records_panel(data: bytes) -> None:
    try:
        record = parse_blood_pressure(data)
    except FrameError:
        with pytest.raises(FrameError):
            decode_blood_pressure(data)
        return
    frame = decode_blood_pressure(data)
    assert frame.measurements == _from_record(record)
    assert frame.device_time == (record.time_stamp.to_datetime() if record.time_stamp else None)
    user = record.user_id
    assert frame.subject == (None if user is None or user == 0xFF else Subject(device_user=user))
