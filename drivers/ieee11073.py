"""IEEE 11073-20601 numbers (SFLOAT, FLOAT) and the BLE date/time structures, both ways.

The exponent of an SFLOAT or FLOAT is the device's precision, so numbers are kept as mantissa and
exponent (``Mder``) and turned into a ``Decimal`` or text only on request: 0xE0C8 is "2.00", not 2.0.
Times are device-local wall-clock values without a zone; a zero year, month or day means "unknown".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache
from typing import Any

from drivers._bits import bit_fields, pack_uint
from drivers.errors import FrameError

__all__ = [
    "CurrentTime",
    "DateTime",
    "DayDateTime",
    "ExactTime256",
    "Mder",
    "Special",
    "date_time_at",
    "decode_current_time",
    "decode_date_time",
    "decode_day_date_time",
    "decode_exact_time_256",
    "decode_float",
    "decode_sfloat",
    "encode_current_time",
    "encode_date_time",
    "encode_day_date_time",
    "encode_exact_time_256",
    "encode_float",
    "encode_sfloat",
    "float_from_raw",
    "sfloat_from_raw",
    "sfloat_reading",
    "wall_clock",
]


class Special(StrEnum):
    """The reserved IEEE 11073 values; they carry a meaning and no number."""

    NAN = "NaN"
    NRES = "NRes"
    POSITIVE_INFINITY = "+INF"
    NEGATIVE_INFINITY = "-INF"
    RESERVED = "RFU"


# Flag names used on measurements, and the PHD-IG dataAbsentReason for each special value.
_FLAGS = {
    Special.NAN: "nan",
    Special.NRES: "nres",
    Special.POSITIVE_INFINITY: "positive-infinity",
    Special.NEGATIVE_INFINITY: "negative-infinity",
    Special.RESERVED: "reserved",
}
_ABSENT_REASONS = {
    Special.NAN: "not-a-number",
    Special.NRES: "error",
    Special.POSITIVE_INFINITY: "positive-infinity",
    Special.NEGATIVE_INFINITY: "negative-infinity",
    Special.RESERVED: "error",
}


@dataclass(frozen=True, slots=True)
class Mder:
    """A number as the device sent it: mantissa x 10^exponent, or a special value (then 0 x 10^0)."""

    mantissa: int = 0
    exponent: int = 0
    special: Special | None = None

    @classmethod
    def of(cls, value: Decimal | int | str | Special) -> Mder:
        """The exact mantissa and exponent of a number; its written precision is kept ("2.00")."""
        if isinstance(value, Special):
            return cls(special=value)
        try:
            number = Decimal(value)
        except (InvalidOperation, TypeError, ValueError) as exc:
            raise FrameError(f"{value!r} is not a number") from exc
        if number.is_nan():
            return cls(special=Special.NAN)
        if number.is_infinite():
            return cls(special=Special.NEGATIVE_INFINITY if number < 0 else Special.POSITIVE_INFINITY)
        sign, digits, exponent = number.as_tuple()
        mantissa = int("".join(map(str, digits)) or "0")
        return cls(-mantissa if sign else mantissa, int(exponent))

    @property
    def text(self) -> str:
        """The value with the device's number of decimals ("2.00"), or the special value's name."""
        if self.special is not None:
            return str(self.special)
        return _fixed_point(self.mantissa, self.exponent)

    @property
    def value(self) -> Decimal | None:
        """The value as a Decimal that keeps the device's precision; None for a special value."""
        return None if self.special is not None else Decimal(self.text)

    @property
    def flag(self) -> str | None:
        """The measurement flag naming a special value ("nan", "nres", ...), or None."""
        return None if self.special is None else _FLAGS[self.special]

    @property
    def data_absent_reason(self) -> str | None:
        """The FHIR dataAbsentReason code PHD-IG gives a special value, or None."""
        return None if self.special is None else _ABSENT_REASONS[self.special]

    def scaled(self, shift: int) -> Mder:
        """The same digits times 10^shift (a unit change such as kg/L to mg/dL), exactly."""
        return self if self.special is not None else Mder(self.mantissa, self.exponent + shift)

    def as_json(self) -> dict[str, Any]:
        """The field shape used in ``DecodedFrame.fields``."""
        value = self.value
        return {
            "mantissa": self.mantissa,
            "exponent": self.exponent,
            "value": None if value is None else float(value),
            "text": self.text,
            "special": None if self.special is None else str(self.special),
        }


@dataclass(frozen=True, slots=True)
class _Format:
    name: str
    mantissa_bits: int
    exponent_bits: int
    specials: dict[int, Special]

    @property
    def size(self) -> int:
        """Bytes on the wire."""
        return (self.mantissa_bits + self.exponent_bits) // 8


