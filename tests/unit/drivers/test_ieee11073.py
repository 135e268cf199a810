"""IEEE 11073 SFLOAT/FLOAT and the BLE date/time structures, both directions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import FrameError
from drivers.ieee11073 import (
    CurrentTime,
    DateTime,
    DayDateTime,
    ExactTime256,
    Mder,
    Special,
    decode_current_time,
    decode_date_time,
    decode_day_date_time,
    decode_exact_time_256,
    decode_float,
    decode_sfloat,
    encode_current_time,
    encode_date_time,
    encode_day_date_time,
    encode_exact_time_256,
    encode_float,
    encode_sfloat,
    float_from_raw,
    sfloat_from_raw,
)


@pytest.mark.parametrize(
    ("raw", "mantissa", "exponent", "text"),
    [
        (0x0002, 2, 0, "2"),
        (0xF014, 20, -1, "2.0"),
        (0xE0C8, 200, -2, "2.00"),
        (0x0B2E, -1234, 0, "-1234"),
        (0x8001, 1, -8, "0.00000001"),
        (0x7001, 1, 7, "10000000"),
        (0xFFFF, -1, -1, "-0.1"),
        (0x17FF, 2047, 1, "20470"),  # the NaN mantissa with exponent 1 is an ordinary number
        (0xF000, 0, -1, "0.0"),
    ],
)
def test_sfloat_keeps_mantissa_exponent_and_precision(raw: int, mantissa: int, exponent: int, text: str) -> None:
    number = sfloat_from_raw(raw)
    assert (number.mantissa, number.exponent, number.special) == (mantissa, exponent, None)
    assert number.text == text
    assert number.value == Decimal(text)
    assert format(number.value, "f") == text


@pytest.mark.parametrize(
    ("raw", "special", "flag", "reason"),
    [
        (0x07FF, Special.NAN, "nan", "not-a-number"),
        (0x0800, Special.NRES, "nres", "error"),
        (0x07FE, Special.POSITIVE_INFINITY, "positive-infinity", "positive-infinity"),
        (0x0802, Special.NEGATIVE_INFINITY, "negative-infinity", "negative-infinity"),
        (0x0801, Special.RESERVED, "reserved", "error"),
    ],
)
def test_special_values_have_a_name_and_no_number(raw: int, special: Special, flag: str, reason: str) -> None:
    number = sfloat_from_raw(raw)
    assert number.special is special
    assert number.value is None
    assert number.flag == flag
    assert number.data_absent_reason == reason
    assert number.text == str(special)
    assert number.as_json() == {
        "mantissa": 0,
        "exponent": 0,
        "value": None,
        "text": str(special),
        "special": str(special),
    }
    assert encode_sfloat(number) == raw.to_bytes(2, "little")


@pytest.mark.parametrize(
    ("raw", "special"),
    [
        (0x007FFFFF, Special.NAN),
        (0x00800000, Special.NRES),
        (0x007FFFFE, Special.POSITIVE_INFINITY),
        (0x00800002, Special.NEGATIVE_INFINITY),
        (0x00800001, Special.RESERVED),
    ],
)
def test_float_special_values(raw: int, special: Special) -> None:
    assert float_from_raw(raw).special is special
    assert encode_float(Mder(special=special)) == raw.to_bytes(4, "little")
    assert float_from_raw(raw | 0x01000000).special is None  # exponent 1: a plain number


def test_float_decodes_little_endian_with_the_exponent_last() -> None:
    number = decode_float(bytes.fromhex("B00E00FE"))
    assert (number.mantissa, number.exponent, number.text) == (3760, -2, "37.60")


def test_every_sfloat_bit_pattern_survives_decode_then_encode() -> None:
    for raw in range(0x10000):
        wire = raw.to_bytes(2, "little")
        assert encode_sfloat(decode_sfloat(wire)) == wire


@given(st.integers(0, 0xFFFFFFFF))
@settings(max_examples=300)
def test_float_bit_patterns_survive_decode_then_encode(raw: int) -> None:
    wire = raw.to_bytes(4, "little")
    assert encode_float(decode_float(wire)) == wire


@given(st.integers(-2048, 2047), st.integers(-8, 7))
@settings(max_examples=300)
def test_sfloat_encodes_any_in_range_number_to_the_same_value(mantissa: int, exponent: int) -> None:
    value = Decimal(mantissa).scaleb(exponent)
    number = Mder.of(value)
    try:
        wire = encode_sfloat(value)
    except FrameError:
        # Only the reserved bit patterns (exponent 0, special mantissas) may be refused.
        assert exponent == 0
        assert mantissa in (2047, 2046, -2048, -2047, -2046)
        return
    assert decode_sfloat(wire).value == number.value


@given(st.integers(-(2**23), 2**23 - 1), st.integers(-128, 127))
@settings(max_examples=300)
def test_float_encodes_in_range_numbers_to_the_same_value(mantissa: int, exponent: int) -> None:
    value = Decimal(mantissa).scaleb(exponent)
    try:
        wire = encode_float(value)
    except FrameError:
        assert exponent == 0
        return
    assert decode_float(wire).value == value


def test_encoding_keeps_the_written_precision() -> None:
    assert encode_sfloat("2.00") == bytes.fromhex("C8E0")
    assert encode_sfloat("2.0") == bytes.fromhex("14F0")
    assert encode_sfloat(2) == bytes.fromhex("0200")
    assert encode_float("37.60") == bytes.fromhex("B00E00FE")


def test_encoding_drops_only_zeros_that_carry_no_value() -> None:
    assert sfloat_from_raw(int.from_bytes(encode_sfloat(100000), "little")) == Mder(1000, 2)
    assert decode_sfloat(encode_sfloat("0.000000010")) == Mder(1, -8)
    assert decode_sfloat(encode_sfloat(Decimal("1E+9"))) == Mder(100, 7)


@pytest.mark.parametrize(
    "value", ["2048", "2047", "1.2345", "0.00000000001", "abc", "1E+12", "1E+999999999", "1E-999999999"]
)
def test_values_an_sfloat_cannot_hold_are_refused(value: str) -> None:
    with pytest.raises(FrameError):
        encode_sfloat(value)


def test_decimal_nan_and_infinities_encode_as_the_special_values() -> None:
    assert encode_sfloat(Decimal("NaN")) == bytes.fromhex("FF07")
    assert encode_sfloat(Decimal("Infinity")) == bytes.fromhex("FE07")
    assert encode_sfloat(Decimal("-Infinity")) == bytes.fromhex("0208")
    assert encode_sfloat(Special.NRES) == bytes.fromhex("0008")
    assert encode_float(Special.RESERVED) == bytes.fromhex("01008000")


@pytest.mark.parametrize(("data", "offset"), [(b"", 0), (b"\x01", 0), (b"\x01\x02", 1), (b"\x01\x02", -1)])
def test_short_numbers_are_frame_errors(data: bytes, offset: int) -> None:
    with pytest.raises(FrameError):
        decode_sfloat(data, offset)
    with pytest.raises(FrameError):
        decode_float(data + b"\x00", offset)


def test_scaling_shifts_the_exponent_exactly() -> None:
    assert Mder(95, -5).scaled(5).text == "95"
    assert Mder(55, -4).scaled(3).text == "5.5"
    assert Mder(special=Special.NAN).scaled(3).special is Special.NAN


# --- date and time ---------------------------------------------------------------------------


def test_date_time_decodes_to_a_naive_wall_clock_time() -> None:
    stamp = decode_date_time(bytes.fromhex("E20704110F3300"))
    assert stamp == DateTime(year=2018, month=4, day=17, hours=15, minutes=51, seconds=0)
    assert stamp.to_datetime() == datetime(2018, 4, 17, 15, 51, 0)


@pytest.mark.parametrize(
    "stamp",
    [
        DateTime(year=0, month=0, day=0, hours=18, minutes=26, seconds=32),
        DateTime(year=0, month=4, day=17, hours=20, minutes=41, seconds=59),
        DateTime(year=2024, month=0, day=3),
        DateTime(year=2024, month=2, day=0),
        DateTime(year=772, month=5, day=6, hours=7, minutes=8, seconds=9),
        DateTime(year=2023, month=2, day=30),
        DateTime(year=2023, month=1, day=1, hours=24),
        DateTime(year=2023, month=13, day=1),
    ],
)
def test_unknown_or_impossible_dates_give_no_timestamp_but_keep_their_fields(stamp: DateTime) -> None:
    decoded = decode_date_time(encode_date_time(stamp))
    assert decoded == stamp
    assert decoded.to_datetime() is None
    fields = decoded.as_json()
    assert fields["iso"] is None
    assert (fields["year"], fields["month"], fields["day"]) == (stamp.year, stamp.month, stamp.day)


def test_current_time_decodes_every_part() -> None:
    value = decode_current_time(bytes.fromhex("E707010214160701FF01"))
    assert value == CurrentTime(
        year=2023,
        month=1,
        day=2,
        hours=20,
        minutes=22,
        seconds=7,
        day_of_week=1,
        fractions256=255,
        adjust_reason=1,
    )
    assert value.to_datetime() == datetime(2023, 1, 2, 20, 22, 7, 996093)
    assert value.as_json()["adjust_reason"] == {
        "raw": 1,
        "manual": True,
        "external_reference": False,
        "time_zone_change": False,
        "dst_change": False,
    }


def test_the_day_of_week_is_kept_as_sent_not_recomputed() -> None:
    # 2022-12-29 was a Thursday; the device says 5.
    value = decode_day_date_time(encode_date_time(DateTime(year=2022, month=12, day=29)) + b"\x05")
    assert value.day_of_week == 5


def test_current_time_from_a_datetime_sets_weekday_and_fraction() -> None:
    moment = datetime(2024, 3, 10, 8, 30, 15, 500000)
    value = CurrentTime.from_datetime(moment)
    assert (value.day_of_week, value.fractions256, value.adjust_reason) == (7, 128, 1)
    assert encode_current_time(value) == bytes.fromhex("E807030A081E0F078001")


@given(
    st.integers(0, 0xFFFF),
    *(st.integers(0, 0xFF) for _ in range(5)),
    st.integers(0, 0xFF),
    st.integers(0, 0xFF),
    st.integers(0, 0xFF),
)
@settings(max_examples=200)
def test_time_structures_round_trip(
    year: int, month: int, day: int, hours: int, minutes: int, seconds: int, dow: int, frac: int, reason: int
) -> None:
    base = {"year": year, "month": month, "day": day, "hours": hours, "minutes": minutes, "seconds": seconds}
    assert decode_date_time(encode_date_time(DateTime(**base))) == DateTime(**base)
    day_date = DayDateTime(**base, day_of_week=dow)
    assert decode_day_date_time(encode_day_date_time(day_date)) == day_date
    exact = ExactTime256(**base, day_of_week=dow, fractions256=frac)
    assert decode_exact_time_256(encode_exact_time_256(exact)) == exact
    current = CurrentTime(**base, day_of_week=dow, fractions256=frac, adjust_reason=reason)
    assert decode_current_time(encode_current_time(current)) == current


@given(st.datetimes(min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31)))
@settings(max_examples=200)
def test_real_datetimes_survive_the_wire_to_the_second(moment: datetime) -> None:
    assert decode_date_time(encode_date_time(DateTime.from_datetime(moment))).to_datetime() == moment.replace(
        microsecond=0
    )
    exact = decode_current_time(encode_current_time(CurrentTime.from_datetime(moment))).to_datetime()
    assert exact is not None
    assert abs((exact - moment).total_seconds()) < 1 / 256


@pytest.mark.parametrize(
    "value",
    [DateTime(year=70000), DateTime(month=256), DateTime(seconds=-1), CurrentTime(adjust_reason=256)],
)
def test_times_that_do_not_fit_the_wire_are_refused(value: DateTime) -> None:
    with pytest.raises(FrameError):
        encode_current_time(value) if isinstance(value, CurrentTime) else encode_date_time(value)


@pytest.mark.parametrize(
    ("decode", "size"),
    [(decode_date_time, 7), (decode_day_date_time, 8), (decode_exact_time_256, 9), (decode_current_time, 10)],
)
def test_short_times_are_frame_errors(decode: Callable[[bytes], DateTime], size: int) -> None:
    with pytest.raises(FrameError):
        decode(bytes(size - 1))
    decode(bytes(size))
