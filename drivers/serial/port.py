"""pyserial on the asyncio event loop: non-blocking reads woken by the loop's reader callback.

pyserial has no asyncio API of its own; on POSIX a serial port is a file descriptor, so the loop
can tell us when it is readable. pyserial and OS errors (an unplugged adapter raises both kinds)
are translated here, once, into DeviceUnavailable.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import serial

from drivers.errors import DeviceUnavailable

_PARITY = {"none": serial.PARITY_NONE, "odd": serial.PARITY_ODD, "even": serial.PARITY_EVEN}


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """Line settings (a pty ignores them; a real adapter needs them right)."""

    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "none"
    stopbits: int = 1
    xonxoff: bool = False


class AsyncSerial:
    """An open serial port read and written from the event loop."""

    def __init__(self, path: str, settings: SerialSettings) -> None:
        self.path = path
        try:
            self._port = serial.Serial(
                path,
                baudrate=settings.baudrate,
                bytesize=settings.bytesize,
                parity=_PARITY[settings.parity],
                stopbits=settings.stopbits,
                xonxoff=settings.xonxoff,
                timeout=0,
                write_timeout=5,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceUnavailable(path, str(exc)) from exc
        self._loop = asyncio.get_running_loop()
        self._readable = asyncio.Event()
        self._loop.add_reader(self._port.fileno(), self._readable.set)

    async def read(self, within: float | None) -> bytes | None:
        """Bytes available ``within`` seconds (b"" if none); raises DeviceUnavailable when unplugged."""
        if not self._readable.is_set():
            try:
                await asyncio.wait_for(self._readable.wait(), within)
            except TimeoutError:
                return b""
        self._readable.clear()
        try:
            # readable with nothing to read is a hang-up: pyserial raises, which is what we want
            return bytes(self._port.read(max(1, self._port.in_waiting)))
        except (serial.SerialException, OSError) as exc:
            raise DeviceUnavailable(self.path, f"read failed ({exc})") from exc

    async def write(self, data: bytes) -> None:
        """Write and drain."""
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as exc:
            raise DeviceUnavailable(self.path, f"write failed ({exc})") from exc

    def close(self) -> None:
        """Stop watching and close the port."""
        with contextlib.suppress(OSError, ValueError):
            self._loop.remove_reader(self._port.fileno())
        with contextlib.suppress(serial.SerialException, OSError):
            self._port.close()