def _fixed_point(mantissa: int, exponent: int) -> str:
    """mantissa x 10^exponent written out exactly, every digit kept (200, -2 -> "2.00"; 0, 2 -> "0")."""
    digits = str(-mantissa if mantissa < 0 else mantissa)
    if exponent >= 0:
        text = digits + "0" * exponent if mantissa else "0"
    elif len(digits) > -exponent:
        text = digits[:exponent] + "." + digits[exponent:]
    else:
        text = "0." + digits.rjust(-exponent, "0")
    return "-" + text if mantissa < 0 else text


def _specials(bits: int) -> dict[int, Special]:
    top = 1 << (bits - 1)
    return {
        top - 1: Special.NAN,
        top: Special.NRES,
        top - 2: Special.POSITIVE_INFINITY,
        top + 2: Special.NEGATIVE_INFINITY,
        top + 1: Special.RESERVED,
    }


_SFLOAT = _Format("SFLOAT", 12, 4, _specials(12))
_FLOAT = _Format("FLOAT", 24, 8, _specials(24))


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def _from_raw(raw: int, fmt: _Format) -> Mder:
    special = fmt.specials.get(raw)  # the specials all have exponent 0, so the raw value is the key
    if special is not None:
        return Mder(special=special)
    mantissa = _signed(raw & ((1 << fmt.mantissa_bits) - 1), fmt.mantissa_bits)
    return Mder(mantissa, _signed(raw >> fmt.mantissa_bits, fmt.exponent_bits))


@lru_cache(maxsize=1024)  # an Mder is immutable; a device sends the same few values again and again
def _sfloat(raw: int) -> Mder:
    return _from_raw(raw, _SFLOAT)


def sfloat_from_raw(raw: int) -> Mder:
    """Decode a 16-bit SFLOAT given as an integer (0xE0C8 -> 200 x 10^-2)."""
    return _sfloat(raw & 0xFFFF)


@lru_cache(maxsize=1024)  # the few values a device sends again and again, each worked out once
def sfloat_reading(raw: int) -> tuple[Decimal | None, str, tuple[str, ...]]:
    """A raw SFLOAT as a measurement holds it: the value (None when special), its text, its flags.

    A table of all 65,536 SFLOATs would hold 15 MiB (measured) for values a device mostly never sends;
    the cache keeps the ones it does.
    """
    number = _sfloat(raw & 0xFFFF)
    text, flag = number.text, number.flag
    return (None, text, (flag,)) if flag else (Decimal(text), text, ())


def float_from_raw(raw: int) -> Mder:
    """Decode a 32-bit FLOAT given as an integer (0xFE000EB0 -> 3760 x 10^-2)."""
    return _from_raw(raw & 0xFFFFFFFF, _FLOAT)


def _read_raw(data: bytes, offset: int, fmt: _Format) -> int:
    if offset < 0 or len(data) < offset + fmt.size:
        raise FrameError(f"{fmt.name} at offset {offset} needs {fmt.size} bytes, the value has {len(data)}")
    return int.from_bytes(data[offset : offset + fmt.size], "little")


def decode_sfloat(data: bytes, offset: int = 0) -> Mder:
    """Decode the little-endian SFLOAT at ``offset``."""
    return _sfloat(_read_raw(data, offset, _SFLOAT))


def decode_float(data: bytes, offset: int = 0) -> Mder:
    """Decode the little-endian FLOAT at ``offset``."""
    return float_from_raw(_read_raw(data, offset, _FLOAT))


def _pack(number: Mder, fmt: _Format) -> int:
    """The raw integer, dropping only trailing zeros that carry no value to make the number fit."""
    if number.special is not None:
        return next(raw for raw, special in fmt.specials.items() if special is number.special)
    m_low, m_high = -(1 << (fmt.mantissa_bits - 1)), (1 << (fmt.mantissa_bits - 1)) - 1
    e_low, e_high = -(1 << (fmt.exponent_bits - 1)), (1 << (fmt.exponent_bits - 1)) - 1
    mantissa, exponent = number.mantissa, number.exponent
    if mantissa == 0:
        exponent = min(max(exponent, e_low), e_high)
    while (not m_low <= mantissa <= m_high or exponent < e_low) and mantissa % 10 == 0 and mantissa:
        mantissa, exponent = mantissa // 10, exponent + 1
    while exponent > e_high and m_low <= mantissa * 10 <= m_high:
        mantissa, exponent = mantissa * 10, exponent - 1
    if not (m_low <= mantissa <= m_high and e_low <= exponent <= e_high):
        raise FrameError(f"{number.mantissa}e{number.exponent} does not fit an {fmt.name}")
    exponent_mask, mantissa_mask = (1 << fmt.exponent_bits) - 1, (1 << fmt.mantissa_bits) - 1
    raw = (exponent & exponent_mask) << fmt.mantissa_bits | (mantissa & mantissa_mask)
    if raw in fmt.specials:
        raise FrameError(f"{number.mantissa}e{number.exponent} would read as the special value {fmt.specials[raw]}")
    return raw


