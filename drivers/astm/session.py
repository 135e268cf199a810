"""An ASTM E1381 line as a stream session: frames in, messages to the sink, ACK only after commit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from drivers.astm.events import (
    AstmEvent,
    FrameRejected,
    MessageFailed,
    MessageReceived,
    Send,
    TransferAborted,
)
from drivers.astm.link import AstmLink
from drivers.frames import DeviceRef, FrameSink, RawFrame

_LOGGER = logging.getLogger(__name__)


class AstmSession:
    """Receives results from an analyser; the final frame of a message is ACKed once it is stored."""

    def __init__(
        self,
        device: DeviceRef,
        sink: FrameSink,
        *,
        raw: bool = False,
        monotonic: Callable[[], float],
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.device = device
        self.sink = sink
        self.link = AstmLink(role="computer", raw=raw)
        self.monotonic = monotonic
        self.wall = wall

    @property
    def deadline(self) -> float | None:
        """The line's next timer."""
        return self.link.deadline

    def opened(self, now: float) -> bytes:
        """Nothing to say first: the analyser starts with ENQ."""
        return b""

    async def received(self, data: bytes, now: float) -> bytes:
        """Feed the line; store each whole message, then let the machine ACK (or NAK) its last frame."""
        return await self._handle(self.link.feed(data, now))

    async def tick(self, now: float) -> bytes:
        """Timeouts of both directions."""
        return await self._handle(self.link.poll(now))

    async def _handle(self, events: list[AstmEvent]) -> bytes:
        out = bytearray()
        while events:
            event, events = events[0], events[1:]
            if isinstance(event, Send):
                out += event.data
            elif isinstance(event, MessageReceived):
                frame = RawFrame(device=self.device, protocol="astm", data=event.text, received_at=self.wall())
                receipt = await self.sink(frame)
                now = self.monotonic()
                events = (self.link.accept(now) if receipt.durable else self.link.reject(now)) + events
            elif isinstance(event, FrameRejected | TransferAborted | MessageFailed):
                _LOGGER.info("%s: %s", self.device.id, getattr(event, "reason", event))
        return bytes(out)
