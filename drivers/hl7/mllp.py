"""MLLP framing: ``<VT> message <FS><CR>``, and a streaming decoder that resyncs and bounds memory."""

from __future__ import annotations

from drivers.errors import FrameError

VT = 0x0B
FS = 0x1C
CR = 0x0D
START = bytes([VT])
END = bytes([FS, CR])

MAX_MESSAGE = 1024 * 1024
"""Largest message kept; a device result is a few kilobytes."""
_MAX_PROBLEMS = 100
_LINE_ENDS = b"\r\n"


def frame(message: bytes) -> bytes:
    """Wrap one message in MLLP; raise ValueError if it holds a framing byte."""
    if VT in message or FS in message:
        raise ValueError("an HL7 message may not contain 0x0B or 0x1C")
    return START + message + END


def unwrap(data: bytes) -> bytes:
    """The message inside one MLLP block, or ``data`` itself when it is not framed."""
    stripped = data.strip(b"\r\n\t ")
    if stripped[:1] == START:
        end = stripped.find(FS)
        if end == -1:
            raise FrameError("MLLP block has no end byte 0x1C")
        if stripped[end + 1 :].strip(b"\r\n\t "):
            raise FrameError("bytes after the MLLP block: one message at a time")
        stripped = stripped[1:end]
    if VT in stripped or FS in stripped:
        raise FrameError("stray MLLP framing byte inside the message")
    return stripped


class MllpDecoder:
    """Feed bytes as they arrive; get back whole messages.

    Bytes outside a block are skipped (a new block starts at the next 0x0B, even in the middle
    of an unfinished one). A message is complete at 0x1C; the CR after it is optional, because
    waiting for it could deadlock against a sender that omits it. A message longer than
    ``max_message`` is dropped while it streams in, so memory stays bounded.
    """

    def __init__(self, max_message: int = MAX_MESSAGE) -> None:
        self._max = max_message
        self._inside = False
        self._too_long = False
        self._buf = bytearray()
        self._problems: list[str] = []

    @property
    def buffered(self) -> int:
        """Bytes of the unfinished message held now."""
        return len(self._buf)

    def take_problems(self) -> list[str]:
        """What was skipped or dropped since the last call, for the log."""
        problems, self._problems = self._problems, []
        return problems

    def feed(self, data: bytes) -> list[bytes]:
        """Consume bytes; return the messages they complete, unframed."""
        messages: list[bytes] = []
        pos = 0
        while pos < len(data):
            pos = self._inside_block(data, pos, messages) if self._inside else self._outside_block(data, pos)
        return messages

    def _outside_block(self, data: bytes, pos: int) -> int:
        start = data.find(VT, pos)
        stop = len(data) if start == -1 else start
        junk = len(data[pos:stop].strip(_LINE_ENDS))
        if junk:
            self._problem(f"skipped {junk} bytes outside an MLLP block")
        if start != -1:
            self._inside, self._too_long = True, False
            self._buf.clear()
        return stop + 1 if start != -1 else stop

    def _inside_block(self, data: bytes, pos: int, messages: list[bytes]) -> int:
        end, restart = data.find(FS, pos), data.find(VT, pos)
        if restart != -1 and (end == -1 or restart < end):
            self._problem(f"message cut short after {len(self._buf) + restart - pos} bytes by a new start block")
            self._inside = False
            self._buf.clear()
            return restart
        self._append(data[pos : len(data) if end == -1 else end])
        if end == -1:
            return len(data)
        if self._buf and not self._too_long:
            messages.append(bytes(self._buf))
        elif not self._too_long:
            self._problem("empty MLLP block")
        self._inside = False
        self._buf.clear()
        return end + 1

    def _append(self, chunk: bytes) -> None:
        if self._too_long:
            return
        if len(self._buf) + len(chunk) > self._max:
            self._too_long = True
            self._buf.clear()
            self._problem(f"message longer than {self._max} bytes dropped")
            return
        self._buf += chunk

    def _problem(self, text: str) -> None:
        if len(self._problems) < _MAX_PROBLEMS:
            self._problems.append(text)
