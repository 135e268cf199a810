"""Finding a serial port and noticing USB-serial adapters come and go.

A device is named in agent.toml by a path (``/dev/serial/by-id/...``, a pty link, ``/dev/ttyUSB0``)
or by ``match = "VID:PID[:SERIAL]"``. Polling ``serial.tools.list_ports`` and diffing snapshots by
(device, VID, PID, serial number) tells the link when its adapter is unplugged or plugged back.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from serial.tools import list_ports


@dataclass(frozen=True, slots=True)
class PortInfo:
    """One serial port as the system lists it."""

    device: str
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None
    description: str = ""

    @property
    def key(self) -> tuple[str, int | None, int | None, str | None]:
        """What identifies this adapter in a snapshot."""
        return (self.device, self.vid, self.pid, self.serial_number)

    def matches(self, spec: str) -> bool:
        """Whether ``VID:PID[:SERIAL]`` (hex ids) names this adapter."""
        parts = spec.lower().split(":")
        if len(parts) not in (2, 3) or self.vid is None or self.pid is None:
            return False
        try:
            vid, pid = int(parts[0], 16), int(parts[1], 16)
        except ValueError:
            return False
        serial_ok = len(parts) == 2 or (self.serial_number or "").lower() == parts[2]
        return (vid, pid) == (self.vid, self.pid) and serial_ok


def snapshot(ports: Iterable[object] | None = None) -> dict[tuple[str, int | None, int | None, str | None], PortInfo]:
    """The ports present now (or those given, objects shaped like pyserial's ListPortInfo)."""
    listed = list_ports.comports() if ports is None else ports
    infos = [
        PortInfo(
            device=str(getattr(p, "device", "")),
            vid=getattr(p, "vid", None),
            pid=getattr(p, "pid", None),
            serial_number=getattr(p, "serial_number", None),
            description=str(getattr(p, "description", "") or ""),
        )
        for p in listed
    ]
    return {info.key: info for info in infos}


def diff(
    before: dict[tuple[str, int | None, int | None, str | None], PortInfo],
    after: dict[tuple[str, int | None, int | None, str | None], PortInfo],
) -> tuple[list[PortInfo], list[PortInfo]]:
    """Adapters that appeared and disappeared between two snapshots (a swap shows as both)."""
    added = [after[k] for k in sorted(after.keys() - before.keys(), key=str)]
    removed = [before[k] for k in sorted(before.keys() - after.keys(), key=str)]
    return added, removed


def find(port: str | None, match: str | None, ports: dict[object, PortInfo] | None = None) -> str | None:
    """The path to open for a configured device, or None while it is not plugged in."""
    if port:
        return port if os.path.exists(port) else None
    if match:
        present = snapshot() if ports is None else ports
        for info in present.values():
            if info.matches(match):
                return info.device
    return None
