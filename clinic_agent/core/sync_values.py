"""The values the sync engine and the store exchange: outbox rows, sync state, writes, conflicts.

Plain frozen dataclasses, no I/O. They live in the core so that the store can build them without
importing ``sync`` (the engine's protocol, ``sync.engine.ports.SyncStore``, is written in them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from clinic_agent.core.model import Entry, Reading, Resident
from clinic_agent.core.sync_tables import ENTRIES as ENTRIES
from clinic_agent.core.sync_tables import READINGS as READINGS
from clinic_agent.core.sync_tables import RESIDENTS as RESIDENTS
from clinic_agent.core.sync_tables import SYNCED_TABLES as SYNCED_TABLES  # the tables' names stay importable here

Record = Resident | Entry | Reading

# What becomes of a record's outbox row when a write is applied.
OutboxAfter = Literal["keep", "done", "pending", "conflict"]


@dataclass(frozen=True, slots=True)
class Pending:
    """One outbox row waiting to be sent."""

    seq: int
    entity: str
    entity_id: str
    priority: int
    attempts: int


@dataclass(frozen=True, slots=True)
class LocalState:
    """A record as the engine sees it: the record and what the platform last confirmed of it."""

    entity: str
    record: Record
    remote_id: str | None = None
    remote_version: str | None = None
    base: dict[str, Any] | None = None  # the last-synced copy (or, before a first confirmation, the first sent)
    outbox: str | None = None  # the state of its outbox row: pending, parked, conflict, local; None when synced
    sent: dict[str, Any] | None = None  # what the last request for it carried, if it was sent and not confirmed


@dataclass(frozen=True, slots=True)
class Sent:
    """An outbox row about to go out: counted as sent before the request leaves."""

    seq: int
    entity: str
    entity_id: str
    first_base: dict[str, Any] | None = None  # a create's content, kept as base until confirmed
    content: dict[str, Any] | None = None  # what this request carries


@dataclass(frozen=True, slots=True)
class Confirmed:
    """The platform holds ``base`` as ``remote_id``/``remote_version`` for a record sent at ``sent_version``."""

    seq: int
    entity: str
    entity_id: str
    sent_version: int
    remote_id: str | None
    remote_version: str | None
    base: dict[str, Any] | None
    base_stored: bool = False  # the base copy written when it was sent is this very content: keep it


@dataclass(frozen=True, slots=True)
class FieldValues:
    """One field both sides changed: the values of the base copy, this PC and the platform."""

    name: str
    base: Any
    local: Any
    remote: Any


@dataclass(frozen=True, slots=True)
class ConflictDraft:
    """A conflict for the doctor's inbox."""

    kind: Literal["fields", "delete"]
    fields: tuple[FieldValues, ...]
    remote_version: str | None
    remote: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Write:
    """A change to apply locally: a pulled record, a merge, or only new sync state.

    ``expected_version`` is the local version the change was computed from (None: a new record);
    the store refuses the whole batch if a record moved meanwhile (``RecordChanged``).
    """

    entity: str
    record: Record
    expected_version: int | None
    remote_id: str | None
    remote_version: str | None
    base: dict[str, Any] | None
    outbox: OutboxAfter
    action: str  # audit action, e.g. "sync.pull", "sync.merge", "sync.conflict"
    content_changed: bool = True  # False: only the sync state moves, the record is not rewritten
    conflict: ConflictDraft | None = None


@dataclass(frozen=True, slots=True)
class ApplyCounts:
    """What applying a batch of writes did."""

    inserted: int = 0
    updated: int = 0
    conflicts: list[str] = field(default_factory=list)  # ids of new or widened conflicts
