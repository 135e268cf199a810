"""A Contec CMS50 oximeter on its serial cable as a stream session.

The oximeter streams live values about 60 times a second; a clinic wants one spot reading per
placement of the finger. The session waits until the finger has been in for ``settle`` seconds
and SpO2 and pulse have been steady over the last ``window`` seconds, then hands that packet to
the sink as one reading, and waits for the finger to come out before taking another.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from drivers.contec.cms50 import live_measurements
from drivers.contec.cms50_new import Command, LiveData, NewDecoder, encode_command, encode_live
from drivers.contec.cms50_old import OldDecoder, OldLive, encode_old_live
from drivers.frames import DeviceRef, FrameSink, RawFrame

_LOGGER = logging.getLogger(__name__)
KEEP_ALIVE_EVERY = 5.0
_ABSENT_PACKETS = 30  # about half a second without a finger ends a placement


@dataclass(slots=True)
class _Sample:
    at: float
    spo2: int
    pulse: int


class Cms50Session:
    """Live data in, one steady spot reading per finger placement out."""

    def __init__(
        self,
        device: DeviceRef,
        sink: FrameSink,
        *,
        protocol: Literal["new", "old"] = "new",
        settle: float = 8.0,
        window: float = 3.0,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.device = device
        self.sink = sink
        self.protocol = protocol
        self.settle = settle
        self.window = window
        self.wall = wall
        self._decoder: NewDecoder | OldDecoder = NewDecoder() if protocol == "new" else OldDecoder()
        self._samples: deque[_Sample] = deque()
        self._placed_at: float | None = None
        self._taken = False
        self._absent = 0
        self._keep_alive: float | None = None

    @property
    def deadline(self) -> float | None:
        """When the next keep-alive is due (new protocol only)."""
        return self._keep_alive

    def opened(self, now: float) -> bytes:
        """New protocol: stop whatever runs, then start live data; the old one streams by itself."""
        if self.protocol == "old":
            return b""
        self._keep_alive = now + KEEP_ALIVE_EVERY
        return b"".join(encode_command(op) for op in (Command.STOP_STORED, Command.STOP_LIVE, Command.START_LIVE))

    async def tick(self, now: float) -> bytes:
        """Keep the live stream alive."""
        self._keep_alive = now + KEEP_ALIVE_EVERY
        return encode_command(Command.KEEP_ALIVE)

    async def received(self, data: bytes, now: float) -> bytes:
        """Watch the live values; hand one steady packet per placement to the sink."""
        for event in self._decoder.feed(data):
            if isinstance(event, LiveData | OldLive):
                await self._live(event, now)
        return b""

    async def _live(self, event: LiveData | OldLive, now: float) -> None:
        values = {m.code: m.value for m in live_measurements(event) if m.value is not None}
        spo2, pulse = values.get("59408-5"), values.get("8867-4")
        if spo2 is None or pulse is None:
            self._absent += 1
            if self._absent >= _ABSENT_PACKETS:
                self._placed_at, self._taken = None, False
                self._samples.clear()
            return
        self._absent = 0
        if self._placed_at is None:
            self._placed_at = now
        self._samples.append(_Sample(now, int(spo2), int(pulse)))
        while self._samples and self._samples[0].at < now - self.window:
            self._samples.popleft()
        if not self._taken and self._steady(now):
            self._taken = True
            data = encode_live(event) if isinstance(event, LiveData) else encode_old_live(event)
            protocol = "cms50:new" if isinstance(event, LiveData) else "cms50:old"
            receipt = await self.sink(
                RawFrame(device=self.device, protocol=protocol, data=data, received_at=self.wall())
            )
            if not receipt.durable:
                _LOGGER.warning("%s: a spot reading could not be stored (%s)", self.device.id, receipt.failed)
                self._taken = False  # try again with the next steady packet

    def _steady(self, now: float) -> bool:
        if self._placed_at is None or now - self._placed_at < self.settle or not self._samples:
            return False
        if now - self._samples[0].at < self.window * 0.8:
            return False
        spo2 = [s.spo2 for s in self._samples]
        pulse = [s.pulse for s in self._samples]
        return max(spo2) - min(spo2) <= 1 and max(pulse) - min(pulse) <= 3
