"""`clinic-agent doctor`: a technician's self-check of an installation, one line per check.

Nothing here needs a passphrase or changes anything: it reads the configuration, the files and
their modes, the database's own integrity check, the service's state (systemd's, else whether the
daemon answers), the daemon's status, the age of the oldest record not yet on the platform, the
platform link (one metadata request) and the PC clock against the platform's, whether a restore is
still waiting for the platform to anchor the restored audit log, the disk and the configured
devices, and says what is wrong and what to do about it.

Each check ends ``ok``, ``warning`` or ``FAIL``. A FAIL is something that stops the agent doing its
work (readings not stored, records not reaching the platform, a wrong clock), each with a one-line
fix; a warning is a state a working clinic can be in for a while (locked after a reboot, a device
unplugged, not enrolled yet) or something doctor could not check from this login.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clinic_agent.api.client import ApiClient
from clinic_agent.core.errors import ClinicAgentError
from clinic_agent.runtime.home import SYSTEM_DATA, Home
from clinic_agent.security.keys import KeyFile

OK, WARN, FAIL = "ok", "warning", "FAIL"
UNIT = "clinic-agent.service"
PLATFORM_TIMEOUT_S = 5.0  # the metadata request: a link that needs longer is reported as down
UNSENT_WARN_S = 86400.0  # a record on this PC only for a day: worth a look
UNSENT_FAIL_S = 7 * 86400.0  # for a week: the platform is missing the clinic's work


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
    from clinic_agent.runtime.devices import parse

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
    if home.root.stat().st_uid != os.geteuid() and os.geteuid() != 0:  # root reads the service user's files
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


def check_daemon(status: dict[str, Any]) -> Check:
    """Whether the daemon that answers is unlocked."""
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


def check_devices(home: Home) -> list[Check]:
    """Each configured device's port, listening address or Bluetooth address."""
    from clinic_agent.runtime.devices import parse

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


# -- the service, the records not yet sent, the platform and the clock ----------------------------------


def _call_daemon(home: Home, method: str) -> Any:
    """``method``'s answer from the running daemon; None when it does not answer."""
    try:
        socket = home.load_config().api.socket
        with ApiClient(socket, timeout=10) as client:
            return client.call(method)
    except ClinicAgentError:
        return None


