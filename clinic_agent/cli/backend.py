"""How a CLI command reaches the store: through the running daemon, or in-process when none runs."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from clinic_agent.api import registry
from clinic_agent.core.errors import DaemonNotRunning, InvalidInput, SessionExpired, StoreLocked

if TYPE_CHECKING:
    from pathlib import Path

    from clinic_agent.api.client import ApiClient
    from clinic_agent.runtime.agent import Caller
    from clinic_agent.runtime.home import Home

PassphraseSource = Callable[[], "str | None"]


def os_user() -> str:
    """The operating-system user running the command (for the audit log)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def passphrase_needed(what: str = "a passphrase") -> InvalidInput:
    """The error for a command given no passphrase at all: missing input, exit status 2 (a wrong one is 1)."""
    return InvalidInput(f"{what} is needed: give --passphrase-file, set CLINIC_AGENT_PASSPHRASE, or run on a terminal")


class Backend(Protocol):
    """Runs named API methods."""

    daemon: bool

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Run one method."""

    def close(self) -> None:
        """Release what the backend holds."""


class DaemonBackend:
    """Methods run by the daemon; the caller proves itself with a passphrase once per command."""

    daemon = True

    def __init__(self, client: ApiClient, passphrase: PassphraseSource, user: str | None) -> None:
        self._client = client
        self._passphrase = passphrase
        self._given: str | None = None
        self._user = user

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Sign in with the passphrase if the method needs it, then call it.

        As in-process: a method that needs the keys unlocks a locked daemon with the passphrase given
        (as `clinic-agent unlock` would), and `lock` from a login other than the agent's own signs in.
        """
        if registry.needs_session(method) and self._client.session is None:
            self._sign_in()
        try:
            return self._client.call(method, params)
        except StoreLocked:
            entry = registry.operation(method)
            if entry is None or not entry.needs_keys:
                raise
            self._unlock()
        except SessionExpired:
            if method != "lock" or self._client.session is not None:
                raise
            self._sign_in()
        return self._client.call(method, params)

    def _given_passphrase(self) -> str:
        if self._given is None:
            self._given = self._passphrase()  # asked once per command, however often it is needed
        if self._given is None:
            raise passphrase_needed()
        return self._given

    def _sign_in(self) -> None:
        reply = self._client.call(
            "auth.passphrase", {"passphrase": self._given_passphrase(), "user": self._user, "os_user": os_user()}
        )
        self._client.session = reply["session"]

    def _unlock(self) -> None:
        params = {"passphrase": self._given_passphrase(), "user": self._user, "os_user": os_user()}
        self._client.call("unlock", params)

    def close(self) -> None:
        """Close the connection."""
        self._client.close()


class LocalBackend:
    """Methods run in this process on the store, which is unlocked only if the method needs it."""

    daemon = False

    def __init__(self, home: Home, passphrase: PassphraseSource, user: str | None) -> None:
        from clinic_agent.runtime.agent import Agent  # only a command run without a daemon opens the store

        self._passphrase = passphrase
        self._user = user
        self.agent = Agent.open(home)
        self._caller: Caller | None = None

    def unlock(self, *, recovery_code: str | None = None) -> dict[str, Any]:
        """Open a key slot: the recovery code, a passphrase, or (with neither) the machine key."""
        actor = f"cli:{self._user or os_user()}"
        passphrase = None if recovery_code else self._passphrase()
        if recovery_code is None and passphrase is None and not self.agent.keyfile.has_machine_slot():
            raise passphrase_needed()
        report = self.agent.unlock(actor=actor, passphrase=passphrase, recovery_code=recovery_code, user=self._user)
        slot = self.agent.vault.opened_by if self.agent.vault else "?"
        self._caller = _caller(f"cli:{slot}")
        return {
            "unlocked": True,
            "slot": slot,
            "sealed_opened": report.sealed_opened,
            "sealed_failed": report.sealed_failed,
        }

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Unlock if needed, then run the method."""
        entry = registry.operation(method)
        if entry is not None and entry.needs_keys and self.agent.locked:
            self.unlock()
        caller = self._caller or _caller(f"cli:{os_user()}")
        return registry.call(self.agent, caller, method, params)

    def close(self) -> None:
        """Close the store."""
        self.agent.close()


def _caller(actor: str) -> Caller:
    from clinic_agent.runtime.agent import Caller

    return Caller(actor=actor, owner=True, peer=os_user())


def connect(home: Home, passphrase: PassphraseSource, user: str | None, *, local_only: bool = False) -> Backend:
    """The daemon if one listens on the configured socket, else the store in this process."""
    daemon = None if local_only else daemon_backend(home, passphrase, user)
    return daemon or LocalBackend(home, passphrase, user)


def daemon_backend(home: Home, passphrase: PassphraseSource, user: str | None) -> DaemonBackend | None:
    """The daemon listening on the configured socket, or None when none does."""
    # Only [api] is read here: the daemon checked the whole agent.toml, the store's side loads it.
    path = home.load_api_config().socket
    if _nothing_at(path):
        return None  # as connecting would find, without loading the socket module and the client
    from clinic_agent.api.client import ApiClient

    try:
        return DaemonBackend(ApiClient(path).connect(), passphrase, user)
    except DaemonNotRunning:
        return None


def _nothing_at(path: Path) -> bool:
    """Whether no file is at ``path`` (nor a directory on its way); any other failure is for connecting to name."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False
