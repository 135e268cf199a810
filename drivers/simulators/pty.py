"""A pseudo-terminal that appears at a path, as a USB-serial adapter appears when plugged in.

The simulator holds the master side; the agent opens the path (a symlink to the slave) with
pyserial exactly as it would open /dev/serial/by-id/... Closing the simulator removes the link and
hangs up the line: to the agent, the adapter was unplugged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from pathlib import Path


class PtyDevice:
    """The device end of a pty pair, reachable by the agent at ``link``."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # raw from the start: no echo, no line buffering before the agent opens it
        os.set_blocking(self.master, False)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.ttyname(self._slave))
        self._loop = asyncio.get_running_loop()
        self._readable = asyncio.Event()
        self._loop.add_reader(self.master, self._readable.set)

    async def read(self, within: float) -> bytes:
        """What the agent wrote, waiting up to ``within`` seconds (b"" if nothing)."""
        if not self._readable.is_set():
            try:
                await asyncio.wait_for(self._readable.wait(), within)
            except TimeoutError:
                return b""
        self._readable.clear()
        try:
            return os.read(self.master, 65536)
        except (BlockingIOError, OSError):
            return b""

    async def write(self, data: bytes) -> None:
        """Send bytes to the agent (waiting while the pty buffer is full)."""
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.master, view) :]
            except BlockingIOError:
                await asyncio.sleep(0.01)

    def close(self) -> None:
        """Unplug: remove the link and hang up."""
        with contextlib.suppress(OSError):
            self._loop.remove_reader(self.master)
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
