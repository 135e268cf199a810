"""Which protocol a serial port answers: listen briefly at each protocol's speed, asking where it can.

A port is opened at each line speed the protocols use, in turn; where a protocol has a query (the
CMS50's "start live data") it is sent; then the port is listened to for ``listen`` seconds and the
bytes are given to the decoders of the protocols at that speed, then to the others (a pty, or a USB
device that is no real UART, ignores the speed). The first protocol whose decoder recognises what
came is the answer, with the speed that protocol uses:

    9600 baud     ASTM (an analyser with results to send says ENQ, every few seconds until answered,
                  or sends frames whose checksums check out) and HL7 (an MLLP-framed MSH segment)
    19200 baud    the old CMS50 protocol (it streams live packets by itself)
    115200 baud   the new CMS50 protocol (asked for live data, it streams live packets)

Nothing is acknowledged: an analyser's ENQ is left unanswered (it tries again later, and the agent's
link takes it from there), so probing never takes a result off an instrument. A device that only
talks when its button is pressed, or at another speed, is not found: it is configured by hand.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import serial

from drivers.astm.framing import ENQ, EOT, STX, iter_frames
from drivers.contec.cms50_new import Command, LiveData, NewDecoder, encode_command
from drivers.contec.cms50_old import OldDecoder, OldLive
from drivers.errors import FrameError

MLLP_START = b"\x0bMSH|"


STREAMED = 5  # live packets in a row: a streaming oximeter sends about 60 a second, noise seldom makes 5
MOSTLY = 0.9  # and they are most of what came: a stream, not a few lucky bytes in noise


def _stream(decoder: NewDecoder | OldDecoder, kind: type, data: bytes) -> bool:
    live = sum(isinstance(e, kind) for e in decoder.feed(data))
    return live >= STREAMED and decoder.discarded <= (1 - MOSTLY) * len(data)


def _cms50(data: bytes) -> bool:
    return _stream(NewDecoder(), LiveData, data)


def _cms50_old(data: bytes) -> bool:
    return _stream(OldDecoder(), OldLive, data)


def _astm(data: bytes) -> bool:
    start = data.find(bytes([STX]))
    if start >= 0:
        try:
            return any(True for _ in iter_frames(data[start:]))
        except (FrameError, ValueError):
            return False
    # A sender with results says ENQ, and EOT when no answer came, and nothing else.
    return ENQ in data and set(data) <= {ENQ, EOT}


def _hl7(data: bytes) -> bool:
    return MLLP_START in data


@dataclass(frozen=True, slots=True)
class Protocol:
    """One protocol as the probe tries it: the agent's name for it, its speed, its query, its recogniser."""

    name: str
    baud: int
    query: bytes
    recognise: Callable[[bytes], bool]


PROTOCOLS = (
    Protocol("astm", 9600, b"", _astm),
    Protocol("hl7", 9600, b"", _hl7),
    Protocol("cms50-old", 19200, b"", _cms50_old),
    Protocol("cms50", 115200, encode_command(Command.START_LIVE), _cms50),
)


@dataclass(frozen=True, slots=True)
class Found:
    """What probing one port found."""

    port: str
    protocol: str | None  # None: nothing recognised
    baud: int | None
    note: str  # what was seen, for the technician


def probe(port: str, *, listen: float = 3.0) -> Found:
    """Try every speed in turn; the first protocol recognised (a port that cannot be opened says why)."""
    heard = 0
    for baud in sorted({p.baud for p in PROTOCOLS}):
        candidates = [p for p in PROTOCOLS if p.baud == baud]
        try:
            data = _listen(port, baud, b"".join(p.query for p in candidates), listen)
        except (serial.SerialException, OSError) as exc:
            return Found(port, None, None, f"cannot be opened: {exc}")
        heard += len(data)
        # The protocols of this speed first; then the others, whose devices a line that ignores the
        # speed (a pty, a USB device that is not really a UART) lets through all the same.
        for candidate in sorted(PROTOCOLS, key=lambda p: p.baud != baud):
            if candidate.recognise(data):
                said = f"{candidate.name} answered" + (f" at {baud} baud" if candidate.baud == baud else "")
                return Found(port, candidate.name, candidate.baud, said)
    if heard:
        return Found(port, None, None, f"{heard} bytes heard, in no protocol the agent knows")
    return Found(port, None, None, "silent (a device that talks only when asked, or switched off)")


def _listen(port: str, baud: int, query: bytes, seconds: float) -> bytes:
    with serial.Serial(port, baudrate=baud, timeout=0.1) as line:
        if query:
            line.write(query)
            line.flush()
        received = bytearray()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            received += line.read(4096)
        return bytes(received)
