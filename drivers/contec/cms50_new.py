"""The new Contec CMS50 protocol (CMS50D+ 4.6+, CMS50E/EW/F/I): 115200 8N1 commands and responses.

Commands are 9 bytes ``7D 81 <op> p1..p6`` with every parameter ORed with 0x80. A response starts
with its type (bit 7 clear); byte 1 carries the top bits of the rest: bit i of byte 1 is bit 7 of
byte i+2, and every byte after the type has bit 7 set on the wire. The length of each type is
fixed (table after OSCAR's cms50f37 loader), which is what lets the decoder resynchronise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from enum import IntEnum
from typing import Any

from drivers.errors import FrameError

__all__ = [
    "PACKET_LENGTHS",
    "Command",
    "DeviceText",
    "LiveData",
    "NewDecoder",
    "NewEvent",
    "Packet",
    "SessionCount",
    "SessionDate",
    "SessionDuration",
    "SessionTime",
    "StoredSample",
    "StoredSamples",
    "encode_command",
    "encode_live",
    "encode_packet",
    "interpret",
    "restore_msb",
    "session_command",
    "set_date_command",
    "set_time_command",
]


class Command(IntEnum):
    """Host op codes (the third byte of a command)."""

    START_LIVE = 0xA1
    STOP_LIVE = 0xA2
    SESSION_COUNT = 0xA3
    SESSION_DURATION = 0xA4
    SESSION_START_TIME = 0xA5
    SESSION_DATA = 0xA6
    STOP_STORED = 0xA7
    MODEL = 0xA8
    VENDOR = 0xA9
    DEVICE_ID = 0xAA
    USER_INFO = 0xAB
    USER_COUNT = 0xAD
    ERASE_SESSION = 0xAE
    KEEP_ALIVE = 0xAF
    DEVICE_INFO = 0xB0
    SET_TIME = 0xB1
    SET_DATE = 0xB2


COMMAND_PREFIX = b"\x7d\x81"
PACKET_LENGTHS = {
    0x01: 9,
    0x02: 9,
    0x03: 9,
    0x04: 9,
    0x05: 9,
    0x06: 4,
    0x07: 8,
    0x08: 8,
    0x09: 6,
    0x0A: 4,
    0x0B: 4,
    0x0C: 2,
    0x0E: 3,
    0x0F: 8,
    0x10: 3,
    0x11: 9,
    0x12: 8,
    0x13: 9,
    0x14: 9,
}


def encode_command(op: int, *params: int) -> bytes:
    """A 9-byte command: ``7D 81 op`` and up to six 7-bit parameters, each ORed with 0x80."""
    if not 0x80 <= op <= 0xFF or len(params) > 6 or any(not 0 <= p <= 0x7F for p in params):
        raise FrameError(f"CMS50 command {op:#04x} {params}: op must be 0x80-0xFF, up to six 7-bit parameters")
    padded = [*params, *(0,) * (6 - len(params))]
    return COMMAND_PREFIX + bytes([op, *(0x80 | p for p in padded)])


def session_command(op: int, session: int, user: int = 0) -> bytes:
    """A per-session command (duration, start time, data, erase): user in byte 3, session in byte 4."""
    return encode_command(op, user, session)


def set_time_command(moment: time) -> bytes:
    """``7D 81 B1 h m s``: set the oximeter clock (local wall-clock time)."""
    return encode_command(Command.SET_TIME, moment.hour, moment.minute, moment.second)


def set_date_command(day: date) -> bytes:
    """``7D 81 B2 century year month day weekday``; weekday 0 = Sunday .. 6 = Saturday (as OSCAR sends)."""
    return encode_command(Command.SET_DATE, day.year // 100, day.year % 100, day.month, day.day, day.isoweekday() % 7)


@dataclass(frozen=True, slots=True)
class Packet:
    """A response of a type this module does not interpret; ``payload`` has its top bits restored."""

    packet_type: int
    payload: bytes

    def as_json(self) -> dict[str, Any]:
        """The field shape used in ``DecodedFrame.fields``."""
        return {"kind": "packet", "packet_type": self.packet_type, "payload_hex": self.payload.hex().upper()}


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveData:
    """Type 0x01: one live sample. ``status`` (byte 2) is kept raw: no public source explains it."""

    status: int = 0
    pleth: int = 0
    bar_graph: int = 0
    pulse_rate: int = 0
    spo2: int = 0
    reserved: bytes = b"\xff\xff"

    def as_json(self) -> dict[str, Any]:
        """The field shape used in ``DecodedFrame.fields``."""
        return {
            "kind": "live",
            "packet_type": 0x01,
            "status": self.status,
            "pleth": self.pleth,
            "bar_graph": self.bar_graph,
            "pulse_rate": self.pulse_rate,
            "spo2": self.spo2,
            "reserved_hex": self.reserved.hex().upper(),
        }


@dataclass(frozen=True, slots=True)
class DeviceText:
    """Types 0x02 model (two segments), 0x03 vendor, 0x04 device id, 0x05 user name."""

    packet_type: int
    text: str
    index: int | None = None  # model segment or user index

    def as_json(self) -> dict[str, Any]:
        """The field shape used in ``DecodedFrame.fields``."""
        kind = {2: "model", 3: "vendor", 4: "device_id", 5: "user"}[self.packet_type]
        return {"kind": kind, "packet_type": self.packet_type, "text": self.text, "index": self.index}


@dataclass(frozen=True, slots=True)
class SessionDate:
    """Type 0x07: the start date of a stored session; year 0 means the device has no clock."""

    century: int
    year: int
    month: int
    day: int

    @property
    def date(self) -> date | None:
        """The date, or None when unknown (CMS50D+) or impossible."""
        if self.century == 0 and self.year == 0:
            return None
        try:
            return date(self.century * 100 + self.year, self.month, self.day)
        except ValueError:
            return None

    def as_json(self) -> dict[str, Any]:
        """The field shape used in ``DecodedFrame.fields``."""
        found = self.date
        return {
            "kind": "session_date",
            "packet_type": 0x07,
            "century": self.century,
            "year": self.year,
            "month": self.month,
            "day": self.day,
            "date": None if found is None else found.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class SessionTime:
    """Type 0x12: the start time of a stored session."""

    hours: int
    minutes: int
    seconds: int

    def as_json(self) -> dict[str, Any]:
        """The field shape used in ``DecodedFrame.fields``."""
        return {
            "kind": "session_time",
            "packet_type": 0x12,
            "hours": self.hours,
            "minutes": self.minutes,
            "seconds": self.seconds,
        }


@dataclass(frozen=True, slots=True)
class SessionDuration:
    """Type 0x08: the raw duration count of a stored session."""

    raw: int

    def seconds(self, divisor: int = 2) -> float:
        """Seconds: the count is half-seconds on most models, quarter-seconds on CMS50I/H (divisor 4)."""
        return self.raw / divisor

    def as_json(self) -> dict[str, Any]:
        """The field shape used in ``DecodedFrame.fields``."""
        return {
            "kind": "session_duration",
            "packet_type": 0x08,
            "raw": self.raw,
            "seconds_if_half_second_units": self.raw / 2,
        }


@dataclass(frozen=True, slots=True)
class SessionCount:
    """Type 0x0A: how many stored sessions a user has."""

    user_index: int
    count: int

    def as_json(self) -> dict[str, Any]:
        """The field shape used in ``DecodedFrame.fields``."""
        return {
            "kind": "session_count",
            "packet_type": 0x0A,
            "user_index": self.user_index,
            "count": self.count,
        }


@dataclass(frozen=True, slots=True)
class StoredSample:
    """One stored sample; ``valid`` is False for the device's "no data" marker."""

    spo2: int
    pulse_rate: int
    perfusion_index: int | None = None

    @property
    def valid(self) -> bool:
        """Whether the sample holds a reading (PR 0xFF, or zero SpO2/PR on CMS50I, mean none)."""
        return self.pulse_rate not in (0, 0xFF) and self.spo2 != 0

    def as_json(self) -> dict[str, Any]:
        """The field shape used in ``DecodedFrame.fields``."""
        return {
            "spo2": self.spo2,
            "pulse_rate": self.pulse_rate,
            "perfusion_index": self.perfusion_index,
            "valid": self.valid,
        }


