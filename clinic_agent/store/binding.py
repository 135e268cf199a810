"""Clear columns bound to their row: what a reader trusts in clear is also inside the payload.

Owner, deletion, version, times, flags and lookup keys stay in clear columns so that SQLite can
index and filter on them; a copy of each goes into the row's encrypted payload (under ``_row``),
and every read compares the two. A row whose clear columns were edited behind the agent (a
reading moved to another resident, a resident marked deleted, a user made a technician) is
refused and named, exactly like a payload that fails authentication. Sync state (the platform's
id and version, the base copy, the change sequence) is not bound: editing it can make sync ask
the platform again or raise a conflict, never change what a file shows (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Mapping

ROW_KEY = "_row"

BOUND_COLUMNS: dict[str, tuple[str, ...]] = {
    "residents": ("version", "updated_at", "deleted", "id_bidx", "hrn_bidx"),
    "entries": ("resident_id", "kind", "version", "updated_at", "deleted"),
    "readings": (
        "resident_id",
        "device_id",
        "dedupe_bidx",
        "taken_at",
        "received_at",
        "critical",
        "version",
        "updated_at",
        "deleted",
    ),
    "users": ("name", "role", "disabled", "created_at"),
    "frames": ("device_id", "received_at"),
    "quarantine": ("received_at", "source"),
}


def bound_values(table: str, row: Mapping[str, object]) -> dict[str, object]:
    """The bound clear columns of a row, in the form they take inside the payload."""
    return {column: _plain(row[column]) for column in BOUND_COLUMNS[table]}


def mismatched(table: str, bound: Mapping[str, object], row: Mapping[str, object]) -> list[str]:
    """The clear columns whose values differ from the copy inside the payload."""
    expected = bound_values(table, row)
    return [column for column, value in expected.items() if bound.get(column, _MISSING) != value]


_MISSING = object()


def _plain(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, bool):
        return int(value)
    return value
