"""Weight Measurement 0x2A9D and Weight Scale Feature 0x2A9E.

Weights are u16 counts of 0.005 kg (SI) or 0.01 lb (imperial), whatever resolution the feature
announces: the resolution says how precise the scale is, not the unit of the count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drivers._bits import bit_fields, pack_uint
from drivers.ble._frame import absent, fixed, measure, taken_at, time_json
from drivers.ble._wire import Reader, flag, flags_from
from drivers.errors import FrameError
from drivers.ieee11073 import DateTime, Mder, encode_date_time
from drivers.measurement import DecodedFrame, Measurement, Subject

__all__ = [
    "UNSUCCESSFUL",
    "WeightMeasurement",
    "decode_weight",
    "decode_weight_scale_feature",
    "encode_weight",
    "encode_weight_scale_feature",
    "height_value",
    "mass_value",
    "parse_weight",
    "resolution_json",
]

UNSUCCESSFUL = 0xFFFF  # "measurement unsuccessful" in a mass field
UNKNOWN_USER = 0xFF
_FLAGS = ("imperial_units", "time_stamp_present", "user_id_present", "bmi_and_height_present")
_FEATURES = ("time_stamp_supported", "multiple_users_supported", "bmi_supported")
# Resolution index -> (SI, imperial) step, per WSS/BCS feature tables.
MASS_RESOLUTIONS = {
    1: ("0.5", "1"),
    2: ("0.2", "0.5"),
    3: ("0.1", "0.2"),
    4: ("0.05", "0.1"),
    5: ("0.02", "0.05"),
    6: ("0.01", "0.02"),
    7: ("0.005", "0.01"),
}
HEIGHT_RESOLUTIONS = {1: ("0.01", "1"), 2: ("0.005", "0.5"), 3: ("0.001", "0.1")}


@dataclass(frozen=True, slots=True, kw_only=True)
class WeightMeasurement:
    """The fields of one 0x2A9D value as raw counts; ``bmi`` and ``height`` go together."""

    weight: int
    imperial: bool = False
    time_stamp: DateTime | None = None
    user_id: int | None = None
    bmi: int | None = None
    height: int | None = None


def mass_value(raw: int, imperial: bool) -> Mder | None:
    """A mass count as kg (x 0.005) or lb (x 0.01); None for "measurement unsuccessful"."""
    if raw == UNSUCCESSFUL:
        return None
    return fixed(raw, 1, -2) if imperial else fixed(raw, 5, -3)


def height_value(raw: int, imperial: bool) -> Mder:
    """A height count as m (x 0.001) or inches (x 0.1)."""
    return fixed(raw, 1, -1) if imperial else fixed(raw, 1, -3, min_decimals=2)


def mass_unit(imperial: bool) -> str:
    """The UCUM unit of the mass fields."""
    return "[lb_av]" if imperial else "kg"


def height_unit(imperial: bool) -> str:
    """The UCUM unit of the height field."""
    return "[in_i]" if imperial else "m"


def fixed_json(raw: int, value: Mder | None, unit: str) -> dict[str, Any]:
    """The field shape of a fixed-point count: raw, value, text and unit."""
    return {
        "raw": raw,
        "value": None if value is None else float(value.text),
        "text": "unsuccessful" if value is None else value.text,
        "unit": unit,
    }


def parse_weight(data: bytes) -> WeightMeasurement:
    """The typed fields of a 0x2A9D value; FrameError if shorter than its flags say."""
    reader = Reader(data, "weight measurement")
    flags = reader.uint(1)
    reader.require(3 + sum(size for bit, size in ((1, 7), (2, 1), (3, 4)) if flag(flags, bit)))
    weight = reader.uint(2)
    time_stamp = reader.date_time() if flag(flags, 1) else None
    user_id = reader.uint(1) if flag(flags, 2) else None
    bmi, height = (reader.uint(2), reader.uint(2)) if flag(flags, 3) else (None, None)
    return WeightMeasurement(
        weight=weight, imperial=flag(flags, 0), time_stamp=time_stamp, user_id=user_id, bmi=bmi, height=height
    )


def encode_weight(record: WeightMeasurement) -> bytes:
    """The 0x2A9D value of ``record``; flags follow the fields that are present."""
    if (record.bmi is None) != (record.height is None):
        raise FrameError("weight measurement: BMI and height go together")
    flags = flags_from(
        record.imperial, record.time_stamp is not None, record.user_id is not None, record.bmi is not None
    )
    parts = [bytes([flags]), pack_uint(record.weight, 2, "weight")]
    if record.time_stamp is not None:
        parts.append(encode_date_time(record.time_stamp))
    if record.user_id is not None:
        parts.append(pack_uint(record.user_id, 1, "user id"))
    if record.bmi is not None and record.height is not None:
        parts += [pack_uint(record.bmi, 2, "BMI"), pack_uint(record.height, 2, "height")]
    return b"".join(parts)


def _measurements(record: WeightMeasurement) -> tuple[Measurement, ...]:
    when = taken_at(record.time_stamp)
    unit = mass_unit(record.imperial)
    weight = mass_value(record.weight, record.imperial)
    found = [
        absent("29463-7", unit, "measurement-unsuccessful", taken_at=when)
        if weight is None
        else measure("29463-7", weight, unit, taken_at=when, mdc="188736")
    ]
    if record.bmi is not None and record.height is not None:
        found.append(measure("39156-5", fixed(record.bmi, 1, -1), "kg/m2", taken_at=when, mdc="188752"))
        height = height_value(record.height, record.imperial)
        found.append(measure("8302-2", height, height_unit(record.imperial), taken_at=when, mdc="188740"))
    return tuple(found)


def _fields(record: WeightMeasurement, flags: int) -> dict[str, Any]:
    imperial = record.imperial
    bmi = height = None
    if record.bmi is not None and record.height is not None:
        bmi = fixed_json(record.bmi, fixed(record.bmi, 1, -1), "kg/m2")
        height = fixed_json(record.height, height_value(record.height, imperial), height_unit(imperial))
    return {
        "flags": bit_fields(flags, _FLAGS),
        "unit_system": "imperial" if imperial else "SI",
        "weight": fixed_json(record.weight, mass_value(record.weight, imperial), mass_unit(imperial)),
        "time_stamp": time_json(record.time_stamp),
        "user_id": record.user_id,
        "bmi": bmi,
        "height": height,
    }


def decode_weight(data: bytes) -> DecodedFrame:
    """Decode a Weight Measurement (0x2A9D): body weight, and BMI and height when present."""
    record = parse_weight(data)
    user = record.user_id
    return DecodedFrame(
        protocol="ble:2A9D",
        measurements=_measurements(record),
        fields=_fields(record, data[0]),
        device_time=taken_at(record.time_stamp),
        subject=Subject(device_user=user) if user is not None and user != UNKNOWN_USER else None,
    )


def resolution_json(index: int, table: dict[int, tuple[str, str]]) -> dict[str, Any]:
    """A resolution field of a feature: its index and the SI / imperial step (None = not specified)."""
    step = table.get(index)
    return {
        "index": index,
        "si": None if step is None else step[0],
        "imperial": None if step is None else step[1],
    }


def decode_weight_scale_feature(data: bytes) -> DecodedFrame:
    """Decode Weight Scale Feature (0x2A9E, u32): time stamp, users, BMI, resolutions."""
    if len(data) < 4:
        raise FrameError(f"weight scale feature: {len(data)} bytes, need 4")
    raw = int.from_bytes(data[:4], "little")
    fields = bit_fields(raw, _FEATURES)
    fields["weight_resolution"] = resolution_json(raw >> 3 & 0x0F, MASS_RESOLUTIONS)
    fields["height_resolution"] = resolution_json(raw >> 7 & 0x07, HEIGHT_RESOLUTIONS)
    return DecodedFrame(protocol="ble:2A9E", measurements=(), fields=fields)


def encode_weight_scale_feature(features: int) -> bytes:
    """The 0x2A9E value for a feature bit mask (resolutions included in bits 3-9)."""
    return pack_uint(features, 4, "weight scale feature")
