"""Blood Pressure Measurement 0x2A35, Intermediate Cuff Pressure 0x2A36 and Feature 0x2A49."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drivers._bits import bit_fields, pack_uint, set_bits
from drivers.ble._frame import measure, number_json, taken_at, time_json
from drivers.ble._wire import Reader, flag, flags_from
from drivers.errors import FrameError
from drivers.ieee11073 import DateTime, Mder, encode_date_time, encode_sfloat
from drivers.measurement import DecodedFrame, Measurement, Subject

__all__ = [
    "BloodPressure",
    "decode_blood_pressure",
    "decode_blood_pressure_feature",
    "decode_intermediate_cuff_pressure",
    "encode_blood_pressure",
    "encode_blood_pressure_feature",
    "parse_blood_pressure",
]

PANEL = "85354-9"
PANEL_DISPLAY = "Blood pressure panel with all children optional"
UNKNOWN_USER = 0xFF

_FLAGS = (
    "units_kpa",
    "time_stamp_present",
    "pulse_rate_present",
    "user_id_present",
    "measurement_status_present",
)
_STATUS = ("body_movement", "cuff_too_loose", "irregular_pulse", None, None, "improper_position")
_STATUS_FLAGS = ("body-movement", "cuff-too-loose", "irregular-pulse", None, None, "improper-position")
_PULSE_RANGE = ("in_range", "above_upper_limit", "below_lower_limit", "reserved")
_PULSE_RANGE_FLAGS = (None, "pulse-rate-above-range", "pulse-rate-below-range", "pulse-rate-range-reserved")
_FEATURES = (
    "body_movement_detection",
    "cuff_fit_detection",
    "irregular_pulse_detection",
    "pulse_rate_range_detection",
    "measurement_position_detection",
    "multiple_bond",
    "e2e_crc",
    "user_data_service",
    "user_facing_time",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class BloodPressure:
    """The fields of one 0x2A35 (or 0x2A36: cuff pressure in ``systolic``) value."""

    systolic: Mder
    diastolic: Mder
    mean_arterial_pressure: Mder
    kpa: bool = False
    time_stamp: DateTime | None = None
    pulse_rate: Mder | None = None
    user_id: int | None = None
    measurement_status: int | None = None


def parse_blood_pressure(data: bytes) -> BloodPressure:
    """The typed fields of a 0x2A35 or 0x2A36 value; FrameError if it is shorter than its flags say."""
    reader = Reader(data, "blood pressure measurement")
    flags = reader.uint(1)
    sizes = ((1, 7), (2, 2), (3, 1), (4, 2))
    reader.require(7 + sum(size for bit, size in sizes if flag(flags, bit)))
    systolic, diastolic, mean = reader.sfloat(), reader.sfloat(), reader.sfloat()
    return BloodPressure(
        systolic=systolic,
        diastolic=diastolic,
        mean_arterial_pressure=mean,
        kpa=flag(flags, 0),
        time_stamp=reader.date_time() if flag(flags, 1) else None,
        pulse_rate=reader.sfloat() if flag(flags, 2) else None,
        user_id=reader.uint(1) if flag(flags, 3) else None,
        measurement_status=reader.uint(2) if flag(flags, 4) else None,
    )


def encode_blood_pressure(record: BloodPressure) -> bytes:
    """The 0x2A35 (or 0x2A36) value of ``record``; flags follow the fields that are present."""
    flags = flags_from(
        record.kpa,
        record.time_stamp is not None,
        record.pulse_rate is not None,
        record.user_id is not None,
        record.measurement_status is not None,
    )
    parts = [bytes([flags])]
    parts += [encode_sfloat(v) for v in (record.systolic, record.diastolic, record.mean_arterial_pressure)]
    if record.time_stamp is not None:
        parts.append(encode_date_time(record.time_stamp))
    if record.pulse_rate is not None:
        parts.append(encode_sfloat(record.pulse_rate))
    if record.user_id is not None:
        parts.append(pack_uint(record.user_id, 1, "user id"))
    if record.measurement_status is not None:
        parts.append(pack_uint(record.measurement_status, 2, "measurement status"))
    return b"".join(parts)


def _status_json(status: int | None) -> dict[str, Any] | None:
    if status is None:
        return None
    fields = bit_fields(status, _STATUS)
    fields["pulse_rate_range"] = _PULSE_RANGE[status >> 3 & 0b11]
    return fields


def status_flags(status: int | None) -> tuple[str, ...]:
    """Measurement flags for the set status bits ("irregular-pulse", "pulse-rate-above-range", ...)."""
    if status is None:
        return ()
    pulse_range = _PULSE_RANGE_FLAGS[status >> 3 & 0b11]
    return set_bits(status, _STATUS_FLAGS) + ((pulse_range,) if pulse_range else ())


def _common_fields(record: BloodPressure, flags: int) -> dict[str, Any]:
    return {
        "flags": bit_fields(flags, _FLAGS),
        "unit": "kPa" if record.kpa else "mmHg",
        "time_stamp": time_json(record.time_stamp),
        "pulse_rate": number_json(record.pulse_rate),
        "user_id": record.user_id,
        "measurement_status": _status_json(record.measurement_status),
    }


def _subject(record: BloodPressure) -> Subject | None:
    if record.user_id is None or record.user_id == UNKNOWN_USER:
        return None
    return Subject(device_user=record.user_id)


def _measurements(record: BloodPressure) -> tuple[Measurement, ...]:
    when = taken_at(record.time_stamp)
    unit = "kPa" if record.kpa else "mm[Hg]"
    flags = status_flags(record.measurement_status)
    values = [
        ("8480-6", record.systolic, unit, "150021"),
        ("8462-4", record.diastolic, unit, "150022"),
        ("8478-0", record.mean_arterial_pressure, unit, "150023"),
    ]
    if record.pulse_rate is not None:
        values.append(("8867-4", record.pulse_rate, "/min", "149546"))
    return tuple(measure(code, value, u, taken_at=when, flags=flags, mdc=mdc) for code, value, u, mdc in values)


def decode_blood_pressure(data: bytes) -> DecodedFrame:
    """Decode a Blood Pressure Measurement (0x2A35) into the 85354-9 panel."""
    record = parse_blood_pressure(data)
    fields = _common_fields(record, data[0])
    fields.update(
        systolic=record.systolic.as_json(),
        diastolic=record.diastolic.as_json(),
        mean_arterial_pressure=record.mean_arterial_pressure.as_json(),
    )
    return DecodedFrame(
        protocol="ble:2A35",
        measurements=_measurements(record),
        fields=fields,
        panel=PANEL,
        panel_display=PANEL_DISPLAY,
        device_time=taken_at(record.time_stamp),
        subject=_subject(record),
    )


def decode_intermediate_cuff_pressure(data: bytes) -> DecodedFrame:
    """Decode an Intermediate Cuff Pressure (0x2A36): the inflating cuff, no clinical measurement.

    The current cuff pressure is in the systolic slot; the other two slots are unused (NaN by the
    specification, zero on some devices) and kept only as raw numbers.
    """
    record = parse_blood_pressure(data)
    fields = _common_fields(record, data[0])
    fields.update(
        current_cuff_pressure=record.systolic.as_json(),
        unused_diastolic=record.diastolic.as_json(),
        unused_mean_arterial_pressure=record.mean_arterial_pressure.as_json(),
    )
    return DecodedFrame(
        protocol="ble:2A36",
        measurements=(),
        fields=fields,
        device_time=taken_at(record.time_stamp),
        subject=_subject(record),
        final=False,
    )


def decode_blood_pressure_feature(data: bytes) -> DecodedFrame:
    """Decode Blood Pressure Feature (0x2A49, u16): which status bits the cuff can report."""
    if len(data) < 2:
        raise FrameError(f"blood pressure feature: {len(data)} bytes, need 2")
    return DecodedFrame(
        protocol="ble:2A49",
        measurements=(),
        fields=bit_fields(int.from_bytes(data[:2], "little"), _FEATURES),
    )


def encode_blood_pressure_feature(features: int) -> bytes:
    """The 0x2A49 value for a feature bit mask (0x1FF = all nine features)."""
    return pack_uint(features, 2, "blood pressure feature")
