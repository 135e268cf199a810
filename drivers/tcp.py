"""TCP transports: a listener for senders that connect to us (HL7 monitors, LAN health machines),
and a client for devices behind a serial-to-Ethernet server that we connect to.

The listener binds 127.0.0.1 unless configured otherwise: opening a clinic PC's port to the LAN
is a decision for the technician, not a default.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable

from drivers.errors import DeviceUnavailable
from drivers.frames import DeviceRef, StateCallback
from drivers.stream import Read, StreamSession, drive

_LOGGER = logging.getLogger(__name__)


def _reader(reader: asyncio.StreamReader) -> Read:
    async def read(within: float | None) -> bytes | None:
        try:
            data = await asyncio.wait_for(reader.read(65536), within)
        except TimeoutError:
            return b""
        except (ConnectionError, OSError):
            return None
        return data or None  # b"" from a StreamReader is the end of the stream

    return read


def _writer(writer: asyncio.StreamWriter) -> Callable[[bytes], Awaitable[None]]:
    async def write(data: bytes) -> None:
        writer.write(data)
        await writer.drain()

    return write


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()


class TcpListener:
    """Accepts connections from a device and runs a session on each."""

    def __init__(
        self,
        device: DeviceRef,
        session_factory: Callable[[], StreamSession],
        *,
        host: str = "127.0.0.1",
        port: int = 2575,
        on_state: StateCallback | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.device = device
        self.session_factory = session_factory
        self.host, self.port = host, port
        self.on_state = on_state
        self.monotonic = monotonic
        self.bound: tuple[str, int] | None = None
        self._connections: set[asyncio.Task[None]] = set()

    def _report(self, state: str, detail: str = "") -> None:
        _LOGGER.info("%s: %s %s", self.device.id, state, detail)
        if self.on_state is not None:
            self.on_state(self.device.id, state, detail)

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set; a port that cannot be bound raises DeviceUnavailable."""

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = writer.get_extra_info("peername")
            self._report("connected", f"from {peer[0]}:{peer[1]}" if peer else "")
            try:
                await drive(self.session_factory(), _reader(reader), _writer(writer), stop, self.monotonic)
            except (ConnectionError, OSError) as exc:
                _LOGGER.info("%s: connection lost (%s)", self.device.id, exc)
            except asyncio.CancelledError:
                # The link is stopping. Not re-raised: asyncio's own callback for a connection
                # handler (Python 3.11) logs a cancelled one as an error with a traceback.
                _LOGGER.info("%s: connection closed by the stop", self.device.id)
            finally:
                await _close(writer)
                self._report("listening", f"{self.host}:{self.port}")

        try:
            server = await asyncio.start_server(serve, self.host, self.port)
        except OSError as exc:
            raise DeviceUnavailable(
                self.device.id, f"cannot listen on {self.host}:{self.port} ({exc.strerror})"
            ) from exc
        self.bound = server.sockets[0].getsockname()[:2]
        self._report("listening", f"{self.host}:{self.bound[1]}")
        try:
            await stop.wait()
        finally:
            server.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 5)
            self._report("stopped")


class TcpClientLink:
    """Connects to a device's TCP port (a serial-to-Ethernet box) and keeps reconnecting."""

    def __init__(
        self,
        device: DeviceRef,
        session_factory: Callable[[], StreamSession],
        *,
        host: str,
        port: int,
        on_state: StateCallback | None = None,
        backoff_cap: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.device = device
        self.session_factory = session_factory
        self.host, self.port = host, port
        self.on_state = on_state
        self.backoff_cap = backoff_cap
        self.monotonic = monotonic

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until ``stop`` is set."""
        failures = 0
        while not stop.is_set():
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 10)
            except (OSError, TimeoutError) as exc:
                failures += 1
                if self.on_state:
                    self.on_state(self.device.id, "disconnected", f"{self.host}:{self.port}: {exc}")
                delay = min(self.backoff_cap, 2.0 ** min(failures, 5)) * (0.5 + random.random() / 2)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                continue
            failures = 0
            if self.on_state:
                self.on_state(self.device.id, "connected", f"{self.host}:{self.port}")
            try:
                await drive(self.session_factory(), _reader(reader), _writer(writer), stop, self.monotonic)
            except (ConnectionError, OSError) as exc:
                _LOGGER.info("%s: connection lost (%s)", self.device.id, exc)
            except asyncio.CancelledError:
                # The link is stopping. Not re-raised: asyncio's own callback for a connection
                # handler (Python 3.11) logs a cancelled one as an error with a traceback.
                _LOGGER.info("%s: connection closed by the stop", self.device.id)
            finally:
                await _close(writer)
