"""Temperature Measurement 0x2A1C, Intermediate Temperature 0x2A1E, Temperature Type 0x2A1D and
Measurement Interval 0x2A21 of the Health Thermometer service."""

from __future__ import annotations

from dataclasses import dataclass

from drivers._bits import bit_fields, pack_uint
from drivers.ble._frame import measure, named, taken_at, time_json
from drivers.ble._wire import Reader, flag, flags_from
from drivers.errors import FrameError
from drivers.ieee11073 import DateTime, Mder, encode_date_time, encode_float
from drivers.measurement import DecodedFrame

__all__ = [
    "TEMPERATURE_TYPES",
    "Temperature",
    "decode_intermediate_temperature",
    "decode_measurement_interval",
    "decode_temperature",
    "decode_temperature_type",
    "encode_temperature",
    "parse_temperature",
]

_FLAGS = ("units_fahrenheit", "time_stamp_present", "temperature_type_present")
TEMPERATURE_TYPES = {
    1: "armpit",
    2: "body",
    3: "ear",
    4: "finger",
    5: "gastrointestinal_tract",
    6: "mouth",
    7: "rectum",
    8: "toe",
    9: "tympanum",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Temperature:
    """The fields of one 0x2A1C or 0x2A1E value (the temperature is a 32-bit FLOAT)."""

    temperature: Mder
    fahrenheit: bool = False
    time_stamp: DateTime | None = None
    temperature_type: int | None = None


def parse_temperature(data: bytes) -> Temperature:
    """The typed fields of a 0x2A1C or 0x2A1E value; FrameError if shorter than its flags say."""
    reader = Reader(data, "temperature measurement")
    flags = reader.uint(1)
    reader.require(5 + (7 if flag(flags, 1) else 0) + (1 if flag(flags, 2) else 0))
    return Temperature(
        temperature=reader.float32(),
        fahrenheit=flag(flags, 0),
        time_stamp=reader.date_time() if flag(flags, 1) else None,
        temperature_type=reader.uint(1) if flag(flags, 2) else None,
    )


def encode_temperature(record: Temperature) -> bytes:
    """The 0x2A1C (or 0x2A1E) value of ``record``; flags follow the fields that are present."""
    flags = flags_from(record.fahrenheit, record.time_stamp is not None, record.temperature_type is not None)
    parts = [bytes([flags]), encode_float(record.temperature)]
    if record.time_stamp is not None:
        parts.append(encode_date_time(record.time_stamp))
    if record.temperature_type is not None:
        parts.append(pack_uint(record.temperature_type, 1, "temperature type"))
    return b"".join(parts)


def _decode(data: bytes, protocol: str, final: bool) -> DecodedFrame:
    record = parse_temperature(data)
    when = taken_at(record.time_stamp)
    unit = "[degF]" if record.fahrenheit else "Cel"
    found = measure("8310-5", record.temperature, unit, taken_at=when, mdc="150364")
    fields = {
        "flags": bit_fields(data[0], _FLAGS),
        "unit": "Fahrenheit" if record.fahrenheit else "Celsius",
        "temperature": record.temperature.as_json(),
        "time_stamp": time_json(record.time_stamp),
        "temperature_type": record.temperature_type,
        "temperature_type_name": named(record.temperature_type, TEMPERATURE_TYPES),
    }
    return DecodedFrame(protocol=protocol, measurements=(found,), fields=fields, device_time=when, final=final)


def decode_temperature(data: bytes) -> DecodedFrame:
    """Decode a Temperature Measurement (0x2A1C) into a body temperature (8310-5)."""
    return _decode(data, "ble:2A1C", final=True)


def decode_intermediate_temperature(data: bytes) -> DecodedFrame:
    """Decode an Intermediate Temperature (0x2A1E): a reading while measuring, ``final=False``."""
    return _decode(data, "ble:2A1E", final=False)


def decode_temperature_type(data: bytes) -> DecodedFrame:
    """Decode Temperature Type (0x2A1D, u8): where the thermometer measures."""
    if len(data) < 1:
        raise FrameError("temperature type: empty value")
    fields = {"temperature_type": data[0], "temperature_type_name": named(data[0], TEMPERATURE_TYPES)}
    return DecodedFrame(protocol="ble:2A1D", measurements=(), fields=fields)


def decode_measurement_interval(data: bytes) -> DecodedFrame:
    """Decode Measurement Interval (0x2A21, u16 seconds; 0 = no periodic measurement)."""
    if len(data) < 2:
        raise FrameError(f"measurement interval: {len(data)} bytes, need 2")
    fields = {"measurement_interval": int.from_bytes(data[:2], "little")}
    return DecodedFrame(protocol="ble:2A21", measurements=(), fields=fields)
