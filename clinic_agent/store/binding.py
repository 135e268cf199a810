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

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

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


class Positions(NamedTuple):
    """Where a table's bound clear columns are in a row read as a tuple (``positions``), for ``agrees``."""

    columns: tuple[str, ...]
    names: frozenset[str]
    values: Callable[[Sequence[object]], tuple[object, ...]]


def positions(table: str, names: Sequence[str]) -> Positions:
    """Where each bound clear column of a table is in a row read as ``names`` (every table binds two or more)."""
    columns = BOUND_COLUMNS[table]
    return Positions(columns, frozenset(columns), operator.itemgetter(*(names.index(c) for c in columns)))


def agrees(bound: object, row: Sequence[object], at: Positions) -> bool:
    """Whether the copy inside a payload matches a row read as a tuple: ``mismatched``'s quick yes, for a
    page of rows (no dict and no call per column). A no is only a hint: ``mismatched`` says which
    columns differ, or finds none (a value SQLite gave in another form)."""
    if not isinstance(bound, dict) or bound.keys() != at.names:
        return False
    clear = [value.hex() if value.__class__ is bytes else value for value in at.values(row)]
    return clear == list(map(bound.__getitem__, at.columns))


def _plain(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, bool):
        return int(value)
    return value
