"""HL7 v2 over MLLP as a stream session: each message to the sink, then its ACK.

AA when the message is stored (or was already); AE when it was kept but could not be read as
results (quarantined: the sender should not resend); AR when it could not be stored (the sender
resends later).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from drivers.errors import FrameError
from drivers.frames import DeviceRef, FrameSink, RawFrame, Receipt
from drivers.hl7.ack import CONTROL_ID_HEX_BYTES, AckCode, build_ack
from drivers.hl7.mllp import MllpDecoder, frame

_LOGGER = logging.getLogger(__name__)


def ack_code(receipt: Receipt) -> tuple[AckCode, str | None]:
    """The acknowledgement for what the sink did with a message."""
    if not receipt.durable:
        return "AR", f"not stored: {receipt.failed}"
    if receipt.quarantined:
        return "AE", f"kept for review: {receipt.quarantined}"
    return "AA", None


class Hl7Session:
    """One MLLP connection (TCP or serial) from an HL7 sender."""

    def __init__(
        self,
        device: DeviceRef,
        sink: FrameSink,
        *,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_message: int = 1024 * 1024,
    ) -> None:
        self.device = device
        self.sink = sink
        self.wall = wall
        self.decoder = MllpDecoder(max_message=max_message)

    @property
    def deadline(self) -> float | None:
        """No timers: the sender times out and resends on its own."""
        return None

    def opened(self, now: float) -> bytes:
        """The sender speaks first."""
        return b""

    async def received(self, data: bytes, now: float) -> bytes:
        """Store each complete message, then answer it."""
        out = bytearray()
        for message in self.decoder.feed(data):
            receipt = await self.sink(
                RawFrame(device=self.device, protocol="hl7", data=message, received_at=self.wall())
            )
            code, error = ack_code(receipt)
            try:
                out += frame(build_ack(message, code, self.wall(), secrets.token_hex(CONTROL_ID_HEX_BYTES), error))
            except FrameError as exc:  # no readable MSH: nobody to answer; the frame is archived anyway
                _LOGGER.warning("%s: cannot acknowledge a message without a readable MSH (%s)", self.device.id, exc)
        for problem in self.decoder.take_problems():
            _LOGGER.warning("%s: %s", self.device.id, problem)
        return bytes(out)

    async def tick(self, now: float) -> bytes:
        """Nothing timed."""
        return b""
