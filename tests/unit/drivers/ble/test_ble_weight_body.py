"""Weight Measurement 0x2A9D / Feature 0x2A9E and Body Composition 0x2A9C / Feature 0x2A9B."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from drivers.ble import decode_characteristic
from drivers.ble.body_composition import (
    BodyComposition,
    BodyCompositionAssembler,
    decode_body_composition,
    encode_body_composition,
    encode_body_composition_feature,
)
from drivers.ble.weight_scale import (
    WeightMeasurement,
    decode_weight,
    encode_weight,
    encode_weight_scale_feature,
)
from drivers.errors import FrameError
from drivers.ieee11073 import DateTime
from drivers.measurement import Subject

STAMP = DateTime(year=2024, month=1, day=2, hours=3, minutes=4, seconds=5)


@pytest.mark.parametrize("present", list(itertools.product([False, True], repeat=4)), ids=str)
def test_every_weight_flag_combination(present: tuple[bool, bool, bool, bool]) -> None:
    imperial, stamp, user, bmi = present
    record = WeightMeasurement(
        weight=15432 if imperial else 14100,
        imperial=imperial,
        time_stamp=STAMP if stamp else None,
        user_id=2 if user else None,
        bmi=231 if bmi else None,
        height=(689 if imperial else 1750) if bmi else None,
    )
    wire = encode_weight(record)
    assert len(wire) == 3 + 7 * stamp + user + 4 * bmi
    frame = decode_weight(wire)
    found = [(m.code, m.value_text, m.unit) for m in frame.measurements]
    expected = [("29463-7", "154.32", "[lb_av]") if imperial else ("29463-7", "70.5", "kg")]
    if bmi:
        expected += [
            ("39156-5", "23.1", "kg/m2"),
            ("8302-2", "68.9", "[in_i]") if imperial else ("8302-2", "1.75", "m"),
        ]
    assert found == expected
    assert frame.subject == (Subject(device_user=2) if user else None)
    assert (frame.device_time is not None) is stamp
    for cut in range(len(wire)):
        with pytest.raises(FrameError):
            decode_weight(wire[:cut])


def test_weight_counts_are_always_0_005_kg_whatever_the_resolution() -> None:
    # 0.1 kg resolution announced in the feature does not change the unit of the count.
    assert decode_weight(encode_weight(WeightMeasurement(weight=14000))).measurements[0].value == Decimal("70")
    assert decode_weight(encode_weight(WeightMeasurement(weight=14001))).measurements[0].value_text == "70.005"


def test_an_unsuccessful_weighing_has_no_value() -> None:
    (reading,) = decode_weight(encode_weight(WeightMeasurement(weight=0xFFFF))).measurements
    assert (reading.value, reading.flags) == (None, ("measurement-unsuccessful",))


def test_unknown_user_255_names_nobody() -> None:
    assert decode_weight(encode_weight(WeightMeasurement(weight=1, user_id=255))).subject is None


def test_weight_scale_feature_resolutions() -> None:
    fields = decode_characteristic(0x2A9E, encode_weight_scale_feature(0b011_0100_111)).fields
    assert (fields["time_stamp_supported"], fields["multiple_users_supported"], fields["bmi_supported"]) == (
        True,
        True,
        True,
    )
    assert fields["weight_resolution"] == {"index": 4, "si": "0.05", "imperial": "0.1"}
    assert fields["height_resolution"] == {"index": 3, "si": "0.001", "imperial": "0.1"}
    assert decode_characteristic(0x2A9E, bytes(4)).fields["weight_resolution"]["si"] is None
    with pytest.raises(FrameError):
        decode_characteristic(0x2A9E, bytes(3))


OPTIONAL = (
    "basal_metabolism",
    "muscle_percentage",
    "muscle_mass",
    "fat_free_mass",
    "soft_lean_mass",
    "body_water_mass",
    "impedance",
    "weight",
    "height",
)


@pytest.mark.parametrize("bit", range(13))
def test_each_body_composition_flag_alone(bit: int) -> None:
    extra: dict[str, object] = {}
    if bit == 0:
        extra["imperial"] = True
    elif bit == 1:
        extra["time_stamp"] = STAMP
    elif bit == 2:
        extra["user_id"] = 9
    elif bit == 12:
        extra["multiple_packet"] = True
    else:
        extra[OPTIONAL[bit - 3]] = 1000
    wire = encode_body_composition(BodyComposition(body_fat_percentage=215, **extra))  # type: ignore[arg-type]
    assert int.from_bytes(wire[:2], "little") == 1 << bit
    frame = decode_body_composition(wire)
    assert frame.measurements[0].value_text == "21.5"
    assert frame.final is (bit != 12)
    for cut in range(len(wire)):
        with pytest.raises(FrameError):
            decode_body_composition(wire[:cut])


def test_body_composition_measurements_and_units() -> None:
    record = BodyComposition(body_fat_percentage=250, weight=14000, height=1700, impedance=4990, basal_metabolism=6500)
    frame = decode_body_composition(encode_body_composition(record))
    assert [(m.code, m.value_text, m.unit) for m in frame.measurements] == [
        ("41982-0", "25.0", "%"),
        ("29463-7", "70.0", "kg"),
        ("8302-2", "1.70", "m"),
    ]
    assert frame.fields["impedance"]["text"] == "499.0"
    assert frame.fields["basal_metabolism"]["unit"] == "kJ"
    imperial = decode_body_composition(
        encode_body_composition(BodyComposition(body_fat_percentage=1, imperial=True, weight=15432, height=689))
    )
    assert [m.unit for m in imperial.measurements] == ["%", "[lb_av]", "[in_i]"]


def test_two_indications_merge_into_one_measurement() -> None:
    first = BodyComposition(
        body_fat_percentage=250, time_stamp=STAMP, user_id=4, muscle_mass=6000, multiple_packet=True
    )
    second = BodyComposition(body_fat_percentage=0xFFFF, weight=14000, height=1700, multiple_packet=True)
    assembler = BodyCompositionAssembler()
    assert assembler.feed(encode_body_composition(first)) == []
    (frame,) = assembler.feed(encode_body_composition(second))
    assert frame.final is True
    assert frame.fields["packets"] == 2
    assert [m.code for m in frame.measurements] == ["41982-0", "29463-7", "8302-2"]
    assert frame.measurements[0].value_text == "25.0"
    assert frame.fields["muscle_mass"]["text"] == "30.0"
    assert frame.subject == Subject(device_user=4)
    assert frame.device_time is not None
    assert assembler.flush() == []


def test_a_lonely_half_is_handed_on_not_lost() -> None:
    assembler = BodyCompositionAssembler()
    half = encode_body_composition(BodyComposition(body_fat_percentage=200, multiple_packet=True))
    single = encode_body_composition(BodyComposition(body_fat_percentage=300))
    assert assembler.feed(half) == []
    incomplete, complete = assembler.feed(single)
    assert (incomplete.final, incomplete.measurements[0].value_text) == (False, "20.0")
    assert (complete.final, complete.measurements[0].value_text) == (True, "30.0")
    assert assembler.feed(half) == []
    (flushed,) = assembler.flush()
    assert flushed.final is False


def test_halves_in_different_unit_systems_are_rejected() -> None:
    assembler = BodyCompositionAssembler()
    assembler.feed(encode_body_composition(BodyComposition(body_fat_percentage=1, multiple_packet=True)))
    with pytest.raises(FrameError):
        assembler.feed(
            encode_body_composition(BodyComposition(body_fat_percentage=1, imperial=True, multiple_packet=True))
        )
    with pytest.raises(FrameError):
        assembler.feed(b"\x00")


def test_body_composition_feature() -> None:
    raw = 0x7FF | 7 << 11 | 3 << 15
    fields = decode_characteristic(0x2A9B, encode_body_composition_feature(raw)).fields
    assert all(fields[f"{name}_supported"] for name in OPTIONAL)
    assert fields["mass_resolution"]["si"] == "0.005"
    assert fields["height_resolution"]["imperial"] == "0.1"
    with pytest.raises(FrameError):
        decode_characteristic(0x2A9B, bytes(2))


def test_a_two_packet_measurement_travels_as_one_pair_frame() -> None:
    """What the BLE link sends for a split measurement decodes to the one merged reading."""
    from drivers.ble.body_composition import PAIR_PROTOCOL, encode_pair
    from drivers.decode import decode_one

    first = encode_body_composition(
        BodyComposition(body_fat_percentage=250, time_stamp=STAMP, user_id=4, muscle_mass=6000, multiple_packet=True)
    )
    second = encode_body_composition(
        BodyComposition(body_fat_percentage=0xFFFF, weight=14000, height=1700, multiple_packet=True)
    )
    frame = decode_one(PAIR_PROTOCOL, encode_pair(first, second))
    assert frame.final
    assert {m.code for m in frame.measurements} >= {"41982-0", "29463-7"}
    assert not decode_one("ble:2A9C", first).final  # the first half alone is archived, not a reading
    for broken in (b"", encode_pair(first, b""), encode_pair(first, first)[:-3]):
        with pytest.raises(FrameError):
            decode_one(PAIR_PROTOCOL, broken)
