"""The agent's home directory: where things live, creating a store, opening and unlocking it.

    HOME/agent.toml    configuration            HOME/keys.json    key slots and keyring
    HOME/clinic.db     the encrypted store      HOME/machine.key  optional, unattended unlock
    HOME/run/          the local API socket     HOME/logs/        logs (no personal data)

``--home`` or ``CLINIC_AGENT_HOME`` choose it; otherwise a system install (``/etc/clinic-agent/
agent.toml`` present) uses /var/lib/clinic-agent, and a user install ``~/.local/share/clinic-agent``.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from clinic_agent.core.errors import AccessDenied, InvalidInput, StoreMissing
from clinic_agent.core.fsutil import atomic_write, ensure_private_directory
from clinic_agent.runtime import api_config

# The store and the keys are imported where a store is created or opened: finding the home and its
# configuration is all `clinic-agent status` needs when a daemon runs (tests/unit/clinic_agent/test_cli_imports.py).
if TYPE_CHECKING:
    from clinic_agent.runtime.api_config import ApiConfig
    from clinic_agent.runtime.config import Config
    from clinic_agent.security.crypto import Argon2Parameters
    from clinic_agent.security.keys import KeyFile, Vault
    from clinic_agent.store import Store
    from clinic_agent.store.core import Clock

SYSTEM_CONFIG = Path("/etc/clinic-agent/agent.toml")
SYSTEM_DATA = Path("/var/lib/clinic-agent")


@dataclass(frozen=True, slots=True)
class Home:
    """Paths of one agent installation."""

    root: Path
    config_path: Path

    @property
    def keys_path(self) -> Path:
        """keys.json."""
        return self.root / "keys.json"

    @property
    def db_path(self) -> Path:
        """The SQLite database."""
        return self.root / "clinic.db"

    @property
    def machine_key_path(self) -> Path:
        """The machine key file (systemd's credentials directory when run as a service)."""
        credentials = os.environ.get("CREDENTIALS_DIRECTORY")
        if credentials and (Path(credentials) / "machine.key").exists():
            return Path(credentials) / "machine.key"
        return self.root / "machine.key"

    @property
    def log_dir(self) -> Path:
        """Where the daemon writes its log file."""
        return self.root / "logs"

    def exists(self) -> bool:
        """Whether a store has been created here."""
        try:
            return self.keys_path.exists() or self.db_path.exists()
        except PermissionError:
            raise no_access(self.root) from None

    def load_config(self) -> Config:
        """agent.toml, checked."""
        from clinic_agent.runtime import config  # the whole file's rules: not for a client's [api] alone

        return config.load(self.root, self.config_path)

    def load_api_config(self) -> ApiConfig:
        """agent.toml's ``[api]`` alone: where to find the daemon, without building the whole configuration."""
        return api_config.load_api(self.root, self.config_path)


def resolve(explicit: str | Path | None = None) -> Home:
    """The home chosen by --home, CLINIC_AGENT_HOME, a system install, or the user's data directory."""
    chosen = explicit or os.environ.get("CLINIC_AGENT_HOME")
    if chosen:
        root = Path(chosen).expanduser().absolute()
        return Home(root, root / "agent.toml")
    try:
        installed = SYSTEM_CONFIG.exists()
    except PermissionError:
        raise AccessDenied(
            f"Clinic Agent is installed on this PC, but this login may not use it ({SYSTEM_CONFIG.parent} is "
            "closed to it): ask the technician to add it to the group (usermod -aG clinic NAME), then log in again"
        ) from None
    if installed:
        return Home(SYSTEM_DATA, SYSTEM_CONFIG)
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    root = data / "clinic-agent"
    return Home(root, root / "agent.toml")


@dataclass(frozen=True, slots=True)
class InitResult:
    """What `init` made."""

    store_id: str
    recovery_code: str
    user: str
    machine_key: Path | None


def initialise(
    home: Home,
    *,
    passphrase: str,
    user: str,
    machine_key: bool = False,
    kdf: Argon2Parameters | None = None,
    clock: Clock | None = None,
) -> InitResult:
    """Create a new store; refuse if any part of one is already here (nothing is overwritten)."""
    import uuid  # with init only: uuid loads platform, which status has no use for

    from clinic_agent.runtime import config as config_module
    from clinic_agent.runtime import crashpoints
    from clinic_agent.security.keys import KeyFile, new_machine_key
    from clinic_agent.store import Store

    clock = clock or _utcnow()
    if home.exists():
        set_aside_unfinished_init(home)
    ensure_private_directory(home.root)
    if not home.config_path.exists() and home.config_path.parent == home.root:
        atomic_write(home.config_path, config_module.DEFAULT_TEXT.encode(), mode=0o640)
    config = home.load_config()
    keyfile, vault_key, keyring = KeyFile.create(home.keys_path, str(uuid.uuid4()))
    keyfile.add_passphrase_slot(vault_key, user, passphrase, kdf or config.kdf)
    recovery = keyfile.add_recovery_slot(vault_key)
    machine_path = None
    if machine_key:
        key = new_machine_key()
        machine_path = home.root / "machine.key"
        atomic_write(machine_path, key, mode=0o600)
        keyfile.add_machine_slot(vault_key, key)
    store = Store.create(home.db_path, keyfile, clock=clock)
    try:
        crashpoints.reached("init.database_created")
        keyfile.save()  # last: a store is only complete once its key file is durable
        store.unlock(keyring, actor=f"cli:{user}")
        store.audit.record(
            f"cli:{user}",
            "init",
            "store",
            keyfile.store_id,
            f"slots: passphrase {user}, recovery" + (", machine" if machine_key else ""),
        )
    finally:
        store.close()
    return InitResult(keyfile.store_id, recovery, user, machine_path)


def _utcnow() -> Clock:
    from clinic_agent.core.model import utcnow  # the model is loaded with the store, not to find the home

    return utcnow


def no_access(root: Path) -> AccessDenied:
    """The error for a user who may not read the agent's data directory."""
    return AccessDenied(
        f"no permission to read the agent's data in {root}: start the service (systemctl start clinic-agent) "
        "so commands go through it, or run this as the agent's user (sudo -u clinic-agent ...)"
    )


_DATA_TABLES = ("residents", "entries", "readings", "frames", "quarantine", "sealed", "audit", "users")


def set_aside_unfinished_init(home: Home) -> None:
    """Make way for init, or refuse.

    An init that died before its key file was saved leaves a database holding nothing: it is set
    aside (renamed, never deleted) so init can start again. Anything else here is a real store.
    """
    if home.keys_path.exists() or not home.db_path.exists():
        if home.db_path.exists():
            raise InvalidInput(f"a store already exists in {home.root}; nothing was changed")
        raise InvalidInput(
            f"{home.keys_path} is here without a database. If an earlier init was interrupted, move keys.json "
            "away (it protects no data yet); if the database was lost, restore clinic.db from a backup instead"
        )
    import sqlite3  # init's way only: every command resolves its home, few open a database here

    try:
        with contextlib.closing(sqlite3.connect(f"file:{home.db_path}?mode=ro", uri=True)) as conn:
            held = sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in _DATA_TABLES)
    except sqlite3.Error:
        held = -1
    if held != 0:
        raise StoreMissing(
            f"{home.db_path} holds data but its key file {home.keys_path} is missing; nothing was changed. "
            "Put back a copy of keys.json (from a backup); without it the data cannot be opened"
        )
    stamp = _utcnow()().strftime("%Y%m%dT%H%M%S")
    for suffix in ("", "-wal", "-shm"):
        old = Path(str(home.db_path) + suffix)
        if old.exists():
            old.rename(old.with_name(f"{old.name}.unfinished-{stamp}"))