@dataclass(frozen=True, slots=True)
class StoredSamples:
    """Types 0x0F (CMS50F: three SpO2/PR pairs) and 0x09 (CMS50I: SpO2, PR, PI u16)."""

    packet_type: int
    samples: tuple[StoredSample, ...]

    def as_json(self) -> dict[str, Any]:
        """The field shape used in ``DecodedFrame.fields``."""
        return {
            "kind": "stored_samples",
            "packet_type": self.packet_type,
            "samples": [s.as_json() for s in self.samples],
        }


NewEvent = Packet | LiveData | DeviceText | SessionDate | SessionTime | SessionDuration | SessionCount | StoredSamples


# Per carrier byte, bit 7 of each payload byte it carries (bit i for byte i), as one little-endian integer.
_CARRIED = tuple(sum(0x80 << 8 * i for i in range(8) if carrier >> i & 1) for carrier in range(256))


def restore_msb(raw: bytes) -> bytes:
    """Bytes 2.. of a response with bit 7 put back from the carrier byte 1.

    Worked on the payload as one integer (its low seven bits of each byte, then the carried top
    bits) rather than byte by byte: every live packet of an oximeter streaming at 60 Hz goes here.
    """
    size = len(raw) - 2
    low_bits = int.from_bytes(raw[2:], "little") & (1 << 8 * size) // 255 * 0x7F
    top_bits = _CARRIED[raw[1]] & (1 << 8 * size) - 1
    return (low_bits | top_bits).to_bytes(size, "little")


