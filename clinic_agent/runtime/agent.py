"""The running agent: one store, its keys, the name index, and the events it tells listeners.

Both the daemon and the CLI (when no daemon runs) drive the same Agent, so a command behaves the
same either way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clinic_agent.core.errors import ClinicAgentError, StoreLocked, WrongPassphrase
from clinic_agent.core.model import Resident, utcnow
from clinic_agent.core.search import NameIndex
from clinic_agent.runtime import home as home_module
from clinic_agent.runtime.config import Config
from clinic_agent.runtime.home import Home
from clinic_agent.runtime.status import disk_free_mib, store_status
from clinic_agent.runtime.workers import Workers
from clinic_agent.security.keys import KeyFile, Vault
from clinic_agent.store import Store, UnlockReport
from clinic_agent.store.core import Clock
from clinic_agent.store.search_index import SavedIndex

_LOGGER = logging.getLogger(__name__)
_INDEX_PAGE = 2000  # residents decrypted at a time while the name index catches up
_SAVE_AFTER = 500  # residents indexed since the index was last saved before it is saved again

_TRIM_AFTER_RESIDENTS = 5000  # an index this large leaves tens of MiB of freed buffers behind it

Publish = Callable[[str, dict[str, Any]], None]


def return_freed_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``), where there is one.

    Bringing up the name index decrypts and parses its saved copy (or reads every resident, whose
    keys wait in lists until the index sorts them into its columns): MiB that are freed at once but
    that the allocator would otherwise keep, in the arena of the thread that unlocked, for the life
    of the daemon (bench/bench_memory.py: the daemon's RSS)."""
    import ctypes  # only here: a command that never unlocks a large store does not load it

    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to ask
        return
    trim(0)


def _no_listener(event: str, data: dict[str, Any]) -> None:
    """Events go nowhere when nobody listens (the CLI without a daemon)."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: a signed-in user, or the holder of a passphrase (the owner)."""

    actor: str
    role: str | None = None  # doctor | nurse | technician; None for the owner
    owner: bool = False
    peer: str = ""
    session: str | None = None


