"""Turning domain records into encrypted rows and back."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from clinic_agent.core import serde
from clinic_agent.core.errors import InvalidInput, StoreCorrupted
from clinic_agent.store.core import Core

T = TypeVar("T")

# Fields of a record kept in clear columns rather than in the encrypted payload (a copy of the
# ones that carry meaning is bound inside it: store/binding.py).
CLEAR_FIELDS = frozenset({"id", "version", "updated_at", "deleted", "resident_id"})


def payload_of(record: object) -> dict[str, Any]:
    """The fields of a record that go into its encrypted payload."""
    data: dict[str, Any] = serde.to_json(record)
    for name in CLEAR_FIELDS:  # a fresh dict: dropping the few clear fields beats copying the rest
        data.pop(name, None)
    return data


def record_from_row(
    core: Core, cls: type[T], table: str, row: sqlite3.Row | tuple[Any, ...], columns: Sequence[str], **clear: Any
) -> T:
    """Decrypt a row (its ``columns``: id, key_id, payload, version, updated_at, deleted and the
    table's other bound ones) into a record, refusing it if a bound clear column was changed."""
    values = dict(zip(columns, row, strict=True))
    row_id = values["id"]
    data = core.open(table, row_id, values["key_id"], values["payload"], row=values)
    data.update(
        id=row_id, version=values["version"], updated_at=values["updated_at"], deleted=bool(values["deleted"]), **clear
    )
    try:
        return serde.from_json(cls, data)
    except InvalidInput as exc:
        raise StoreCorrupted(
            f"row {row_id} of {table} does not hold a valid record ({exc})", table=table, row_id=row_id
        ) from None


def stamp(record: Any) -> str:
    """A record's updated_at as stored text (the same instant the caller gets back)."""
    updated_at: datetime | None = record.updated_at
    if updated_at is None:
        raise ValueError("a record is written with its updated_at set")
    return updated_at.isoformat()


def parse_time(text: str) -> datetime:
    """A stored timestamp."""
    return datetime.fromisoformat(text)


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Names of the fields whose values differ (for the audit detail: names, never values)."""
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
