"""What a transport hands on: raw frames, to a sink that answers only once they are durable.

A link reads bytes, cuts them into frames (a BLE notification, an HL7 message, an ASTM message, a
CMS50 packet), and awaits ``sink(frame)``. The sink archives the raw bytes, decodes them, stores
the readings (or quarantines the frame with the reason) and returns a ``Receipt`` only after the
commit. The link acknowledges the device (ACK, AA, RACP delete) only when ``receipt.durable``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

StateCallback = Callable[[str, str, str], None]  # device id, state ("connected", ...), detail


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceRef:
    """A configured device: its stable name and what it speaks."""

    id: str
    protocol: str
    profile: str = "default"
    model: str = ""
    serial: str = ""
    address: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RawFrame:
    """One frame as it came off the wire, with the PC time it arrived."""

    device: DeviceRef
    protocol: str  # the decoder to use: "ble:2A35", "astm", "hl7", "cms50", ...
    data: bytes
    received_at: datetime
    stored_record: bool = False  # a record downloaded from the device's memory (RACP), not a live one


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """What the sink did with a frame. ``durable``: committed (stored, duplicate or quarantined)."""

    stored: tuple[str, ...] = ()
    duplicates: tuple[str, ...] = ()
    quarantined: str | None = None
    failed: str | None = None

    @property
    def durable(self) -> bool:
        """True when the frame is safe on disk and the device may be told so."""
        return self.failed is None


FrameSink = Callable[[RawFrame], Awaitable[Receipt]]


class StateReporting:
    """What a device link shares: each change of state goes once to the log and to ``on_state``."""

    device: DeviceRef
    on_state: StateCallback | None
    state: str

    def _report(self, state: str, detail: str = "") -> None:
        if state != self.state:
            logging.getLogger(type(self).__module__).info("%s: %s %s", self.device.id, state, detail)
        self.state = state
        if self.on_state is not None:
            self.on_state(self.device.id, state, detail)
