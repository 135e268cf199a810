"""Byte-stream links, transport-free: a protocol session and the loop that drives it.

A session (ASTM, HL7 over MLLP, a CMS50 oximeter) turns bytes from the device into raw frames for
the sink and answers the device; the transport (a serial port, a TCP connection) only moves bytes.
``drive`` runs one session over one open stream until the stream ends or ``stop`` is set.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

_LOGGER = logging.getLogger(__name__)

Read = Callable[[float | None], Awaitable[bytes | None]]  # timeout -> data, b"" on timeout, None at the end
Write = Callable[[bytes], Awaitable[None]]


class StreamSession(Protocol):
    """The protocol half of a byte-stream link."""

    @property
    def deadline(self) -> float | None:
        """When ``tick`` next has work (monotonic seconds), or None."""

    def opened(self, now: float) -> bytes:
        """Bytes to send when the stream opens (e.g. a command starting live data)."""

    async def received(self, data: bytes, now: float) -> bytes:
        """Take bytes from the device (storing what they carry); return the bytes to answer."""

    async def tick(self, now: float) -> bytes:
        """Run timers; return bytes to send."""


async def drive(
    session: StreamSession, read: Read, write: Write, stop: asyncio.Event, monotonic: Callable[[], float]
) -> None:
    """Run a session until the stream ends (returns) or ``stop`` is set; transport errors propagate."""
    await _send(write, session.opened(monotonic()))
    while not stop.is_set():
        deadline = session.deadline
        timeout = 1.0 if deadline is None else max(0.0, min(1.0, deadline - monotonic()))
        data = await read(timeout)
        if data is None:
            return
        if data:
            await _send(write, await session.received(data, monotonic()))
        deadline = session.deadline
        if deadline is not None and monotonic() >= deadline:
            await _send(write, await session.tick(monotonic()))


async def _send(write: Write, data: bytes) -> None:
    if data:
        await write(data)