def encode_packet(packet_type: int, payload: bytes) -> bytes:
    """A response of ``packet_type`` with ``payload`` (any 8-bit bytes) folded onto the carrier byte."""
    length = PACKET_LENGTHS.get(packet_type)
    if length is None or len(payload) != length - 2:
        raise FrameError(f"CMS50 packet type {packet_type:#04x} with {len(payload)} payload bytes")
    carrier = 0x80 | sum(1 << i for i, b in enumerate(payload) if b & 0x80)
    return bytes([packet_type, carrier, *(0x80 | b for b in payload)])


def encode_live(live: LiveData) -> bytes:
    """A type 0x01 live packet."""
    fields = (live.status, live.pleth, live.bar_graph, live.pulse_rate, live.spo2)
    if any(not 0 <= v <= 0xFF for v in fields) or len(live.reserved) != 2:
        raise FrameError("CMS50 live data: fields must be bytes and reserved two bytes")
    return encode_packet(0x01, bytes([*fields, *live.reserved]))


def _text(payload: bytes) -> str:
    return bytes(b & 0x7F for b in payload).decode("ascii").replace("\x00", "")


def _stored(packet_type: int, p: bytes) -> StoredSamples:
    if packet_type == 0x09:
        return StoredSamples(0x09, (StoredSample(p[0], p[1], p[2] | p[3] << 8),))
    return StoredSamples(0x0F, tuple(StoredSample(p[i], p[i + 1]) for i in range(0, 6, 2)))


def interpret(packet_type: int, p: bytes) -> NewEvent:
    """The typed event for a response whose payload ``p`` (bytes 2..) has its top bits restored."""
    if packet_type == 0x01:
        return LiveData(status=p[0], pleth=p[1], bar_graph=p[2], pulse_rate=p[3], spo2=p[4], reserved=p[5:7])
    if packet_type == 0x02:
        return DeviceText(0x02, _text(p[1:]), p[0])
    if packet_type in (0x03, 0x04):
        return DeviceText(packet_type, _text(p))
    if packet_type == 0x05:
        return DeviceText(0x05, _text(p[1:]), p[0])
    if packet_type == 0x07:
        return SessionDate(p[2], p[3], p[4], p[5])
    if packet_type == 0x08:
        return SessionDuration(int.from_bytes(p[2:6], "little"))
    if packet_type == 0x0A:
        return SessionCount(p[0], p[1])
    if packet_type == 0x12:
        return SessionTime(p[2], p[3], p[4])
    if packet_type in (0x09, 0x0F):
        return _stored(packet_type, p)
    return Packet(packet_type, p)


class NewDecoder:
    """Stream decoder for responses: ``feed`` bytes as they arrive, get typed events.

    Never raises on bad bytes: a byte that cannot start a packet, or a packet cut short by a byte
    with bit 7 clear, is dropped and counted in ``discarded``.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.discarded = 0

    @property
    def pending(self) -> bytes:
        """Bytes of an incomplete packet waiting for the rest."""
        return bytes(self._buffer)

    def _drop(self, count: int) -> None:
        del self._buffer[:count]
        self.discarded += count

    def feed(self, data: bytes) -> list[NewEvent]:
        """The events completed by ``data``."""
        self._buffer += data
        events: list[NewEvent] = []
        while self._buffer:
            length = PACKET_LENGTHS.get(self._buffer[0])
            if length is None:
                self._drop(1)
                continue
            body = self._buffer[1:length]
            broken = next((i for i, b in enumerate(body) if not b & 0x80), None)
            if broken is not None:
                self._drop(broken + 1)  # resynchronise on the byte with bit 7 clear
                continue
            if len(self._buffer) < length:
                break
            raw = bytes(self._buffer[:length])
            del self._buffer[:length]
            events.append(interpret(raw[0], restore_msb(raw)))
        return events
