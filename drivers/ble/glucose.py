"""Glucose Measurement 0x2A18 and Glucose Feature 0x2A51; the context 0x2A34 is re-exported."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from drivers._bits import bit_fields, pack_sint, pack_uint, set_bits
from drivers.ble._frame import measure, named, number_json, time_json
from drivers.ble._wire import Reader, flag, flags_from
from drivers.ble.glucose_context import (
    GlucoseContext,
    decode_glucose_context,
    encode_glucose_context,
    parse_glucose_context,
)
from drivers.errors import FrameError
from drivers.ieee11073 import DateTime, Mder, encode_date_time, encode_sfloat
from drivers.measurement import DecodedFrame, Measurement

__all__ = [
    "GlucoseContext",
    "GlucoseMeasurement",
    "decode_glucose",
    "decode_glucose_context",
    "decode_glucose_feature",
    "encode_glucose",
    "encode_glucose_context",
    "encode_glucose_feature",
    "parse_glucose",
    "parse_glucose_context",
    "user_facing_time",
]

_FLAGS = (
    "time_offset_present",
    "concentration_type_and_sample_location_present",
    "concentration_units_mol_per_l",
    "sensor_status_annunciation_present",
    "context_information_follows",
)
_ANNUNCIATION = (
    "device_battery_low",
    "sensor_malfunction",
    "sample_size_insufficient",
    "strip_insertion_error",
    "strip_type_incorrect",
    "result_higher_than_device_can_process",
    "result_lower_than_device_can_process",
    "sensor_temperature_too_high",
    "sensor_temperature_too_low",
    "sensor_read_interrupted",
    "general_device_fault",
    "time_fault",
)
_ANNUNCIATION_FLAGS = tuple(name.replace("_", "-") for name in _ANNUNCIATION)
TYPES = {
    1: "capillary_whole_blood",
    2: "capillary_plasma",
    3: "venous_whole_blood",
    4: "venous_plasma",
    5: "arterial_whole_blood",
    6: "arterial_plasma",
    7: "undetermined_whole_blood",
    8: "undetermined_plasma",
    9: "interstitial_fluid",
    10: "control_solution",
}
LOCATIONS = {1: "finger", 2: "alternate_site_test", 3: "earlobe", 4: "control_solution", 15: "not_available"}
_CONTROL_TYPE, _CONTROL_LOCATION = 10, 4
# MDC codes public sources give per sample type (docs/devices.md); other types have none we could confirm.
_MDC_BY_TYPE = {1: "160184", 8: "160368"}
_FEATURES = (
    "low_battery",
    "sensor_malfunction",
    "sample_size",
    "strip_insertion_error",
    "strip_type_error",
    "result_high_low",
    "temp_high_low",
    "read_interrupt",
    "general_device_fault",
    "time_fault",
    "multiple_bond",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class GlucoseMeasurement:
    """The fields of one 0x2A18 value; ``type`` and ``sample_location`` go only with a concentration.

    ``concentration`` is in kg/L, or in mol/L when ``mol_per_l`` is set, exactly as on the wire.
    """

    sequence_number: int
    base_time: DateTime
    time_offset: int | None = None
    concentration: Mder | None = None
    mol_per_l: bool = False
    type: int = 0
    sample_location: int = 0
    sensor_status_annunciation: int | None = None
    context_follows: bool = False


def parse_glucose(data: bytes) -> GlucoseMeasurement:
    """The typed fields of a 0x2A18 value; FrameError if it is shorter than its flags say."""
    reader = Reader(data, "glucose measurement")
    flags = reader.uint(1)
    reader.require(10 + sum(size for bit, size in ((0, 2), (1, 3), (3, 2)) if flag(flags, bit)))
    sequence_number, base_time = reader.uint(2), reader.date_time()
    time_offset = reader.sint(2) if flag(flags, 0) else None
    concentration, type_location = (reader.sfloat(), reader.uint(1)) if flag(flags, 1) else (None, 0)
    return GlucoseMeasurement(
        sequence_number=sequence_number,
        base_time=base_time,
        time_offset=time_offset,
        concentration=concentration,
        mol_per_l=flag(flags, 2),
        type=type_location & 0x0F,
        sample_location=type_location >> 4,
        sensor_status_annunciation=reader.uint(2) if flag(flags, 3) else None,
        context_follows=flag(flags, 4),
    )


def encode_glucose(record: GlucoseMeasurement) -> bytes:
    """The 0x2A18 value of ``record``; flags follow the fields that are present."""
    flags = flags_from(
        record.time_offset is not None,
        record.concentration is not None,
        record.mol_per_l,
        record.sensor_status_annunciation is not None,
        record.context_follows,
    )
    parts = [bytes([flags]), pack_uint(record.sequence_number, 2, "sequence number")]
    parts.append(encode_date_time(record.base_time))
    if record.time_offset is not None:
        parts.append(pack_sint(record.time_offset, 2, "time offset"))
    if record.concentration is not None:
        if not (0 <= record.type <= 0x0F and 0 <= record.sample_location <= 0x0F):
            raise FrameError(f"type {record.type} / location {record.sample_location} do not fit a nibble")
        parts += [encode_sfloat(record.concentration), bytes([record.sample_location << 4 | record.type])]
    if record.sensor_status_annunciation is not None:
        parts.append(pack_uint(record.sensor_status_annunciation, 2, "sensor status annunciation"))
    return b"".join(parts)


def user_facing_time(record: GlucoseMeasurement) -> datetime | None:
    """Base time plus time offset: when the sample was taken, by the meter's clock."""
    base = record.base_time.to_datetime()
    if base is None:
        return None
    return base + timedelta(minutes=record.time_offset or 0)


