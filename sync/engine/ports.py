"""What the sync engine needs from the local store.

The engine maps, merges and talks to the platform; the store keeps records, their sync state
(platform id, opaque versionId, the encrypted base copy) and the outbox. ``SyncStore`` is the
whole of what the engine asks of it; ``clinic_agent.store.sync_state.SyncState`` implements it.
Every method is one local transaction; the engine calls them from a worker thread. The values
that cross are plain dataclasses of ``clinic_agent.core.sync_values``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from clinic_agent.core.sync_values import (
    ENTRIES,
    READINGS,
    RESIDENTS,
    ApplyCounts,
    Confirmed,
    ConflictDraft,
    FieldValues,
    LocalState,
    OutboxAfter,
    Pending,
    Record,
    Sent,
    Write,
)

__all__ = [
    "ENTRIES",
    "READINGS",
    "RESIDENTS",
    "ApplyCounts",
    "Confirmed",
    "ConflictDraft",
    "FieldValues",
    "LocalState",
    "OutboxAfter",
    "Pending",
    "Record",
    "Sent",
    "SyncStore",
    "Write",
]


class SyncStore(Protocol):
    """The store as the sync engine uses it."""

    def pending(self, *, limit: int, after: tuple[int, int] | None = None) -> list[Pending]:
        """Pending outbox rows, most urgent first, then oldest; ``after`` is the last (priority, seq) seen."""
        ...

    def pending_for(self, entity: str, entity_id: str) -> Pending | None:
        """The pending row of one record, if any."""
        ...

    def load(self, entity: str, entity_id: str) -> LocalState | None:
        """A record with its sync state (None if there is no such record)."""
        ...

    def known(self, entity: str, ids: Sequence[str]) -> set[str]:
        """Which of these records exist here (one query for a page)."""
        ...

    def resident_by_remote(self, remote_id: str) -> str | None:
        """The local resident a platform Patient id belongs to."""
        ...

    def record_by_remote(self, entity: str, remote_id: str) -> str | None:
        """The local record a platform resource id belongs to, if any."""
        ...

    def other_half(self, remote_id: str, reading_id: str) -> str | None:
        """The other reading sent in one panel with this one (same platform id), if any."""
        ...

    def resident_by_id_number(self, id_number: str) -> str | None:
        """The live local resident with this national ID card number, if any."""
        ...

    def known_devices(self) -> set[str]:
        """Device ids already on the platform."""
        ...

    def linked_patients(self) -> list[str]:
        """The platform Patient ids of the residents here."""
        ...

    def part_versions(self, entity_id: str) -> dict[str, tuple[str, str]]:
        """A record's parts (a follow-up's Encounter, Observations) as last confirmed: part id -> (id, versionId)."""
        ...

    def save_part_versions(self, entity_id: str, versions: dict[str, tuple[str, str]]) -> None:
        """Keep the platform id and versionId of a record's parts."""
        ...

    def mark_sent(self, sent: Sequence[Sent]) -> None:
        """Count an attempt on each row before its request leaves."""
        ...

    def unsend(self, seqs: Sequence[int]) -> None:
        """Take back the attempt of rows whose Bundle the platform refused whole (nothing of it was applied)."""
        ...

    def confirm(self, done: Sequence[Confirmed], *, devices: Sequence[str] = ()) -> None:
        """Record what the platform confirmed (one transaction, with its audit entry)."""
        ...

    def park(self, seq: int, reason: str) -> None:
        """Set a row aside with the platform's reason (kept encrypted)."""
        ...

    def park_pulled(self, resource_type: str, remote_id: str, reason: str, *, about: str = "") -> bool:
        """Set aside a resource from the platform that cannot be applied here, with the reason (and, for a
        consultation's reply, the request it answers); True unless it was set aside already for that reason."""
        ...

    def unpark_pulled(self, resource_type: str, remote_ids: list[str]) -> None:
        """Resources applied after all: no longer set aside."""
        ...

    def keep_local(self, seq: int, reason: str) -> None:
        """A row whose record has no platform form: it stays on this PC."""
        ...

    def drop(self, seq: int) -> None:
        """Forget a row that has nothing left to send."""
        ...

    def apply(self, writes: Sequence[Write], *, cursor: tuple[str, str] | None = None, actor: str) -> ApplyCounts:
        """Apply writes and move a pull cursor in one transaction; all or none."""
        ...

    def cursor(self, resource_type: str) -> str | None:
        """The pull cursor of a resource type."""
        ...
