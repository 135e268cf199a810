"""A serial device's link: find the port, open it, run the protocol session, and start over.

The adapter may be unplugged at any time: the link notices (a read or write fails, or the port
disappears from the system's list), closes the port, reports it, and waits for the adapter to
come back, polling the port list. Then it reopens and carries on by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable

from drivers.errors import DeviceUnavailable
from drivers.frames import DeviceRef, StateCallback, StateReporting
from drivers.serial import ports
from drivers.serial.port import AsyncSerial, SerialSettings
from drivers.stream import StreamSession, drive

_LOGGER = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]


class SerialLink(StateReporting):
    """One configured serial device, kept connected for as long as the daemon runs."""

    def __init__(
        self,
        device: DeviceRef,
        session_factory: Callable[[], StreamSession],
        *,
        port: str | None = None,
        match: str | None = None,
        settings: SerialSettings | None = None,
        on_state: StateCallback | None = None,
        poll_interval: float = 2.0,
        backoff_cap: float = 30.0,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not port and not match:
            raise ValueError("a serial device needs a port or a match")
        self.device = device
        self.session_factory = session_factory
        self.port, self.match = port, match
        self.settings = settings or SerialSettings()
        self.on_state = on_state
        self.poll_interval = poll_interval
        self.backoff_cap = backoff_cap
        self.sleep = sleep
        self.monotonic = monotonic
        self.state = "starting"

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the device connected until ``stop`` is set."""
        failures = 0
        while not stop.is_set():
            path = ports.find(self.port, self.match)
            if path is None:
                self._report("waiting", f"{self.port or self.match} is not plugged in")
                await self._pause(stop, self.poll_interval)
                continue
            try:
                await self._connected(path, stop)
                failures = 0
            except DeviceUnavailable as exc:
                failures += 1
                self._report("disconnected", exc.reason)
                delay = min(self.backoff_cap, self.poll_interval * 2 ** min(failures - 1, 5))
                await self._pause(stop, delay * (0.5 + random.random() / 2))
        self._report("stopped")

    async def _connected(self, path: str, stop: asyncio.Event) -> None:
        port = AsyncSerial(path, self.settings)
        self._report("connected", path)
        try:
            read_task_stop = asyncio.Event()

            async def watch_presence() -> None:
                # a pty link vanishing does not always wake the reader: check the path too
                while not read_task_stop.is_set():
                    await self._pause(read_task_stop, self.poll_interval)
                    if ports.find(self.port, self.match) is None:
                        read_task_stop.set()

            watcher = asyncio.create_task(watch_presence())
            try:
                await drive(
                    self.session_factory(), _until(port, stop, read_task_stop), port.write, stop, self.monotonic
                )
            finally:
                read_task_stop.set()
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            if not stop.is_set():
                raise DeviceUnavailable(path, "the adapter was unplugged")
        finally:
            port.close()

    async def _pause(self, stop: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)


def _until(
    port: AsyncSerial, stop: asyncio.Event, gone: asyncio.Event
) -> Callable[[float | None], Awaitable[bytes | None]]:
    async def read(within: float | None) -> bytes | None:
        if stop.is_set() or gone.is_set():
            return None
        return await port.read(within)

    return read
