"""The local API's wire format, sans-I/O: a 4-byte big-endian length, then that many bytes of JSON.

Requests:  {"id": 1, "method": "resident.search", "params": {...}, "session": "..."}
Responses: {"id": 1, "result": ...}  or  {"id": 1, "error": {"code": "...", "message": "..."}}
Events:    {"event": "reading.received", "data": {...}}

A frame longer than the cap is skipped without being buffered (constant memory) and reported, so
one bad client cannot make the daemon hold a gigabyte.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

HEADER = struct.Struct(">I")
DEFAULT_MAX_FRAME = 1024 * 1024
MAX_DEPTH = 64  # nothing the API sends nests more than a dozen levels


class FramingError(ValueError):
    """A frame's body is not a JSON object."""


@dataclass(frozen=True, slots=True)
class Oversize:
    """A frame that was longer than the cap and has been skipped."""

    length: int


def encode(message: dict[str, Any]) -> bytes:
    """One frame."""
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
    return HEADER.pack(len(body)) + body


def decode_body(body: bytes) -> dict[str, Any]:
    """Parse one frame's body; raise FramingError unless it is a JSON object of sane depth and numbers.

    NaN, Infinity and numbers beyond a float (1e999, which Python's json would make infinite) are
    refused, as is nesting deeper than MAX_DEPTH (100k nested arrays used to blow the stack).
    """
    try:
        message = json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    except _NotANumber as exc:
        raise FramingError(f"the frame holds {exc}, which is not a JSON number") from None
    except RecursionError:
        raise FramingError(f"the frame is nested more than {MAX_DEPTH} levels deep") from None
    except (UnicodeDecodeError, ValueError):
        raise FramingError("the frame is not JSON") from None
    if not isinstance(message, dict):
        raise FramingError("the frame is not a JSON object")
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH and _deeper_than(message, MAX_DEPTH):
        raise FramingError(f"the frame is nested more than {MAX_DEPTH} levels deep")
    return message


class _NotANumber(ValueError):
    """NaN, Infinity or a number too large for a float."""


def _no_constant(name: str) -> Any:
    raise _NotANumber(name)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotANumber(text[:40])
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether containers nest more than ``limit`` levels (walked level by level, without recursion)."""
    level = [value]
    for _ in range(limit):
        level = [
            child
            for item in level
            for child in (item.values() if type(item) is dict else item)
            if type(child) is dict or type(child) is list
        ]
        if not level:
            return False
    return True


class FrameDecoder:
    """Splits a byte stream into frame bodies, skipping (not buffering) oversize ones."""

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._skip = 0

    def feed(self, data: bytes) -> list[bytes | Oversize]:
        """Add bytes; return every complete frame body (or Oversize marker) now available."""
        out: list[bytes | Oversize] = []
        pending = memoryview(data)
        while pending:
            if self._skip:
                taken = min(self._skip, len(pending))
                self._skip -= taken
                pending = pending[taken:]
                continue
            self._buffer += pending
            frames, pending = self._drain()
            out.extend(frames)
        return out

    def _drain(self) -> tuple[list[bytes | Oversize], memoryview]:
        """Complete frames from the buffer, and what follows an oversize header (to be skipped)."""
        out: list[bytes | Oversize] = []
        while len(self._buffer) >= HEADER.size:
            (length,) = HEADER.unpack_from(self._buffer)
            if length > self.max_frame:
                self._skip = length
                rest = memoryview(bytes(self._buffer[HEADER.size :]))
                self._buffer.clear()
                out.append(Oversize(length))
                return out, rest
            if len(self._buffer) < HEADER.size + length:
                break
            out.append(bytes(self._buffer[HEADER.size : HEADER.size + length]))
            del self._buffer[: HEADER.size + length]
        return out, memoryview(b"")

    @property
    def buffered(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buffer)
