"""agent.toml: read once at start, every key checked, errors that name the key.

Relative paths in the file are relative to the home directory holding it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from clinic_agent.core.errors import ConfigError
from clinic_agent.core.thresholds import Thresholds

# [api] and the reading of the file are clinic_agent.runtime.api_config's (a client needs no more); named here too.
from clinic_agent.runtime.api_config import CONFIG_LIMIT as CONFIG_LIMIT
from clinic_agent.runtime.api_config import ApiConfig as ApiConfig
from clinic_agent.runtime.api_config import api_section, bounded, parse
from clinic_agent.security.kdf import DEFAULT_PASSPHRASE_KDF, Argon2Parameters
from sync.settings import DEFAULT_NAMESPACE_BASE, SyncSettings


@dataclass(frozen=True, slots=True)
class Config:
    """The whole of agent.toml."""

    home: Path
    clinic_name: str = "Village clinic"
    clinic_code: str = ""
    kdf: Argon2Parameters = DEFAULT_PASSPHRASE_KDF
    api: ApiConfig = field(default_factory=lambda: ApiConfig(socket=Path("run/agent.sock")))
    log_level: str = "info"
    disk_low_mib: int = 500
    thresholds: Thresholds = field(default_factory=Thresholds)
    devices: tuple[dict[str, Any], ...] = ()
    sync: SyncSettings = field(default_factory=lambda: SyncSettings())
    namespace: str = DEFAULT_NAMESPACE_BASE  # [platform] namespace: the base of our own FHIR URLs
    # [platform] consultation: whom a doctor may ask for a consultation, (reference, name) each
    consultation_targets: tuple[tuple[str, str], ...] = ()
    backup_keep: int = 7  # daily backups kept in backups/ (0: none are taken)
    backup_interval_hours: int = 24
    raw: dict[str, Any] = field(default_factory=dict)


_SYNC_KEYS: dict[str, tuple[type, float, float]] = {
    "interval_s": (float, 1, 86400),
    "retry_min_s": (float, 0.01, 3600),
    "retry_max_s": (float, 0.01, 86400),
    "batch_size": (int, 1, 1000),
    "max_batch": (int, 1, 1000),
    "page_size": (int, 1, 1000),
    "attempts": (int, 1, 100),
    "connect_timeout_s": (float, 0.1, 600),
    "read_timeout_s": (float, 0.1, 3600),
    "max_clock_skew_s": (float, 1, 10**7),
    "wait_s": (float, 0, 3600),
}
_LEVELS = ("debug", "info", "warning", "error")


def load(home: Path, path: Path | None = None) -> Config:
    """Read and check agent.toml (a missing file means all defaults)."""
    path = path or home / "agent.toml"
    return _build(home, path, parse(path))


def _build(home: Path, path: Path, raw: dict[str, Any]) -> Config:
    store, alerts = raw.get("store", {}), raw.get("alerts", {})
    backups = raw.get("backup", {})
    kdf = Argon2Parameters(
        memory_kib=store.get("kdf_memory_mib", DEFAULT_PASSPHRASE_KDF.memory_kib // 1024) * 1024,
        iterations=store.get("kdf_iterations", DEFAULT_PASSPHRASE_KDF.iterations),
        lanes=store.get("kdf_lanes", DEFAULT_PASSPHRASE_KDF.lanes),
    )
    if not kdf.meets_floor():
        raise ConfigError(f"{path}: store.kdf_memory_mib must be at least 64 and store.kdf_iterations at least 3")
    if not 1 <= kdf.lanes <= 16:
        raise ConfigError(f"{path}: store.kdf_lanes must be between 1 and 16")
    api = api_section(home, path, raw.get("api", {}))
    level = raw.get("log", {}).get("level", "info")
    if level not in _LEVELS:
        raise ConfigError(f"{path}: log.level must be one of {', '.join(_LEVELS)}")
    devices = raw.get("devices", [])
    if not isinstance(devices, list) or not all(isinstance(d, dict) for d in devices):
        raise ConfigError(f"{path}: devices must be an array of tables ([[devices]])")
    return Config(
        home=home,
        clinic_name=raw.get("clinic", {}).get("name", "Village clinic"),
        clinic_code=raw.get("clinic", {}).get("code", ""),
        kdf=kdf,
        api=api,
        log_level=level,
        disk_low_mib=bounded(path, "store.disk_low_mib", store.get("disk_low_mib", 500), 0, 1 << 20),
        thresholds=Thresholds(**{k: Decimal(str(v)) for k, v in alerts.items()}),
        devices=tuple(devices),
        sync=sync_settings(raw.get("sync", {}), str(path)),
        namespace=namespace_base(raw.get("platform", {}).get("namespace", DEFAULT_NAMESPACE_BASE), str(path)),
        consultation_targets=consultation_targets(raw.get("platform", {}).get("consultation", []), str(path)),
        backup_keep=bounded(path, "backup.keep", backups.get("keep", 7), 0, 366),
        backup_interval_hours=bounded(path, "backup.interval_hours", backups.get("interval_hours", 24), 1, 24 * 31),
        raw=raw,
    )


_TARGET = re.compile(r"((?:Organization|HealthcareService|PractitionerRole)/[A-Za-z0-9\-.]{1,64})\s+(\S.{0,99})")


def consultation_targets(raw: list[Any], where: str = "agent.toml") -> tuple[tuple[str, str], ...]:
    """Check ``[platform] consultation``: "Type/id name" for each service a doctor may ask."""
    found = []
    for item in raw:
        match = _TARGET.fullmatch(item.strip()) if isinstance(item, str) else None
        if match is None:
            raise ConfigError(
                f"{where}: each platform.consultation entry is 'Organization/<id> name' (or HealthcareService/"
                f"PractitionerRole), not {str(item)[:60]!r}"
            )
        found.append((match.group(1), match.group(2).strip()))
    return tuple(found)


def sync_settings(raw: Any, where: str = "agent.toml") -> SyncSettings:
    """Check ``[sync]``; an error names the key."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: sync must be a table ([sync])")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "gzip":
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: sync.gzip must be true or false, not {value!r}")
            values[key] = value
            continue
        if key not in _SYNC_KEYS:
            known = ", ".join(sorted([*_SYNC_KEYS, "gzip"]))
            raise ConfigError(f"{where}: unknown key sync.{key} (known: {known})")
        kind, low, high = _SYNC_KEYS[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (kind is int and not isinstance(value, int))
        ):
            raise ConfigError(f"{where}: sync.{key} must be a {'whole number' if kind is int else 'number'}")
        if not low <= value <= high:
            raise ConfigError(f"{where}: sync.{key} must be between {low:g} and {high:g}, not {value}")
        values[key] = kind(value)
    result = SyncSettings(**values)
    if result.max_batch < result.batch_size:
        raise ConfigError(f"{where}: sync.max_batch must be at least sync.batch_size")
    return result


