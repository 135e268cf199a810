"""systemd readiness and watchdog notifications (sd_notify), without a library: one datagram each."""

from __future__ import annotations

import contextlib
import os
import socket


def notify(state: str) -> bool:
    """Send a state such as "READY=1" to systemd; False when not run by systemd with Type=notify."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract socket namespace
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(state.encode())
        return True
    return False


def watchdog_interval() -> float | None:
    """Half the watchdog timeout systemd set for us (how often to ping), or None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        return None
