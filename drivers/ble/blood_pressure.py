"""Blood Pressure Measurement 0x2A35, Intermediate Cuff Pressure 0x2A36 and Feature 0x2A49."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from drivers._bits import bit_fields, pack_uint, set_bits
from drivers.ble._frame import measure, number_json, taken_at, time_json
from drivers.ble._wire import flag, flags_from
from drivers.errors import FrameError
from drivers.ieee11073 import DateTime, Mder, decode_date_time, encode_date_time, encode_sfloat, sfloat_from_raw
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


_NAME = "blood pressure measurement"
_HEAD = struct.Struct("<BHHH")
# The length each combination of the five flag bits announces: 7 bytes, then time stamp, pulse, user, status.
_SIZES = tuple(7 + sum(size for bit, size in ((1, 7), (2, 2), (3, 1), (4, 2)) if flag(f, bit)) for f in range(32))


def parse_blood_pressure(data: bytes) -> BloodPressure:
    """The typed fields of a 0x2A35 or 0x2A36 value; FrameError if it is shorter than its flags say."""
    if not data:
        raise FrameError(f"{_NAME}: truncated at byte 0 (value has 0)")
    need = _SIZES[data[0] & 0x1F]
    if len(data) < need:
        raise FrameError(f"{_NAME}: {len(data)} bytes, the flags announce {need}")
    flags, systolic, diastolic, mean = _HEAD.unpack_from(data)
    time_stamp = pulse_rate = user_id = status = None
    pos = 7
    if flags & 0x02:
        time_stamp = decode_date_time(data, pos)
        pos += 7
    if flags & 0x04:
        pulse_rate = sfloat_from_raw(data[pos] | data[pos + 1] << 8)
        pos += 2
    if flags & 0x08:
        user_id = data[pos]
        pos += 1
    if flags & 0x10:
        status = data[pos] | data[pos + 1] << 8
    return BloodPressure(
        systolic=sfloat_from_raw(systolic),
        diastolic=sfloat_from_raw(diastolic),
        mean_arterial_pressure=sfloat_from_raw(mean),
        kpa=bool(flags & 0x01),
        time_stamp=time_stamp,
        pulse_rate=pulse_rate,
        user_id=user_id,
        measurement_status=status,
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


def _measurements(record: BloodPressure, when: datetime | None) -> tuple[Measurement, ...]:
    unit = "kPa" if record.kpa else "mm[Hg]"
    flags = status_flags(record.measurement_status)
    found = (
        measure("8480-6", record.systolic, unit, taken_at=when, flags=flags, mdc="150021"),
        measure("8462-4", record.diastolic, unit, taken_at=when, flags=flags, mdc="150022"),
        measure("8478-0", record.mean_arterial_pressure, unit, taken_at=when, flags=flags, mdc="150023"),
    )
    if record.pulse_rate is None:
        return found
    return (*found, measure("8867-4", record.pulse_rate, "/min", taken_at=when, flags=flags, mdc="149546"))


def _measurement_fields(record: BloodPressure, flags: int) -> dict[str, Any]:
    fields = _common_fields(record, flags)
    fields.update(
        systolic=record.systolic.as_json(),
        diastolic=record.diastolic.as_json(),
        mean_arterial_pressure=record.mean_arterial_pressure.as_json(),
    )
    return fields


def _cuff_fields(record: BloodPressure, flags: int) -> dict[str, Any]:
    fields = _common_fields(record, flags)
    fields.update(
        current_cuff_pressure=record.systolic.as_json(),
        unused_diastolic=record.diastolic.as_json(),
        unused_mean_arterial_pressure=record.mean_arterial_pressure.as_json(),
    )
    return fields


def decode_blood_pressure(data: bytes) -> DecodedFrame:
    """Decode a Blood Pressure Measurement (0x2A35) into the 85354-9 panel."""
    record = parse_blood_pressure(data)
    when = taken_at(record.time_stamp)
    return DecodedFrame(
        protocol="ble:2A35",
        measurements=_measurements(record, when),
        fields=lambda: _measurement_fields(record, data[0]),
        panel=PANEL,
        panel_display=PANEL_DISPLAY,
        device_time=when,
        subject=_subject(record),
    )


def decode_intermediate_cuff_pressure(data: bytes) -> DecodedFrame:
    """Decode an Intermediate Cuff Pressure (0x2A36): the inflating cuff, no clinical measurement.

    The current cuff pressure is in the systolic slot; the other two slots are unused (NaN by the
    specification, zero on some devices) and kept only as raw numbers.
    """
    record = parse_blood_pressure(data)
    return DecodedFrame(
        protocol="ble:2A36",
        measurements=(),
        fields=lambda: _cuff_fields(record, data[0]),
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
