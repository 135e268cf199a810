"""Date Time 0x2A08 and Current Time 0x2A2B (also Day Date Time 0x2A0A, Exact Time 256 0x2A0C):
decode a device clock, and build the value that sets it.

To set a clock: write ``set_current_time(now)`` to 0x2A2B when it has the Write property; A&D
meters instead take ``set_date_time(now)`` on 0x2A08 inside their measurement service. Both carry
local wall-clock time, so pass the clinic's local time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from drivers.ieee11073 import (
    CurrentTime,
    DateTime,
    decode_current_time,
    decode_date_time,
    decode_day_date_time,
    decode_exact_time_256,
    encode_current_time,
    encode_date_time,
)
from drivers.measurement import DecodedFrame

__all__ = [
    "decode_current_time_characteristic",
    "decode_date_time_characteristic",
    "decode_day_date_time_characteristic",
    "decode_exact_time_256_characteristic",
    "set_current_time",
    "set_date_time",
]

MANUAL_UPDATE = 0x01


def _frame(protocol: str, data: bytes, decode: Callable[[bytes], DateTime]) -> DecodedFrame:
    value = decode(data)
    return DecodedFrame(protocol=protocol, measurements=(), fields=value.as_json(), device_time=value.to_datetime())


def decode_date_time_characteristic(data: bytes) -> DecodedFrame:
    """Decode a Date Time (0x2A08) value; a zero date gives ``device_time`` None, fields kept."""
    return _frame("ble:2A08", data, decode_date_time)


def decode_day_date_time_characteristic(data: bytes) -> DecodedFrame:
    """Decode a Day Date Time (0x2A0A) value."""
    return _frame("ble:2A0A", data, decode_day_date_time)


def decode_exact_time_256_characteristic(data: bytes) -> DecodedFrame:
    """Decode an Exact Time 256 (0x2A0C) value."""
    return _frame("ble:2A0C", data, decode_exact_time_256)


def decode_current_time_characteristic(data: bytes) -> DecodedFrame:
    """Decode a Current Time (0x2A2B) value: the device clock and why it last changed."""
    return _frame("ble:2A2B", data, decode_current_time)


def set_current_time(now: datetime, adjust_reason: int = MANUAL_UPDATE) -> bytes:
    """The 10 bytes to write to Current Time (0x2A2B) to set the device clock to ``now``."""
    return encode_current_time(CurrentTime.from_datetime(now, adjust_reason))


def set_date_time(now: datetime) -> bytes:
    """The 7 bytes to write to Date Time (0x2A08) to set an A&D-style device clock to ``now``."""
    return encode_date_time(DateTime.from_datetime(now))