def _encode(value: Mder | Decimal | int | str | Special, fmt: _Format) -> bytes:
    number = value if isinstance(value, Mder) else Mder.of(value)
    return _pack(number, fmt).to_bytes(fmt.size, "little")


def encode_sfloat(value: Mder | Decimal | int | str | Special) -> bytes:
    """Encode a number as a little-endian SFLOAT, keeping its written precision where it fits."""
    return _encode(value, _SFLOAT)


def encode_float(value: Mder | Decimal | int | str | Special) -> bytes:
    """Encode a number as a little-endian FLOAT, keeping its written precision where it fits."""
    return _encode(value, _FLOAT)


# ---------------------------------------------------------------------------------------------------
# Date and time structures


@dataclass(frozen=True, slots=True, kw_only=True)
class DateTime:
    """Date Time (0x2A08), also the 7-byte time stamp inside the health measurements."""

    year: int = 0
    month: int = 0
    day: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: int = 0

    @classmethod
    def from_datetime(cls, moment: datetime) -> DateTime:
        """The wall-clock fields of ``moment`` (any zone is dropped: devices keep local time)."""
        return cls(**_wall_clock(moment))

    def to_datetime(self) -> datetime | None:
        """A naive datetime, or None when the date is unknown (zero) or not a real date."""
        return wall_clock(self.year, self.month, self.day, self.hours, self.minutes, self.seconds)

    def as_json(self) -> dict[str, Any]:
        """The field shape used in ``DecodedFrame.fields``."""
        moment = self.to_datetime()
        return {
            "year": self.year,
            "month": self.month,
            "day": self.day,
            "hours": self.hours,
            "minutes": self.minutes,
            "seconds": self.seconds,
            "iso": None if moment is None else moment.isoformat(),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class DayDateTime(DateTime):
    """Day Date Time (0x2A0A): Date Time plus the day of the week (1 = Monday .. 7, 0 = unknown)."""

    day_of_week: int = 0

    @classmethod
    def from_datetime(cls, moment: datetime) -> DayDateTime:
        """The wall-clock fields of ``moment`` with its ISO weekday."""
        return cls(**_wall_clock(moment), day_of_week=moment.isoweekday())

    def as_json(self) -> dict[str, Any]:
        """The field shape used in ``DecodedFrame.fields``; the weekday is as sent, not recomputed."""
        return {**DateTime.as_json(self), "day_of_week": self.day_of_week}


@dataclass(frozen=True, slots=True, kw_only=True)
class ExactTime256(DayDateTime):
    """Exact Time 256 (0x2A0C): Day Date Time plus 1/256 second fractions."""

    fractions256: int = 0

    @classmethod
    def from_datetime(cls, moment: datetime) -> ExactTime256:
        """The wall-clock fields of ``moment``, its weekday and its fraction of a second."""
        return cls(
            **_wall_clock(moment),
            day_of_week=moment.isoweekday(),
            fractions256=moment.microsecond * 256 // 1_000_000,
        )

    def to_datetime(self) -> datetime | None:
        """A naive datetime including the fraction of a second, or None when unknown."""
        moment = DateTime.to_datetime(self)
        if moment is None:
            return None
        return moment + timedelta(microseconds=self.fractions256 * 1_000_000 // 256)

    def as_json(self) -> dict[str, Any]:
        """The field shape used in ``DecodedFrame.fields``."""
        return {**DayDateTime.as_json(self), "fractions256": self.fractions256}


_ADJUST_REASONS = ("manual", "external_reference", "time_zone_change", "dst_change")


@dataclass(frozen=True, slots=True, kw_only=True)
class CurrentTime(ExactTime256):
    """Current Time (0x2A2B): Exact Time 256 plus the adjust-reason bits (bit0 = manual update)."""

    adjust_reason: int = 0

    @classmethod
    def from_datetime(cls, moment: datetime, adjust_reason: int = 0x01) -> CurrentTime:
        """The value to write to set a device clock; the reason defaults to "manual update"."""
        return cls(
            **_wall_clock(moment),
            day_of_week=moment.isoweekday(),
            fractions256=moment.microsecond * 256 // 1_000_000,
            adjust_reason=adjust_reason,
        )

    def as_json(self) -> dict[str, Any]:
        """The field shape used in ``DecodedFrame.fields``."""
        reasons = bit_fields(self.adjust_reason, _ADJUST_REASONS)
        return {**ExactTime256.as_json(self), "adjust_reason": reasons}


def wall_clock(year: int, month: int, day: int, hours: int, minutes: int, seconds: int) -> datetime | None:
    """The naive datetime of Date Time fields, or None when the date is unknown (zero) or not a real date."""
    if not 1582 <= year <= 9999:
        return None
    try:
        return datetime(year, month, day, hours, minutes, seconds)
    except ValueError:
        return None


def date_time_at(data: bytes, offset: int) -> datetime | None:
    """The 7-byte Date Time at ``offset`` as ``decode_date_time(data, offset).to_datetime()`` gives it."""
    if offset < 0 or len(data) < offset + 7:
        _need(data, offset, 7, "Date Time")
    return wall_clock(*_DATE_TIME.unpack_from(data, offset))


def _wall_clock(moment: datetime) -> dict[str, int]:
    return {
        "year": moment.year,
        "month": moment.month,
        "day": moment.day,
        "hours": moment.hour,
        "minutes": moment.minute,
        "seconds": moment.second,
    }


def _need(data: bytes, offset: int, size: int, what: str) -> bytes:
    if offset < 0 or len(data) < offset + size:
        raise FrameError(f"{what} at offset {offset} needs {size} bytes, the value has {len(data)}")
    return data[offset : offset + size]


def _date_time_fields(raw: bytes) -> dict[str, int]:
    return {
        "year": int.from_bytes(raw[0:2], "little"),
        "month": raw[2],
        "day": raw[3],
        "hours": raw[4],
        "minutes": raw[5],
        "seconds": raw[6],
    }


_DATE_TIME = struct.Struct("<HBBBBB")


def decode_date_time(data: bytes, offset: int = 0) -> DateTime:
    """Decode the 7-byte Date Time at ``offset``; unknown or impossible dates decode too."""
    if offset < 0 or len(data) < offset + 7:
        _need(data, offset, 7, "Date Time")
    year, month, day, hours, minutes, seconds = _DATE_TIME.unpack_from(data, offset)
    return DateTime(year=year, month=month, day=day, hours=hours, minutes=minutes, seconds=seconds)


def decode_day_date_time(data: bytes, offset: int = 0) -> DayDateTime:
    """Decode the 8-byte Day Date Time at ``offset``."""
    raw = _need(data, offset, 8, "Day Date Time")
    return DayDateTime(**_date_time_fields(raw), day_of_week=raw[7])


def decode_exact_time_256(data: bytes, offset: int = 0) -> ExactTime256:
    """Decode the 9-byte Exact Time 256 at ``offset``."""
    raw = _need(data, offset, 9, "Exact Time 256")
    return ExactTime256(**_date_time_fields(raw), day_of_week=raw[7], fractions256=raw[8])


def decode_current_time(data: bytes, offset: int = 0) -> CurrentTime:
    """Decode the 10-byte Current Time at ``offset``."""
    raw = _need(data, offset, 10, "Current Time")
    fields = _date_time_fields(raw)
    return CurrentTime(**fields, day_of_week=raw[7], fractions256=raw[8], adjust_reason=raw[9])


def _byte(value: int, what: str) -> bytes:
    return pack_uint(value, 1, what)


def encode_date_time(value: DateTime) -> bytes:
    """The 7 bytes of a Date Time (only its date and time fields, whatever the subclass)."""
    parts = [pack_uint(value.year, 2, "year")]
    for what in ("month", "day", "hours", "minutes", "seconds"):
        parts.append(_byte(getattr(value, what), what))
    return b"".join(parts)


def encode_day_date_time(value: DayDateTime) -> bytes:
    """The 8 bytes of a Day Date Time."""
    return encode_date_time(value) + _byte(value.day_of_week, "day of week")


def encode_exact_time_256(value: ExactTime256) -> bytes:
    """The 9 bytes of an Exact Time 256."""
    return encode_day_date_time(value) + _byte(value.fractions256, "fractions256")


def encode_current_time(value: CurrentTime) -> bytes:
    """The 10 bytes of a Current Time, as written to 0x2A2B to set a device clock."""
    return encode_exact_time_256(value) + _byte(value.adjust_reason, "adjust reason")
