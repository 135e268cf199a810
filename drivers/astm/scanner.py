"""Cut a byte stream into E1381 frames and the single control bytes between them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

from drivers.astm.framing import CR, EOT, ETB, ETX, LF, RESTRICTED, STX, Frame, decode_frame
from drivers.errors import FrameError

DEFAULT_MAX_FRAME = 64 * 1024
"""Bytes of one frame kept in memory; E1381 says 247, real analysers send more, nobody sends this much."""


@dataclass(frozen=True, slots=True)
class Control:
    """A byte outside any frame: ENQ, EOT, ACK, NAK, the LF after a frame, plain record text or noise."""

    byte: int


@dataclass(frozen=True, slots=True)
class Scanned:
    """A frame that ended: decoded, or the reason it is not acceptable."""

    frame: Frame | None
    error: str | None = None


Token = Control | Scanned


class _State(Enum):
    OUTSIDE = auto()
    TEXT = auto()
    CHECKSUM = auto()
    TRAILER = auto()


class FrameScanner:
    """Feeds one byte at a time; returns the tokens that byte completes.

    An EOT anywhere ends the frame in progress (the sender gave up) and is reported as a Control.
    An STX inside a frame starts the frame again: the sender never sends one there, so the bytes
    before it are a fragment.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._max = max_frame
        self._state = _State.OUTSIDE
        self._buf = bytearray()
        self._error: str | None = None
        self._check = 0

    @property
    def in_frame(self) -> bool:
        """True between an STX and the end of its frame."""
        return self._state is not _State.OUTSIDE

    def reset(self) -> None:
        """Forget any partial frame."""
        self._state = _State.OUTSIDE
        self._buf.clear()
        self._error = None

    def push(self, byte: int) -> list[Token]:
        """Consume one byte."""
        if self._state is _State.OUTSIDE:
            if byte == STX:
                self._start()
                return []
            return [Control(byte)]
        if byte == EOT:
            self.reset()
            return [Control(EOT)]
        if self._state is _State.TRAILER:
            return self._trailer(byte)
        if byte == STX:
            self._start()
            return []
        if self._state is _State.TEXT:
            self._text(byte)
            return []
        if self._state is _State.CHECKSUM:
            self._buf.append(byte)
            self._check += 1
            if self._check == 2:
                self._state = _State.TRAILER
        return []

    def _trailer(self, byte: int) -> list[Token]:
        if byte in (CR, LF):
            return [self._complete()]
        self.reset()
        return [Scanned(None, "frame not terminated by <CR><LF>"), *self.push(byte)]

    def _start(self) -> None:
        self.reset()
        self._state = _State.TEXT

    def _text(self, byte: int) -> None:
        if byte in (ETX, ETB):
            self._buf.append(byte)
            self._state = _State.CHECKSUM
            self._check = 0
        elif byte in RESTRICTED:
            self._error = self._error or f"frame text holds restricted byte 0x{byte:02X}"
        elif len(self._buf) >= self._max:
            self._error = self._error or f"frame is longer than {self._max} bytes"
        else:
            self._buf.append(byte)

    def _complete(self) -> Scanned:
        error, raw = self._error, bytes([STX]) + bytes(self._buf) + b"\r\n"
        self.reset()
        if error:
            return Scanned(None, error)
        try:
            return Scanned(decode_frame(raw))
        except FrameError as exc:
            return Scanned(None, str(exc))
