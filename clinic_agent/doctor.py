"""`clinic-agent doctor`: a technician's self-check of an installation, one line per check.

Nothing here needs a passphrase or changes anything: it reads the configuration, the files and
their modes, the database's own integrity check, the daemon's status, the disk, the clock and the
configured devices, and says what is wrong and what to do about it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from clinic_agent.api.client import ApiClient
from clinic_agent.errors import ClinicAgentError
from clinic_agent.home import Home
from clinic_agent.keys import KeyFile

OK, WARN, FAIL = "ok", "warning", "FAIL"


@dataclass(frozen=True, slots=True)
class Check:
    """One finding."""

    name: str
    outcome: str
    detail: str


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def check_config(home: Home) -> Check:
    """agent.toml parses and every key of every section is valid, as `run` checks it."""
    from clinic_agent.devices import parse

    try:
        config = home.load_config()
        parse(config.devices, str(home.config_path))
    except ClinicAgentError as exc:
        return Check("configuration", FAIL, exc.message)
    return Check("configuration", OK, str(home.config_path))


def check_home(home: Home) -> Check:
    """The data directory exists, belongs to this user and is closed to others."""
    if not home.root.is_dir():
        return Check("data directory", FAIL, f"{home.root} does not exist: run `clinic-agent init`")
    if home.root.stat().st_uid != os.geteuid():
        return Check("data directory", WARN, f"{home.root} belongs to another user; run doctor as the agent's user")
    if _mode(home.root) & 0o077:
        return Check("data directory", FAIL, f"{home.root} is mode {_mode(home.root):o}; make it 700 (chmod 700)")
    return Check("data directory", OK, f"{home.root} (mode 700)")


def check_keys(home: Home) -> Check:
    """keys.json is there, private, and readable; a machine slot has its key file."""
    try:
        keyfile = KeyFile.load(home.keys_path)
    except ClinicAgentError as exc:
        return Check("key file", FAIL, exc.message)
    if _mode(home.keys_path) & 0o077:
        return Check("key file", FAIL, f"{home.keys_path} is mode {_mode(home.keys_path):o}; make it 600")
    slots = ", ".join(f"{s.type}:{s.name}" for s in keyfile.slots)
    if keyfile.has_machine_slot():
        machine = home.machine_key_path
        if not machine.exists():
            return Check("key file", FAIL, f"a machine slot exists but {machine} is missing: the service stays locked")
        if _mode(machine) & 0o077:
            return Check("key file", FAIL, f"{machine} is mode {_mode(machine):o}; make it 600")
    if not any(s.type == "recovery" for s in keyfile.slots):
        return Check("key file", WARN, f"no recovery slot ({slots}): a forgotten passphrase loses the data")
    return Check("key file", OK, f"slots: {slots}")


def check_database(home: Home) -> Check:
    """The database opens read-only and SQLite's integrity check passes."""
    if not home.db_path.exists():
        return Check("database", FAIL, f"{home.db_path} is missing; restore it from a backup")
    try:
        conn = sqlite3.connect(f"file:{home.db_path}?mode=ro", uri=True, timeout=10)
        try:
            verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
            journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return Check("database", FAIL, f"cannot read {home.db_path}: {exc}")
    if verdict != "ok":
        return Check("database", FAIL, f"integrity check: {verdict}; keep the file and restore a backup beside it")
    size = home.db_path.stat().st_size // 1024
    return Check("database", OK if journal == "wal" else WARN, f"integrity ok, journal {journal}, {size} KiB")


def check_daemon(home: Home) -> Check:
    """Whether the daemon answers, and whether it is unlocked."""
    try:
        socket = home.load_config().api.socket
        with ApiClient(socket, timeout=10) as client:
            status = client.call("status")
    except ClinicAgentError as exc:
        return Check("daemon", WARN, f"not reachable ({exc.message}); `systemctl start clinic-agent`")
    if status["locked"]:
        return Check("daemon", WARN, "running but LOCKED: readings are sealed until someone runs `clinic-agent unlock`")
    return Check("daemon", OK, f"running, unlocked, {status['residents']} residents, {status['readings']} readings")


def check_disk(home: Home) -> Check:
    """Free space on the data disk against the configured warning level."""
    free = shutil.disk_usage(home.root if home.root.exists() else home.root.parent).free // (1024 * 1024)
    try:
        low = home.load_config().disk_low_mib
    except ClinicAgentError:
        low = 500
    if free < low:
        return Check("disk", FAIL if free < low // 5 else WARN, f"{free} MiB free (warning below {low} MiB)")
    return Check("disk", OK, f"{free} MiB free")


def check_clock(now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Check:
    """A PC clock reset by a flat CMOS battery puts every reading in the wrong year."""
    year = now().year
    if year < 2024:
        return Check("clock", FAIL, f"the PC clock says {year}: set the date (a flat CMOS battery?)")
    return Check("clock", OK, now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))


def check_devices(home: Home) -> list[Check]:
    """Each configured device's port, listening address or Bluetooth address."""
    from clinic_agent.devices import parse

    try:
        configs = parse(home.load_config().devices, str(home.config_path))
    except ClinicAgentError as exc:
        return [Check("devices", FAIL, exc.message)]
    checks = []
    for config in configs:
        where = config.describe()
        if config.kind == "serial" and config.port and not Path(config.port).exists():
            checks.append(Check(f"device {config.name}", WARN, f"{where}: not plugged in"))
        else:
            checks.append(Check(f"device {config.name}", OK, where))
    return checks or [Check("devices", OK, "none configured (see `clinic-agent devices add`)")]


def _guarded(name: str, home: Home, check: Callable[[], Check]) -> Check:
    """A check that this login may not make says so, instead of failing."""
    try:
        return check()
    except PermissionError:
        return Check(name, WARN, f"this login may not read it ({home.root}); run `sudo clinic-agent doctor`")


def file_checks(home: Home) -> list[Check]:
    """The checks that read the data directory (the agent's own user, or root, may make them)."""
    return [
        _guarded("data directory", home, lambda: check_home(home)),
        _guarded("key file", home, lambda: check_keys(home)),
        _guarded("database", home, lambda: check_database(home)),
    ]


def _readable(root: Path) -> bool:
    try:
        return not root.exists() or os.access(root, os.R_OK | os.X_OK)
    except PermissionError:
        return False


def _file_checks_by_the_agent(home: Home) -> list[Check]:
    """A doctor's login may not read the data directory: the running agent checks its files for it."""
    try:
        socket = home.load_config().api.socket
        with ApiClient(socket, timeout=60) as client:
            rows = client.call("doctor.files")
    except ClinicAgentError as exc:
        return [
            Check(
                "data files",
                WARN,
                f"this login may not read {home.root} and the agent does not answer ({exc.message}): start it "
                "(systemctl start clinic-agent), or run `sudo clinic-agent doctor`",
            )
        ]
    return [Check(str(r["check"]), str(r["outcome"]), f"{r['detail']} (checked by the agent)") for r in rows]


def run(home: Home) -> list[Check]:
    """Every check, in the order a technician would look."""
    checks = [check_config(home)]
    checks += file_checks(home) if _readable(home.root) else _file_checks_by_the_agent(home)
    checks += [check_daemon(home), _guarded("disk", home, lambda: check_disk(home)), check_clock()]
    return checks + check_devices(home)