# (mass, molar) LOINC codes by where the sample came from (docs/devices.md). A capillary sample
# (types 1-2, or an undetermined one from a finger, alternate site or earlobe) is a glucometer's
# capillary blood, whatever the meter's plasma calibration; venous and arterial samples are blood
# or serum/plasma. Interstitial fluid has no code we could verify and stays unmapped.
_CAPILLARY = ("41653-7", "14743-9")
_BLOOD = ("2339-0", "15074-8")
_PLASMA = ("2345-7", "14749-6")
_CAPILLARY_SITES = (1, 2, 3)
_ISF = 9
_SAMPLES = {1: "capillary whole blood", 2: "capillary plasma", 3: "venous whole blood", 4: "venous plasma"}
_SAMPLES |= {5: "arterial whole blood", 6: "arterial plasma", 7: "whole blood", 8: "plasma"}
_SAMPLES |= {9: "interstitial fluid", 10: "control solution"}


def sample_codes(type_: int, location: int) -> tuple[str, str] | None:
    """The (mass, molar) LOINC codes for a sample type and location nibble; None for ISF."""
    if type_ == _ISF:
        return None
    if type_ in (1, 2) or (location in _CAPILLARY_SITES and type_ not in (3, 4, 5, 6)):
        return _CAPILLARY
    return _PLASMA if type_ in (4, 6, 8) else _BLOOD if type_ in (3, 5, 7) else _CAPILLARY


def _sample(record: GlucoseMeasurement) -> str:
    name = _SAMPLES.get(record.type, "reserved sample type")
    capillary = record.sample_location in _CAPILLARY_SITES and record.type in (7, 8)
    return f"capillary {name}" if capillary else name


def _measurement(record: GlucoseMeasurement, when: datetime | None) -> Measurement | None:
    if record.concentration is None:
        return None
    flags = set_bits(record.sensor_status_annunciation or 0, _ANNUNCIATION_FLAGS)
    if record.type == _CONTROL_TYPE or record.sample_location == _CONTROL_LOCATION:
        flags += ("control-solution",)  # a meter check, not a patient's sample
    elif record.type not in _SAMPLES:
        flags += ("sample-type-reserved",)  # read as a glucometer's capillary sample
    mdc = _MDC_BY_TYPE.get(record.type)
    # mmol/L = mol/L x 1000, mg/dL = kg/L x 100 000: exact in the exponent
    value, unit = (
        (record.concentration.scaled(3), "mmol/L") if record.mol_per_l else (record.concentration.scaled(5), "mg/dL")
    )
    codes = sample_codes(record.type, record.sample_location)
    if codes is None:
        return Measurement(
            code="",
            system="",
            display=f"Glucose in {_sample(record)} (no LOINC code)",
            value=value.value,
            value_text=value.text,
            unit=unit,
            taken_at=when,
            flags=(*((value.flag,) if value.flag else ()), *flags, "unmapped-sample-type"),
            mdc_code=mdc,
        )
    return measure(codes[1] if record.mol_per_l else codes[0], value, unit, taken_at=when, flags=flags, mdc=mdc)


def _fields(record: GlucoseMeasurement, flags: int, when: datetime | None) -> dict[str, Any]:
    has_concentration = record.concentration is not None
    annunciation = record.sensor_status_annunciation
    return {
        "flags": bit_fields(flags, _FLAGS),
        "sequence_number": record.sequence_number,
        "base_time": time_json(record.base_time),
        "time_offset": record.time_offset,
        "user_facing_time": None if when is None else when.isoformat(),
        "glucose_concentration": number_json(record.concentration),
        "glucose_concentration_unit": ("mol/L" if record.mol_per_l else "kg/L") if has_concentration else None,
        "type": record.type if has_concentration else None,
        "type_name": named(record.type, TYPES) if has_concentration else None,
        "sample_location": record.sample_location if has_concentration else None,
        "sample_location_name": named(record.sample_location, LOCATIONS) if has_concentration else None,
        "sample": _sample(record) if has_concentration else None,
        "sensor_status_annunciation": None if annunciation is None else bit_fields(annunciation, _ANNUNCIATION),
    }


def decode_glucose(data: bytes) -> DecodedFrame:
    """Decode a Glucose Measurement (0x2A18); ``sequence`` is the meter's sequence number.

    The measurement is in mg/dL for a kg/L value and mmol/L for a mol/L value, converted exactly
    (the value as sent stays in ``fields``); its LOINC code follows the sample type and location
    (``sample_codes``). A following 0x2A34 context carries the same sequence number.
    """
    record = parse_glucose(data)
    when = user_facing_time(record)
    found = _measurement(record, when)
    return DecodedFrame(
        protocol="ble:2A18",
        measurements=() if found is None else (found,),
        fields=_fields(record, data[0], when),
        device_time=when,
        sequence=str(record.sequence_number),
    )


def decode_glucose_feature(data: bytes) -> DecodedFrame:
    """Decode Glucose Feature (0x2A51, u16): which annunciations the meter supports."""
    if len(data) < 2:
        raise FrameError(f"glucose feature: {len(data)} bytes, need 2")
    return DecodedFrame(
        protocol="ble:2A51",
        measurements=(),
        fields=bit_fields(int.from_bytes(data[:2], "little"), _FEATURES),
    )


def encode_glucose_feature(features: int) -> bytes:
    """The 0x2A51 value for a feature bit mask."""
    return pack_uint(features, 2, "glucose feature")
