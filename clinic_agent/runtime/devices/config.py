"""Configured devices: `[[devices]]` in agent.toml, their links, and the daemon service running them.

    [[devices]]
    name = "health-machine"       # stable id, shown in the UI and the audit log
    kind = "tcp"                  # serial | tcp | ble
    protocol = "hl7"              # astm | hl7 | cms50 | cms50-old | ble
    listen = "127.0.0.1:2575"     # tcp: where HL7/ASTM senders connect   (or connect = "host:port")
    # port = "/dev/serial/by-id/usb-..." or match = "10c4:ea60[:SERIAL]"    (serial)
    # address = "F1:F1:F1:F1:F1:F1"                                         (ble)
    profile = "default"           # plausibility ranges (drivers/profiles.py)
    users = { 1 = "11010519491231002X" }   # device user slot -> resident ID number

Each device runs as one supervised link; a link that fails is restarted with backoff, and its
state (connected, waiting, disconnected...) is shown by `status` and pushed to the TUI.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clinic_agent.core.errors import ConfigError, InvalidInput
from clinic_agent.core.fsutil import atomic_write
from clinic_agent.runtime.ingest import DeviceSettings
from drivers.frames import DeviceRef
from drivers.profiles import PROFILES
from drivers.serial.port import SerialSettings

KINDS = ("serial", "tcp", "ble")
PROTOCOLS = ("astm", "hl7", "cms50", "cms50-old", "ble")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
_KEYS = {
    "name",
    "kind",
    "protocol",
    "profile",
    "port",
    "match",
    "baud",
    "parity",
    "bytesize",
    "stopbits",
    "xonxoff",
    "listen",
    "connect",
    "address",
    "transport",
    "raw",
    "users",
    "model",
}
# Line settings per protocol, as the manuals give them; any can be overridden in agent.toml.
_SERIAL_DEFAULTS = {
    "astm": SerialSettings(baudrate=9600),
    "hl7": SerialSettings(baudrate=9600),
    "cms50": SerialSettings(baudrate=115200),
    "cms50-old": SerialSettings(baudrate=19200, parity="odd", xonxoff=True),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceConfig:
    """One `[[devices]]` entry, checked."""

    name: str
    kind: str
    protocol: str
    profile: str = "default"
    port: str | None = None
    match: str | None = None
    serial: SerialSettings = field(default_factory=SerialSettings)
    listen: tuple[str, int] | None = None
    connect: tuple[str, int] | None = None
    address: str | None = None
    transport: str | None = None
    raw: bool = False
    users: Mapping[int, str] = field(default_factory=dict)
    model: str = ""
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> DeviceRef:
        """What a link tells the sink about this device."""
        return DeviceRef(
            id=self.name,
            protocol=self.protocol,
            profile=self.profile,
            model=self.model,
            address=self.address or self.port or self.match or "",
        )

    @property
    def settings(self) -> DeviceSettings:
        """What the ingest path needs."""
        return DeviceSettings(profile=self.profile, users=dict(self.users), model=self.model)

    def describe(self) -> str:
        """Where the device is reached, in a few words."""
        if self.kind == "serial":
            return f"serial {self.port or self.match} @ {self.serial.baudrate}"
        if self.kind == "tcp":
            host, port = self.listen or self.connect or ("?", 0)
            return f"tcp {'listening on' if self.listen else 'connecting to'} {host}:{port}"
        return f"ble {self.address or '(any device advertising a health service)'}"


def parse(entries: tuple[dict[str, Any], ...] | list[dict[str, Any]], where: str = "agent.toml") -> list[DeviceConfig]:
    """Check every `[[devices]]` entry; errors name the device and the key."""
    devices = [_parse_one(entry, index, where) for index, entry in enumerate(entries, start=1)]
    names = [d.name for d in devices]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise ConfigError(f"{where}: two devices are named {duplicate!r}")
    listening = [d.listen for d in devices if d.listen]
    if len(listening) != len(set(listening)):
        raise ConfigError(f"{where}: two devices listen on the same address and port")
    return devices


def _parse_one(raw: dict[str, Any], index: int, where: str) -> DeviceConfig:
    name = raw.get("name")
    label = f"{where}: device {name!r}" if isinstance(name, str) else f"{where}: device #{index}"
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"{label}: name must be 1-40 letters, digits, '.', '_' or '-'")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(f"{label}: unknown key {unknown[0]!r}")
    kind, protocol = _choice(raw, "kind", KINDS, label), _choice(raw, "protocol", PROTOCOLS, label)
    profile = _text(raw, "profile", label) or "default"
    if profile not in PROFILES:
        raise ConfigError(f"{label}: profile must be one of {', '.join(sorted(PROFILES))}")
    if (kind == "ble") != (protocol == "ble"):
        raise ConfigError(f"{label}: protocol 'ble' goes with kind 'ble', and only with it")
    common: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "protocol": protocol,
        "profile": profile,
        "source": dict(raw),
        "model": _text(raw, "model", label) or "",
        "users": _users(raw, label),
        "raw": _flag(raw, "raw", label),
    }
    if kind == "serial":
        return DeviceConfig(**common, **_serial(raw, protocol, label))
    if kind == "tcp":
        return DeviceConfig(**common, **_tcp(raw, protocol, label))
    return DeviceConfig(**common, address=_text(raw, "address", label), transport=_text(raw, "transport", label))


def _serial(raw: dict[str, Any], protocol: str, label: str) -> dict[str, Any]:
    port, match = _text(raw, "port", label), _text(raw, "match", label)
    if bool(port) == bool(match):
        raise ConfigError(f"{label}: a serial device needs exactly one of port (a path) or match ('VID:PID[:SERIAL]')")
    if match and not re.fullmatch(r"[0-9a-fA-F]{4}:[0-9a-fA-F]{4}(:[^:\s]+)?", match):
        raise ConfigError(f"{label}: match must look like 10c4:ea60 or 10c4:ea60:SERIAL")
    if protocol == "ble":
        raise ConfigError(f"{label}: protocol 'ble' is not spoken over a serial port")
    base = _SERIAL_DEFAULTS[protocol]
    baud = _integer(raw, "baud", label, base.baudrate, (300, 4_000_000))
    parity = _choice(raw, "parity", ("none", "odd", "even"), label, base.parity)
    bytesize = _integer(raw, "bytesize", label, base.bytesize, (5, 8))
    stopbits = _integer(raw, "stopbits", label, base.stopbits, (1, 2))
    xonxoff = _flag(raw, "xonxoff", label, base.xonxoff)
    settings = SerialSettings(baudrate=baud, bytesize=bytesize, parity=parity, stopbits=stopbits, xonxoff=xonxoff)
    return {"port": port, "match": match, "serial": settings}


def _tcp(raw: dict[str, Any], protocol: str, label: str) -> dict[str, Any]:
    listen, connect = _text(raw, "listen", label), _text(raw, "connect", label)
    if bool(listen) == bool(connect):
        raise ConfigError(f"{label}: a tcp device needs exactly one of listen ('127.0.0.1:2575') or connect")
    if protocol not in ("hl7", "astm"):
        raise ConfigError(f"{label}: over tcp, protocol must be hl7 or astm")
    if listen:
        return {"listen": _address(listen, "listen", label)}
    return {"connect": _address(connect or "", "connect", label)}


def _address(text: str, key: str, label: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{label}: {key} must be HOST:PORT, e.g. 127.0.0.1:2575")
    return host.strip("[]"), int(port)


def _text(raw: dict[str, Any], key: str, label: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or any(not ch.isprintable() for ch in value):
        raise ConfigError(f"{label}: {key} must be text")
    return value.strip() or None


def _choice(raw: dict[str, Any], key: str, allowed: tuple[str, ...], label: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if value not in allowed:
        raise ConfigError(f"{label}: {key} must be one of {', '.join(allowed)}")
    return str(value)


def _integer(raw: dict[str, Any], key: str, label: str, default: int, bounds: tuple[int, int]) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not bounds[0] <= value <= bounds[1]:
        raise ConfigError(f"{label}: {key} must be a whole number from {bounds[0]} to {bounds[1]}")
    return value


def _flag(raw: dict[str, Any], key: str, label: str, default: bool = False) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{label}: {key} must be true or false")
    return value


def _users(raw: dict[str, Any], label: str) -> dict[int, str]:
    users = raw.get("users", {})
    if not isinstance(users, dict):
        raise ConfigError(f'{label}: users must be a table of slot = "ID number"')
    try:
        return {int(slot): str(number) for slot, number in users.items()}
    except ValueError:
        raise ConfigError(f"{label}: users keys must be device user slot numbers") from None


# -- editing agent.toml --------------------------------------------------------------------------------

_HEADER = re.compile(r"^\s*\[")


def _blocks(text: str) -> list[tuple[str, list[str]]]:
    """The file as (header, lines) blocks; the first block has header ''."""
    blocks: list[tuple[str, list[str]]] = [("", [])]
    for line in text.splitlines(keepends=True):
        if _HEADER.match(line):
            blocks.append((line.strip(), [line]))
        else:
            blocks[-1][1].append(line)
    return blocks


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))  # a JSON string with ASCII escapes is a valid TOML basic string


def add_device(path: Path, entry: dict[str, Any]) -> DeviceConfig:
    """Append a `[[devices]]` table to agent.toml, keeping everything else as it was."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    current = tomllib.loads(text).get("devices", [])
    config = parse([*current, entry], str(path))[-1]
    block = "\n[[devices]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in entry.items() if v is not None)
    _write_checked(path, text.rstrip("\n") + "\n" + block)
    return config


def remove_device(path: Path, name: str) -> None:
    """Remove the `[[devices]]` table with this name from agent.toml."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    kept, found = [], False
    for header, lines in _blocks(text):
        if header == "[[devices]]" and tomllib.loads("".join(lines[1:])).get("name") == name:
            found = True
            continue
        kept.append("".join(lines))
    if not found:
        raise InvalidInput(f"no device named {name!r} in {path}")
    _write_checked(path, "".join(kept))


def _write_checked(path: Path, text: str) -> None:
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # pragma: no cover - our own output
        raise ConfigError(f"{path}: the edited file would not be valid TOML ({exc}); nothing was written") from None
    parse(parsed.get("devices", []), str(path))
    old = path.stat() if path.exists() else None
    # root (sudo) editing the package's agent.toml keeps it root:clinic 0640: the service reads it as clinic
    owner = (old.st_uid, old.st_gid) if old is not None and os.geteuid() == 0 else None
    atomic_write(path, text.encode("utf-8"), mode=old.st_mode & 0o777 if old else 0o640, owner=owner)
