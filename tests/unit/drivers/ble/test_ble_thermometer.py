"""Temperature Measurement 0x2A1C / Intermediate 0x2A1E, Temperature Type 0x2A1D, Interval 0x2A21."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal

import pytest

from drivers.ble import decode_characteristic
from drivers.ble.thermometer import Temperature, decode_temperature, encode_temperature
from drivers.errors import FrameError
from drivers.ieee11073 import DateTime, Mder, Special

STAMP = DateTime(year=2023, month=11, day=2, hours=6, minutes=5, seconds=4)


@pytest.mark.parametrize("present", list(itertools.product([False, True], repeat=3)), ids=str)
def test_every_flag_combination_decodes_what_was_sent(present: tuple[bool, bool, bool]) -> None:
    fahrenheit, stamp, kind = present
    record = Temperature(
        temperature=Mder(9860, -2) if fahrenheit else Mder(3650, -2),
        fahrenheit=fahrenheit,
        time_stamp=STAMP if stamp else None,
        temperature_type=6 if kind else None,
    )
    wire = encode_temperature(record)
    assert len(wire) == 5 + 7 * stamp + kind
    (reading,) = decode_temperature(wire).measurements
    assert (reading.code, reading.unit, reading.mdc_code) == (
        "8310-5",
        "[degF]" if fahrenheit else "Cel",
        "150364",
    )
    assert reading.value_text == ("98.60" if fahrenheit else "36.50")
    assert reading.taken_at == (datetime(2023, 11, 2, 6, 5, 4) if stamp else None)
    assert decode_temperature(wire).fields["temperature_type_name"] == ("mouth" if kind else None)
    for cut in range(len(wire)):
        with pytest.raises(FrameError):
            decode_temperature(wire[:cut])


def test_intermediate_temperature_is_a_reading_in_progress() -> None:
    wire = encode_temperature(Temperature(temperature=Mder(361, -1)))
    frame = decode_characteristic(0x2A1E, wire)
    assert (frame.final, frame.protocol) == (False, "ble:2A1E")
    assert frame.measurements[0].value == Decimal("36.1")
    assert decode_characteristic(0x2A1C, wire).final is True


def test_special_temperature_values_carry_no_number() -> None:
    (reading,) = decode_temperature(
        encode_temperature(Temperature(temperature=Mder(special=Special.NRES)))
    ).measurements
    assert (reading.value, reading.flags) == (None, ("nres",))


@pytest.mark.parametrize(("value", "name"), [(1, "armpit"), (9, "tympanum"), (0, "reserved"), (10, "reserved")])
def test_temperature_type_characteristic(value: int, name: str) -> None:
    fields = decode_characteristic(0x2A1D, bytes([value])).fields
    assert fields == {"temperature_type": value, "temperature_type_name": name}


def test_measurement_interval_and_short_values() -> None:
    assert decode_characteristic(0x2A21, b"\x2c\x01").fields == {"measurement_interval": 300}
    for uuid in (0x2A1D, 0x2A21):
        with pytest.raises(FrameError):
            decode_characteristic(uuid, b"")
