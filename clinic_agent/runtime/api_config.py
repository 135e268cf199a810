"""agent.toml's ``[api]``: where the daemon listens, read without building the whole configuration.

`clinic-agent tui` and the other clients need only the socket; this module has what reading it takes
(the file read with its size bound, every section's keys checked, ``[api]`` built) and none of what the
rest of the file needs (thresholds, the KDF, sync settings). ``clinic_agent.runtime.config`` reads the
whole file with the same pieces.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clinic_agent.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """The local API socket."""

    socket: Path
    group: str | None = None
    session_idle_minutes: int = 10
    max_frame_bytes: int = 1024 * 1024


# Every section's keys and their types: a typo anywhere in the file is an error, whoever reads it.
SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "clinic": {"name": str, "code": str},
    "store": {"kdf_memory_mib": int, "kdf_iterations": int, "kdf_lanes": int, "disk_low_mib": int},
    "api": {"socket": str, "group": str, "session_idle_minutes": int, "max_frame_bytes": int},
    "log": {"level": str},
    "backup": {"keep": int, "interval_hours": int},
    "platform": {"namespace": str, "consultation": list},
    "alerts": {
        "systolic_urgent": (int, float),
        "diastolic_urgent": (int, float),
        "spo2_low": (int, float),
        "glucose_high": (int, float),
        "glucose_low": (int, float),
        "temperature_high": (int, float),
        "systolic_control": (int, float),
        "diastolic_control": (int, float),
        "glucose_control": (int, float),
        "heart_rate_high": (int, float),
    },
}
# Sections with rules of their own: [sync] (clinic_agent.runtime.config.sync_settings), [[devices]] in the
# device wiring (clinic_agent.runtime.devices.parse: it knows the drivers), which `run` and `doctor` both call.
DELEGATED = {"devices", "sync"}
CONFIG_LIMIT = 1024 * 1024  # agent.toml is a few KiB; a bigger file is the wrong one (or a device)


def load_api(home: Path, path: Path | None = None) -> ApiConfig:
    """Read agent.toml's ``[api]`` only (its keys checked, the rest left to ``load``): where the daemon listens."""
    path = path or home / "agent.toml"
    return api_section(home, path, parse(path).get("api", {}))


def parse(path: Path) -> dict[str, Any]:
    """The file at ``path`` as TOML (a missing file is empty), every section's keys checked."""
    try:
        raw = tomllib.loads(read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    check_keys(path, raw)
    return raw


def read_text(path: Path) -> str:
    """The file's text; empty when it is missing."""
    try:
        with path.open("rb") as file:
            data = file.read(CONFIG_LIMIT + 1)
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read: {exc}") from None
    if len(data) > CONFIG_LIMIT:
        raise ConfigError(f"{path} is larger than {CONFIG_LIMIT // (1024 * 1024)} MiB; is it the right file?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} cannot be read: {exc}") from None


def check_keys(path: Path, raw: dict[str, Any]) -> None:
    """Every section and key known, each of its type (the delegated sections are checked where they are read)."""
    for section, value in raw.items():
        if section in DELEGATED:
            continue
        if section not in SCHEMA:
            raise ConfigError(f"{path}: unknown section [{section}] (known: {', '.join(sorted(SCHEMA))})")
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: {section} must be a table")
        for key, item in value.items():
            expected = SCHEMA[section].get(key)
            if expected is None:
                raise ConfigError(f"{path}: unknown key {section}.{key}")
            if isinstance(item, bool) or not isinstance(item, expected):
                names = expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
                raise ConfigError(f"{path}: {section}.{key} must be a {names}, not {item!r}")


def api_section(home: Path, path: Path, api: dict[str, Any]) -> ApiConfig:
    """The ``[api]`` table (its keys' types already checked), its socket path made absolute."""
    idle = api.get("session_idle_minutes", 10)
    if not 1 <= idle <= 15:
        raise ConfigError(f"{path}: api.session_idle_minutes must be between 1 and 15 (automatic logoff)")
    return ApiConfig(
        socket=relative_to(home, api.get("socket", "run/agent.sock")),
        group=api.get("group"),
        session_idle_minutes=idle,
        max_frame_bytes=bounded(path, "api.max_frame_bytes", api.get("max_frame_bytes", 1 << 20), 1024, 16 << 20),
    )


def relative_to(home: Path, text: str) -> Path:
    """A path from the file: relative paths are relative to the home directory."""
    path = Path(text).expanduser()
    return path if path.is_absolute() else home / path


def bounded(path: Path, key: str, value: int, low: int, high: int) -> int:
    """``value``, or an error naming ``key`` when it is outside ``low``..``high``."""
    if not low <= value <= high:
        raise ConfigError(f"{path}: {key} must be between {low} and {high}, not {value}")
    return value
