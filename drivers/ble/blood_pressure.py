"""Blood Pressure Measurement 0x2A35, Intermediate Cuff Pressure 0x2A36 and Feature 0x2A49."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from drivers._bits import bit_fields, pack_uint, set_bits
from drivers.ble._frame import number_json, taken_at, time_json
from drivers.ble._wire import flag, flags_from
from drivers.errors import FrameError
from drivers.ieee11073 import (
    DateTime,
    Mder,
    decode_date_time,
    encode_date_time,
    encode_sfloat,
    sfloat_from_raw,
    sfloat_reading,
    wall_clock,
)
from drivers.measurement import DecodedFrame, Measurement, Subject, new_frame
from drivers.terminology import LOINC_SYSTEM, concept

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
_U16 = struct.Struct("<H")
_DATE_TIME = struct.Struct("<HBBBBB")


_Layout = tuple[int, int | None, int | None, int | None, int | None]


def _offsets(flags: int) -> _Layout:
    """The length five flag bits announce, and where the time stamp, pulse, user and status start."""
    at: list[int | None] = []
    pos = 7
    for bit, size in ((1, 7), (2, 2), (3, 1), (4, 2)):
        present = flag(flags, bit)
        at.append(pos if present else None)
        pos += size if present else 0
    time_at, pulse_at, user_at, status_at = at
    return pos, time_at, pulse_at, user_at, status_at


# Per combination of the five flag bits: the length, and the offsets of the optional fields.
_LAYOUTS = tuple(_offsets(f) for f in range(32))


def _layout(data: bytes) -> _Layout:
    """The length the flags announce, and the offsets of time stamp, pulse, user id and status
    (None when absent); FrameError if the value is shorter than its flags say."""
    if not data:
        raise FrameError(f"{_NAME}: truncated at byte 0 (value has 0)")
    layout = _LAYOUTS[data[0] & 0x1F]
    if len(data) < layout[0]:
        raise FrameError(f"{_NAME}: {len(data)} bytes, the flags announce {layout[0]}")
    return layout


def _u16(data: bytes, offset: int | None) -> int | None:
    return None if offset is None else _U16.unpack_from(data, offset)[0]


def parse_blood_pressure(data: bytes) -> BloodPressure:
    """The typed fields of a 0x2A35 or 0x2A36 value; FrameError if it is shorter than its flags say."""
    _, time_at, pulse_at, user_at, status_at = _layout(data)
    flags, systolic, diastolic, mean = _HEAD.unpack_from(data)
    pulse = _u16(data, pulse_at)
    return BloodPressure(
        systolic=sfloat_from_raw(systolic),
        diastolic=sfloat_from_raw(diastolic),
        mean_arterial_pressure=sfloat_from_raw(mean),
        kpa=bool(flags & 0x01),
        time_stamp=None if time_at is None else decode_date_time(data, time_at),
        pulse_rate=None if pulse is None else sfloat_from_raw(pulse),
        user_id=None if user_at is None else data[user_at],
        measurement_status=_u16(data, status_at),
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


# The panel's members: LOINC code, display and MDC code; the cuff's pulse rate after them.
_PANEL_PARTS = tuple(
    (code, concept(code).display, mdc)
    for code, mdc in (("8480-6", "150021"), ("8462-4", "150022"), ("8478-0", "150023"))
)
_PULSE = ("8867-4", concept("8867-4").display, "149546")
_new_tuple = tuple.__new__


def _reading(
    part: tuple[str, str, str], raw: int, unit: str, when: datetime | None, flags: tuple[str, ...]
) -> Measurement:
    """One member of the panel from its raw SFLOAT; a special value has no value and says why.

    The named tuple is made here as ``new_measurement`` makes it: a call fewer per member of every
    frame (issue 13: BLE decode).
    """
    code, display, mdc = part
    value, text, special = sfloat_reading(raw)
    return _new_tuple(Measurement, (code, display, value, text, unit, LOINC_SYSTEM, when, special + flags, mdc))


def _measurements(
    data: bytes, unit: str, pulse: int | None, when: datetime | None, flags: tuple[str, ...]
) -> tuple[Measurement, ...]:
    _, systolic, diastolic, mean = _HEAD.unpack_from(data)
    found = (
        _reading(_PANEL_PARTS[0], systolic, unit, when, flags),
        _reading(_PANEL_PARTS[1], diastolic, unit, when, flags),
        _reading(_PANEL_PARTS[2], mean, unit, when, flags),
    )
    return found if pulse is None else (*found, _reading(_PULSE, pulse, "/min", when, flags))


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
    """Decode a Blood Pressure Measurement (0x2A35) into the 85354-9 panel.

    The measurements are read straight from the bytes, the way ``parse_blood_pressure`` reads
    them; the typed record is built only for the fields, which only the `decode` command prints.
    """
    _, time_at, pulse_at, user_at, status_at = _layout(data)
    when = None if time_at is None else wall_clock(*_DATE_TIME.unpack_from(data, time_at))  # there: _layout checked
    unit = "kPa" if data[0] & 0x01 else "mm[Hg]"
    status = () if status_at is None else status_flags(_U16.unpack_from(data, status_at)[0])
    user = None if user_at is None else data[user_at]
    return new_frame(
        "ble:2A35",
        _measurements(data, unit, _u16(data, pulse_at), when, status),
        lambda: _measurement_fields(parse_blood_pressure(data), data[0]),
        PANEL,
        PANEL_DISPLAY,
        when,
        None,  # no sequence number: a re-sent reading is known by its time stamp
        None if user is None or user == UNKNOWN_USER else Subject(device_user=user),
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
