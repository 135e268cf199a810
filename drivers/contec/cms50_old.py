"""The old Contec CMS50 protocol (CMS50D+ firmware up to 4.5): 19200 baud, 8 data bits, odd parity.

Live data streams by itself at 60 Hz as 5-byte packets in which only byte 0 has bit 7 set. Stored
data is asked for with ``START_RECORDED``: three ``F2 80 00`` preambles, three length bytes, then
one 3-byte sample per second ``[F0 | PR bit7, 80 | PR & 7F, SpO2]``; ``STOP_RECORDED`` ends it.
The patterns are disjoint, so the decoder resynchronises on any garbage by dropping bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drivers.errors import FrameError

__all__ = [
    "START_RECORDED",
    "STOP_RECORDED",
    "OldDecoder",
    "OldEvent",
    "OldLive",
    "RecordedSample",
    "RecordingHeader",
    "encode_old_live",
    "encode_recorded_sample",
    "encode_recording_header",
]

START_RECORDED = b"\xf5\xf5"
STOP_RECORDED = b"\xf6\xf6\xf6"
_PREAMBLE = b"\xf2\x80\x00" * 3
_HEADER_SIZE = len(_PREAMBLE) + 3


@dataclass(frozen=True, slots=True, kw_only=True)
class OldLive:
    """One 5-byte live packet."""

    signal_strength: int = 0
    finger_out: bool = False
    dropping_spo2: bool = False
    beep: bool = False
    pleth: int = 0
    bar_graph: int = 0
    probe_error: bool = False
    searching: bool = False
    pulse_rate: int = 0
    spo2: int = 0

    def as_json(self) -> dict[str, Any]:
        """The field shape used in ``DecodedFrame.fields``."""
        return {"kind": "live", **{name: getattr(self, name) for name in self.__dataclass_fields__}}


@dataclass(frozen=True, slots=True)
class RecordedSample:
    """One stored 1-second sample; the host must know when the recording started."""

    pulse_rate: int
    spo2: int

    def as_json(self) -> dict[str, Any]:
        """The field shape used in ``DecodedFrame.fields``."""
        return {"kind": "recorded_sample", "pulse_rate": self.pulse_rate, "spo2": self.spo2}


@dataclass(frozen=True, slots=True)
class RecordingHeader:
    """The start of a stored-data download: ``length`` bytes of samples follow (3 per sample)."""

    length: int

    @property
    def samples(self) -> int:
        """How many 3-byte samples the header announces."""
        return self.length // 3

    def as_json(self) -> dict[str, Any]:
        """The field shape used in ``DecodedFrame.fields``."""
        return {"kind": "recording_header", "length": self.length, "samples": self.samples}


OldEvent = OldLive | RecordedSample | RecordingHeader


def _check(value: int, limit: int, what: str) -> int:
    if not 0 <= value <= limit:
        raise FrameError(f"CMS50 {what} {value} is outside 0..{limit}")
    return value


def encode_old_live(packet: OldLive) -> bytes:
    """The 5 bytes of a live packet (for simulators and tests)."""
    pulse = _check(packet.pulse_rate, 0xFF, "pulse rate")
    byte0 = 0x80 | _check(packet.signal_strength, 0x0F, "signal strength")
    byte0 |= packet.finger_out << 4 | packet.dropping_spo2 << 5 | packet.beep << 6
    byte2 = _check(packet.bar_graph, 0x0F, "bar graph") | packet.probe_error << 4 | packet.searching << 5
    byte2 |= (pulse & 0x80) >> 1
    return bytes([byte0, _check(packet.pleth, 0x7F, "pleth"), byte2, pulse & 0x7F, _check(packet.spo2, 0x7F, "SpO2")])


def encode_recorded_sample(sample: RecordedSample) -> bytes:
    """The 3 bytes of a stored sample."""
    pulse = _check(sample.pulse_rate, 0xFF, "pulse rate")
    return bytes([0xF0 | pulse >> 7, 0x80 | pulse & 0x7F, _check(sample.spo2, 0x7F, "SpO2")])


def encode_recording_header(length: int) -> bytes:
    """The preambles and length bytes that start a download of ``length`` sample bytes."""
    value = _check(length, 1 << 21, "recording length") - 1
    if value < 0:
        raise FrameError("CMS50 recording length must be at least 1")
    return _PREAMBLE + bytes([0x80 | value >> 14 & 0x7F, 0x80 | value >> 7 & 0x7F, value & 0x7F])


def _live(raw: bytes) -> OldLive:
    return OldLive(
        signal_strength=raw[0] & 0x0F,
        finger_out=bool(raw[0] & 0x10),
        dropping_spo2=bool(raw[0] & 0x20),
        beep=bool(raw[0] & 0x40),
        pleth=raw[1],
        bar_graph=raw[2] & 0x0F,
        probe_error=bool(raw[2] & 0x10),
        searching=bool(raw[2] & 0x20),
        pulse_rate=(raw[2] & 0x40) << 1 | raw[3],
        spo2=raw[4],
    )


# Each kind: its size and a test of byte i against the pattern.
def _live_byte(i: int, b: int) -> bool:
    return bool(b & 0x80) == (i == 0)


def _sample_byte(i: int, b: int) -> bool:
    return (b & 0xFE == 0xF0, bool(b & 0x80), not b & 0x80)[i]


def _header_byte(i: int, b: int) -> bool:
    if i < len(_PREAMBLE):
        return b == _PREAMBLE[i]
    return bool(b & 0x80) == (i < _HEADER_SIZE - 1)


_KINDS = ((5, _live_byte), (3, _sample_byte), (_HEADER_SIZE, _header_byte))


def _match(buffer: bytearray) -> tuple[int, OldEvent | None]:
    """(size, event) for a whole packet at the start; (0, None) = need more; (-1, None) = garbage."""
    waiting = False
    for size, byte_ok in _KINDS:
        seen = min(size, len(buffer))
        if all(byte_ok(i, buffer[i]) for i in range(seen)):
            if seen < size:
                waiting = True
                continue
            raw = bytes(buffer[:size])
            if size == 5:
                return size, _live(raw)
            if size == 3:
                return size, RecordedSample((raw[0] & 0x01) << 7 | raw[1] & 0x7F, raw[2])
            value = (raw[9] & 0x7F) << 14 | (raw[10] & 0x7F) << 7 | raw[11]
            return size, RecordingHeader(value + 1)
    return (0, None) if waiting else (-1, None)


class OldDecoder:
    """Stream decoder for the old protocol: ``feed`` bytes as they arrive, get whole packets.

    Never raises on bad bytes: garbage is dropped one byte at a time and counted in ``discarded``.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.discarded = 0

    @property
    def pending(self) -> bytes:
        """Bytes of an incomplete packet waiting for the rest."""
        return bytes(self._buffer)

    def feed(self, data: bytes) -> list[OldEvent]:
        """The packets completed by ``data``."""
        self._buffer += data
        events: list[OldEvent] = []
        while self._buffer:
            size, event = _match(self._buffer)
            if size == 0:
                break
            if event is None:
                del self._buffer[0]
                self.discarded += 1
                continue
            del self._buffer[:size]
            events.append(event)
        return events
