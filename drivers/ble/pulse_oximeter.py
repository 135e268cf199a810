"""PLX Spot-check 0x2A5E, PLX Continuous 0x2A5F and PLX Features 0x2A60 (Pulse Oximeter Service).

(!) The flag bits of the two measurements differ: spot-check bit0 is the time stamp, continuous
bit0 is the SpO2PR-Fast pair. Unavailable values arrive as SFLOAT NaN and become value None.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from drivers._bits import bit_fields, pack_uint, set_bits
from drivers.ble._frame import measure, number_json, taken_at, time_json
from drivers.ble._wire import Reader, flag, flags_from
from drivers.errors import FrameError
from drivers.ieee11073 import DateTime, Mder, encode_date_time, encode_sfloat
from drivers.measurement import DecodedFrame, Measurement

__all__ = [
    "Continuous",
    "PlxFeatures",
    "SpotCheck",
    "decode_plx_continuous",
    "decode_plx_features",
    "decode_plx_spot_check",
    "encode_plx_continuous",
    "encode_plx_features",
    "encode_plx_spot_check",
    "parse_plx_continuous",
    "parse_plx_features",
    "parse_plx_spot_check",
]

_SPOT_FLAGS = (
    "time_stamp_present",
    "measurement_status_present",
    "device_and_sensor_status_present",
    "pulse_amplitude_index_present",
    "device_clock_is_not_set",
)
_CONTINUOUS_FLAGS = (
    "spo2pr_fast_present",
    "spo2pr_slow_present",
    "measurement_status_present",
    "device_and_sensor_status_present",
    "pulse_amplitude_index_present",
)
_MEASUREMENT_STATUS: tuple[str | None, ...] = (
    *(None,) * 5,
    "measurement_ongoing",
    "early_estimated_data",
    "validated_data",
    "fully_qualified_data",
    "data_from_measurement_storage",
    "data_for_demonstration",
    "data_for_testing",
    "calibration_ongoing",
    "measurement_unavailable",
    "questionable_measurement_detected",
    "invalid_measurement_detected",
)
_DEVICE_STATUS = (
    "extended_display_update_ongoing",
    "equipment_malfunction_detected",
    "signal_processing_irregularity_detected",
    "inadequate_signal_detected",
    "poor_signal_detected",
    "low_perfusion_detected",
    "erratic_signal_detected",
    "non_pulsatile_signal_detected",
    "questionable_pulse_detected",
    "signal_analysis_ongoing",
    "sensor_interference_detected",
    "sensor_unconnected_to_user",
    "unknown_sensor_connected",
    "sensor_displaced",
    "sensor_malfunctioning",
    "sensor_disconnected",
)
_FEATURES = (
    "measurement_status_supported",
    "device_and_sensor_status_supported",
    "measurement_storage_for_spot_check_supported",
    "timestamp_for_spot_check_supported",
    "spo2pr_fast_supported",
    "spo2pr_slow_supported",
    "pulse_amplitude_index_supported",
    "multiple_bonds_supported",
)


def _kebab(names: tuple[str | None, ...]) -> tuple[str | None, ...]:
    return tuple(None if name is None else name.replace("_", "-") for name in names)


_MEASUREMENT_STATUS_FLAGS = _kebab(_MEASUREMENT_STATUS)
_DEVICE_STATUS_FLAGS = _kebab(_DEVICE_STATUS)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpotCheck:
    """The fields of one 0x2A5E value."""

    spo2: Mder
    pulse_rate: Mder
    time_stamp: DateTime | None = None
    measurement_status: int | None = None
    device_and_sensor_status: int | None = None
    pulse_amplitude_index: Mder | None = None
    device_clock_not_set: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Continuous:
    """The fields of one 0x2A5F value; each fast/slow pair is both set or both None."""

    spo2: Mder
    pulse_rate: Mder
    spo2_fast: Mder | None = None
    pulse_rate_fast: Mder | None = None
    spo2_slow: Mder | None = None
    pulse_rate_slow: Mder | None = None
    measurement_status: int | None = None
    device_and_sensor_status: int | None = None
    pulse_amplitude_index: Mder | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PlxFeatures:
    """PLX Features: the feature bits and, when bits 0/1 are set, which status bits are supported."""

    supported_features: int
    measurement_status_support: int | None = None
    device_and_sensor_status_support: int | None = None


def parse_plx_spot_check(data: bytes) -> SpotCheck:
    """The typed fields of a 0x2A5E value; FrameError if shorter than its flags say."""
    reader = Reader(data, "PLX spot-check measurement")
    flags = reader.uint(1)
    reader.require(5 + sum(size for bit, size in ((0, 7), (1, 2), (2, 3), (3, 2)) if flag(flags, bit)))
    spo2, pulse_rate = reader.sfloat(), reader.sfloat()
    return SpotCheck(
        spo2=spo2,
        pulse_rate=pulse_rate,
        time_stamp=reader.date_time() if flag(flags, 0) else None,
        measurement_status=reader.uint(2) if flag(flags, 1) else None,
        device_and_sensor_status=reader.uint(3) if flag(flags, 2) else None,
        pulse_amplitude_index=reader.sfloat() if flag(flags, 3) else None,
        device_clock_not_set=flag(flags, 4),
    )


def parse_plx_continuous(data: bytes) -> Continuous:
    """The typed fields of a 0x2A5F value; FrameError if shorter than its flags say."""
    reader = Reader(data, "PLX continuous measurement")
    flags = reader.uint(1)
    reader.require(5 + sum(size for bit, size in ((0, 4), (1, 4), (2, 2), (3, 3), (4, 2)) if flag(flags, bit)))
    spo2, pulse_rate = reader.sfloat(), reader.sfloat()
    fast = (reader.sfloat(), reader.sfloat()) if flag(flags, 0) else (None, None)
    slow = (reader.sfloat(), reader.sfloat()) if flag(flags, 1) else (None, None)
    return Continuous(
        spo2=spo2,
        pulse_rate=pulse_rate,
        spo2_fast=fast[0],
        pulse_rate_fast=fast[1],
        spo2_slow=slow[0],
        pulse_rate_slow=slow[1],
        measurement_status=reader.uint(2) if flag(flags, 2) else None,
        device_and_sensor_status=reader.uint(3) if flag(flags, 3) else None,
        pulse_amplitude_index=reader.sfloat() if flag(flags, 4) else None,
    )


def parse_plx_features(data: bytes) -> PlxFeatures:
    """The typed fields of a 0x2A60 value; the support fields are present iff their feature bit is."""
    reader = Reader(data, "PLX features")
    reader.require(2)
    features = reader.uint(2)
    reader.require(2 + (2 if flag(features, 0) else 0) + (3 if flag(features, 1) else 0))
    return PlxFeatures(
        supported_features=features,
        measurement_status_support=reader.uint(2) if flag(features, 0) else None,
        device_and_sensor_status_support=reader.uint(3) if flag(features, 1) else None,
    )


def _status_parts(measurement_status: int | None, device_status: int | None, pai: Mder | None) -> list[bytes]:
    parts = []
    if measurement_status is not None:
        parts.append(pack_uint(measurement_status, 2, "measurement status"))
    if device_status is not None:
        parts.append(pack_uint(device_status, 3, "device and sensor status"))
    if pai is not None:
        parts.append(encode_sfloat(pai))
    return parts


def encode_plx_spot_check(record: SpotCheck) -> bytes:
    """The 0x2A5E value of ``record``; flags follow the fields that are present."""
    flags = flags_from(
        record.time_stamp is not None,
        record.measurement_status is not None,
        record.device_and_sensor_status is not None,
        record.pulse_amplitude_index is not None,
        record.device_clock_not_set,
    )
    parts = [bytes([flags]), encode_sfloat(record.spo2), encode_sfloat(record.pulse_rate)]
    if record.time_stamp is not None:
        parts.append(encode_date_time(record.time_stamp))
    parts += _status_parts(record.measurement_status, record.device_and_sensor_status, record.pulse_amplitude_index)
    return b"".join(parts)


def _pair(first: Mder | None, second: Mder | None, what: str) -> list[bytes]:
    if first is None and second is None:
        return []
    if first is None or second is None:
        raise FrameError(f"PLX continuous: {what} needs both SpO2 and pulse rate")
    return [encode_sfloat(first), encode_sfloat(second)]


def encode_plx_continuous(record: Continuous) -> bytes:
    """The 0x2A5F value of ``record``; flags follow the fields that are present."""
    fast = _pair(record.spo2_fast, record.pulse_rate_fast, "SpO2PR-Fast")
    slow = _pair(record.spo2_slow, record.pulse_rate_slow, "SpO2PR-Slow")
    flags = flags_from(
        bool(fast),
        bool(slow),
        record.measurement_status is not None,
        record.device_and_sensor_status is not None,
        record.pulse_amplitude_index is not None,
    )
    parts = [bytes([flags]), encode_sfloat(record.spo2), encode_sfloat(record.pulse_rate), *fast, *slow]
    parts += _status_parts(record.measurement_status, record.device_and_sensor_status, record.pulse_amplitude_index)
    return b"".join(parts)


def encode_plx_features(record: PlxFeatures) -> bytes:
    """The 0x2A60 value of ``record``; FrameError if a support field disagrees with its feature bit."""
    features = record.supported_features
    if flag(features, 0) != (record.measurement_status_support is not None):
        raise FrameError("PLX features: bit 0 and the measurement status support field disagree")
    if flag(features, 1) != (record.device_and_sensor_status_support is not None):
        raise FrameError("PLX features: bit 1 and the device and sensor status support field disagree")
    parts = [pack_uint(features, 2, "supported features")]
    if record.measurement_status_support is not None:
        parts.append(pack_uint(record.measurement_status_support, 2, "measurement status support"))
    if record.device_and_sensor_status_support is not None:
        parts.append(pack_uint(record.device_and_sensor_status_support, 3, "device status support"))
    return b"".join(parts)


def _status_json(value: int | None, names: tuple[str | None, ...]) -> dict[str, Any] | None:
    return None if value is None else bit_fields(value, names)


def _status_flags(measurement_status: int | None, device_status: int | None) -> tuple[str, ...]:
    return set_bits(measurement_status or 0, _MEASUREMENT_STATUS_FLAGS) + set_bits(
        device_status or 0, _DEVICE_STATUS_FLAGS
    )


def _oximetry(
    record: SpotCheck | Continuous, when: datetime | None, extra: tuple[str, ...] = ()
) -> tuple[Measurement, ...]:
    flags = _status_flags(record.measurement_status, record.device_and_sensor_status) + extra
    return (
        measure("59408-5", record.spo2, "%", taken_at=when, flags=flags, mdc="150456"),
        measure("8867-4", record.pulse_rate, "/min", taken_at=when, flags=flags, mdc="149530"),
    )


def _status_fields(record: SpotCheck | Continuous) -> dict[str, Any]:
    return {
        "measurement_status": _status_json(record.measurement_status, _MEASUREMENT_STATUS),
        "device_and_sensor_status": _status_json(record.device_and_sensor_status, _DEVICE_STATUS),
        "pulse_amplitude_index": number_json(record.pulse_amplitude_index),
    }


def decode_plx_spot_check(data: bytes) -> DecodedFrame:
    """Decode a PLX Spot-check Measurement (0x2A5E) into SpO2 (59408-5) and pulse rate (8867-4).

    When the device says its clock is not set, ``device_time`` keeps what it sent but the
    measurements carry no ``taken_at`` and the flag "device-clock-not-set".
    """
    record = parse_plx_spot_check(data)
    device_time = taken_at(record.time_stamp)
    when = None if record.device_clock_not_set else device_time
    extra = ("device-clock-not-set",) if record.device_clock_not_set else ()
    fields = {
        "flags": bit_fields(data[0], _SPOT_FLAGS),
        "spo2": record.spo2.as_json(),
        "pulse_rate": record.pulse_rate.as_json(),
        "time_stamp": time_json(record.time_stamp),
        **_status_fields(record),
    }
    return DecodedFrame(
        protocol="ble:2A5E",
        measurements=_oximetry(record, when, extra),
        fields=fields,
        device_time=device_time,
    )


def decode_plx_continuous(data: bytes) -> DecodedFrame:
    """Decode a PLX Continuous Measurement (0x2A5F); the fast and slow averages stay in ``fields``."""
    record = parse_plx_continuous(data)
    fields = {
        "flags": bit_fields(data[0], _CONTINUOUS_FLAGS),
        "spo2": record.spo2.as_json(),
        "pulse_rate": record.pulse_rate.as_json(),
        "spo2_fast": number_json(record.spo2_fast),
        "pulse_rate_fast": number_json(record.pulse_rate_fast),
        "spo2_slow": number_json(record.spo2_slow),
        "pulse_rate_slow": number_json(record.pulse_rate_slow),
        **_status_fields(record),
    }
    return DecodedFrame(protocol="ble:2A5F", measurements=_oximetry(record, None), fields=fields)


def decode_plx_features(data: bytes) -> DecodedFrame:
    """Decode PLX Features (0x2A60): which optional fields the oximeter's measurements carry."""
    record = parse_plx_features(data)
    fields = {
        "supported_features": bit_fields(record.supported_features, _FEATURES),
        "measurement_status_support": _status_json(record.measurement_status_support, _MEASUREMENT_STATUS),
        "device_and_sensor_status_support": _status_json(record.device_and_sensor_status_support, _DEVICE_STATUS),
    }
    return DecodedFrame(protocol="ble:2A60", measurements=(), fields=fields)
