"""A page of rows opened at once (``Core.open_page``) reads as each row opened alone (``Core.open``).

The name index reads every resident this way at an unlock without its saved copy: one JSON parse for
the page and the bound clear columns compared from the row as read. Whatever is wrong with a row
(a flipped byte, a clear column edited behind the agent, a payload that is not JSON or not a
record, a row without its bound copy), it is named as ``open`` names it, and the rows around it read
as before.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clinic_agent.core.errors import StoreCorrupted
from clinic_agent.store import Store
from clinic_agent.store.binding import ROW_KEY
from tests.support import new_home, open_unlocked, resident

_NAMES = ("id", "key_id", "payload", "version", "updated_at", "deleted", "id_bidx", "hrn_bidx")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_unlocked(new_home(tmp_path / "home"))
    yield opened
    opened.close()


def _rows(store: Store) -> list[tuple[Any, ...]]:
    with sqlite3.connect(store.core.path) as conn:
        query = f"SELECT {', '.join(_NAMES)}, change_seq FROM residents ORDER BY change_seq"
        return conn.execute(query).fetchall()


def _one_by_one(store: Store, rows: list[tuple[Any, ...]]) -> list[object]:
    read: list[object] = []
    for row in rows:
        try:
            read.append(store.core.open("residents", row[0], row[1], row[2], row=dict(zip(_NAMES, row, strict=False))))
        except StoreCorrupted as exc:
            read.append(exc)
    return read


def _plain(read: list[object]) -> list[object]:
    """Records as they are, errors as (row id, message): what a reader is given or told."""
    return [(r.row_id, r.message) if isinstance(r, StoreCorrupted) else r for r in read]


def _reseal(store: Store, resident_id: str, plaintext: bytes) -> None:
    """Seal a payload of our choosing on a resident's row, as only someone with the data key could."""
    key_id, blob = store.core.seal_raw("residents", resident_id, plaintext)
    with sqlite3.connect(store.core.path) as conn:
        conn.execute("UPDATE residents SET key_id = ?, payload = ? WHERE id = ?", (key_id, blob, resident_id))


def _without_bound_copy(store: Store, resident_id: str) -> bytes:
    with sqlite3.connect(store.core.path) as conn:
        key_id, blob = conn.execute("SELECT key_id, payload FROM residents WHERE id = ?", (resident_id,)).fetchone()
    data = json.loads(store.core.open_raw("residents", resident_id, key_id, blob))
    del data[ROW_KEY]
    return json.dumps(data).encode()


@pytest.mark.parametrize("unreadable", [False, True], ids=["one parse", "a payload that is not JSON"])
def test_a_page_reads_as_each_row_alone_whatever_is_wrong_with_some(store: Store, unreadable: bool) -> None:
    """Planted faults: ``binding.agrees`` always saying yes fails this test (the resident marked deleted
    behind the agent reads as fine); so does a page parse that does not fall back row by row when one
    payload is not JSON (every row of the page is named)."""
    people = [store.residents.add(resident(name=f"居民{n}"), actor="test") for n in range(7)]
    with sqlite3.connect(store.core.path) as conn:
        (blob,) = conn.execute("SELECT payload FROM residents WHERE id = ?", (people[1].id,)).fetchone()
        conn.execute(
            "UPDATE residents SET payload = ? WHERE id = ?",
            (blob[:40] + bytes([blob[40] ^ 1]) + blob[41:], people[1].id),
        )
        conn.execute("UPDATE residents SET deleted = 1 WHERE id = ?", (people[2].id,))
    _reseal(store, people[3].id, b"[1, 2]")
    _reseal(store, people[4].id, _without_bound_copy(store, people[4].id))
    if unreadable:
        _reseal(store, people[5].id, b"not json")
    rows = _rows(store)
    together = store.core.open_page("residents", rows, _NAMES)
    assert _plain(together) == _plain(_one_by_one(store, rows))
    named = [r.row_id for r in together if isinstance(r, StoreCorrupted)]
    assert named == [p.id for p in people[1 : 6 if unreadable else 5]]
    page = store.residents.index_page(0, 100)
    kept = ["居民0", "居民6"] if unreadable else ["居民0", "居民5", "居民6"]
    assert [fields.name for fields in page.rows] == kept
    assert [p.row_id for p in page.problems] == named