def systemd_state(unit: str = UNIT) -> dict[str, str] | None:
    """The unit's LoadState, ActiveState, SubState, Result and ConditionResult; None without systemd."""
    systemctl = shutil.which("systemctl")
    if systemctl is None or not Path("/run/systemd/system").is_dir():
        return None
    try:
        shown = subprocess.run(  # noqa: S603  (systemctl found on PATH, a fixed unit name)
            [systemctl, "show", unit, "--property=LoadState,ActiveState,SubState,Result,ConditionResult"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if shown.returncode != 0:
        return None
    return parse_systemctl_show(shown.stdout)


def parse_systemctl_show(text: str) -> dict[str, str]:
    """``Key=value`` lines of ``systemctl show``, as a dict."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def check_service(home: Home, answers: bool, unit: dict[str, str] | None) -> Check:
    """The service's state as systemd sees it (when it runs here), else whether the daemon answers."""
    installed = home.root == SYSTEM_DATA
    if unit is None or unit.get("LoadState") == "not-found":
        if answers:
            return Check("service", OK, "the daemon answers on its socket (not run by systemd)")
        if unit is not None and installed:
            return Check(
                "service", FAIL, f"{UNIT} is not installed: install the clinic-agent package again (apt install ./...)"
            )
        if installed:
            return Check("service", FAIL, "the daemon does not answer: start it (systemctl start clinic-agent)")
        return Check("service", WARN, "the daemon does not answer: start it (clinic-agent run)")
    active = unit.get("ActiveState", "")
    if active == "active":
        return Check("service", OK, f"{UNIT} active ({unit.get('SubState', '')})")
    if active == "failed":
        return Check(
            "service",
            FAIL,
            f"{UNIT} failed ({unit.get('Result', '')}): `journalctl -u clinic-agent` says why; once fixed, "
            "`systemctl reset-failed clinic-agent` and `systemctl start clinic-agent`",
        )
    if active in ("activating", "reloading", "deactivating"):
        return Check("service", WARN, f"{UNIT} {active}: run doctor again in a minute")
    if unit.get("ConditionResult") == "no":
        return Check("service", FAIL, f"{UNIT} was skipped: there is no store yet (run `clinic-agent setup`)")
    if answers:
        return Check("service", WARN, f"{UNIT} is {active}, but a daemon started by hand answers")
    return Check("service", FAIL, f"{UNIT} is {active}: start it (systemctl start clinic-agent)")


def unsent_facts(conn: sqlite3.Connection) -> dict[str, Any]:
    """What is waiting for the platform, from the store's clear columns (no key needed)."""
    platform = conn.execute("SELECT value FROM meta WHERE key = 'sync.platform'").fetchone()
    oldest, pending = conn.execute("SELECT min(created_at), count(*) FROM outbox WHERE state = 'pending'").fetchone()
    parked = conn.execute("SELECT count(*) FROM outbox WHERE state = 'parked'").fetchone()[0]
    sealed = conn.execute("SELECT count(*) FROM sealed").fetchone()[0]
    return {
        "platform": platform[0] if platform else None,
        "oldest_unsent": oldest,
        "pending": int(pending),
        "parked": int(parked),
        "sealed": int(sealed),
        **restore_facts(conn),
    }


def restore_facts(conn: sqlite3.Connection) -> dict[str, Any]:
    """The last restore written into the audit log and how far the platform holds the log (clear columns)."""
    restore = conn.execute(
        "SELECT seq, at, object_id FROM audit WHERE action = 'store.restored' ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    anchored = conn.execute("SELECT value FROM meta WHERE key = 'sync.audit_anchor'").fetchone()
    return {
        "restored": {"entry": int(restore[0]), "at": str(restore[1]), "backup": str(restore[2])} if restore else None,
        "anchored_entry": int(str(anchored[0]).split(":", 1)[0]) if anchored else None,
    }


def check_restore(facts: dict[str, Any] | None) -> Check | None:
    """After a restore, whether the platform holds the restored audit log's head yet (docs/security.md, Restores).

    Until it does, the restored log's own end is guarded only by the anchor file beside it: entries
    cut from that end together with the anchor file would pass the next sync as the restore's known
    cut. None when there was no restore (or it cannot be told)."""
    restored = (facts or {}).get("restored")
    if facts is None or not restored:
        return None
    name = "restore"
    when = f"backup {restored['backup']} restored {restored['at'][:16].replace('T', ' ')}"
    if not facts["platform"]:
        return Check(
            name,
            WARN,
            f"{when}; not enrolled, so nothing outside this PC holds the audit log's head: the database and "
            "clinic.anchor rolled back together would go unseen (clinic-agent enroll, then sync)",
        )
    anchored = facts.get("anchored_entry")
    if anchored is None or anchored < restored["entry"]:
        return Check(
            name,
            WARN,
            f"{when}; the platform does not hold the restored audit log yet: until a sync anchors it, entries "
            "cut from its end together with clinic.anchor would pass as the restore's known cut "
            "(clinic-agent sync --once now)",
        )
    return Check(name, OK, f"{when}; the platform holds the restored audit log (to entry {anchored})")


def _unsent_from_files(home: Home) -> dict[str, Any] | None:
    """The same facts read from the database itself (no daemon running); None when it cannot be read."""
    try:
        if not home.db_path.exists():
            return None
        conn = sqlite3.connect(f"file:{home.db_path}?mode=ro", uri=True, timeout=10)
        try:
            return {"locked": False, **unsent_facts(conn)}
        finally:
            conn.close()
    except (sqlite3.Error, PermissionError):
        return None


def _ago(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{max(seconds, 0) / 60:.0f} minutes"


def check_unsent(facts: dict[str, Any] | None, now: datetime) -> Check:
    """How long the oldest record not yet on the platform has waited."""
    name = "unsent records"
    if facts is None:
        return Check(name, WARN, "cannot tell: the agent does not answer and this login may not read the database")
    if facts["locked"]:
        return Check(
            name, WARN, "cannot tell while locked: readings that came in since are sealed until `clinic-agent unlock`"
        )
    parked = f"; {facts['parked']} parked by the platform (clinic-agent parked list)" if facts["parked"] else ""
    sealed = f"; {facts['sealed']} readings sealed until an unlock" if facts["sealed"] else ""
    if not facts["platform"]:
        waiting = f"{facts['pending']} records" if facts["pending"] else "the records"
        return Check(name, WARN, f"not enrolled: {waiting} are only on this PC and its backups (clinic-agent enroll)")
    if not facts["oldest_unsent"]:
        return Check(name, WARN if parked or sealed else OK, f"nothing waiting for the platform{parked}{sealed}")
    oldest = datetime.fromisoformat(facts["oldest_unsent"])
    age = (now - oldest).total_seconds()
    detail = f"{facts['pending']} waiting, the oldest for {_ago(age)} (since {facts['oldest_unsent'][:16]}){parked}"
    if age > UNSENT_FAIL_S:
        return Check(name, FAIL, f"{detail}: see the platform check and `clinic-agent status` for why sync fails")
    if age > UNSENT_WARN_S or parked or sealed:
        return Check(name, WARN, f"{detail}{sealed}")
    return Check(name, OK, detail)


async def _probe(url: str) -> float | None:
    from sync.errors import PlatformRejected
    from sync.platform import FhirPlatform

    async with FhirPlatform(url, connect_timeout=PLATFORM_TIMEOUT_S, read_timeout=PLATFORM_TIMEOUT_S) as platform:
        try:
            await platform.capabilities()
        except PlatformRejected as exc:
            if exc.status not in (401, 403):  # it answered: the link is up, the metadata needs a sign-in
                raise
        return platform.clock_offset


def check_platform(url: str | None) -> tuple[Check | None, float | None]:
    """One metadata request to the enrolled platform; the link's state and the clock offset it showed."""
    from sync.errors import SyncError

    if not url:
        return None, None
    try:
        offset = asyncio.run(_probe(url))
    except SyncError as exc:
        return Check("platform", FAIL, f"{url} does not answer: {exc}"), None
    return Check("platform", OK, f"{url} answers"), offset


def check_clock(
    offset: float | None = None,
    allowed: float = 900.0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Check:
    """The PC clock: against the platform's when it answered (sync refuses to run beyond ``allowed``
    seconds apart), else at least the year (a flat CMOS battery puts every reading in the wrong year)."""
    year = now().year
    if offset is not None and abs(offset) > allowed:
        way = "ahead of" if offset > 0 else "behind"
        return Check(
            "clock",
            FAIL,
            f"the PC clock is {_ago(abs(offset))} {way} the platform's (sync allows {allowed:.0f} s): set the date "
            "and time (timedatectl set-time 'YYYY-MM-DD HH:MM:SS', or turn on NTP: timedatectl set-ntp true)",
        )
    if year < 2024:
        return Check("clock", FAIL, f"the PC clock says {year}: set the date (a flat CMOS battery?)")
    shown = now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    if offset is not None:
        return Check("clock", OK, f"{shown}, {abs(offset):.0f} s from the platform's")
    return Check("clock", OK, shown)


def run(home: Home) -> list[Check]:
    """Every check, in the order a technician would look."""
    checks = [check_config(home)]
    checks += file_checks(home) if _readable(home.root) else _file_checks_by_the_agent(home)
    status = _call_daemon(home, "status")
    checks.append(check_service(home, status is not None, systemd_state()))
    if status is not None:
        checks.append(check_daemon(status))
    facts = _call_daemon(home, "doctor.sync") if status is not None else _unsent_from_files(home)
    checks.append(check_unsent(facts, datetime.now(UTC)))
    try:
        allowed = home.load_config().sync.max_clock_skew_s
    except ClinicAgentError:
        allowed = 900.0
    restore = check_restore(facts)
    if restore is not None:
        checks.append(restore)
    link, offset = check_platform(facts["platform"] if facts else None)
    if link is not None:
        checks.append(link)
    checks += [_guarded("disk", home, lambda: check_disk(home)), check_clock(offset, allowed)]
    return checks + check_devices(home)