def open_locked(home: Home, *, clock: Clock | None = None, synchronous: str = "FULL") -> tuple[Store, KeyFile]:
    """Open the store without keys; refuse if its database or key file is missing."""
    try:
        return _open_locked(home, clock or _utcnow(), synchronous)
    except PermissionError:
        raise no_access(home.root) from None


def _open_locked(home: Home, clock: Clock, synchronous: str) -> tuple[Store, KeyFile]:
    from clinic_agent.security.keys import KeyFile
    from clinic_agent.store import Store

    require_database(home)
    keyfile = KeyFile.load(home.keys_path)
    return Store.open(home.db_path, keyfile, clock=clock, synchronous=synchronous), keyfile


def require_database(home: Home) -> None:
    """Refuse a home without its database, naming what is there (a PermissionError is the caller's)."""
    if not home.db_path.exists():
        if home.keys_path.exists():
            raise StoreMissing(
                f"{home.keys_path} is here but the database {home.db_path} is missing; nothing was created. "
                "Restore clinic.db from a backup."
            )
        raise StoreMissing(f"no store in {home.root}; run `clinic-agent init` first")


def open_vault(
    home: Home,
    keyfile: KeyFile,
    *,
    passphrase: str | None = None,
    recovery_code: str | None = None,
    user: str | None = None,
) -> Vault:
    """Open the home's key file (``KeyFile.open``), its machine key file at its place in the home."""
    return keyfile.open(home.machine_key_path, passphrase=passphrase, recovery_code=recovery_code, user=user)
