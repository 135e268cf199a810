"""PLX Spot-check 0x2A5E, Continuous 0x2A5F and Features 0x2A60."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from drivers.ble import decode_characteristic
from drivers.ble.pulse_oximeter import (
    Continuous,
    PlxFeatures,
    SpotCheck,
    decode_plx_continuous,
    decode_plx_spot_check,
    encode_plx_continuous,
    encode_plx_features,
    encode_plx_spot_check,
)
from drivers.errors import FrameError
from drivers.ieee11073 import DateTime, Mder, Special

STAMP = DateTime(year=2024, month=7, day=8, hours=9, minutes=10, seconds=11)


@pytest.mark.parametrize("present", list(itertools.product([False, True], repeat=5)), ids=str)
def test_every_spot_check_flag_combination(present: tuple[bool, bool, bool, bool, bool]) -> None:
    stamp, status, device, pai, clock_not_set = present
    record = SpotCheck(
        spo2=Mder(97),
        pulse_rate=Mder(68),
        time_stamp=STAMP if stamp else None,
        measurement_status=0x0100 if status else None,
        device_and_sensor_status=0x000020 if device else None,
        pulse_amplitude_index=Mder(52, -1) if pai else None,
        device_clock_not_set=clock_not_set,
    )
    wire = encode_plx_spot_check(record)
    assert wire[0] == sum(1 << bit for bit, on in enumerate(present) if on)
    assert len(wire) == 5 + 7 * stamp + 2 * status + 3 * device + 2 * pai
    frame = decode_plx_spot_check(wire)
    spo2, pulse = frame.measurements
    assert (spo2.code, spo2.unit, spo2.mdc_code) == ("59408-5", "%", "150456")
    assert (pulse.code, pulse.unit, pulse.mdc_code) == ("8867-4", "/min", "149530")
    flags = (("fully-qualified-data",) if status else ()) + (("low-perfusion-detected",) if device else ())
    flags += ("device-clock-not-set",) if clock_not_set else ()
    assert spo2.flags == flags
    device_time = datetime(2024, 7, 8, 9, 10, 11) if stamp else None
    assert frame.device_time == device_time
    assert spo2.taken_at == (None if clock_not_set else device_time)
    assert (frame.fields["pulse_amplitude_index"] or {}).get("text") == ("5.2" if pai else None)
    for cut in range(len(wire)):
        with pytest.raises(FrameError):
            decode_plx_spot_check(wire[:cut])


@pytest.mark.parametrize("present", list(itertools.product([False, True], repeat=5)), ids=str)
def test_every_continuous_flag_combination(present: tuple[bool, bool, bool, bool, bool]) -> None:
    fast, slow, status, device, pai = present
    record = Continuous(
        spo2=Mder(96),
        pulse_rate=Mder(70),
        spo2_fast=Mder(95) if fast else None,
        pulse_rate_fast=Mder(72) if fast else None,
        spo2_slow=Mder(97) if slow else None,
        pulse_rate_slow=Mder(69) if slow else None,
        measurement_status=0x0020 if status else None,
        device_and_sensor_status=0x008000 if device else None,
        pulse_amplitude_index=Mder(3) if pai else None,
    )
    wire = encode_plx_continuous(record)
    assert wire[0] == sum(1 << bit for bit, on in enumerate(present) if on)
    assert len(wire) == 5 + 4 * fast + 4 * slow + 2 * status + 3 * device + 2 * pai
    frame = decode_plx_continuous(wire)
    assert [m.value_text for m in frame.measurements] == ["96", "70"]
    assert (frame.fields["spo2_fast"] or {}).get("text") == ("95" if fast else None)
    assert (frame.fields["pulse_rate_slow"] or {}).get("text") == ("69" if slow else None)
    expected = (("measurement-ongoing",) if status else ()) + (("sensor-disconnected",) if device else ())
    assert frame.measurements[1].flags == expected
    for cut in range(len(wire)):
        with pytest.raises(FrameError):
            decode_plx_continuous(wire[:cut])


def test_the_two_measurements_read_flag_bit_0_differently() -> None:
    # bit 0 on a spot-check is a time stamp (7 bytes); on a continuous value it is the fast pair (4 bytes).
    spot = decode_characteristic(0x2A5E, bytes.fromhex("0161004400E8070708090A0B"))
    assert spot.device_time == datetime(2024, 7, 8, 9, 10, 11)
    continuous = decode_characteristic(0x2A5F, bytes.fromhex("016100440060004500"))
    assert continuous.fields["spo2_fast"]["value"] == 96.0


def test_unavailable_values_are_nan_not_2047() -> None:
    frame = decode_characteristic(0x2A5F, bytes.fromhex("00FF07FF07"))
    assert [(m.value, m.flags) for m in frame.measurements] == [(None, ("nan",)), (None, ("nan",))]
    record = SpotCheck(spo2=Mder(special=Special.NAN), pulse_rate=Mder(80))
    assert decode_plx_spot_check(encode_plx_spot_check(record)).measurements[0].value is None


def test_features_carry_support_fields_only_when_announced() -> None:
    assert decode_characteristic(0x2A60, b"\x0c\x00").fields["measurement_status_support"] is None
    wire = encode_plx_features(
        PlxFeatures(
            supported_features=0x03,
            measurement_status_support=0x0100,
            device_and_sensor_status_support=0x00FFFF,
        )
    )
    fields = decode_characteristic(0x2A60, wire).fields
    assert fields["measurement_status_support"]["fully_qualified_data"] is True
    assert fields["device_and_sensor_status_support"]["raw"] == 0xFFFF
    assert fields["supported_features"]["measurement_status_supported"] is True
    with pytest.raises(FrameError):
        decode_characteristic(0x2A60, b"\x03\x00\x00\x01")
    with pytest.raises(FrameError):
        encode_plx_features(PlxFeatures(supported_features=0x01))


def test_half_a_fast_pair_is_refused_by_the_encoder() -> None:
    with pytest.raises(FrameError):
        encode_plx_continuous(Continuous(spo2=Mder(96), pulse_rate=Mder(70), spo2_fast=Mder(95)))
