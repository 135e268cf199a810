"""Glucose Measurement Context 0x2A34: meal, carbohydrate, exercise, medication, HbA1c of a reading.

The context joins its 0x2A18 measurement on the sequence number; it adds no measurement of its own
(an HbA1c typed into a meter is context, not a lab result).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drivers._bits import bit_fields, pack_uint
from drivers.ble._frame import named, number_json
from drivers.ble._wire import Reader, flag, flags_from
from drivers.errors import FrameError
from drivers.ieee11073 import Mder, encode_sfloat
from drivers.measurement import DecodedFrame

__all__ = ["GlucoseContext", "decode_glucose_context", "encode_glucose_context", "parse_glucose_context"]

_FLAGS = (
    "carbohydrate_id_and_carbohydrate_present",
    "meal_present",
    "tester_health_present",
    "exercise_duration_and_intensity_present",
    "medication_id_and_medication_present",
    "medication_value_units_liters",
    "hba1c_present",
    "extended_flags_present",
)
CARBOHYDRATES = {1: "breakfast", 2: "lunch", 3: "dinner", 4: "snack", 5: "drink", 6: "supper", 7: "brunch"}
MEALS = {1: "preprandial", 2: "postprandial", 3: "fasting", 4: "casual", 5: "bedtime"}
TESTERS = {1: "self", 2: "health_care_professional", 3: "lab_test", 15: "not_available"}
HEALTH = {
    1: "minor_health_issues",
    2: "major_health_issues",
    3: "during_menses",
    4: "under_stress",
    5: "no_health_issues",
    15: "not_available",
}
MEDICATIONS = {
    1: "rapid_acting_insulin",
    2: "short_acting_insulin",
    3: "intermediate_acting_insulin",
    4: "long_acting_insulin",
    5: "pre_mixed_insulin",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class GlucoseContext:
    """The fields of one 0x2A34 value; the paired fields (id + value) are both set or both None."""

    sequence_number: int
    extended_flags: int | None = None
    carbohydrate_id: int | None = None
    carbohydrate: Mder | None = None
    meal: int | None = None
    tester: int | None = None
    health: int | None = None
    exercise_duration: int | None = None
    exercise_intensity: int | None = None
    medication_id: int | None = None
    medication: Mder | None = None
    medication_in_liters: bool = False
    hba1c: Mder | None = None


_SIZES = ((0, 3), (1, 1), (2, 1), (3, 3), (4, 3), (6, 2), (7, 1))


def parse_glucose_context(data: bytes) -> GlucoseContext:
    """The typed fields of a 0x2A34 value; trailing bytes the flags do not announce are ignored."""
    reader = Reader(data, "glucose measurement context")
    flags = reader.uint(1)
    reader.require(3 + sum(size for bit, size in _SIZES if flag(flags, bit)))
    sequence_number = reader.uint(2)
    extended = reader.uint(1) if flag(flags, 7) else None
    carbohydrate = (reader.uint(1), reader.sfloat()) if flag(flags, 0) else (None, None)
    meal = reader.uint(1) if flag(flags, 1) else None
    tester_health = reader.uint(1) if flag(flags, 2) else None
    exercise = (reader.uint(2), reader.uint(1)) if flag(flags, 3) else (None, None)
    medication = (reader.uint(1), reader.sfloat()) if flag(flags, 4) else (None, None)
    return GlucoseContext(
        sequence_number=sequence_number,
        extended_flags=extended,
        carbohydrate_id=carbohydrate[0],
        carbohydrate=carbohydrate[1],
        meal=meal,
        tester=None if tester_health is None else tester_health & 0x0F,
        health=None if tester_health is None else tester_health >> 4,
        exercise_duration=exercise[0],
        exercise_intensity=exercise[1],
        medication_id=medication[0],
        medication=medication[1],
        medication_in_liters=flag(flags, 5),
        hba1c=reader.sfloat() if flag(flags, 6) else None,
    )


def _pair(first: object, second: object, what: str) -> bool:
    if (first is None) != (second is None):
        raise FrameError(f"glucose context: {what} needs both of its fields or neither")
    return first is not None


def encode_glucose_context(record: GlucoseContext) -> bytes:
    """The 0x2A34 value of ``record``; flags follow the fields that are present."""
    flags = flags_from(
        _pair(record.carbohydrate_id, record.carbohydrate, "carbohydrate"),
        record.meal is not None,
        _pair(record.tester, record.health, "tester/health"),
        _pair(record.exercise_duration, record.exercise_intensity, "exercise"),
        _pair(record.medication_id, record.medication, "medication"),
        record.medication_in_liters,
        record.hba1c is not None,
        record.extended_flags is not None,
    )
    head = [bytes([flags]), pack_uint(record.sequence_number, 2, "sequence number")]
    return b"".join(head + _optional_parts(record))


def _optional_parts(record: GlucoseContext) -> list[bytes]:
    parts = []
    if record.extended_flags is not None:
        parts.append(pack_uint(record.extended_flags, 1, "extended flags"))
    if record.carbohydrate_id is not None and record.carbohydrate is not None:
        parts += [pack_uint(record.carbohydrate_id, 1, "carbohydrate id"), encode_sfloat(record.carbohydrate)]
    if record.meal is not None:
        parts.append(pack_uint(record.meal, 1, "meal"))
    if record.tester is not None and record.health is not None:
        if not (0 <= record.tester <= 0x0F and 0 <= record.health <= 0x0F):
            raise FrameError(f"tester {record.tester} / health {record.health} do not fit a nibble")
        parts.append(bytes([record.health << 4 | record.tester]))
    if record.exercise_duration is not None and record.exercise_intensity is not None:
        parts.append(pack_uint(record.exercise_duration, 2, "exercise duration"))
        parts.append(pack_uint(record.exercise_intensity, 1, "exercise intensity"))
    if record.medication_id is not None and record.medication is not None:
        parts += [pack_uint(record.medication_id, 1, "medication id"), encode_sfloat(record.medication)]
    if record.hba1c is not None:
        parts.append(encode_sfloat(record.hba1c))
    return parts


def _fields(record: GlucoseContext, flags: int) -> dict[str, Any]:
    return {
        "flags": bit_fields(flags, _FLAGS),
        "sequence_number": record.sequence_number,
        "extended_flags": record.extended_flags,
        "carbohydrate_id": record.carbohydrate_id,
        "carbohydrate_id_name": named(record.carbohydrate_id, CARBOHYDRATES),
        "carbohydrate": number_json(record.carbohydrate),  # kilograms
        "meal": record.meal,
        "meal_name": named(record.meal, MEALS),
        "tester": record.tester,
        "tester_name": named(record.tester, TESTERS),
        "health": record.health,
        "health_name": named(record.health, HEALTH),
        "exercise_duration": record.exercise_duration,  # seconds; 65535 = overrun
        "exercise_intensity": record.exercise_intensity,  # percent
        "medication_id": record.medication_id,
        "medication_id_name": named(record.medication_id, MEDICATIONS),
        "medication": number_json(record.medication),
        "medication_unit": None if record.medication is None else ("L" if record.medication_in_liters else "kg"),
        "hba1c": number_json(record.hba1c),  # percent
    }


def decode_glucose_context(data: bytes) -> DecodedFrame:
    """Decode a Glucose Measurement Context (0x2A34); ``sequence`` joins it to its measurement."""
    record = parse_glucose_context(data)
    return DecodedFrame(
        protocol="ble:2A34",
        measurements=(),
        fields=_fields(record, data[0]),
        sequence=str(record.sequence_number),
    )
