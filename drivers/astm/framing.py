"""ASTM E1381 (CLSI LIS1-A) frames: ``<STX> FN text <ETB|ETX> C1 C2 <CR> <LF>``.

Strict on the checksum, frame number and restricted characters; lenient on layout, because real
analysers send frames longer than 247 bytes, whole messages in one frame, ETB after every record,
and sometimes lose the CR or the LF after the checksum (docs/devices.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

from drivers.errors import FrameError

STX = 0x02
ETX = 0x03
EOT = 0x04
ENQ = 0x05
ACK = 0x06
LF = 0x0A
CR = 0x0D
NAK = 0x15
ETB = 0x17

MAX_TEXT = 240
"""Largest frame text E1381 allows; the encoder never exceeds it, the decoder accepts more."""

# E1381: these may not appear in frame text (LF only as the frame's last byte).
RESTRICTED = frozenset({0x01, STX, ETX, EOT, ENQ, ACK, 0x10, NAK, 0x16, ETB, LF, 0x11, 0x12, 0x13, 0x14})
_HEX = b"0123456789ABCDEF"
_BETWEEN_FRAMES = frozenset({CR, LF, ENQ, EOT, ACK, NAK})


@dataclass(frozen=True, slots=True)
class Frame:
    """One E1381 frame: number 0-7, its text, and whether it ends with ETX (final) or ETB."""

    number: int
    text: bytes
    final: bool


def checksum(body: bytes) -> bytes:
    """The two uppercase hex digits of the byte sum mod 256 of ``body`` (FN through ETB/ETX)."""
    return b"%02X" % (sum(body) & 0xFF)


def encode_frame(frame: Frame) -> bytes:
    """The wire bytes of a frame; raise ValueError for a number or text E1381 forbids."""
    if not 0 <= frame.number <= 7:
        raise ValueError(f"frame number {frame.number} is not 0-7")
    bad = RESTRICTED.intersection(frame.text)
    if bad:
        raise ValueError(f"frame text holds restricted byte 0x{min(bad):02X}")
    body = b"%d" % frame.number + frame.text + bytes([ETX if frame.final else ETB])
    return bytes([STX]) + body + checksum(body) + b"\r\n"


def decode_frame(data: bytes) -> Frame:
    """Decode one complete frame; raise FrameError naming what is wrong.

    A missing CR or a missing LF after the checksum is tolerated; missing both is not.
    """
    if not data.startswith(bytes([STX])):
        raise FrameError("frame does not start with <STX>")
    if data.endswith(b"\r\n"):
        body = data[1:-2]
    elif data.endswith((b"\r", b"\n")):
        body = data[1:-1]
    else:
        raise FrameError("frame not terminated by <CR><LF>")
    if len(body) < 4:
        raise FrameError(f"frame is too short ({len(data)} bytes)")
    if body[-3] not in (ETX, ETB):
        raise FrameError("frame text is not ended by <ETX> or <ETB>")
    _check_checksum(body)
    if body[0] not in b"01234567":
        raise FrameError(f"frame number {body[0:1]!r} is not a digit 0-7")
    text = body[1:-3]
    bad = RESTRICTED.intersection(text)
    if bad:
        raise FrameError(f"frame text holds restricted byte 0x{min(bad):02X}")
    return Frame(number=body[0] - 0x30, text=text, final=body[-3] == ETX)


def _check_checksum(body: bytes) -> None:
    sent = body[-2:]
    if any(ch not in _HEX for ch in sent):
        raise FrameError(f"checksum {sent!r} is not two uppercase hex digits")
    expected = checksum(body[:-2])
    if sent != expected:
        raise FrameError(f"checksum {sent.decode()} does not match {expected.decode()}")


def ends_with_terminator(text: bytes | bytearray) -> bool:
    """True if the last record of ``text`` is an L (terminator) record: the message is complete."""
    last = text.rstrip(b"\r").rsplit(b"\r", 1)[-1]
    # The field delimiter is the byte after the H of the header record; '|' if there is no header.
    delimiter = text[1:2] if text[:1] == b"H" and len(text) > 1 else b"|"
    return last[:1] == b"L" and (len(last) == 1 or last[1:2] == delimiter)


def split_text(text: bytes, *, first_number: int = 1, max_text: int = MAX_TEXT) -> list[Frame]:
    """Split a message's text into frames of at most ``max_text`` bytes, numbered on from ``first_number``."""
    if not text:
        raise ValueError("an empty message has no frames")
    if max_text < 1:
        raise ValueError("max_text must be positive")
    chunks = [text[i : i + max_text] for i in range(0, len(text), max_text)]
    return [
        Frame(number=(first_number + i) % 8, text=chunk, final=i == len(chunks) - 1) for i, chunk in enumerate(chunks)
    ]


def iter_frames(data: bytes) -> Iterator[Frame]:
    """Decode back-to-back frames, skipping the CR, LF, ENQ, EOT, ACK and NAK a capture has between them."""
    pos = 0
    while pos < len(data):
        if data[pos] in _BETWEEN_FRAMES:
            pos += 1
            continue
        if data[pos] != STX:
            raise FrameError(f"unexpected byte 0x{data[pos]:02X} between frames at offset {pos}")
        end = _frame_end(data, pos)
        yield decode_frame(data[pos:end])
        pos = end


def _frame_end(data: bytes, start: int) -> int:
    """Offset just past the frame that starts at ``start``: its terminator, two checksum bytes, CR/LF."""
    for pos in range(start + 1, len(data)):
        if data[pos] in (ETX, ETB):
            end = pos + 3
            if end > len(data):
                raise FrameError("frame is cut off inside its checksum")
            if data[end : end + 2] == b"\r\n":
                return end + 2
            return end + 1 if data[end : end + 1] in (b"\r", b"\n") else end
        if data[pos] == STX:
            raise FrameError(f"frame at offset {start} has no <ETX> or <ETB> before the next <STX>")
    raise FrameError(f"frame at offset {start} has no <ETX> or <ETB>")


def join_frames(frames: list[Frame]) -> bytes:
    """Join the text of consecutive frames of one message.

    Frame numbers must run on by one (7 wraps to 0); a retransmitted frame (same number and
    text as the one before) is dropped; the last frame must end with ETX.
    """
    if not frames:
        raise FrameError("no frames")
    text = bytearray(frames[0].text)
    for previous, frame in pairwise(frames):
        if frame == previous:
            continue
        if frame.number != (previous.number + 1) % 8:
            raise FrameError(f"frame number {frame.number} follows {previous.number}")
        text += frame.text
    if not frames[-1].final:
        raise FrameError("the last frame ends with <ETB>: the message is incomplete")
    return bytes(text)
