"""The CLI's daemon path behaves as its in-process path: a locked daemon, a lock from another login."""

from __future__ import annotations

from typing import Any

import pytest

from clinic_agent.api.client import ApiClient
from clinic_agent.cli.backend import DaemonBackend
from clinic_agent.core.errors import InvalidInput, SessionExpired, StoreLocked


class FakeDaemon(ApiClient):
    """Answers as the daemon would for a login that is not the agent's own, locked at first."""

    def __init__(self) -> None:
        super().__init__(path=None)  # type: ignore[arg-type]
        self.locked = True
        self.calls: list[str] = []

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        self.calls.append(method)
        if method == "auth.passphrase":
            return {"session": "token"}
        if method == "unlock":
            self.locked = False
            return {"unlocked": True}
        if method == "lock":
            if self.session is None:
                raise SessionExpired("not signed in")
            self.locked = True
            return {"locked": True}
        if self.locked:
            raise StoreLocked("the agent is locked")
        return []


def test_a_method_needing_the_keys_unlocks_a_locked_daemon_with_the_passphrase_asked_once() -> None:
    daemon, asked = FakeDaemon(), []
    backend = DaemonBackend(daemon, lambda: asked.append(1) or "the passphrase", None)  # type: ignore[func-returns-value]
    assert backend.call("resident.list") == []
    assert daemon.calls == ["auth.passphrase", "resident.list", "unlock", "resident.list"]
    assert len(asked) == 1


def test_lock_from_another_login_signs_in_first() -> None:
    daemon = FakeDaemon()
    daemon.locked = False
    assert DaemonBackend(daemon, lambda: "the passphrase", None).call("lock") == {"locked": True}
    assert daemon.calls == ["lock", "auth.passphrase", "lock"]


def test_no_passphrase_at_all_is_missing_input() -> None:
    with pytest.raises(InvalidInput):
        DaemonBackend(FakeDaemon(), lambda: None, None).call("resident.list")