class Agent:
    """The store of this clinic with what runs beside it."""

    def __init__(
        self,
        home: Home,
        config: Config,
        store: Store,
        keyfile: KeyFile,
        *,
        clock: Clock = utcnow,
        publish: Publish = _no_listener,
    ) -> None:
        self.home = home
        self.config = config
        self.store = store
        self.keyfile = keyfile
        self.clock = clock
        self.publish = publish
        self.index = NameIndex()
        self.started_at = time.monotonic()
        self.vault: Vault | None = None
        self._index_lock = threading.Lock()
        self._unsaved = 0  # residents put into the index since it was last saved or loaded
        self.index_restored = False  # whether the last unlock took the index from its saved copy
        self.workers = Workers()
        # Services running beside the store add what status should show (devices, sync, ...),
        # and register themselves by name for the operations that drive them.
        self.status_providers: dict[str, Callable[[], Any]] = {}
        self.services: dict[str, Any] = {}

    @classmethod
    def open(cls, home: Home, *, clock: Clock = utcnow, publish: Publish = _no_listener) -> Agent:
        """Open the store in ``home`` (locked)."""
        config = home.load_config()
        store, keyfile = home_module.open_locked(home, clock=clock)
        return cls(home, config, store, keyfile, clock=clock, publish=publish)

    # -- keys ------------------------------------------------------------------------------------

    @property
    def locked(self) -> bool:
        """True while no key is loaded."""
        return self.store.locked

    def unlock(
        self,
        *,
        actor: str,
        passphrase: str | None = None,
        recovery_code: str | None = None,
        user: str | None = None,
    ) -> UnlockReport:
        """Open a key slot and load the keys; a wrong passphrase is audited and slows the next try."""
        guessed = passphrase is not None or recovery_code is not None
        if guessed:
            self.store.guard.before_passphrase()
        try:
            vault = home_module.open_vault(
                self.home, self.keyfile, passphrase=passphrase, recovery_code=recovery_code, user=user
            )
        except WrongPassphrase:
            if guessed:
                self.store.guard.passphrase_failed(actor, "unlock_failed", f"user {user}" if user else "")
            raise
        report = self.load(vault, actor=actor)
        if guessed:
            self.store.guard.passphrase_right()
        return report

    def load(self, vault: Vault, *, actor: str) -> UnlockReport:
        """Use an opened vault: unlock the store and build the name index."""
        self.vault = vault
        report = self.store.unlock(vault.keyring, actor=f"{actor} ({vault.opened_by})")
        self.open_index()
        self.publish("store.unlocked", {"sealed_opened": report.sealed_opened})
        return report

    def verify_passphrase(self, passphrase: str, user: str | None, *, actor: str) -> str:
        """Check a passphrase against the key slots (guessing limited, audited); returns the slot user."""
        return self.open_with_passphrase(passphrase, user, actor=actor).opened_by.removeprefix("passphrase:")

    def open_with_passphrase(self, passphrase: str, user: str | None, *, actor: str) -> Vault:
        """Open the key file with a passphrase without loading it: guessing limited, failures audited."""
        self.store.guard.before_passphrase()
        try:
            vault = self.keyfile.open_with_passphrase(passphrase, user)
        except WrongPassphrase:
            self.store.guard.passphrase_failed(actor, "auth_failed", "passphrase")
            raise
        self.store.guard.passphrase_right()
        return vault

    def lock(self, *, actor: str) -> None:
        """Forget the keys and every decrypted name."""
        self._save_index_if_behind()
        self.store.lock(actor=actor)
        self.vault = None
        self.index.clear()
        self.publish("store.locked", {})

    def require_unlocked(self) -> None:
        """Raise StoreLocked unless the keys are loaded."""
        if self.store.locked:
            raise StoreLocked("the agent is locked: unlock it first (`clinic-agent unlock`)")

    # -- the name index -------------------------------------------------------------------------------

    def open_index(self) -> None:
        """Bring up the name index at unlock: the saved copy and the residents written since, else every
        resident, a page at a time. Saved again when that took many residents (store/search_index.py)."""
        try:
            saved = self.store.search_index.load()
        except ClinicAgentError as exc:  # a copy, never the record: the rows say the same
            saved = SavedIndex(None, str(exc))
        if saved.problem:
            _LOGGER.warning("the saved name index is not used (%s): it is built from the residents", saved.problem)
        with self._index_lock:
            self.index.clear()
            self._unsaved = 0
            self.index_restored = False
            if saved.data is not None:
                try:
                    self.index.restore(saved.data)
                    self.index_restored = True
                except ValueError as exc:
                    _LOGGER.warning("the saved name index is not used (%s): it is built from the residents", exc)
            del saved  # its bytes go before freed memory is handed back (a copy held then stays in the heap)
            self._catch_up()
            self.index.build()  # the first keypress finds it ready
        if not self.index_restored or self._unsaved >= _SAVE_AFTER:
            self._save_index()
        if len(self.index) >= _TRIM_AFTER_RESIDENTS:
            return_freed_memory()

    def refresh_index(self) -> None:
        """Bring the name index up to date with every resident written since it was last read."""
        with self._index_lock:
            self._catch_up()

    def _catch_up(self) -> None:
        """Read the residents written after the index's change number, a page at a time, until none is left.

        Numbers are given under the write lock in commit order, so every resident committed before
        the last, empty page was read is at or below the last number seen."""
        while True:
            page = self.store.residents.index_page(self.index.change_seq, _INDEX_PAGE)
            if page.last_seq is None:
                return
            self.index.put_many(page.rows)
            self._unsaved += len(page.rows)
            for problem in page.problems:
                _LOGGER.warning("resident row skipped in the search index: %s", problem)
            self.index.change_seq = page.last_seq

    def _save_index_if_behind(self) -> None:
        if not self.store.locked and self._unsaved >= _SAVE_AFTER:
            self._save_index()

    def _save_index(self) -> None:
        """Keep the name index, encrypted, for the next unlock; a failure costs only a slower unlock."""
        with self._index_lock:
            data = self.index.snapshot()
            self._unsaved = 0
        try:
            self.store.search_index.save(data)
        except ClinicAgentError as exc:
            _LOGGER.warning("the name index was not saved (%s): the next unlock reads every resident", exc)

    def indexed(self, resident: Resident) -> Resident:
        """Put a resident just written into the index at once."""
        self.index.upsert(resident)
        self._unsaved += 1
        return resident

    # -- status -------------------------------------------------------------------------------------

    def disk_free_mib(self) -> int:
        """Free space on the data disk."""
        return disk_free_mib(self.home.root)

    def status(self) -> dict[str, Any]:
        """Everything a technician or the TUI's status line wants to know (no personal data)."""
        found = store_status(
            self.home,
            self.config,
            store_id=self.store.store_id,
            locked=self.store.locked,
            counted=self.store.counts(),
            slots=self.keyfile.slots,
            data_keys=sorted(self.store.keyring.data_keys) if self.store.keyring else None,
        )
        return found | {name: provide() for name, provide in self.status_providers.items()}

    def close(self) -> None:
        """Close the store and stop the worker threads (without waiting for a stuck one)."""
        self._save_index_if_behind()
        self.index.clear()
        self.workers.shutdown()
        self.store.close()