def namespace_base(value: str, where: str = "agent.toml") -> str:
    """Check ``[platform] namespace``: an https URL with a host, no trailing slash, query or fragment.

    It is the base of every extension, NamingSystem, CodeSystem and Questionnaire URL the agent
    sends (``sync.fhir.codes.Namespace``); an error names the key.
    """
    key = "platform.namespace"
    parts = urlsplit(value)
    if value != value.strip() or any(ch.isspace() for ch in value):
        raise ConfigError(f"{where}: {key} must be a URL without spaces, not {value!r}")
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(f"{where}: {key} must be an https URL, e.g. https://fhir.platform.example/clinic-agent")
    if value.endswith("/"):
        raise ConfigError(f"{where}: {key} must not end with a slash: {value!r}")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise ConfigError(f"{where}: {key} must have no query or fragment: {value!r}")
    return value


def default_text(*, socket: str = "run/agent.sock", group: str | None = None) -> str:
    """The commented default agent.toml, with the socket path and allowed group filled in."""
    group_line = f'group = "{group}"' if group else '# group = "clinic"'
    return DEFAULT_TEXT.replace('socket = "run/agent.sock"', f'socket = "{socket}"').replace(
        '# group = "clinic"', group_line
    )


DEFAULT_TEXT = """\
# Clinic Agent configuration. Every key is optional; the values shown are the defaults.

[clinic]
name = "Village clinic"
# code = ""                     # the clinic's code on the regional platform

[store]
# Argon2id cost for new passphrase slots (never below 64 MiB and 3 iterations)
kdf_memory_mib = 256
kdf_iterations = 4
kdf_lanes = 2
disk_low_mib = 500              # warn when the data disk has less free space than this

[api]
socket = "run/agent.sock"       # relative to this directory
# group = "clinic"              # members of this group may connect (besides the agent's own user)
session_idle_minutes = 10       # sign-ins expire after this much idle time (at most 15)

[log]
level = "info"

[platform]
# The base of the agent's own FHIR URLs (extensions, NamingSystems, CodeSystems, Questionnaires):
# an https URL without a trailing slash, chosen by the platform team before a clinic goes live.
# namespace = "https://namespace-not-set.invalid/clinic-agent"
# Whom a doctor may ask for a remote consultation: the platform's id of each service, and its name.
# consultation = ["Organization/1234 铜仁市人民医院 心内科", "HealthcareService/77 碧江区妇幼保健院 儿科"]

[backup]                        # the service's own backups, in backups/ beside the data (`clinic-agent backups`)
keep = 7                        # how many automatic backups to keep (0: take none)
interval_hours = 24

[alerts]                        # when a reading is urgent (2017 national specification)
systolic_urgent = 180
diastolic_urgent = 110
spo2_low = 90
glucose_high = 16.7
glucose_low = 3.9
temperature_high = 39
# follow-up control targets (H3/H4, D3/D4) and the D2 heart-rate limit; 2020/2025 guidelines differ
systolic_control = 140
diastolic_control = 90
glucose_control = 7.0
heart_rate_high = 100
"""
