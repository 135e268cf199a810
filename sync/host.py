"""What sync needs of the agent it runs in, as ports, filled by the daemon's adapter ``clinic_agent.runtime.syncing``.

Sync keeps its own logic (enrolment, the clinic's Organization, the clock check, the audit anchor,
the loop's scheduling) and reaches the agent only through ``Host``: the store's sync rows, the
audit chain's head, the clinic's identity and ``[sync]`` settings, whether the keys are loaded,
and a way to tell the agent's clients what happened. Every store call is one local transaction
and is made from a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sync.engine.ports import SyncStore
from sync.fhir.codes import Namespace
from sync.settings import SyncSettings


class SyncRecords(SyncStore, Protocol):
    """The store's sync rows: the engine's port, and the enrolment kept beside it."""

    def settings(self) -> dict[str, str]:
        """The ``sync.*`` settings (platform, organization id, last sync, last error ...)."""
        ...

    def save_settings(self, values: dict[str, str | None], *, actor: str | None = None, action: str = "") -> None:
        """Set (None: remove) ``sync.*`` settings, audited when ``actor`` is given."""
        ...

    def secret(self, name: str) -> dict[str, Any] | None:
        """A credential kept encrypted (the bearer token or the SMART private key)."""
        ...

    def save_secret(self, name: str, data: dict[str, Any], *, actor: str) -> None:
        """Keep a credential encrypted."""
        ...

    def reset_cursor(self, resource_type: str) -> None:
        """Pull a type from the start again (a new platform)."""
        ...

    def queue_counts(self) -> dict[str, int]:
        """Outbox rows pending and parked, open conflicts."""
        ...

    def state_counts(self) -> dict[str, int]:
        """Records only here, sent, and confirmed by the platform."""
        ...


class AuditChain(Protocol):
    """The local audit log, as the platform's anchor of it needs it."""

    def head(self) -> tuple[int, bytes]:
        """The last entry's sequence number and MAC."""
        ...

    def compare_with_anchor(self, seq: int, mac: bytes, *, where: str, anchored_at: datetime | None = None) -> str:
        """Check the chain against an anchor kept elsewhere (written at ``anchored_at``); a cut or rolled-back
        log is recorded as such, a restore written since as that restore."""
        ...


@dataclass(frozen=True, slots=True)
class Site:
    """The clinic as agent.toml describes it."""

    code: str  # the clinic's code on the platform ("" until set)
    name: str
    namespace: Namespace  # the base of the agent's own FHIR URLs
    config_path: str  # where to set them, for a message
    settings: SyncSettings  # ``[sync]``, checked once when agent.toml was read


class Host(Protocol):
    """The agent, as sync uses it."""

    @property
    def records(self) -> SyncRecords:
        """The store's sync rows."""
        ...

    @property
    def audit(self) -> AuditChain:
        """The audit chain."""
        ...

    @property
    def store_id(self) -> str:
        """The store's id (the audit anchor's client id is made from it)."""
        ...

    @property
    def site(self) -> Site:
        """The clinic and its ``[sync]`` settings."""
        ...

    @property
    def locked(self) -> bool:
        """True while no key is loaded (nothing can be synced)."""
        ...

    def require_unlocked(self) -> None:
        """Raise StoreLocked unless the keys are loaded."""
        ...

    def publish(self, event: str, data: dict[str, Any]) -> None:
        """Tell the agent's clients (``conflict.new``, ``sync.progress``, ``sync.state`` ...)."""
        ...
